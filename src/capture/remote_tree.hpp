// An incremental capture of a directory on another host: the tree's metadata listed in one
// command (GNU find -printf, or FreeBSD's find | xargs stat -f: HostSystem::list_tree), compared
// with the previous snapshot of the same source, so that only what changed is asked of the
// host's tar (a NUL-separated list on its stdin) and the rest is taken from the parent's trees.
// A file is unchanged when its type, size, mtime, ctime and inode are those the parent
// recorded (as capture_nas decides); ctime moves with every write, chmod, chown, xattr change,
// link and unlink, so the parent's node is still right for it.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/tar_stream.hpp"
#include "store/repository.hpp"
#include "world/host_system.hpp"

namespace drctl::capture {

/// One entry of a remote listing.
struct RemoteEntry {
  std::string path;  // relative to the listed directory, "a/b" (raw bytes); "" for the directory itself
  std::optional<store::NodeType> type;  // nullopt: a socket or a kind drctl does not keep
  std::uint32_t mode = 0;               // permission and set-id bits
  std::uint32_t uid = 0, gid = 0;
  std::uint64_t size = 0, nlink = 1, dev = 0, inode = 0;
  std::int64_t mtime_ns = 0, ctime_ns = 0;
  std::string target;  // a symlink's target (GNU listings only; FreeBSD's stat line cannot frame it)
};

/// Parses the output of `find . -printf '%D %i %y %m %n %U %G %s %T@ %C@\0%p\0%l\0'`. Throws
/// Failure naming the record that does not parse.
std::vector<RemoteEntry> parse_find_listing(std::string_view out);

/// Parses what HostSystem::list_tree prints on FreeBSD: batches of NUL-terminated names, an
/// empty name, then `stat -f "%d %i %p %l %u %g %z %.9Fm %.9Fc %N"` lines for those names in
/// order (a name whose line is missing, a file gone between find and stat, is left out).
/// Throws Failure when it does not parse.
std::vector<RemoteEntry> parse_stat_listing(std::string_view out);

/// The parser for `lister`'s output.
std::vector<RemoteEntry> parse_listing(world::HostSystem::Lister lister, std::string_view out);

/// What to ask of the host's tar and what to take from the parent.
struct IncrementalPlan {
  std::vector<std::string> fetch;  // names for tar_create_list ("." first, then "./a/b")
  TarBase base;                    // the entries kept from the parent, and every listed entry's identity
  std::uint64_t kept_files = 0, kept_bytes = 0;
};

/// Compares `listing` with the parent snapshot's tree `parent` (the section's top tree; nullopt:
/// none, everything is fetched). A regular file, directory, symlink, fifo or device whose type,
/// mtime, ctime, inode (and a file's size) match the parent's node at the same path is kept; a
/// file with several names is kept only when all its names are and the parent recorded them
/// as one file under the same first name; anything else is fetched. Parent trees that cannot be
/// read are reported through `warn` and their entries fetched.
IncrementalPlan plan_incremental(const store::Repository& repo, const std::vector<RemoteEntry>& listing,
                                 const std::optional<store::Id>& parent,
                                 const std::function<void(const std::string&)>& warn);

/// The NUL-terminated list tar_create_list reads on its stdin.
std::string tar_name_list(const std::vector<std::string>& names);

}  // namespace drctl::capture
