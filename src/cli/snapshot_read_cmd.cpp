// `drctl snapshot list|show|ls|diff|stats|find`: reading snapshots and what they hold.
#include <algorithm>
#include <cstdio>
#include <ctime>

#include "base/error.hpp"
#include "capture/exclude.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/snapshot_common.hpp"
#include "store/diff.hpp"
#include "store/restorer.hpp"
#include "store/stats.hpp"
#include "store/walk.hpp"

namespace drctl::cli::snapshot_detail {

using namespace drctl::store;

namespace {

/// A column's width: its heading's or its widest value's.
std::size_t width_of(const std::string& heading, const std::vector<std::string>& values) {
  std::size_t w = heading.size();
  for (const auto& v : values) w = std::max(w, v.size());
  return w;
}

std::string mode_string(const Node& n) {
  static const char* kinds = "-dl-pcb";
  std::string s(1, kinds[static_cast<int>(n.type)]);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (n.mode & (0400 >> i)) ? rwx[i] : '-';
  if (n.type == NodeType::Hardlink) s[0] = 'h';
  return s;
}

std::string mtime_string(std::int64_t ns) {
  std::time_t t = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string mtime_iso(std::int64_t ns) {
  return utc_text(std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(ns))));
}

json node_json(const Node& n, const std::string& path) {
  json j = {{"path", path},   {"type", std::string(type_name(n.type))}, {"mode", n.mode}, {"uid", n.uid},
            {"gid", n.gid},   {"size", n.size},  {"mtime", mtime_iso(n.mtime_ns)}};
  if (n.type == NodeType::Symlink || n.type == NodeType::Hardlink) j["target"] = n.target;
  return j;
}

/// Where ls puts its entries: lines, or the elements of one JSON array written as they come
/// (a large tree is not held in memory).
class Listing {
 public:
  explicit Listing(bool as_json) : json_(as_json) {
    if (json_) std::fputs("[", stdout);
  }
  void add(const Node& n, const std::string& path, const std::string& line) {
    if (!json_) {
      std::puts(line.c_str());
      return;
    }
    std::fputs(first_ ? "\n " : ",\n ", stdout);
    std::fputs(node_json(n, path).dump(-1, ' ', false, json::error_handler_t::replace).c_str(), stdout);
    first_ = false;
  }
  void finish() {
    if (json_) std::fputs(first_ ? "]\n" : "\n]\n", stdout);
  }

 private:
  bool json_;
  bool first_ = true;
};

std::string list_line(const Node& n, const std::string& path) {
  std::string line = mode_string(n) + " " + std::to_string(n.uid) + "/" + std::to_string(n.gid) + " " +
                     std::to_string(n.size) + " " + mtime_string(n.mtime_ns) + " " + printable(path);
  if (n.type == NodeType::Symlink) line += " -> " + printable(n.target);
  if (n.type == NodeType::Hardlink) line += " => " + printable(n.target);
  return line;
}

/// Lists everything under the tree `tree` of a section: its top (`below` empty) or the
/// directory `below` inside it. Damage ends the listing with a Failure naming it.
void list_tree(const Repository& repo, const Snapshot& s, const Section& sec, const Id& tree, const std::string& below,
               Listing& out) {
  std::size_t level = 1;
  if (!below.empty()) level += static_cast<std::size_t>(std::count(below.begin(), below.end(), '/')) + 1;
  WalkGuard guard(node_budget(sec), level);
  try {
    walk_tree(repo, tree, guard, [&](const std::string& path, const Node& n) {
      out.add(n, sec.name + "/" + path, list_line(n, sec.name + "/" + path));
      return true;
    }, below);
  } catch (const TreeDamage& d) {
    std::fflush(stdout);
    throw Failure("snapshot " + s.id.short_hex() + ": " + d.in_section(sec.name));
  }
}

/// The snapshots named by `ids`, or every one.
std::vector<Snapshot> chosen_snapshots(const Repository& repo, const std::vector<std::string>& ids) {
  if (ids.empty()) {
    std::vector<std::string> problems;
    auto all = repo.snapshots(&problems);
    for (const auto& p : problems) warn(p + " (run `drctl snapshot verify`)");
    return all;
  }
  std::vector<Snapshot> out;
  for (const auto& ref : ids) {
    Snapshot s = repo.find_snapshot(ref);
    if (std::none_of(out.begin(), out.end(), [&](const Snapshot& t) { return t.id == s.id; })) out.push_back(s);
  }
  return out;
}

}  // namespace

