#include <doctest/doctest.h>

#include <algorithm>

#include "store/prune.hpp"

using namespace drctl::store;

namespace {
Snapshot snap(const std::string& time, const std::string& section = "nas/data") {
  Snapshot s;
  std::string key = time;
  key.append(section);
  s.id = sha256(key);
  s.time = time;
  s.host = std::string(1, 'h');  // not a literal: gcc 12 warns falsely (PR 105651)
  s.sections.push_back({section, "/src", sha256("t"), std::nullopt, 0, 0, 0});
  return s;
}
bool kept(const ForgetPlan& p, const std::string& time) {
  return std::any_of(p.keep.begin(), p.keep.end(), [&](const Snapshot& s) { return s.time == time; });
}
}  // namespace

TEST_CASE("retention keeps the newest per day, week and month") {
  std::vector<Snapshot> all = {snap("2026-01-01T10:00:00.000000000Z"), snap("2026-01-01T12:00:00.000000000Z"),
                               snap("2026-01-02T09:00:00.000000000Z"), snap("2026-01-20T09:00:00.000000000Z"),
                               snap("2026-02-03T09:00:00.000000000Z"), snap("2026-02-03T18:00:00.000000000Z")};
  SUBCASE("keep-last") {
    auto p = plan_forget(all, {2, 0, 0, 0});
    CHECK(p.keep.size() == 2);
    CHECK(kept(p, "2026-02-03T18:00:00.000000000Z"));
    CHECK(kept(p, "2026-02-03T09:00:00.000000000Z"));
  }
  SUBCASE("keep-daily") {
    auto p = plan_forget(all, {0, 3, 0, 0});
    CHECK(p.keep.size() == 3);
    CHECK(kept(p, "2026-02-03T18:00:00.000000000Z"));
    CHECK(kept(p, "2026-01-20T09:00:00.000000000Z"));
    CHECK(kept(p, "2026-01-02T09:00:00.000000000Z"));
  }
  SUBCASE("keep-monthly") {
    auto p = plan_forget(all, {0, 0, 0, 5});
    CHECK(p.keep.size() == 2);
    CHECK(kept(p, "2026-01-20T09:00:00.000000000Z"));
  }
  SUBCASE("keep-weekly") {
    auto p = plan_forget(all, {0, 0, 2, 0});
    CHECK(p.keep.size() == 2);
    CHECK(kept(p, "2026-01-20T09:00:00.000000000Z"));
  }
}

TEST_CASE("retention groups snapshots by their sections") {
  std::vector<Snapshot> all = {snap("2026-01-01T10:00:00.000000000Z", "nas/a"),
                               snap("2026-01-02T10:00:00.000000000Z", "nas/b"),
                               snap("2026-01-03T10:00:00.000000000Z", "nas/b")};
  auto p = plan_forget(all, {1, 0, 0, 0});
  CHECK(p.keep.size() == 2);
  CHECK(kept(p, "2026-01-01T10:00:00.000000000Z"));
}
