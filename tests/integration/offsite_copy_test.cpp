// Off-site copies (issue 20, section 4): `drctl snapshot copy --to sftp://…` against a private sshd
// on 127.0.0.1. The far repository is on this machine's disk, so the tests read it directly:
// restore from it, compare its files and modes, flip a byte in it. Oracles are the bytes and
// inodes on disk and what restore/verify of the far copy say, never the copy's own counters alone.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;

namespace {


/// Relative path → SHA-256 of every regular file under `root`, but the writer's lock.
std::map<std::string, std::string> file_hashes(const fs::path& root) {
  std::map<std::string, std::string> out;
  if (!fs::exists(root)) return out;  // not made yet
  for (const auto& e : fs::recursive_directory_iterator(root))
    if (e.is_regular_file() && e.path().filename() != "lock")
      out[e.path().lexically_relative(root).string()] = sha256_file(e.path());
  return out;
}

/// The repository's own files (what a copy must carry): config, keys/, data/, index/, snapshots/.
std::map<std::string, std::string> repository_files(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& [rel, hash] : file_hashes(root))
    if (fs::path(rel).filename().string().front() == '.') continue;  // a temporary, not yet the file
    else if (rel == "config" || rel.rfind("keys/", 0) == 0 || rel.rfind("data/", 0) == 0 || rel.rfind("index/", 0) == 0 ||
        rel.rfind("snapshots/", 0) == 0)
      out[rel] = hash;
  return out;
}

/// Files an interrupted copy leaves: a name starting with '.' holding ".drctl-".
std::vector<std::string> temporaries(const fs::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.front() == '.' && name.find(".drctl-") != std::string::npos) out.push_back(it->path().string());
  }
  return out;
}

/// (inode, mtime in ns) of every file under `root`: unchanged when nothing was written again.
std::map<std::string, std::pair<ino_t, std::int64_t>> file_stamps(const fs::path& root) {
  std::map<std::string, std::pair<ino_t, std::int64_t>> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const struct stat st = lstat_or_throw(e.path());
    out[e.path().lexically_relative(root).string()] = {st.st_ino, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec};
  }
  return out;
}

/// A stand-in for FreeBSD's sha256(1), -q (the digest alone) and -r ("HASH NAME"), written over
/// `openssl dgst`; with `lie`, it reports zeros for every file under data/ (a disk or transfer
/// that damaged them, as the host sees it).
std::string sha256_stand_in(bool lie) {
  return std::string("#!/bin/sh\n"
                     "mode=$1; shift; status=0\n"
                     "for f in \"$@\"; do\n"
                     "  h=$(/usr/bin/openssl dgst -sha256 -r < \"$f\") || { status=1; continue; }; h=${h%% *}\n") +
         (lie ? "  case \"$f\" in data/*) h=0000000000000000000000000000000000000000000000000000000000000000;; esac\n" : "") +
         "  if [ \"$mode\" = -q ]; then echo \"$h\"; else printf '%s %s\\n' \"$h\" \"$f\"; fi\n"
         "done\n"
         "exit $status\n";
}

/// A PATH for a FreeBSD-like host: the tools copy uses, `sha256` the stand-in, no sha256sum.
fs::path freebsd_like_bin(const fs::path& dir, bool lying_hasher) {
  fs::create_directories(dir);
  for (const char* tool : {"mkdir", "find", "ls", "cat", "uname", "rm", "mv", "openssl", "tar"})
    fs::create_symlink(fs::path("/usr/bin") / tool, dir / tool);
  write_file(dir / "sha256", sha256_stand_in(lying_hasher), 0755);
  return dir;
}

/// The first temporary under `far`/data that holds more than 1 MiB: a pack on its way.
std::optional<fs::path> pack_on_its_way(const fs::path& far) {
  for (const std::string& p : temporaries(far))
    if (p.find("/data/") != std::string::npos) {
      std::error_code ec;
      const auto size = fs::file_size(p, ec);
      if (!ec && size > MiB) return fs::path(p);
    }
  return std::nullopt;
}

/// The processes whose working directory is `dir` or below it (from /proc/PID/cwd).
std::vector<int> processes_working_in(const fs::path& dir) {
  std::vector<int> out;
  const std::string prefix = fs::weakly_canonical(dir).string();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code gone;
    const std::string cwd = fs::read_symlink(e.path() / "cwd", gone).string();
    if (!gone && (cwd == prefix || cwd.rfind(prefix + "/", 0) == 0)) out.push_back(std::stoi(name));
  }
  return out;
}

