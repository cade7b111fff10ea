// Appliance actions: appliance.restore, an appliance's configuration loaded through the
// hypervisor's guest tools (no network needed) from a file, a template or a snapshot.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds appliance.restore to `registry`.
void add_appliance_actions(Registry& registry);

}  // namespace drctl::actions
