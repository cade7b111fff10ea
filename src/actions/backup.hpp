// backup.snapshot: the site's data — directories of hosts, Kubernetes objects (with etcd's
// snapshot beside them), the hypervisor's VM definitions — into one snapshot, through the
// pipeline `drctl snapshot create` uses (capture::Backup). The restores live with their
// families: nas.restore (nas), kube.restore (kube), etcd.restore (etcd), verify.data (verify).
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds backup.snapshot to `registry`.
void add_backup_actions(Registry& registry);

}  // namespace drctl::actions
