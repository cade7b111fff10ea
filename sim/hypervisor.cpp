#include "sim/hypervisor.hpp"

#include <algorithm>
#include <stdexcept>

namespace drctl::sim {

SimHypervisor::SimHypervisor(Engine& engine, HostCapacity capacity, std::set<std::string> port_groups)
    : engine_(engine), capacity_(capacity), port_groups_(std::move(port_groups)) {}

std::vector<world::VmState> SimHypervisor::list() {
  std::vector<world::VmState> out;
  for (const auto& [name, vm] : vms_) out.push_back(vm);
  return out;
}

world::VmState& SimHypervisor::vm(const std::string& name) {
  auto it = vms_.find(name);
  if (it == vms_.end()) throw std::runtime_error("no VM named " + name + " on the hypervisor");
  return it->second;
}

void SimHypervisor::define(const world::VmSpec& spec) {
  if (vms_.contains(spec.name)) throw std::runtime_error("a VM named " + spec.name + " already exists");
  auto refuse = [&](const std::string& what) {
    engine_.log("hypervisor", "define-refused", {{"vm", spec.name}, {"reason", what}});
    throw std::runtime_error("cannot define VM " + spec.name + ": " + what);
  };
  // Thick disks take their whole size when they are created; thin ones only what is written, so
  // they overcommit the datastore (the simulator writes nothing to it: a thin disk takes nothing).
  std::int64_t thick = 0, want_thick = 0, want_disk = 0;
  for (const auto& [name, vm] : vms_)
    for (const auto& d : vm.spec.disks)
      if (!d.thin) thick += d.size_gb;
  for (const auto& d : spec.disks) {
    want_disk += d.size_gb;
    if (!d.thin) want_thick += d.size_gb;
  }
  if (want_thick > 0 && thick + want_thick > capacity_.datastore_gb) {
    std::string datastore = "datastore1";
    for (const auto& d : spec.disks)
      if (!d.thin && !d.datastore.empty()) datastore = d.datastore;
    refuse("Insufficient disk space on datastore '" + datastore + "' (its thick disks need " +
           std::to_string(want_thick) + " GB, " + std::to_string(capacity_.datastore_gb - thick) + " of " +
           std::to_string(capacity_.datastore_gb) + " GB are free)");
  }
  for (const auto& nic : spec.nics)
    if (!port_groups_.contains(nic.network)) refuse("its NIC is on port group '" + nic.network + "', which does not exist");
  std::vector<std::string> images;
  if (!spec.cdrom.empty()) images.push_back(spec.cdrom);
  for (const auto& d : spec.disks)
    if (!d.image.empty()) images.push_back(d.image);
  for (const auto& image : images)
    if (!datastore_.contains(image)) {
      std::string have;
      for (const auto& f : datastore_) have += (have.empty() ? "" : ", ") + f;
      refuse("its install image '" + image + "' is not in the datastore (" + (have.empty() ? "which is empty" : "it has " + have) + ")");
    }
  vms_[spec.name] = world::VmState{spec, false, ""};
  engine_.log("hypervisor", "vm-defined",
              {{"vm", spec.name}, {"vcpus", spec.vcpus}, {"memory_mb", spec.memory_mb}, {"disk_gb", want_disk}});
  if (const auto warning = overcommitted(); !warning.empty())
    engine_.log("hypervisor", "overcommitted", {{"vm", spec.name}, {"warning", warning}});
  if (on_define_) on_define_(spec.name);
}

std::string SimHypervisor::overcommitted() const {
  int vcpus = 0;
  std::int64_t memory = 0;
  for (const auto& [name, vm] : vms_) {
    vcpus += vm.spec.vcpus;
    memory += vm.spec.memory_mb;
  }
  std::string out;
  if (vcpus > capacity_.threads)
    out = "the VMs have " + std::to_string(vcpus) + " vCPUs on the host's " + std::to_string(capacity_.threads) +
          " logical CPUs (CPU overcommitted: they share it in time slices)";
  if (memory > capacity_.memory_mb)
    out += std::string(out.empty() ? "" : "; ") + "the VMs are configured with " + std::to_string(memory) +
           " MB of memory on the host's " + std::to_string(capacity_.memory_mb) +
           " MB (memory overcommitted: ballooning, compression and swapping reclaim it under contention)";
  return out;
}

void SimHypervisor::start(const std::string& name) {
  auto& v = vm(name);
  if (!host_up_) throw std::runtime_error("cannot power on " + name + ": the host is powered off");
  if (v.running) return;
  // ESXi refuses to power on a VM with more vCPUs than the host has logical CPUs; the total over
  // all VMs may exceed them (overcommitment), but one VM's cannot.
  if (v.spec.vcpus > capacity_.threads) {
    const std::string why = "Virtual machine has " + std::to_string(v.spec.vcpus) + " virtual CPUs, but the host only supports " +
                            std::to_string(capacity_.threads) +
                            ". The number of virtual CPUs may be limited by the guest OS selected for the virtual machine "
                            "or by the licensing for the host.";
    engine_.log("hypervisor", "power-on-refused", {{"vm", name}, {"reason", why}});
    throw std::runtime_error("cannot power on " + name + ": " + why);
  }
  v.running = true;
  engine_.log("hypervisor", "vm-powered-on", {{"vm", name}});
  if (on_power_) on_power_(name, true);
}

void SimHypervisor::stop(const std::string& name) {
  auto& v = vm(name);
  if (!v.running) return;
  v.running = false;
  engine_.log("hypervisor", "vm-powered-off", {{"vm", name}});
  if (on_power_) on_power_(name, false);
}

void SimHypervisor::destroy(const std::string& name) {
  if (vm(name).running) stop(name);
  vms_.erase(name);
  engine_.log("hypervisor", "vm-destroyed", {{"vm", name}});
  if (on_destroy_) on_destroy_(name);
}

std::int64_t SimHypervisor::read_disk(const std::string& name, std::size_t disk, const world::ByteSink& sink) {
  const auto& v = vm(name);
  if (disk >= v.spec.disks.size())
    throw std::runtime_error("VM " + name + " has no disk " + std::to_string(disk) + " (it has " +
                             std::to_string(v.spec.disks.size()) + ")");
  const std::string image = read_disk_ ? read_disk_(name, disk) : "";
  for (std::size_t at = 0; at < image.size(); at += 1 << 16) sink(image.data() + at, std::min<std::size_t>(1 << 16, image.size() - at));
  engine_.log("hypervisor", "disk-read", {{"vm", name}, {"disk", disk}, {"bytes", image.size()}});
  return static_cast<std::int64_t>(image.size());
}

void SimHypervisor::write_disk(const std::string& name, std::size_t disk, const world::ByteSource& source, std::int64_t size) {
  const auto& v = vm(name);
  if (disk >= v.spec.disks.size())
    throw std::runtime_error("VM " + name + " has no disk " + std::to_string(disk) + " (it has " +
                             std::to_string(v.spec.disks.size()) + ")");
  if (v.running) throw std::runtime_error("cannot write disk " + std::to_string(disk) + " of " + name + ": the VM is powered on");
  std::string image;
  char buf[1 << 16];
  while (static_cast<std::int64_t>(image.size()) < size) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::int64_t>(sizeof buf, size - static_cast<std::int64_t>(image.size())));
    const std::size_t got = source(buf, want);
    if (got == 0) break;
    image.append(buf, got);
  }
  if (static_cast<std::int64_t>(image.size()) != size)
    throw std::runtime_error("disk " + std::to_string(disk) + " of " + name + ": the image ended after " +
                             std::to_string(image.size()) + " of " + std::to_string(size) + " bytes");
  engine_.log("hypervisor", "disk-written", {{"vm", name}, {"disk", disk}, {"bytes", image.size()}});
  if (write_disk_) write_disk_(name, disk, std::move(image));
}

