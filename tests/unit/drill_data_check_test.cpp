// The drill's data verdict (drill/data_check.hpp) on histories with nightly backups between them:
// what a rebuilt NAS must hold, what it must not, and what is the RPO's expected loss.
#include <doctest/doctest.h>

#include <map>

#include "drill/data_check.hpp"

using drctl::drill::check_data;
using drctl::drill::DataChange;
using drctl::drill::DataVerdict;

namespace {

/// Two nights of a dataset "mail": a, b, c written on the 1st; on the 2nd b changed, c renamed to
/// d, a removed, e added; the last snapshot at 2026-01-02T03:00; f written after it.
std::vector<DataChange> two_nights() {
  return {
      {"mail", "/m/a", "a1", "2026-01-01T01:00:00Z"},
      {"mail", "/m/b", "b1", "2026-01-01T01:00:00Z"},
      {"mail", "/m/c", "c1", "2026-01-01T01:00:00Z"},
      {"mail", "/m/b", "b2", "2026-01-02T01:00:00Z"},
      {"mail", "/m/c", std::nullopt, "2026-01-02T01:10:00Z"},
      {"mail", "/m/d", "c1", "2026-01-02T01:10:00Z"},
      {"mail", "/m/a", std::nullopt, "2026-01-02T01:20:00Z"},
      {"mail", "/m/e", "e1", "2026-01-02T01:30:00Z"},
      {"mail", "/m/f", "f1", "2026-01-02T04:00:00Z"},
  };
}
const std::string kLast = "2026-01-02T03:00:00Z";

DataVerdict check(const std::map<std::string, std::string>& nas) {
  return check_data(
      two_nights(), kLast,
      [&](const std::string& path) -> std::optional<std::string> {
        auto it = nas.find(path);
        return it == nas.end() ? std::nullopt : std::optional<std::string>(it->second);
      },
      [](const std::string&, std::size_t size) { return size * 1000; }, "truenas");
}

}  // namespace

TEST_CASE("drill data check: the NAS as the last snapshot had it passes, and the write after it is the expected loss") {
  const auto v = check({{"/m/b", "b2"}, {"/m/d", "c1"}, {"/m/e", "e1"}});
  CHECK(v.failures.empty());
  CHECK(v.files_differing == 0);
  CHECK(v.writes_lost == 1);
  CHECK(v.bytes_lost_expected == 2000);
}

TEST_CASE("drill data check: a surviving NAS that also kept the write after the snapshot passes with nothing lost") {
  const auto v = check({{"/m/b", "b2"}, {"/m/d", "c1"}, {"/m/e", "e1"}, {"/m/f", "f1"}});
  CHECK(v.failures.empty());
  CHECK(v.writes_lost == 0);
}

TEST_CASE("drill data check: the first night's snapshot restored instead of the last fails on each kind of change") {
  // What a restore of the 1st's snapshot (or an incremental one that kept its parent's entries)
  // leaves: b's old bytes, c under its old name and no d, a back, no e.
  const auto v = check({{"/m/a", "a1"}, {"/m/b", "b1"}, {"/m/c", "c1"}});
  REQUIRE(v.failures.size() == 2);
  CHECK(v.failures[0] == "dataset mail: 3 of the files written before the last snapshot (" + kLast +
                             ") are not back after the rebuild, e.g. truenas:/m/b");
  CHECK(v.failures[1] == "dataset mail: 2 of the files removed or renamed before the last snapshot (" + kLast +
                             ") are back after the rebuild, e.g. truenas:/m/a");
  CHECK(v.files_differing == 5);  // b, d, e not as they were; a, c back
  CHECK(v.bytes_differing == 10000);
}

TEST_CASE("drill data check: a renamed file only under its new name, and a removed file alone, are each caught") {
  const auto renamed_kept = check({{"/m/b", "b2"}, {"/m/c", "c1"}, {"/m/d", "c1"}, {"/m/e", "e1"}});
  REQUIRE(renamed_kept.failures.size() == 1);
  CHECK(renamed_kept.failures[0].find("1 of the files removed or renamed before the last snapshot") != std::string::npos);
  CHECK(renamed_kept.failures[0].find("truenas:/m/c") != std::string::npos);
  const auto changed_lost = check({{"/m/b", "b1"}, {"/m/d", "c1"}, {"/m/e", "e1"}});
  REQUIRE(changed_lost.failures.size() == 1);
  CHECK(changed_lost.failures[0].find("1 of the files written before the last snapshot") != std::string::npos);
  CHECK(changed_lost.failures[0].find("truenas:/m/b") != std::string::npos);
}
