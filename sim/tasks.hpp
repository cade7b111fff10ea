// Tasks as simulator actors: the executor's steps take turns in virtual time.
#pragma once
#include "sim/engine.hpp"

namespace drctl::sim {

class EngineTasks : public world::Tasks {
 public:
  explicit EngineTasks(Engine& engine) : engine_(engine) {}
  /// Runs `main` as the first actor and drives the engine until everything is done.
  void run(const std::function<void()>& main) override {
    engine_.spawn("executor", main);
    engine_.run();
  }
  void start(const std::string& name, std::function<void()> fn) override { engine_.spawn(name, std::move(fn)); }
  /// Virtual time never passes for nothing: waits for a task to finish, not for `poll`.
  void wait(world::Duration) override { engine_.wait_signal(); }
  void notify() override { engine_.signal(); }

 private:
  Engine& engine_;
};

/// The simulation's calendar starts at 2024-01-01T00:00:00Z (what the cluster's timestamps and a
/// simulated snapshot's time show).
inline constexpr std::chrono::seconds kCalendarStart{1704067200};

/// Virtual time: now() is the simulation's start plus Engine::now(); sleep waits in it.
class EngineClock : public world::Clock {
 public:
  explicit EngineClock(Engine& engine) : engine_(engine) {}
  world::Clock_::time_point now() override { return world::Clock_::time_point(engine_.now()); }
  std::chrono::system_clock::time_point calendar_now() override {
    return std::chrono::system_clock::time_point(kCalendarStart) + engine_.now();
  }
  bool sleep(world::Duration d) override {
    engine_.sleep(d);
    return true;
  }

 private:
  Engine& engine_;
};

}  // namespace drctl::sim
