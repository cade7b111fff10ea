// `drctl snapshot forget|prune|tag`: which snapshots the repository keeps, and what they are called.
#include <algorithm>
#include <cstdio>

#include "base/error.hpp"
#include "base/text.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/snapshot_common.hpp"

namespace drctl::cli::snapshot_detail {

using namespace drctl::store;

namespace {

/// The policy of `args`; InputError naming the option when --keep-within or --keep-tag is bad.
RetentionPolicy forget_policy(const ForgetArgs& args) {
  RetentionPolicy policy = args.policy;
  if (!args.within.empty()) {
    auto w = parse_keep_within(args.within);
    if (!w)
      throw InputError("--keep-within '" + printable(args.within) +
                       "': expected a duration of years, months, days and hours, e.g. 30d, 1y2m, 2d12h (m is months)");
    policy.within = *w;
  }
  for (const auto& list : args.keep_tags) {
    std::vector<std::string> tags;
    std::size_t start = 0;
    while (true) {
      const std::size_t comma = list.find(',', start);
      tags.push_back(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (tags.back().empty()) throw InputError("--keep-tag '" + printable(list) + "': expected TAG or TAG,TAG,… (no empty tag)");
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    policy.tags.push_back(std::move(tags));
  }
  if (policy.empty())
    throw InputError("forget needs at least one of --keep-last, --keep-hourly, --keep-daily, --keep-weekly, --keep-monthly, "
                     "--keep-yearly, --keep-within, --keep-tag");
  return policy;
}

/// Checks the tags of `option`: not empty, no comma (--keep-tag's list separator).
void check_tags(const std::vector<std::string>& tags, const std::string& option) {
  for (const auto& t : tags)
    if (t.empty() || t.find(',') != std::string::npos)
      throw InputError(option + " '" + printable(t) + "': a tag is not empty and holds no comma");
}

/// The tags of `s` after `a`: --set replaces them; else --remove, then --add (order kept, no duplicates).
std::vector<std::string> new_tags(const Snapshot& s, const TagArgs& a) {
  std::vector<std::string> tags = a.set_given ? std::vector<std::string>{} : s.tags;
  const auto add = [&](const std::string& t) {
    if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
  };
  if (a.set_given) {
    for (const auto& t : a.set)
      if (!t.empty()) add(t);
    return tags;
  }
  for (const auto& t : a.remove) std::erase(tags, t);
  for (const auto& t : a.add) add(t);
  return tags;
}

}  // namespace

json prune_json(const PruneStats& stats) {
  return {{"packs_deleted", stats.packs_deleted}, {"packs_rewritten", stats.packs_repacked},
          {"packs_kept", stats.packs_kept}, {"bytes_freed", stats.bytes_freed}};
}

PruneStats run_prune(const Common& c, Repository& repo, bool as_json, bool repack_small) {
  // It deletes packs a reader may be in the middle of: it waits until no one reads.
  const ReadLock readers = ReadLock::exclusive(c.path(), std::chrono::milliseconds(duration_option(c.lock_wait, "--lock-wait")), warn);
  auto stats = prune(repo, [](const std::string& m) { std::fprintf(stderr, "drctl: %s\n", m.c_str()); }, repack_small);
  if (!as_json)
    std::printf("pruned: %s deleted, %zu rewritten, %zu kept, %s freed\n", plural(stats.packs_deleted, "pack").c_str(),
                stats.packs_repacked, stats.packs_kept, human_bytes(stats.bytes_freed).c_str());
  return stats;
}

int cmd_forget(const Common& c, const ForgetArgs& args) {
  const RetentionPolicy policy = forget_policy(args);
  Repository repo(c.path());
  std::optional<RepoLock> lock;
  if (!args.dry_run) {
    lock.emplace(c.lock());
    repo.reload_index();
    repo.clean_tmp();
  }
  ForgetPlan plan = plan_forget(repo.snapshots(), policy);
  json kept = json::array(), removed = json::array();
  for (std::size_t i = 0; i < plan.keep.size(); ++i) {
    const Snapshot& s = plan.keep[i];
    if (args.json) {
      kept.push_back(snapshot_json(s));
      kept.back()["reasons"] = plan.reasons[i];
    } else {
      std::printf("keep   %s  %s  %s\n", s.id.short_hex().c_str(), short_time(s.time).c_str(), text::join(plan.reasons[i], ", ").c_str());
    }
  }
  for (const auto& s : plan.remove) {
    if (args.json) removed.push_back(snapshot_json(s));
    else std::printf("%s %s  %s\n", args.dry_run ? "would remove" : "remove", s.id.short_hex().c_str(), short_time(s.time).c_str());
    if (!args.dry_run) repo.remove_snapshot(s.id);
  }
  if (!args.json)
    std::printf("%s %s, kept %s\n", args.dry_run ? "would remove" : "removed", plural(plan.remove.size(), "snapshot").c_str(),
                plural(plan.keep.size(), "snapshot").c_str());
  json doc = {{"dry_run", args.dry_run}, {"keep", kept}, {"remove", removed}};
  if (args.prune && !args.dry_run) doc["prune"] = prune_json(run_prune(c, repo, args.json));
  if (args.json) print_json(doc);
  return kOk;
}

/// Changes snapshots' tags after the fact, as restic does: a new manifest with the new tags
/// (same time, host, sections; `original` naming the first snapshot of the line) is written
/// and made durable, then the old one is removed. A crash in between leaves both, never neither.
int cmd_tag(const Common& c, TagArgs a) {
  if (a.set_given && (!a.add.empty() || !a.remove.empty()))
    throw InputError("tag: --set replaces every tag; give it alone, or --add / --remove");
  if (!a.set_given && a.add.empty() && a.remove.empty()) throw InputError("tag needs --add TAG, --remove TAG or --set TAG");
  if (a.set.size() == 1 && a.set[0].empty()) a.set.clear();  // --set "": no tags
  check_tags(a.add, "--add");
  check_tags(a.remove, "--remove");
  check_tags(a.set, "--set");
  Repository repo(c.path());
  std::vector<Snapshot> targets;
  for (const auto& ref : a.ids) {
    Snapshot s = repo.find_snapshot(ref);
    if (std::none_of(targets.begin(), targets.end(), [&](const Snapshot& t) { return t.id == s.id; })) targets.push_back(s);
  }
  RepoLock lock = c.lock();
  json results = json::array();
  std::size_t changed = 0;
  for (const Snapshot& old : targets) {
    Snapshot next = old;
    next.tags = new_tags(old, a);
    const bool same = next.tags == old.tags;
    if (!same) {
      if (!next.original) next.original = old.id;
      repo.save_snapshot(next);  // durable before the old manifest goes
      repo.remove_snapshot(old.id);
      changed++;
    }
    if (a.json) {
      results.push_back({{"old", old.id.hex()}, {"new", next.id.hex()}, {"changed", !same}, {"tags", next.tags}});
      continue;
    }
    const std::string tags = next.tags.empty() ? "no tags" : "tags " + text::join(next.tags, ", ");
    if (same) std::printf("snapshot %s unchanged (%s)\n", old.id.short_hex().c_str(), printable(tags).c_str());
    else std::printf("snapshot %s is now %s (%s)\n", old.id.short_hex().c_str(), next.id.short_hex().c_str(), printable(tags).c_str());
  }
  if (a.json) print_json(results);
  else std::printf("changed the tags of %s\n", plural(changed, "snapshot").c_str());
  return kOk;
}

}  // namespace drctl::cli::snapshot_detail
