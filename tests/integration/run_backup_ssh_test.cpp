// The homelab's data path through `drctl run` against a real host: a private sshd stands in for
// the NAS (become: sudo, as the site's hosts are reached). backup.snapshot streams a dataset's
// tar over SSH into the repository; a second runbook restores it with nas.restore into a new
// directory on the host and checks it with verify.data (hashed there); a changed file fails
// the check naming it.
#include <doctest/doctest.h>

#include <string>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;

TEST_CASE("drctl run over SSH: backup.snapshot of a NAS directory, then nas.restore and verify.data on the host") {
  Sshd sshd;
  TempDir t("run-backup-ssh");
  make_full_tree(t / "tank/media", {.seed = 5, .sparse_size = 4 * MiB});
  write_file(t / "site.yaml", "name: lab\nhosts:\n  nas:\n    address: 127.0.0.1\n    port: " + std::to_string(sshd.port()) +
                                  "\n    user: " + sshd.user() + "\n    identity_file: " + sshd.client_key().string() +
                                  "\n    known_hosts_file: " + sshd.known_hosts().string() + "\n    become: sudo\n");
  const std::string repo = (t / "repo").string();
  write_file(t / "backup.yaml", "site: site.yaml\nsteps:\n"
                                "  - id: backup\n    uses: backup.snapshot\n"
                                "    with:\n      repo: " + repo + "\n      sources:\n"
                                "        - {section: nas/media, host: nas, path: \"" + (t / "tank/media").string() + "\"}\n");
  RunResult backup = drctl({"run", (t / "backup.yaml").string(), "--state", (t / "state-backup").string()});
  REQUIRE_MESSAGE(backup.exit_code == 0, backup.describe());
  const auto ids = list_ids(t / "repo");
  REQUIRE(ids.size() == 1);

  // The snapshot holds the tree as a local capture of it would.
  restore_section(t / "repo", ids[0], "nas/media", t / "local-restore");
  CompareOptions opt;
  auto d = compare_trees(t / "tank/media", t / "local-restore", opt);
  CHECK_MESSAGE(d.empty(), "the snapshot differs from the NAS directory:\n" << join_diffs(d));

  const fs::path target = t / "tank/media-restored";
  write_file(t / "restore.yaml", "site: site.yaml\nsteps:\n"
                                 "  - id: restore\n    on: nas\n    uses: nas.restore\n"
                                 "    with: {repo: " + repo + ", section: nas/media, path: \"" + target.string() + "\"}\n"
                                 "  - id: verify\n    on: nas\n    needs: restore\n    uses: verify.data\n"
                                 "    with: {repo: " + repo + ", section: nas/media, path: \"" + target.string() + "\"}\n");
  RunResult restore = drctl({"run", (t / "restore.yaml").string(), "--state", (t / "state-restore").string()});
  REQUIRE_MESSAGE(restore.exit_code == 0, restore.describe());
  d = compare_trees(t / "tank/media", target, opt);
  CHECK_MESSAGE(d.empty(), "the restore over SSH differs from the source:\n" << join_diffs(d));

  // Run again: nothing to do. Then damage one file: verify.data fails naming it.
  RunResult again = drctl({"run", (t / "restore.yaml").string(), "--state", (t / "state-again").string()});
  CHECK_MESSAGE(again.exit_code == 0, again.describe());
  CHECK(again.out.find("unchanged") != std::string::npos);
  fs::path victim;
  for (const auto& e : fs::recursive_directory_iterator(target))
    if (e.is_regular_file() && !e.is_symlink() && fs::file_size(e.path()) > 0 && fs::file_size(e.path()) < 100000) {
      victim = e.path();
      break;
    }
  REQUIRE(!victim.empty());
  write_file(victim, "changed on the NAS\n");
  write_file(t / "verify.yaml", "site: site.yaml\nsteps:\n"
                                "  - id: verify\n    on: nas\n    uses: verify.data\n"
                                "    with: {repo: " + repo + ", section: nas/media, path: \"" + target.string() + "\"}\n");
  RunResult bad = drctl({"run", (t / "verify.yaml").string(), "--state", (t / "state-verify").string()});
  CHECK(bad.exit_code == 1);
  const std::string rel = fs::relative(victim, target).string();
  CHECK_MESSAGE(bad.err.find(rel) != std::string::npos, bad.describe());
}
