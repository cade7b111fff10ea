// Acceptance 4: `create` SIGKILLed at random points (at least 20 runs). After each kill:
// `verify` passes, the snapshots completed before restore identically, and the next `create`
// succeeds. The random delays come from a logged seed (set DRCTL_TEST_SEED to replay).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <set>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using namespace std::chrono_literals;

namespace {

constexpr int kKills = 20;    // runs that must really be killed mid-way
constexpr int kMaxRuns = 40;  // bound on the runs to get there
constexpr int kBigFiles = 3;
constexpr std::uint64_t kBigSize = 40 * MiB;
constexpr int kSmallDirs = 15;
constexpr int kSmallFiles = 300;

struct Recorded {
  std::string id;
  Manifest manifest;  // the source as it was when the snapshot was made
  bool checked = false;
};

class Source {
 public:
  Source(const fs::path& root, Rng& rng) : root_(root), rng_(rng) {
    fs::create_directories(root_ / "big");
    for (int i = 0; i < kBigFiles; ++i) write_random_file(big(i), kBigSize, rng_);
    for (int d = 0; d < kSmallDirs; ++d) fs::create_directories(root_ / dir(d));
    for (int i = 0; i < kSmallFiles; ++i) add_small();
  }

  // New data for the next create: one big file rewritten, some small files rewritten,
  // added and removed.
  void mutate(int round) {
    write_random_file(big(round % kBigFiles), kBigSize, rng_);
    for (int i = 0; i < 10 && !small_.empty(); ++i) {
      const std::string& f = small_[rng_.uniform(0, small_.size() - 1)];
      write_random_file(root_ / f, rng_.uniform(1, 32 * KiB), rng_);
    }
    for (int i = 0; i < 3; ++i) add_small();
    for (int i = 0; i < 2 && small_.size() > 10; ++i) {
      std::size_t k = rng_.uniform(0, small_.size() - 1);
      fs::remove(root_ / small_[k]);
      small_.erase(small_.begin() + static_cast<std::ptrdiff_t>(k));
    }
  }

 private:
  fs::path big(int i) const { return root_ / "big" / ("big" + std::to_string(i) + ".bin"); }
  static std::string dir(int d) {
    char b[16];
    std::snprintf(b, sizeof b, "d%02d", d);
    return b;
  }
  void add_small() {
    std::string f = dir(static_cast<int>(next_ % kSmallDirs)) + "/s" + std::to_string(next_) + ".dat";
    ++next_;
    write_random_file(root_ / f, rng_.uniform(1, 32 * KiB), rng_);
    small_.push_back(f);
  }

  fs::path root_;
  Rng& rng_;
  std::vector<std::string> small_;
  std::uint64_t next_ = 0;
};

}  // namespace

