// A machine of the simulated site as SimWorld follows it through its life (sim_machine_life.cpp),
// for SimWorld's files; and the simulated network's name for a VM's NICs.
#pragma once
#include <cstddef>
#include <map>
#include <set>
#include <vector>
#include <memory>
#include <optional>
#include <string>

#include "sim/sim_world.hpp"

namespace drctl::sim {

/// One VM or physical machine: its state, its disk's system and the last thing that went wrong.
struct SimWorld::Machine {
  std::string name;
  const MachineModel* model = nullptr;
  world::VmSpec spec;
  std::string state = "off";
  std::uint64_t gen = 0;  // bumped at every power change: callbacks of an earlier boot do nothing
  bool on_disk = false;   // an installed system (or appliance) on the disk
  std::unique_ptr<SimHost> system;
  std::optional<InstallPlan> plan;
  std::string problem;    // the last thing that went wrong, for diagnose()
  /// Disk images written into the powered-off VM (disk index -> bytes), booted from at its next
  /// power-on: until then they are what its disks hold.
  std::map<std::size_t, std::string> written;
  /// The units its system starts at boot when they are not the install's (a system restored from
  /// a disk image starts what the image says).
  std::optional<std::vector<std::string>> boot_units;
};

/// What an appliance's install brings, and the services it starts at boot.
struct ApplianceImage {
  std::vector<std::string> units;
  std::map<std::string, std::string> files;
};
ApplianceImage appliance_image(const std::string& kind);
/// Packages the installed systems' mirror offers (apt install of anything else fails).
const std::set<std::string>& mirror_packages();

/// The simulated network's name for a VM's i-th NIC ("nic0").
inline std::string nic_id(std::size_t i) { return "nic" + std::to_string(i); }

}  // namespace drctl::sim
