// Acceptance 8: bad input gets exactly one line "drctl: error: …" on stderr and exit 2, and
// changes nothing: missing source path, a path that is not a repository, a damaged config, an
// unknown snapshot id, a malformed --nas, and other usage errors.
#include <doctest/doctest.h>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;

namespace {

#define CHECK_BAD_INPUT(args)                                                                      \
  do {                                                                                             \
    RunResult r_ = drctl(args);                                                                    \
    CHECK_MESSAGE(r_.exit_code == 2, r_.describe());                                               \
    CHECK_MESSAGE(is_one_error_line(r_.err), "stderr is not one \"drctl: error:\" line:\n" << r_.describe()); \
    CHECK_MESSAGE(r_.out.find("saved") == std::string::npos, r_.describe());                       \
  } while (0)

// The repository's observable state: its snapshot list and every file's content and metadata
// (directory mtimes excluded: a lock file coming and going touches them).
struct RepoState {
  std::string list;
  Manifest files;
};

RepoState state_of(const fs::path& repo) {
  RunResult r = drctl({"snapshot", "list", "--repo", repo.string(), "--json"});
  return {r.out + "\nexit " + std::to_string(r.exit_code), scan_tree(repo)};
}

void check_unchanged(const RepoState& before, const fs::path& repo) {
  RepoState after = state_of(repo);
  CHECK_MESSAGE(before.list == after.list, "snapshot list changed:\n" << before.list << "\n---\n" << after.list);
  CompareOptions o;
  o.dir_mtime = false;
  auto d = compare_manifests(before.files, after.files, o);
  CHECK_MESSAGE(d.empty(), "repository changed:\n" << join_diffs(d));
}

}  // namespace

