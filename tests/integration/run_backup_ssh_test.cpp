// The homelab's data path through `drctl run` against a real host: a private sshd stands in for
// the NAS (become: sudo, as the site's hosts are reached). backup.snapshot streams a dataset's
// tar over SSH into the repository; a second runbook restores it with nas.restore into a new
// directory on the host and checks it with verify.data (hashed there); a changed file fails
// the check naming it.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <string>

#include "support/fs_tree.hpp"
#include "support/host_io.hpp"
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

TEST_CASE("schedule run over SSH: later runs read on the host only what changed, retention prunes, the newest restores the tree") {
  // The scheduled job of a real NAS: three runs of a backup runbook against a private sshd, the
  // dataset changed between them, the site keeping the last two. What the host read is its own
  // count (support/host_io.hpp); the restore is compared with the tree itself.
  TempDir t("schedule-ssh");
  SshdPlace place;
  place.extra_config.push_back("ForceCommand " + io_wrapper(t.path()).string());
  Sshd sshd(place);
  const fs::path tree = t / "tank/data";
  const TreeInfo made = make_random_tree(tree, {.seed = 11, .files = 40, .min_size = 128 * KiB, .max_size = 512 * KiB, .dirs = 4});
  write_file(t / "site.yaml", "name: lab\nretention: {last: 2}\nhosts:\n  nas:\n    address: 127.0.0.1\n    port: " +
                                  std::to_string(sshd.port()) + "\n    user: " + sshd.user() + "\n    identity_file: " +
                                  sshd.client_key().string() + "\n    known_hosts_file: " + sshd.known_hosts().string() + "\n");
  const fs::path repo = t / "repo";
  write_file(t / "backup.yaml", "name: nightly\nsite: site.yaml\nsteps:\n"
                                "  - id: backup\n    uses: backup.snapshot\n"
                                "    with:\n      repo: " + repo.string() + "\n      sources:\n"
                                "        - {section: nas/data, host: nas, path: \"" + tree.string() + "\"}\n");
  const std::vector<std::string> run = {"schedule", "run", (t / "backup.yaml").string(), "--state", (t / "state").string()};
  std::size_t io_lines = 0;

  RunResult first = drctl(run);
  REQUIRE_MESSAGE(first.exit_code == 0, first.describe());
  const HostReads full = bytes_read(t.path(), io_lines);
  CHECK(full.bytes >= made.content_bytes);

  // One command that reads nothing: what starting each command reads on its own.
  RunResult idle = support::run({"ssh", "-F", write_client_config(sshd, t / "ssh_config").string(), "nas", "true"});
  REQUIRE_MESSAGE(idle.exit_code == 0, idle.describe());
  const std::uint64_t floor = bytes_read(t.path(), io_lines).bytes;

  // A night's changes: one file rewritten, one added, one removed.
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(tree))
    if (e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  const std::uint64_t rewritten = fs::file_size(files[0]);
  {
    Rng rng(99);
    write_random_file(files[0], rewritten, rng);
    write_random_file(tree / "d01/added", 100 * KiB, rng);
  }
  fs::remove(files[1]);
  RunResult second = drctl(run);
  REQUIRE_MESSAGE(second.exit_code == 0, second.describe());
  const HostReads changed = bytes_read(t.path(), io_lines);
  const std::uint64_t beyond = changed.bytes - std::min(changed.bytes, changed.commands * floor);
  CHECK_MESSAGE(beyond < rewritten + 100 * KiB + made.content_bytes / 10,
                "the second run read " << changed.bytes << " bytes on the host in " << changed.commands << " commands ("
                                       << floor << " each to start) for " << rewritten + 100 * KiB << " changed bytes");

  // A third run: the site keeps the last two, so the first is forgotten and its data pruned.
  write_file(tree / "d02/third", "the third night\n");
  RunResult third = drctl(run);
  REQUIRE_MESSAGE(third.exit_code == 0, third.describe());
  const auto status = nlohmann::json::parse(read_file(t / "state/status.json"));
  REQUIRE(status["repositories"].size() == 1);
  CHECK(status["repositories"][0]["forgotten"] == 1);
  const auto ids = list_ids(repo);
  REQUIRE(ids.size() == 2);

  // The newest snapshot (whose unchanged files the forgotten first one stored) is the tree.
  std::string newest_id, newest_time;
  for (const auto& id : ids) {
    const auto manifest = nlohmann::json::parse(read_file(repo / "snapshots" / id));
    if (manifest["time"].get<std::string>() > newest_time) newest_time = manifest["time"], newest_id = id;
  }
  restore_section(repo, newest_id, "nas/data", t / "back");
  const auto d = compare_trees(tree, t / "back");
  CHECK_MESSAGE(d.empty(), "the newest snapshot differs from the tree:\n" << join_diffs(d));
  RunResult verify = drctl({"snapshot", "verify", "--read-data", "--repo", repo.string()});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
}
