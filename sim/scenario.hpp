// A drill scenario's fault schedule: the `faults:` list read and checked, and each fault fired at
// its virtual time or on the first event that matches it, undone after its duration if it has one.
// What a fault does to the site is the caller's (SimWorld's) Apply function; this only decides when.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sim/engine.hpp"

namespace drctl::sim {

/// One fault of a drill scenario.
struct FaultSpec {
  std::string action;  // power_off, power_on, host_power_off, host_power_on, link_down, link_up, loss, isolate,
                       // unisolate, stop_service, start_service, delete_file, fill_disk, slow_installer
  std::string target;  // VM / machine / node name; for services "machine/unit"; for files "machine:/path"; for
                       // fill_disk a dataset; empty for host_power_* and slow_installer
  double value = 0;    // loss probability (0..1), slowdown factor (> 0)
  std::optional<world::Duration> at;        // at this virtual time (since the start of the run)…
  std::optional<nlohmann::json> on;         // …or when an event with these fields is logged, e.g.
                                            // {"component": "k8s-node2", "event": "install-started"}
  std::optional<world::Duration> after;     // delay after the matching event (only with `on`; default 0)
  std::optional<world::Duration> duration;  // undo after this long (power_off → power_on, host_power_off →
                                            // host_power_on, link_down → link_up, stop_service → start_service,
                                            // isolate → unisolate, loss → loss 0)
  std::string where;                        // "faults[2]" for messages
};

/// Reads a scenario's `faults:` list (JSON converted from YAML by the caller; null is an empty list):
/// every field checked, errors as std::invalid_argument naming the field, e.g.
/// "faults[2].action: 'powr_off' is not a fault (did you mean 'power_off'?)".
/// Times and durations follow base/duration.hpp ("90s", "5m", "1h30m", "1.5s").
std::vector<FaultSpec> read_faults(const nlohmann::json& faults);

/// Fires the faults on `engine`. A firing logs {"component": "faults", "event": "fault", "action",
/// "target", "trigger": "at"|"on", "where"}, then calls apply(fault, false); the undo after `duration`
/// logs "fault-undone" and calls apply(fault, true).
///
/// `at` faults are Engine::at events: they fire even when the run is otherwise quiet (and so keep
/// run() going until they have). `on` faults: observe() only notes the match and schedules the firing
/// with Engine::at at now + after — never from inside observe(). So a firing, whose own events are
/// observed too, can neither recurse nor interrupt the component that logged the triggering event,
/// and each `on` fault fires at most once, for the first matching event. Undos are Engine::background
/// events: they do not keep a run alive. The schedule must outlive the engine's run.
class FaultSchedule {
 public:
  using Apply = std::function<void(const FaultSpec& fault, bool undo)>;
  FaultSchedule(Engine& engine, std::vector<FaultSpec> faults, Apply apply);
  FaultSchedule(const FaultSchedule&) = delete;
  FaultSchedule& operator=(const FaultSchedule&) = delete;

  /// Schedules the `at` faults. Call once, before the run.
  void arm();
  /// Call for every logged event (from the engine's log hook, without holding the engine's lock).
  void observe(const nlohmann::json& event);
  /// For the drill report: the faults that never fired, as "faults[1]: power_off k8s-node2 on {…}".
  std::vector<std::string> not_fired() const;

 private:
  void fire(std::size_t i, const std::string& trigger);

  Engine& engine_;
  std::vector<FaultSpec> faults_;
  Apply apply_;
  std::vector<bool> triggered_;  // an `on` fault's event has been seen (its firing is scheduled)
  std::vector<bool> fired_;
  bool armed_ = false;
};

}  // namespace drctl::sim
