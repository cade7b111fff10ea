// From a runbook to what runs: step instances (fan-out over hosts and items), their
// dependencies, the waves that can run together, and the critical path.
#pragma once
#include <optional>
#include <set>
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

/// Whether a rendered `when:` skips its step: "", false, 0 or no; "not X" with X none of those;
/// "A == B" / "A != B" comparing text; terms joined by " and " must all hold.
bool when_false(const std::string& rendered);

/// Whether step `s`'s `when:` skips it with the runbook's vars as they are (after --set): true
/// or false when it reads only vars, site and runbook; nullopt when it reads a host, an item or
/// a step's outputs, so that only the run can tell. A step without `when:` is not skipped.
std::optional<bool> skipped_by_when(const Runbook& rb, const Step& s);

/// The steps `when:` skips with the runbook's vars as they are (skipped_by_when is true).
std::set<std::string> steps_skipped_by_when(const Runbook& rb);

/// The chain of `needs` with the largest total of estimates (a step's timeout where it has no
/// estimate), and that total. Steps in `skipped` take no time and are not listed.
struct CriticalPath {
  std::vector<std::string> steps;
  world::Duration total{0};
  world::Duration bound{0};  // the same chain's timeouts (its estimate where a step has no timeout): how long it may take
  bool complete = true;      // false when a step on it has neither timeout nor estimate
};
CriticalPath critical_path(const Runbook& rb, const std::set<std::string>& skipped = {});

/// Graphviz DOT of the step graph.
std::string to_dot(const Runbook& rb);

/// "90s", "20m", "1h 5m".
std::string format_duration(world::Duration d);

}  // namespace drctl::runbook
