#include <doctest/doctest.h>

#include <algorithm>

#include "store/prune.hpp"

using namespace drctl::store;

namespace {
Snapshot snap(const std::string& time, const std::string& section = "nas/data", std::vector<std::string> tags = {}) {
  Snapshot s;
  std::string key = time;
  key.append(section);
  s.id = sha256(key);
  s.time = time;
  s.host = std::string(1, 'h');  // not a literal: gcc 12 warns falsely (PR 105651)
  s.tags = std::move(tags);
  s.sections.push_back({section, "/src", sha256("t"), std::nullopt, 0, 0, 0});
  return s;
}
bool kept(const ForgetPlan& p, const std::string& time) {
  return std::any_of(p.keep.begin(), p.keep.end(), [&](const Snapshot& s) { return s.time == time; });
}
/// The times kept, oldest first as given.
std::vector<std::string> kept_times(const ForgetPlan& p) {
  std::vector<std::string> out;
  for (const auto& s : p.keep) out.push_back(s.time);
  return out;
}
/// Why the snapshot of `time` is kept; empty when it is not.
std::vector<std::string> reasons(const ForgetPlan& p, const std::string& time) {
  for (std::size_t i = 0; i < p.keep.size(); ++i)
    if (p.keep[i].time == time) return p.reasons.at(i);
  return {};
}
KeepWithin within(const std::string& text) {
  auto w = parse_keep_within(text);
  REQUIRE_MESSAGE(w, text);
  return *w;
}
}  // namespace

TEST_CASE("retention keeps the newest per day, week and month") {
  std::vector<Snapshot> all = {snap("2026-01-01T10:00:00.000000000Z"), snap("2026-01-01T12:00:00.000000000Z"),
                               snap("2026-01-02T09:00:00.000000000Z"), snap("2026-01-20T09:00:00.000000000Z"),
                               snap("2026-02-03T09:00:00.000000000Z"), snap("2026-02-03T18:00:00.000000000Z")};
  SUBCASE("keep-last") {
    auto p = plan_forget(all, {.last = 2});
    CHECK(p.keep.size() == 2);
    CHECK(kept(p, "2026-02-03T18:00:00.000000000Z"));
    CHECK(kept(p, "2026-02-03T09:00:00.000000000Z"));
    CHECK(reasons(p, "2026-02-03T09:00:00.000000000Z") == std::vector<std::string>{"last snapshot"});
  }
  SUBCASE("keep-daily") {
    auto p = plan_forget(all, {.daily = 3});
    CHECK(p.keep.size() == 3);
    CHECK(kept(p, "2026-02-03T18:00:00.000000000Z"));
    CHECK(kept(p, "2026-01-20T09:00:00.000000000Z"));
    CHECK(kept(p, "2026-01-02T09:00:00.000000000Z"));
    CHECK(reasons(p, "2026-01-02T09:00:00.000000000Z") == std::vector<std::string>{"daily snapshot"});
  }
  SUBCASE("keep-monthly") {
    auto p = plan_forget(all, {.monthly = 5});
    CHECK(p.keep.size() == 2);
    CHECK(kept(p, "2026-01-20T09:00:00.000000000Z"));
  }
  SUBCASE("keep-weekly") {
    auto p = plan_forget(all, {.weekly = 2});
    CHECK(p.keep.size() == 2);
    CHECK(kept(p, "2026-01-20T09:00:00.000000000Z"));
  }
}

TEST_CASE("retention groups snapshots by their sections") {
  std::vector<Snapshot> all = {snap("2026-01-01T10:00:00.000000000Z", "nas/a"),
                               snap("2026-01-02T10:00:00.000000000Z", "nas/b"),
                               snap("2026-01-03T10:00:00.000000000Z", "nas/b")};
  auto p = plan_forget(all, {.last = 1});
  CHECK(p.keep.size() == 2);
  CHECK(kept(p, "2026-01-01T10:00:00.000000000Z"));
}

