#include "store/diff.hpp"

#include <map>

namespace drctl::store {

namespace {

bool same_entry(const Node& x, const Node& y) {
  if (x.type != y.type || x.mode != y.mode || x.uid != y.uid || x.gid != y.gid || x.target != y.target ||
      x.xattrs != y.xattrs || x.rdev != y.rdev)
    return false;
  if (x.type == NodeType::Dir) return true;  // a directory's own mtime changes with its entries
  if (x.mtime_ns != y.mtime_ns || x.size != y.size || x.content.size() != y.content.size()) return false;
  for (std::size_t i = 0; i < x.content.size(); ++i)
    if (x.content[i].blob != y.content[i].blob || x.content[i].size != y.content[i].size) return false;
  return true;
}

class Differ {
 public:
  Differ(const Repository& repo, std::vector<Change>& out) : repo_(repo), out_(out) {}

  void all(char kind, const Id& tree, const std::string& prefix) {
    for (const Node& n : repo_.load_tree(tree).nodes) {
      out_.push_back({kind, prefix + "/" + n.name});
      if (n.subtree) all(kind, *n.subtree, prefix + "/" + n.name);
    }
  }

  void trees(const Id& a, const Id& b, const std::string& prefix) {
    if (a == b) return;
    Tree ta = repo_.load_tree(a), tb = repo_.load_tree(b);
    std::map<std::string, const Node*> left, right;
    for (const Node& n : ta.nodes) left[n.name] = &n;
    for (const Node& n : tb.nodes) right[n.name] = &n;
    for (const auto& [name, n] : left) {
      std::string path = prefix + "/" + name;
      auto it = right.find(name);
      if (it == right.end()) {
        out_.push_back({'-', path});
        if (n->subtree) all('-', *n->subtree, path);
        continue;
      }
      const Node* m = it->second;
      if (!same_entry(*n, *m)) out_.push_back({'M', path});
      if (n->subtree && m->subtree) trees(*n->subtree, *m->subtree, path);
      else if (n->subtree) all('-', *n->subtree, path);
      else if (m->subtree) all('+', *m->subtree, path);
    }
    for (const auto& [name, m] : right)
      if (!left.contains(name)) {
        out_.push_back({'+', prefix + "/" + name});
        if (m->subtree) all('+', *m->subtree, prefix + "/" + name);
      }
  }

 private:
  const Repository& repo_;
  std::vector<Change>& out_;
};

}  // namespace

std::vector<Change> diff_snapshots(const Repository& repo, const Snapshot& a, const Snapshot& b) {
  std::vector<Change> out;
  Differ d(repo, out);
  for (const auto& sa : a.sections) {
    const Section* sb = b.section(sa.name);
    if (!sb) d.all('-', sa.tree, sa.name);
    else d.trees(sa.tree, sb->tree, sa.name);
  }
  for (const auto& sb : b.sections)
    if (!a.section(sb.name)) d.all('+', sb.tree, sb.name);
  return out;
}

}  // namespace drctl::store
