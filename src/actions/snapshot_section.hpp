// A snapshot's section as the restore and check actions name it (inputs repo, snapshot, section),
// and the files of a section for actions that read them whole (VM definitions, an appliance's
// configuration, Kubernetes objects).
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "actions/action.hpp"
#include "capture/digest.hpp"
#include "store/lock.hpp"
#include "store/repository.hpp"
#include "store/snapshot.hpp"

namespace drctl::actions {

/// A section of a snapshot in a repository, as the inputs repo, snapshot and section name it,
/// held as a reader (store::ReadLock) so that a prune beside the step waits for it.
struct OpenSection {
  std::optional<store::ReadLock> reading;  // a reader's share, held while the section is used (a prune waits)
  store::Repository repo;
  store::Snapshot snap;
  const store::Section* section;
  /// Opens what `inputs` (repo, snapshot: default latest, section) name; ActionError when the
  /// snapshot has no such section.
  explicit OpenSection(const json& inputs);
  /// How the files of `path` on `host` differ from the section (hashed on the host).
  capture::DataDiff compare(world::Host& host, const std::string& path) const;
};

/// The files of a snapshot's section (path → content; with `keep`, only the paths it accepts);
/// ActionError when the repository, the snapshot or the section is not there.
std::map<std::string, std::string> snapshot_files(const std::string& repo, const std::string& snapshot,
                                                  const std::string& section,
                                                  const std::function<bool(const std::string&)>& keep = nullptr);

}  // namespace drctl::actions
