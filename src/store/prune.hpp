// `forget` (which snapshots a retention policy keeps), `prune` (drop unreferenced data) and
// `rebuild-index` (the index made again from the packs).
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "store/repository.hpp"

namespace drctl::store {

/// Keep the newest N snapshots, and the newest of each of the last N days/ISO weeks/months
/// (UTC). A snapshot is kept when any rule keeps it. Rules apply per group of snapshots with
/// the same host and section names, so backups of different sources do not evict each other.
struct RetentionPolicy {
  int last = 0, daily = 0, weekly = 0, monthly = 0;
  bool empty() const { return last == 0 && daily == 0 && weekly == 0 && monthly == 0; }
};

struct ForgetPlan {
  std::vector<Snapshot> keep, remove;
};

ForgetPlan plan_forget(const std::vector<Snapshot>& snapshots, const RetentionPolicy& policy);

struct PruneStats {
  std::size_t packs_deleted = 0, packs_repacked = 0, packs_kept = 0;
  std::uint64_t bytes_freed = 0;
};

/// Removes data no snapshot references: unused packs are deleted, mostly-unused ones
/// rewritten. Crash-safe: new packs and a complete new index are durable before anything is
/// deleted. The caller holds the lock.
PruneStats prune(Repository& repo, const std::function<void(const std::string&)>& info);

struct RebuildStats {
  std::size_t packs = 0, blobs = 0, damaged = 0, old_index_files = 0;
};

/// Makes the index again from the packs themselves (their headers list what they hold): one new
/// index file naming every blob of every pack whose bytes still hash to its name, then the old
/// index files removed — for a repository whose index files were lost or damaged. A damaged
/// pack is left out and in place, named through `info`; `verify` then says what it held. The
/// caller holds the lock. `progress` gets (packs done, packs).
RebuildStats rebuild_index(Repository& repo, const std::function<void(const std::string&)>& info,
                           const std::function<void(std::size_t, std::size_t)>& progress = nullptr);

}  // namespace drctl::store
