// The snapshot commands operators of restic reach for (issue 21 §2-3): --exclude, --json, tag,
// stats, find, forget's reasons, plurals and column widths. Oracles: the files the test wrote,
// the repository's files on disk, the restored bytes.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using json = nlohmann::json;

namespace {

/// write_file, making the directories it is in first.
void put(const fs::path& p, std::string_view data, mode_t mode = 0644) {
  fs::create_directories(p.parent_path());
  write_file(p, data, mode);
}

RunResult snap(const fs::path& repo, std::vector<std::string> args) {
  args.insert(args.begin(), "snapshot");
  args.push_back("--repo");
  args.push_back(repo.string());
  return drctl(args);
}

/// Parses a --json run's stdout (all of it must be one document).
json parsed(const RunResult& r) {
  try {
    return json::parse(r.out);
  } catch (const json::exception& e) {
    FAIL("stdout is not one JSON document (" << e.what() << "):\n" << r.describe());
  }
  return {};
}

/// The manifest files in the repository's snapshots directory.
std::set<std::string> manifest_files(const fs::path& repo) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(repo / "snapshots")) out.insert(e.path().filename().string());
  return out;
}

std::size_t pack_count(const fs::path& repo) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo / "data"))
    if (e.is_regular_file()) n++;
  return n;
}

std::uint64_t pack_bytes(const fs::path& repo) {
  std::uint64_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo / "data"))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

}  // namespace

TEST_CASE("snapshot create --exclude: excluded entries are not restored, the rest is byte-identical, show names them") {
  TempDir t("exclude");
  const fs::path src = t / "src";
  make_random_tree(src, {.seed = 211, .files = 30, .min_size = 1 * KiB, .max_size = 64 * KiB, .dirs = 3});
  // What the patterns below leave out, written by hand: the oracle.
  const std::vector<std::string> excluded = {"a.scratch", "d01/b.scratch", "cache", "d02/keep/node_modules"};
  put(src / "a.scratch", "scratch\n");
  put(src / "d01/b.scratch", "scratch\n");
  put(src / "cache/big.bin", std::string(100000, 'c'));
  put(src / "cache/sub/more.bin", "more\n");
  put(src / "d02/keep/node_modules/x.js", "x\n");
  put(src / "d02/keep/kept.txt", "kept\n");
  put(src / "d02/cache/not-anchored.txt", "a cache below the root: /cache does not match it\n");
  put(t / "excludes", "# build output\n\n  **/node_modules  \n");
  Manifest expected = scan_tree(src);
  for (auto it = expected.begin(); it != expected.end();) {
    bool gone = false;
    for (const auto& e : excluded) gone |= it->first == e || it->first.starts_with(e + "/");
    it = gone ? expected.erase(it) : std::next(it);
  }
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", src}},
                                         {"--exclude", "*.scratch", "--exclude", "/cache", "--exclude-file", (t / "excludes").string()});
  auto d = restore_and_compare(repo, id, "nas/data", expected, t.path());
  CHECK_MESSAGE(d.empty(), join_diffs(d));

  RunResult show = snap(repo, {"show", id});
  expect_exit(show, 0);
  for (const auto& e : excluded) CHECK_MESSAGE(show.out.find("excluded nas/data/" + e + " ") != std::string::npos, e << "\n" << show.out);
  CHECK(show.out.find("(4 entries left out)") != std::string::npos);
  const json j = parsed(snap(repo, {"show", id, "--json"}));
  const json& sec = j["sections"][0];
  CHECK(sec["excludes"] == json({"*.scratch", "/cache", "**/node_modules"}));
  CHECK(sec["excluded"] == 4);
  std::set<std::string> named;
  for (const auto& e : sec["excluded_paths"]) named.insert(e["path"].get<std::string>());
  CHECK(named == std::set<std::string>(excluded.begin(), excluded.end()));
  // A snapshot without patterns records none (and its manifest has no such fields).
  const std::string plain = create_snapshot(repo, {{"data", src}});
  CHECK_FALSE(parsed(snap(repo, {"show", plain, "--json"}))["sections"][0].contains("excludes"));
}

