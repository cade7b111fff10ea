// Restores trees from the repository onto a local file system, with all their metadata.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/repository.hpp"

namespace drctl::store {

struct RestoreOptions {
  std::vector<std::string> includes;  // section-relative paths; empty = everything
  unsigned threads = 0;               // 0 = one per core
  /// Tree entries the restore may walk (every entry of every directory it reads, restored or
  /// not); beyond it the snapshot is damaged (trees sharing subtrees) and restore_tree throws
  /// Failure. 0: no limit.
  std::uint64_t max_nodes = 0;
};

struct RestoreStats {
  std::atomic<std::uint64_t> files{0};
  std::atomic<std::uint64_t> bytes{0};
  std::vector<std::string> errors;  // files that could not be restored
};

/// Restores the tree `root` into `target` (an existing directory), creating nothing outside
/// it whatever the tree's names and whatever `target` already holds (entries in the way are
/// replaced, symlinks never followed). Entries that fail, damaged ones included, are reported
/// in stats.errors and through `warn`, and a file that fails is absent; the rest is restored.
/// Throws Failure when the root tree cannot be read or the tree exceeds options.max_nodes.
void restore_tree(const Repository& repo, const Id& root, const std::string& target, const RestoreOptions& options,
                  RestoreStats& stats, const std::function<void(const std::string&)>& warn);

/// Gives `dir` the metadata of a section's root directory (Section::root).
void restore_root_metadata(const Repository& repo, const Id& root, const std::string& dir);

/// Whether a section-relative path is restored under `includes` (empty: everything): an
/// included path, something inside one, or a directory on the way to one.
bool path_included(const std::vector<std::string>& includes, const std::string& path);

/// Finds the node at a section-relative path ("a/b/c"); nullopt when absent.
std::optional<Node> find_node(const Repository& repo, const Id& root, const std::string& path);

}  // namespace drctl::store