TEST_CASE("acceptance 4: create killed with SIGKILL at random points leaves a valid repository") {
  const std::uint64_t seed = test_seed();
  MESSAGE("crash test seed: " << seed << " (replay with DRCTL_TEST_SEED=" << seed << ")");
  std::fprintf(stderr, "crash test seed: %llu\n", static_cast<unsigned long long>(seed));
  const auto test_start = std::chrono::steady_clock::now();

  TempDir t("crash");
  Rng rng(seed);
  const fs::path src = t / "src";
  Source source(src, rng);
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::vector<std::string> create_args = {"snapshot", "create", "--repo", repo.string(), "--nas",
                                                "data=" + src.string(), "--lock-wait", "10"};

  std::vector<Recorded> recorded;
  auto normal_create = [&](const char* what) {
    RunResult r = drctl(create_args);
    REQUIRE_MESSAGE(r.exit_code == 0, what << ": " << r.describe());
    recorded.push_back({parse_snapshot_id(r.out), scan_tree(src), false});
    return r.seconds;
  };

  const double t_first = normal_create("first create");
  source.mutate(0);
  const double t_normal = normal_create("calibration create");
  MESSAGE("first create " << t_first << " s, create after a mutation " << t_normal << " s");
  // Kill anywhere from right after exec to about a normal run's duration. Runs that finish
  // before their kill refine that duration (the calibration may have run on a busier machine).
  double max_delay = std::max(0.05, t_normal * 1.1);

  auto check_restore = [&](Recorded& s, const char* why, int run) {
    auto d = restore_and_compare(repo, s.id, "nas/data", s.manifest, t.path());
    CHECK_MESSAGE(d.empty(), "run " << run << ": " << why << " snapshot " << s.id << " does not restore identically:\n"
                                    << join_diffs(d));
    s.checked = true;
  };

  int killed = 0, completed = 0;
  std::set<std::string> leftovers;  // snapshots a killed create saved before its kill: valid, never ours to record
  for (int run = 1; killed < kKills && run <= kMaxRuns; ++run) {
    source.mutate(run);
    const double delay = rng.unit() * max_delay;
    RunResult k = drctl_killed_after(create_args, std::chrono::microseconds(static_cast<long>(delay * 1e6)));
    INFO("run " << run << ": killed after " << delay << " s");
    std::set<std::string> known = leftovers;  // what earlier killed runs saved just before their kill
    for (const auto& s : recorded) known.insert(s.id);
    // Only our SIGKILL is a planned kill: drctl dying of anything else (SIGSEGV, SIGABRT) is a bug.
    REQUIRE_MESSAGE((k.term_signal == 0 || k.term_signal == SIGKILL), k.describe());
    if (k.term_signal == SIGKILL) {
      ++killed;
    } else {
      // Finished before the kill: a normal snapshot.
      REQUIRE_MESSAGE(k.exit_code == 0, k.describe());
      ++completed;
      max_delay = std::max(0.05, k.seconds);
      recorded.push_back({parse_snapshot_id(k.out), scan_tree(src), false});
    }

    RunResult v = drctl({"snapshot", "verify", "--repo", repo.string()});
    REQUIRE_MESSAGE(v.exit_code == 0, "run " << run << " (kill after " << delay << " s): verify after the kill:\n"
                                              << v.describe() << "\nkilled create:\n" << k.describe());

    // Every listed snapshot is one we recorded, or (at most) the killed run's, which may have
    // been saved just before the kill.
    auto ids = list_ids(repo);
    int unknown = 0;
    for (const auto& id : ids)
      if (!known.count(id) && (k.killed() || id != recorded.back().id)) ++unknown;
    CHECK_MESSAGE(unknown <= 1, "run " << run << ": " << unknown << " unexpected snapshots listed");
    for (const auto& id : ids)
      if (!known.count(id) && k.killed()) leftovers.insert(id);
    for (const auto& s : recorded)
      CHECK_MESSAGE(std::find(ids.begin(), ids.end(), s.id) != ids.end(), "run " << run << ": snapshot " << s.id << " disappeared");

    // The newest complete snapshot, and one older one not checked yet.
    check_restore(recorded.back(), "the latest", run);
    for (auto& s : recorded)
      if (!s.checked) {
        check_restore(s, "an earlier", run);
        break;
      }

    // The next create succeeds (taking over the dead writer's lock).
    normal_create("create after the kill");
  }
  MESSAGE(killed << " runs killed, " << completed << " finished before their kill");
  CHECK(killed >= kKills);

  RunResult v = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  // Whatever was not restored during the runs, restore now while time allows (most of them are).
  for (auto& s : recorded) {
    if (s.checked) continue;
    if (std::chrono::steady_clock::now() - test_start > 100s) break;
    check_restore(s, "a", 0);
  }
  auto open = group_or_world_accessible(repo);
  CHECK_MESSAGE(open.empty(), join_diffs(open));
  MESSAGE("crash test took " << std::chrono::duration<double>(std::chrono::steady_clock::now() - test_start).count() << " s");
}