TEST_CASE("keep-hourly keeps the newest snapshot of each of the last N clock hours") {
  // Hours, newest first: 11 (11:55 newest, 11:50 older), 10 (10:15), 09 (09:40, 09:05).
  // Two hours: 11:55 and 10:15; the 09 hour is the third and goes.
  std::vector<Snapshot> all = {snap("2026-03-10T09:05:00Z"), snap("2026-03-10T09:40:00Z"), snap("2026-03-10T10:15:00Z"),
                               snap("2026-03-10T11:50:00Z"), snap("2026-03-10T11:55:00Z")};
  auto p = plan_forget(all, {.hourly = 2});
  CHECK(kept_times(p) == std::vector<std::string>{"2026-03-10T10:15:00Z", "2026-03-10T11:55:00Z"});
  CHECK(reasons(p, "2026-03-10T10:15:00Z") == std::vector<std::string>{"hourly snapshot"});
  CHECK(p.remove.size() == 3);
}

TEST_CASE("keep-yearly keeps the newest snapshot of each of the last N calendar years") {
  // Years, newest first: 2026 (Feb 1), 2025 (Jun 1 newest, Jan 1 00:01 older), 2024 (Dec 31 23:59).
  // A minute apart across New Year's Eve, 2024-12-31 and 2025-01-01 fall in different years.
  std::vector<Snapshot> all = {snap("2024-12-31T23:59:00Z"), snap("2025-01-01T00:01:00Z"), snap("2025-06-01T00:00:00Z"),
                               snap("2026-02-01T00:00:00Z")};
  auto p = plan_forget(all, {.yearly = 2});
  CHECK(kept_times(p) == std::vector<std::string>{"2025-06-01T00:00:00Z", "2026-02-01T00:00:00Z"});
  p = plan_forget(all, {.yearly = 3});
  CHECK(kept_times(p) == std::vector<std::string>{"2024-12-31T23:59:00Z", "2025-06-01T00:00:00Z", "2026-02-01T00:00:00Z"});
  CHECK(reasons(p, "2024-12-31T23:59:00Z") == std::vector<std::string>{"yearly snapshot"});
}

TEST_CASE("keep-within keeps what is newer than the duration before the newest snapshot, on the calendar") {
  SUBCASE("30d") {
    // Newest 2026-03-31 12:00; 30 days before is 2026-03-01 12:00 (March has 31 days). Exactly
    // that instant is not newer than it; one second later is.
    std::vector<Snapshot> all = {snap("2026-02-28T23:00:00Z"), snap("2026-03-01T12:00:00Z"), snap("2026-03-01T12:00:01Z"),
                                 snap("2026-03-31T12:00:00Z")};
    auto p = plan_forget(all, {.within = within("30d")});
    CHECK(kept_times(p) == std::vector<std::string>{"2026-03-01T12:00:01Z", "2026-03-31T12:00:00Z"});
    CHECK(reasons(p, "2026-03-01T12:00:01Z") == std::vector<std::string>{"within 30d"});
  }
  SUBCASE("1m from the 31st: one month back from 2026-03-31 is 'February 31', which is 2026-03-03") {
    // 2026 is not a leap year: February has 28 days, so February 31 runs on to March 3 (Go's
    // AddDate does the same, and restic uses it). 30 days back would have been March 1.
    std::vector<Snapshot> all = {snap("2026-03-02T12:00:00Z"), snap("2026-03-03T00:00:01Z"), snap("2026-03-31T00:00:00Z")};
    auto p = plan_forget(all, {.within = within("1m")});
    CHECK(kept_times(p) == std::vector<std::string>{"2026-03-03T00:00:01Z", "2026-03-31T00:00:00Z"});
  }
  SUBCASE("1y2m: fourteen calendar months") {
    // Newest 2026-05-15 00:00; a year and two months before is 2025-03-15 00:00.
    std::vector<Snapshot> all = {snap("2025-03-14T23:00:00Z"), snap("2025-03-15T06:00:00Z"), snap("2026-05-15T00:00:00Z")};
    auto p = plan_forget(all, {.within = within("1y2m")});
    CHECK(kept_times(p) == std::vector<std::string>{"2025-03-15T06:00:00Z", "2026-05-15T00:00:00Z"});
    CHECK(reasons(p, "2025-03-15T06:00:00Z") == std::vector<std::string>{"within 1y2m"});
  }
  SUBCASE("2d12h crosses a year") {
    // Newest 2026-01-03 12:00; 2 days 12 hours before is 2026-01-01 00:00.
    std::vector<Snapshot> all = {snap("2025-12-31T23:30:00Z"), snap("2026-01-01T00:30:00Z"), snap("2026-01-03T12:00:00Z")};
    auto p = plan_forget(all, {.within = within("2d12h")});
    CHECK(kept_times(p) == std::vector<std::string>{"2026-01-01T00:30:00Z", "2026-01-03T12:00:00Z"});
  }
  SUBCASE("relative to each group's newest snapshot, not to now") {
    // nas/a's newest is 2020-01-10: its 2020-01-05 is within 7 days of it, years ago as it is.
    std::vector<Snapshot> all = {snap("2020-01-01T00:00:00Z", "nas/a"), snap("2020-01-05T00:00:00Z", "nas/a"),
                                 snap("2020-01-10T00:00:00Z", "nas/a"), snap("2026-01-10T00:00:00Z", "nas/b")};
    auto p = plan_forget(all, {.within = within("7d")});
    CHECK(kept_times(p) ==
          std::vector<std::string>{"2020-01-05T00:00:00Z", "2020-01-10T00:00:00Z", "2026-01-10T00:00:00Z"});
  }
}

