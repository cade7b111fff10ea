// VM lifecycle actions on the site's hypervisor: vm.create (from the site's `vm:`, a spec or a
// snapshot's VM definitions), vm.power, and vm.upload / vm.exec through the guest tools. And the
// VM lookups the other families that act on VMs (pxe.install, appliance.restore) share.
#pragma once
#include <optional>
#include <string>

#include "actions/action.hpp"

namespace drctl::actions {

/// Adds vm.create, vm.power, vm.upload and vm.exec to `registry`.
void add_vm_actions(Registry& registry);

/// The site's hypervisor; ActionError when it has none.
world::Hypervisor& hypervisor(Context& ctx);

/// The `vm` input, else the step's host's name; ActionError when neither names one.
std::string vm_name(Context& ctx);

/// The VM of that name on the hypervisor; nullopt when it is not defined.
std::optional<world::VmState> find_vm(Context& ctx, const std::string& name);

}  // namespace drctl::actions