TEST_CASE("snapshot create --exclude: a bad pattern or a missing or bad exclude file is exit 2 before any work") {
  TempDir t("exclude-bad");
  const fs::path src = t / "src";
  put(src / "f.txt", "data\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  put(t / "bad-excludes", "*.ok\n[unclosed\n");
  const std::vector<std::vector<std::string>> cases = {
      {"--exclude", "[abc"},
      {"--exclude", ""},
      {"--exclude", "!negated"},
      {"--exclude-file", (t / "missing").string()},
      {"--exclude-file", (t / "bad-excludes").string()},
  };
  for (const auto& extra : cases) {
    std::vector<std::string> args = {"create", "--nas", "data=" + src.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = snap(repo, args);
    CAPTURE(r.describe());
    expect_exit(r, 2);
    CHECK(is_one_error_line(r.err));
    CHECK(r.out.empty());
  }
  RunResult r = snap(repo, {"create", "--nas", "data=" + src.string(), "--exclude-file", (t / "bad-excludes").string()});
  CHECK(r.err.find("bad-excludes:2") != std::string::npos);
  // A bad pattern for an ssh:// source too, before the host is asked anything.
  r = snap(repo, {"create", "--nas", "far=ssh://127.0.0.1:1/srv", "--exclude", "[unclosed"});
  expect_exit(r, 2);
  CHECK(is_one_error_line(r.err));
  CHECK(manifest_files(repo).empty());
  CHECK(pack_count(repo) == 0);
}

TEST_CASE("--json on the snapshot commands: one document, as the repository holds it, with the plain run's exit code") {
  TempDir t("json");
  const fs::path src = t / "src";
  put(src / "photos/a.jpg", std::string(5000, 'a'));
  put(src / "docs/b.txt", "bee\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id1 = create_snapshot(repo, {{"data", src}}, {"--tag", "prod"});
  put(src / "docs/b.txt", "changed\n");
  put(src / "photos/c.jpg", std::string(7000, 'c'));
  fs::remove(src / "photos/a.jpg");
  const std::string id2 = create_snapshot(repo, {{"data", src}});

  SUBCASE("list and show") {
    const json list = parsed(expect_exit(snap(repo, {"list", "--json"}), 0));
    REQUIRE(list.size() == 2);
    CHECK(list[0]["id"] == id1);
    CHECK(list[0]["tags"] == json({"prod"}));
    CHECK(manifest_files(repo) == std::set<std::string>{id1, id2});
    const json show = parsed(expect_exit(snap(repo, {"show", id2, "--json"}), 0));
    CHECK(show["sections"][0]["name"] == "nas/data");
    CHECK(show["sections"][0]["files"] == 2);
  }
  SUBCASE("ls: every entry of the source, with its size and type") {
    const json ls = parsed(expect_exit(snap(repo, {"ls", id2, "--json"}), 0));
    const Manifest m = scan_tree(src);
    std::map<std::string, json> by_path;
    for (const auto& e : ls) by_path[e["path"].get<std::string>()] = e;
    CHECK(by_path.size() == m.size() - 1);  // the scan has the root "." too
    for (const auto& [path, entry] : m) {
      if (path == ".") continue;
      REQUIRE_MESSAGE(by_path.count("nas/data/" + path), path);
      const json& e = by_path["nas/data/" + path];
      CHECK(e["type"] == (entry.type == 'd' ? "dir" : "file"));
      if (entry.type == 'f') CHECK(e["size"] == entry.size);
      CHECK(e["mode"] == (entry.mode & 07777));
    }
    RunResult missing = snap(repo, {"ls", id2, "nas/data/nope", "--json"});
    expect_exit(missing, 2);
    CHECK(missing.out.empty());
  }
  SUBCASE("diff: what the test changed") {
    const json d = parsed(expect_exit(snap(repo, {"diff", id1, id2, "--json"}), 0));
    std::set<std::pair<std::string, std::string>> got;
    for (const auto& c : d["changes"]) got.insert({c["change"].get<std::string>(), c["path"].get<std::string>()});
    CHECK(got.count({"added", "nas/data/photos/c.jpg"}));
    CHECK(got.count({"removed", "nas/data/photos/a.jpg"}));
    CHECK(got.count({"modified", "nas/data/docs/b.txt"}));
    CHECK(d["added"] == 1);
    CHECK(d["removed"] == 1);
  }
  SUBCASE("stats and find") {
    const json st = parsed(expect_exit(snap(repo, {"stats", "--json"}), 0));
    CHECK(st["snapshots"] == 2);
    CHECK(st["files"] == 4);
    CHECK(st["logical_bytes"] == 5000 + 4 + 8 + 7000);
    CHECK(st["packs"] == pack_count(repo));
    CHECK(st["pack_bytes"] == pack_bytes(repo));
    const json f = parsed(expect_exit(snap(repo, {"find", "*.jpg", "--json"}), 0));
    REQUIRE(f.size() == 2);
    CHECK(f[0]["snapshot"] == id1);
    CHECK(f[0]["matches"].size() == 1);
    CHECK(f[0]["matches"][0]["path"] == "nas/data/photos/a.jpg");
    CHECK(f[0]["matches"][0]["size"] == 5000);
    CHECK(f[1]["matches"][0]["path"] == "nas/data/photos/c.jpg");
  }
  SUBCASE("forget and prune") {
    const json plan = parsed(expect_exit(snap(repo, {"forget", "--keep-last", "1", "--dry-run", "--json"}), 0));
    CHECK(plan["keep"][0]["id"] == id2);
    CHECK(plan["keep"][0]["reasons"] == json({"last snapshot"}));
    CHECK(plan["remove"][0]["id"] == id1);
    CHECK(manifest_files(repo).size() == 2);  // a dry run
    const json done = parsed(expect_exit(snap(repo, {"forget", "--keep-last", "1", "--prune", "--json"}), 0));
    CHECK(done["prune"]["packs_deleted"].get<int>() + done["prune"]["packs_rewritten"].get<int>() >= 1);
    CHECK(manifest_files(repo) == std::set<std::string>{id2});
    const json again = parsed(expect_exit(snap(repo, {"prune", "--json"}), 0));
    CHECK(again["packs_deleted"] == 0);
    CHECK(again["bytes_freed"] == 0);
  }
  SUBCASE("verify: the same exit code as the plain run, whole and damaged") {
    const json ok = parsed(expect_exit(snap(repo, {"verify", "--read-data", "--json"}), 0));
    CHECK(ok["ok"] == true);
    CHECK(ok["packs_read"] == pack_count(repo));
    fs::path victim;
    for (const auto& e : fs::recursive_directory_iterator(repo / "data"))
      if (e.is_regular_file() && (victim.empty() || e.file_size() > fs::file_size(victim))) victim = e.path();
    flip_byte(victim, 20);
    const RunResult plain = snap(repo, {"verify", "--read-data"});
    const RunResult as_json = snap(repo, {"verify", "--read-data", "--json"});
    CHECK(plain.exit_code == 1);
    CHECK(as_json.exit_code == plain.exit_code);
    const json bad = parsed(as_json);
    CHECK(bad["ok"] == false);
    CHECK_FALSE(bad["errors"].empty());
  }
  SUBCASE("errors stay one line on stderr, with nothing on stdout") {
    for (const auto& args : std::vector<std::vector<std::string>>{{"show", "ffffffff", "--json"},
                                                                  {"forget", "--keep-within", "3w", "--json"},
                                                                  {"stats", "--mode", "fast", "--json"},
                                                                  {"find", "[x", "--json"}}) {
      RunResult r = snap(repo, args);
      CAPTURE(r.describe());
      expect_exit(r, 2);
      CHECK(r.out.empty());
      CHECK(is_one_error_line(r.err));
    }
  }
}

TEST_CASE("snapshot tag: a new manifest with the new tags replaces the old one, time and sections kept") {
  TempDir t("tag");
  const fs::path src = t / "src";
  put(src / "f.txt", "data\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", src}}, {"--tag", "nightly"});
  const json before = parsed(snap(repo, {"show", id, "--json"}));

  RunResult r = expect_exit(snap(repo, {"tag", id.substr(0, 8), "--add", "prod", "--add", "db"}), 0);
  const std::set<std::string> files = manifest_files(repo);
  REQUIRE(files.size() == 1);
  const std::string id2 = *files.begin();
  CHECK(id2 != id);
  CHECK(r.out.find("snapshot " + id.substr(0, 8) + " is now " + id2.substr(0, 8) + " (tags nightly, prod, db)") != std::string::npos);
  CHECK(r.out.find("changed the tags of 1 snapshot\n") != std::string::npos);
  // The manifest on disk (unencrypted: its file name is the SHA-256 of its bytes).
  const std::string text = read_file(repo / "snapshots" / id2);
  CHECK(oracle_sha256_hex(text) == id2);
  const json after = json::parse(text);
  CHECK(after["tags"] == json({"nightly", "prod", "db"}));
  CHECK(after["time"] == before["time"]);
  CHECK(after["original"] == id);
  CHECK(after["sections"][0]["tree"] == before["sections"][0]["tree"]);

  expect_exit(snap(repo, {"tag", "latest", "--remove", "nightly"}), 0);
  const std::string id3 = *manifest_files(repo).begin();
  CHECK(json::parse(read_file(repo / "snapshots" / id3))["tags"] == json({"prod", "db"}));
  CHECK(json::parse(read_file(repo / "snapshots" / id3))["original"] == id);  // the first of the line

  r = expect_exit(snap(repo, {"tag", "latest", "--set", "prod", "--set", "db"}), 0);
  CHECK(manifest_files(repo) == std::set<std::string>{id3});  // the same tags: nothing rewritten
  CHECK(r.out.find("unchanged") != std::string::npos);
  expect_exit(snap(repo, {"tag", "latest", "--set", ""}), 0);
  CHECK(parsed(snap(repo, {"show", "latest", "--json"}))["tags"].empty());
  auto d = restore_and_compare(repo, "latest", "nas/data", scan_tree(src), t.path());
  CHECK_MESSAGE(d.empty(), join_diffs(d));

  for (const auto& args : std::vector<std::vector<std::string>>{
           {"tag", "latest"}, {"tag", "latest", "--set", "a", "--add", "b"}, {"tag", "latest", "--add", "a,b"}, {"tag", "nope", "--add", "x"}}) {
    RunResult bad = snap(repo, args);
    CAPTURE(bad.describe());
    expect_exit(bad, 2);
    CHECK(is_one_error_line(bad.err));
  }
}

TEST_CASE("snapshot stats: what the test wrote, and two snapshots of the same data stored once") {
  TempDir t("stats");
  const fs::path src = t / "src";
  Rng rng(5);
  fs::create_directories(src / "two");
  write_random_file(src / "one.bin", 300 * KiB, rng);
  write_random_file(src / "two/two.bin", 200 * KiB, rng);
  const fs::path repo = t / "repo";
  init_repo(repo);
  create_snapshot(repo, {{"data", src}});
  create_snapshot(repo, {{"data", src}});
  const json st = parsed(expect_exit(snap(repo, {"stats", "--json"}), 0));
  CHECK(st["snapshots"] == 2);
  CHECK(st["files"] == 4);
  CHECK(st["logical_bytes"] == 2 * 500 * KiB);
  // Random data does not compress: the file data is stored once, at about its size.
  CHECK(st["data_raw_bytes"] == 500 * KiB);
  CHECK(st["stored_bytes"].get<std::uint64_t>() <= pack_bytes(repo));
  CHECK(st["dedup_ratio"].get<double>() == doctest::Approx(2.0));
  RunResult plain = expect_exit(snap(repo, {"stats"}), 0);
  CHECK(plain.out.find("snapshots      2\n") != std::string::npos);
  CHECK(plain.out.find("dedup ratio    2.00") != std::string::npos);
  const json one = parsed(expect_exit(snap(repo, {"stats", "latest", "--mode", "restore-size", "--json"}), 0));
  CHECK(one["snapshots"] == 1);
  CHECK(one["logical_bytes"] == 500 * KiB);
  CHECK_FALSE(one.contains("dedup_ratio"));
}

TEST_CASE("snapshot find: the snapshots that hold a matching path, with size and mtime") {
  TempDir t("find");
  const fs::path src = t / "src";
  put(src / "photos/2026/a.jpg", std::string(1234, 'a'));
  set_mtime(src / "photos/2026/a.jpg", 1767225600, 0);  // 2026-01-01 00:00 UTC
  put(src / "notes.txt", "n\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id1 = create_snapshot(repo, {{"data", src}});
  fs::remove_all(src / "photos");
  create_snapshot(repo, {{"data", src}});
  RunResult r = expect_exit(snap(repo, {"find", "/nas/data/photos/**/*.jpg"}), 0);
  CHECK(r.out.find("snapshot " + id1.substr(0, 8)) != std::string::npos);
  CHECK(r.out.find(" 1234 2026-01-01 00:00 nas/data/photos/2026/a.jpg\n") != std::string::npos);
  CHECK(r.out.find("1 match in 1 snapshot\n") != std::string::npos);
  r = expect_exit(snap(repo, {"find", "*.txt"}), 0);
  CHECK(r.out.find("2 matches in 2 snapshots\n") != std::string::npos);
  r = expect_exit(snap(repo, {"find", "nothing-like-this"}), 0);
  CHECK(r.out.find("0 matches in 0 snapshots\n") != std::string::npos);
}

TEST_CASE("snapshot list: 1 snapshot, and columns that hold a long host name") {
  TempDir t("list-columns");
  const fs::path src = t / "src";
  put(src / "f.txt", "data\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", src}}, {"--tag", "a-rather-long-tag-that-comes-last"});
  RunResult r = expect_exit(snap(repo, {"list"}), 0);
  CHECK(r.out.find("\n1 snapshot\n") != std::string::npos);
  // A second manifest as another machine with a long name would have written it (unencrypted:
  // named by the SHA-256 of its bytes, private like drctl's files).
  json m = json::parse(read_file(repo / "snapshots" / id));
  m["host"] = "backup-host-with-a-very-long-name.example.internal";
  m["time"] = "2026-01-01T00:00:00.000000000Z";
  const std::string text = m.dump(1) + "\n";
  put(repo / "snapshots" / oracle_sha256_hex(text), text, 0600);
  r = expect_exit(snap(repo, {"list"}), 0);
  std::vector<std::string> lines = r.out_lines();
  REQUIRE(lines.size() == 4);
  CHECK(lines[3] == "2 snapshots");
  // Each column starts where its heading does, in every row.
  const std::size_t added = lines[0].find("ADDED"), sections = lines[0].find("SECTIONS");
  for (std::size_t i = 1; i <= 2; ++i) {
    CAPTURE(lines[i]);
    CHECK(lines[i].find("nas/data") == sections);
    CHECK(lines[i][added - 1] == ' ');
    CHECK(lines[i][added - 2] == ' ');
    CHECK(lines[i][added] != ' ');
  }
}

TEST_CASE("forget says why each snapshot is kept, with --keep-tag and --keep-within") {
  TempDir t("forget-reasons");
  const fs::path src = t / "src";
  put(src / "f.txt", "data\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string a = create_snapshot(repo, {{"data", src}}, {"--tag", "prod"});
  const std::string b = create_snapshot(repo, {{"data", src}});
  const std::string c = create_snapshot(repo, {{"data", src}});
  RunResult r = expect_exit(snap(repo, {"forget", "--keep-last", "1", "--keep-tag", "prod"}), 0);
  CHECK(r.out.find("keep   " + a.substr(0, 8)) != std::string::npos);
  CHECK(r.out.find("tag prod\n") != std::string::npos);
  CHECK(r.out.find("last snapshot\n") != std::string::npos);
  CHECK(r.out.find("remove " + b.substr(0, 8)) != std::string::npos);
  CHECK(r.out.find("removed 1 snapshot, kept 2 snapshots\n") != std::string::npos);
  CHECK(manifest_files(repo) == std::set<std::string>{a, c});
  // The three were made seconds apart: all are within a day of the newest.
  r = expect_exit(snap(repo, {"forget", "--keep-within", "1d", "--json"}), 0);
  CHECK(parsed(r)["keep"].size() == 2);
  CHECK(parsed(r)["keep"][0]["reasons"] == json({"within 1d"}));
  for (const char* bad : {"30", "1w", "0d", "1m1y"}) {
    RunResult e = snap(repo, {"forget", "--keep-within", bad});
    CAPTURE(e.describe());
    expect_exit(e, 2);
    CHECK(is_one_error_line(e.err));
  }
  expect_exit(snap(repo, {"forget", "--keep-tag", "a,,b"}), 2);
  CHECK(manifest_files(repo) == std::set<std::string>{a, c});
}
