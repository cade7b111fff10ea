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
/// `read_only`, when set, picks the packs whose data is read (a subset, below).
VerifyReport verify_repository(const Repository& repo, bool read_data,
                               const std::function<void(std::size_t, std::size_t)>& progress = {},
                               const std::function<bool(const Id& pack)>& read_only = {});

/// A subset of the packs, as restic's `check --read-data-subset` names one: "n/t" is part n of t
/// (the packs whose id's first four bytes, big-endian, are n-1 modulo t: the t parts cover every
/// pack once), "x%" or "x.y%" a random share of them. std::invalid_argument naming the forms
/// when the text is neither.
std::function<bool(const Id& pack)> pack_subset(const std::string& text);

}  // namespace drctl::store