TEST_CASE("acceptance 8: bad input gets one clear line and exit 2, and changes nothing") {
  TempDir t("bad");
  const fs::path src = t / "src";
  fs::create_directories(src);
  write_file(src / "f.txt", "hello\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", src}});
  const std::string R = repo.string();
  const RepoState before = state_of(repo);

  SUBCASE("missing or unusable source path") {
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "create", "--repo", R, "--nas", "data=" + (t / "nope").string()}));
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "create", "--repo", R, "--nas", "data=" + src.string(), "--nas",
                                              "other=" + (t / "nope").string()}));
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "create", "--repo", R, "--nas", "data=" + (src / "f.txt").string()}));
    check_unchanged(before, repo);
  }

  SUBCASE("malformed --nas") {
    for (const char* spec : {"noequals", "=/tmp", "name=", "=", "bad name=/tmp", "a/b=/tmp"})
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "create", "--repo", R, "--nas", spec}));
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "create", "--repo", R, "--nas", "x=" + src.string(), "--nas",
                                              "x=" + src.string()}));
    check_unchanged(before, repo);
  }

  SUBCASE("unknown snapshot ids") {
    const std::string unknown = std::string(id[0] == 'f' ? "0" : "f") + std::string(63, 'e');
    for (const std::string& ref : {unknown, unknown.substr(0, 8), std::string("abc"), std::string("zzzzzzzz"), std::string("")}) {
      CAPTURE(ref);
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "show", ref, "--repo", R}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "ls", ref, "--repo", R}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "restore", ref, "--repo", R, "--to", (t / "out").string()}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "diff", id, ref, "--repo", R}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "export", ref, (t / "x.tar.zst").string(), "--repo", R}));
      CHECK_FALSE(fs::exists(t / "out"));
      CHECK_FALSE(fs::exists(t / "x.tar.zst"));
    }
    // A path or section that is not in the snapshot.
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "ls", id, "nas/data/no-such-file", "--repo", R}));
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "restore", id, "--repo", R, "--section", "nas/nope", "--to",
                                              (t / "out").string()}));
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "restore", id, "--repo", R, "--section", "nas/data", "--include",
                                              "no-such-file", "--to", (t / "out").string()}));
    CHECK_FALSE(fs::exists(t / "out"));
    check_unchanged(before, repo);
  }

  SUBCASE("paths that are not repositories") {
    const fs::path empty = t / "empty";
    fs::create_directories(empty);
    const fs::path junk = t / "junk";
    fs::create_directories(junk / "data");
    write_file(junk / "random.bin", "not a repository\n");
    write_file(junk / "notes.txt", "hello\n");
    const fs::path missing = t / "missing";
    const fs::path plain_file = t / "plain-file";
    write_file(plain_file, "I am a file\n");
    for (const fs::path& p : {empty, junk, missing, plain_file}) {
      CAPTURE(p);
      Manifest snapshot_of_path = fs::exists(p) ? scan_tree(p) : Manifest{};
      const std::string P = p.string();
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "list", "--repo", P}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "create", "--repo", P, "--nas", "data=" + src.string()}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "show", "latest", "--repo", P}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "verify", "--repo", P}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "forget", "--keep-last", "1", "--repo", P}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "prune", "--repo", P}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "restore", "latest", "--to", (t / "out").string(), "--repo", P}));
      if (fs::exists(p)) {
        CompareOptions o;
        o.root = true;
        auto d = compare_manifests(snapshot_of_path, scan_tree(p), o);
        CHECK_MESSAGE(d.empty(), "a failed command changed " << p << ":\n" << join_diffs(d));
      } else {
        CHECK_MESSAGE(!fs::exists(p), "a failed command created " << p);
      }
    }
    // init refuses a non-empty directory that is not a repository, and a repository.
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "init", "--repo", junk.string()}));
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "init", "--repo", R}));
    CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "init", "--repo", plain_file.string()}));
    // The default ./snapshots, when it does not exist.
    RunOptions o;
    o.cwd = (t / "empty").string();
    RunResult r = drctl_opts({"snapshot", "list"}, o);
    CHECK_MESSAGE(r.exit_code == 2, r.describe());
    CHECK_MESSAGE(is_one_error_line(r.err), r.describe());
    check_unchanged(before, repo);
  }

  SUBCASE("a damaged config file") {
    const std::string good = read_file(repo / "config");
    const struct stat good_st = lstat_or_throw(repo / "config");
    const std::vector<std::string> damages = {std::string("\x00\xff garbage \x01\x02", 14), good.substr(0, good.size() / 2), "",
                                              "{}", "[1,2,3]", "{\"version\": 999999}"};
    for (const std::string& bad : damages) {
      CAPTURE(escape(bad));
      write_file(repo / "config", bad, 0600);
      const RepoState damaged = state_of(repo);
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "list", "--repo", R}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "create", "--repo", R, "--nas", "data=" + src.string()}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "show", id, "--repo", R}));
      CHECK_BAD_INPUT((std::vector<std::string>{"snapshot", "restore", id, "--repo", R, "--to", (t / "out").string()}));
      CHECK_FALSE(fs::exists(t / "out"));
      check_unchanged(damaged, repo);
    }
    write_file(repo / "config", good, 0600);
    set_mtime(repo / "config", good_st.st_mtim.tv_sec, good_st.st_mtim.tv_nsec);
    check_unchanged(before, repo);
  }

  SUBCASE("other usage errors") {
    const std::vector<std::vector<std::string>> cases = {
        {"snapshot", "create", "--repo", R},                                             // no --nas
        {"snapshot", "create", "--repo", R, "--nas", "data=" + src.string(), "--bogus"},  // unknown option
        {"snapshot", "frobnicate", "--repo", R},                                         // unknown command
        {"snapshot", "forget", "--repo", R},                                             // no policy
        {"snapshot", "forget", "--repo", R, "--keep-last", "-1"},
        {"snapshot", "forget", "--repo", R, "--keep-last", "many"},
        {"snapshot", "create", "--repo", R, "--nas", "data=" + src.string(), "--lock-wait", "soon"},
        {"snapshot", "restore", id, "--repo", R},  // no --to
        {"snapshot", "restore", id, "--repo", R, "--to", (src / "f.txt").string()},  // target is a file
        {"snapshot", "import", (t / "no-such.tar.zst").string(), "--repo", R},
        {"snapshot", "init", "--repo", (t / "new").string(), "--chunk-min", "1000000", "--chunk-avg", "10", "--chunk-max", "5"},
        {"snapshot", "init", "--repo", (t / "new").string(), "--compression-level", "99"},
    };
    for (const auto& args : cases) {
      std::string command;
      for (const auto& a : args) command += " " + escape(a);
      CAPTURE(command);
      CHECK_BAD_INPUT(args);
    }
    CHECK_FALSE(fs::exists(t / "new"));
    CHECK(read_file(src / "f.txt") == "hello\n");
    check_unchanged(before, repo);
  }
}
