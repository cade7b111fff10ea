// `export`/`import`: one snapshot as a single portable .tar.zst file (libarchive).
#pragma once
#include <functional>
#include <string>

#include "store/repository.hpp"

namespace drctl::store {

struct ArchiveStats {
  std::uint64_t blobs = 0, bytes = 0, new_blobs = 0;
};

/// Writes snapshot `snapshot` and every blob it needs to `file` (tar, zstd-compressed):
///   drctl-export/snapshot.json            the manifest, byte for byte (so the id is kept)
///   drctl-export/tree/<sha256>            directory trees (CBOR), uncompressed
///   drctl-export/data/<sha256>            file chunks, uncompressed
/// The file is written under a temporary name and renamed when complete.
ArchiveStats export_snapshot(const Repository& repo, const Snapshot& snapshot, const std::string& file);

/// Reads an export into `repo` (the caller holds the lock): every blob is checked against its
/// name, and the snapshot is saved only after all the blobs it needs are stored.
/// Returns the stats; `id` receives the imported snapshot's id.
ArchiveStats import_snapshot(Repository& repo, const std::string& file, Id& id);

}  // namespace drctl::store
