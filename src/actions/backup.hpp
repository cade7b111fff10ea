// Backup and restore actions: backup.snapshot (NAS datasets, Kubernetes objects and VM
// definitions from the site's hosts into one snapshot) and nas.restore (a section back into a
// host's directory). Data moves as tar streams, so a remote host needs nothing but tar.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds backup.snapshot and nas.restore to `registry`.
void add_backup_actions(Registry& registry);

}  // namespace drctl::actions
