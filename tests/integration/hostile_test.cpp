// Issue 13, acceptance: hostile snapshots, written by hand from src/store/FORMAT.md (the test's
// own CBOR, OpenSSL hashes, libarchive tar+zstd), are refused by `snapshot import` with one error
// line and the repository byte-identical, and — planted straight into a repository — reported by
// `verify` and refused by `restore` and `ls`, with nothing created or changed outside the target:
// the whole surrounding directory (paths, types, modes, contents, symlink targets, mtimes) is
// scanned before and after.
#include <doctest/doctest.h>
#include <unistd.h>

#include "support/fs_tree.hpp"
#include "support/hostile_export.hpp"
#include "support/run.hpp"

using namespace support;
namespace h = support::hostile;

namespace {

/// A scan of `root` without `except` (relative) and what is under it.
Manifest scan_except(const fs::path& root, const std::string& except) {
  Manifest m = scan_tree(root);
  std::erase_if(m, [&](const auto& e) { return e.first == except || e.first.starts_with(except + "/"); });
  return m;
}

/// A repository's bytes: paths, types, modes and contents (a lock file comes and goes: mtimes aside).
std::vector<std::string> repo_changes(const Manifest& before, const fs::path& repo) {
  CompareOptions opt;
  opt.mtime = false;
  opt.dir_mtime = false;
  return compare_manifests(before, scan_tree(repo), opt);
}

/// A repository with one ordinary snapshot, a target directory with neighbours, and files
/// outside that an escape would reach.
struct Lab {
  TempDir t{"hostile"};
  fs::path repo = t / "repo";
  fs::path outside = t / "outside";
  fs::path target = t / "work/target";
  std::string legit;  // an ordinary snapshot's id
  int cases = 0;

  Lab() {
    fs::create_directories(outside / "dir");
    write_file(outside / "victim", "precious\n", 0644);
    write_file(outside / "dir/inside", "also precious\n", 0600);
    fs::create_directories(target);
    write_file(t / "work/neighbour", "next to the target\n");
    fs::create_directories(t / "src");
    write_file(t / "src/kept.txt", "an ordinary file\n");
    init_repo(repo);
    legit = create_snapshot(repo, {{"data", t / "src"}});
  }

  /// Refused at import (into this repository and into a new one), with nothing written.
  void import_refused(const h::Snapshot& s) {
    const fs::path file = t / ("case" + std::to_string(++cases) + ".tar.zst");
    h::write_export(file, s);
    import_file_refused(file);
    fs::remove(file);
  }

  void import_file_refused(const fs::path& file, const std::vector<std::string>& wrapper = {}) {
    const Manifest before = scan_tree(repo);
    const fs::path fresh = t / "fresh";
    for (const fs::path& into : {repo, fresh}) {
      std::vector<std::string> argv = wrapper;
      for (const auto& a : drctl_argv({"snapshot", "import", file.string(), "--repo", into.string()})) argv.push_back(a);
      RunResult r = run(argv);
      CHECK_MESSAGE((r.exit_code == 1 || r.exit_code == 2), r.describe());
      CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
      CHECK_MESSAGE(r.err.find("bad_alloc") == std::string::npos, r.describe());
    }
    auto changes = repo_changes(before, repo);
    CHECK_MESSAGE(changes.empty(), "a refused import changed the repository:\n" << join_diffs(changes));
    CHECK_MESSAGE(!fs::exists(fresh), "a refused import created a repository");
  }

  /// Planted into a copy of the repository: verify reports it, restore and ls refuse it, and
  /// nothing outside the target changes.
  void planted_refused(const h::Snapshot& s) {
    const fs::path planted = t / "planted";
    fs::copy(repo, planted, fs::copy_options::recursive);
    h::plant(planted, s);
    const std::string id = s.id(), repo_arg = "--repo=" + planted.string();
    const Manifest around = scan_except(t.path(), "work/target");

    RunResult r = drctl({"snapshot", "verify", repo_arg});
    CHECK_MESSAGE(r.exit_code == 1, r.describe());
    CHECK_MESSAGE(r.out.find("damaged: snapshot " + id.substr(0, 8) + ": ") != std::string::npos, r.describe());

    r = drctl({"snapshot", "restore", id, "--to", target.string(), repo_arg});
    CHECK_MESSAGE((r.exit_code == 1 || r.exit_code == 2), r.describe());
    CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
    r = drctl({"snapshot", "restore", id, "--to", target.string(), "--force", repo_arg});
    CHECK_MESSAGE((r.exit_code == 1 || r.exit_code == 2), r.describe());

    for (const std::vector<std::string>& args : {std::vector<std::string>{"ls", id}, {"diff", legit, id}, {"diff", id, legit}}) {
      std::vector<std::string> argv = {"snapshot"};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.push_back(repo_arg);
      r = drctl(argv);
      CHECK_MESSAGE((r.exit_code == 1 || r.exit_code == 2), r.describe());
      CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
      CHECK_MESSAGE(r.out_lines().size() <= 2 * 4096 + 1000, args[0] << " ran on: " << r.out_lines().size() << " lines");
    }

    auto changes = compare_manifests(around, scan_except(t.path(), "work/target"));
    CHECK_MESSAGE(changes.empty(), "changed outside the target:\n" << join_diffs(changes));
    fs::remove_all(planted);
    fs::remove_all(target);
    fs::create_directories(target);
  }

