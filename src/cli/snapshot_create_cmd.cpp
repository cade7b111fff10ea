// `drctl snapshot create`: capturing --nas sources (local or ssh://) into a new snapshot.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <regex>

#include "base/error.hpp"
#include "capture/backup.hpp"
#include "capture/exclude.hpp"
#include "capture/nas.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "cli/snapshot_common.hpp"

namespace drctl::cli::snapshot_detail {

using namespace drctl::store;

namespace {

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

/// The patterns of --exclude and --exclude-file, checked (InputError before any work).
std::vector<std::string> exclude_patterns(const std::vector<std::string>& excludes, const std::vector<std::string>& files) {
  capture::ExcludeMatcher matcher;
  for (const auto& pattern : excludes) matcher.add(pattern, "--exclude");
  for (const auto& file : files) matcher.add_file(file);
  return matcher.patterns();
}

}  // namespace

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

}  // namespace drctl::cli::snapshot_detail
