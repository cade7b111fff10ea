// Where a repository's files are read from. Repository reads every file through a Backend:
// the local one (this machine's file system, the only one that can be written), or one another
// layer registers for a URL scheme (src/offsite registers "sftp" for `--repo sftp://…`), so the
// store knows nothing of SSH. Paths are relative to the repository's root ("config",
// "index/<id>", "data/ab/<id>"), as FORMAT.md lays them out.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/bytes.hpp"

namespace drctl::store {

namespace fs = std::filesystem;

/// Reads the files of one repository. Thread-safe: restore reads blobs from several threads.
class Backend {
 public:
  virtual ~Backend() = default;
  /// The location as the user gave it (a directory, or sftp://HOST/PATH), for messages.
  virtual std::string describe() const = 0;
  /// The directory, when the repository is on this machine; nullopt for a read-only remote one.
  virtual std::optional<fs::path> local_dir() const { return std::nullopt; }
  /// The whole file; nullopt when it does not exist. Throws Failure when it cannot be read.
  virtual std::optional<Bytes> read(const std::string& rel) const = 0;
  /// `length` bytes from `offset`; Failure when the file is missing or ends before them.
  virtual Bytes read_range(const std::string& rel, std::uint64_t offset, std::size_t length) const = 0;
  /// The file's size in bytes; nullopt when it does not exist.
  virtual std::optional<std::uint64_t> size(const std::string& rel) const = 0;
  /// The names in directory `rel` (files and directories); empty when it does not exist.
  virtual std::vector<std::string> list(const std::string& rel) const = 0;
  /// True when `rel` is a directory.
  virtual bool is_dir(const std::string& rel) const = 0;
  /// Drops what is kept open or cached for `rel` (a pack prune removed).
  virtual void forget(const std::string& /*rel*/) const {}
};

/// A repository directory on this machine.
std::unique_ptr<Backend> local_backend(fs::path dir);

/// Makes a backend for a "SCHEME://…" location; throws InputError when it is malformed.
using BackendFactory = std::function<std::unique_ptr<Backend>(const std::string& location)>;
/// Lets `Repository("SCHEME://…")` read through backends `make` builds (main registers them).
void register_backend(const std::string& scheme, BackendFactory make);

/// The scheme of "SCHEME://…" (letters, digits, '+', '-', '.'), or "" for a path on this machine.
std::string location_scheme(const std::string& location);
/// True for a "SCHEME://…" location: read-only here, reached through a registered backend.
inline bool is_remote_location(const fs::path& location) { return !location_scheme(location.string()).empty(); }

/// The backend for `location`: local for a path; the registered one for "SCHEME://…".
/// Throws InputError for a scheme nothing registered.
std::unique_ptr<Backend> open_backend(const fs::path& location);

/// The refusal of a writing command on a remote repository (InputError, one line).
[[noreturn]] void refuse_remote_write(const std::string& location);

}  // namespace drctl::store
