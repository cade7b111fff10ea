// Acceptance 5: concurrent writers. Two `create`s at once never corrupt the repository; the
// second waits, or fails with the lock message naming the holder (pid, host). Also --lock-wait,
// stale locks of killed writers, and `unlock`.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> create_args(const fs::path& repo, const fs::path& src, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {"snapshot", "create", "--repo", repo.string(), "--nas", "data=" + src.string()};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

// A create that lost the race: exit 1 with a message saying "locked" and naming the holder.
void check_lock_failure(const RunResult& r, pid_t holder) {
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("locked") != std::string::npos, r.describe());
  CHECK_MESSAGE(r.err.find(std::to_string(holder)) != std::string::npos, "holder pid " << holder << " not named:\n" << r.describe());
  CHECK_MESSAGE(r.err.find(hostname()) != std::string::npos, "host " << hostname() << " not named:\n" << r.describe());
  CHECK_MESSAGE(is_one_error_line(r.err.substr(r.err.find("drctl: error: ") == std::string::npos ? 0 : r.err.find("drctl: error: "))),
                r.describe());
}

// Waits until the repository's lock file exists (the writer holds the lock); false on timeout.
bool wait_for_lock(const fs::path& repo, Process& p, std::chrono::milliseconds timeout = 20s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(repo / "lock")) return true;
    if (!p.running()) return false;
    std::this_thread::sleep_for(200us);
  }
  return false;
}

}  // namespace

TEST_CASE("acceptance 5: two concurrent creates do not corrupt the repository") {
  TempDir t("concurrent");
  make_random_tree(t / "a", {.seed = 51, .files = 40, .min_size = 256 * KiB, .max_size = 2 * MiB, .dirs = 4});
  make_random_tree(t / "b", {.seed = 52, .files = 40, .min_size = 256 * KiB, .max_size = 2 * MiB, .dirs = 4});
  const fs::path repo = t / "repo";
  init_repo(repo);

  struct Saved { std::string id; fs::path source; };
  std::vector<Saved> saved;
  const std::vector<std::vector<std::string>> variants = {{}, {"--lock-wait", "0"}, {"--lock-wait", "60"}};
  int round = 0;
  for (const auto& extra : variants) {
    for (bool same_source : {false, true}) {
      ++round;
      const fs::path sa = t / "a", sb = same_source ? t / "a" : t / "b";
      auto pa = drctl_start(create_args(repo, sa, extra));
      auto pb = drctl_start(create_args(repo, sb, extra));
      RunResult ra = pa->wait(), rb = pb->wait();
      INFO("round " << round << " (lock-wait " << (extra.empty() ? "default" : extra[1]) << ", "
                    << (same_source ? "same source" : "two sources") << ")");
      int ok = 0;
      for (auto [r, src, other] : {std::tuple{&ra, sa, pb->pid()}, std::tuple{&rb, sb, pa->pid()}}) {
        if (r->exit_code == 0) {
          ++ok;
          saved.push_back({parse_snapshot_id(r->out), src});
        } else {
          check_lock_failure(*r, other);
        }
      }
      CHECK_MESSAGE(ok >= 1, "neither create succeeded:\n" << ra.describe() << rb.describe());
      if (extra.size() == 2 && extra[1] == "60")
        CHECK_MESSAGE(ok == 2, "with --lock-wait 60 the second create must wait:\n" << ra.describe() << rb.describe());
    }
  }

  RunResult v = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  auto ids = list_ids(repo);
  CHECK(ids.size() == saved.size());
  const Manifest ma = scan_tree(t / "a"), mb = scan_tree(t / "b");
  for (const auto& s : saved) {
    auto d = restore_and_compare(repo, s.id, "nas/data", s.source == t / "a" ? ma : mb, t.path());
    CHECK_MESSAGE(d.empty(), "snapshot " << s.id << ":\n" << join_diffs(d));
  }
}