int cmd_list(const Common& c, bool as_json) {
  Repository repo(c.path());
  std::vector<std::string> problems;
  auto all = repo.snapshots(&problems);
  for (const auto& p : problems) warn(p + " (run `drctl snapshot verify`)");
  if (as_json) {
    json arr = json::array();
    for (const auto& s : all) arr.push_back(snapshot_json(s));
    print_json(arr);
    return kOk;
  }
  // Columns as wide as their widest value, so a long host name shifts the columns after it
  // instead of breaking them; sections and tags come last, where their length harms nothing.
  std::vector<std::string> hosts, added;
  for (const auto& s : all) {
    hosts.push_back(printable(s.host));
    added.push_back(human_bytes(s.added_bytes));
  }
  const int host_w = static_cast<int>(width_of("HOST", hosts)), added_w = static_cast<int>(width_of("ADDED", added));
  std::printf("%-8s  %-19s  %-*s  %-*s  %s\n", "ID", "TIME (UTC)", host_w, "HOST", added_w, "ADDED", "SECTIONS");
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Snapshot& s = all[i];
    std::string secs;
    for (const auto& sec : s.sections) secs += (secs.empty() ? "" : " ") + sec.name;
    std::string tags;
    for (const auto& t : s.tags) tags += " #" + t;
    std::printf("%-8s  %-19s  %-*s  %-*s  %s%s\n", s.id.short_hex().c_str(), printable(short_time(s.time)).c_str(), host_w,
                hosts[i].c_str(), added_w, added[i].c_str(), secs.c_str(), printable(tags).c_str());
  }
  std::printf("%s\n", plural(all.size(), "snapshot").c_str());
  return kOk;
}

int cmd_show(const Common& c, const std::string& ref, bool as_json) {
  Repository repo(c.path());
  Snapshot s = repo.find_snapshot(ref);
  if (as_json) {
    print_json(snapshot_json(s));
    return kOk;
  }
  std::printf("snapshot %s\ntime     %s\nhost     %s\n", s.id.hex().c_str(), printable(s.time).c_str(), printable(s.host).c_str());
  if (!s.tags.empty()) {
    std::string tags;
    for (const auto& t : s.tags) tags += (tags.empty() ? "" : ", ") + t;
    std::printf("tags     %s\n", printable(tags).c_str());
  }
  if (s.parent) std::printf("parent   %s\n", s.parent->short_hex().c_str());
  if (s.original) std::printf("original %s (the snapshot this one replaced when its tags changed)\n", s.original->short_hex().c_str());
  std::printf("added    %s\n", human_bytes(s.added_bytes).c_str());
  for (const auto& sec : s.sections)
    std::printf("section  %s  from %s: %s, %s, %s\n", sec.name.c_str(), printable(sec.source).c_str(),
                plural(sec.files, "file").c_str(), plural(sec.dirs, "dir").c_str(), human_bytes(sec.bytes).c_str());
  for (const auto& sec : s.sections) {
    if (sec.excludes.empty()) continue;
    std::string patterns;
    for (const auto& p : sec.excludes) patterns += (patterns.empty() ? "" : " ") + p;
    std::printf("exclude  %s: %s (%s left out)\n", sec.name.c_str(), printable(patterns).c_str(),
                plural(sec.excluded, "entry", "entries").c_str());
    for (const auto& [path, pattern] : sec.excluded_paths)
      std::printf("excluded %s/%s (%s)\n", sec.name.c_str(), printable(path).c_str(), printable(pattern).c_str());
    if (sec.excluded > sec.excluded_paths.size())
      std::printf("excluded %s: %llu more not named\n", sec.name.c_str(),
                  static_cast<unsigned long long>(sec.excluded - sec.excluded_paths.size()));
  }
  for (const auto& k : s.skipped)
    std::printf("skipped  %s/%s: %s\n", k.section.c_str(), printable(k.path).c_str(), printable(k.error).c_str());
  return kOk;
}

int cmd_ls(const Common& c, const std::string& ref, std::string path, bool as_json) {
  const auto reading = c.reading();
  Repository repo(c.path());
  Snapshot s = repo.find_snapshot(ref);
  path = strip_slashes(path);
  // Found before anything is printed, so a path that is not there leaves stdout empty.
  const Section* in = nullptr;
  std::optional<Node> node;
  for (const auto& sec : s.sections)
    if (path.starts_with(sec.name + "/")) {
      node = find_node(repo, sec.tree, path.substr(sec.name.size() + 1));
      if (node) in = &sec;
      break;
    }
  const bool whole = path.empty() || s.section(path);
  if (!whole && !in) throw InputError("no " + printable(path) + " in snapshot " + s.id.short_hex());
  Listing out(as_json);
  for (const auto& sec : s.sections)
    if (path.empty() || path == sec.name) list_tree(repo, s, sec, sec.tree, "", out);
  if (in) {
    if (node->subtree) list_tree(repo, s, *in, *node->subtree, path.substr(in->name.size() + 1), out);
    else out.add(*node, path, mode_string(*node) + " " + std::to_string(node->size) + " " + printable(path));
  }
  out.finish();
  return kOk;
}

