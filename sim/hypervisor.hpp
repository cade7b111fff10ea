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
  /// Fails (std::runtime_error naming the numbers) when its thick disks do not fit the datastore's
  /// free space, it names an unknown port group, or it already exists. vCPUs and memory may be
  /// overcommitted, as on ESXi: the total over all VMs beyond the host's is logged as a warning
  /// ("hypervisor", "overcommitted"), not refused; thin disks overcommit the datastore.
  void define(const world::VmSpec& spec) override;
  /// Powers a VM on; refused (as ESXi refuses it) when the VM has more vCPUs than the host has
  /// logical CPUs, or the host is off.
  void start(const std::string& name) override;
  void stop(const std::string& name) override;
  void destroy(const std::string& name) override;

  /// A disk's image (sim/disk_image.hpp), read through the site's hook. Fails for an unknown VM
  /// or a disk it does not have.
  std::int64_t read_disk(const std::string& vm, std::size_t disk, const world::ByteSink& sink) override;
  /// Replaces what a defined, powered-off VM's disk holds with an image of `size` bytes; the VM
  /// boots what it holds (SimWorld). A running VM, an unknown disk or a short source fail.
  void write_disk(const std::string& vm, std::size_t disk, const world::ByteSource& source, std::int64_t size) override;
  /// Where disk images come from and go to: the site's machines.
  void on_disks(std::function<std::string(const std::string& vm, std::size_t disk)> read,
                std::function<void(const std::string& vm, std::size_t disk, std::string image)> write) {
    read_disk_ = std::move(read);
    write_disk_ = std::move(write);
  }

  /// Guest operations reach the VM's system through its tools, when it runs one.
  world::CommandResult guest_run(const std::string& vm, const world::Command& command) override;
  void guest_put(const std::string& vm, const std::string& path, const std::string& content, unsigned mode) override;
  /// Where guest operations land: the VM's running system, or nullptr.
  void on_guest(std::function<world::Host*(const std::string& vm)> fn) { guest_ = std::move(fn); }
  /// Why a VM's system is not up (its state and last problem), for guest operations' errors.
  void on_guest_down(std::function<std::string(const std::string& vm)> fn) { guest_down_ = std::move(fn); }

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
  /// Why the VMs overcommit the host's CPUs or memory (a warning, naming the numbers); "" when they fit.
  std::string overcommitted() const;

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
  std::function<std::string(const std::string&)> guest_down_;
  std::function<std::string(const std::string&, std::size_t)> read_disk_;
  std::function<void(const std::string&, std::size_t, std::string)> write_disk_;
  bool host_up_ = true;
};

}  // namespace drctl::sim
