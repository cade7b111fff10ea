// Content digests of a snapshot's section and of a directory on a host, and what differs
// between them: how a restore is checked (verify.data) without moving the data again.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "store/repository.hpp"
#include "world/world.hpp"

namespace drctl::capture {

/// Path (relative, "a/b") → SHA-256 (hex) of every regular file of a section, hard links
/// included under each name; holes hash as the zeros they read as. Reads blob by blob.
std::map<std::string, std::string> section_digests(const store::Repository& repo, const store::Section& section);

/// The same for the regular files under `dir` on `host`, computed there with the tool its
/// system has (HostSystem::hash_files: sha256sum, or FreeBSD's sha256 -r): only digests cross
/// the network. Throws std::runtime_error naming the host and the command's error when it fails.
std::map<std::string, std::string> host_digests(world::Host& host, const std::string& dir, world::Duration timeout);

/// Path relative to `dir` → digest, from what HostSystem::hash_files printed with `hasher`.
/// FreeBSD's sha256 -r does not escape names: a line that is not "HASH NAME" continues the name
/// before it (a name holding a newline).
std::map<std::string, std::string> parse_file_hashes(world::HostSystem::Hasher hasher, const std::string& dir,
                                                     const std::string& out);

/// What a directory holds against what the snapshot says.
struct DataDiff {
  std::vector<std::string> missing;  // in the snapshot, not on the host
  std::vector<std::string> changed;  // on both, with other content
  std::vector<std::string> extra;    // on the host only (new files: not a loss)
  std::size_t same = 0;
  bool equal() const { return missing.empty() && changed.empty(); }
  /// "2 missing (a, b), 1 changed (c)": the first few names of each kind.
  std::string describe(std::size_t names = 5) const;
};

DataDiff compare_digests(const std::map<std::string, std::string>& snapshot, const std::map<std::string, std::string>& host);

}  // namespace drctl::capture
