// A drill scenario (runbooks/homelab/drills/*.yaml): read and checked completely — its files,
// the VMs it loses, its faults, its vars, its expectations — before anything runs, so that a
// typo is one line "file:line:col: … (did you mean …?)" and exit 2, never a drill that passes
// because it did nothing.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "world/world.hpp"

namespace drctl::drill {

/// A scenario file (runbooks/homelab/drills/*.yaml).
struct Scenario {
  std::string name, file;
  std::filesystem::path site, backup, rebuild;  // absolute
  int files_per_dataset = 20;                   // what the services have written before the backup
  std::size_t file_size = 4096;
  int writes_after_backup = 6;                  // written between the backup and the disaster (lost)
  int backups = 1;                              // nightly backups before the disaster; the rebuild restores the last
  world::Duration backup_every{24 * 60 * 60000};  // between two of them
  int changes_between_backups = 4;              // made between two backups: a file added, changed, renamed, removed, in turn
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

/// Reads and checks a scenario: every key known; site, backup and rebuild load and validate
/// (with the scenario's vars, which must be vars the runbook declares); `disaster:` names VMs of
/// the site; every fault's kind, times and target exist (machines, VMs, appliance units, NAS
/// datasets); expect.fail_at is a step of the rebuild; after_rebuild.kill_vip_holder is in the
/// site's MetalLB pool. A bad one is a runbook::LoadError (an InputError, exit 2) at the value.
Scenario load_scenario(const std::string& path);

}  // namespace drctl::drill