world::Host& SimHypervisor::guest(const std::string& name) {
  if (!vm(name).running) throw std::runtime_error("guest operations on " + name + ": the VM is powered off");
  world::Host* host = guest_ ? guest_(name) : nullptr;
  if (!host) {
    const std::string why = guest_down_ ? guest_down_(name) : "";
    throw std::runtime_error("guest operations on " + name + ": its guest tools are not running (the system is not up" +
                             (why.empty() ? "" : ": " + why) + ")");
  }
  return *host;
}

world::CommandResult SimHypervisor::guest_run(const std::string& name, const world::Command& command) {
  engine_.log("hypervisor", "guest-run", {{"vm", name}, {"script", command.script}});
  return guest(name).run(command);
}

void SimHypervisor::guest_put(const std::string& name, const std::string& path, const std::string& content, unsigned mode) {
  guest(name).put_file(path, content, mode);
}

void SimHypervisor::power_on_host() {
  host_up_ = true;
  engine_.log("hypervisor", "host-powered-on");
}

void SimHypervisor::power_off_host() {
  host_up_ = false;
  engine_.log("hypervisor", "host-powered-off");
  for (auto& [name, vm] : vms_)
    if (vm.running) {
      vm.running = false;
      if (on_power_) on_power_(name, false);
    }
}

}  // namespace drctl::sim
