// Reading a far repository where it lies (issue 20, section 4): `--repo sftp://…` against a
// private sshd on 127.0.0.1. The far repository is on this machine's disk, so the tests compare
// with it directly: what the local repository lists, the source tree's bytes, the far files'
// hashes before and after, and what the SFTP server itself says it read (sftp-server's log).
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <thread>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;

namespace {

std::string far_url(const fs::path& path) { return "sftp://far" + path.string(); }

/// Relative path → SHA-256 of every file under `root` (the far tree, before and after).
std::map<std::string, std::string> file_hashes(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file()) out[e.path().lexically_relative(root).string()] = sha256_file(e.path());
  return out;
}

/// `drctl snapshot ARGS… --repo sftp://far/PATH --ssh-config CONFIG`.
RunResult far_drctl(std::vector<std::string> args, const fs::path& far, const fs::path& config,
                    std::vector<std::string> extra = {}) {
  args.insert(args.begin(), "snapshot");
  for (const std::string& a : {std::string("--repo"), far_url(far), std::string("--ssh-config"), config.string()})
    args.push_back(a);
  args.insert(args.end(), extra.begin(), extra.end());
  return drctl(args);
}

/// A repository of `tree` (one snapshot per call), copied to `far` with `snapshot copy --all`.
void copy_to_far(const fs::path& repo, const fs::path& far, const fs::path& config, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"snapshot", "copy", "--all", "--repo", repo.string(), "--to", far_url(far),
                                   "--ssh-config", config.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  expect_exit(drctl(args), 0);
}

/// The file restored from a damaged repository is either absent or equal to its source: never
/// wrong bytes. Returns the files that differ.
std::vector<std::string> wrong_files(const fs::path& source, const fs::path& restored) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(restored)) {
    if (!fs::is_regular_file(e.symlink_status())) continue;
    const fs::path rel = e.path().lexically_relative(restored);
    if (!fs::exists(source / rel) || sha256_file(source / rel) != sha256_file(e.path())) out.push_back(rel.string());
  }
  return out;
}

/// A ForceCommand for sshd that runs every exec request as sent and serves SFTP with the real
/// sftp-server logging at INFO to `log`: its "close … bytes read N" lines say what it read.
fs::path logging_sftp_wrapper(const fs::path& dir, const fs::path& log) {
  const fs::path script = dir / "force-command";
  write_file(script,
             "#!/bin/sh\n"
             "if [ \"$SSH_ORIGINAL_COMMAND\" = internal-sftp ]; then\n"
             "  exec /usr/lib/openssh/sftp-server -e -l INFO 2>>" + log.string() + "\n"
             "fi\n"
             "exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
             0755);
  return script;
}

/// Bytes sftp-server says it read from files whose path contains `part`, summed over its log.
std::uint64_t server_bytes_read(const fs::path& log, const std::string& part) {
  static const std::regex close_line("close \"([^\"]*)\" bytes read ([0-9]+)");
  std::ifstream in(log);
  std::uint64_t total = 0;
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, close_line) && m[1].str().find(part) != std::string::npos)
      total += std::stoull(m[2].str());
  }
  return total;
}

std::uint64_t pack_bytes(const fs::path& repo) {
  std::uint64_t total = 0;
  for (const fs::path& p : pack_files(repo)) total += fs::file_size(p);
  return total;
}

}  // namespace

