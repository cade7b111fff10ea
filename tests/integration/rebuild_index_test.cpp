// `snapshot rebuild-index`: a repository whose index files are all gone is made whole from its
// packs' own headers; every snapshot restores identical to what was backed up (the scans taken
// at backup time are the oracle), and a damaged pack is left out, named, with exit 3.
#include <doctest/doctest.h>

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
