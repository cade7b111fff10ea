// Drills: a scenario run in the simulator — the site brought up with its data, backed up, hit
// by the disaster, rebuilt (with faults during the rebuild), checked against its expectations.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "drill/report.hpp"
#include "drill/scenario.hpp"
#include "world/world.hpp"

namespace drctl::drill {

/// Runs one scenario with one seed; the rebuild runs at most `jobs` steps at once (0: all that
/// can). `progress` gets a line per phase.
RunResult run_drill(const Scenario& scenario, std::uint64_t seed, const std::function<void(const std::string&)>& progress,
                    int jobs = 0);

}  // namespace drctl::drill
