// Acceptance 6: forget/prune keep exactly the snapshots the policy says, prune frees the data of
// the dropped ones, and everything kept still verifies and restores identically.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using json = nlohmann::json;

namespace {

std::vector<std::string> slice(const std::vector<std::string>& v, std::size_t from) {
  return std::vector<std::string>(v.begin() + static_cast<std::ptrdiff_t>(from), v.end());
}

}  // namespace

TEST_CASE("acceptance 6: forget --keep-last and prune") {
  TempDir t("forget");
  const fs::path src = t / "src";
  fs::create_directories(src / "base");
  Rng rng(61);
  // Shared data every snapshot keeps, and per-snapshot unique data.
  for (int i = 0; i < 4; ++i) write_random_file(src / "base" / ("b" + std::to_string(i)), 1 * MiB, rng);
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());

  std::vector<std::string> ids;
  std::vector<Manifest> manifests;
  for (int i = 0; i < 6; ++i) {
    write_random_file(src / "unique.bin", 2 * MiB, rng);
    write_file(src / "counter.txt", std::to_string(i) + "\n");
    ids.push_back(create_snapshot(repo, {{"data", src}}));
    manifests.push_back(scan_tree(src));
  }
  REQUIRE(list_ids(repo) == ids);

  const std::uint64_t du0 = disk_usage(repo);
  RunResult r = drctl({"snapshot", "forget", "--repo", repo.string(), "--keep-last", "4"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(list_ids(repo) == slice(ids, 2));
  const std::uint64_t du1 = disk_usage(repo);
  MESSAGE("forget without --prune: " << du0 << " -> " << du1 << " bytes");
  CHECK(du1 <= du0);

  r = drctl({"snapshot", "prune", "--repo", repo.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  const std::uint64_t du2 = disk_usage(repo);
  MESSAGE("prune: " << du1 << " -> " << du2 << " bytes (two snapshots' unique data: " << 4 * MiB << " bytes)");
  CHECK_MESSAGE(du2 + 3 * MiB <= du1, "prune freed only " << (du1 - du2) << " bytes of ~4 MiB unreferenced data");
  CHECK(list_ids(repo) == slice(ids, 2));
  r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(r.exit_code == 0, r.describe());

  r = drctl({"snapshot", "forget", "--repo", repo.string(), "--keep-last", "2", "--prune"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(list_ids(repo) == slice(ids, 4));
  const std::uint64_t du3 = disk_usage(repo);
  MESSAGE("forget --keep-last 2 --prune: " << du2 << " -> " << du3 << " bytes");
  CHECK_MESSAGE(du3 + 3 * MiB <= du2, "forget --prune freed only " << (du2 - du3) << " bytes");

  r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  for (std::size_t i = 4; i < 6; ++i) {
    auto d = restore_and_compare(repo, ids[i], "nas/data", manifests[i], t.path());
    CHECK_MESSAGE(d.empty(), "kept snapshot " << i << ":\n" << join_diffs(d));
  }
  // A forgotten snapshot is gone.
  r = drctl({"snapshot", "show", ids[0], "--repo", repo.string()});
  CHECK_MESSAGE(r.exit_code == 2, r.describe());
  auto open = group_or_world_accessible(repo);
  CHECK_MESSAGE(open.empty(), join_diffs(open));

  // A new snapshot after pruning reuses nothing that was removed by mistake.
  write_random_file(src / "unique.bin", 2 * MiB, rng);
  const std::string id7 = create_snapshot(repo, {{"data", src}});
  auto d = restore_and_compare(repo, id7, "nas/data", scan_tree(src), t.path());
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}

TEST_CASE("forget --keep-daily/--keep-weekly/--keep-monthly on snapshots of one day keep the newest") {
  TempDir t("forget-cal");
  const fs::path src = t / "src";
  fs::create_directories(src);
  const fs::path repo = t / "repo";
  init_repo(repo);
  int n = 0;
  auto snap = [&] {
    write_file(src / "f.txt", "version " + std::to_string(++n) + "\n");
    return create_snapshot(repo, {{"data", src}});
  };
  auto same_day = [&] {
    RunResult r = drctl({"snapshot", "list", "--repo", repo.string(), "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    json j = json::parse(r.out);
    std::string day;
    for (const auto& s : j) {
      std::string d = s.at("time").get<std::string>().substr(0, 10);
      if (!day.empty() && d != day) return false;
      day = d;
    }
    return true;
  };

  for (const char* option : {"--keep-daily", "--keep-weekly", "--keep-monthly"}) {
    CAPTURE(option);
    snap();
    snap();
    std::string newest = snap();
    if (!same_day()) {  // taken across midnight: start again from the newest, which is of the new day
      RunResult keep = drctl({"snapshot", "forget", "--repo", repo.string(), "--keep-last", "1"});
      REQUIRE_MESSAGE(keep.exit_code == 0, keep.describe());
      snap();
      newest = snap();
    }
    REQUIRE(same_day());
    RunResult r = drctl({"snapshot", "forget", "--repo", repo.string(), option, "1"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(list_ids(repo) == std::vector<std::string>{newest});
  }

  // Options combine as a union: keep-last 2 plus keep-daily 1 (the newest again) keeps 2.
  const std::string a = snap(), b = snap(), c = snap();
  (void)a;
  RunResult r = drctl({"snapshot", "forget", "--repo", repo.string(), "--keep-last", "2", "--keep-daily", "1", "--prune"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(list_ids(repo) == std::vector<std::string>{b, c});
  r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  RunResult rr = drctl({"snapshot", "restore", "latest", "--repo", repo.string(), "--section", "nas/data", "--to",
                        (t / "out").string()});
  REQUIRE_MESSAGE(rr.exit_code == 0, rr.describe());
  CHECK(read_file(t / "out/f.txt") == "version " + std::to_string(n) + "\n");
}

TEST_CASE("prune --repack-small rewrites the small packs nightly runs leave into full ones, and every snapshot still restores") {
  // Five small captures leave a small pack of data and one of trees each. The oracle is the
  // repository's files (packs under the 16 MiB pack size) and the trees the snapshots restore to.
  TempDir t("repack-small");
  const fs::path repo = t / "repo";
  init_repo(repo);
  auto small_packs = [&] { return packs_under(repo, 16 * MiB); };
  std::vector<std::string> ids;
  for (int night = 0; night < 5; ++night) {
    make_random_tree(t / ("n" + std::to_string(night)), {.seed = 40ull + night, .files = 20, .min_size = 8 * KiB, .max_size = 32 * KiB, .dirs = 2});
    ids.push_back(create_snapshot(repo, {{"data", t / ("n" + std::to_string(night))}}));
  }
  const std::size_t nightly = small_packs();
  CHECK(nightly >= 10);

  // Without the flag nothing is unused, so nothing changes.
  RunResult plain = drctl({"snapshot", "prune", "--repo", repo.string()});
  expect_exit(plain, 0);
  CHECK(small_packs() == nightly);

  RunResult repack = drctl({"snapshot", "prune", "--repack-small", "--repo", repo.string(), "--json"});
  expect_exit(repack, 0);
  CHECK(json::parse(repack.out)["packs_rewritten"] == nightly);
  CHECK(small_packs() <= 2);  // one of data, one of trees
  for (int night = 0; night < 5; ++night) {
    const fs::path back = t / ("back" + std::to_string(night));
    restore_section(repo, ids[night], "nas/data", back);
    const auto d = compare_trees(t / ("n" + std::to_string(night)), back);
    CHECK_MESSAGE(d.empty(), join_diffs(d));
  }
  RunResult verify = drctl({"snapshot", "verify", "--read-data", "--repo", repo.string()});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
  // Once done there is one small pack of a kind: nothing to gather, nothing rewritten.
  RunResult again = drctl({"snapshot", "prune", "--repack-small", "--repo", repo.string(), "--json"});
  expect_exit(again, 0);
  CHECK(json::parse(again.out)["packs_rewritten"] == 0);
}
