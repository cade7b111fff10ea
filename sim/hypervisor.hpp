// The simulated hypervisor: one host with finite CPU threads, memory and datastore, port
// groups on its distributed switches, and VMs defined from provider-neutral VmSpecs.
#pragma once
#include <map>
#include <set>
#include <string>

#include "sim/engine.hpp"

namespace drctl::sim {

/// What the host has (the seed's ESXi host: 12 threads, 80 GB).
struct HostCapacity {
  int threads = 12;
  std::int64_t memory_mb = 80 * 1024;
  std::int64_t datastore_gb = 2000;
};

class SimHypervisor : public world::Hypervisor {
 public:
  SimHypervisor(Engine& engine, HostCapacity capacity, std::set<std::string> port_groups);

  std::vector<world::VmState> list() override;
  /// Fails (std::runtime_error naming the numbers) when the VM does not fit what is left,
  /// names an unknown port group, or already exists.
  void define(const world::VmSpec& spec) override;
  void start(const std::string& name) override;
  void stop(const std::string& name) override;
  void destroy(const std::string& name) override;

  /// Powers the whole host off (a fault): every VM stops.
  void power_off_host();

 private:
  world::VmState& vm(const std::string& name);
  Engine& engine_;
  HostCapacity capacity_;
  std::set<std::string> port_groups_;
  std::map<std::string, world::VmState> vms_;
};

}  // namespace drctl::sim
