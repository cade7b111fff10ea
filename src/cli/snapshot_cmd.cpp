// `drctl snapshot …`: argument wiring for the repository commands.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <array>
#include <regex>
#include <set>

#include "capture/backup.hpp"
#include "capture/exclude.hpp"
#include "capture/nas.hpp"
#include "capture/remote.hpp"
#include "offsite/copy.hpp"
#include "offsite/sftp_repo.hpp"
#include "world/real/ssh_host.hpp"
#include "world/real/real_world.hpp"
#include "world/url.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "store/archive.hpp"
#include "store/checker.hpp"
#include "store/diff.hpp"
#include "store/key_source.hpp"
#include "base/error.hpp"
#include "store/lock.hpp"
#include "store/prune.hpp"
#include "store/restorer.hpp"
#include "store/stats.hpp"
#include "store/walk.hpp"
#include "base/shell.hpp"

namespace drctl::cli {

using namespace drctl::store;
using json = nlohmann::json;

void warn(const std::string& message) { std::fprintf(stderr, "drctl: warning: %s\n", printable(message).c_str()); }

namespace {

struct Common {
  std::string repo;
  std::string lock_wait = "60s";
  std::string password_file, key_file;  // an encrypted repository's credential (store/key_source.hpp)
  std::string ssh_config;                // for --repo sftp://… (as ssh -F)
  fs::path path() const { return default_repo_path(repo); }
  RepoLock lock() const {
    return RepoLock::acquire(path(), std::chrono::milliseconds(duration_option(lock_wait, "--lock-wait")), warn);
  }
  /// A reader's share, taken before anything of the repository is read, so that a prune waits
  /// until the reading is done (none when there is no repository: opening it says so).
  std::optional<ReadLock> reading() const {
    if (!fs::exists(path() / "config")) return std::nullopt;
    return ReadLock::shared(path(), std::chrono::milliseconds(duration_option(lock_wait, "--lock-wait")), warn);
  }
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string strip_slashes(std::string p) {
  while (!p.empty() && p.back() == '/') p.pop_back();
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  return p;
}

std::string short_time(const std::string& iso) { return iso.substr(0, 19).replace(10, 1, " "); }

/// The one JSON document a --json run prints (paths that are not UTF-8 get U+FFFD).
void print_json(const json& j) { std::puts(j.dump(1, ' ', false, json::error_handler_t::replace).c_str()); }

/// "1 snapshot", "2 snapshots".
std::string plural(std::uint64_t n, const std::string& word, const std::string& words = "") {
  return std::to_string(n) + " " + (n == 1 ? word : words.empty() ? word + "s" : words);
}

/// A column's width: its heading's or its widest value's.
std::size_t width_of(const std::string& heading, const std::vector<std::string>& values) {
  std::size_t w = heading.size();
  for (const auto& v : values) w = std::max(w, v.size());
  return w;
}

json snapshot_json(const Snapshot& s) {
  json secs = json::array();
  for (const auto& sec : s.sections) {
    secs.push_back({{"name", sec.name}, {"source", sec.source}, {"tree", sec.tree.hex()}, {"files", sec.files},
                    {"dirs", sec.dirs}, {"bytes", sec.bytes}});
    if (sec.excludes.empty()) continue;
    json paths = json::array();
    for (const auto& [path, pattern] : sec.excluded_paths) paths.push_back({{"path", path}, {"pattern", pattern}});
    secs.back()["excludes"] = sec.excludes;
    secs.back()["excluded"] = sec.excluded;
    secs.back()["excluded_paths"] = paths;
  }
  json skipped = json::array();
  for (const auto& k : s.skipped) skipped.push_back({{"section", k.section}, {"path", k.path}, {"error", k.error}});
  json j = {{"id", s.id.hex()}, {"time", s.time},     {"host", s.host},           {"tags", s.tags},
            {"sections", secs}, {"skipped", skipped}, {"added_bytes", s.added_bytes}};
  if (s.parent) j["parent"] = s.parent->hex();
  if (s.original) j["original"] = s.original->hex();
  return j;
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

/// A directory on an SSH host: ssh://[USER@]HOST[:PORT]/PATH.
using SshSource = world::HostPathUrl;

/// Parses ssh://[USER@]HOST[:PORT]/PATH; InputError naming `what` when malformed.
SshSource parse_ssh_url(const std::string& url, const std::string& what) {
  return world::parse_host_path_url("ssh", url, what);
}

/// --nas NAME=PATH or NAME=ssh://… → (section name, source: an absolute path or the URL).
std::pair<std::string, std::string> parse_nas(const std::string& spec) {
  auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size())
    throw InputError("--nas '" + spec + "': expected NAME=PATH or NAME=ssh://[USER@]HOST[:PORT]/PATH, e.g. --nas media=/mnt/tank/media");
  std::string name = spec.substr(0, eq), path = spec.substr(eq + 1);
  static const std::regex valid("[A-Za-z0-9][A-Za-z0-9._-]*");
  if (!std::regex_match(name, valid))
    throw InputError("--nas '" + spec + "': NAME may hold letters, digits, '.', '_' and '-' only");
  if (path.rfind("ssh://", 0) == 0) {
    parse_ssh_url(path, "--nas " + name);
    return {"nas/" + name, path};
  }
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw InputError("--nas " + name + ": source path " + path + " does not exist");
  if (!S_ISDIR(st.st_mode)) throw InputError("--nas " + name + ": source path " + path + " is not a directory");
  std::string normal = abs.lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return {"nas/" + name, normal};
}

/// A count option (--keep-last N): digits only, at most 9 of them (an int). CLI11 puts the
/// option's name before the message; the value is shown as given.
CLI::Validator count_option() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos)
          return "takes a count from 0 to 999999999, not '" + printable(value) + "'";
        return "";
      },
      "COUNT");
}

// ---- the commands ------------------------------------------------------------------------

int cmd_init(const Common& c, const RepoConfig& config, bool encrypt) {
  if (!encrypt) {
    Repository::init(c.path(), config);
    std::printf("initialised repository %s\n", c.path().c_str());
    return kOk;
  }
  if (fs::exists(c.path() / "config")) throw InputError(c.path().string() + " is already a drctl repository");
  std::optional<Credential> cred = find_credential(c.path(), true);
  if (!cred)
    throw InputError("init --encrypt needs a passphrase or key file: --password-file FILE or --key-file FILE (or "
                     "DRCTL_PASSWORD_FILE / DRCTL_KEY_FILE, or run on a terminal to be asked)");
  Repository::init(c.path(), config, &*cred);
  std::printf("initialised encrypted repository %s (its key opens with %s; keep it safe: without it the data is lost)\n",
              c.path().c_str(), cred->origin.c_str());
  return kOk;
}

