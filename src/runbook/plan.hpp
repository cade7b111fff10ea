// From a runbook to what runs: step instances (fan-out over hosts and items), their
// dependencies, the waves that can run together, and the critical path.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "runbook/model.hpp"

namespace drctl::runbook {

/// One execution of a step: on one host, for one item.
struct Instance {
  std::string id;      // "step", "step[host]", "step[2]", "step[host][2]"
  const Step* step = nullptr;
  std::string host;    // a site host name, or "local"
  std::optional<json> item;
  std::vector<std::size_t> deps;  // indexes of instances this one waits for
};

/// Expands every step into its instances (hosts of its `on` group × its `for_each` items), in
/// dependency order.
std::vector<Instance> expand(const Runbook& rb);

/// Step ids grouped into waves: a step is in the wave after the last of its `needs`.
std::vector<std::vector<std::string>> waves(const Runbook& rb);

/// The chain of `needs` with the largest total of timeouts (or estimates), and that total.
struct CriticalPath {
  std::vector<std::string> steps;
  world::Duration total{0};
  bool complete = true;  // false when a step on it has neither timeout nor estimate
};
CriticalPath critical_path(const Runbook& rb);

/// Graphviz DOT of the step graph.
std::string to_dot(const Runbook& rb);

/// "90s", "20m", "1h 5m".
std::string format_duration(world::Duration d);

}  // namespace drctl::runbook
