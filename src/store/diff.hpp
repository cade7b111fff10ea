// `diff`: what changed between two snapshots.
#pragma once
#include <string>
#include <vector>

#include "store/repository.hpp"

namespace drctl::store {

struct Change {
  char kind;         // '+' added, '-' removed, 'M' modified (content or metadata)
  std::string path;  // "nas/NAME/a/b"
};

std::vector<Change> diff_snapshots(const Repository& repo, const Snapshot& a, const Snapshot& b);

}  // namespace drctl::store