// ---- keys ------------------------------------------------------------------------------

/// The new credential of `key add` / `key passwd`: --new-password-file, --new-key-file, or a prompt.
Credential new_credential(const std::string& password_file, const std::string& key_file) {
  if (!password_file.empty() && !key_file.empty())
    throw InputError("give either --new-password-file or --new-key-file, not both");
  if (!password_file.empty()) return read_credential(Credential::Kind::Passphrase, password_file, "--new-password-file");
  if (!key_file.empty()) return read_credential(Credential::Kind::KeyFile, key_file, "--new-key-file");
  std::optional<Credential> typed = prompt_passphrase("New passphrase: ", true);
  if (!typed) throw InputError("give the new key with --new-password-file FILE or --new-key-file FILE");
  return *typed;
}

/// A key named by a unique prefix of its id (at least 4 hex digits).
Id find_key(const Repository& repo, const std::string& ref) {
  if (ref.size() < 4 || ref.size() > 64 || ref.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw InputError("'" + ref + "' is not a key id (4 to 64 hex digits, as `snapshot key list` shows)");
  std::vector<Id> matches;
  for (const RepoKey& k : repo.keys())
    if (k.id.hex().starts_with(ref)) matches.push_back(k.id);
  if (matches.empty()) throw InputError("no key " + ref + " in " + repo.path().string());
  if (matches.size() > 1) throw InputError("key id prefix " + ref + " is ambiguous; give more digits");
  return matches.front();
}

int cmd_key_list(const Common& c) {
  Repository repo(c.path());
  std::printf("%-2s%-10s%-22s%-12s%s\n", "", "ID", "CREATED (UTC)", "KIND", "HOST");
  for (const RepoKey& k : repo.keys())
    std::printf("%-2s%-10s%-22s%-12s%s\n", k.in_use ? "*" : "", k.id.short_hex().c_str(), printable(k.info.created).c_str(),
                printable(k.info.kind).c_str(), printable(k.info.host).c_str());
  return kOk;
}

int cmd_key_add(const Common& c, const std::string& password_file, const std::string& key_file) {
  Repository repo(c.path());
  if (!repo.encrypted()) throw InputError(c.path().string() + " is not encrypted: it has no keys to add to");
  const Credential cred = new_credential(password_file, key_file);
  RepoLock lock = c.lock();
  std::printf("added key %s\n", repo.add_key(cred).short_hex().c_str());
  return kOk;
}

int cmd_key_remove(const Common& c, const std::string& ref, bool force) {
  Repository repo(c.path());
  const Id id = find_key(repo, ref);
  RepoLock lock = c.lock();
  repo.remove_key(id, force);
  std::printf("removed key %s\n", id.short_hex().c_str());
  return kOk;
}

int cmd_key_passwd(const Common& c, const std::string& password_file, const std::string& key_file) {
  Repository repo(c.path());
  if (!repo.encrypted()) throw InputError(c.path().string() + " is not encrypted: it has no keys to change");
  const Credential cred = new_credential(password_file, key_file);
  RepoLock lock = c.lock();
  const Id old = [&] {
    for (const RepoKey& k : repo.keys())
      if (k.in_use) return k.id;
    throw Failure("the key this command opened the repository with is gone");
  }();
  const Id added = repo.add_key(cred);  // durable before the old one goes
  repo.remove_key(old, true);
  std::printf("changed key %s to %s\n", old.short_hex().c_str(), added.short_hex().c_str());
  return kOk;
}

/// Where --nas sources are read: this machine, or SSH hosts made on first use.
class SourceHosts {
 public:
  explicit SourceHosts(std::string ssh_config) : ssh_config_(std::move(ssh_config)) {}
  /// The World holding this machine ("local") and every SSH host made so far.
  world::World& world() { return world_; }
  world::Host& ssh(const SshSource& s) {
    const std::string name = (s.user.empty() ? "" : s.user + "@") + s.host + (s.port ? ":" + std::to_string(s.port) : "");
    if (!added_.count(name)) {
      world::real::SshHostSpec spec;
      spec.name = name;
      spec.address = s.host;
      spec.port = s.port;
      spec.user = s.user;
      spec.ssh_config = ssh_config_;
      try {
        world_.add_ssh_host(spec);
      } catch (const world::real::SshConfigError& e) {
        throw InputError(std::string("--nas ") + name + ": " + e.what());
      }
      added_.insert(name);
    }
    return world_.host(name);
  }

 private:
  std::string ssh_config_;
  world::real::RealWorld world_;
  std::set<std::string> added_;
};

/// The patterns of --exclude and --exclude-file, checked (InputError before any work).
std::vector<std::string> exclude_patterns(const std::vector<std::string>& excludes, const std::vector<std::string>& files) {
  capture::ExcludeMatcher matcher;
  for (const auto& pattern : excludes) matcher.add(pattern, "--exclude");
  for (const auto& file : files) matcher.add_file(file);
  return matcher.patterns();
}

int cmd_create(const Common& c, const std::vector<std::string>& nas, const std::vector<std::string>& tags,
               const std::string& pre, const std::string& post, const std::string& ssh_config,
               const std::vector<std::string>& excludes, const std::vector<std::string>& exclude_files) {
  const std::vector<std::string> patterns = exclude_patterns(excludes, exclude_files);
  std::vector<std::pair<std::string, std::string>> named;
  for (const auto& spec : nas) {
    auto s = parse_nas(spec);
    for (const auto& other : named)
      if (other.first == s.first) throw InputError("--nas " + s.first.substr(4) + " is given twice");
    named.push_back(s);
  }
  SourceHosts hosts(ssh_config);
  std::vector<capture::BackupSource> sources;
  for (const auto& [name, origin] : named) {
    capture::BackupSource s;
    s.section = name;
    s.origin = origin;
    s.pre = {"--pre", pre};
    s.post = {"--post", post};
    s.exclude = patterns;  // a local walk skips them; a host's listing is filtered and tar asked by name
    if (origin.rfind("ssh://", 0) == 0) {
      const SshSource url = parse_ssh_url(origin, "--nas");
      s.host = hosts.ssh(url).name();
      s.path = url.path;
    } else {
      s.path = origin;
    }
    sources.push_back(std::move(s));
  }
  Repository repo(c.path());
  RepoLock lock = c.lock();
  repo.reload_index();
  repo.clean_tmp();

  // What to expect: the bytes each source's newest earlier snapshot held (no count of the tree
  // first, which would read every directory twice); unknown when a source is new.
  std::uint64_t expected = 0;
  {
    const auto earlier = repo.snapshots();
    for (const auto& src : sources) {
      std::optional<std::uint64_t> last;
      for (const auto& snap : earlier)  // oldest first: the last match is the newest
        for (const auto& sec : snap.sections)
          if (sec.source == src.origin) last = sec.bytes;
      if (!last) {
        expected = 0;
        break;
      }
      expected += *last;
    }
  }
  const auto started = std::chrono::steady_clock::now();
  capture::Progress progress;
  StatusLine status([&] {
    const double secs = seconds_since(started);
    return "[" + std::to_string(progress.files.load()) + " files] " + byte_progress(progress.bytes_seen, expected, secs) + ", " +
           human_bytes(progress.bytes_read) + " read, " + human_bytes(progress.bytes_added) + " added";
  });
  auto say = [&](const std::string& m) { status.print("drctl: warning: " + printable(m)); };
  capture::Backup backup(hosts.world(), repo, {say, nullptr});
  const Snapshot snap = backup.run(sources, tags, progress);

  std::uint64_t files = 0, bytes = 0;
  for (const auto& s : snap.sections) {
    files += s.files;
    bytes += s.bytes;
  }
  double secs = seconds_since(started);
  char summary[256];
  std::snprintf(summary, sizeof summary, "drctl: %s, %s captured, %s read, %s added in %.1fs",
                plural(files, "file").c_str(), human_bytes(bytes).c_str(),
                human_bytes(progress.bytes_read).c_str(), human_bytes(snap.added_bytes).c_str(), secs);
  status.print(summary);
  std::printf("snapshot %s saved\n", snap.id.hex().c_str());
  std::uint64_t excluded = 0;
  for (const auto& sec : snap.sections) excluded += sec.excluded;
  if (excluded)
    std::fprintf(stderr, "drctl: %s left out by the exclude patterns (see `drctl snapshot show %s`)\n",
                 plural(excluded, "entry", "entries").c_str(), snap.id.short_hex().c_str());
  if (!snap.skipped.empty()) {
    warn(std::to_string(snap.skipped.size()) + " entries could not be read and are not in the snapshot (see `drctl snapshot show " +
         snap.id.short_hex() + "`)");
    return kPartial;
  }
  return kOk;
}

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

/// Creates `to` (the user's path, followed as given) and below it the directories of `rel` (a
/// section's name), refusing a symlink among those: in a --force target one must not lead elsewhere.
void make_section_dirs(const fs::path& to, const std::string& rel) {
  fs::create_directories(to);
  Fd fd(::open(to.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw_errno("cannot open directory", to, errno);
  fs::path at = to;
  for (const auto& part : fs::path(rel)) {
    at /= part;
    if (::mkdirat(fd.get(), part.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("cannot create directory", at, errno);
    Fd next(::openat(fd.get(), part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!next) {
      if (errno == ELOOP || errno == ENOTDIR) throw InputError(at.string() + " is a symlink or not a directory; not restoring through it");
      throw_errno("cannot open directory", at, errno);
    }
    fd = std::move(next);
  }
}

/// Checks a section's trees before anything is restored from them (check_section).
void check_trees(const Repository& repo, const Snapshot& s, const Section& sec) {
  try {
    check_section(repo, sec);
  } catch (const TreeDamage& d) {
    throw Failure("snapshot " + s.id.short_hex() + ": " + d.in_section(sec.name) + " (run `drctl snapshot verify`)");
  }
}

/// restore --to ssh://…: one section streamed into tar -x on the host.
int restore_over_ssh(const Common& c, const std::string& ref, const std::string& section,
                     const std::vector<std::string>& includes, const std::string& to, const std::string& ssh_config) {
  const SshSource target = parse_ssh_url(to, "--to");
  if (section.empty()) throw InputError("--to " + to + ": restoring over SSH takes one --section");
  Repository repo(c.path());
  Snapshot s = repo.find_snapshot(ref);
  const Section* sec = s.section(strip_slashes(section));
  if (!sec) throw InputError("snapshot " + s.id.short_hex() + " has no section " + section);
  std::vector<std::string> paths;
  for (const auto& inc : includes) {
    paths.push_back(strip_slashes(inc));
    if (!find_node(repo, sec->tree, paths.back()))
      throw InputError("no " + printable(paths.back()) + " in section " + sec->name + " of snapshot " + s.id.short_hex());
  }
  check_trees(repo, s, *sec);
  SourceHosts hosts(ssh_config);
  world::Host& host = hosts.ssh(target);
  const std::string quoted = shell_quote(target.path);
  auto probe = host.run(world::shell_command("test ! -e " + quoted + " || test -z \"$(ls -A " + quoted + ")\""));
  if (!probe.ok()) throw InputError("restore target " + to + " is not empty (restore into an empty or new directory)");
  const auto started = std::chrono::steady_clock::now();
  capture::restore_host_dir(repo, *sec, host, target.path, paths);
  std::fprintf(stderr, "drctl: restored %llu files (%s) of %s into %s in %.1fs\n", static_cast<unsigned long long>(sec->files),
               human_bytes(sec->bytes).c_str(), sec->name.c_str(), to.c_str(), seconds_since(started));
  return kOk;
}

int cmd_restore(const Common& c, const std::string& ref, const std::string& section,
                std::vector<std::string> includes, const std::string& to, bool force, const std::string& ssh_config) {
  const auto reading = c.reading();
  if (to.rfind("ssh://", 0) == 0) return restore_over_ssh(c, ref, section, includes, to, ssh_config);
  Repository repo(c.path());
  Snapshot s = repo.find_snapshot(ref);
  for (auto& inc : includes) inc = strip_slashes(inc);

  // (section, its directory below --to: "" or its name, includes) for each section to restore
  struct Job { const Section* sec; std::string subdir; std::vector<std::string> includes; };
  std::vector<Job> jobs;
  if (!section.empty()) {
    const Section* sec = s.section(strip_slashes(section));
    if (!sec) {
      std::string names;
      for (const auto& x : s.sections) names += " " + x.name;
      throw InputError("snapshot " + s.id.short_hex() + " has no section " + section + " (it has:" + names + ")");
    }
    jobs.push_back({sec, "", includes});
  } else {
    for (const auto& sec : s.sections) {
      std::vector<std::string> mine;
      bool any = includes.empty();
      for (const auto& inc : includes) {
        if (inc == sec.name) any = true;
        else if (inc.starts_with(sec.name + "/")) mine.push_back(inc.substr(sec.name.size() + 1));
      }
      if (any || !mine.empty()) jobs.push_back({&sec, sec.name, any ? std::vector<std::string>{} : mine});
    }
    if (jobs.empty()) throw InputError("no --include path names a section of snapshot " + s.id.short_hex());
  }
  for (const auto& job : jobs) check_trees(repo, s, *job.sec);
  for (const auto& job : jobs)
    for (const auto& inc : job.includes)
      if (!find_node(repo, job.sec->tree, inc))
        throw InputError("no " + printable(inc) + " in section " + job.sec->name + " of snapshot " + s.id.short_hex());

  std::error_code ec;
  if (fs::exists(to, ec)) {
    if (!fs::is_directory(to)) throw InputError("restore target " + to + " is not a directory");
    if (!fs::is_empty(to) && !force)
      throw InputError("restore target " + to + " is not empty (use --force to restore into it)");
  }
  const auto started = std::chrono::steady_clock::now();
  RestoreStats stats;
  // The total is known for whole sections (the snapshot records their bytes); for --include paths
  // the status gives bytes and rate alone.
  std::uint64_t total = 0;
  for (const auto& job : jobs) total = job.includes.empty() && total != UINT64_MAX ? total + job.sec->bytes : UINT64_MAX;
  if (total == UINT64_MAX) total = 0;
  StatusLine status([&] {
    return "[" + std::to_string(stats.files.load()) + " files] " + byte_progress(stats.bytes, total, seconds_since(started)) +
           " restored";
  });
  auto say = [&](const std::string& m) { status.print("drctl: warning: " + printable(m)); };
  for (const auto& job : jobs) {
    make_section_dirs(to, job.subdir);
    const std::string dir = job.subdir.empty() ? to : (fs::path(to) / job.subdir).string();
    RestoreOptions options;
    options.includes = job.includes;
    options.max_nodes = node_budget(*job.sec);  // a DAG of shared subtrees costs what the section records, no more
    restore_tree(repo, job.sec->tree, dir, options, stats, say);
    if (job.includes.empty() && job.sec->root) restore_root_metadata(repo, *job.sec->root, dir);
  }
  char summary[200];
  std::snprintf(summary, sizeof summary, "drctl: restored %llu files, %s in %.1fs",
                static_cast<unsigned long long>(stats.files.load()), human_bytes(stats.bytes).c_str(),
                seconds_since(started));
  status.print(summary);
  if (!stats.errors.empty()) {
    std::fprintf(stderr, "drctl: error: %zu entries could not be restored\n", stats.errors.size());
    return kFailed;
  }
  return kOk;
}

int cmd_verify(const Common& c, bool read_data, const std::string& subset, bool as_json) {
  std::function<bool(const Id&)> read_only;
  if (!subset.empty()) try {
      read_only = pack_subset(subset);
      read_data = true;
    } catch (const std::invalid_argument& e) {
      throw InputError(std::string("--read-data-subset: ") + e.what());
    }
  const auto reading = c.reading();
  Repository repo(c.path());
  const auto started = std::chrono::steady_clock::now();
  std::size_t done = 0, total = 0;
  VerifyReport report;
  {
    StatusLine status([&] { return "[" + std::to_string(done) + "/" + std::to_string(total) + " packs] reading"; });
    report = verify_repository(repo, read_data, [&](std::size_t d, std::size_t t) { done = d; total = t; }, read_only);
  }
  for (const auto& w : report.warnings) warn(w);
  if (as_json) {
    json j = {{"ok", report.ok()},         {"errors", report.errors},          {"warnings", report.warnings},
              {"index_entries", repo.index().size()}, {"read_data", read_data}, {"packs_read", report.packs_read},
              {"blobs_checked", report.blobs_checked}, {"bytes_read", report.bytes_read}};
    if (!subset.empty()) j["subset"] = subset;
    print_json(j);
    return report.ok() ? kOk : kFailed;
  }
  for (const auto& e : report.errors) std::printf("damaged: %s\n", printable(e).c_str());
  std::fprintf(stderr, "drctl: checked %s%s in %.1fs: %s\n", plural(repo.index().size(), "index entry", "index entries").c_str(),
               read_data ? (", re-read " + plural(report.packs_read, "pack") + " (" + human_bytes(report.bytes_read) + ")").c_str()
                         : "",
               seconds_since(started), report.ok() ? "no damage found" : plural(report.errors.size(), "problem").c_str());
  return report.ok() ? kOk : kFailed;
}

json prune_json(const PruneStats& stats) {
  return {{"packs_deleted", stats.packs_deleted}, {"packs_rewritten", stats.packs_repacked},
          {"packs_kept", stats.packs_kept}, {"bytes_freed", stats.bytes_freed}};
}

/// Prunes; prints the result unless `as_json` (the caller puts prune_json in its document).
PruneStats run_prune(const Common& c, Repository& repo, bool as_json) {
  // It deletes packs a reader may be in the middle of: it waits until no one reads.
  const ReadLock readers = ReadLock::exclusive(c.path(), std::chrono::milliseconds(duration_option(c.lock_wait, "--lock-wait")), warn);
  auto stats = prune(repo, [](const std::string& m) { std::fprintf(stderr, "drctl: %s\n", m.c_str()); });
  if (!as_json)
    std::printf("pruned: %s deleted, %zu rewritten, %zu kept, %s freed\n", plural(stats.packs_deleted, "pack").c_str(),
                stats.packs_repacked, stats.packs_kept, human_bytes(stats.bytes_freed).c_str());
  return stats;
}

/// forget's options as given on the command line: counts, and texts checked when it runs.
struct ForgetArgs {
  RetentionPolicy policy;
  std::string within;
  std::vector<std::string> keep_tags;
  bool prune = false, dry_run = false, json = false;
};

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

std::string join(const std::vector<std::string>& parts, const std::string& by) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : by) + p;
  return out;
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
      std::printf("keep   %s  %s  %s\n", s.id.short_hex().c_str(), short_time(s.time).c_str(), join(plan.reasons[i], ", ").c_str());
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

// ---- tag, stats, find ----------------------------------------------------------------------

/// What `snapshot tag` was given.
struct TagArgs {
  std::vector<std::string> ids, add, remove, set;
  bool set_given = false, json = false;
};

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
    const std::string tags = next.tags.empty() ? "no tags" : "tags " + join(next.tags, ", ");
    if (same) std::printf("snapshot %s unchanged (%s)\n", old.id.short_hex().c_str(), printable(tags).c_str());
    else std::printf("snapshot %s is now %s (%s)\n", old.id.short_hex().c_str(), next.id.short_hex().c_str(), printable(tags).c_str());
  }
  if (a.json) print_json(results);
  else std::printf("changed the tags of %s\n", plural(changed, "snapshot").c_str());
  return kOk;
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

int cmd_export(const Common& c, const std::string& ref, const std::string& file, bool force) {
  const auto reading = c.reading();
  Repository repo(c.path());
  Snapshot s = repo.find_snapshot(ref);
  auto stats = export_snapshot(repo, s, file, force);
  std::printf("exported snapshot %s to %s: %llu blobs, %s\n", s.id.short_hex().c_str(), file.c_str(),
              static_cast<unsigned long long>(stats.blobs), human_bytes(stats.bytes).c_str());
  return kOk;
}

int cmd_import(const Common& c, const std::string& file) {
  if (!fs::exists(file)) throw InputError("export file " + file + " does not exist");
  // The whole file is checked before the repository is touched (or created).
  std::optional<ImportPlan> plan;
  if (!fs::exists(c.path() / "config")) {
    std::error_code ec;
    if (fs::exists(c.path(), ec) && !fs::is_empty(c.path(), ec))
      throw InputError(c.path().string() + " is not a drctl repository (it has no config file)");
    plan = plan_import(file, nullptr);
    Repository::init(c.path(), RepoConfig{});
    std::fprintf(stderr, "drctl: initialised repository %s\n", c.path().c_str());
  }
  Repository repo(c.path());
  RepoLock lock = c.lock();
  repo.reload_index();
  repo.clean_tmp();
  if (!plan) plan = plan_import(file, &repo);
  ArchiveStats stats = plan->stats;
  const Id id = apply_import(repo, *plan, stats);
  std::printf("imported snapshot %s: %llu blobs (%llu new), %s\n", id.hex().c_str(),
              static_cast<unsigned long long>(stats.blobs), static_cast<unsigned long long>(stats.new_blobs),
              human_bytes(stats.bytes).c_str());
  return kOk;
}

int cmd_unlock(const Common& c, bool force) {
  Repository repo(c.path());
  auto removed = remove_lock(repo.path(), force);
  if (!removed) std::printf("repository %s is not locked\n", repo.path().c_str());
  else std::printf("removed the lock of %s\n", removed->describe().c_str());
  return kOk;
}

// ---- copy ------------------------------------------------------------------------------

/// What `snapshot copy` was given.
struct CopyArgs {
  std::vector<std::string> ids;
  bool all = false, verify_all = false;
  std::string to, from, ssh_config;
};

/// The SSH host of an sftp:// URL, with drctl's strict host-key rules (SshConfig, known_hosts).
world::real::SshHost& copy_host(world::real::RealWorld& world, const offsite::SftpUrl& url, const std::string& ssh_config,
                                const std::string& option) {
  world::real::SshHostSpec spec;
  spec.name = (url.user.empty() ? "" : url.user + "@") + url.host + (url.port ? ":" + std::to_string(url.port) : "");
  spec.address = url.host;
  spec.port = url.port;
  spec.user = url.user;
  spec.ssh_config = ssh_config;
  try {
    world.add_ssh_host(spec);
  } catch (const world::real::SshConfigError& e) {
    throw InputError(option + " " + spec.name + ": " + e.what());
  }
  return dynamic_cast<world::real::SshHost&>(world.host(spec.name));
}

int cmd_copy(const Common& c, const CopyArgs& a) {
  if (a.to.empty() == a.from.empty()) throw InputError("copy needs one of --to sftp://… or --from sftp://…");
  if (a.all == !a.ids.empty()) throw InputError("copy needs snapshot ids or --all (not both)");
  if (!a.from.empty() && !a.ids.empty()) throw InputError("copy --from copies --all (ids are chosen on the far side's copy)");
  if (!a.ssh_config.empty() && !fs::exists(a.ssh_config)) throw InputError("--ssh-config " + a.ssh_config + " does not exist");
  const bool upload = !a.to.empty();
  const offsite::SftpUrl url = offsite::parse_sftp_url(upload ? a.to : a.from, upload ? "--to" : "--from");
  const fs::path local = c.path();
  // The local end: read under a reader's share (a prune waits), or written under the writer's lock.
  std::optional<ReadLock> reading;
  std::optional<RepoLock> writing;
  if (upload) {
    if (!fs::exists(local / "config")) throw InputError(local.string() + " is not a drctl repository (it has no config file)");
    reading = c.reading();
  } else {
    std::error_code ec;
    if (!fs::exists(local / "config") && fs::exists(local, ec) && !fs::is_empty(local, ec))
      throw InputError(local.string() + " is not empty and not a drctl repository: copy --from needs an empty or new directory");
    make_private_dir(local / "tmp");
    writing.emplace(c.lock());
  }
  world::real::RealWorld world;
  world::real::SshHost& host = copy_host(world, url, a.ssh_config, upload ? "--to" : "--from");
  auto near = offsite::local_side(local);
  auto far = offsite::sftp_side(host, url.path);

  offsite::CopyProgress progress;
  offsite::CopyStats stats;
  const auto started = std::chrono::steady_clock::now();
  {
    StatusLine status([&] {
      const double secs = std::max(seconds_since(started), 0.001);
      return "[" + std::to_string(progress.files_done.load()) + "/" + std::to_string(progress.files_total.load()) +
             " files] " + human_bytes(progress.bytes_sent) + " sent (" +
             human_bytes(static_cast<std::uint64_t>(progress.bytes_sent / secs)) + "/s)";
    });
    offsite::CopyChoice choice{a.all, a.ids, a.verify_all};
    stats = upload ? offsite::copy_repository(*near, *far, choice, progress)
                   : offsite::copy_repository(*far, *near, choice, progress);
  }
  const std::string target = upload ? far->describe() : near->describe();
  if (stats.created) std::printf("created repository %s\n", target.c_str());
  if (stats.temporaries_removed) std::printf("removed %zu temporary files of an interrupted copy\n", stats.temporaries_removed);
  std::printf("copied %zu files (%s, %zu snapshots) to %s; %zu already there; %zu verified in %.1fs\n", stats.files_sent,
              human_bytes(stats.bytes_sent).c_str(), stats.snapshots_sent, target.c_str(), stats.files_present,
              stats.files_verified, seconds_since(started));
  return kOk;
}

/// True when the chosen subcommand only reads the repository (what an sftp:// one allows).
bool reads_only(const CLI::App& snap) {
  static const std::set<std::string> readers = {"list", "show", "ls", "diff", "restore", "verify", "export", "stats", "find"};
  for (const CLI::App* sub : snap.get_subcommands()) {
    if (sub->get_name() == "key") {
      for (const CLI::App* k : sub->get_subcommands())
        if (k->get_name() != "list") return false;
    } else if (!readers.contains(sub->get_name())) {
      return false;
    }
  }
  return true;
}

}  // namespace

void add_snapshot_commands(CLI::App& app, Action& run) {
  auto common = std::make_shared<Common>();
  CLI::App* snap = app.add_subcommand("snapshot", "Back up to, inspect and restore from a snapshot repository");
  snap->require_subcommand(1);
  snap->fallthrough();
  snap->add_option("--repo", common->repo,
                   "Repository path, or sftp://[USER@]HOST[:PORT]/PATH to read a far copy where it lies (read-only) "
                   "(default: $DRCTL_REPO, else ./snapshots)");
  snap->add_option("--lock-wait", common->lock_wait, "How long to wait for another writer's lock, for a prune to finish (readers), or for readers to finish (prune) (e.g. 30s, 5m)")
      ->capture_default_str();
  snap->add_option("--password-file", common->password_file,
                   "An encrypted repository's passphrase: the file's contents without a trailing line break (default: $DRCTL_PASSWORD_FILE, else asked on a terminal)");
  snap->add_option("--key-file", common->key_file,
                   "An encrypted repository's key file, at least 32 random bytes (default: $DRCTL_KEY_FILE)");
  snap->add_option("--ssh-config", common->ssh_config, "The OpenSSH client configuration for --repo sftp://… (as ssh -F)");
  // Every subcommand's work runs with the credential set; Repository finds it there.
  snap->callback([&run, common, snap] {
    run = [inner = run, common, snap] {
      set_credential_files(common->password_file, common->key_file);
      // --repo sftp://…: read over SFTP (offsite/sftp_repo.hpp); a writing command is refused before any work.
      if (is_remote_location(common->path())) {
        if (!reads_only(*snap)) refuse_remote_write(common->path().string());
        offsite::register_sftp_repositories();
        offsite::set_sftp_repo_options(
            {common->ssh_config, std::chrono::milliseconds(duration_option(common->lock_wait, "--lock-wait")), warn});
      }
      return inner();
    };
  });

  auto config = std::make_shared<RepoConfig>();
  auto encrypt = std::make_shared<bool>(false);
  auto* init = snap->add_subcommand("init", "Create an empty repository");
  init->add_option("--chunk-min", config->chunker.min, "Smallest chunk in bytes")->capture_default_str();
  init->add_option("--chunk-avg", config->chunker.avg, "Average chunk in bytes")->capture_default_str();
  init->add_option("--chunk-max", config->chunker.max, "Largest chunk in bytes")->capture_default_str();
  init->add_option("--compression-level", config->compression_level, "zstd level, 1-19")->capture_default_str();
  init->add_flag("--encrypt", *encrypt,
                 "Encrypt everything stored (XChaCha20-Poly1305; keyed ids), with the passphrase or key file given as "
                 "--password-file / --key-file, their variables, or asked on a terminal");
  init->callback([&run, common, config, encrypt] { run = [=] { return cmd_init(*common, *config, *encrypt); }; });

  auto key = snap->add_subcommand("key", "Manage an encrypted repository's passphrases and key files");
  key->require_subcommand(1);
  auto new_files = std::make_shared<std::array<std::string, 2>>();
  auto key_ref = std::make_shared<std::string>();
  auto key_force = std::make_shared<bool>(false);
  auto* key_list = key->add_subcommand("list", "List the keys: id, when and where made, kind (* the one in use)");
  key_list->callback([&run, common] { run = [=] { return cmd_key_list(*common); }; });
  auto* key_add = key->add_subcommand("add", "Add a passphrase or key file that opens the repository");
  auto* key_passwd = key->add_subcommand("passwd", "Replace the key in use by a new passphrase or key file");
  for (auto* sub : {key_add, key_passwd}) {
    sub->add_option("--new-password-file", (*new_files)[0], "The new passphrase: the file's contents without a trailing line break (default: asked on a terminal)");
    sub->add_option("--new-key-file", (*new_files)[1], "The new key file (at least 32 random bytes)");
  }
  key_add->callback([&run, common, new_files] { run = [=] { return cmd_key_add(*common, (*new_files)[0], (*new_files)[1]); }; });
  key_passwd->callback([&run, common, new_files] {
    run = [=] { return cmd_key_passwd(*common, (*new_files)[0], (*new_files)[1]); };
  });
  auto* key_remove = key->add_subcommand("remove", "Remove a key (never the last; the one in use only with --force)");
  key_remove->add_option("ID", *key_ref, "Key id or unique prefix, as `key list` shows")->required();
  key_remove->add_flag("--force", *key_force, "Remove the key this command opened the repository with");
  key_remove->callback([&run, common, key_ref, key_force] { run = [=] { return cmd_key_remove(*common, *key_ref, *key_force); }; });

  auto nas = std::make_shared<std::vector<std::string>>();
  auto tags = std::make_shared<std::vector<std::string>>();
  auto* create = snap->add_subcommand("create", "Capture sources into a new snapshot");
  create->add_option("--nas", *nas,
                     "NAME=PATH or NAME=ssh://[USER@]HOST[:PORT]/PATH: capture the directory as section nas/NAME (repeatable)")
      ->required();
  auto hooks = std::make_shared<std::array<std::string, 3>>();
  create->add_option("--pre", (*hooks)[0], "A command run on each source's host before its capture (e.g. zfs snapshot)");
  create->add_option("--post", (*hooks)[1], "A command run on each source's host after its capture, also when it failed");
  create->add_option("--ssh-config", (*hooks)[2], "The OpenSSH client configuration for ssh:// sources (as ssh -F)");
  create->add_option("--tag", *tags, "A tag for the snapshot (repeatable)");
  auto excludes = std::make_shared<std::array<std::vector<std::string>, 2>>();
  create->add_option("--exclude", (*excludes)[0],
                     "Leave out what matches PATTERN, as restic: a glob on a name (*.tmp) or on the last components "
                     "of a path (cache/*.bin), /-anchored from the source's root (/var/log), ** for any directories "
                     "(repeatable; local sources)");
  create->add_option("--exclude-file", (*excludes)[1],
                     "Read exclude patterns from FILE, one a line (# comments and empty lines ignored; repeatable)");
  create->callback([&run, common, nas, tags, hooks, excludes] {
    run = [=] {
      return cmd_create(*common, *nas, *tags, (*hooks)[0], (*hooks)[1], (*hooks)[2], (*excludes)[0], (*excludes)[1]);
    };
  });

  auto as_json = std::make_shared<bool>(false);
  auto* list = snap->add_subcommand("list", "List snapshots, oldest first");
  list->add_flag("--json", *as_json, "Machine-readable output");
  list->callback([&run, common, as_json] { run = [=] { return cmd_list(*common, *as_json); }; });

  auto id1 = std::make_shared<std::string>();
  auto id2 = std::make_shared<std::string>();
  auto* show = snap->add_subcommand("show", "Show a snapshot's sections, sources and skipped files");
  show->add_option("ID", *id1, "Snapshot id, unique prefix, or `latest`")->required();
  show->add_flag("--json", *as_json, "Machine-readable output");
  show->callback([&run, common, id1, as_json] { run = [=] { return cmd_show(*common, *id1, *as_json); }; });

  auto path = std::make_shared<std::string>();
  auto* ls = snap->add_subcommand("ls", "List the entries of a snapshot under PATH (e.g. nas/media/photos)");
  ls->add_option("ID", *id1, "Snapshot id, unique prefix, or `latest`")->required();
  ls->add_option("PATH", *path, "Path inside the snapshot");
  ls->add_flag("--json", *as_json, "Machine-readable output: one JSON array of the entries");
  ls->callback([&run, common, id1, path, as_json] { run = [=] { return cmd_ls(*common, *id1, *path, *as_json); }; });

  auto* diff = snap->add_subcommand("diff", "Show what changed between two snapshots (+ added, - removed, M modified)");
  diff->add_option("ID1", *id1, "Older snapshot")->required();
  diff->add_option("ID2", *id2, "Newer snapshot")->required();
  diff->add_flag("--json", *as_json, "Machine-readable output");
  diff->callback([&run, common, id1, id2, as_json] { run = [=] { return cmd_diff(*common, *id1, *id2, *as_json); }; });

  auto section = std::make_shared<std::string>();
  auto includes = std::make_shared<std::vector<std::string>>();
  auto to = std::make_shared<std::string>();
  auto force = std::make_shared<bool>(false);
  auto* restore = snap->add_subcommand("restore", "Restore a snapshot (or part of it) into a directory");
  restore->add_option("ID", *id1, "Snapshot id, unique prefix, or `latest`")->required();
  restore->add_option("--section", *section, "Restore only this section (e.g. nas/media), directly into --to");
  restore->add_option("--include", *includes, "Restore only this path (relative to the section with --section; repeatable)");
  restore->add_option("--to", *to, "Target directory, or ssh://[USER@]HOST[:PORT]/PATH (with --section: tar -x there)")->required();
  restore->add_flag("--force", *force, "Restore into a non-empty directory, replacing what is in the way");
  auto restore_ssh = std::make_shared<std::string>();
  restore->add_option("--ssh-config", *restore_ssh, "The OpenSSH client configuration for an ssh:// target (as ssh -F)");
  restore->callback([&run, common, id1, section, includes, to, force, restore_ssh] {
    run = [=] {
      if (!restore_ssh->empty() && common->ssh_config.empty()) offsite::set_sftp_repo_ssh_config(*restore_ssh);
      return cmd_restore(*common, *id1, *section, *includes, *to, *force, *restore_ssh);
    };
  });

  auto read_data = std::make_shared<bool>(false);
  auto* verify = snap->add_subcommand("verify", "Check the repository; exit 1 naming every damaged snapshot and file");
  verify->add_flag("--read-data", *read_data, "Also re-read and re-hash every stored byte");
  auto subset = std::make_shared<std::string>();
  verify->add_option("--read-data-subset", *subset,
                     "Re-read only part of the data, as restic does: n/t (part n of t; t runs with n = 1..t read every byte "
                     "once) or x% (a random share)");
  verify->add_flag("--json", *as_json, "Machine-readable output (the exit code is the same)");
  verify->callback([&run, common, read_data, subset, as_json] {
    run = [=] { return cmd_verify(*common, *read_data, *subset, *as_json); };
  });

  auto fa = std::make_shared<ForgetArgs>();
  auto* forget = snap->add_subcommand("forget", "Remove snapshots a retention policy does not keep (and say why each is kept)");
  forget->add_option("--keep-last", fa->policy.last, "Keep the newest N")->check(count_option());
  forget->add_option("--keep-hourly", fa->policy.hourly, "Keep the newest of each of the last N hours")->check(count_option());
  forget->add_option("--keep-daily", fa->policy.daily, "Keep the newest of each of the last N days")->check(count_option());
  forget->add_option("--keep-weekly", fa->policy.weekly, "Keep the newest of each of the last N weeks")->check(count_option());
  forget->add_option("--keep-monthly", fa->policy.monthly, "Keep the newest of each of the last N months")
      ->check(count_option());
  forget->add_option("--keep-yearly", fa->policy.yearly, "Keep the newest of each of the last N years")->check(count_option());
  forget->add_option("--keep-within", fa->within,
                     "Keep every snapshot newer than DURATION before the newest one, e.g. 30d, 1y2m, 2d12h (y m d h; m is months, as in restic)");
  forget->add_option("--keep-tag", fa->keep_tags, "Keep snapshots with TAG, or with every tag of TAG,TAG (repeatable)");
  forget->add_flag("--prune", fa->prune, "Then remove the data no snapshot needs any more");
  forget->add_flag("--dry-run", fa->dry_run, "Only print what would be removed");
  forget->add_flag("--json", fa->json, "Machine-readable output");
  forget->callback([&run, common, fa] { run = [=] { return cmd_forget(*common, *fa); }; });

  auto* rebuild = snap->add_subcommand(
      "rebuild-index", "Make the index again from the packs (after index files were lost or damaged)");
  rebuild->callback([&run, common] {
    run = [=] {
      Repository repo(common->path());
      RepoLock lock = common->lock();
      std::size_t done = 0, total = 0;
      RebuildStats stats;
      {
        StatusLine status([&] { return "[" + std::to_string(done) + "/" + std::to_string(total) + " packs] reading"; });
        stats = rebuild_index(repo, warn, [&](std::size_t d, std::size_t t) { done = d, total = t; });
      }
      std::printf("index rebuilt from %zu packs: %zu blobs; %zu old index files removed%s\n", stats.packs, stats.blobs,
                  stats.old_index_files,
                  stats.damaged ? (", " + std::to_string(stats.damaged) + " damaged packs left out (see the warnings; "
                                   "`snapshot verify` names what they held)").c_str()
                                : "");
      return stats.damaged ? kPartial : kOk;
    };
  });

  auto prune_json_flag = std::make_shared<bool>(false);
  auto* prune_cmd = snap->add_subcommand("prune", "Remove data that no snapshot references");
  prune_cmd->add_flag("--json", *prune_json_flag, "Machine-readable output");
  prune_cmd->callback([&run, common, prune_json_flag] {
    run = [=] {
      Repository repo(common->path());
      RepoLock lock = common->lock();
      repo.reload_index();
      repo.clean_tmp();
      const PruneStats stats = run_prune(*common, repo, *prune_json_flag);
      if (*prune_json_flag) print_json(prune_json(stats));
      return kOk;
    };
  });

  auto tag_args = std::make_shared<TagArgs>();
  auto* tag = snap->add_subcommand("tag", "Change snapshots' tags (each gets a new manifest, and so a new id)");
  tag->add_option("ID", tag_args->ids, "Snapshot ids, unique prefixes, or `latest`")->required();
  tag->add_option("--add", tag_args->add, "Add TAG (repeatable)");
  tag->add_option("--remove", tag_args->remove, "Remove TAG (repeatable)");
  auto* set_opt = tag->add_option("--set", tag_args->set, "Replace every tag by TAG (repeatable; --set '' removes them all)");
  tag->add_flag("--json", tag_args->json, "Machine-readable output");
  tag->callback([&run, common, tag_args, set_opt] {
    tag_args->set_given = set_opt->count() > 0;
    run = [=] { return cmd_tag(*common, *tag_args); };
  });

  auto stat_ids = std::make_shared<std::vector<std::string>>();
  auto stat_mode = std::make_shared<std::string>();
  auto* stats_cmd = snap->add_subcommand("stats", "How much the snapshots hold and what they take in the repository");
  stats_cmd->add_option("ID", *stat_ids, "Only these snapshots (default: every one)");
  stats_cmd->add_option("--mode", *stat_mode,
                        "restore-size: only what the manifests record (no tree is read); raw-data: only the blobs "
                        "referenced; default both");
  stats_cmd->add_flag("--json", *as_json, "Machine-readable output");
  stats_cmd->callback([&run, common, stat_ids, stat_mode, as_json] {
    run = [=] { return cmd_stats(*common, *stat_ids, *stat_mode, *as_json); };
  });

  auto find_pattern = std::make_shared<std::string>();
  auto find_ids = std::make_shared<std::vector<std::string>>();
  auto* find_cmd = snap->add_subcommand("find", "Which snapshots hold an entry whose path matches PATTERN");
  find_cmd->add_option("PATTERN", *find_pattern,
                       "A glob on a name (*.jpg), on the last components of a path (photos/*.jpg), or /-anchored on the "
                       "path in the snapshot (/nas/media/photos/**)")
      ->required();
  find_cmd->add_option("--snapshot", *find_ids, "Only this snapshot (repeatable; default: every one)");
  find_cmd->add_flag("--json", *as_json, "Machine-readable output");
  find_cmd->callback([&run, common, find_pattern, find_ids, as_json] {
    run = [=] { return cmd_find(*common, *find_pattern, *find_ids, *as_json); };
  });

  auto file = std::make_shared<std::string>();
  auto* exp = snap->add_subcommand("export", "Write one snapshot to a portable .tar.zst file");
  exp->add_option("ID", *id1, "Snapshot id, unique prefix, or `latest`")->required();
  exp->add_option("FILE", *file, "Output file, e.g. backup.tar.zst (created 0600)")->required();
  auto export_force = std::make_shared<bool>(false);
  exp->add_flag("--force", *export_force, "Replace FILE if it exists");
  exp->callback([&run, common, id1, file, export_force] {
    run = [=] { return cmd_export(*common, *id1, *file, *export_force); };
  });

  auto* imp = snap->add_subcommand("import", "Read a snapshot from an exported .tar.zst file");
  imp->add_option("FILE", *file, "The exported file")->required();
  imp->callback([&run, common, file] { run = [=] { return cmd_import(*common, *file); }; });

  auto copy_args = std::make_shared<CopyArgs>();
  auto* copy = snap->add_subcommand("copy", "Copy snapshots to (or from) a repository on an SSH host over SFTP, checked there");
  copy->add_option("ID", copy_args->ids, "Snapshot ids or unique prefixes (every pack and index file goes too: snapshots share them)");
  copy->add_flag("--all", copy_args->all, "Copy every snapshot");
  copy->add_option("--to", copy_args->to, "sftp://[USER@]HOST[:PORT]/PATH: the far repository (made when missing)");
  copy->add_option("--from", copy_args->from, "sftp://[USER@]HOST[:PORT]/PATH: copy that far repository into --repo");
  copy->add_option("--ssh-config", copy_args->ssh_config, "The OpenSSH client configuration (as ssh -F)");
  copy->add_flag("--verify-all", copy_args->verify_all,
                 "Also re-hash on the target every file an earlier copy sent (new files are always checked)");
  copy->callback([&run, common, copy_args] { run = [=] { return cmd_copy(*common, *copy_args); }; });

  auto* unlock = snap->add_subcommand("unlock", "Remove a stale lock left by a writer that is gone");
  unlock->add_flag("--force", *force, "Remove the lock even if its holder may still run");
  unlock->callback([&run, common, force] { run = [=] { return cmd_unlock(*common, *force); }; });
}

}  // namespace drctl::cli