TEST_CASE("sftp repo: list, ls and restore over SFTP give what the local repository gives") {
  Sshd sshd;
  TempDir t("sftp-repo-read");
  make_full_tree(t / "tree", {.seed = 61, .sparse_size = 4 * MiB});
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  const fs::path repo = t / "repo", far = t / "far/site-a/repo";
  init_repo(repo, small_chunks());
  create_snapshot(repo, {{"data", t / "tree"}});
  write_file(t / "tree/added-later", "a second snapshot's new file\n");
  const std::string second = create_snapshot(repo, {{"data", t / "tree"}});
  copy_to_far(repo, far, config);

  RunResult here = drctl({"snapshot", "list", "--json", "--repo", repo.string()});
  RunResult there = far_drctl({"list", "--json"}, far, config);
  REQUIRE_MESSAGE(there.exit_code == 0, there.describe());
  CHECK(there.out == here.out);

  RunResult ls_here = drctl({"snapshot", "ls", second, "--repo", repo.string()});
  RunResult ls_there = far_drctl({"ls", second}, far, config);
  REQUIRE_MESSAGE(ls_there.exit_code == 0, ls_there.describe());
  CHECK(ls_there.out == ls_here.out);
  CHECK(ls_there.out.find("nas/data/added-later") != std::string::npos);

  RunResult restored = far_drctl({"restore", second, "--section", "nas/data", "--to", (t / "back").string()}, far, config);
  REQUIRE_MESSAGE(restored.exit_code == 0, restored.describe());
  auto d = compare_trees(t / "tree", t / "back");
  CHECK_MESSAGE(d.empty(), "restored over SFTP differently:\n" << join_diffs(d));

  RunResult diff = far_drctl({"diff", list_ids(repo).front(), second}, far, config);
  REQUIRE_MESSAGE(diff.exit_code == 0, diff.describe());
  CHECK(diff.out.find("+ nas/data/added-later") != std::string::npos);

  RunResult show_here = drctl({"snapshot", "show", second, "--json", "--repo", repo.string()});
  RunResult show_there = far_drctl({"show", second, "--json"}, far, config);
  REQUIRE_MESSAGE(show_there.exit_code == 0, show_there.describe());
  CHECK(show_there.out == show_here.out);
  // stats and find read only: over SFTP they say what they say here.
  for (const std::vector<std::string>& reader : std::vector<std::vector<std::string>>{{"stats", "--json"}, {"find", "added-*", "--json"}}) {
    std::vector<std::string> here = {"snapshot"};
    here.insert(here.end(), reader.begin(), reader.end());
    here.insert(here.end(), {"--repo", repo.string()});
    RunResult local = drctl(here);
    RunResult remote = far_drctl(reader, far, config);
    REQUIRE_MESSAGE(remote.exit_code == 0, remote.describe());
    CHECK(remote.out == local.out);
  }

  // export reads the far repository and writes a local file that imports and restores the same tree.
  RunResult exported = far_drctl({"export", second, (t / "second.tar.zst").string()}, far, config);
  REQUIRE_MESSAGE(exported.exit_code == 0, exported.describe());
  expect_exit(drctl({"snapshot", "import", (t / "second.tar.zst").string(), "--repo", (t / "imported").string()}), 0);
  restore_section(t / "imported", second, "nas/data", t / "back-imported");
  d = compare_trees(t / "tree", t / "back-imported");
  CHECK_MESSAGE(d.empty(), join_diffs(d));

  // A far path that holds no repository is one line, exit 2.
  RunResult none = far_drctl({"list"}, t / "far/nothing-here", config);
  CHECK(none.exit_code == 2);
  CHECK_MESSAGE(is_one_error_line(none.err), none.describe());
  CHECK(none.err.find("not a drctl repository") != std::string::npos);

  // --ssh-config given to restore itself (it also names an ssh:// target's configuration) reaches the repository too.
  RunResult own = drctl({"snapshot", "restore", second, "--repo", far_url(far), "--section", "nas/data", "--to",
                         (t / "back2").string(), "--ssh-config", config.string()});
  REQUIRE_MESSAGE(own.exit_code == 0, own.describe());
  d = compare_trees(t / "tree", t / "back2");
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}

TEST_CASE("sftp repo: an encrypted far repository restores with its passphrase, and a wrong one is one line") {
  Sshd sshd;
  TempDir t("sftp-repo-encrypted");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  write_file(t / "pw", "correct horse battery staple\n", 0600);
  write_file(t / "wrong", "not the passphrase\n", 0600);
  const std::vector<std::string> pw = {"--password-file", (t / "pw").string()};
  make_full_tree(t / "tree", {.seed = 67, .sparse_size = 2 * MiB});
  const fs::path repo = t / "repo", far = t / "far";
  std::vector<std::string> init_args = small_chunks();
  init_args.insert(init_args.end(), {"--encrypt", "--password-file", (t / "pw").string()});
  init_repo(repo, init_args);
  const std::string id = create_snapshot(repo, {{"data", t / "tree"}}, pw);
  copy_to_far(repo, far, config);

  RunResult restored = far_drctl({"restore", id, "--section", "nas/data", "--to", (t / "back").string()}, far, config, pw);
  REQUIRE_MESSAGE(restored.exit_code == 0, restored.describe());
  auto d = compare_trees(t / "tree", t / "back");
  CHECK_MESSAGE(d.empty(), join_diffs(d));

  RunResult keys_here = drctl({"snapshot", "key", "list", "--repo", repo.string(), "--password-file", (t / "pw").string()});
  RunResult keys_there = far_drctl({"key", "list"}, far, config, pw);
  REQUIRE_MESSAGE(keys_there.exit_code == 0, keys_there.describe());
  CHECK(keys_there.out == keys_here.out);

  RunResult wrong = far_drctl({"restore", id, "--section", "nas/data", "--to", (t / "back-wrong").string()}, far, config,
                              {"--password-file", (t / "wrong").string()});
  CHECK(wrong.exit_code == 2);
  CHECK_MESSAGE(is_one_error_line(wrong.err), wrong.describe());
  CHECK(wrong.err.find("wrong passphrase") != std::string::npos);
  CHECK(!fs::exists(t / "back-wrong"));
}

