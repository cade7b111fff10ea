// Encryption at rest (issue 20 section 3): `snapshot init --encrypt`, what an encrypted
// repository holds on disk (no plaintext, no file names, no plain SHA-256 of content), wrong and
// missing passphrases, damage found by the MAC, key add/list/remove/passwd, a format 1
// repository made by the drctl before encryption, and backups into an encrypted repository
// through `drctl run` and over a real sshd. Oracles: the bytes on disk, the restored trees
// compared with their sources, and exit codes and messages of the real binary.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;

namespace {

constexpr char kMarker[] = "ENCRYPTION-TEST-PLAINTEXT-MARKER-5c1d";
constexpr char kOddName[] = "unmistakable-file-name-8e2b.txt";

/// A repository's files, each with its bytes and mode: equal before and after means untouched.
std::map<std::string, std::string> fingerprint(const fs::path& repo) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(repo)) {
    const struct stat st = lstat_or_throw(e.path());
    std::string v = std::to_string(st.st_mode) + " " + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    if (e.is_regular_file()) v += " " + sha256_file(e.path());
    out[fs::relative(e.path(), repo).string()] = v;
  }
  return out;
}

/// Where FORMAT.md says a sealed pack keeps its header: before the 16-byte trailer, whose
/// first u32 is the sealed header's length; the blobs fill the pack from offset 0 up to it.
struct SealedPack {
  std::uint64_t size = 0, header_start = 0, header_length = 0;
};
SealedPack sealed_pack(const fs::path& p) {
  const std::string bytes = read_file(p);
  REQUIRE(bytes.size() > 16);
  REQUIRE(bytes.substr(bytes.size() - 8) == "DRCTLPE1");
  std::uint32_t len = 0;
  for (int i = 3; i >= 0; --i) len = (len << 8) | static_cast<unsigned char>(bytes[bytes.size() - 16 + i]);
  REQUIRE(len + 16 <= bytes.size());
  return {bytes.size(), bytes.size() - 16 - len, len};
}

/// The largest pack: with one file of random data it holds that file's blobs.
fs::path largest_pack(const fs::path& repo) {
  fs::path best;
  for (const auto& p : pack_files(repo))
    if (best.empty() || fs::file_size(p) > fs::file_size(best)) best = p;
  REQUIRE(!best.empty());
  return best;
}

fs::path only_file_in(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  return files[0];
}

std::string raw_digest(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

/// Every file under `repo` that holds `needle` (raw bytes).
std::vector<std::string> files_holding(const fs::path& repo, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(repo))
    if (e.is_regular_file() && read_file(e.path()).find(needle) != std::string::npos)
      out.push_back(fs::relative(e.path(), repo).string());
  return out;
}

/// A source holding a marker string among random bytes (stored uncompressed when unencrypted),
/// a small file (one chunk) with an unmistakable name, and a few random files.
fs::path make_source(const fs::path& dir) {
  make_random_tree(dir, {.seed = 31, .files = 6, .min_size = 1000, .max_size = 400000, .dirs = 2});
  Rng rng(32);
  write_file(dir / "marker.bin", rng.bytes(20000) + kMarker + rng.bytes(20000));
  write_file(dir / kOddName, "a small file, one chunk: its SHA-256 is its chunk's plain id\n");
  return dir;
}

}  // namespace

TEST_CASE("encryption: init --encrypt, a snapshot of a generated tree restores byte for byte") {
  TempDir t("enc-roundtrip");
  TreeInfo full = make_full_tree(t / "full", {.seed = 41, .sparse_size = 4 * MiB});
  write_file(t / "pw", "round trip passphrase\n", 0600);
  const std::vector<std::string> pw = {"--password-file", (t / "pw").string()};
  const fs::path repo = t / "repo";
  RunResult init = drctl({"snapshot", "init", "--repo", repo.string(), "--encrypt", "--password-file", (t / "pw").string()});
  REQUIRE_MESSAGE(init.exit_code == 0, init.describe());
  const std::string id = create_snapshot(repo, {{"full", t / "full"}}, pw);
  restore_section(repo, id, "nas/full", t / "restored", pw);
  auto d = compare_trees(t / "full", t / "restored");
  CHECK_MESSAGE(d.empty(), "the restore of an encrypted snapshot differs:\n" << join_diffs(d));
  RunResult verify = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data", "--password-file", (t / "pw").string()});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
  // Every repository file is private, keys/ included.
  CHECK(group_or_world_accessible(repo).empty());
  CHECK(fs::is_directory(repo / "keys"));
}

