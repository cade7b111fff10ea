// Which paths of a repository a copy moves, and which are an interrupted copy's leftovers.
#pragma once
#include <string>

namespace drctl::offsite {

/// True for "config", "keys/<id>", "index/<id>", "snapshots/<id>" and "data/XX/<id>" (XX the
/// id's first two digits): a copy moves these and nothing else. A listing from a host is taken
/// through this filter, so no name a host reports can make a copy write outside the repository.
bool is_repository_file(const std::string& rel);
/// True for a temporary a copy leaves when it is killed: ".NAME.drctl-…" next to its target on
/// a host, "tmp/copy-…" in a repository on this machine.
bool is_copy_temporary(const std::string& rel);

}  // namespace drctl::offsite
