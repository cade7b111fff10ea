// Backup and restore actions: backup.snapshot (NAS datasets, Kubernetes objects and VM
// definitions from the site's hosts into one snapshot) and nas.restore (a section back into a
// host's directory). Data moves as tar streams, so a remote host needs nothing but tar.
#pragma once
#include <functional>
#include <map>
#include <string>

#include "actions/action.hpp"

namespace drctl::actions {

/// Adds backup.snapshot, nas.restore and kube.restore to `registry`.
void add_backup_actions(Registry& registry);

/// The files of a snapshot's section (path → content; with `keep`, only the paths it accepts);
/// ActionError when the repository, the snapshot or the section is not there.
std::map<std::string, std::string> snapshot_files(const std::string& repo, const std::string& snapshot,
                                                  const std::string& section,
                                                  const std::function<bool(const std::string&)>& keep = nullptr);

}  // namespace drctl::actions
