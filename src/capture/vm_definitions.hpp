// The hypervisor's VM definitions as files of a snapshot section (`vm`): one NAME.json per VM,
// in the shape vm.create reads back (world::vm_spec_from_json), and beside it NAME.raw, the
// provider's own definition (vSphere's config XML, libvirt's domain XML), so nothing it knows is lost.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "world/world.hpp"

namespace drctl::capture {

/// The VMs `vms` (a hypervisor's list()) as file name → content: NAME.json
/// (world::vm_spec_to_json, two-space indent and a final newline) and NAME.raw when the provider
/// gave its definition.
std::map<std::string, std::string> vm_definition_files(const std::vector<world::VmState>& vms);

}  // namespace drctl::capture
