// Off-site copies of a repository (`drctl snapshot copy`): the repository's files are copied as
// they are, to or from a directory on an SSH host reached over SFTP: packs, index files,
// manifests and keys/ are sent sealed as they are stored, so the far side holds the same
// repository (same config id) and opens with the same passphrases. A copy of everything needs no
// key; chosen snapshots take only their packs, found in their trees (CopyChoice::needs). The
// protocol is in src/store/FORMAT.md, "Copies".
#pragma once
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "world/url.hpp"

namespace drctl::world::real {
class SshHost;
}

namespace drctl::offsite {

namespace fs = std::filesystem;

/// sftp://[USER@]HOST[:PORT]/PATH, taken apart.
using SftpUrl = world::HostPathUrl;
/// Parses an sftp:// URL (world::parse_host_path_url) naming a repository, not the host's root;
/// InputError naming `what` when malformed.
SftpUrl parse_sftp_url(const std::string& url, const std::string& what);

/// One end of a copy: a repository's files under a root, on this machine or over SFTP.
/// Paths are relative to the root ("data/ab/<id>"); only the repository's own files count.
class Side {
 public:
  virtual ~Side() = default;
  /// For messages: the path, or sftp://HOST/PATH.
  virtual std::string describe() const = 0;
  /// What is under the root.
  struct Listing {
    std::set<std::string> files;           // complete repository files (config, keys/, data/, index/, snapshots/)
    std::vector<std::string> temporaries;  // what an interrupted copy left behind
    std::vector<std::string> others;       // anything else but a writer's lock and readers file
  };
  virtual Listing list() = 0;
  /// The whole small file (the config); nullopt when it does not exist.
  virtual std::optional<std::string> read_small(const std::string& rel) = 0;
  /// Creates the root and these directories below it, 0700.
  virtual void make_dirs(const std::vector<std::string>& rels) = 0;
  /// SHA-256 (hex) of each file, as this side computes it (the host's own hasher for SFTP).
  virtual std::map<std::string, std::string> hash(const std::vector<std::string>& rels) = 0;
  /// Takes the repository's writer lock (FORMAT.md `lock`) for the copy into it: a prune at the
  /// far site must not delete packs whose manifest has not arrived. A lock this machine's copy
  /// left when it was killed (same host, its process gone) is taken over; another is refused.
  /// This machine: a no-op (the command holds the local RepoLock).
  virtual void lock() {}
  /// Releases what lock() took.
  virtual void unlock() {}
  /// Removes the temporaries list() found.
  virtual void remove(const std::vector<std::string>& temporaries) = 0;

  // Moving bytes. A local file can be pulled piece by piece; SFTP hands a download to a sink
  // and pulls an upload, so a copy pulls from a local source, or pushes into a local target.
  using Pull = std::function<std::string()>;  // the next piece; "" at the end
  using Sink = std::function<void(const char*, std::size_t)>;
  /// True when reader() works (this machine).
  virtual bool can_pull() const { return false; }
  virtual Pull reader(const std::string& rel);
  /// Hands the file's bytes to `sink` in order.
  virtual void read_into(const std::string& rel, const Sink& sink) = 0;
  /// Writes the bytes `next` gives (0600) under a temporary name next to `rel`, and returns
  /// that name (relative to the root): list() reports it as a temporary until place_checked() renames it.
  virtual std::string write_pull(const std::string& rel, const Pull& next) = 0;
  /// As write_pull, with the bytes handed to the sink `produce` is given (this machine only).
  virtual std::string write_push(const std::string& rel, const std::function<void(const Sink&)>& produce);
  /// A file written under a temporary name, and the SHA-256 (hex) of the bytes sent.
  struct Arrival {
    std::string temp, rel, sha256;
  };
  /// Hashes each temporary where it lies (the host's own hasher) and renames it to its final
  /// name when it matches, in order; at the first that does not, removes it and throws
  /// Failure naming the file (those after it stay temporaries). One command for many files:
  /// a command on a host costs a round trip and a shell.
  virtual void place_checked(const std::vector<Arrival>& arrivals) = 0;
};

/// The repository directory `root` on this machine.
std::unique_ptr<Side> local_side(fs::path root);
/// The directory `root` on `host`, over SFTP (files) and exec channels (listing, hashing).
std::unique_ptr<Side> sftp_side(world::real::SshHost& host, std::string root);

/// What chosen snapshots need on the target: the packs that hold their blobs ("data/ab/<id>"),
/// and index files naming those packs alone (rel → bytes as stored), made for this copy: the
/// source's own index files also name packs that are not sent.
struct CopyNeeds {
  std::set<std::string> packs;
  std::map<std::string, std::string> index_files;
};

/// Which snapshots to copy: every one, or these ids (full or unique prefixes of 4+ hex digits).
struct CopyChoice {
  bool all = false;
  std::vector<std::string> ids;
  bool verify_all = false;  // also re-hash every file already on the target, not only the new ones
  /// With ids: what the chosen manifests ("snapshots/<id>") need, read from the source
  /// repository (which takes its key when it is encrypted). Unset: every pack and index file.
  std::function<CopyNeeds(const std::vector<std::string>& manifests)> needs;
};

/// Counters a status line shows while the copy runs.
struct CopyProgress {
  std::atomic<std::uint64_t> files_done{0}, files_total{0}, bytes_sent{0};
};

/// What a copy did.
struct CopyStats {
  bool created = false;                 // the target repository was made by this copy
  std::size_t temporaries_removed = 0;  // left by an interrupted copy
  std::size_t files_sent = 0, files_present = 0, files_verified = 0, snapshots_sent = 0;
  std::uint64_t bytes_sent = 0;
};

/// Copies the chosen snapshots and everything they need from `from` to `to` (see FORMAT.md,
/// "Copies"). Throws InputError for a target that is another repository or not a repository,
/// Failure for a file whose copy does not hash as its source.
CopyStats copy_repository(Side& from, Side& to, const CopyChoice& choice, CopyProgress& progress);

}  // namespace drctl::offsite
