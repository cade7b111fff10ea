// VM lifecycle actions: vm.create, vm.power, and pxe.install (network boot until SSH answers).
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds vm.create, vm.power and pxe.install to `registry`.
void add_vm_actions(Registry& registry);

}  // namespace drctl::actions