TEST_CASE("prune killed with SIGKILL at random points leaves a valid repository") {
  const std::uint64_t seed = test_seed();
  MESSAGE("prune crash test seed: " << seed << " (replay with DRCTL_TEST_SEED=" << seed << ")");
  std::fprintf(stderr, "prune crash test seed: %llu\n", static_cast<unsigned long long>(seed));
  TempDir t("prune-crash");
  Rng rng(seed);
  const fs::path src = t / "src";
  fs::create_directories(src / "kept");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string R = repo.string();

  std::vector<Recorded> recorded;
  // Each snapshot brings a file that stays in the source for good (so later snapshots keep
  // referencing it) and a big one that is replaced next time: packs end up partly referenced
  // once old snapshots are forgotten, so prune must rewrite them, not only delete them.
  auto next_snapshot = [&](int k) {
    write_random_file(src / "kept" / ("k" + std::to_string(k) + ".bin"), 2 * MiB, rng);
    write_random_file(src / "churn.bin", 20 * MiB, rng);
    recorded.push_back({create_snapshot(repo, {{"data", src}}), scan_tree(src), false});
  };
  auto keep_last_2_and_check = [&](int run, const RunResult& killed_prune) {
    RunResult v = drctl({"snapshot", "verify", "--repo", R});
    REQUIRE_MESSAGE(v.exit_code == 0, "run " << run << ": verify after the kill:\n" << v.describe() << "\nkilled prune:\n"
                                              << killed_prune.describe());
    auto ids = list_ids(repo);
    REQUIRE(ids.size() >= 2);
    for (std::size_t i = recorded.size() - 2; i < recorded.size(); ++i) {
      CHECK(std::find(ids.begin(), ids.end(), recorded[i].id) != ids.end());
      auto d = restore_and_compare(repo, recorded[i].id, "nas/data", recorded[i].manifest, t.path());
      CHECK_MESSAGE(d.empty(), "run " << run << ": kept snapshot does not restore identically:\n" << join_diffs(d));
    }
  };

  for (int k = 0; k < 3; ++k) next_snapshot(k);
  expect_exit(drctl({"snapshot", "forget", "--repo", R, "--keep-last", "2"}), 0);
  RunResult calib = drctl({"snapshot", "prune", "--repo", R});
  REQUIRE_MESSAGE(calib.exit_code == 0, calib.describe());
  MESSAGE("a prune takes " << calib.seconds << " s");

  constexpr int kPruneKills = 12, kMaxPruneRuns = 40;
  double max_delay = std::max(0.05, calib.seconds);
  int killed = 0, run = 1;
  for (; killed < kPruneKills && run <= kMaxPruneRuns; ++run) {
    next_snapshot(run + 2);
    expect_exit(drctl({"snapshot", "forget", "--repo", R, "--keep-last", "2"}), 0);
    const double delay = rng.unit() * max_delay;
    INFO("run " << run << ": prune killed after " << delay << " s");
    RunResult k = drctl_killed_after({"snapshot", "prune", "--repo", R, "--lock-wait", "10"},
                                     std::chrono::microseconds(static_cast<long>(delay * 1e6)));
    // Only our SIGKILL is a planned kill: drctl dying of anything else (SIGSEGV, SIGABRT) is a bug.
    REQUIRE_MESSAGE((k.term_signal == 0 || k.term_signal == SIGKILL), k.describe());
    if (k.term_signal == SIGKILL) {
      ++killed;
    } else {
      CHECK_MESSAGE(k.exit_code == 0, k.describe());
      max_delay = std::max(0.05, k.seconds);  // finished first: a prune takes no longer than this now
    }
    keep_last_2_and_check(run, k);
  }
  MESSAGE(killed << " prunes killed in " << run - 1 << " runs");
  CHECK(killed == kPruneKills);
  RunResult p = drctl({"snapshot", "prune", "--repo", R, "--lock-wait", "10"});
  CHECK_MESSAGE(p.exit_code == 0, p.describe());
  RunResult v = drctl({"snapshot", "verify", "--repo", R, "--read-data"});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  keep_last_2_and_check(13, p);
}

