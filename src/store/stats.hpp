// `snapshot stats`: how much the snapshots hold, and what they take in the repository.
#pragma once
#include <cstdint>
#include <vector>

#include "store/repository.hpp"

namespace drctl::store {

struct SnapshotStats {
  std::size_t snapshots = 0;
  // As the manifests record them (restic's restore-size): what restoring every one of the
  // snapshots would write; files counts every entry that is not a directory, bytes include
  // sparse files' holes.
  std::uint64_t files = 0, logical_bytes = 0;
  // With raw data only (restic's raw-data): the distinct blobs the snapshots reference (data
  // and trees), their bytes as stored (compressed, sealed) and as they open (raw); blobs the
  // index does not have are counted in `missing` (verify says more).
  bool raw_data = false;
  std::uint64_t blobs = 0, stored_bytes = 0, raw_bytes = 0, missing = 0;
  std::uint64_t data_raw_bytes = 0;  // of the data blobs alone (file content, not trees)
  // The repository's data folder: every pack, whoever references it.
  std::uint64_t packs = 0, pack_bytes = 0;

  /// How many times over the file data is referenced: logical bytes per raw byte of data blobs
  /// (0 when there are none). Holes of sparse files count as logical bytes.
  double dedup_ratio() const { return data_raw_bytes ? double(logical_bytes) / double(data_raw_bytes) : 0.0; }
  /// Raw bytes per stored byte (zstd's saving).
  double compression_ratio() const { return stored_bytes ? double(raw_bytes) / double(stored_bytes) : 0.0; }
};

/// The statistics of `snapshots`; `raw_data` walks their trees (each distinct tree read once) to
/// find the blobs they reference. Throws Failure (TreeDamage) for damaged trees.
SnapshotStats snapshot_stats(const Repository& repo, const std::vector<Snapshot>& snapshots, bool raw_data);

}  // namespace drctl::store
