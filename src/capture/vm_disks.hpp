// VM disk images in a snapshot: what an appliance (pfSense, TrueNAS, vCenter) needs to come back
// the way its vendor supports — its own disks — rather than through an interactive installer.
// Each disk is read through the hypervisor's API and stored as NAME.diskN.img beside NAME.json in
// the `vm` section; the store's chunks make an unchanged disk cost almost nothing the next night.
#pragma once
#include <string>
#include <vector>

#include "capture/nas.hpp"
#include "store/repository.hpp"
#include "world/world.hpp"

namespace drctl::capture {

/// The file name of disk `index` of VM `vm` in the `vm` section: "pfsense.disk0.img".
std::string vm_disk_file(const std::string& vm, std::size_t index);

/// Every disk of each VM named in `vms` ("*" for every VM) among `defined` (the hypervisor's
/// list()), read through `hypervisor` into the store as vm_disk_file() nodes (mode 0600). Throws
/// Failure naming a VM that is not defined, or the hypervisor's reason when a disk cannot be read.
std::vector<store::Node> capture_vm_disks(world::Hypervisor& hypervisor, const std::vector<world::VmState>& defined,
                                          store::Repository& repo, Progress& progress,
                                          const std::vector<std::string>& vms, std::int64_t mtime_ns);

}  // namespace drctl::capture
