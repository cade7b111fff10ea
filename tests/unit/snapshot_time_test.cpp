// Snapshot times: utc_text writes ISO 8601 UTC with nanoseconds, parse_utc_text reads it back.
#include <doctest/doctest.h>

#include <chrono>

#include "store/snapshot.hpp"

using namespace drctl;

TEST_CASE("snapshot times: parse_utc_text reads what utc_text writes, to the nanosecond, and refuses what is not one") {
  const auto now = std::chrono::system_clock::now();
  const auto back = store::parse_utc_text(store::utc_text(now));
  REQUIRE(back);
  CHECK(std::chrono::duration_cast<std::chrono::nanoseconds>(*back - now).count() == 0);
  // 2026-12-02T03:00:01.5Z is 1796180401 s and half a second after the epoch (`date -u -d @1796180401`).
  const auto half = store::parse_utc_text("2026-12-02T03:00:01.5Z");
  REQUIRE(half);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(half->time_since_epoch()).count();
  CHECK(ns == 1796180401LL * 1000000000LL + 500000000LL);
  CHECK(store::parse_utc_text("2026-12-02T03:00:01Z"));
  CHECK_FALSE(store::parse_utc_text("yesterday"));
  CHECK_FALSE(store::parse_utc_text("2026-12-02"));
}
