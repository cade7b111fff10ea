// Snapshot sections from and to tar streams: how remote hosts (a NAS over SSH, a simulated host)
// hand drctl their data (`tar --format=pax --xattrs --sparse --numeric-owner -cf - -C DIR .`)
// and take it back (`tar -xpf - --xattrs --numeric-owner -C DIR`), with no temporary copy.
#pragma once
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "capture/nas.hpp"
#include "capture/section_reader.hpp"  // section_files
#include "store/repository.hpp"

namespace drctl::capture {

/// Reads a tar stream (pax/gnu/ustar, optionally gzip/zstd-compressed: libarchive detects) and stores it as section
/// `name` — regular files (chunked like capture_nas; sparse holes kept as holes), directories, symlinks, hard links
/// (as store Hardlink nodes, same as capture_nas produces), devices/fifos, mode, uid/gid, mtime (ns), xattrs
/// (SCHILY.xattr), and the root directory's own metadata from the "./" entry. Entries come in any order; missing
/// parent directories are implied (mode 0755). Names are made relative ("./a/b" → "a/b"); ".." components or
/// absolute names are refused (one entry skipped, reported through `warn` and in `skipped`). `read` is called to get
/// more bytes (return 0 at end) so the caller can stream from a process or a string. `source` is recorded in the
/// Section. A truncated or corrupt stream throws store::Failure naming the entry it was in; nothing is saved then
/// except blobs (the snapshot is not written by this function).
NasResult capture_tar(store::Repository& repo, const std::string& name, const std::string& source,
                      const std::function<std::size_t(char* buf, std::size_t size)>& read, Progress& progress,
                      const std::function<void(const std::string&)>& warn);

/// What the host listed of an entry before its tar read it: what tar does not carry (ctime,
/// inode, kept for the next capture to compare) and what shows a change while it was read.
struct ListedIdentity {
  std::int64_t ctime_ns = 0, mtime_ns = 0;
  std::uint64_t inode = 0, size = 0;
};

/// What a stream is merged with when it carries only part of a tree (the changed entries of an
/// incremental capture, see remote_tree.hpp).
struct TarBase {
  /// Entries the stream leaves out, taken as they are: section path ("a/b") → node. A kept
  /// directory's entries are those kept under it and those the stream brings.
  std::vector<std::pair<std::string, store::Node>> kept;
  /// By section path, for the entries the stream may bring. A regular file whose stream header
  /// differs from it in mtime or size changed after it was listed: it is stored as tar read it,
  /// reported through `warn` and marked (ctime 0) to be read again by the next capture.
  std::unordered_map<std::string, ListedIdentity> listed;
  /// The parent's trees, by directory path ("" the section's top): a directory whose new
  /// entries equal them keeps that tree's id (nothing encoded or stored again).
  std::unordered_map<std::string, std::pair<store::Id, store::Tree>> earlier;
};

/// capture_tar of a stream merged with `base`.
NasResult capture_tar(store::Repository& repo, const std::string& name, const std::string& source,
                      const std::function<std::size_t(char* buf, std::size_t size)>& read, Progress& progress,
                      const std::function<void(const std::string&)>& warn, const TarBase& base);

/// Convenience: the whole stream in memory.
NasResult capture_tar_bytes(store::Repository& repo, const std::string& name, const std::string& source,
                            const std::string& tar, Progress& progress,
                            const std::function<void(const std::string&)>& warn);

/// Writes section `section` of a snapshot as a pax tar stream (with xattrs, sparse files as sparse, hard links as
/// links, numeric owners, the root's metadata as "./") through `write`, streaming (constant memory: file by file,
/// chunk by chunk). What `tar -xpf - --xattrs --numeric-owner -C DIR` on the other side turns back into the tree.
/// Throws Failure when a blob is missing or damaged or `write` throws (its exception is passed on).
/// With `includes` (section-relative paths), only those paths, what is inside them and the
/// directories on the way (as `snapshot restore --include`); a hard link whose first name is
/// left out carries the content itself.
void write_tar(const store::Repository& repo, const store::Section& section,
               const std::function<void(const char* data, std::size_t size)>& write,
               const std::vector<std::string>& includes = {});

/// Convenience: into a string.
std::string tar_bytes(const store::Repository& repo, const store::Section& section);

/// A pax tar of `files` (path → content, regular files of mode 0644): how generated data
/// (Kubernetes objects, VM definitions) enters a snapshot through the same door as a host's files.
std::string tar_of_files(const std::map<std::string, std::string>& files);


}  // namespace drctl::capture
