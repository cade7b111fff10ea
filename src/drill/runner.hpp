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
#include "world/world.hpp"

namespace drctl::drill {

/// A scenario file (runbooks/homelab/drills/*.yaml).
struct Scenario {
  std::string name, file;
  std::filesystem::path site, backup, rebuild;  // absolute
  int files_per_dataset = 20;                   // what the services have written before the backup
  std::size_t file_size = 4096;
  int writes_after_backup = 6;                  // written between the backup and the disaster (lost)
  std::map<std::string, std::int64_t> data_sizes;  // dataset -> the bytes its files stand for (`data: {sizes: {mail: 18G}}`)
  world::Duration backup_age{60 * 60000};       // from the backup to the disaster
  std::vector<std::string> disaster;            // VMs lost; empty: every VM and disk
  nlohmann::json faults = nlohmann::json::array();  // during the rebuild; `at` counts from the disaster
  nlohmann::json rebuild_vars = nlohmann::json::object();  // what the rebuild's site says differently
  nlohmann::json backup_vars = nlohmann::json::object();   // what the backup runbook is told differently
  std::optional<world::Duration> max_rto;
  std::string fail_at, reason;                  // the rebuild must fail at this step for this reason
  std::string kill_vip_holder;                  // after the rebuild: the node answering for this VIP dies
};

/// Reads and checks a scenario; a bad one is an InputError naming the file and the field.
Scenario load_scenario(const std::string& path);

/// Runs one scenario with one seed; the rebuild runs at most `jobs` steps at once (0: all that
/// can). `progress` gets a line per phase.
RunResult run_drill(const Scenario& scenario, std::uint64_t seed, const std::function<void(const std::string&)>& progress,
                    int jobs = 0);

}  // namespace drctl::drill
