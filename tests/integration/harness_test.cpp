// Checks of the test harness itself (tree generator, comparator, process runner), so that a
// passing integration test means something. These do not run drctl.
#include <doctest/doctest.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using namespace std::chrono_literals;

TEST_CASE("harness: generated tree survives cp -a and the comparator sees every kind of change") {
  TempDir t("harness");
  TreeInfo info = make_full_tree(t / "src", {.seed = 7});
  RunResult r = run({"cp", "-a", "--preserve=all", "--sparse=always", (t / "src").string(), (t / "dst").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  auto diffs = compare_trees(t / "src", t / "dst");
  CHECK_MESSAGE(diffs.empty(), join_diffs(diffs));

  Manifest m = scan_tree(t / "src");
  CHECK(m.at("hard/a").hardlinks.size() == 3);
  CHECK(m.at("sparse/sparse-100m.img").sparse());
  CHECK(m.at("sparse/sparse-100m.img").size == 100 * MiB);
  CHECK(m.at("names/new\nline").type == 'f');
  CHECK(m.at("names/bad-\xff\xfe-utf8").type == 'f');
  CHECK(m.at("links/dangling").type == 'l');
  CHECK(m.at("special/fifo").type == 'p');
  CHECK(m.at("special/null-like").type == 'c');
  CHECK(m.at("special/block-like").type == 'b');
  CHECK(m.at("modes/setgid-dir").mode == 02775);
  CHECK(m.at("modes/setuid").mode == 04755);
  CHECK(m.at("modes/setuid").uid != 0);
  CHECK(m.at("xattr/file-with-xattrs").xattrs.size() == 4);
  CHECK(m.at("times/ns-1").mtime_ns == 1700000000000000001LL);
  CHECK(m.at("empty-dirs/e1").type == 'd');
  CHECK(info.sparse_file == "sparse/sparse-100m.img");

  // One change of each kind; each must be reported.
  set_mtime(t / "dst/plain/one-byte", 5, 5);
  set_mtime(t / "dst/empty-dirs/e1", 5, 5);
  write_file(t / "dst/plain/4096.bin", std::string(4096, 'a'));
  set_mtime(t / "dst/plain/4096.bin", 0, 0);
  ::lsetxattr((t / "dst/xattr/file-with-xattrs").c_str(), "user.text", "hellO", 5, 0);
  ::unlink((t / "dst/hard/sub/b").c_str());
  write_file(t / "dst/hard/sub/b", read_file(t / "src/hard/a"));
  ::lchown((t / "dst/links/sym-rel").c_str(), 1, 1);
  ::chmod((t / "dst/modes/m0600").c_str(), 0644);
  ::unlink((t / "dst/names/bad-\xff\xfe-utf8").c_str());
  write_file(t / "dst/extra", "x");
  ::unlink((t / "dst/links/sym-abs").c_str());
  ::symlink("/elsewhere", (t / "dst/links/sym-abs").c_str());
  ::unlink((t / "dst/sparse/sparse-100m.img").c_str());
  r = run({"cp", "--sparse=never", (t / "src/sparse/sparse-100m.img").string(),
           (t / "dst/sparse/sparse-100m.img").string()});
  REQUIRE(r.exit_code == 0);
  diffs = compare_trees(t / "src", t / "dst");
  std::string all = join_diffs(diffs, 1000);
  INFO(all);
  for (const char* expect :
       {"plain/one-byte: mtime", "empty-dirs/e1: mtime", "plain/4096.bin: content", "user.text",
        "hard/sub/b: hard links", "links/sym-rel: owner", "modes/m0600: mode", "bad-\\xff\\xfe-utf8: missing",
        "extra: unexpected", "links/sym-abs: symlink target", "sparse-100m.img: not sparse"})
    CHECK_MESSAGE(all.find(expect) != std::string::npos, expect);
}

TEST_CASE("harness: processes, timeouts and kills") {
  RunResult r = run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  CHECK(r.exit_code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");

  RunOptions o;
  o.timeout = 300ms;
  r = run({"sleep", "5"}, o);
  CHECK(r.timed_out);
  CHECK(r.term_signal == 9);  // killed at the timeout, not ended by sleep 5

  Process p({"sh", "-c", "sleep 5"});
  RunResult k = p.kill_after(200ms);
  CHECK(k.term_signal == 9);
  CHECK(k.seconds >= 0.2);

  o = {};
  o.env["FOO"] = "bar";
  o.cwd = "/tmp";
  o.uid = 65534;
  o.gid = 65534;
  r = run({"sh", "-c", "echo $FOO $(pwd) $(id -u) ${DRCTL_REPO:-unset}"}, o);
  CHECK(r.out == "bar /tmp 65534 unset\n");

  r = run({"sh", "-c", "head -c 3000000 /dev/zero"});
  CHECK(r.out.size() == 3000000);

  CHECK(is_one_error_line("drctl: error: x\n"));
  CHECK_FALSE(is_one_error_line("drctl: error: x\ny\n"));
  CHECK_FALSE(is_one_error_line("error: x\n"));
  CHECK(parse_snapshot_id("snapshot " + std::string(64, 'a') + " saved\n") == std::string(64, 'a'));
}
