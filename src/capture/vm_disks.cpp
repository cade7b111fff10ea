#include "capture/vm_disks.hpp"

#include <algorithm>

#include "base/error.hpp"
#include "capture/section_builder.hpp"

namespace drctl::capture {

std::string vm_disk_file(const std::string& vm, std::size_t index) {
  return vm + ".disk" + std::to_string(index) + ".img";
}

std::vector<store::Node> capture_vm_disks(world::Hypervisor& hypervisor, const std::vector<world::VmState>& defined,
                                          store::Repository& repo, Progress& progress,
                                          const std::vector<std::string>& vms, std::int64_t mtime_ns) {
  const bool every = std::find(vms.begin(), vms.end(), "*") != vms.end();
  for (const auto& name : vms)
    if (name != "*" && std::none_of(defined.begin(), defined.end(), [&](const auto& vm) { return vm.spec.name == name; }))
      throw Failure("disks: no VM named " + name + " on the hypervisor");
  std::vector<store::Node> nodes;
  for (const auto& vm : defined) {
    if (!every && std::find(vms.begin(), vms.end(), vm.spec.name) == vms.end()) continue;
    for (std::size_t i = 0; i < vm.spec.disks.size(); ++i) {
      FileWriter writer(repo, progress);
      try {
        hypervisor.read_disk(vm.spec.name, i, [&](const char* data, std::size_t size) { writer.write(data, size); });
      } catch (const std::runtime_error& e) {
        throw Failure("disk " + std::to_string(i) + " of VM " + vm.spec.name + ": " + e.what());
      }
      nodes.push_back(writer.finish(vm_disk_file(vm.spec.name, i), 0600, mtime_ns));
    }
  }
  return nodes;
}

}  // namespace drctl::capture
