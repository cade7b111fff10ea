// One backup pipeline (issue 14): `drctl snapshot create` and a backup.snapshot step of the same
// local directory make the same trees; a second backup.snapshot of an unchanged directory opens
// none of its files (the kernel's inotify says what was opened and read); a source's pre and post
// hooks run on its host, post also after a failed capture; the snapshot is stamped with this
// machine's name. And `snapshot restore --to ssh://` into a path holding a `'`.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;
using json = nlohmann::json;

namespace {

/// Which files below a directory were opened or read, as the kernel reports it (inotify on the
/// directory and every directory inside it, made before anything is captured).
class FileReads {
 public:
  explicit FileReads(const fs::path& root) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {
    REQUIRE(fd_ >= 0);
    watch(root, "");
    for (const auto& e : fs::recursive_directory_iterator(root))
      if (e.symlink_status().type() == fs::file_type::directory) watch(e.path(), fs::relative(e.path(), root).string() + "/");
  }
  ~FileReads() { ::close(fd_); }
  FileReads(const FileReads&) = delete;
  FileReads& operator=(const FileReads&) = delete;

  /// The files (relative paths) opened or read since the last call; directories are left out
  /// (listing them is how a capture sees that nothing changed).
  std::set<std::string> take() {
    std::set<std::string> files;
    alignas(struct inotify_event) char buf[64 * 1024];
    for (ssize_t n; (n = ::read(fd_, buf, sizeof buf)) > 0;)
      for (char* p = buf; p < buf + n;) {
        const auto* ev = reinterpret_cast<const struct inotify_event*>(p);
        REQUIRE_MESSAGE(!(ev->mask & IN_Q_OVERFLOW), "inotify lost events");
        if (!(ev->mask & IN_ISDIR) && ev->len > 0) files.insert(dirs_.at(ev->wd) + ev->name);
        p += sizeof(struct inotify_event) + ev->len;
      }
    return files;
  }

