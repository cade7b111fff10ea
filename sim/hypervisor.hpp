// The simulated hypervisor: one host with finite CPU threads, memory and datastore, port
// groups on its distributed switches, and VMs defined from provider-neutral VmSpecs.
#pragma once
#include <functional>
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

  /// Guest operations reach the VM's system through its tools, when it runs one.
  world::CommandResult guest_run(const std::string& vm, const world::Command& command) override;
  void guest_put(const std::string& vm, const std::string& path, const std::string& content, unsigned mode) override;
  /// Where guest operations land: the VM's running system, or nullptr.
  void on_guest(std::function<world::Host*(const std::string& vm)> fn) { guest_ = std::move(fn); }

  /// Powers the whole host off (a fault): every VM stops, and none starts until power_on_host().
  void power_off_host();
  void power_on_host();

  /// Files in the datastore (install images). A VM whose CD-ROM or disk image is missing
  /// cannot be defined.
  void add_datastore_file(const std::string& name) { datastore_.insert(name); }
  const std::set<std::string>& datastore_files() const { return datastore_; }
  /// Told of every power change (on = true) and of every destroy, so the site can boot VMs.
  void on_power(std::function<void(const std::string& vm, bool on)> fn) { on_power_ = std::move(fn); }
  void on_destroy(std::function<void(const std::string& vm)> fn) { on_destroy_ = std::move(fn); }
  void on_define(std::function<void(const std::string& vm)> fn) { on_define_ = std::move(fn); }
  const HostCapacity& capacity() const { return capacity_; }

 private:
  world::VmState& vm(const std::string& name);
  world::Host& guest(const std::string& name);
  Engine& engine_;
  HostCapacity capacity_;
  std::set<std::string> port_groups_;
  std::map<std::string, world::VmState> vms_;
  std::set<std::string> datastore_;
  std::function<void(const std::string&, bool)> on_power_;
  std::function<void(const std::string&)> on_destroy_, on_define_;
  std::function<world::Host*(const std::string&)> guest_;
  bool host_up_ = true;
};

}  // namespace drctl::sim