// A prune killed after it wrote the pack of rewritten blobs (and that pack's index file) but
// before it wrote the new index and deleted anything leaves the repository holding the kept
// blobs twice. We build that state exactly (by letting a prune run to completion on a copy and
// carrying its new pack and an index file for it over), then prune for real. Repeated with
// fresh content because which copy drctl prefers may depend on file names.
TEST_CASE("prune after a prune that died right after writing its rewritten pack keeps all data") {
  TempDir t("prune-interrupted");
  Rng rng(test_seed());
  for (int attempt = 0; attempt < 8; ++attempt) {
    CAPTURE(attempt);
    const fs::path base = t / ("attempt" + std::to_string(attempt));
    const fs::path src = base / "src", repo = base / "repo", copy = base / "copy";
    fs::create_directories(src);
    // Files to keep and files only the old snapshot has, one chunk each, read side by side: the
    // capture's readers each store into an open pack of their own, so every data pack holds
    // blobs of both kinds, and prune must rewrite the kept ones.
    for (int i = 0; i < 8; ++i) {
      write_random_file(src / ("f" + std::to_string(i) + "-kept.bin"), 100 * KiB, rng);
      write_random_file(src / ("f" + std::to_string(i) + "-dropped.bin"), 120 * KiB, rng);
    }
    init_repo(repo);
    create_snapshot(repo, {{"data", src}});
    for (int i = 0; i < 8; ++i) fs::remove(src / ("f" + std::to_string(i) + "-dropped.bin"));
    const std::string keep = create_snapshot(repo, {{"data", src}});
    const Manifest expected = scan_tree(src);
    expect_exit(drctl({"snapshot", "forget", "--repo", repo.string(), "--keep-last", "1"}), 0);

    REQUIRE(run({"cp", "-a", repo.string(), copy.string()}).exit_code == 0);
    expect_exit(drctl({"snapshot", "prune", "--repo", copy.string()}), 0);
    std::set<std::string> old_packs;
    for (const auto& p : pack_files(repo)) old_packs.insert(p.filename().string());
    std::vector<fs::path> rewritten;
    for (const auto& p : pack_files(copy))
      if (!old_packs.count(p.filename().string())) rewritten.push_back(p);
    REQUIRE_MESSAGE(rewritten.size() == 1, "expected one rewritten pack, got " << rewritten.size());
    const fs::path q = rewritten.front();
    const std::string qid = q.filename().string();
    const std::string header = pack_header_bytes(q);
    std::string index = "DRCTLIX1";
    auto put_u32 = [&](std::uint32_t v) {
      for (int i = 0; i < 4; ++i) index.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    };
    put_u32(1);
    for (std::size_t i = 0; i < 32; ++i) index.push_back(static_cast<char>(std::stoi(qid.substr(2 * i, 2), nullptr, 16)));
    put_u32(static_cast<std::uint32_t>(header.size() / 46));
    index += header;
    fs::create_directories(repo / "data" / qid.substr(0, 2));
    fs::copy_file(q, repo / "data" / qid.substr(0, 2) / qid);
    write_file(repo / "index" / oracle_sha256_hex(index), index, 0600);

    RunResult v = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
    REQUIRE_MESSAGE(v.exit_code == 0, "the constructed state is not valid (test bug?):\n" << v.describe());
    RunResult p = drctl({"snapshot", "prune", "--repo", repo.string()});
    CHECK_MESSAGE(p.exit_code == 0, p.describe());
    v = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
    CHECK_MESSAGE(v.exit_code == 0, "prune lost data:\n" << v.describe() << "\nprune:\n" << p.describe());
    auto d = restore_and_compare(repo, keep, "nas/data", expected, base);
    CHECK_MESSAGE(d.empty(), join_diffs(d));
    if (v.exit_code != 0) break;
  }
}
