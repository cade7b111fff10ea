// Walking a section's trees when they may be hostile: every walk takes its depth, cycle and
// node-budget checks from here, so a deep chain, a tree containing itself or a small graph of
// shared subtrees that expands without end is reported as damage instead of crashing or running on.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "store/repository.hpp"

namespace drctl::store {

/// Trees nest at most this deep: a section's top tree is level 1, so a path inside a section
/// has at most this many names. A local capture cannot reach it (PATH_MAX allows 2047 levels).
inline constexpr std::size_t kMaxTreeDepth = 2048;

/// How many entries a walk over `section` may visit: 2 × (files + dirs) + 4096 of its recorded
/// counts, saturating. A walk that finds more has found damage (a subtree shared beyond what the
/// manifest says); the slack covers snapshots made before symlinks and devices were counted.
std::uint64_t node_budget(const Section& section);

/// Damage a walk found in a section's trees. `path` is section-relative (raw bytes, "" for the
/// section's top); what() says both, escaped for one line.
struct TreeDamage : Failure {
  TreeDamage(std::string path, std::string problem);
  /// "SECTION/PATH: problem" (the path escaped).
  std::string in_section(const std::string& section) const;
  std::string path;
  std::string problem;
};

/// The checks of one walk over a section that visits every entry (ls, diff, restore, tar).
class WalkGuard {
 public:
  /// `budget`: node_budget(section). `level`: the level of the first tree entered (1 for the
  /// section's top tree, more when a walk starts at a directory inside it).
  explicit WalkGuard(std::uint64_t budget, std::size_t level = 1);

  /// Loads the tree `id` of the directory at `path`, one level below the tree entered last.
  /// Throws TreeDamage when it is missing or malformed, deeper than kMaxTreeDepth, already
  /// entered on this path (a cycle), a section root, or its entries exceed the budget.
  Tree enter(const Repository& repo, const Id& id, const std::string& path);
  /// Leaves the tree entered last.
  void leave();

 private:
  std::uint64_t budget_, visited_ = 0;
  std::size_t first_level_;
  std::vector<Id> path_;  // trees entered and not yet left
  std::unordered_set<Id> on_path_;
};

/// Called for each entry with its path; returns whether to walk into it (directories).
using WalkVisit = std::function<bool(const std::string& path, const Node& node)>;

/// Visits every entry under the tree `top` in depth-first name order, a directory before its
/// entries, with its path ("a/b", after `prefix` and a slash when `prefix` is not empty).
/// Iterative: only `guard` bounds the depth. Throws TreeDamage from `guard`.
void walk_tree(const Repository& repo, const Id& top, WalkGuard& guard, const WalkVisit& visit,
               const std::string& prefix = "");

/// What a pass over distinct trees needs of one tree: its entry count and its directories.
struct TreeShape {
  std::uint64_t entries = 0;
  std::vector<std::pair<std::string, Id>> dirs;  // name, subtree
};

/// The shape of a directory listing; throws TreeDamage when `tree` is a section root instead.
TreeShape shape_of(const Tree& tree);

/// A tree with everything under it: entries on every path counted (saturating), and levels.
struct TreeFacts {
  std::uint64_t nodes = 0;
  std::size_t height = 0;
};

/// A pass over a graph of trees that reads each distinct tree once, however often it is shared
/// (verify, import, export, prune): what a section would cost to walk, for the price of its
/// distinct trees. Remembers what it learnt across calls (many snapshots share trees).
class TreeGraph {
 public:
  /// `load` gives a tree's shape (throws Failure when missing or malformed); `done` is told of
  /// each tree once everything under it is known (post-order).
  using Load = std::function<TreeShape(const Id&)>;
  using Done = std::function<void(const Id&, const TreeShape&)>;
  explicit TreeGraph(Load load, Done done = {});

  /// The facts of the section top tree `top`. Throws TreeDamage (with the path from `top`) for
  /// a tree `load` refuses, a cycle, or trees nested deeper than kMaxTreeDepth.
  TreeFacts explore(const Id& top);

  /// Every tree explored completely so far.
  const std::unordered_map<Id, TreeFacts>& known() const { return known_; }

 private:
  Load load_;
  Done done_;
  std::unordered_map<Id, TreeFacts> known_;
};

/// Throws TreeDamage unless `facts` (of the section's top tree) fit node_budget(section).
void check_budget(const Section& section, const TreeFacts& facts);

/// Throws TreeDamage unless `root` is the form of Section::root: one directory "." whose tree
/// is the section's top tree.
void check_section_root(const Section& section, const Tree& root);

/// Checks a section's trees as every walk will find them, reading each distinct tree once:
/// names and fields (decode), no cycle, depth, node budget, its root tree. Throws TreeDamage.
/// Restore calls it first, so a damaged section creates nothing.
void check_section(const Repository& repo, const Section& section);

}  // namespace drctl::store