std::string far_url(const fs::path& path) { return "sftp://far" + path.string(); }

RunResult copy_to(const fs::path& repo, const fs::path& far, const fs::path& config, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"snapshot", "copy", "--all", "--repo", repo.string(), "--to", far_url(far),
                                   "--ssh-config", config.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return drctl(args);
}

}  // namespace

TEST_CASE("offsite copy: copy --all makes the far repository, it restores byte for byte, and a second copy sends nothing") {
  Sshd sshd;
  TempDir t("offsite-copy");
  make_full_tree(t / "tree", {.seed = 41, .sparse_size = 8 * MiB});
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  const fs::path repo = t / "repo", far = t / "far/site-a/repo";
  init_repo(repo, small_chunks());
  const std::string first = create_snapshot(repo, {{"data", t / "tree"}});
  write_file(t / "tree/added-later", "a second snapshot's new file\n");
  const std::string second = create_snapshot(repo, {{"data", t / "tree"}});

  RunResult copied = copy_to(repo, far, config);
  REQUIRE_MESSAGE(copied.exit_code == 0, copied.describe());
  CHECK(copied.out.find("created repository") != std::string::npos);
  // The far side holds exactly the repository's files, byte for byte, private like the source.
  CHECK(repository_files(far) == repository_files(repo));
  CHECK(fs::exists(far / "readers"));
  CHECK(temporaries(far).empty());
  CHECK_MESSAGE(group_or_world_accessible(far).empty(), join_diffs(group_or_world_accessible(far)));
  CHECK((lstat_or_throw(far).st_mode & 0777) == 0700);

  // Restored from the far repository (it is on this disk), both snapshots equal what they captured.
  restore_section(far, second, "nas/data", t / "back-second");
  auto d = compare_trees(t / "tree", t / "back-second");
  CHECK_MESSAGE(d.empty(), "the far copy restores differently:\n" << join_diffs(d));
  CHECK(list_ids(far) == std::vector<std::string>{first, second});
  RunResult verify = drctl({"snapshot", "verify", "--read-data", "--repo", far.string()});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());

  // A second copy finds everything there: no far file is written again (same inode, same mtime).
  const auto before = file_stamps(far);
  RunResult again = copy_to(repo, far, config);
  REQUIRE_MESSAGE(again.exit_code == 0, again.describe());
  CHECK(file_stamps(far) == before);
  CHECK(again.out.find("copied 0 files") != std::string::npos);

  // --from brings the far repository back into a new local one, which restores the same tree.
  RunResult back = drctl({"snapshot", "copy", "--all", "--repo", (t / "home").string(), "--from", far_url(far),
                          "--ssh-config", config.string()});
  REQUIRE_MESSAGE(back.exit_code == 0, back.describe());
  CHECK(repository_files(t / "home") == repository_files(repo));
  CHECK(group_or_world_accessible(t / "home").empty());
  restore_section(t / "home", second, "nas/data", t / "back-home");
  d = compare_trees(t / "tree", t / "back-home");
  CHECK_MESSAGE(d.empty(), "the copy brought back restores differently:\n" << join_diffs(d));
}

