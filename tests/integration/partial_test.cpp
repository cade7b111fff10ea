// Unreadable files are skipped with a warning, listed in the manifest, and the exit code is 3.
// We run as root, so drctl runs as `nobody` here to meet files it cannot read.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;

TEST_CASE("unreadable files: warning, listed in the snapshot, exit 3, the rest restores") {
  TempDir t("partial");
  REQUIRE(::chmod(t.path().c_str(), 0711) == 0);  // let `nobody` through /tmp/drctl-test-…
  const uid_t nobody = 65534;
  const fs::path work = t / "work";
  fs::create_directories(work / "src/sub");
  Rng rng(81);
  write_random_file(work / "src/readable.bin", 100 * KiB, rng);
  write_file(work / "src/sub/also-readable.txt", "fine\n");
  write_file(work / "src/secret.key", "top secret\n", 0600);
  fs::create_directories(work / "src/locked-dir");
  write_file(work / "src/locked-dir/inside.txt", "can't list me\n");
  // Everything belongs to nobody except the two things it must not read.
  RunResult r = run({"chown", "-R", "65534:65534", work.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  REQUIRE(::chown((work / "src/secret.key").c_str(), 0, 0) == 0);
  REQUIRE(::chown((work / "src/locked-dir").c_str(), 0, 0) == 0);
  REQUIRE(::chmod((work / "src/locked-dir").c_str(), 0700) == 0);
  const Manifest expected = scan_tree(work / "src");

  RunOptions as_nobody;
  as_nobody.uid = nobody;
  as_nobody.gid = nobody;
  const std::string repo = (work / "repo").string();
  r = drctl_opts({"snapshot", "init", "--repo", repo}, as_nobody);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  r = drctl_opts({"snapshot", "create", "--repo", repo, "--nas", "data=" + (work / "src").string()}, as_nobody);
  CHECK_MESSAGE(r.exit_code == 3, r.describe());
  CHECK_MESSAGE(r.err.find("secret.key") != std::string::npos, "no warning naming the unreadable file:\n" << r.describe());
  CHECK_MESSAGE(r.err.find("locked-dir") != std::string::npos, "no warning naming the unreadable dir:\n" << r.describe());
  const std::string id = parse_snapshot_id(r.out);

  // Listed in the snapshot's manifest.
  r = drctl({"snapshot", "show", id, "--repo", repo});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK_MESSAGE(r.out.find("secret.key") != std::string::npos, r.describe());
  CHECK_MESSAGE(r.out.find("locked-dir") != std::string::npos, r.describe());
  r = drctl({"snapshot", "show", id, "--repo", repo, "--json"});
  CHECK_MESSAGE(r.out.find("secret.key") != std::string::npos, r.describe());

  // Everything else restores identically (as root, so ownership is restored too).
  const fs::path to = t / "restore";
  r = drctl({"snapshot", "restore", id, "--repo", repo, "--section", "nas/data", "--to", to.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  auto diffs = compare_manifests(expected, scan_tree(to));
  std::vector<std::string> unexpected;
  for (const auto& d : diffs) {
    // The skipped file is missing; the unreadable dir is missing or present without its contents.
    if (d.rfind("secret.key:", 0) == 0 || d.rfind("locked-dir", 0) == 0) continue;
    unexpected.push_back(d);
  }
  CHECK_MESSAGE(unexpected.empty(), join_diffs(unexpected));
  CHECK_FALSE(fs::exists(to / "secret.key"));
  CHECK_FALSE(fs::exists(to / "locked-dir/inside.txt"));
}
