// NAS over SSH (issue 7): `drctl snapshot create --nas NAME=ssh://…` against a private sshd on
// 127.0.0.1 captures the same tree as a local capture does, metadata and all; --pre and --post
// run on the NAS host (--post also after a failed capture); a section restores over SSH byte
// for byte through tar -x on the host.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <string>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;

namespace {


}  // namespace

TEST_CASE("nas over ssh: the same tree captured locally and over SSH restores identical, hooks run on the NAS") {
  support::Sshd sshd;
  TempDir t("nas-ssh");
  make_full_tree(t / "tree", {.seed = 21, .sparse_size = 8 * MiB});
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config");
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());

  RunResult local = support::drctl({"snapshot", "create", "--repo", repo.string(), "--nas", "data=" + (t / "tree").string()});
  REQUIRE_MESSAGE(local.exit_code == 0, local.describe());
  const std::string local_id = parse_snapshot_id(local.out);
  RunResult remote = support::drctl({"snapshot", "create", "--repo", repo.string(), "--nas", "data=ssh://nas" + (t / "tree").string(),
                            "--ssh-config", config.string(), "--pre", "touch " + (t / "pre-ran").string(), "--post",
                            "touch " + (t / "post-ran").string()});
  REQUIRE_MESSAGE(remote.exit_code == 0, remote.describe());
  const std::string remote_id = parse_snapshot_id(remote.out);
  CHECK(fs::exists(t / "pre-ran"));
  CHECK(fs::exists(t / "post-ran"));
  CHECK(sshd.accepted_logins() >= 1);

  // Both snapshots list the same entries with the same metadata …
  RunResult ls_local = support::drctl({"snapshot", "ls", local_id, "nas/data", "--repo", repo.string()});
  RunResult ls_remote = support::drctl({"snapshot", "ls", remote_id, "nas/data", "--repo", repo.string()});
  CHECK(ls_local.exit_code == 0);
  CHECK(ls_local.out == ls_remote.out);
  // … and restore to the source tree, contents, modes, owners, xattrs, links, holes.
  restore_section(repo, remote_id, "nas/data", t / "from-ssh");
  auto d = compare_trees(t / "tree", t / "from-ssh");
  CHECK_MESSAGE(d.empty(), "the SSH capture differs from its source:\n" << join_diffs(d));

  // Restore over SSH: the section streamed into tar -x on the host; a non-empty target is refused.
  RunResult back = support::drctl({"snapshot", "restore", remote_id, "--repo", repo.string(), "--section", "nas/data", "--to",
                                   "ssh://nas" + (t / "to-ssh").string(), "--ssh-config", config.string()});
  REQUIRE_MESSAGE(back.exit_code == 0, back.describe());
  d = compare_trees(t / "tree", t / "to-ssh");
  CHECK_MESSAGE(d.empty(), "the restore over SSH differs from the source:\n" << join_diffs(d));
  RunResult again = support::drctl({"snapshot", "restore", remote_id, "--repo", repo.string(), "--section", "nas/data", "--to",
                                    "ssh://nas" + (t / "to-ssh").string(), "--ssh-config", config.string()});
  CHECK(again.exit_code == 2);
  CHECK(again.err.find("is not empty") != std::string::npos);

  // A capture that fails (no such directory) says why, and --post still runs.
  fs::remove(t / "post-ran");
  RunResult missing = support::drctl({"snapshot", "create", "--repo", repo.string(), "--nas",
                             "gone=ssh://nas" + (t / "no-such-dir").string(), "--ssh-config", config.string(), "--post",
                             "touch " + (t / "post-ran").string()});
  CHECK(missing.exit_code != 0);
  CHECK(is_one_error_line(missing.err));
  CHECK_MESSAGE(missing.err.find("tar of " + (t / "no-such-dir").string() + " on nas failed") != std::string::npos,
                missing.describe());
  CHECK(fs::exists(t / "post-ran"));
  CHECK(list_ids(repo).size() == 2);  // nothing saved for the failed one
}

TEST_CASE("nas over ssh: restore --include sends only those paths, and a hard link whose first name is left out keeps its content") {
  support::Sshd sshd;
  TempDir t("nas-ssh-include");
  const fs::path src = t / "src";
  for (const char* dir : {"a", "b/sub", "c"}) fs::create_directories(src / dir);
  write_file(src / "a/orig", "shared content\n", 0640);
  fs::create_hard_link(src / "a/orig", src / "b/link");
  fs::create_hard_link(src / "a/orig", src / "b/link2");
  write_file(src / "b/sub/file", "inside b\n", 0600);
  write_file(src / "c/other", std::string(300000, 'c'), 0644);
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config");
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const std::string id = create_snapshot(repo, {{"data", src}});

  RunResult local = support::drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--include",
                                    "b", "--to", (t / "local").string()});
  REQUIRE_MESSAGE(local.exit_code == 0, local.describe());
  RunResult remote = support::drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--include",
                                     "b", "--to", "ssh://nas" + (t / "remote").string(), "--ssh-config", config.string()});
  REQUIRE_MESSAGE(remote.exit_code == 0, remote.describe());
  CHECK(read_file(t / "remote/b/link") == "shared content\n");
  CHECK(read_file(t / "remote/b/sub/file") == "inside b\n");
  CHECK((lstat_or_throw(t / "remote/b/link").st_mode & 07777) == 0640);
  // The two names still share one inode, as in the snapshot.
  CHECK(lstat_or_throw(t / "remote/b/link").st_ino == lstat_or_throw(t / "remote/b/link2").st_ino);
  CHECK_FALSE(fs::exists(t / "remote/a"));
  CHECK_FALSE(fs::exists(t / "remote/c"));
  auto d = compare_trees(t / "local", t / "remote");
  CHECK_MESSAGE(d.empty(), "--include over SSH differs from a local --include:\n" << join_diffs(d));

  RunResult missing = support::drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--include",
                                      "nope", "--to", "ssh://nas" + (t / "remote2").string(), "--ssh-config", config.string()});
  CHECK(missing.exit_code == 2);
  CHECK(is_one_error_line(missing.err));
  CHECK(missing.err.find("no nope in section nas/data") != std::string::npos);
}