TEST_CASE("offsite copy: chosen ids copy only those manifests, and a repository with another id is refused") {
  Sshd sshd;
  TempDir t("offsite-ids");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  fs::create_directories(t / "src");
  write_file(t / "src/one", "first\n");
  const fs::path repo = t / "repo", far = t / "far";
  init_repo(repo, small_chunks());
  const std::string first = create_snapshot(repo, {{"docs", t / "src"}});
  write_file(t / "src/two", "second\n");
  const std::string second = create_snapshot(repo, {{"docs", t / "src"}});

  RunResult one = drctl({"snapshot", "copy", second.substr(0, 8), "--repo", repo.string(), "--to", far_url(far),
                         "--ssh-config", config.string()});
  REQUIRE_MESSAGE(one.exit_code == 0, one.describe());
  CHECK(list_ids(far) == std::vector<std::string>{second});
  restore_section(far, second, "nas/docs", t / "back");
  auto d = compare_trees(t / "src", t / "back");
  CHECK_MESSAGE(d.empty(), join_diffs(d));

  // Another repository (its own config id) at the far path: refused in one line, nothing written.
  const fs::path other = t / "other";
  init_repo(other);
  const auto stamps = file_stamps(other);
  RunResult refused = drctl({"snapshot", "copy", "--all", "--repo", repo.string(), "--to", far_url(other),
                             "--ssh-config", config.string()});
  CHECK(refused.exit_code == 2);
  CHECK_MESSAGE(is_one_error_line(refused.err), refused.describe());
  CHECK(refused.err.find("another repository") != std::string::npos);
  CHECK(file_stamps(other) == stamps);

  // A writer at the far site holds the lock (a prune there must not meet a half copy): refused, naming it.
  write_file(far / "lock", R"({"host":"far-site-nas","pid":4242,"started":"2026-12-02T20:00:00Z"})" "\n", 0600);
  write_file(t / "src/three", "third\n");
  const std::string third = create_snapshot(repo, {{"docs", t / "src"}});
  RunResult locked = drctl({"snapshot", "copy", third.substr(0, 8), "--repo", repo.string(), "--to", far_url(far),
                            "--ssh-config", config.string()});
  CHECK(locked.exit_code == 1);
  CHECK_MESSAGE(is_one_error_line(locked.err), locked.describe());
  CHECK(locked.err.find("locked by far-site-nas pid 4242") != std::string::npos);
  CHECK(list_ids(far) == std::vector<std::string>{second});
  CHECK(read_file(far / "lock").find("far-site-nas") != std::string::npos);

  // A directory holding something else is no target either; a malformed URL is bad input.
  fs::create_directories(t / "busy");
  write_file(t / "busy/notes.txt", "not a repository\n");
  RunResult busy = drctl({"snapshot", "copy", "--all", "--repo", repo.string(), "--to", far_url(t / "busy"),
                          "--ssh-config", config.string()});
  CHECK(busy.exit_code == 2);
  CHECK(busy.err.find("not empty") != std::string::npos);
  CHECK(fs::directory_entry(t / "busy/notes.txt").exists());
  CHECK(std::distance(fs::directory_iterator(t / "busy"), fs::directory_iterator()) == 1);
  RunResult bad = drctl({"snapshot", "copy", "--all", "--repo", repo.string(), "--to", "ssh://far/x"});
  CHECK(bad.exit_code == 2);
  CHECK(is_one_error_line(bad.err));
  CHECK(bad.err.find("sftp://") != std::string::npos);
}

/// Bytes of the pack files under `repo`/data.
std::uint64_t pack_bytes(const fs::path& repo) {
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo / "data"))
    if (e.is_regular_file() && e.path().filename().string().front() != '.') n += e.file_size();
  return n;
}

