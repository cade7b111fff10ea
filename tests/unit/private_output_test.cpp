// Private output (src/runbook/private_output.hpp): the modes that land on disk whatever the
// umask, read back with lstat.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "runbook/private_output.hpp"
#include "base/error.hpp"
#include "support/fs_tree.hpp"

using namespace support;
using drctl::runbook::make_private_dirs;
using drctl::runbook::write_private_file;

namespace {

mode_t mode_of(const fs::path& p) { return lstat_or_throw(p).st_mode & 07777; }

/// Sets the process's umask for one scope.
struct UmaskScope {
  explicit UmaskScope(mode_t m) : old(::umask(m)) {}
  ~UmaskScope() { ::umask(old); }
  mode_t old;
};

}  // namespace

TEST_CASE("private output: files 0600 and new directories 0700 under any umask, existing directories left alone") {
  TempDir t("private");
  for (mode_t mask : {0000, 0022, 0277, 0777}) {
    CAPTURE(mask);
    const fs::path base = t / ("mask" + std::to_string(mask));
    REQUIRE(::mkdir(base.c_str(), 0755) == 0);
    REQUIRE(::chmod(base.c_str(), 0755) == 0);
    {
      UmaskScope scope(mask);
      make_private_dirs(base / "a/b/c");
      write_private_file(base / "a/b/c/report.json", "{}\n");
    }
    CHECK(mode_of(base) == 0755);
    for (const char* d : {"a", "a/b", "a/b/c"}) CHECK(mode_of(base / d) == 0700);
    CHECK(mode_of(base / "a/b/c/report.json") == 0600);
    CHECK(read_file(base / "a/b/c/report.json") == "{}\n");
  }
}

TEST_CASE("private output: rewriting a file that was 0666 replaces its content and makes it 0600") {
  TempDir t("private-old");
  write_file(t / "junit.xml", "a much longer old content\n", 0666);
  REQUIRE(::chmod((t / "junit.xml").c_str(), 0666) == 0);
  UmaskScope scope(0);
  write_private_file(t / "junit.xml", "new\n");
  CHECK(mode_of(t / "junit.xml") == 0600);
  CHECK(read_file(t / "junit.xml") == "new\n");
}

TEST_CASE("private output: what cannot be made is a Failure naming the path") {
  TempDir t("private-fail");
  write_file(t / "file", "x");
  CHECK_THROWS_WITH_AS(make_private_dirs(t / "file/sub"), doctest::Contains((t / "file").string().c_str()), drctl::Failure);
  CHECK_THROWS_WITH_AS(write_private_file(t / "missing/r.json", "x"), doctest::Contains((t / "missing/r.json").string().c_str()),
                       drctl::Failure);
}
