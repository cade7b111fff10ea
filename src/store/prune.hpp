// `forget` (which snapshots a retention policy keeps), `prune` (drop unreferenced data) and
// `rebuild-index` (the index made again from the packs).
#pragma once
#include <functional>
#include <optional>
#include <string_view>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/error.hpp"
#include "store/repository.hpp"

namespace drctl::store {

/// restic's --keep-within: years, months, days and hours back from a group's newest snapshot,
/// written "1y2m3d4h" (each part optional, in that order; m is months here, as in restic).
struct KeepWithin {
  int years = 0, months = 0, days = 0, hours = 0;
  bool empty() const { return years == 0 && months == 0 && days == 0 && hours == 0; }
  std::string text() const;  // "1y2m", "30d": what `forget` gives as the reason
};

/// Parses "30d", "1y2m", "2d12h"; nullopt when the text is not one (an empty text, a zero
/// duration, a unit other than y m d h, a unit twice or out of order, more than 6 digits).
std::optional<KeepWithin> parse_keep_within(std::string_view text);

/// Keep the newest N snapshots, and the newest of each of the last N hours/days/ISO weeks/
/// months/years (UTC); every snapshot newer than `within` before the group's newest one; every
/// snapshot holding all tags of one of `tags` (restic's --keep-tag a,b). A snapshot is kept when
/// any rule keeps it. Rules apply per group of snapshots with the same host and section names,
/// so backups of different sources do not evict each other.
struct RetentionPolicy {
  int last = 0, daily = 0, weekly = 0, monthly = 0;
  int hourly = 0, yearly = 0;
  KeepWithin within{};
  std::vector<std::vector<std::string>> tags{};
  bool empty() const {
    return last == 0 && daily == 0 && weekly == 0 && monthly == 0 && hourly == 0 && yearly == 0 && within.empty() &&
           tags.empty();
  }
};

/// What forget does: the snapshots kept (each with its reasons, restic's words: "last snapshot",
/// "daily snapshot", "within 30d", "tag prod") and those removed, both in the given order.
struct ForgetPlan {
  std::vector<Snapshot> keep, remove;
  std::vector<std::vector<std::string>> reasons;  // reasons[i]: why keep[i] is kept
};

/// A tree of a snapshot that cannot be read: "snapshot ID: <where, in which section>".
struct SnapshotDamage : Failure {
  using Failure::Failure;
};

/// Every blob the snapshots reference: their trees (each distinct one read once), their root
/// trees and the data the trees list. Throws SnapshotDamage when a tree cannot be read.
std::unordered_set<Id> referenced_blobs(const Repository& repo, const std::vector<Snapshot>& snapshots);

ForgetPlan plan_forget(const std::vector<Snapshot>& snapshots, const RetentionPolicy& policy);

/// The group a snapshot is weighed in by plan_forget: its host and section names.
std::string forget_group(const Snapshot& s);

struct PruneStats {
  std::size_t packs_deleted = 0, packs_repacked = 0, packs_kept = 0;
  std::uint64_t bytes_freed = 0;
};

/// Removes data no snapshot references: unused packs are deleted, mostly-unused ones
/// rewritten. With `repack_small`, packs under 80 % of the pack size are rewritten too, into
/// full ones, where there are two or more holding the same kind of blob (restic's
/// --repack-small; one alone would only be copied). Crash-safe: new packs and a complete new
/// index are durable before anything is deleted. The caller holds the lock.
PruneStats prune(Repository& repo, const std::function<void(const std::string&)>& info, bool repack_small = false);

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