int cmd_diff(const Common& c, const std::string& a, const std::string& b, bool as_json) {
  const auto reading = c.reading();
  Repository repo(c.path());
  Snapshot sa = repo.find_snapshot(a), sb = repo.find_snapshot(b);
  std::uint64_t counts[3] = {0, 0, 0};
  json changes = json::array();
  for (const auto& ch : diff_snapshots(repo, sa, sb)) {
    const int k = ch.kind == '+' ? 0 : ch.kind == '-' ? 1 : 2;
    counts[k]++;
    if (as_json) changes.push_back({{"change", k == 0 ? "added" : k == 1 ? "removed" : "modified"}, {"path", ch.path}});
    else std::printf("%c %s\n", ch.kind, printable(ch.path).c_str());
  }
  if (as_json) {
    print_json({{"from", sa.id.hex()}, {"to", sb.id.hex()}, {"changes", changes}, {"added", counts[0]},
                {"removed", counts[1]}, {"modified", counts[2]}});
    return kOk;
  }
  std::fprintf(stderr, "drctl: %llu added, %llu removed, %llu modified\n", static_cast<unsigned long long>(counts[0]),
               static_cast<unsigned long long>(counts[1]), static_cast<unsigned long long>(counts[2]));
  return kOk;
}

int cmd_stats(const Common& c, const std::vector<std::string>& ids, const std::string& mode, bool as_json) {
  if (!mode.empty() && mode != "restore-size" && mode != "raw-data")
    throw InputError("--mode '" + printable(mode) + "': expected restore-size or raw-data");
  const auto reading = c.reading();
  Repository repo(c.path());
  const std::vector<Snapshot> snaps = chosen_snapshots(repo, ids);
  const SnapshotStats st = snapshot_stats(repo, snaps, mode != "restore-size");
  if (as_json) {
    json j = {{"snapshots", st.snapshots}, {"files", st.files}, {"logical_bytes", st.logical_bytes},
              {"packs", st.packs}, {"pack_bytes", st.pack_bytes}};
    if (st.raw_data) {
      j["blobs"] = st.blobs;
      j["stored_bytes"] = st.stored_bytes;
      j["raw_bytes"] = st.raw_bytes;
      j["data_raw_bytes"] = st.data_raw_bytes;
      j["missing_blobs"] = st.missing;
      j["dedup_ratio"] = st.dedup_ratio();
      j["compression_ratio"] = st.compression_ratio();
    }
    print_json(j);
    return kOk;
  }
  const auto size = [](std::uint64_t n) { return human_bytes(n) + " (" + std::to_string(n) + " bytes)"; };
  std::printf("snapshots      %zu\n", st.snapshots);
  std::printf("files          %llu\n", static_cast<unsigned long long>(st.files));
  std::printf("logical size   %s: what restoring them writes\n", size(st.logical_bytes).c_str());
  if (st.raw_data) {
    std::printf("blobs          %llu: the data and trees they reference\n", static_cast<unsigned long long>(st.blobs));
    std::printf("stored size    %s; %s before compression\n", size(st.stored_bytes).c_str(), human_bytes(st.raw_bytes).c_str());
    std::printf("dedup ratio    %.2f (logical bytes per byte of file data stored, before compression)\n", st.dedup_ratio());
    std::printf("compression    %.2f\n", st.compression_ratio());
    if (st.missing) warn(plural(st.missing, "blob") + " they reference are not in the index (run `drctl snapshot verify`)");
  }
  std::printf("repository     %s, %s\n", plural(st.packs, "pack").c_str(), size(st.pack_bytes).c_str());
  return kOk;
}

/// `snapshot find`: every entry whose path in a snapshot (SECTION/PATH, e.g. nas/media/a.jpg)
/// the glob matches, with restic's pattern rules (capture/exclude.hpp).
int cmd_find(const Common& c, const std::string& pattern, const std::vector<std::string>& ids, bool as_json) {
  capture::ExcludeMatcher matcher;
  matcher.add(pattern, "find");
  const auto reading = c.reading();
  Repository repo(c.path());
  json found = json::array();
  std::uint64_t matches = 0;
  std::size_t in_snapshots = 0;
  for (const Snapshot& s : chosen_snapshots(repo, ids)) {
    json entries = json::array();
    std::vector<std::string> lines;
    for (const auto& sec : s.sections) {
      WalkGuard guard(node_budget(sec));
      try {
        walk_tree(repo, sec.tree, guard, [&](const std::string& path, const Node& n) {
          const std::string full = sec.name + "/" + path;
          if (!matcher.match(full)) return true;
          if (as_json) entries.push_back(node_json(n, full));
          else lines.push_back(list_line(n, full));
          return true;
        });
      } catch (const TreeDamage& d) {
        throw Failure("snapshot " + s.id.short_hex() + ": " + d.in_section(sec.name) + " (run `drctl snapshot verify`)");
      }
    }
    const std::size_t n = as_json ? entries.size() : lines.size();
    if (n == 0) continue;
    matches += n;
    in_snapshots++;
    if (as_json) {
      found.push_back({{"snapshot", s.id.hex()}, {"time", s.time}, {"host", s.host}, {"matches", entries}});
      continue;
    }
    std::printf("snapshot %s  %s  %s:\n", s.id.short_hex().c_str(), short_time(s.time).c_str(), printable(s.host).c_str());
    for (const auto& line : lines) std::printf("  %s\n", line.c_str());
  }
  if (as_json) print_json(found);
  else std::printf("%s in %s\n", plural(matches, "match", "matches").c_str(), plural(in_snapshots, "snapshot").c_str());
  return kOk;
}

}  // namespace drctl::cli::snapshot_detail