 private:
  void watch(const fs::path& dir, const std::string& prefix) {
    const int wd = ::inotify_add_watch(fd_, dir.c_str(), IN_OPEN | IN_ACCESS);
    REQUIRE_MESSAGE(wd >= 0, "cannot watch " << dir);
    dirs_[wd] = prefix;
  }
  int fd_;
  std::map<int, std::string> dirs_;
};

/// `snapshot list --json` of a repository, oldest first.
json snapshots(const fs::path& repo) {
  RunResult r = drctl({"snapshot", "list", "--repo", repo.string(), "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  return json::parse(r.out);
}

/// The snapshot `id` in a `snapshot list --json`.
json snapshot(const json& list, const std::string& id) {
  for (const auto& s : list)
    if (s["id"] == id) return s;
  FAIL("no snapshot " << id);
  return {};
}

/// The tree of `section` in a snapshot of `snapshot list --json`.
std::string tree_of(const json& snap, const std::string& section) {
  for (const auto& s : snap["sections"])
    if (s["name"] == section) return s["tree"];
  FAIL("snapshot " << snap["id"] << " has no section " << section);
  return "";
}

/// A runbook of one backup.snapshot step; `source` is the flow-map of its one source.
fs::path backup_runbook(const fs::path& dir, const fs::path& repo, const std::string& source) {
  const fs::path file = dir / "backup.yaml";
  write_file(file, "name: backup\nsteps:\n  - id: snapshot\n    uses: backup.snapshot\n    with:\n      repo: \"" + repo.string() +
                       "\"\n      sources:\n        - " + source + "\n");
  return file;
}

/// `drctl run` of the runbook with a fresh state directory; the id of the one snapshot it added to `repo`.
std::string run_backup(const fs::path& runbook, const fs::path& repo, const fs::path& state) {
  const auto before = list_ids(repo);
  RunResult r = drctl({"run", runbook.string(), "--state", state.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  std::vector<std::string> added;
  for (const auto& id : list_ids(repo))
    if (std::find(before.begin(), before.end(), id) == before.end()) added.push_back(id);
  REQUIRE(added.size() == 1);
  return added.front();
}

/// The system clock now in UTC to the second, as snapshot times begin.
std::string utc_seconds() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string this_machine() {
  char name[256] = {};
  REQUIRE(::gethostname(name, sizeof name - 1) == 0);
  return name;
}

}  // namespace

TEST_CASE("backup pipeline: snapshot create and backup.snapshot make the same trees, and an unchanged directory is not read again") {
  TempDir t("backup-pipeline");
  const fs::path data = t / "data";
  const TreeInfo info = make_full_tree(data, {.seed = 14, .sparse_size = 4 * MiB});
  REQUIRE(!info.regular_files.empty());
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  FileReads reads(data);

  const std::string started = utc_seconds();
  const std::string by_cli = create_snapshot(repo, {{"d", data}});
  CHECK(!reads.take().empty());  // the oracle sees a capture read its files

  const fs::path runbook = backup_runbook(t.path(), repo, "{section: nas/d, path: \"" + data.string() + "\"}");
  const std::string first = run_backup(runbook, repo, t / "state-1");
  const std::string ended = utc_seconds();
  const std::set<std::string> first_reads = reads.take();
  CHECK(!first_reads.empty());  // no parent of its own yet (the CLI's records another origin): read in full
  const std::string second = run_backup(runbook, repo, t / "state-2");
  const std::set<std::string> second_reads = reads.take();
  CHECK_MESSAGE(second_reads.empty(), "an unchanged directory was read again: " << *second_reads.begin());

  json list = snapshots(repo);
  const json cli = snapshot(list, by_cli), action = snapshot(list, first), again = snapshot(list, second);
  CHECK(tree_of(action, "nas/d") == tree_of(cli, "nas/d"));
  CHECK(tree_of(again, "nas/d") == tree_of(cli, "nas/d"));
  CHECK(again["parent"] == first);
  for (const auto& s : {cli, action}) {  // stamped with this machine and the wall clock
    CHECK(s["host"] == this_machine());
    const std::string time = s["time"].get<std::string>().substr(0, 19);
    CHECK(started <= time);
    CHECK(time <= ended);
  }

  // One changed file: that file, and only it, is read by the next backup.
  std::string changed;  // a file of one name (a hard link's other names would be read through it)
  for (const auto& f : info.regular_files)
    if (changed.empty() && lstat_or_throw(data / f).st_nlink == 1 && f.find('\n') == std::string::npos) changed = f;
  REQUIRE(!changed.empty());
  write_file(data / changed, "changed since the last backup\n");
  reads.take();
  const std::string third = run_backup(runbook, repo, t / "state-3");
  CHECK(reads.take() == std::set<std::string>{changed});
  list = snapshots(repo);
  CHECK(tree_of(snapshot(list, third), "nas/d") != tree_of(cli, "nas/d"));
  CHECK(snapshot(list, third)["parent"] == second);
}

TEST_CASE("backup pipeline: a backup.snapshot source's pre and post hooks run on its host, post also when the capture fails") {
  TempDir t("backup-hooks");
  fs::create_directories(t / "data");
  write_file(t / "data/file", "some data\n");
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const fs::path log = t / "hooks.log";

  // pre sees the directory before the capture; post runs after it.
  const fs::path runbook = backup_runbook(t.path(), repo,
                                          "{section: nas/d, path: \"" + (t / "data").string() + "\", pre: \"echo pre >> " +
                                              log.string() + "; echo late > " + (t / "data/late").string() +
                                              "\", post: \"echo post >> " + log.string() + "\"}");
  const std::string id = run_backup(runbook, repo, t / "state-1");
  CHECK(read_file(log) == "pre\npost\n");
  RunResult ls = drctl({"snapshot", "ls", id, "nas/d", "--repo", repo.string()});
  CHECK(ls.out.find("nas/d/late") != std::string::npos);  // made by pre, so captured

  // A failing pre stops the step before anything is captured: its message names it and the host.
  const fs::path bad_pre = backup_runbook(t.path(), repo,
                                          "{section: nas/d, path: \"" + (t / "data").string() +
                                              "\", pre: \"echo no snapshot today >&2; exit 3\"}");
  RunResult r = drctl({"run", bad_pre.string(), "--state", (t / "state-2").string()});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("pre command on local failed (exit 3): no snapshot today") != std::string::npos, r.describe());

  // A capture that fails still runs post.
  fs::remove(log);
  const fs::path missing = backup_runbook(t.path(), repo,
                                          "{section: nas/gone, path: \"" + (t / "no-such-dir").string() +
                                              "\", post: \"echo post >> " + log.string() + "\"}");
  r = drctl({"run", missing.string(), "--state", (t / "state-3").string()});
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("no-such-dir") != std::string::npos, r.describe());
  CHECK(read_file(log) == "post\n");
  CHECK(list_ids(repo) == std::vector<std::string>{id});  // nothing saved for the failures
}

TEST_CASE("backup pipeline: snapshot restore --to ssh:// into a path holding a quote") {
  Sshd sshd;
  TempDir t("restore-quote");
  fs::create_directories(t / "data/sub");
  write_file(t / "data/a file", "quoted\n");
  write_file(t / "data/sub/b", std::string(70000, 'b'));
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const std::string id = create_snapshot(repo, {{"d", t / "data"}});
  const fs::path config = write_client_config(sshd, t / "ssh_config");
  const fs::path target = t / "it's here";
  auto restore = [&] {
    return drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/d", "--to", "ssh://nas" + target.string(),
                  "--ssh-config", config.string()});
  };
  RunResult r = restore();  // the emptiness probe (test -e, ls -A) must take the path as one word
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(read_file(target / "a file") == "quoted\n");
  CHECK(read_file(target / "sub/b") == std::string(70000, 'b'));
  r = restore();  // and see that it is no longer empty
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("is not empty") != std::string::npos, r.describe());
}