TEST_CASE("--lock-wait while another writer holds the lock, and unlock refuses a live holder") {
  TempDir t("lockwait");
  make_random_tree(t / "a", {.seed = 53, .files = 20, .min_size = 1 * MiB, .max_size = 4 * MiB, .dirs = 2});
  make_random_tree(t / "b", {.seed = 54, .files = 5, .min_size = 1 * KiB, .max_size = 100 * KiB, .dirs = 1});
  const fs::path repo = t / "repo";
  init_repo(repo);

  // Writer A takes the lock and is frozen while holding it.
  auto a = drctl_start(create_args(repo, t / "a"));
  REQUIRE_MESSAGE(wait_for_lock(repo, *a), "writer A never took the lock (or finished too fast)");
  a->signal(SIGSTOP);
  REQUIRE(a->running());

  // --lock-wait 0: fails at once, naming A.
  RunResult b = drctl(create_args(repo, t / "b", {"--lock-wait", "0"}));
  check_lock_failure(b, a->pid());
  CHECK(b.err.find("waiting") == std::string::npos);  // no wait at all

  // --lock-wait 1.5: fails after waiting about that long.
  b = drctl(create_args(repo, t / "b", {"--lock-wait", "1.5"}));
  check_lock_failure(b, a->pid());
  CHECK(b.seconds >= 1.3);
  CHECK_MESSAGE(b.err.find("waiting up to 2 s for the repository lock held by") != std::string::npos, b.describe());

  // The holder is alive: unlock must not remove its lock.
  RunResult u = drctl({"snapshot", "unlock", "--repo", repo.string()});
  CHECK_MESSAGE(u.exit_code != 0, u.describe());
  CHECK(fs::exists(repo / "lock"));

  // A long enough wait gets the lock once A is done.
  auto c = drctl_start(create_args(repo, t / "b", {"--lock-wait", "60"}));
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (c->err_so_far().find("waiting up to") == std::string::npos && c->running() &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  CHECK_MESSAGE(c->running(), "writer C did not wait for the lock");
  CHECK_MESSAGE(c->err_so_far().find("waiting up to 60 s for the repository lock held by") != std::string::npos, c->err_so_far());
  a->signal(SIGCONT);
  RunResult ra = a->wait(), rc = c->wait();
  REQUIRE_MESSAGE(ra.exit_code == 0, ra.describe());
  REQUIRE_MESSAGE(rc.exit_code == 0, rc.describe());
  CHECK_FALSE(fs::exists(repo / "lock"));

  RunResult v = drctl({"snapshot", "verify", "--repo", repo.string()});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  auto d = restore_and_compare(repo, parse_snapshot_id(ra.out), "nas/data", scan_tree(t / "a"), t.path());
  CHECK_MESSAGE(d.empty(), join_diffs(d));
  d = restore_and_compare(repo, parse_snapshot_id(rc.out), "nas/data", scan_tree(t / "b"), t.path());
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}

TEST_CASE("the lock of a killed writer: unlock removes it, and the next create takes it over") {
  TempDir t("stale");
  make_random_tree(t / "a", {.seed = 55, .files = 20, .min_size = 1 * MiB, .max_size = 3 * MiB, .dirs = 2});
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id0 = create_snapshot(repo, {{"data", t / "a"}});

  auto kill_holding_lock = [&] {
    write_file(t / "a/d00/new-data.bin", std::string(3 * MiB, 'x') + std::to_string(::rand()));
    auto p = drctl_start(create_args(repo, t / "a"));
    REQUIRE_MESSAGE(wait_for_lock(repo, *p), "writer never took the lock");
    p->signal(SIGSTOP);
    p->signal(SIGKILL);
    RunResult r = p->wait();
    REQUIRE(r.term_signal == SIGKILL);
    REQUIRE_MESSAGE(fs::exists(repo / "lock"), "a killed writer left no lock file (nothing to test)");
  };

  kill_holding_lock();
  RunResult u = drctl({"snapshot", "unlock", "--repo", repo.string()});
  CHECK_MESSAGE(u.exit_code == 0, u.describe());
  CHECK_FALSE(fs::exists(repo / "lock"));

  kill_holding_lock();
  RunResult r = drctl(create_args(repo, t / "a", {"--lock-wait", "0"}));
  CHECK_MESSAGE(r.exit_code == 0, "create after a killed writer:\n" << r.describe());
  CHECK_FALSE(fs::exists(repo / "lock"));
  RunResult v = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  if (r.exit_code == 0) {
    auto d = restore_and_compare(repo, parse_snapshot_id(r.out), "nas/data", scan_tree(t / "a"), t.path());
    CHECK_MESSAGE(d.empty(), join_diffs(d));
  }
}

TEST_CASE("a prune beside a restore waits for it: the restore never fails, then the prune deletes what was forgotten") {
  // The restore reads snapshot A; A is forgotten while it runs, and the prune that follows would
  // delete the packs the restore is reading. flock(1) (util-linux) is the oracle for who holds
  // `readers`; what the prune printed says whether it waited.
  TempDir t("prune-beside-restore");
  make_random_tree(t / "a", {.seed = 71, .files = 96, .min_size = 4 * MiB, .max_size = 6 * MiB, .dirs = 4});
  make_random_tree(t / "b", {.seed = 72, .files = 4, .min_size = 4 * KiB, .max_size = 8 * KiB, .dirs = 1});
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string a = create_snapshot(repo, {{"data", t / "a"}});
  create_snapshot(repo, {{"data", t / "b"}});  // the newest: kept
  const auto packs = [&] {
    std::size_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(repo / "data")) n += e.is_regular_file();
    return n;
  };
  const std::size_t packs_before = packs();

  auto restore = drctl_start({"snapshot", "restore", a, "--repo", repo.string(), "--section", "nas/data", "--to", (t / "out").string()});
  auto shared_held = [&] {
    return run({"flock", "--nonblock", "--exclusive", (repo / "readers").string(), "true"}).exit_code != 0;
  };
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!shared_held() && restore->running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
  REQUIRE_MESSAGE(restore->running(), "the restore ended before it was seen reading:\n" << restore->wait().describe());

  // Forgetting A takes only the writer lock and deletes no data: it goes ahead. The prune waits.
  expect_exit(drctl({"snapshot", "forget", "--repo", repo.string(), "--keep-last", "1"}), 0);
  auto prune = drctl_start({"snapshot", "prune", "--repo", repo.string(), "--lock-wait", "10m"});
  const RunResult restored = restore->wait(std::chrono::minutes(5));
  const RunResult pruned = prune->wait(std::chrono::minutes(5));
  CHECK_MESSAGE(restored.exit_code == 0, restored.describe());
  CHECK(compare_trees(t / "a", t / "out").empty());
  CHECK_MESSAGE(pruned.exit_code == 0, pruned.describe());
  CHECK_MESSAGE(pruned.err.find("for readers of the repository") != std::string::npos, pruned.describe());
  CHECK(packs() < packs_before);  // A's data is gone once the restore let go
  CHECK_FALSE(shared_held());
}

