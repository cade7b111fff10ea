// Exclude patterns with restic's meaning (capture/exclude.hpp); each expectation is read off the
// pattern by hand.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "base/error.hpp"
#include "capture/exclude.hpp"
#include "support/fs_tree.hpp"

using drctl::capture::ExcludeMatcher;

namespace {
ExcludeMatcher of(std::initializer_list<const char*> patterns) {
  ExcludeMatcher m;
  for (const char* p : patterns) m.add(p, "--exclude");
  return m;
}
bool hit(const ExcludeMatcher& m, const char* path) { return m.match(path) != nullptr; }
}  // namespace

TEST_CASE("exclude: a pattern without a slash is a glob on a name at any depth") {
  const auto m = of({"*.tmp"});
  CHECK(hit(m, "a.tmp"));
  CHECK(hit(m, "deep/er/b.tmp"));
  CHECK(hit(m, ".hidden.tmp"));  // * takes a leading dot, as Go's filepath.Match
  CHECK_FALSE(hit(m, "a.tmp.txt"));
  CHECK_FALSE(hit(m, "tmp"));
  const auto cache = of({"cache"});
  CHECK(hit(cache, "cache"));
  CHECK(hit(cache, "home/u/cache"));
  CHECK_FALSE(hit(cache, "home/u/cache2"));
}

TEST_CASE("exclude: a pattern with slashes matches the last components, anywhere") {
  const auto m = of({"cache/*.bin"});
  CHECK(hit(m, "cache/x.bin"));
  CHECK(hit(m, "a/b/cache/x.bin"));
  CHECK_FALSE(hit(m, "cache/sub/x.bin"));  // * stays within one component
  CHECK_FALSE(hit(m, "xcache/x.bin"));
}

TEST_CASE("exclude: a leading slash anchors at the source's root") {
  const auto m = of({"/var/log"});
  CHECK(hit(m, "var/log"));
  CHECK_FALSE(hit(m, "srv/var/log"));
  CHECK_FALSE(hit(m, "var/log/syslog"));  // the entry itself: a walk never enters var/log
  CHECK(m.excluded("var/log/syslog") != nullptr);  // a flat listing: a parent is excluded
  CHECK(m.excluded("srv/var/log/syslog") == nullptr);
}

TEST_CASE("exclude: ** is any number of directories, also none") {
  const auto m = of({"/home/**/.cache"});
  CHECK(hit(m, "home/.cache"));
  CHECK(hit(m, "home/u/.cache"));
  CHECK(hit(m, "home/u/v/w/.cache"));
  CHECK_FALSE(hit(m, "srv/home/u/.cache"));
  const auto any = of({"build/**"});
  CHECK(hit(any, "build"));  // ** takes no component too
  CHECK(hit(any, "x/build/a/b"));
}

TEST_CASE("exclude: brackets, ? and escapes, and the first matching pattern is named") {
  const auto m = of({"[ab]?.log", "\\*star"});
  CHECK(hit(m, "a1.log"));
  CHECK_FALSE(hit(m, "c1.log"));
  CHECK_FALSE(hit(m, "a12.log"));
  CHECK(hit(m, "*star"));
  CHECK_FALSE(hit(m, "xstar"));
  const auto two = of({"*.log", "a*"});
  REQUIRE(two.match("a.log"));
  CHECK(*two.match("a.log") == "*.log");
}

TEST_CASE("exclude: bad patterns are refused with the option that gave them") {
  for (const char* bad : {"", "[abc", "a\\", "!keep.txt", "/", "//"}) {
    CAPTURE(bad);
    ExcludeMatcher m;
    CHECK_THROWS_AS(m.add(bad, "--exclude"), drctl::InputError);
  }
  ExcludeMatcher m;
  try {
    m.add("x[", "--exclude");
    FAIL("accepted");
  } catch (const drctl::InputError& e) {
    CHECK(std::string(e.what()).find("--exclude") == 0);
    CHECK(std::string(e.what()).find("x[") != std::string::npos);
  }
}

TEST_CASE("exclude file: one pattern a line, comments and blank lines skipped, a bad line named by number") {
  support::TempDir dir("exclude");
  const std::string file = (dir / "excludes").string();
  std::ofstream(file) << "# caches\n\n  *.tmp  \n/var/log\n";
  ExcludeMatcher m;
  m.add_file(file);
  CHECK(m.patterns() == std::vector<std::string>{"*.tmp", "/var/log"});
  std::ofstream(file) << "*.ok\n\n[bad\n";
  ExcludeMatcher bad;
  try {
    bad.add_file(file);
    FAIL("accepted");
  } catch (const drctl::InputError& e) {
    CHECK(std::string(e.what()).find(file + ":3") == 0);
  }
  ExcludeMatcher missing;
  CHECK_THROWS_AS(missing.add_file((dir / "none").string()), drctl::InputError);
}
