// Acceptance 1 (create → restore is identical, every file kind) and the restore options,
// the query commands (list/show/ls/diff), snapshot ids, and repository selection.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using json = nlohmann::json;

namespace {

bool has_line(const std::vector<std::string>& lines, const std::string& prefix, const std::string& suffix) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) {
    return l.rfind(prefix, 0) == 0 && l.size() >= suffix.size() &&
           l.compare(l.size() - suffix.size(), suffix.size(), suffix) == 0;
  });
}

bool mentions(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(text) != std::string::npos; });
}

// Shortest prefix (at least 4 hex digits) of `id` that no other id shares.
std::string unique_prefix(const std::string& id, const std::vector<std::string>& all) {
  for (std::size_t n = 4; n <= id.size(); ++n) {
    std::string p = id.substr(0, n);
    bool unique = std::none_of(all.begin(), all.end(), [&](const std::string& o) { return o != id && o.rfind(p, 0) == 0; });
    if (unique) return p;
  }
  return id;
}

}  // namespace

TEST_CASE("acceptance 1: a tree with every file kind restores identical in content and metadata") {
  TempDir t("roundtrip");
  TreeInfo full = make_full_tree(t / "full", {.seed = 11});
  // Give the source root distinctive metadata too.
  REQUIRE(::lsetxattr((t / "full").c_str(), "user.root", "top", 3, 0) == 0);
  REQUIRE(::lchown((t / "full").c_str(), 1000, 1001) == 0);
  REQUIRE(::chmod((t / "full").c_str(), 0750) == 0);
  set_mtime(t / "full", 1600000000, 123456789);
  make_random_tree(t / "small", {.seed = 12, .files = 5, .min_size = 1, .max_size = 100000, .dirs = 2});

  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  RunResult r = drctl({"snapshot", "create", "--repo", repo.string(), "--nas", "full=" + (t / "full").string(),
                       "--nas", "small=" + (t / "small").string(), "--tag", "first"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  const std::string id = parse_snapshot_id(r.out);

  SUBCASE("without --section every section lands in DIR/<section>") {
    const fs::path to = t / "restore-all";
    RunResult rr = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--to", to.string()});
    REQUIRE_MESSAGE(rr.exit_code == 0, rr.describe());
    auto d = compare_trees(t / "full", to / "nas/full");
    CHECK_MESSAGE(d.empty(), "nas/full differs from its source:\n" << join_diffs(d));
    d = compare_trees(t / "small", to / "nas/small");
    CHECK_MESSAGE(d.empty(), "nas/small differs from its source:\n" << join_diffs(d));
    // The restored sparse file must be sparse.
    Entry sparse = scan_entry(to / "nas/full" / full.sparse_file, false);
    CHECK_MESSAGE(sparse.allocated < 8 * MiB, "restored sparse file allocates " << sparse.allocated << " bytes");
  }

  SUBCASE("with --section the section's contents land directly in DIR") {
    const fs::path to = t / "restore-section";
    restore_section(repo, id, "nas/full", to);
    auto d = compare_trees(t / "full", to);
    CHECK_MESSAGE(d.empty(), "restored section differs from its source:\n" << join_diffs(d));
    CHECK_FALSE(fs::exists(to / "nas"));
  }

  SUBCASE("repository files are private (0600 files, 0700 directories)") {
    auto open = group_or_world_accessible(repo);
    CHECK_MESSAGE(open.empty(), "group/other accessible repository entries:\n" << join_diffs(open));
    for (const char* sub : {"config", "data", "index", "snapshots"})
      CHECK_MESSAGE(fs::exists(repo / sub), "repository has no " << sub);
  }
}

TEST_CASE("the section's root directory keeps its metadata: mode, owner, mtime, xattrs") {
  TempDir t("rootmeta");
  const fs::path src = t / "src";
  fs::create_directories(src / "sub");
  write_file(src / "f", "f\n");
  REQUIRE(::lsetxattr(src.c_str(), "user.root", "top", 3, 0) == 0);
  REQUIRE(::lchown(src.c_str(), 1000, 1001) == 0);
  REQUIRE(::chmod(src.c_str(), 02750) == 0);
  set_mtime(src, 1600000000, 123456789);
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", src}});
  CompareOptions with_root;
  with_root.root = true;

  const fs::path to = t / "restore-section";
  restore_section(repo, id, "nas/data", to);
  auto d = compare_trees(src, to, with_root);
  CHECK_MESSAGE(d.empty(), "--section restore into a new directory:\n" << join_diffs(d));

  const fs::path all = t / "restore-all";
  RunResult r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--to", all.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  d = compare_trees(src, all / "nas/data", with_root);
  CHECK_MESSAGE(d.empty(), "restore of all sections:\n" << join_diffs(d));
}

TEST_CASE("a second create picks up metadata-only changes, renames, new hard links and type changes") {
  TempDir t("incremental");
  const fs::path src = t / "src";
  make_full_tree(src, {.seed = 31, .sparse = false});
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const std::string id1 = create_snapshot(repo, {{"data", src}});
  const Manifest m1 = scan_tree(src);

  // Change metadata only (ctime changes, size and mtime do not).
  auto keep_mtime = [&](const fs::path& p, auto&& change) {
    struct stat st = lstat_or_throw(p);
    change();
    set_mtime(p, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  };
  keep_mtime(src / "plain/64k.bin", [&] { REQUIRE(::chmod((src / "plain/64k.bin").c_str(), 0604) == 0); });
  keep_mtime(src / "plain/4096.bin", [&] { REQUIRE(::lchown((src / "plain/4096.bin").c_str(), 4242, 4343) == 0); });
  keep_mtime(src / "plain/4097.bin", [&] { REQUIRE(::lsetxattr((src / "plain/4097.bin").c_str(), "user.new", "v", 1, 0) == 0); });
  keep_mtime(src / "xattr/file-with-xattrs", [&] { REQUIRE(::lremovexattr((src / "xattr/file-with-xattrs").c_str(), "user.text") == 0); });
  // Renames, new hard links, broken hard links, type changes.
  fs::rename(src / "plain/text-small.txt", src / "plain/renamed.txt");
  fs::remove(src / "plain/one-byte");
  REQUIRE(::link((src / "plain/1m+7.bin").c_str(), (src / "plain/one-byte").c_str()) == 0);
  fs::remove(src / "hard/sub/b");
  write_file(src / "hard/sub/b", read_file(src / "hard/a"));
  fs::remove(src / "links/sym-rel");
  fs::create_directory(src / "links/sym-rel");
  write_file(src / "links/sym-rel/now-a-dir", "x\n");
  fs::remove_all(src / "empty-dirs/e1");
  REQUIRE(::symlink("somewhere", (src / "empty-dirs/e1").c_str()) == 0);
  fs::remove(src / "special/fifo");
  write_file(src / "special/fifo", "a regular file now\n");
  // Same size, same mtime, new content.
  keep_mtime(src / "plain/4095.bin", [&] { Rng rng(5); write_random_file(src / "plain/4095.bin", 4095, rng); });

  const Manifest m2 = scan_tree(src);
  const std::string id2 = create_snapshot(repo, {{"data", src}});
  auto d = restore_and_compare(repo, id2, "nas/data", m2, t.path());
  CHECK_MESSAGE(d.empty(), "second snapshot:\n" << join_diffs(d));
  d = restore_and_compare(repo, id1, "nas/data", m1, t.path());
  CHECK_MESSAGE(d.empty(), "first snapshot after the second was made:\n" << join_diffs(d));
}

TEST_CASE("restore --force replaces what is in the way and never writes through symlinks in the target") {
  TempDir t("force");
  const fs::path src = t / "src";
  fs::create_directories(src / "plain");
  fs::create_directories(src / "dir-was-file/sub");
  fs::create_directories(src / "empty-dir");
  write_file(src / "plain/f", "data\n");
  write_file(src / "file-was-dir", "file\n");
  write_file(src / "dir-was-file/sub/g", "g\n");
  REQUIRE(::symlink("target", (src / "link-was-file").c_str()) == 0);
  write_file(src / "file-was-link", "regular\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", src}});

  const fs::path outside = t / "outside";
  fs::create_directories(outside);
  write_file(outside / "precious", "must survive\n");
  const fs::path to = t / "to";
  fs::create_directories(to / "file-was-dir/child");
  write_file(to / "dir-was-file", "in the way\n");
  write_file(to / "empty-dir", "in the way\n");
  write_file(to / "link-was-file", "in the way\n");
  REQUIRE(::symlink(outside.c_str(), (to / "plain").c_str()) == 0);
  REQUIRE(::symlink((outside / "precious").c_str(), (to / "file-was-link").c_str()) == 0);

  RunResult r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--to", to.string(), "--force"});
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  CHECK_MESSAGE(!fs::exists(outside / "f"), "restore wrote through a symlink in the target into " << outside);
  CHECK_MESSAGE(read_file(outside / "precious") == "must survive\n", "restore overwrote a file through a symlink");
  auto d = compare_trees(src, to);
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}

TEST_CASE("restore: --include, non-empty target, --force") {
  TempDir t("restore");
  make_full_tree(t / "src", {.seed = 21, .sparse = false});
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const std::string id = create_snapshot(repo, {{"data", t / "src"}});
  Manifest src = scan_tree(t / "src");

  SUBCASE("--include restores only the named files and subtrees") {
    const fs::path to = t / "inc";
    RunResult r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--include",
                         "plain/64k.bin", "--include", "names/with space.txt", "--include", "hard", "--to", to.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    for (const char* f : {"plain/64k.bin", "names/with space.txt"}) {
      REQUIRE(fs::exists(to / f));
      auto d = compare_entries(f, src.at(f), scan_entry(to / f));
      CHECK_MESSAGE(d.empty(), join_diffs(d));
    }
    // A directory include brings its whole subtree, hard links within it included.
    auto d = compare_trees(t / "src/hard", to / "hard");
    CHECK_MESSAGE(d.empty(), join_diffs(d));
    CHECK_FALSE(fs::exists(to / "plain/4096.bin"));
    CHECK_FALSE(fs::exists(to / "names/tab\tname"));
    CHECK_FALSE(fs::exists(to / "many"));
    CHECK_FALSE(fs::exists(to / "hard-other"));
  }

  SUBCASE("--include of one name of a hard-linked file whose other names are not included") {
    const fs::path to = t / "inc-hl";
    RunResult r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--include",
                         "hard-other/c", "--include", "hard/sub/b", "--to", to.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    CHECK_FALSE(fs::exists(to / "hard/a"));
    for (const char* f : {"hard-other/c", "hard/sub/b"}) {
      REQUIRE(fs::exists(to / f));
      Entry e = src.at(f);
      e.hardlinks.clear();
      Entry a = scan_entry(to / f);
      auto d = compare_entries(f, e, a);
      CHECK_MESSAGE(d.empty(), join_diffs(d));
    }
    CHECK(lstat_or_throw(to / "hard-other/c").st_ino == lstat_or_throw(to / "hard/sub/b").st_ino);
  }

  SUBCASE("--include without --section names the section") {
    const fs::path to = t / "inc2";
    RunResult r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--include", "nas/data/plain/64k.bin",
                         "--to", to.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    REQUIRE(fs::exists(to / "nas/data/plain/64k.bin"));
    auto d = compare_entries("plain/64k.bin", src.at("plain/64k.bin"), scan_entry(to / "nas/data/plain/64k.bin"));
    CHECK_MESSAGE(d.empty(), join_diffs(d));
    CHECK_FALSE(fs::exists(to / "nas/data/plain/4096.bin"));
  }

  SUBCASE("a non-empty target is refused without --force, and overwritten with it") {
    const fs::path to = t / "nonempty";
    fs::create_directories(to / "plain");
    write_file(to / "unrelated.txt", "keep me?\n");
    write_file(to / "plain/64k.bin", "garbage in the way\n");
    Manifest before = scan_tree(to);
    RunResult r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--to", to.string()});
    CHECK_MESSAGE(r.exit_code == 2, r.describe());
    CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
    auto d = compare_manifests(before, scan_tree(to));
    CHECK_MESSAGE(d.empty(), "a refused restore changed the target:\n" << join_diffs(d));

    r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--to", to.string(), "--force"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    fs::remove(to / "unrelated.txt");  // whether it survives is not specified
    d = compare_trees(t / "src", to);
    CHECK_MESSAGE(d.empty(), "restore --force into a non-empty dir:\n" << join_diffs(d));
  }

  SUBCASE("an empty existing target is fine without --force") {
    const fs::path to = t / "empty-target";
    fs::create_directory(to);
    RunResult r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", "nas/data", "--to", to.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    auto d = compare_trees(t / "src", to);
    CHECK_MESSAGE(d.empty(), join_diffs(d));
  }
}

TEST_CASE("list, show, ls, diff and snapshot ids") {
  TempDir t("query");
  const fs::path src = t / "src";
  fs::create_directories(src / "sub");
  write_file(src / "kept.txt", "kept\n");
  write_file(src / "changed.txt", "version 1\n");
  write_file(src / "removed.txt", "gone soon\n");
  write_file(src / "sub/inner.txt", "inner\n");
  write_file(src / "meta-only.txt", "same content\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id1 = create_snapshot(repo, {{"data", src}}, {"--tag", "daily", "--tag", "first"});
  write_file(src / "changed.txt", "version 2, longer\n");
  fs::remove(src / "removed.txt");
  write_file(src / "added.txt", "new\n");
  REQUIRE(::chmod((src / "meta-only.txt").c_str(), 0600) == 0);
  const std::string id2 = create_snapshot(repo, {{"data", src}});
  REQUIRE(id1 != id2);

  SUBCASE("list --json") {
    RunResult r = drctl({"snapshot", "list", "--repo", repo.string(), "--json"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    json j = json::parse(r.out);
    REQUIRE(j.is_array());
    REQUIRE(j.size() == 2);
    CHECK(j[0]["id"] == id1);
    CHECK(j[1]["id"] == id2);
    CHECK(j[0]["tags"] == json::array({"daily", "first"}));
    CHECK(j[0]["time"].is_string());
    REQUIRE(j[0]["sections"].is_array());
    REQUIRE(j[0]["sections"].size() == 1);
    CHECK(j[0]["sections"][0]["name"] == "nas/data");
    CHECK(j[0]["sections"][0]["source"].get<std::string>().find(src.filename().string()) != std::string::npos);
    CHECK(j[0]["sections"][0]["tree"].is_string());
    CHECK(j[0]["sections"][0]["tree"] != j[1]["sections"][0]["tree"]);
    // Plain list mentions both (short) ids.
    r = drctl({"snapshot", "list", "--repo", repo.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(r.out.find(id1.substr(0, 8)) != std::string::npos);
    CHECK(r.out.find(id2.substr(0, 8)) != std::string::npos);
  }

  SUBCASE("show: full id, unique prefix, latest") {
    auto all = std::vector<std::string>{id1, id2};
    for (const auto& [ref, want] : std::vector<std::pair<std::string, std::string>>{
             {id1, id1}, {unique_prefix(id1, all), id1}, {unique_prefix(id2, all), id2}, {"latest", id2}}) {
      RunResult r = drctl({"snapshot", "show", ref, "--repo", repo.string(), "--json"});
      REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
      CHECK_MESSAGE(json::parse(r.out)["id"] == want, "show " << ref);
    }
    RunResult r = drctl({"snapshot", "show", id2, "--repo", repo.string()});
    CHECK_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(r.out.find(id2) != std::string::npos);
  }

  SUBCASE("ls lists one entry per line") {
    RunResult r = drctl({"snapshot", "ls", id1, "--repo", repo.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    auto lines = r.out_lines();
    for (const char* name : {"kept.txt", "changed.txt", "removed.txt", "sub", "sub/inner.txt"})
      CHECK_MESSAGE(has_line(lines, "", std::string("/") + name), "ls has no line ending in /" << name << ":\n" << r.out);
    CHECK_FALSE(mentions(lines, "added.txt"));

    r = drctl({"snapshot", "ls", id1, "nas/data/sub", "--repo", repo.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    lines = r.out_lines();
    CHECK_MESSAGE(has_line(lines, "", "inner.txt"), r.out);
    CHECK_FALSE(mentions(lines, "kept.txt"));
  }

  SUBCASE("diff shows added, removed and modified paths") {
    RunResult r = drctl({"snapshot", "diff", id1, id2, "--repo", repo.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    auto lines = r.out_lines();
    CHECK_MESSAGE(has_line(lines, "+ ", "added.txt"), r.out);
    CHECK_MESSAGE(has_line(lines, "- ", "removed.txt"), r.out);
    CHECK_MESSAGE(has_line(lines, "M ", "changed.txt"), r.out);
    CHECK_MESSAGE(has_line(lines, "M ", "meta-only.txt"), r.out);
    CHECK_MESSAGE(!mentions(lines, "kept.txt"), r.out);
    CHECK_MESSAGE(!mentions(lines, "inner.txt"), r.out);
  }
}

TEST_CASE("repository selection: --repo after the subcommand, DRCTL_REPO, ./snapshots") {
  TempDir t("select");
  const fs::path src = t / "src";
  fs::create_directories(src);
  write_file(src / "f", "data\n");

  // $DRCTL_REPO
  const fs::path env_repo = t / "env-repo";
  RunResult r = drctl({"snapshot", "init"}, {{"DRCTL_REPO", env_repo.string()}});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(fs::exists(env_repo / "config"));
  r = drctl({"snapshot", "create", "--nas", "d=" + src.string()}, {{"DRCTL_REPO", env_repo.string()}});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  const std::string id = parse_snapshot_id(r.out);
  CHECK(list_ids(env_repo) == std::vector<std::string>{id});

  // --repo before the sub-subcommand, and --repo winning over $DRCTL_REPO.
  r = drctl({"snapshot", "--repo", env_repo.string(), "list", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(json::parse(r.out).size() == 1);
  const fs::path other = t / "other";
  init_repo(other);
  r = drctl({"snapshot", "list", "--json", "--repo", other.string()}, {{"DRCTL_REPO", env_repo.string()}});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(json::parse(r.out).size() == 0);

  // ./snapshots
  const fs::path cwd = t / "cwd";
  fs::create_directories(cwd);
  RunOptions o;
  o.cwd = cwd.string();
  r = drctl_opts({"snapshot", "init"}, o);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(fs::exists(cwd / "snapshots/config"));
  r = drctl_opts({"snapshot", "create", "--nas", "d=" + src.string()}, o);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(list_ids(cwd / "snapshots").size() == 1);
  // A relative --nas path is resolved against the working directory.
  r = drctl_opts({"snapshot", "create", "--nas", "d=../src"}, o);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(list_ids(cwd / "snapshots").size() == 2);
  r = drctl_opts({"snapshot", "restore", "latest", "--section", "nas/d", "--to", "out"}, o);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(read_file(cwd / "out/f") == "data\n");
}

TEST_CASE("repository files stay private under umask 000") {
  TempDir t("umask");
  make_random_tree(t / "src", {.seed = 41, .files = 10, .min_size = 1, .max_size = 300 * KiB, .dirs = 3});
  const fs::path repo = t / "repo";
  RunOptions o;
  o.umask = 0;
  auto ok = [&](std::vector<std::string> args) {
    RunResult r = drctl_opts(args, o);
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    return r;
  };
  ok({"snapshot", "init", "--repo", repo.string()});
  ok({"snapshot", "create", "--repo", repo.string(), "--nas", "data=" + (t / "src").string()});
  write_file(t / "src/d00/new", "new\n");
  RunResult r = ok({"snapshot", "create", "--repo", repo.string(), "--nas", "data=" + (t / "src").string()});
  ok({"snapshot", "forget", "--repo", repo.string(), "--keep-last", "1", "--prune"});
  ok({"snapshot", "export", parse_snapshot_id(r.out), (t / "x.tar.zst").string(), "--repo", repo.string()});
  ok({"snapshot", "import", (t / "x.tar.zst").string(), "--repo", (t / "imported").string()});
  auto open = group_or_world_accessible(repo);
  CHECK_MESSAGE(open.empty(), join_diffs(open));
  open = group_or_world_accessible(t / "imported");
  CHECK_MESSAGE(open.empty(), join_diffs(open));
}

TEST_CASE("a capture ends with at most one partly filled pack of each blob type, whatever the number of storing threads") {
  // Each storing thread fills a pack of its own; at the end the smaller ones' blobs join the
  // largest, so nightly runs do not leave a small pack per thread each time. The oracle is the
  // repository's files: packs under the 16 MiB pack size, at most one for data and one for trees.
  TempDir t("partial-packs");
  const fs::path repo = t / "repo";
  init_repo(repo);
  auto small_packs = [&] { return packs_under(repo, 16 * MiB); };
  make_random_tree(t / "small", {.seed = 3, .files = 300, .min_size = 8 * KiB, .max_size = 64 * KiB, .dirs = 6});
  const std::string first = create_snapshot(repo, {{"small", t / "small"}});
  CHECK(small_packs() <= 2);
  make_random_tree(t / "big", {.seed = 4, .files = 60, .min_size = 256 * KiB, .max_size = 1 * MiB, .dirs = 3});
  const std::size_t before = small_packs();
  const std::string second = create_snapshot(repo, {{"big", t / "big"}});
  CHECK(small_packs() - before <= 2);
  restore_section(repo, second, "nas/big", t / "back");
  const auto d = compare_trees(t / "big", t / "back");
  CHECK_MESSAGE(d.empty(), join_diffs(d));
  RunResult verify = drctl({"snapshot", "verify", "--read-data", "--repo", repo.string()});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
}