  void refused_everywhere(const h::Snapshot& s) {
    import_refused(s);
    planted_refused(s);
  }
};

/// A tree holding one file "y" (content "written through"), as a directory's subtree.
std::string tree_with_y(h::Snapshot& s) {
  const std::string chunk = s.add_chunk("written through\n");
  return s.add_tree({h::file("y", chunk, 16)});
}

/// A one-section snapshot whose top tree is `nodes` built with `s`'s blobs.
h::Snapshot with_top(h::Snapshot s, const std::vector<h::Node>& nodes, const std::string& section = "nas/h") {
  const std::string top = s.add_tree(nodes);
  s.set_manifest({{section, top, s.add_root(top), 4, 2}});
  return s;
}

}  // namespace

TEST_CASE("hostile: section names that point outside the target are refused") {
  Lab lab;
  const std::string abs = (lab.outside / "abs").string();
  for (const std::string& name : {std::string("../x"), std::string("../../outside/x"), abs, std::string("nas/../../x"),
                                 std::string("nas/a\nb"), std::string("nas/./x"), std::string("nas//x")}) {
    CAPTURE(escape(name));
    h::Snapshot s;
    const std::string chunk = s.add_chunk("escaped\n");
    const std::string top = s.add_tree({h::file("f", chunk, 8)});
    s.set_manifest({{name, top, s.add_root(top), 1, 0}});
    lab.refused_everywhere(s);
  }
  SUBCASE("a section inside another, whose symlink would lead the inner one outside") {
    h::Snapshot s;
    const std::string chunk = s.add_chunk("escaped\n");
    const std::string outer = s.add_tree({h::symlink("x", lab.outside.string())});
    const std::string inner = s.add_tree({h::file("f", chunk, 8)});
    s.set_manifest({{"nas", outer, s.add_root(outer), 1, 0}, {"nas/x", inner, s.add_root(inner), 1, 0}});
    lab.refused_everywhere(s);
  }
  SUBCASE("a skipped entry naming no section") {
    h::Snapshot s;
    const std::string top = s.add_tree({h::file("f")});
    s.set_manifest({{"nas/h", top, s.add_root(top), 1, 0}}, {{"../x", "y"}});
    lab.refused_everywhere(s);
  }
}

TEST_CASE("hostile: node names that are not names are refused") {
  Lab lab;
  const std::vector<std::string> names = {"..", ".", "a/b", (lab.outside / "abs").string(), "", std::string("a\0b", 3),
                                          "../../outside/victim", "a/y"};
  for (const auto& name : names) {
    CAPTURE(escape(name));
    h::Snapshot s;
    const std::string chunk = s.add_chunk("written through\n");
    lab.refused_everywhere(with_top(s, {h::file(name, chunk, 16)}));
    lab.refused_everywhere(with_top(s, {h::dir(name, tree_with_y(s), 0777)}));
    lab.refused_everywhere(with_top(s, {h::symlink(name, lab.outside.string())}));
  }
}

TEST_CASE("hostile: a name twice in one directory, for every pair of types, is refused") {
  Lab lab;
  const std::vector<std::string> types = {"file", "dir", "symlink", "hardlink", "fifo"};
  for (const auto& first : types)
    for (const auto& second : types) {
      CAPTURE(first);
      CAPTURE(second);
      h::Snapshot s;
      const std::string chunk = s.add_chunk("written through\n");
      const std::string sub = tree_with_y(s);
      auto node = [&](const std::string& type) {
        if (type == "file") return h::file("a", chunk, 16);
        if (type == "dir") return h::dir("a", sub, 0777);
        if (type == "symlink") return h::symlink("a", (lab.outside / "dir").string());
        if (type == "hardlink") return h::hardlink("a", "b");
        return h::fifo("a");
      };
      lab.refused_everywhere(with_top(s, {node(first), node(second), h::file("b", chunk, 16)}));
    }
}