TEST_CASE("encryption: the repository's bytes hold no known plaintext, file name or plain SHA-256 of content") {
  TempDir t("enc-grep");
  const fs::path src = make_source(t / "src");
  const std::string small_sha = sha256_file(src / kOddName);
  const std::string marker_sha = sha256_file(src / "marker.bin");
  write_file(t / "pw", "grep passphrase\n", 0600);
  const std::vector<std::string> needles = {kMarker, kOddName, small_sha, raw_digest(small_sha), marker_sha, raw_digest(marker_sha)};

  // The same source in an unencrypted repository shows that the search finds what is there.
  const fs::path plain = t / "plain";
  init_repo(plain, small_chunks());
  create_snapshot(plain, {{"docs", src}});
  CHECK(!files_holding(plain, kMarker).empty());
  CHECK(!files_holding(plain, raw_digest(small_sha)).empty());

  const fs::path repo = t / "repo";
  std::vector<std::string> init = small_chunks();
  for (const char* a : {"--encrypt", "--password-file"}) init.push_back(a);
  init.push_back((t / "pw").string());
  init_repo(repo, init);
  const std::string id = create_snapshot(repo, {{"docs", src}}, {"--password-file", (t / "pw").string(), "--tag", "grep"});
  for (const std::string& needle : needles) {
    const auto found = files_holding(repo, needle);
    CHECK_MESSAGE(found.empty(), "the encrypted repository holds '" << escape(needle) << "' in " << found.front());
  }
  // Nor in any file name: only the ids of keyed hashes and ciphertexts.
  for (const auto& e : fs::recursive_directory_iterator(repo)) {
    const std::string name = e.path().filename().string();
    CHECK(name != small_sha);
    CHECK(name != marker_sha);
  }
  // And it restores.
  restore_section(repo, id, "nas/docs", t / "back", {"--password-file", (t / "pw").string()});
  auto d = compare_trees(src, t / "back");
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}

TEST_CASE("encryption: a wrong passphrase or none is one clear line, exit 2, and the repository is untouched") {
  TempDir t("enc-wrong");
  const fs::path src = make_source(t / "src");
  write_file(t / "pw", "the right one\n", 0600);
  write_file(t / "bad", "the wrong one\n", 0600);
  write_file(t / "kf", std::string(48, 'k'), 0600);
  const fs::path repo = t / "repo";
  init_repo(repo, {"--encrypt", "--password-file", (t / "pw").string()});
  create_snapshot(repo, {{"docs", src}}, {"--password-file", (t / "pw").string()});
  const auto before = fingerprint(repo);

  for (const auto& args : std::vector<std::vector<std::string>>{
           {"snapshot", "list", "--repo", repo.string(), "--password-file", (t / "bad").string()},
           {"snapshot", "create", "--repo", repo.string(), "--nas", "docs=" + src.string(), "--password-file", (t / "bad").string()},
           {"snapshot", "prune", "--repo", repo.string(), "--key-file", (t / "kf").string()}}) {
    RunResult r = drctl(args);
    CHECK_MESSAGE(r.exit_code == 2, r.describe());
    CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
    CHECK_MESSAGE(r.err.find(repo.string() + "/: wrong passphrase or key file (no key in keys/ opens with it)") != std::string::npos,
                  r.describe());
    CHECK(r.err.find("the wrong one") == std::string::npos);
  }
  // The environment's wrong passphrase is the same.
  RunResult env = drctl({"snapshot", "list", "--repo", repo.string()}, {{"DRCTL_PASSWORD_FILE", (t / "bad").string()}});
  CHECK_MESSAGE(env.exit_code == 2, env.describe());
  CHECK(env.err.find("wrong passphrase") != std::string::npos);
  // None at all (stdin is not a terminal): says how to give one.
  RunResult none = drctl({"snapshot", "list", "--repo", repo.string()});
  CHECK_MESSAGE(none.exit_code == 2, none.describe());
  CHECK(is_one_error_line(none.err));
  for (const char* word : {"encrypted", "--password-file", "DRCTL_PASSWORD_FILE"})
    CHECK_MESSAGE(none.err.find(word) != std::string::npos, none.describe());
  CHECK(fingerprint(repo) == before);
}

