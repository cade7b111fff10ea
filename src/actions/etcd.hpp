// etcd actions: etcd.restore, the control plane's etcd data directory from a snapshot's etcd.db.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds etcd.restore to `registry`.
void add_etcd_actions(Registry& registry);

}  // namespace drctl::actions
