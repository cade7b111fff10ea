// NAS actions that act on the NAS itself (its shares); the data moves with the backup actions.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds nas.export to `registry`.
void add_nas_actions(Registry& registry);

}  // namespace drctl::actions
