#include "store/diff.hpp"

#include <map>

#include "store/walk.hpp"

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

/// Compares one section of two snapshots; each side has its own walk checks.
class Differ {
 public:
  Differ(const Repository& repo, std::vector<Change>& out, const Section* a, const Section* b)
      : repo_(repo), out_(out), name_(a ? a->name : b->name), a_(a ? node_budget(*a) : 0), b_(b ? node_budget(*b) : 0) {}

  void run(const Section* a, const Section* b) {
    try {
      if (!b) all('-', a->tree, a_);
      else if (!a) all('+', b->tree, b_);
      else trees(a->tree, b->tree, "");
    } catch (const TreeDamage& d) {
      throw Failure(d.in_section(name_));
    }
  }

 private:
  /// Everything under the directory `path` (the section's top when empty) on one side only.
  void all(char kind, const Id& tree, WalkGuard& guard, const std::string& path = "") {
    walk_tree(repo_, tree, guard, [&](const std::string& p, const Node&) {
      out_.push_back({kind, name_ + "/" + p});
      return true;
    }, path);
  }

  void trees(const Id& a, const Id& b, const std::string& path) {
    if (a == b) return;
    const Tree ta = a_.enter(repo_, a, path), tb = b_.enter(repo_, b, path);
    std::map<std::string, const Node*> left, right;
    for (const Node& n : ta.nodes) left[n.name] = &n;
    for (const Node& n : tb.nodes) right[n.name] = &n;
    for (const auto& [name, n] : left) {
      const std::string child = path.empty() ? name : path + "/" + name;
      auto it = right.find(name);
      if (it == right.end()) {
        out_.push_back({'-', name_ + "/" + child});
        if (n->subtree) all('-', *n->subtree, a_, child);
        continue;
      }
      const Node* m = it->second;
      if (!same_entry(*n, *m)) out_.push_back({'M', name_ + "/" + child});
      if (n->subtree && m->subtree) trees(*n->subtree, *m->subtree, child);
      else if (n->subtree) all('-', *n->subtree, a_, child);
      else if (m->subtree) all('+', *m->subtree, b_, child);
    }
    for (const auto& [name, m] : right)
      if (!left.contains(name)) {
        const std::string child = path.empty() ? name : path + "/" + name;
        out_.push_back({'+', name_ + "/" + child});
        if (m->subtree) all('+', *m->subtree, b_, child);
      }
    a_.leave();
    b_.leave();
  }

  const Repository& repo_;
  std::vector<Change>& out_;
  std::string name_;
  WalkGuard a_, b_;
};

}  // namespace

std::vector<Change> diff_snapshots(const Repository& repo, const Snapshot& a, const Snapshot& b) {
  std::vector<Change> out;
  for (const auto& sa : a.sections) Differ(repo, out, &sa, b.section(sa.name)).run(&sa, b.section(sa.name));
  for (const auto& sb : b.sections)
    if (!a.section(sb.name)) Differ(repo, out, nullptr, &sb).run(nullptr, &sb);
  return out;
}

}  // namespace drctl::store