TEST_CASE("keep-tag keeps snapshots holding every tag of a list") {
  std::vector<Snapshot> all = {snap("2026-01-01T00:00:00Z", "nas/data", {"prod"}),
                               snap("2026-01-02T00:00:00Z", "nas/data", {"db", "prod"}),
                               snap("2026-01-03T00:00:00Z", "nas/data", {"db"}), snap("2026-01-04T00:00:00Z")};
  auto p = plan_forget(all, {.tags = {{"prod"}}});
  CHECK(kept_times(p) == std::vector<std::string>{"2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"});
  CHECK(reasons(p, "2026-01-01T00:00:00Z") == std::vector<std::string>{"tag prod"});
  p = plan_forget(all, {.tags = {{"prod", "db"}}});
  CHECK(kept_times(p) == std::vector<std::string>{"2026-01-02T00:00:00Z"});
  CHECK(reasons(p, "2026-01-02T00:00:00Z") == std::vector<std::string>{"tags prod,db"});
  p = plan_forget(all, {.tags = {{"db"}, {"prod"}}});  // either list
  CHECK(p.keep.size() == 3);
  CHECK(reasons(p, "2026-01-02T00:00:00Z") == std::vector<std::string>{"tag db", "tag prod"});
}

TEST_CASE("a snapshot kept by several rules lists every reason") {
  // The newest (01-02 18:00) is the last one and the newest of its day; 01-02 08:00 is neither
  // (its day already has a newer one, and keep-last is 1); 01-01 is the second day's newest.
  std::vector<Snapshot> all = {snap("2026-01-01T09:00:00Z", "nas/data", {"prod"}), snap("2026-01-02T08:00:00Z"),
                               snap("2026-01-02T18:00:00Z")};
  auto p = plan_forget(all, {.last = 1, .daily = 2, .tags = {{"prod"}}});
  CHECK(reasons(p, "2026-01-02T18:00:00Z") == std::vector<std::string>{"last snapshot", "daily snapshot"});
  CHECK(reasons(p, "2026-01-01T09:00:00Z") == std::vector<std::string>{"daily snapshot", "tag prod"});
  CHECK(p.remove.size() == 1);
  CHECK(p.remove.front().time == "2026-01-02T08:00:00Z");
}

TEST_CASE("keep-within durations: y m d h in that order, months as in restic") {
  CHECK(within("30d").days == 30);
  const KeepWithin w = within("1y2m3d4h");
  CHECK(w.years == 1);
  CHECK(w.months == 2);
  CHECK(w.days == 3);
  CHECK(w.hours == 4);
  CHECK(w.text() == "1y2m3d4h");
  for (const char* bad : {"", "0d", "30", "d", "1m1y", "1d1d", "30x", "1.5d", "-1d", "1234567d", "30D", " 30d"}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_keep_within(bad));
  }
}
