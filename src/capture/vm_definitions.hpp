// The hypervisor's VM definitions as files of a snapshot section (`vm`): one NAME.json per VM,
// in the shape vm.create reads back (world::vm_spec_from_json).
#pragma once
#include <map>
#include <string>

#include "world/world.hpp"

namespace drctl::capture {

/// Every VM `hypervisor` defines, as file name (NAME.json) → JSON (vcpus, memory "NM", disks
/// with size "NG", nics, boot, cdrom; two-space indent and a final newline).
std::map<std::string, std::string> vm_definition_files(world::Hypervisor& hypervisor);

}  // namespace drctl::capture
