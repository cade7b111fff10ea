// Acceptance 7: export → import into a fresh repository → restore identical; the export is a
// .tar.zst that `tar --zstd -tf` lists.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;

TEST_CASE("acceptance 7: export, import into a fresh repository, restore identical") {
  TempDir t("export");
  const fs::path src = t / "src";
  TreeInfo tree = make_full_tree(src, {.seed = 71});
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const std::string id = create_snapshot(repo, {{"data", src}}, {"--tag", "offsite"});
  const Manifest expected = scan_tree(src);
  // A second snapshot with other content, which the export of the first must not need.
  write_file(src / "plain/text-small.txt", "changed after the first snapshot\n");
  const std::string id2 = create_snapshot(repo, {{"data", src}});

  const fs::path file = t / "export.tar.zst";
  RunResult r = drctl({"snapshot", "export", id.substr(0, 12), file.string(), "--repo", repo.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  REQUIRE(fs::exists(file));
  const auto export_size = fs::file_size(file);
  MESSAGE("export: " << export_size << " bytes for " << tree.content_bytes << " bytes of file data");
  CHECK_MESSAGE(export_size < 40 * MiB, "the export stores the sparse files' holes?");

  RunResult tar = run({"tar", "--zstd", "-tf", file.string()});
  CHECK_MESSAGE(tar.exit_code == 0, tar.describe());
  CHECK_MESSAGE(tar.out_lines().size() >= 2, tar.describe());

  SUBCASE("into a repository that does not exist yet") {
    const fs::path fresh = t / "fresh";
    r = drctl({"snapshot", "import", file.string(), "--repo", fresh.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(list_ids(fresh) == std::vector<std::string>{id});
    auto d = restore_and_compare(fresh, id, "nas/data", expected, t.path());
    CHECK_MESSAGE(d.empty(), join_diffs(d));
    r = drctl({"snapshot", "verify", "--repo", fresh.string(), "--read-data"});
    CHECK_MESSAGE(r.exit_code == 0, r.describe());
    auto open = group_or_world_accessible(fresh);
    CHECK_MESSAGE(open.empty(), join_diffs(open));
    r = drctl({"snapshot", "show", id, "--repo", fresh.string(), "--json"});
    CHECK_MESSAGE(r.out.find("offsite") != std::string::npos, "the tag did not travel:\n" << r.describe());
  }

  SUBCASE("into an initialised empty repository with other chunking parameters, twice") {
    const fs::path fresh = t / "fresh2";
    init_repo(fresh);
    r = drctl({"snapshot", "import", file.string(), "--repo", fresh.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(list_ids(fresh) == std::vector<std::string>{id});
    auto d = restore_and_compare(fresh, "latest", "nas/data", expected, t.path());
    CHECK_MESSAGE(d.empty(), join_diffs(d));
    // Importing the same file again changes nothing.
    r = drctl({"snapshot", "import", file.string(), "--repo", fresh.string()});
    CHECK_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(list_ids(fresh) == std::vector<std::string>{id});
    r = drctl({"snapshot", "verify", "--repo", fresh.string(), "--read-data"});
    CHECK_MESSAGE(r.exit_code == 0, r.describe());
  }

  SUBCASE("back into the repository it came from, next to newer snapshots") {
    r = drctl({"snapshot", "import", file.string(), "--repo", repo.string()});
    CHECK_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(list_ids(repo) == std::vector<std::string>{id, id2});
  }
}