TEST_CASE("a reader waits while a prune holds the repository and says so, or with --lock-wait 0 stops in one line") {
  TempDir t("reader-waits");
  make_random_tree(t / "a", {.seed = 73, .files = 4, .min_size = 4 * KiB, .max_size = 8 * KiB, .dirs = 1});
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", t / "a"}});
  // flock(1) stands in for a prune: it holds `readers` exclusively for a while.
  Process pruning({"flock", "--exclusive", (repo / "readers").string(), "sleep", "3"});
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (run({"flock", "--nonblock", "--shared", (repo / "readers").string(), "true"}).exit_code == 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(1ms);
  auto refused = drctl({"snapshot", "ls", id, "--repo", repo.string(), "--lock-wait", "0"});
  expect_exit(refused, 1);
  CHECK(is_one_error_line(refused.err));
  CHECK_MESSAGE(refused.err.find("is being pruned") != std::string::npos, refused.describe());
  auto waited = drctl({"snapshot", "ls", id, "--repo", repo.string(), "--lock-wait", "1m"});
  expect_exit(waited, 0);
  CHECK_MESSAGE(waited.err.find("for a prune of the repository to finish") != std::string::npos, waited.describe());
  CHECK(waited.out.find("nas/data") != std::string::npos);
  CHECK_FALSE(pruning.running());  // it waited for the stand-in to let go
}
