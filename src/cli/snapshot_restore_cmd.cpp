// `drctl snapshot restore|export|import`: a snapshot's files out to a directory, an SSH host or
// a portable file, and such a file back in.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "base/error.hpp"
#include "base/shell.hpp"
#include "capture/remote.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "cli/snapshot_common.hpp"
#include "store/archive.hpp"
#include "store/files.hpp"
#include "store/restorer.hpp"
#include "store/walk.hpp"

namespace drctl::cli::snapshot_detail {

using namespace drctl::store;

namespace {

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

}  // namespace

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

}  // namespace drctl::cli::snapshot_detail
