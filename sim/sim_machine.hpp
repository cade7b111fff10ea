// A machine of the simulated site as SimWorld follows it through its life (sim_machine_life.cpp),
// for SimWorld's files; and the simulated network's name for a VM's NICs.
#pragma once
#include <cstddef>
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
};

/// The simulated network's name for a VM's i-th NIC ("nic0").
inline std::string nic_id(std::size_t i) { return "nic" + std::to_string(i); }

}  // namespace drctl::sim
