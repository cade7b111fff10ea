// `verify`: checks the repository's structure and, on request, re-reads every blob.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "store/repository.hpp"

namespace drctl::store {

struct VerifyReport {
  std::vector<std::string> errors;    // damage: each line names what is affected
  std::vector<std::string> warnings;  // harmless leftovers (unreferenced packs)
  std::uint64_t packs_read = 0, blobs_checked = 0, bytes_read = 0;
  bool ok() const { return errors.empty(); }
};

/// Checks index files, packs and every snapshot's trees; with read_data also re-reads and
/// re-hashes every pack and blob. Damaged blobs are traced to the snapshots and files that
/// use them. `progress` is called with (packs done, packs total) while reading data.
VerifyReport verify_repository(const Repository& repo, bool read_data,
                               const std::function<void(std::size_t, std::size_t)>& progress = {});

}  // namespace drctl::store
