// The simulator's core: one virtual clock, one seeded RNG, an event queue, an event log, and
// actors (fibers on the thread that drives the engine: one runs at a time, in a deterministic
// order, and waits in virtual time).
// Same seed and same inputs give the same event log, byte for byte (DESIGN.md, "Simulator").
#pragma once
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "world/world.hpp"

namespace drctl::sim {

using world::Duration;
using json = nlohmann::json;

/// xoshiro256** seeded through splitmix64: the same numbers on every platform (unlike the
/// standard distributions, whose algorithms are left to the library).
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  /// Uniform in [lo, hi] (inclusive).
  std::uint64_t range(std::uint64_t lo, std::uint64_t hi);
  /// Uniform in [lo, hi], to the millisecond.
  Duration between(Duration lo, Duration hi);

 private:
  std::uint64_t s_[4];
};

class Engine {
 public:
  explicit Engine(std::uint64_t seed);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Virtual time since the start of the simulation.
  Duration now() const { return now_; }
  Rng& rng() { return rng_; }

  /// Appends {"t": ms, "component", "event", ...details} to the event log.
  void log(const std::string& component, const std::string& event, const json& details = json::object());
  /// Calls `fn` with every event logged from now on (after it is recorded). An observer may log
  /// in turn; those events reach the observers too.
  void on_log(std::function<void(const json& event)> fn) { observers_.push_back(std::move(fn)); }
  /// The event log as JSON lines (bytes of logged text that are not UTF-8 become U+FFFD).
  std::string log_jsonl() const;
  const std::vector<json>& events() const { return events_; }

  /// Starts an actor. It runs when the engine gives it its turn: actors run one at a time,
  /// in the order they became runnable, until they wait or finish. May be called by actors.
  void spawn(std::string name, std::function<void()> body);
  /// From an actor: waits `d` of virtual time (others run meanwhile; no wall time passes).
  void sleep(Duration d);
  /// From an actor: waits until another actor or a callback calls signal(). An actor that
  /// would wait forever (nothing left to signal it) ends the run with an error.
  void wait_signal();
  /// Makes every actor in wait_signal() runnable again.
  void signal();
  /// Runs `fn` on the engine's own turn at virtual time `when` (for modelled components:
  /// an install finishing, a lease expiring). Ties run in the order they were scheduled.
  void at(Duration when, std::function<void()> fn);
  /// Like at(), for the modelled world going on by itself (a VM retrying its boot, a lease
  /// renewal): such events run while actors are alive but do not keep run() going.
  void background(Duration when, std::function<void()> fn);
  /// Drives the simulation until no actor is left and no event is due (background events
  /// aside). When an actor or a callback throws, the other actors are unwound and the
  /// exception is rethrown here.
  void run();
  /// Runs everything due within `d` of virtual time (background events included), then
  /// sets the clock to now() + d. For driving modelled components without actors.
  void run_for(Duration d);

  /// True when called from one of this engine's actors.
  bool in_actor() const;
  /// Unwinds every actor still waiting (its wait throws, its destructors run) and refuses
  /// further waits. An owner whose members the actors use calls it before they go.
  void shutdown();

 private:
  struct Actor;
  struct Due {
    Duration time;
    std::uint64_t seq;
    Actor* actor;              // wake this actor, or
    std::function<void()> fn;  // run this
    bool background = false;
  };
  /// Drops due events and stops when only background work is left; true when it stopped.
  bool only_background_left() const;
  void drive(Duration until);
  void finish();
  Actor* self() const;
  /// From the driver: runs `a` until it waits or finishes.
  void give_turn(Actor* a);
  /// From actor `a`: back to the driver until `a` gets its turn again.
  void yield_turn(Actor* a);
  static void actor_main();

  Rng rng_;
  Duration now_{0};
  std::vector<json> events_;
  std::vector<std::function<void(const json&)>> observers_;
  mutable std::mutex mutex_;  // the event log and the queues: modelled code may log from a helper thread
  struct Context;
  std::unique_ptr<Context> driver_;  // where give_turn returns to
  std::vector<std::unique_ptr<Actor>> actors_;
  std::deque<Actor*> runnable_;
  std::vector<Actor*> signalled_;  // actors in wait_signal()
  std::map<std::pair<Duration, std::uint64_t>, Due> due_;
  std::uint64_t seq_ = 0;
  std::size_t foreground_due_ = 0;  // due entries that are not background
  Actor* current_ = nullptr;
  std::exception_ptr failure_;
  bool aborting_ = false;
  struct Aborted {};
};

}  // namespace drctl::sim
