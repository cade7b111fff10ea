// `snapshot rebuild-index`: a repository whose index files are all gone is made whole from its
// packs' own headers; every snapshot restores identical to what was backed up (the scans taken
// at backup time are the oracle), and a damaged pack is left out, named, with exit 3.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;

namespace {

void remove_index_files(const fs::path& repo) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(repo / "index")) files.push_back(e.path());
  REQUIRE(!files.empty());
  for (const auto& f : files) fs::remove(f);
}

}  // namespace

TEST_CASE("rebuild-index after every index file is deleted makes every snapshot restorable again") {
  TempDir t("rebuild-index");
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  struct Saved {
    std::string id;
    Manifest manifest;
  };
  std::vector<Saved> saved;
  for (int i = 0; i < 3; ++i) {  // each snapshot adds a tree to the last: shared and new blobs
    make_random_tree(t / "src" / std::to_string(i),
                     {.seed = static_cast<std::uint64_t>(80 + i), .files = 12, .min_size = 1, .max_size = 300 * KiB, .dirs = 3});
    saved.push_back({create_snapshot(repo, {{"data", t / "src"}}), scan_tree(t / "src")});
  }
  remove_index_files(repo);
  auto broken = drctl({"snapshot", "restore", saved[0].id, "--repo", repo.string(), "--section", "nas/data", "--to",
                       (t / "broken").string()});
  CHECK(broken.exit_code != 0);  // without an index the data cannot be found

  auto r = drctl({"snapshot", "rebuild-index", "--repo", repo.string()});
  expect_exit(r, 0);
  CHECK(r.out.find("index rebuilt from ") != std::string::npos);
  for (const auto& s : saved) {
    CAPTURE(s.id);
    CHECK(restore_and_compare(repo, s.id, "nas/data", s.manifest, t.path()).empty());
  }
  expect_exit(drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"}), 0);
}

TEST_CASE("rebuild-index leaves a damaged pack out, names it, exits 3, and verify says what is missing") {
  TempDir t("rebuild-index-damaged");
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  make_random_tree(t / "src", {.seed = 90, .files = 12, .min_size = 64 * KiB, .max_size = 300 * KiB, .dirs = 2});
  const std::string id = create_snapshot(repo, {{"data", t / "src"}});
  fs::path pack;
  for (const auto& e : fs::recursive_directory_iterator(repo / "data"))
    if (e.is_regular_file()) pack = e.path();
  REQUIRE(!pack.empty());
  {
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\xff');
  }
  remove_index_files(repo);
  auto r = drctl({"snapshot", "rebuild-index", "--repo", repo.string()});
  expect_exit(r, 3);
  CHECK_MESSAGE(r.err.find("leaving pack " + pack.filename().string().substr(0, 8)) != std::string::npos, r.describe());
  CHECK(r.out.find("1 damaged packs left out") != std::string::npos);
  auto v = drctl({"snapshot", "verify", "--repo", repo.string()});
  CHECK(v.exit_code == 1);
  CHECK(fs::exists(pack));  // left in place for a person to look at
}

namespace {

std::vector<fs::path> packs_of(const fs::path& repo) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(repo / "data"))
    if (e.is_regular_file()) out.push_back(e.path());
  return out;
}

/// "re-read N packs" from verify's report line.
int packs_read(const RunResult& r) {
  const auto at = r.err.find("re-read ");
  return at == std::string::npos ? -1 : std::stoi(r.err.substr(at + 8));
}

}  // namespace

TEST_CASE("verify --read-data-subset n/t: the t parts read every pack once, and the part holding a damaged pack finds it") {
  TempDir t("verify-subset");
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  for (int i = 0; i < 6; ++i) {  // each backup writes packs of its own: a dozen in all
    make_random_tree(t / "src" / std::to_string(i),
                     {.seed = static_cast<std::uint64_t>(95 + i), .files = 6, .min_size = 32 * KiB, .max_size = 200 * KiB, .dirs = 1});
    create_snapshot(repo, {{"data", t / "src"}});
  }
  const auto packs = packs_of(repo);
  REQUIRE(packs.size() >= 6);
  int total = 0;
  for (int n = 1; n <= 3; ++n) {
    auto r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data-subset", std::to_string(n) + "/3"});
    expect_exit(r, 0);
    total += packs_read(r);
  }
  CHECK(total == static_cast<int>(packs.size()));
  auto all = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data-subset", "100%"});
  expect_exit(all, 0);
  CHECK(packs_read(all) == static_cast<int>(packs.size()));
  // Damage in one data pack (the largest: tree packs are small here, and trees are read by every
  // verify, whatever the subset): restic's rule, from the pack's name, says which part holds it.
  const fs::path victim = *std::max_element(packs.begin(), packs.end(), [](const fs::path& a, const fs::path& b) {
    return fs::file_size(a) < fs::file_size(b);
  });
  {
    std::fstream f(victim, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(5);
    f.put('\x5a');
  }
  const std::uint32_t head = static_cast<std::uint32_t>(std::stoul(victim.filename().string().substr(0, 8), nullptr, 16));
  const int part = static_cast<int>(head % 3) + 1;
  for (int n = 1; n <= 3; ++n) {
    CAPTURE(n);
    auto r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data-subset", std::to_string(n) + "/3"});
    CHECK(r.exit_code == (n == part ? 1 : 0));
  }
  for (const char* bad : {"0/3", "4/3", "3", "1/0", "0%", "101%", "x%"}) {
    auto r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data-subset", bad});
    expect_exit(r, 2);
    CHECK(is_one_error_line(r.err));
  }
}
