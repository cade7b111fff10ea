// `export`/`import`: one snapshot as a single portable .tar.zst file (libarchive).
#pragma once
#include <functional>
#include <string>
#include <unordered_set>

#include "store/repository.hpp"

namespace drctl::store {

struct ArchiveStats {
  std::uint64_t blobs = 0, bytes = 0, new_blobs = 0;
};

/// The largest manifest an export may hold.
inline constexpr std::size_t kMaxManifestSize = 64 * 1024 * 1024;

/// Writes snapshot `snapshot` and every blob it needs to `file` (tar, zstd-compressed):
///   drctl-export/snapshot.json            the manifest, byte for byte (so the id is kept)
///   drctl-export/tree/<sha256>            directory trees (CBOR), uncompressed
///   drctl-export/data/<sha256>            file chunks, uncompressed
/// The file is written as FILE.partial (mode 0600 whatever the umask) and renamed when
/// complete. Throws InputError when `file` exists, unless `force`; Failure (nothing left
/// behind) when the snapshot's trees are damaged.
ArchiveStats export_snapshot(const Repository& repo, const Snapshot& snapshot, const std::string& file, bool force);

/// An export file checked from end to end, ready to be written into a repository.
struct ImportPlan {
  std::string file;
  std::string manifest;
  Id id;                        // the snapshot's id
  std::unordered_set<Id> write;  // blobs of the file to store (the repository lacks them)
  ArchiveStats stats;           // blobs and bytes in the file
};

/// Reads `file` once and checks everything an import needs before anything is written: every
/// entry's name, declared size (at most a blob's) and hash; every tree decodes (FORMAT.md's
/// reader rules); the manifest parses and its sections are valid; the trees have no cycle, nest
/// at most kMaxTreeDepth and fit each section's node budget; every blob they need is in the file
/// or in `repo` (null: a repository that does not exist yet). Throws InputError naming the
/// problem. Memory: the trees' shapes and blob ids; data is hashed in pieces.
ImportPlan plan_import(const std::string& file, const Repository* repo);

/// Writes a planned import into `repo` (the caller holds the lock): reads the file again,
/// stores the planned blobs (each checked against its name again), then the manifest. Throws
/// Failure when the file changed since it was planned (the blobs stored by then are harmless:
/// no snapshot names them). Returns the snapshot's id; counts new blobs in `stats`.
Id apply_import(Repository& repo, const ImportPlan& plan, ArchiveStats& stats);

}  // namespace drctl::store