TEST_CASE("hostile: a symlink then a path through it, and a directory's mode through a symlink, are refused") {
  Lab lab;
  h::Snapshot s;
  const std::string chunk = s.add_chunk("written through\n");
  const std::string sub = tree_with_y(s);
  const std::string to_dir = (lab.outside / "dir").string(), relative = "../../outside/dir";
  SUBCASE("symlink a, then directory a holding y") { lab.refused_everywhere(with_top(s, {h::symlink("a", to_dir), h::dir("a", sub)})); }
  SUBCASE("symlink a (relative), then directory a") { lab.refused_everywhere(with_top(s, {h::symlink("a", relative), h::dir("a", sub)})); }
  SUBCASE("symlink a, then file a") { lab.refused_everywhere(with_top(s, {h::symlink("a", lab.outside.string() + "/victim"), h::file("a", chunk, 16)})); }
  SUBCASE("symlink a, then file a/y") { lab.refused_everywhere(with_top(s, {h::symlink("a", to_dir), h::file("a/y", chunk, 16)})); }
  SUBCASE("directory d (0777), then symlink d") { lab.refused_everywhere(with_top(s, {h::dir("d", sub, 0777), h::symlink("d", to_dir)})); }
  SUBCASE("symlink d, then directory d (0777)") { lab.refused_everywhere(with_top(s, {h::symlink("d", to_dir), h::dir("d", sub, 0777)})); }
  SUBCASE("a directory '.' (0777) among other entries") { lab.refused_everywhere(with_top(s, {h::dir(".", sub, 0777), h::file("f", chunk, 16)})); }
}

TEST_CASE("hostile: names out of order are refused") {
  Lab lab;
  h::Snapshot s;
  SUBCASE("b before a") { lab.refused_everywhere(with_top(s, {h::file("b"), h::file("a")})); }
  SUBCASE("a byte 0xff before z") { lab.refused_everywhere(with_top(s, {h::file("\xff"), h::file("z")})); }
  SUBCASE("out of order one level down") {
    const std::string sub = s.add_tree({h::file("y"), h::file("x")});
    lab.refused_everywhere(with_top(s, {h::dir("d", sub)}));
  }
}

TEST_CASE("hostile: hard links that point outside the section are refused") {
  Lab lab;
  for (const std::string& target : {std::string("../x"), (lab.outside / "victim").string(), std::string("a/../../x"),
                                   std::string("../../outside/victim"), std::string("")}) {
    CAPTURE(escape(target));
    h::Snapshot s;
    lab.refused_everywhere(with_top(s, {h::file("a"), h::hardlink("l", target)}));
  }
}

TEST_CASE("hostile: CBOR nested a million levels deep in an unknown key is refused, not a crash") {
  Lab lab;
  h::Snapshot s;
  h::Node n = h::file("a");
  n.extra_key = "zz";
  SUBCASE("arrays") { n.extra_value = std::string(1000000, '\x81') + '\x00'; }
  SUBCASE("maps") { n.extra_value = std::string(1000000, '\xa1') + '\x00'; }
  SUBCASE("tags") { n.extra_value = std::string(1000000, '\xc1') + '\x00'; }
  lab.refused_everywhere(with_top(s, {n}));
}

TEST_CASE("hostile: a chain of 100,000 nested directories is refused, not a crash") {
  Lab lab;
  h::Snapshot s;
  std::string id = s.add_tree({h::file("bottom")});
  for (int i = 0; i < 100000; ++i) id = s.add_tree({h::dir("d", id)});
  s.set_manifest({{"nas/h", id, s.add_root(id), 1, 100000}});
  lab.refused_everywhere(s);
}

TEST_CASE("hostile: a graph of trees sharing one subtree 40 levels deep is refused, and ls and restore stop") {
  Lab lab;
  h::Snapshot s;
  std::string id = s.add_tree({h::file("leaf")});
  for (int level = 0; level < 40; ++level) id = s.add_tree({h::dir("a", id), h::dir("b", id)});
  s.set_manifest({{"nas/h", id, s.add_root(id), 1, 80}});
  lab.refused_everywhere(s);  // ls: a bounded listing, then one error line (checked inside)
}

TEST_CASE("hostile: tar headers declaring 8 GiB and 50 GiB in a 1 KB file fail cleanly with little memory") {
  Lab lab;
  const std::string data(1024, 'x');
  const std::string id = h::hex(h::sha256_raw(data));
  for (const std::uint64_t declared : {8ULL << 30, 50ULL << 30})
    for (const std::string& name : {"drctl-export/data/" + id, "drctl-export/tree/" + id, std::string("drctl-export/snapshot.json")}) {
      CAPTURE(declared);
      CAPTURE(name);
      const fs::path file = lab.t / "huge.tar.zst";
      h::write_export_declaring(file, name, declared, data);
      REQUIRE(fs::file_size(file) < 2048);
      // 1 GiB of address space: far less than the declared size; enough for drctl itself.
      lab.import_file_refused(file, {"prlimit", "--as=1073741824", "--"});
    }
}

