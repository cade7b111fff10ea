#include <doctest/doctest.h>

#include <chrono>
#include <exception>
#include <functional>
#include <set>
#include <stdexcept>

#include "sim/engine.hpp"

using namespace drctl::sim;
using namespace std::chrono_literals;

namespace {
/// Six "installs" in parallel, each a seeded duration of about ten minutes.
std::string six_installs(std::uint64_t seed, Duration* finished = nullptr) {
  Engine e(seed);
  for (int i = 0; i < 6; ++i)
    e.spawn("vm" + std::to_string(i), [&e, i] {
      e.log("vm" + std::to_string(i), "install-start");
      e.sleep(e.rng().between(9min, 11min));
      e.log("vm" + std::to_string(i), "install-done");
    });
  e.run();
  if (finished) *finished = e.now();
  return e.log_jsonl();
}
}  // namespace

TEST_CASE("sim engine: the same seed gives the same event log, another seed other timings") {
  std::string a = six_installs(7), b = six_installs(7), c = six_installs(8);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(std::count(a.begin(), a.end(), '\n') == std::count(c.begin(), c.end(), '\n'));  // same outcome
}

TEST_CASE("sim engine: parallel waits overlap in virtual time and cost no wall time") {
  Duration end{0};
  auto t0 = std::chrono::steady_clock::now();
  six_installs(3, &end);
  auto wall = std::chrono::steady_clock::now() - t0;
  CHECK(end >= Duration(9min));
  CHECK(end <= Duration(11min));  // about one install, not six
  CHECK(wall < end);  // an engine that really slept would take at least the virtual time
}

TEST_CASE("sim engine: actors take turns in a fixed order and timers interleave with them") {
  Engine e(1);
  std::vector<std::string> order;
  e.spawn("a", [&] {
    order.push_back("a0");
    e.sleep(2s);
    order.push_back("a2");
  });
  e.spawn("b", [&] {
    order.push_back("b0");
    e.sleep(1s);
    order.push_back("b1");
    e.spawn("c", [&] { order.push_back("c1"); });
    e.sleep(1s);
    order.push_back("b2");
  });
  e.at(Duration(1500), [&] { order.push_back("timer1.5"); });
  e.run();
  CHECK(order == std::vector<std::string>{"a0", "b0", "b1", "c1", "timer1.5", "a2", "b2"});
  CHECK(e.now() == Duration(2000));
}

TEST_CASE("sim engine: an actor that throws stops the run and the others are unwound") {
  Engine e(1);
  bool after = false;
  e.spawn("waits", [&] {
    e.sleep(10min);
    after = true;
  });
  e.spawn("fails", [&] {
    e.sleep(1s);
    throw std::runtime_error("boom");
  });
  CHECK_THROWS_WITH_AS(e.run(), "boom", std::runtime_error);
  CHECK_FALSE(after);
}

TEST_CASE("sim engine: an actor waiting inside a catch block keeps its own exception while others throw") {
  // Actors are fibers on one thread: the C++ runtime's "exception being handled" must follow
  // each actor, or a `throw;` after a wait would rethrow another actor's exception.
  Engine e(1);
  std::string rethrown, other_caught;
  int uncaught_in_catch = -1;
  e.spawn("retrier", [&] {
    try {
      try {
        throw std::runtime_error("first attempt failed");
      } catch (const std::runtime_error&) {
        e.sleep(5s);  // the other actor throws and catches meanwhile
        uncaught_in_catch = std::uncaught_exceptions();
        throw;
      }
    } catch (const std::runtime_error& again) {
      rethrown = again.what();
    }
  });
  e.spawn("other", [&] {
    e.sleep(1s);
    try {
      throw std::logic_error("unrelated");
    } catch (const std::logic_error& x) {
      e.sleep(10s);  // still handling it when the retrier resumes
      other_caught = x.what();
    }
  });
  e.run();
  CHECK(rethrown == "first attempt failed");
  CHECK(other_caught == "unrelated");
  CHECK(uncaught_in_catch == 0);
  CHECK(e.now() == 11s);
}

TEST_CASE("sim engine: an engine torn down while an exception unwinds leaves the thread's exception state as it was") {
  // ~Engine unwinds a parked actor (its fiber throws and catches); the thread must get its own
  // exception state back, or the count of uncaught exceptions wraps below zero.
  int uncaught_after = -1;
  try {
    Engine e(1);
    e.spawn("parked", [&] { e.sleep(1h); });
    e.run_for(1s);
    throw std::runtime_error("a failing check");
  } catch (const std::runtime_error&) {
    uncaught_after = std::uncaught_exceptions();
  }
  CHECK(uncaught_after == 0);
}

TEST_CASE("sim engine: an engine run inside a catch block keeps the exception being handled") {
  std::string rethrown;
  try {
    try {
      throw std::runtime_error("outer");
    } catch (const std::runtime_error&) {
      Engine e(1);
      e.spawn("a", [&] { e.sleep(1s); });
      e.run();  // the actor finishes: the thread is back on the driver
      throw;
    }
  } catch (const std::runtime_error& x) {
    rethrown = x.what();
  }
  CHECK(rethrown == "outer");
}

TEST_CASE("sim engine: an actor that catches the teardown and waits again is still unwound") {
  bool unwound = false;
  {
    Engine e(1);
    e.spawn("stubborn", [&] {
      struct Mark {
        bool& b;
        ~Mark() { b = true; }
      } mark{unwound};
      try {
        e.sleep(1h);
      } catch (...) {
        e.sleep(1h);  // throws again at once: the engine is being torn down
      }
    });
    e.run_for(1s);
  }
  CHECK(unwound);
}

TEST_CASE("sim engine: an actor has a thread's stack depth") {
  Engine e(1);
  std::function<int(int)> down = [&](int n) {
    volatile char frame[1024] = {};
    return n == 0 ? frame[0] : down(n - 1) + 1 + frame[1];
  };
  int depth = 0;
  e.spawn("deep", [&] { depth = down(4000); });  // about 4 MB of frames
  e.run();
  CHECK(depth == 4000);
}

TEST_CASE("sim rng: ranges stay within bounds and are reproducible") {
  Rng a(42), b(42);
  std::set<std::uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    auto x = a.range(3, 9);
    CHECK(x >= 3);
    CHECK(x <= 9);
    CHECK(x == b.range(3, 9));
    seen.insert(x);
  }
  CHECK(seen.size() == 7);
}
