// A directory of any World host (a NAS over SSH, this machine, a simulated host) into a snapshot
// section and back, as tar streams that flow while they are made: no temporary copy on either
// side and a bounded amount in memory (a few chunks between the command and the store).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "capture/nas.hpp"
#include "store/repository.hpp"
#include "world/world.hpp"

namespace drctl::capture {

/// Captures `dir` on `host` as section `name` (recording `source`): the host's tar stream (the
/// command its system takes, see HostSystem::tar_create) goes through capture_tar as it
/// arrives. When the host can list its tree (HostSystem::list_tree) and `parent` (the same
/// section's top tree in the previous snapshot of this source) is given, only what changed
/// since is asked of tar (tar_create_list) and the rest is taken from the parent's trees
/// (remote_tree.hpp); else every file is sent, and deduplicated chunk by chunk. A file that
/// changes or vanishes while tar runs is stored as tar read it (or left out) and reported
/// through `warn`. Throws Failure naming the host when tar fails or the stream is cut.
/// `exclude` (restic's patterns, capture/exclude.hpp) leaves entries out: the listing is
/// filtered and tar is asked for the rest by name, so an excluded file never crosses the wire;
/// a host that cannot list its tree cannot exclude, and that is a Failure.
NasResult capture_host_dir(store::Repository& repo, const std::string& name, const std::string& source,
                           world::Host& host, const std::string& dir, Progress& progress,
                           const std::function<void(const std::string&)>& warn,
                           const std::optional<store::Id>& parent = std::nullopt,
                           const std::vector<std::string>& exclude = {});

/// Restores `section` into `dir` on `host` (created when missing) through its tar -x (see
/// HostSystem::tar_extract), the stream made as it is sent; with `includes`, only those paths
/// (see write_tar). Throws Failure with tar's message when it fails.
void restore_host_dir(const store::Repository& repo, const store::Section& section, world::Host& host,
                      const std::string& dir, const std::vector<std::string>& includes = {});

}  // namespace drctl::capture