TEST_CASE("sftp repo: restoring one small file reads its bytes of a pack, not whole packs (sftp-server's own count)") {
  TempDir t("sftp-repo-ranges");
  const fs::path log = t / "sftp-server.log";
  SshdPlace place;
  place.extra_config = {"ForceCommand " + logging_sftp_wrapper(t.path(), log).string()};
  Sshd sshd(place);
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  Rng rng(71);
  fs::create_directories(t / "tree");
  for (int i = 0; i < 3; ++i) write_random_file(t / "tree" / ("big-" + std::to_string(i)), 6 * MiB, rng);
  write_file(t / "tree/small.txt", "the one file wanted back\n");
  const fs::path repo = t / "repo", far = t / "far";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", t / "tree"}});
  copy_to_far(repo, far, config);
  const std::uint64_t packs = pack_bytes(far);
  REQUIRE(packs > 16 * MiB);  // the random files are stored as they are: several MiB of packs

  fs::remove(log);
  RunResult restored = far_drctl({"restore", id, "--include", "nas/data/small.txt", "--to", (t / "back").string()}, far, config);
  REQUIRE_MESSAGE(restored.exit_code == 0, restored.describe());
  CHECK(read_file(t / "back/nas/data/small.txt") == "the one file wanted back\n");
  const std::uint64_t read_for_one = server_bytes_read(log, "/data/");
  CHECK(read_for_one > 0);               // the file's chunk and the trees came from packs
  CHECK(read_for_one * 100 < packs);     // and not the packs whole
  MESSAGE("restoring one small file read " << read_for_one << " bytes of " << packs << " bytes of packs");

  // The same count for a verify that must read everything: the oracle sees whole packs when they are read.
  fs::remove(log);
  RunResult verify = far_drctl({"verify", "--read-data"}, far, config);
  REQUIRE_MESSAGE(verify.exit_code == 0, verify.describe());
  CHECK(server_bytes_read(log, "/data/") >= packs);
}

TEST_CASE("sftp repo: a far byte flipped in a pack is named by verify --read-data, and restore writes no wrong bytes") {
  Sshd sshd;
  TempDir t("sftp-repo-damage");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  make_full_tree(t / "tree", {.seed = 73, .sparse_size = 2 * MiB});
  const fs::path repo = t / "repo", far = t / "far";
  init_repo(repo, small_chunks());
  const std::string id = create_snapshot(repo, {{"data", t / "tree"}});
  copy_to_far(repo, far, config);

  RunResult clean = far_drctl({"verify", "--read-data"}, far, config);
  REQUIRE_MESSAGE(clean.exit_code == 0, clean.describe());

  // The first data blob of the largest pack (the data, not the trees) gets one bit flipped.
  fs::path victim;
  for (const fs::path& p : pack_files(far))
    if (victim.empty() || fs::file_size(p) > fs::file_size(victim)) victim = p;
  const auto blobs = parse_pack(victim);
  REQUIRE(!blobs.empty());
  flip_byte(victim, blobs.front().offset + blobs.front().length / 2);

  RunResult verify = far_drctl({"verify", "--read-data"}, far, config);
  CHECK(verify.exit_code == 1);
  const std::string pack_id = victim.filename().string();
  CHECK_MESSAGE(verify.out.find("pack " + pack_id.substr(0, 8)) != std::string::npos, verify.describe());
  CHECK(verify.out.find("damaged") != std::string::npos);

  RunResult restored = far_drctl({"restore", id, "--section", "nas/data", "--to", (t / "back").string()}, far, config);
  CHECK(restored.exit_code != 0);
  CHECK_MESSAGE(restored.err.find("damaged") != std::string::npos, restored.describe());
  if (fs::exists(t / "back")) {
    const auto wrong = wrong_files(t / "tree", t / "back");
    CHECK_MESSAGE(wrong.empty(), join_diffs(wrong));
  }
}