TEST_CASE("offsite copy: a chosen snapshot takes only the packs it needs, with index files of its own, and --all completes the far copy later") {
  Sshd sshd;
  TempDir t("offsite-needs");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  write_file(t / "pw", "tr0ub4dor&3\n", 0600);
  const std::vector<std::string> pw = {"--password-file", (t / "pw").string()};
  // Two sources of unrelated random bytes, about 14 MiB each: neither snapshot shares a chunk
  // with the other, so the packs one needs hold none of the other's data.
  make_random_tree(t / "media", {.seed = 61, .files = 28, .min_size = 256 * KiB, .max_size = 768 * KiB, .dirs = 3});
  const TreeInfo docs_tree = make_random_tree(t / "docs", {.seed = 62, .files = 28, .min_size = 256 * KiB, .max_size = 768 * KiB, .dirs = 3});
  for (const bool encrypted : {false, true}) {
    CAPTURE(encrypted);
    const std::string tag = encrypted ? "enc" : "plain";
    const fs::path repo = t / ("repo-" + tag), far = t / ("far-" + tag);
    std::vector<std::string> init = small_chunks(), key;
    if (encrypted) {
      init.insert(init.end(), pw.begin(), pw.end());
      init.push_back("--encrypt");
      key = pw;
    }
    init_repo(repo, init);
    const std::string media = create_snapshot(repo, {{"media", t / "media"}}, key);
    const std::string docs = create_snapshot(repo, {{"docs", t / "docs"}}, key);
    std::vector<std::string> copy = {"snapshot", "copy", docs.substr(0, 8), "--repo", repo.string(), "--to", far_url(far),
                                     "--ssh-config", config.string()};
    if (encrypted) {
      // Which packs a snapshot needs is in its trees, sealed: the passphrase is asked for.
      RunResult locked = drctl(copy, {{"DRCTL_PASSWORD_FILE", ""}});
      CHECK(locked.exit_code == 2);
      CHECK_MESSAGE(is_one_error_line(locked.err), locked.describe());
      copy.insert(copy.end(), pw.begin(), pw.end());
    }
    RunResult one = drctl(copy);
    REQUIRE_MESSAGE(one.exit_code == 0, one.describe());
    CHECK(list_ids(far, key) == std::vector<std::string>{docs});
    // The far side holds about one source's worth of packs, not both (the source holds both).
    const std::uint64_t far_bytes = pack_bytes(far), src_bytes = pack_bytes(repo);
    CHECK_MESSAGE(far_bytes * 10 < src_bytes * 6, far_bytes, " bytes of packs sent of ", src_bytes);
    CHECK(far_bytes >= docs_tree.content_bytes);
    // Every far pack is a source pack, byte for byte; the far index files are its own.
    const auto far_files = repository_files(far), src_files = repository_files(repo);
    for (const auto& [rel, hash] : far_files)
      if (rel.rfind("data/", 0) == 0) CHECK_MESSAGE((src_files.count(rel) && src_files.at(rel) == hash), rel);
    // It restores and verifies where it lies.
    restore_section(far, docs, "nas/docs", t / ("back-docs-" + tag), key);
    auto d = compare_trees(t / "docs", t / ("back-docs-" + tag));
    CHECK_MESSAGE(d.empty(), join_diffs(d));
    std::vector<std::string> verify = {"snapshot", "verify", "--read-data", "--repo", far.string()};
    verify.insert(verify.end(), key.begin(), key.end());
    RunResult verified = drctl(verify);
    CHECK_MESSAGE(verified.exit_code == 0, verified.describe());

    // The same choice again sends nothing.
    RunResult again = drctl(copy);
    REQUIRE_MESSAGE(again.exit_code == 0, again.describe());
    CHECK_MESSAGE(again.out.find("copied 0 files") != std::string::npos, again.describe());

    // --all later sends the rest: both snapshots restore from the far copy, which verifies.
    RunResult all = copy_to(repo, far, config);
    REQUIRE_MESSAGE(all.exit_code == 0, all.describe());
    CHECK(list_ids(far, key) == std::vector<std::string>{media, docs});
    restore_section(far, media, "nas/media", t / ("back-media-" + tag), key);
    d = compare_trees(t / "media", t / ("back-media-" + tag));
    CHECK_MESSAGE(d.empty(), join_diffs(d));
    verified = drctl(verify);
    CHECK_MESSAGE(verified.exit_code == 0, verified.describe());
  }
}