TEST_CASE("encryption: a flipped byte is reported as damage naming the object, never restored as wrong data") {
  TempDir t("enc-damage");
  const fs::path src = t / "src";
  fs::create_directories(src);
  Rng rng(51);
  write_random_file(src / "victim.bin", 700 * KiB, rng);
  write_file(t / "pw", "damage passphrase\n", 0600);
  const std::string pwf = (t / "pw").string();
  const fs::path repo = t / "repo";
  std::vector<std::string> init = small_chunks();
  for (const std::string a : {"--encrypt", "--password-file", pwf.c_str()}) init.push_back(a);
  init_repo(repo, init);
  const std::string id = create_snapshot(repo, {{"data", src}}, {"--password-file", pwf});
  auto verify = [&] { return drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data", "--password-file", pwf}); };
  REQUIRE_MESSAGE(verify().exit_code == 0, verify().describe());
  const fs::path to = t / "restored";
  auto restore = [&] {
    return drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--to", to.string(), "--password-file", pwf});
  };
  const std::string original = read_file(src / "victim.bin");
  // Whatever restore does with a damaged object, it never leaves victim.bin with other bytes of the full size.
  auto no_wrong_bytes = [&] {
    if (!fs::exists(to / "victim.bin")) return;
    const std::string got = read_file(to / "victim.bin");
    const bool right_or_partial = got == original || got.size() != original.size();
    CHECK_MESSAGE(right_or_partial, "restore wrote wrong bytes of the full size");
  };

  SUBCASE("in a blob of a pack") {
    const fs::path pack = largest_pack(repo);
    const SealedPack layout = sealed_pack(pack);
    flip_byte(pack, layout.header_start / 2);
    RunResult v = verify();
    CHECK_MESSAGE(v.exit_code == 1, v.describe());
    CHECK_MESSAGE(v.out.find("victim.bin") != std::string::npos, v.describe());
    CHECK_MESSAGE(v.out.find(pack.filename().string().substr(0, 8)) != std::string::npos, v.describe());
    RunResult r = restore();
    CHECK_MESSAGE(r.exit_code != 0, r.describe());
    CHECK(r.err.find("damaged") != std::string::npos);
    no_wrong_bytes();
  }
  SUBCASE("in a pack header") {
    const fs::path pack = largest_pack(repo);
    const SealedPack layout = sealed_pack(pack);
    flip_byte(pack, layout.header_start + layout.header_length / 2);
    RunResult v = verify();
    CHECK_MESSAGE(v.exit_code == 1, v.describe());
    CHECK_MESSAGE(v.out.find("pack " + pack.filename().string().substr(0, 8) + ": its header is damaged") != std::string::npos,
                  v.describe());
    // The blobs are intact and the index knows them: restore gives the right bytes.
    RunResult r = restore();
    CHECK_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(read_file(to / "victim.bin") == original);
    // rebuild-index cannot use the pack: it leaves it out rather than trusting it.
    RunResult rb = drctl({"snapshot", "rebuild-index", "--repo", repo.string(), "--password-file", pwf});
    CHECK_MESSAGE(rb.exit_code == 3, rb.describe());
  }
  SUBCASE("in an index file") {
    const fs::path index = only_file_in(repo / "index");
    flip_byte(index, fs::file_size(index) / 2);
    RunResult v = verify();
    CHECK_MESSAGE(v.exit_code == 1, v.describe());
    CHECK_MESSAGE(v.out.find("index file " + index.filename().string().substr(0, 8) + " is damaged") != std::string::npos,
                  v.describe());
    RunResult r = restore();
    CHECK_MESSAGE(r.exit_code != 0, r.describe());
    no_wrong_bytes();
  }
  SUBCASE("in a snapshot manifest") {
    const fs::path manifest = only_file_in(repo / "snapshots");
    flip_byte(manifest, fs::file_size(manifest) / 2);
    RunResult v = verify();
    CHECK_MESSAGE(v.exit_code == 1, v.describe());
    CHECK_MESSAGE(v.out.find("snapshot " + id.substr(0, 8)) != std::string::npos, v.describe());
    CHECK(v.out.find("damaged") != std::string::npos);
    RunResult r = restore();
    CHECK_MESSAGE(r.exit_code != 0, r.describe());
    CHECK_FALSE(fs::exists(to / "victim.bin"));
  }
}

TEST_CASE("encryption: key add, list, remove and passwd, and a removed passphrase no longer opens the repository") {
  TempDir t("enc-keys");
  const fs::path src = make_source(t / "src");
  write_file(t / "pw1", "first passphrase\n", 0600);
  write_file(t / "pw2", "second passphrase\n", 0600);
  write_file(t / "kf", std::string(32, '\x7f'), 0600);
  const fs::path repo = t / "repo";
  const std::string r = repo.string();
  auto with = [&](const char* flag, const std::string& file, std::vector<std::string> args) {
    args.insert(args.begin() + 1, {"--repo", r, flag, file});
    return drctl(args);
  };
  init_repo(repo, {"--encrypt", "--password-file", (t / "pw1").string()});
  const std::string id = create_snapshot(repo, {{"docs", src}}, {"--password-file", (t / "pw1").string()});

  RunResult list = with("--password-file", (t / "pw1").string(), {"snapshot", "key", "list"});
  REQUIRE_MESSAGE(list.exit_code == 0, list.describe());
  REQUIRE(list.out_lines().size() == 2);  // heading and one key, marked in use
  CHECK(list.out_lines()[1].rfind("* ", 0) == 0);
  CHECK(list.out.find("passphrase") != std::string::npos);
  CHECK(list.out.find("first passphrase") == std::string::npos);
  const std::string first = list.out_lines()[1].substr(2, 8);

  RunResult add = with("--password-file", (t / "pw1").string(), {"snapshot", "key", "add", "--new-password-file", (t / "pw2").string()});
  REQUIRE_MESSAGE(add.exit_code == 0, add.describe());
  CHECK(fs::exists(repo / "keys"));
  CHECK(std::distance(fs::directory_iterator(repo / "keys"), fs::directory_iterator()) == 2);
  CHECK(with("--password-file", (t / "pw2").string(), {"snapshot", "list"}).exit_code == 0);

  // The one in use goes only with --force; opened by the second, the first goes.
  RunResult in_use = with("--password-file", (t / "pw1").string(), {"snapshot", "key", "remove", first});
  CHECK_MESSAGE(in_use.exit_code == 2, in_use.describe());
  CHECK(is_one_error_line(in_use.err));
  RunResult remove = with("--password-file", (t / "pw2").string(), {"snapshot", "key", "remove", first});
  CHECK_MESSAGE(remove.exit_code == 0, remove.describe());
  RunResult old = with("--password-file", (t / "pw1").string(), {"snapshot", "list"});
  CHECK_MESSAGE(old.exit_code == 2, old.describe());
  CHECK(old.err.find("wrong passphrase or key file") != std::string::npos);

  // The last key is never removed, not even with --force.
  list = with("--password-file", (t / "pw2").string(), {"snapshot", "key", "list"});
  REQUIRE(list.out_lines().size() == 2);
  const std::string second = list.out_lines()[1].substr(2, 8);
  RunResult last = with("--password-file", (t / "pw2").string(), {"snapshot", "key", "remove", second, "--force"});
  CHECK_MESSAGE(last.exit_code == 2, last.describe());
  CHECK(last.err.find("only key") != std::string::npos);

  // passwd: the key file replaces the second passphrase.
  RunResult passwd = with("--password-file", (t / "pw2").string(), {"snapshot", "key", "passwd", "--new-key-file", (t / "kf").string()});
  REQUIRE_MESSAGE(passwd.exit_code == 0, passwd.describe());
  CHECK(with("--password-file", (t / "pw2").string(), {"snapshot", "list"}).exit_code == 2);
  list = with("--key-file", (t / "kf").string(), {"snapshot", "key", "list"});
  REQUIRE_MESSAGE(list.exit_code == 0, list.describe());
  REQUIRE(list.out_lines().size() == 2);
  CHECK(list.out.find("key file") != std::string::npos);
  // The data is still there, under the new key.
  restore_section(repo, id, "nas/docs", t / "back", {"--key-file", (t / "kf").string()});
  auto d = compare_trees(src, t / "back");
  CHECK_MESSAGE(d.empty(), join_diffs(d));
  CHECK(group_or_world_accessible(repo).empty());
}

TEST_CASE("encryption: a format 1 repository made before encryption opens, lists, restores and takes new snapshots") {
  TempDir t("enc-format1");
  // Made by drctl at main f94e1c3 (format 1): repo/ with one snapshot of src/ (tagged v1).
  RunResult x = run({"tar", "-xf", fs::absolute("../tests/fixtures/store/format1-repo.tar").string(), "-C", t.str()});
  REQUIRE_MESSAGE(x.exit_code == 0, x.describe());
  const fs::path repo = t / "repo";
  const std::string config = read_file(repo / "config");
  REQUIRE(config.find("\"version\": 1") != std::string::npos);
  const auto ids = list_ids(repo);
  REQUIRE(ids.size() == 1);
  restore_section(repo, ids[0], "nas/docs", t / "back");
  auto d = compare_trees(t / "src", t / "back", {.mtime = false, .dir_mtime = false, .ownership = false});
  CHECK_MESSAGE(d.empty(), join_diffs(d));
  write_file(t / "src/new.txt", "added after the format change\n");
  const std::string id2 = create_snapshot(repo, {{"docs", t / "src"}});
  CHECK(list_ids(repo).size() == 2);
  restore_section(repo, id2, "nas/docs", t / "back2");
  d = compare_trees(t / "src", t / "back2", {.mtime = false, .dir_mtime = false, .ownership = false});
  CHECK_MESSAGE(d.empty(), join_diffs(d));
  RunResult verify = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
  // Still format 1: an older drctl keeps reading it.
  CHECK(read_file(repo / "config") == config);
  CHECK_FALSE(fs::exists(repo / "keys"));
}

TEST_CASE("encryption: drctl run backs up over a real sshd into an encrypted repository with DRCTL_PASSWORD_FILE") {
  Sshd sshd;
  TempDir t("enc-ssh");
  make_full_tree(t / "tank/media", {.seed = 61, .sparse_size = 4 * MiB});
  write_file(t / "tank/media/marker.txt", std::string(kMarker) + "\n");
  write_file(t / "pw", "runbook passphrase\n", 0600);
  const std::map<std::string, std::string> env = {{"DRCTL_PASSWORD_FILE", (t / "pw").string()}};
  const fs::path repo = t / "repo";
  RunResult init = drctl({"snapshot", "init", "--repo", repo.string(), "--encrypt"}, env);
  REQUIRE_MESSAGE(init.exit_code == 0, init.describe());

  write_file(t / "site.yaml", "name: lab\nhosts:\n  nas:\n    address: 127.0.0.1\n    port: " + std::to_string(sshd.port()) +
                                  "\n    user: " + sshd.user() + "\n    identity_file: " + sshd.client_key().string() +
                                  "\n    known_hosts_file: " + sshd.known_hosts().string() + "\n    become: sudo\n");
  write_file(t / "backup.yaml", "site: site.yaml\nsteps:\n"
                                "  - id: backup\n    uses: backup.snapshot\n"
                                "    with:\n      repo: " + repo.string() + "\n      sources:\n"
                                "        - {section: nas/media, host: nas, path: \"" + (t / "tank/media").string() + "\"}\n");
  // Without the passphrase the run stops at the repository, saying how to give one.
  RunResult locked = drctl({"run", (t / "backup.yaml").string(), "--state", (t / "state-locked").string()});
  CHECK_MESSAGE(locked.exit_code != 0, locked.describe());
  CHECK_MESSAGE((locked.out + locked.err).find("DRCTL_PASSWORD_FILE") != std::string::npos, locked.describe());

  RunResult backup = drctl({"run", (t / "backup.yaml").string(), "--state", (t / "state-backup").string()}, env);
  REQUIRE_MESSAGE(backup.exit_code == 0, backup.describe());
  RunResult list = drctl({"snapshot", "list", "--repo", repo.string(), "--json"}, env);
  REQUIRE_MESSAGE(list.exit_code == 0, list.describe());
  const auto snapshots = nlohmann::json::parse(list.out);
  REQUIRE(snapshots.size() == 1);
  const std::string run_id = snapshots[0].at("id").get<std::string>();

  // `snapshot create` of the same directory over SSH (ssh://), into the same repository.
  const fs::path ssh_config = write_client_config(sshd, t / "ssh_config");
  RunResult create = drctl({"snapshot", "create", "--repo", repo.string(), "--password-file", (t / "pw").string(), "--nas",
                            "media=ssh://nas" + (t / "tank/media").string(), "--ssh-config", ssh_config.string()});
  REQUIRE_MESSAGE(create.exit_code == 0, create.describe());
  const std::string ssh_id = parse_snapshot_id(create.out);

  for (const std::string& id : {run_id, ssh_id}) {
    const fs::path to = t / ("restore-" + id.substr(0, 8));
    restore_section(repo, id, "nas/media", to, {"--password-file", (t / "pw").string()});
    auto d = compare_trees(t / "tank/media", to);
    CHECK_MESSAGE(d.empty(), "snapshot " << id << " differs from the NAS directory:\n" << join_diffs(d));
  }
  CHECK(files_holding(repo, kMarker).empty());
  CHECK(files_holding(repo, "marker.txt").empty());
}

TEST_CASE("encryption: forget --prune, rebuild-index and export/import work on an encrypted repository") {
  TempDir t("enc-maint");
  const fs::path src = make_source(t / "src");
  write_file(t / "pw", "maintenance passphrase\n", 0600);
  const std::vector<std::string> pw = {"--password-file", (t / "pw").string()};
  const fs::path repo = t / "repo";
  std::vector<std::string> init = small_chunks();
  init.insert(init.end(), {"--encrypt", pw[0], pw[1]});
  init_repo(repo, init);
  create_snapshot(repo, {{"docs", src}}, pw);
  fs::remove(src / "marker.bin");
  write_file(src / "later.txt", "written after the first snapshot\n");
  const Manifest expected = scan_tree(src);
  const std::string id2 = create_snapshot(repo, {{"docs", src}}, pw);
  auto snapshot = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"snapshot", "--repo", repo.string(), pw[0], pw[1]});
    return drctl(args);
  };

  RunResult forget = snapshot({"forget", "--keep-last", "1", "--prune"});
  REQUIRE_MESSAGE(forget.exit_code == 0, forget.describe());
  CHECK(forget.out.find("freed") != std::string::npos);
  // The index files go; the index made again from the sealed pack headers serves a restore.
  for (const auto& e : fs::directory_iterator(repo / "index")) fs::remove(e.path());
  RunResult rebuild = snapshot({"rebuild-index"});
  REQUIRE_MESSAGE(rebuild.exit_code == 0, rebuild.describe());
  RunResult verify = snapshot({"verify", "--read-data"});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
  restore_section(repo, id2, "nas/docs", t / "back", pw);
  auto d = compare_manifests(expected, scan_tree(t / "back"));
  CHECK_MESSAGE(d.empty(), join_diffs(d));

  // An export is plain tar; it imports back into its own repository, and a fresh repository
  // refuses it (its blobs are named by this repository's keyed ids) naming why.
  RunResult exp = snapshot({"export", id2, (t / "x.tar.zst").string()});
  REQUIRE_MESSAGE(exp.exit_code == 0, exp.describe());
  RunResult back = snapshot({"import", (t / "x.tar.zst").string()});
  CHECK_MESSAGE(back.exit_code == 0, back.describe());
  CHECK(back.out.find(id2) != std::string::npos);
  RunResult other = drctl({"snapshot", "--repo", (t / "fresh").string(), "import", (t / "x.tar.zst").string()});
  CHECK_MESSAGE(other.exit_code == 2, other.describe());
  CHECK(other.err.find("encrypted repository") != std::string::npos);
  CHECK_FALSE(fs::exists(t / "fresh" / "config"));
}

