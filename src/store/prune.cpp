#include "store/prune.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <map>
#include <set>
#include <unordered_set>

#include "base/error.hpp"
#include "store/walk.hpp"

namespace drctl::store {

namespace {

std::tm parse_time(const std::string& iso) {
  std::tm tm{};
  if (::strptime(iso.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) throw Failure("bad snapshot time " + iso);
  std::time_t t = ::timegm(&tm);  // normalise wday/yday
  ::gmtime_r(&t, &tm);
  return tm;
}

std::string bucket(const std::tm& tm, const char* fmt) {
  char buf[32];
  std::strftime(buf, sizeof buf, fmt, &tm);
  return buf;
}

using Reasons = std::map<const Snapshot*, std::vector<std::string>>;

/// Keeps the newest snapshot of each of the first `n` distinct buckets (restic: a snapshot is
/// kept when its bucket differs from the one of the snapshot kept before it), as `reason`.
void keep_buckets(const std::vector<const Snapshot*>& newest_first, int n, const char* fmt, const char* reason,
                  Reasons& keep) {
  std::string last;
  for (const Snapshot* s : newest_first) {
    if (n <= 0) return;
    std::string b = bucket(parse_time(s->time), fmt);
    if (b != last) {
      keep[s].push_back(reason);
      last = b;
      --n;
    }
  }
}

/// Keeps every snapshot strictly newer than `within` before the newest one (restic: newer than
/// the duration relative to the latest snapshot; months and days count on the calendar).
void keep_within(const std::vector<const Snapshot*>& newest_first, const KeepWithin& within, Reasons& keep) {
  if (within.empty() || newest_first.empty()) return;
  const auto newest = parse_utc_text(newest_first.front()->time);
  if (!newest) throw Failure("bad snapshot time " + newest_first.front()->time);
  const auto secs = std::chrono::floor<std::chrono::seconds>(*newest);
  std::time_t t = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  tm.tm_year -= within.years;
  tm.tm_mon -= within.months;  // timegm normalises "Feb 31" to early March, as Go's AddDate does
  tm.tm_mday -= within.days;
  tm.tm_hour -= within.hours;
  const auto limit = std::chrono::system_clock::from_time_t(::timegm(&tm)) + (*newest - secs);
  for (const Snapshot* s : newest_first) {
    const auto at = parse_utc_text(s->time);
    if (at && *at > limit) keep[s].push_back("within " + within.text());
  }
}

/// Keeps every snapshot holding all the tags of one of the lists.
void keep_tagged(const std::vector<const Snapshot*>& group, const std::vector<std::vector<std::string>>& lists,
                 Reasons& keep) {
  for (const Snapshot* s : group)
    for (const auto& list : lists) {
      const bool all = std::all_of(list.begin(), list.end(), [&](const std::string& tag) {
        return std::find(s->tags.begin(), s->tags.end(), tag) != s->tags.end();
      });
      if (!all || list.empty()) continue;
      std::string words = list.size() == 1 ? "tag " : "tags ";
      for (std::size_t i = 0; i < list.size(); ++i) words += (i ? "," : "") + list[i];
      keep[s].push_back(words);
    }
}


}  // namespace

std::unordered_set<Id> referenced_blobs(const Repository& repo, const std::vector<Snapshot>& snapshots) {
  std::unordered_set<Id> used;
  TreeGraph graph([&](const Id& id) {
    used.insert(id);
    Tree tree = repo.load_tree(id);
    for (const Node& n : tree.nodes)
      for (const Part& p : n.content)
        if (p.blob) used.insert(*p.blob);
    return shape_of(tree);
  });
  for (const Snapshot& s : snapshots)
    for (const auto& sec : s.sections) {
      if (sec.root) used.insert(*sec.root);
      try {
        graph.explore(sec.tree);
      } catch (const TreeDamage& d) {
        throw SnapshotDamage("snapshot " + s.id.short_hex() + ": " + d.in_section(sec.name));
      }
    }
  return used;
}

std::string KeepWithin::text() const {
  std::string t;
  if (years) t += std::to_string(years) + "y";
  if (months) t += std::to_string(months) + "m";
  if (days) t += std::to_string(days) + "d";
  if (hours) t += std::to_string(hours) + "h";
  return t;
}

std::optional<KeepWithin> parse_keep_within(std::string_view text) {
  KeepWithin w;
  int* fields[] = {&w.years, &w.months, &w.days, &w.hours};
  static constexpr std::string_view units = "ymdh";
  std::size_t next_unit = 0, i = 0;
  if (text.empty()) return std::nullopt;
  while (i < text.size()) {
    std::size_t digits = 0;
    int value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (++digits > 6) return std::nullopt;
      value = value * 10 + (text[i++] - '0');
    }
    if (digits == 0 || i == text.size()) return std::nullopt;  // a unit without a number, or a number without one
    const std::size_t unit = units.find(text[i++]);
    if (unit == std::string_view::npos || unit < next_unit) return std::nullopt;  // unknown, repeated or out of order
    *fields[unit] = value;
    next_unit = unit + 1;
  }
  if (w.empty()) return std::nullopt;
  return w;
}

std::string forget_group(const Snapshot& s) {
  std::string key = s.host;
  for (const auto& sec : s.sections) key += "\n" + sec.name;
  return key;
}

ForgetPlan plan_forget(const std::vector<Snapshot>& snapshots, const RetentionPolicy& policy) {
  std::map<std::string, std::vector<const Snapshot*>> groups;
  for (const Snapshot& s : snapshots) groups[forget_group(s)].push_back(&s);
  Reasons keep;
  for (auto& [key, group] : groups) {
    std::sort(group.begin(), group.end(), [](auto* a, auto* b) { return a->time > b->time; });
    for (int i = 0; i < policy.last && i < static_cast<int>(group.size()); ++i) keep[group[i]].push_back("last snapshot");
    keep_buckets(group, policy.hourly, "%Y-%m-%d %H", "hourly snapshot", keep);
    keep_buckets(group, policy.daily, "%Y-%m-%d", "daily snapshot", keep);
    keep_buckets(group, policy.weekly, "%G-W%V", "weekly snapshot", keep);
    keep_buckets(group, policy.monthly, "%Y-%m", "monthly snapshot", keep);
    keep_buckets(group, policy.yearly, "%Y", "yearly snapshot", keep);
    keep_within(group, policy.within, keep);
    keep_tagged(group, policy.tags, keep);
  }
  ForgetPlan plan;
  for (const Snapshot& s : snapshots) {
    auto it = keep.find(&s);
    if (it == keep.end()) {
      plan.remove.push_back(s);
      continue;
    }
    plan.keep.push_back(s);
    plan.reasons.push_back(it->second);
  }
  return plan;
}

PruneStats prune(Repository& repo, const std::function<void(const std::string&)>& info, bool repack_small) {
  if (!repo.index_problems().empty())
    throw Failure("not pruning: " + repo.index_problems().front() + "; packs it lists would look unused");
  PruneStats stats;
  std::vector<std::string> damaged;
  std::vector<Snapshot> snapshots = repo.snapshots(&damaged);
  if (!damaged.empty())
    throw Failure("not pruning: " + damaged.front() + "; the data it needs cannot be told apart (remove it or repair it first)");
  std::unordered_set<Id> used;
  try {
    used = referenced_blobs(repo, snapshots);
  } catch (const SnapshotDamage& d) {
    throw Failure(std::string("not pruning: ") + d.what() +
                  "; the data it needs cannot be told apart (remove it or repair it first)");
  }

  // Packs no index file names were left by an interrupted write, or their index file was lost:
  // read their headers so that what they hold is kept if a snapshot needs it.
  std::set<Id> indexed;
  for (const auto& [pack, entries] : repo.index().by_pack()) indexed.insert(pack);
  std::set<Id> unreadable;
  for (const Id& pack : repo.list_packs()) {
    if (indexed.contains(pack)) continue;
    try {
      repo.adopt_pack(pack, repo.read_pack_header(pack));
    } catch (const Failure& e) {
      unreadable.insert(pack);  // damaged: left in place for a person to look at
      info("leaving pack " + pack.short_hex() + " alone: " + e.what());
    }
  }

  const std::vector<Id> old_index_files = repo.list_ids("index");
  const PackContents before = repo.index().by_pack();
  // Small packs (under 80 % of the pack size), each sized once, and how many hold each kind of
  // blob: those whose blobs are all in use are rewritten together (repack_small) where there are
  // two or more of a kind.
  std::set<Id> small;
  std::map<BlobType, std::size_t> small_packs;
  if (repack_small)
    for (const auto& [pack, entries] : before) {
      const auto size = repo.pack_size(pack);
      if (entries.empty() || !size || *size * 5 >= std::uint64_t{repo.config().pack_size} * 4) continue;
      small.insert(pack);
      small_packs[entries.front().type]++;
    }
  std::set<Id> remove;
  std::vector<BlobEntry> to_move;
  for (const auto& [pack, entries] : before) {
    std::uint64_t used_bytes = 0, total = 0;
    for (const auto& e : entries) {
      total += e.length;
      if (used.contains(e.id)) used_bytes += e.length;
    }
    if (used_bytes == total && small.contains(pack) && small_packs[entries.front().type] >= 2) {
      remove.insert(pack);
      to_move.insert(to_move.end(), entries.begin(), entries.end());
      stats.packs_repacked++;
      continue;
    }
    if (used_bytes == total) {
      stats.packs_kept++;
      continue;
    }
    if (used_bytes == 0 || (total - used_bytes) * 10 >= total) {
      remove.insert(pack);
      for (const auto& e : entries)
        if (used.contains(e.id)) to_move.push_back(e);
      (used_bytes == 0 ? stats.packs_deleted : stats.packs_repacked)++;
    } else {
      stats.packs_kept++;
    }
  }
  for (const Id& pack : repo.list_packs())
    if (!before.contains(pack) && !unreadable.contains(pack)) {
      remove.insert(pack);  // unreadable, or every blob it holds is also in another pack
      stats.packs_deleted++;
    }
  if (remove.empty()) return stats;

  info("rewriting " + std::to_string(to_move.size()) + " blobs still in use from " +
       std::to_string(stats.packs_repacked) + " packs");
  for (const auto& e : to_move) {
    Bytes raw = repo.read_blob(e.id);
    repo.add_blob_again(e.type, e.id, raw);  // the new location replaces the old in the index
  }
  repo.flush();
  // A rewritten pack can have the same bytes, and so the same id, as one an interrupted
  // prune left behind, which was just marked for removal: it stays.
  for (const Id& pack : repo.packs_written()) remove.erase(pack);

  PackContents after;
  for (auto& [pack, entries] : repo.index().by_pack())
    if (!remove.contains(pack)) after[pack] = std::move(entries);
  Id index = repo.write_index_file(after);
  for (const Id& old : old_index_files)
    if (old != index) repo.remove_index_file(old);
  for (const Id& pack : remove) {
    std::error_code ec;
    stats.bytes_freed += fs::file_size(repo.pack_path(pack), ec);
    repo.remove_pack(pack);
  }
  return stats;
}

RebuildStats rebuild_index(Repository& repo, const std::function<void(const std::string&)>& info,
                           const std::function<void(std::size_t, std::size_t)>& progress) {
  RebuildStats stats;
  PackContents contents;
  const std::vector<Id> packs = repo.list_packs();
  for (std::size_t i = 0; i < packs.size(); ++i) {
    if (progress) progress(i, packs.size());
    const Id& pack = packs[i];
    try {
      if (sha256(read_file(repo.pack_path(pack))) != pack) throw Failure("its bytes do not hash to its name");
      contents[pack] = repo.read_pack_header(pack);
    } catch (const Failure& e) {
      stats.damaged++;
      info("leaving pack " + pack.short_hex() + " out of the index: " + e.what());
      continue;
    }
    stats.packs++;
    stats.blobs += contents[pack].size();
  }
  const std::vector<Id> old_index_files = repo.list_ids("index");
  const Id index = repo.write_index_file(contents);  // durable before any old one goes
  for (const Id& old : old_index_files)
    if (old != index) {
      repo.remove_index_file(old);
      stats.old_index_files++;
    }
  repo.reload_index();
  return stats;
}

}  // namespace drctl::store