TEST_CASE("offsite copy: a copy killed mid-pack leaves no file with its final name half written, and a re-run completes it") {
  Sshd sshd;
  TempDir t("offsite-kill");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  fs::create_directories(t / "big");
  Rng rng(test_seed());
  write_random_file(t / "big/random.bin", 160 * MiB, rng);  // incompressible: ten 16 MiB packs
  const fs::path repo = t / "repo", far = t / "far";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"big", t / "big"}});

  auto child = drctl_start({"snapshot", "copy", "--all", "--repo", repo.string(), "--to", far_url(far), "--ssh-config",
                            config.string()});
  // Kill it once a pack is in place and another is on its way (a temporary on the far side).
  auto packs_placed = [&] {  // names only: a file may be renamed while this looks
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(far, ec); !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      n += it->path().parent_path().parent_path() == far / "data" && it->path().filename().string().front() != '.';
    return n;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!(packs_placed() > 0 && pack_on_its_way(far)) && child->running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE_MESSAGE(pack_on_its_way(far), "the copy ended before a pack was seen on its way");
  ::kill(child->pid(), SIGKILL);
  RunResult killed = child->wait(std::chrono::seconds(30));
  CHECK(killed.term_signal == SIGKILL);
  // A check the copy had started on the host may still run there: sshd does not stop a command
  // whose client vanished. It works in the far directory; wait until no process does (/proc).
  sshd.drop_connections();
  const auto quiet_by = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!processes_working_in(far).empty() && std::chrono::steady_clock::now() < quiet_by)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(processes_working_in(far).empty());

  // Every file with a final name is whole (its bytes are the source's); the manifest is not there yet.
  const auto source = repository_files(repo);
  const auto partial = repository_files(far);
  for (const auto& [rel, hash] : partial) CHECK_MESSAGE(source.at(rel) == hash, rel << " has its final name but not its bytes");
  CHECK(partial.size() < source.size());
  const bool no_manifest = !fs::exists(far / "snapshots") || fs::is_empty(far / "snapshots");
  CHECK(no_manifest);
  const std::size_t left = temporaries(far).size();
  CHECK(left >= 1);

  CHECK(packs_placed() >= 1);
  CHECK(fs::exists(far / "lock"));  // the killed copy's: this host, a process that is gone
  std::map<std::string, std::pair<ino_t, std::int64_t>> placed;  // not sent again: same inode and mtime after the re-run
  for (const auto& [rel, stamp] : file_stamps(far))
    if (partial.count(rel)) placed[rel] = stamp;

  RunResult rerun = copy_to(repo, far, config);
  REQUIRE_MESSAGE(rerun.exit_code == 0, rerun.describe());
  const auto after = file_stamps(far);
  for (const auto& [rel, stamp] : placed) CHECK_MESSAGE(after.at(rel) == stamp, rel << " was written again");
  CHECK(rerun.out.find("removed " + std::to_string(left) + " temporary") != std::string::npos);
  CHECK(temporaries(far).empty());
  CHECK(!fs::exists(far / "lock"));
  CHECK(repository_files(far) == source);
  RunResult verify = drctl({"snapshot", "verify", "--read-data", "--repo", far.string()});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
  restore_section(far, id, "nas/big", t / "back");
  CHECK(sha256_file(t / "back/random.bin") == sha256_file(t / "big/random.bin"));
}

