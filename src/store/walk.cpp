#include "store/walk.hpp"

#include <algorithm>
#include <limits>

namespace drctl::store {

namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::uint64_t add_saturating(std::uint64_t a, std::uint64_t b) { return a > kMax - b ? kMax : a + b; }

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "/" + name;
}

std::string too_deep() { return "directories nest deeper than " + std::to_string(kMaxTreeDepth) + " levels"; }

std::string cycle(const Id& id) { return "directory tree " + id.short_hex() + " contains itself (a cycle)"; }

std::string unreadable(const Id& id, const std::exception& e) {
  return "directory listing (tree " + id.short_hex() + ") is damaged or missing: " + e.what();
}

std::string over_budget(std::uint64_t budget) {
  return "its trees hold more than the " + std::to_string(budget) +
         " entries its recorded counts allow (a subtree shared beyond what the snapshot says)";
}

}  // namespace

std::uint64_t node_budget(const Section& section) {
  const std::uint64_t counted = add_saturating(section.files, section.dirs);
  return add_saturating(add_saturating(counted, counted), 4096);
}

TreeDamage::TreeDamage(std::string p, std::string what)
    : Failure(p.empty() ? what : escape_bytes(p) + ": " + what), path(std::move(p)), problem(std::move(what)) {}

std::string TreeDamage::in_section(const std::string& section) const {
  return section + (path.empty() ? "" : "/" + escape_bytes(path)) + ": " + problem;
}

WalkGuard::WalkGuard(std::uint64_t budget, std::size_t level) : budget_(budget), first_level_(level) {}

Tree WalkGuard::enter(const Repository& repo, const Id& id, const std::string& path) {
  if (first_level_ + path_.size() > kMaxTreeDepth) throw TreeDamage(path, too_deep());
  if (on_path_.contains(id)) throw TreeDamage(path, cycle(id));
  Tree tree;
  try {
    tree = repo.load_tree(id);
  } catch (const Failure& e) {
    throw TreeDamage(path, unreadable(id, e));
  }
  if (tree.is_section_root()) throw TreeDamage(path, "a section root (tree " + id.short_hex() + ") stands for a directory listing");
  visited_ = add_saturating(visited_, tree.nodes.size());
  if (visited_ > budget_) throw TreeDamage(path, over_budget(budget_));
  path_.push_back(id);
  on_path_.insert(id);
  return tree;
}

void WalkGuard::leave() {
  on_path_.erase(path_.back());
  path_.pop_back();
}

void walk_tree(const Repository& repo, const Id& top, WalkGuard& guard, const WalkVisit& visit,
               const std::string& prefix) {
  struct Frame {
    Tree tree;
    std::size_t next = 0;
    std::string path;
  };
  std::vector<Frame> stack;
  stack.push_back({guard.enter(repo, top, prefix), 0, prefix});
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.next == f.tree.nodes.size()) {
      guard.leave();
      stack.pop_back();
      continue;
    }
    const Node& n = f.tree.nodes[f.next++];
    std::string path = join(f.path, n.name);
    if (visit(path, n) && n.type == NodeType::Dir && n.subtree) {
      Tree sub = guard.enter(repo, *n.subtree, path);
      stack.push_back({std::move(sub), 0, std::move(path)});
    }
  }
}

TreeShape shape_of(const Tree& tree) {
  if (tree.is_section_root()) throw TreeDamage("", "a section root stands for a directory listing");
  TreeShape shape;
  shape.entries = tree.nodes.size();
  for (const Node& n : tree.nodes)
    if (n.type == NodeType::Dir && n.subtree) shape.dirs.emplace_back(n.name, *n.subtree);
  return shape;
}

TreeGraph::TreeGraph(Load load, Done done) : load_(std::move(load)), done_(std::move(done)) {}

TreeFacts TreeGraph::explore(const Id& top) {
  if (auto it = known_.find(top); it != known_.end()) return it->second;
  struct Frame {
    Id id;
    TreeShape shape;
    std::size_t next = 0;
    TreeFacts facts;
    std::size_t parent_path = 0;  // the length of `path` without this tree's name
  };
  std::vector<Frame> stack;  // the trees on the current path: their ids are in `on_path`
  std::unordered_set<Id> on_path;
  std::string path;
  auto enter = [&](const Id& id, std::size_t parent_path) {
    TreeShape shape;
    try {
      shape = load_(id);
    } catch (const TreeDamage& d) {
      throw TreeDamage(path, d.problem);
    } catch (const Failure& e) {
      throw TreeDamage(path, unreadable(id, e));
    }
    const std::uint64_t entries = shape.entries;
    stack.push_back({id, std::move(shape), 0, {entries, 1}, parent_path});
    on_path.insert(id);
  };
  auto add = [](TreeFacts& to, const TreeFacts& child) {
    to.nodes = add_saturating(to.nodes, child.nodes);
    to.height = std::max(to.height, child.height + 1);
  };
  enter(top, 0);
  while (true) {
    Frame& f = stack.back();
    if (f.next < f.shape.dirs.size()) {
      const Id sub = f.shape.dirs[f.next].second;
      const std::size_t parent_path = path.size();
      path = join(path, f.shape.dirs[f.next++].first);
      if (on_path.contains(sub)) throw TreeDamage(path, cycle(sub));
      if (auto it = known_.find(sub); it != known_.end()) {
        // Its deepest tree would be at level stack.size() + height.
        if (stack.size() + it->second.height > kMaxTreeDepth) throw TreeDamage(path, too_deep());
        add(f.facts, it->second);
        path.resize(parent_path);
        continue;
      }
      if (stack.size() + 1 > kMaxTreeDepth) throw TreeDamage(path, too_deep());
      enter(sub, parent_path);
      continue;
    }
    const TreeFacts facts = f.facts;
    known_[f.id] = facts;
    on_path.erase(f.id);
    if (done_) done_(f.id, f.shape);
    path.resize(f.parent_path);
    stack.pop_back();
    if (stack.empty()) return facts;
    add(stack.back().facts, facts);
  }
}

void check_budget(const Section& section, const TreeFacts& facts) {
  const std::uint64_t budget = node_budget(section);
  if (facts.nodes > budget) throw TreeDamage("", over_budget(budget));
}

void check_section_root(const Section& section, const Tree& root) {
  if (!root.is_section_root() || root.nodes[0].subtree != section.tree)
    throw TreeDamage("", "root directory metadata (tree " + section.root->short_hex() +
                             ") is not a directory \".\" holding the section's tree");
}

void check_section(const Repository& repo, const Section& section) {
  if (section.root) {
    Tree root;
    try {
      root = repo.load_tree(*section.root);
    } catch (const Failure& e) {
      throw TreeDamage("", "root directory metadata (tree " + section.root->short_hex() + ") is damaged or missing: " + e.what());
    }
    check_section_root(section, root);
  }
  TreeGraph graph([&](const Id& id) { return shape_of(repo.load_tree(id)); });
  check_budget(section, graph.explore(section.tree));
}

}  // namespace drctl::store