TEST_CASE("sftp repo: an unknown host key is refused, and no login happens") {
  Sshd sshd;
  TempDir t("sftp-repo-hostkey");
  write_file(t / "empty_known_hosts", "", 0600);
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far", t / "empty_known_hosts");
  const fs::path trusted = write_client_config(sshd, t.path() / "trusted_config", "far");
  fs::create_directories(t / "src");
  write_file(t / "src/f", "content\n");
  const fs::path repo = t / "repo", far = t / "far";
  init_repo(repo);
  create_snapshot(repo, {{"docs", t / "src"}});
  copy_to_far(repo, far, trusted);
  const int logins = sshd.accepted_logins();

  RunResult r = far_drctl({"list"}, far, config);
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
  CHECK_MESSAGE(r.err.find("known_hosts") != std::string::npos, r.describe());
  CHECK(r.out.empty());
  CHECK(sshd.accepted_logins() == logins);
}

TEST_CASE("sftp repo: every writing command is refused in one line before it reaches the host") {
  Sshd sshd;
  TempDir t("sftp-repo-readonly");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  fs::create_directories(t / "src");
  write_file(t / "src/f", "content\n");
  const fs::path repo = t / "repo", far = t / "far";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"docs", t / "src"}});
  expect_exit(drctl({"snapshot", "export", id, (t / "one.tar.zst").string(), "--repo", repo.string()}), 0);
  write_file(t / "pw", "a passphrase\n", 0600);
  copy_to_far(repo, far, config);
  const auto before = file_hashes(far);
  const int logins = sshd.accepted_logins();

  const std::vector<std::vector<std::string>> writers = {
      {"init"},
      {"create", "--nas", "docs=" + (t / "src").string()},
      {"forget", "--keep-last", "1"},
      {"forget", "--keep-last", "1", "--prune"},
      {"prune"},
      {"rebuild-index"},
      {"import", (t / "one.tar.zst").string()},
      {"unlock", "--force"},
      {"key", "add", "--new-password-file", (t / "pw").string()},
      {"copy", "--all", "--to", far_url(t / "elsewhere")},
      {"tag", id, "--add", "x"},
  };
  for (const auto& args : writers) {
    CAPTURE(args.front());
    RunResult r = far_drctl(args, far, config);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
    CHECK_MESSAGE(r.err.find("sftp:// repositories are read-only here; copy with `snapshot copy --from`") != std::string::npos,
                  r.describe());
  }
  CHECK(file_hashes(far) == before);
  CHECK(sshd.accepted_logins() == logins);  // refused before any work: no connection was made
  CHECK(!fs::exists("sftp:"));              // and no local directory named after the URL
  CHECK(!fs::exists(t / "elsewhere"));
}

TEST_CASE("sftp repo: a reader waits for the far writer's lock and reads once it is gone, or gives up naming it") {
  Sshd sshd;
  TempDir t("sftp-repo-lock");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  fs::create_directories(t / "src");
  write_file(t / "src/f", "content\n");
  const fs::path repo = t / "repo", far = t / "far";
  init_repo(repo);
  create_snapshot(repo, {{"docs", t / "src"}});
  copy_to_far(repo, far, config);
  const std::string holder = R"({"host":"far-site","pid":4242,"started":"2026-01-01T00:00:00Z"})";
  write_file(far / "lock", holder + "\n", 0600);

  RunResult refused = far_drctl({"list"}, far, config, {"--lock-wait", "1s"});
  CHECK(refused.exit_code == 1);
  CHECK_MESSAGE(refused.err.find("far-site") != std::string::npos, refused.describe());
  CHECK(refused.err.find("raise --lock-wait") != std::string::npos);
  CHECK(refused.out.empty());

  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    fs::remove(far / "lock");
  });
  RunResult waited = far_drctl({"list"}, far, config, {"--lock-wait", "60s"});
  release.join();
  CHECK_MESSAGE(waited.exit_code == 0, waited.describe());
  CHECK(waited.err.find("waiting up to") != std::string::npos);
  CHECK(waited.out.find("1 snapshot") != std::string::npos);
}
