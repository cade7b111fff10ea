// NAS actions: nas.export (a dataset shared over NFS) and nas.restore (a snapshot's section back
// into a directory of the step's host). Backing the data up is backup.snapshot's.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds nas.export and nas.restore to `registry`.
void add_nas_actions(Registry& registry);

}  // namespace drctl::actions