TEST_CASE("encryption: a runbook's backup.snapshot with encrypt: true makes its repository encrypted, and refuses a plain one") {
  // Before, a runbook's first backup always made a plain repository. The oracle is the
  // repository's bytes (no plaintext, keys/ there), what opening it without the passphrase says,
  // and a restore with it.
  TempDir t("enc-runbook");
  const fs::path src = make_source(t / "src");
  write_file(t / "pw", "runbook-made repository\n", 0600);
  const std::map<std::string, std::string> env = {{"DRCTL_PASSWORD_FILE", (t / "pw").string()}};
  const std::map<std::string, std::string> no_key = {{"DRCTL_PASSWORD_FILE", ""}, {"DRCTL_KEY_FILE", ""}};
  auto runbook = [&](const fs::path& repo) {
    const fs::path rb = t / ("backup-" + repo.filename().string() + ".yaml");
    write_file(rb, "name: nightly\nsteps:\n  - id: snap\n    uses: backup.snapshot\n    with:\n      encrypt: true\n      repo: " +
                       repo.string() + "\n      sources: [{section: nas/src, host: local, path: '" + src.string() + "'}]\n");
    return rb;
  };
  const fs::path repo = t / "repo";
  // No credential: the step fails saying how to give one, and makes nothing.
  RunResult none = drctl({"run", runbook(repo).string(), "--state", (t / "state-none").string()}, no_key);
  CHECK(none.exit_code == 1);
  CHECK_MESSAGE((none.out + none.err).find("encrypt: true, and no passphrase or key file") != std::string::npos, none.describe());
  CHECK_FALSE(fs::exists(repo / "config"));

  RunResult made = drctl({"run", runbook(repo).string(), "--state", (t / "state").string()}, env);
  REQUIRE_MESSAGE(made.exit_code == 0, made.describe());
  CHECK(!fs::is_empty(repo / "keys"));
  CHECK(files_holding(repo, kMarker).empty());
  CHECK(files_holding(repo, kOddName).empty());
  RunResult locked = drctl({"snapshot", "list", "--repo", repo.string()}, no_key);
  CHECK(locked.exit_code == 2);
  const auto ids = list_ids(repo, {"--password-file", (t / "pw").string()});
  REQUIRE(ids.size() == 1);
  restore_section(repo, ids[0], "nas/src", t / "back", {"--password-file", (t / "pw").string()});
  const auto d = compare_trees(src, t / "back");
  CHECK_MESSAGE(d.empty(), join_diffs(d));

  // A plain repository already there is refused, nothing stored in it: the step asked for encryption.
  const fs::path plain = t / "plain";
  init_repo(plain);
  RunResult refused = drctl({"run", runbook(plain).string(), "--state", (t / "state-plain").string()}, env);
  CHECK(refused.exit_code == 1);
  CHECK_MESSAGE((refused.out + refused.err).find("is not encrypted, and this step says encrypt: true") != std::string::npos,
                refused.describe());
  CHECK(list_ids(plain).empty());
  CHECK(fs::is_empty(plain / "snapshots"));
  CHECK(fs::is_empty(plain / "data"));
}