TEST_CASE("offsite copy: a far pack damaged after the copy is found by verify --read-data there and by copy --verify-all") {
  Sshd sshd;
  TempDir t("offsite-damage");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  make_full_tree(t / "tree", {.seed = 43, .sparse = false, .ownership = false, .devices = false});
  const fs::path repo = t / "repo", far = t / "far";
  init_repo(repo, small_chunks());
  create_snapshot(repo, {{"data", t / "tree"}});
  REQUIRE(copy_to(repo, far, config).exit_code == 0);

  const fs::path pack = pack_files(far).front();
  {
    std::fstream f(pack, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(10);
    char c = 0;
    f.get(c);
    f.seekp(10);
    f.put(static_cast<char>(c ^ 0x40));
  }
  const std::string name = pack.filename().string();
  RunResult verify = drctl({"snapshot", "verify", "--read-data", "--repo", far.string()});
  CHECK(verify.exit_code != 0);
  CHECK_MESSAGE((verify.out + verify.err).find(name.substr(0, 8)) != std::string::npos, verify.describe());

  RunResult recheck = copy_to(repo, far, config, {"--verify-all"});
  CHECK(recheck.exit_code == 1);
  CHECK_MESSAGE(is_one_error_line(recheck.err), recheck.describe());
  CHECK(recheck.err.find(name) != std::string::npos);
  CHECK(recheck.err.find("damaged") != std::string::npos);
}

TEST_CASE("offsite copy: an unknown host key is refused before anything is written") {
  Sshd sshd;
  TempDir t("offsite-hostkey");
  write_file(t / "empty_known_hosts", "", 0600);
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far", t / "empty_known_hosts");
  fs::create_directories(t / "src");
  write_file(t / "src/f", "content\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  create_snapshot(repo, {{"docs", t / "src"}});
  RunResult r = copy_to(repo, t / "far", config);
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
  CHECK_MESSAGE(r.err.find("known_hosts") != std::string::npos, r.describe());
  CHECK(!fs::exists(t / "far"));
  CHECK(sshd.accepted_logins() == 0);
}

TEST_CASE("offsite copy: an encrypted repository's copy carries its keys and restores with its passphrase") {
  Sshd sshd;
  TempDir t("offsite-encrypted");
  const fs::path config = write_client_config(sshd, t.path() / "ssh_config", "far");
  write_file(t / "pw", "correct horse battery staple\n", 0600);
  const std::vector<std::string> pw = {"--password-file", (t / "pw").string()};
  make_full_tree(t / "tree", {.seed = 47, .sparse_size = 4 * MiB});
  const fs::path repo = t / "repo", far = t / "far";
  std::vector<std::string> init = small_chunks();
  init.insert(init.end(), {"--encrypt", "--password-file", (t / "pw").string()});
  init_repo(repo, init);
  const std::string id = create_snapshot(repo, {{"data", t / "tree"}}, pw);

  // No passphrase is needed to copy: the files go as they are stored, sealed.
  RunResult copied = copy_to(repo, far, config);
  REQUIRE_MESSAGE(copied.exit_code == 0, copied.describe());
  CHECK(repository_files(far) == repository_files(repo));
  CHECK(!fs::is_empty(far / "keys"));

  RunResult locked = drctl({"snapshot", "list", "--repo", far.string()}, {{"DRCTL_PASSWORD_FILE", ""}});
  CHECK(locked.exit_code == 2);
  std::vector<std::string> restore = {"snapshot", "restore", id, "--repo", far.string(), "--section", "nas/data",
                                      "--to", (t / "back").string()};
  restore.insert(restore.end(), pw.begin(), pw.end());
  RunResult restored = drctl(restore);
  REQUIRE_MESSAGE(restored.exit_code == 0, restored.describe());
  auto d = compare_trees(t / "tree", t / "back");
  CHECK_MESSAGE(d.empty(), join_diffs(d));

  // Brought back with --from (again without the passphrase), it opens with the same one.
  RunResult back = drctl({"snapshot", "copy", "--all", "--repo", (t / "home").string(), "--from", far_url(far),
                          "--ssh-config", config.string()});
  REQUIRE_MESSAGE(back.exit_code == 0, back.describe());
  CHECK(repository_files(t / "home") == repository_files(repo));
  restore_section(t / "home", id, "nas/data", t / "back-home", pw);
  d = compare_trees(t / "tree", t / "back-home");
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}

TEST_CASE("offsite copy: a FreeBSD-like host checks with its sha256, and a file its hasher disagrees with never gets its final name") {
  TempDir t("offsite-bsd");
  fs::create_directories(t / "src");
  Rng rng(test_seed());
  write_random_file(t / "src/blob.bin", 3 * MiB, rng);
  write_file(t / "src/note", "hello\n");
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const std::string id = create_snapshot(repo, {{"docs", t / "src"}});

  SshdPlace honest;
  honest.extra_config = {"SetEnv PATH=" + freebsd_like_bin(t / "bsd-bin", false).string()};
  {
    Sshd sshd(honest);
    fs::create_directories(t / "honest");
    const fs::path config = write_client_config(sshd, t / "honest" / "ssh_config", "far");
    REQUIRE(run({"ssh", "-F", config.string(), "-o", "BatchMode=yes", "far", "command -v sha256sum || echo none"}).out == "none\n");
    RunResult copied = copy_to(repo, t / "far", config);
    REQUIRE_MESSAGE(copied.exit_code == 0, copied.describe());
    CHECK(repository_files(t / "far") == repository_files(repo));
    RunResult all = copy_to(repo, t / "far", config, {"--verify-all"});
    CHECK_MESSAGE(all.exit_code == 0, all.describe());
    restore_section(t / "far", id, "nas/docs", t / "back");
    auto d = compare_trees(t / "src", t / "back");
    CHECK_MESSAGE(d.empty(), join_diffs(d));
  }

  SshdPlace lying;
  lying.extra_config = {"SetEnv PATH=" + freebsd_like_bin(t / "lying-bin", true).string()};
  Sshd sshd(lying);
  fs::create_directories(t / "lying");
  const fs::path config = write_client_config(sshd, t / "lying" / "ssh_config", "far");
  RunResult refused = copy_to(repo, t / "far2", config);
  CHECK(refused.exit_code == 1);
  CHECK_MESSAGE(is_one_error_line(refused.err), refused.describe());
  CHECK(refused.err.find("/data/") != std::string::npos);
  CHECK(refused.err.find("damaged") != std::string::npos);
  // No pack has its final name there, and no manifest (it would name what is missing).
  for (const auto& [rel, hash] : repository_files(t / "far2")) {
    CHECK_MESSAGE(rel.rfind("data/", 0) != 0, rel);
    CHECK_MESSAGE(rel.rfind("snapshots/", 0) != 0, rel);
  }
}
