// What drctl must know about a host's system to send it commands it understands. GNU/Linux hosts
// and FreeBSD appliances (pfSense, TrueNAS CORE) differ where drctl's data passes: GNU tar and
// bsdtar take different options, FreeBSD 13 hashes with `sha256` (no `sha256sum`), BSD stat takes
// -f where GNU stat takes -c. Callers ask for a command ("what captures this directory") rather
// than testing flavours themselves; Host::system() learns the facts once per host.
#pragma once
#include <optional>
#include <string>

namespace drctl::world {

struct HostSystem {
  /// Which tar the host runs.
  enum class Tar {
    gnu,     // GNU tar: finds holes only with --sparse
    bsdtar,  // libarchive's bsdtar (FreeBSD's tar): finds holes by itself and refuses --sparse
  };
  /// How the host hashes files.
  enum class Hasher {
    sha256sum,  // GNU coreutils: "HASH  NAME"; a name with a backslash or newline is escaped, its line starts with '\'
    sha256,     // FreeBSD's sha256 -r: "HASH NAME", the name as it is
  };
  /// How the host lists a tree's metadata (what an incremental capture compares).
  enum class Lister {
    none,      // neither below: every capture sends the whole tree
    find,      // GNU find -printf, every field NUL-terminated
    bsd_stat,  // FreeBSD: find -print0 | xargs -0 stat -f (no -printf in BSD find)
  };

  std::string kernel;  // `uname -s`: "Linux", "FreeBSD"; "" when not learned (GNU/Linux assumed)
  Tar tar = Tar::gnu;
  Hasher hasher = Hasher::sha256sum;
  Lister lister = Lister::none;

  /// Writes the tree under `dir` to stdout as a pax tar: every file kind, xattrs, holes (as
  /// holes), hard links, numeric owners; names relative to `dir` ("./a").
  std::string tar_create(const std::string& dir) const;
  /// Writes to stdout the tar of the entries under `dir` named on stdin (NUL-terminated, "./a"
  /// relative to `dir`), each alone (no recursion), as tar_create writes them; a name given
  /// twice for one file (hard links) comes the second time as a link.
  std::string tar_create_list(const std::string& dir) const;
  /// Prints the metadata of every entry under `dir` (itself included) in the form of `lister`
  /// (parsed by capture::parse_listing); "" when the host has no lister.
  std::string list_tree(const std::string& dir) const;
  /// Makes `dir` (and its parents) and unpacks a pax tar from stdin into it with modes, owners
  /// (numeric), xattrs and holes.
  std::string tar_extract(const std::string& dir) const;
  /// Prints the SHA-256 of every regular file under `dir`, a line each, in the form of `hasher`.
  std::string hash_files(const std::string& dir) const;
  /// Prints the permission bits of `path` in octal ("644"): GNU stat -c, or the BSDs' stat -f.
  std::string file_mode(const std::string& path) const;
};

/// The POSIX sh script that tells a host's system: its output goes to parse_system_probe.
std::string system_probe_script();

/// The system a probe's output describes; nullopt when the output is not a probe's.
std::optional<HostSystem> parse_system_probe(const std::string& out);

}  // namespace drctl::world