TEST_CASE("hostile: a valid hand-written snapshot is accepted, so the refusals above are about what they vary") {
  Lab lab;
  h::Snapshot s;
  const std::string chunk = s.add_chunk("written through\n");
  const std::string sub = tree_with_y(s);
  s = with_top(s, {h::file("a", chunk, 16), h::dir("d", sub, 0750), h::hardlink("l", "a"), h::symlink("s", lab.outside.string())});
  const fs::path file = lab.t / "good.tar.zst";
  h::write_export(file, s);
  RunResult r = drctl({"snapshot", "import", file.string(), "--repo", lab.repo.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  r = drctl({"snapshot", "verify", "--repo", lab.repo.string(), "--read-data"});
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  r = drctl({"snapshot", "restore", s.id(), "--to", lab.target.string(), "--repo", lab.repo.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(read_file(lab.target / "nas/h/d/y") == "written through\n");
  CHECK(read_file(lab.target / "nas/h/l") == "written through\n");
  CHECK(fs::read_symlink(lab.target / "nas/h/s") == lab.outside);
  r = drctl({"snapshot", "ls", s.id(), "--repo", lab.repo.string()});
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(r.out_lines().size() == 5);
}

TEST_CASE("export: the file is 0600 under umask 000, an existing file is kept unless --force, symlinks are not followed") {
  Lab lab;
  const fs::path file = lab.t / "out.tar.zst";
  RunOptions open_umask;
  open_umask.umask = 0;
  auto export_to = [&](const fs::path& to, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"snapshot", "export", "latest", to.string(), "--repo", lab.repo.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return drctl_opts(args, open_umask);
  };
  RunResult r = export_to(file);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK((lstat_or_throw(file).st_mode & 07777) == 0600);
  const std::string first = read_file(file);

  // There already: refused with one line, the file untouched; --force replaces it, still 0600.
  write_file(file, "someone else's file\n", 0644);
  r = export_to(file);
  CHECK_MESSAGE(r.exit_code == 2, r.describe());
  CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
  CHECK(r.err.find("--force") != std::string::npos);
  CHECK(read_file(file) == "someone else's file\n");
  r = export_to(file, {"--force"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(read_file(file) == first);
  CHECK((lstat_or_throw(file).st_mode & 07777) == 0600);

  // A symlink as FILE or as FILE.partial leads nowhere: neither target is written.
  const fs::path linked = lab.t / "linked.tar.zst";
  fs::create_symlink(lab.outside / "victim", linked);
  r = export_to(linked);
  CHECK_MESSAGE(r.exit_code == 2, r.describe());
  fs::create_symlink(lab.outside / "dir/inside", lab.t / "fresh.tar.zst.partial");
  r = export_to(lab.t / "fresh.tar.zst");
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(read_file(lab.outside / "victim") == "precious\n");
  CHECK(read_file(lab.outside / "dir/inside") == "also precious\n");
  CHECK(fs::is_regular_file(fs::symlink_status(lab.t / "fresh.tar.zst")));
  CHECK(!fs::exists(fs::symlink_status(lab.t / "fresh.tar.zst.partial")));
  CHECK((lstat_or_throw(lab.t / "fresh.tar.zst").st_mode & 07777) == 0600);
}

TEST_CASE("forget: a count that is not one is refused with one line naming the option and the value as given") {
  Lab lab;
  for (const std::string option : {"--keep-last", "--keep-daily", "--keep-weekly", "--keep-monthly"})
    for (const std::string value : {"-1", "1.5", "1e3", "x", "99999999999999999999"}) {
      CAPTURE(option);
      CAPTURE(value);
      RunResult r = drctl({"snapshot", "forget", option, value, "--dry-run", "--repo", lab.repo.string()});
      CHECK_MESSAGE(r.exit_code == 2, r.describe());
      CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
      CHECK_MESSAGE(r.err.find(option) != std::string::npos, r.describe());
      CHECK_MESSAGE(r.err.find("'" + value + "'") != std::string::npos, r.describe());
      CHECK_MESSAGE(r.err.find("e+") == std::string::npos, r.describe());
    }
  create_snapshot(lab.repo, {{"data", lab.t / "src"}});
  RunResult r = drctl({"snapshot", "forget", "--keep-last", "000000001", "--dry-run", "--repo", lab.repo.string()});
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(r.out.find("would remove") != std::string::npos);
}
