// A snapshot repository: config, packs, index files and snapshots. It is read through a Backend
// (store/backend.hpp): a directory on this machine, which can also be written, or a read-only
// remote one (`sftp://…`), of which only the byte ranges a blob needs are read.
#pragma once
#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store/backend.hpp"
#include "store/chunker.hpp"
#include "store/crypto.hpp"
#include "store/files.hpp"
#include "store/index.hpp"
#include "store/pack.hpp"
#include "store/snapshot.hpp"
#include "store/tree.hpp"

namespace drctl::store {

/// The repository's `config` file.
struct RepoConfig {
  std::string id;  // random, names the repository
  ChunkerParams chunker;
  int compression_level = 3;
  std::uint32_t pack_size = 16 * 1024 * 1024;
  int version = 2;         // 1: a repository made before encryption (read and written as it is)
  bool encrypted = false;  // objects sealed with XChaCha20-Poly1305, keyed ids (FORMAT.md)
};

/// One keys/ file of an encrypted repository (never its secret).
struct RepoKey {
  Id id;  // SHA-256 of the keys/ file
  KeyInfo info;
  bool in_use = false;  // the key this process opened the repository with
};

/// Where the repository lives: --repo, else $DRCTL_REPO, else ./snapshots.
fs::path default_repo_path(const std::string& flag);

class Repository {
 public:
  /// Creates an empty repository at `path` (which must not exist or be an empty directory);
  /// with `encrypt`, an encrypted one whose first key opens with that credential.
  static void init(const fs::path& path, RepoConfig config, const Credential* encrypt = nullptr);

  /// Opens an existing repository and loads its index. Throws InputError when `path` is not a
  /// repository, its config is damaged, or it is encrypted and no key the process was given
  /// (store/key_source.hpp) opens it. A "SCHEME://…" path is read through the backend registered
  /// for it (store/backend.hpp); such a repository is read-only (writing throws InputError).
  explicit Repository(fs::path path);

  /// False for a remote repository: every writing method throws InputError.
  bool writable() const { return backend_->local_dir().has_value(); }

  bool encrypted() const { return key_.has_value(); }
  /// The id of a blob with these raw bytes: SHA-256, or in an encrypted repository
  /// HMAC-SHA-256 under the master key (so ids say nothing of the content).
  Id blob_id(std::span<const std::uint8_t> raw) const;
  Id blob_id(std::string_view raw) const;

  // ---- keys of an encrypted repository (InputError for one that is not) -----------------
  std::vector<RepoKey> keys() const;
  /// Adds a keys/ file wrapping the master key for `cred`; returns its id. Caller holds a RepoLock.
  Id add_key(const Credential& cred);
  /// Removes a key; InputError for the last one, or the one in use unless `force`.
  void remove_key(const Id& id, bool force);

  const fs::path& path() const { return path_; }
  const RepoConfig& config() const { return config_; }
  const Index& index() const { return index_; }
  /// Reads the index files again: a writer calls this once it holds the lock, so it sees
  /// what writers before it stored and pruned.
  void reload_index();
  /// Index files that could not be read; their blobs are treated as absent.
  const std::vector<std::string>& index_problems() const { return index_problems_; }

  // ---- reading ------------------------------------------------------------------------
  /// A blob's raw bytes, checked against its id. Throws Failure when missing or damaged.
  Bytes read_blob(const Id& id) const;
  /// The raw bytes of the blob `e` describes from its stored bytes (opened, decompressed and
  /// checked against its id). Throws Failure naming the blob and pack when damaged.
  Bytes open_blob(const Id& pack, const BlobEntry& e, std::span<const std::uint8_t> stored) const;
  /// The entries a pack's own header lists (opened in an encrypted repository). Throws Failure.
  std::vector<BlobEntry> read_pack_header(const Id& pack) const;
  /// A snapshot's manifest, its bytes as stored before encryption. Throws Failure when damaged.
  std::string snapshot_text(const Id& id) const;
  Tree load_tree(const Id& id) const;
  /// All readable snapshots, oldest first. Damaged manifests are left out and, when
  /// `problems` is given, described there.
  std::vector<Snapshot> snapshots(std::vector<std::string>* problems = nullptr) const;
  /// "latest", a full id or a unique prefix of at least 4 hex digits. Throws InputError.
  Snapshot find_snapshot(std::string_view ref) const;
  Snapshot load_snapshot(const Id& id) const;

  /// "data/ab/<id>": where a pack lies below the root.
  static std::string pack_rel(const Id& pack);
  /// An index file naming `contents` as it would be stored (sealed in an encrypted repository),
  /// not written here: its id and bytes, for a copy to send to another copy of this repository.
  std::pair<Id, Bytes> index_file_bytes(const PackContents& contents) const;
  /// The pack's file on this machine (a local repository only).
  fs::path pack_path(const Id& pack) const;
  /// The pack's size; nullopt when it is missing.
  std::optional<std::uint64_t> pack_size(const Id& pack) const;
  /// The whole pack file; throws Failure when it is missing or cannot be read.
  Bytes read_pack(const Id& pack) const;
  std::vector<Id> list_ids(const std::string& dir) const;  // "data", "index", "snapshots" or "keys"
  std::vector<Id> list_packs() const { return list_ids("data"); }

  // ---- writing: the caller holds a RepoLock --------------------------------------------
  /// Stores a blob unless the repository already has it. Thread-safe.
  /// Returns the number of stored (compressed) bytes it added: 0 for a duplicate.
  std::uint64_t add_blob(BlobType type, const Id& id, std::span<const std::uint8_t> raw);
  /// Stores a new copy of a blob the index already has (prune moves blobs out of old packs).
  std::uint64_t add_blob_again(BlobType type, const Id& id, std::span<const std::uint8_t> raw);
  bool has_blob(const Id& id) const;
  /// Packs this object wrote (prune keeps them even if an earlier crash left a copy).
  std::set<Id> packs_written() const {
    std::lock_guard lock(mutex_);
    return packs_written_;
  }
  /// Stored bytes of every blob this process added (data and trees).
  std::uint64_t added_bytes() const { return added_bytes_; }
  /// Stores a tree; throws Failure when its encoding exceeds kMaxTreeSize.
  Id save_tree(const Tree& tree);
  /// Writes out the open packs and an index file for every blob added so far.
  void flush();
  /// Stores a snapshot's manifest and sets snapshot.id; throws Failure when it is not valid.
  Id save_snapshot(Snapshot& snapshot);
  /// Stores a manifest exactly as given (import keeps the id it had); throws Failure when
  /// Snapshot::from_json would refuse it.
  Id save_snapshot_text(const std::string& text);
  void remove_snapshot(const Id& id);
  void remove_index_file(const Id& id);
  void remove_pack(const Id& id);
  /// Replaces the whole index by one file describing `contents` (used by prune).
  Id write_index_file(const PackContents& contents);
  /// Adds a pack's entries to the in-memory index (prune adopts packs no index file names).
  void adopt_pack(const Id& pack, const std::vector<BlobEntry>& entries);
  /// Removes temporary files a crashed writer left behind.
  void clean_tmp();
  fs::path tmp_dir() const { return path_ / "tmp"; }

 private:
  std::uint64_t store_blob(BlobType type, const Id& id, std::span<const std::uint8_t> raw);
  /// A new temporary pack file name in the repository's tmp directory.
  fs::path new_pack_path();
  void write_pack(PackWriter writer);
  void write_pending_index();
  void unlock();
  /// InputError unless the repository is on this machine (every writing method calls it).
  void need_writable() const;
  /// A file the repository must have; Failure naming it when missing.
  Bytes read_required(const std::string& rel) const;
  /// An index file's or manifest's plaintext, checked against its name; Failure when damaged.
  Bytes read_object(const std::string& dir, const Id& id) const;
  Bytes open_object(const std::string& dir, const Id& id, Bytes stored) const;
  /// An index file's or manifest's bytes as stored under `id` (sealed in an encrypted repository).
  Bytes stored_object(const std::string& dir, const Id& id, std::span<const std::uint8_t> plain) const;
  /// Stores an index file or manifest under `id` (sealed in an encrypted repository).
  void write_object(const std::string& dir, const Id& id, std::span<const std::uint8_t> plain);
  /// InputError unless encrypted.
  void need_encryption(const char* what) const;

  fs::path path_;
  std::unique_ptr<Backend> backend_;
  RepoConfig config_;
  std::optional<MasterKey> key_;  // encrypted repositories
  Id key_in_use_;                 // the keys/ file that opened it
  Index index_;

  // Open packs no caller is writing to, by type. A caller takes one out (or starts one) and
  // writes and hashes into it holding no lock, so neither another writer nor has_blob and
  // add_blob, which the capture's reader calls for every chunk, wait for it. pack_mutex_ is never
  // held together with mutex_.
  std::mutex pack_mutex_;
  std::map<BlobType, std::vector<PackWriter>> writers_;  // guarded by pack_mutex_
  mutable std::mutex mutex_;          // guards everything below and index_ while writing
  std::unordered_set<Id> pending_;    // added, not yet in a written pack
  PackContents unindexed_;            // written packs without an index file yet
  std::atomic<std::uint64_t> added_bytes_{0};
  std::atomic<unsigned> pack_counter_{0};
  std::vector<std::string> index_problems_;
  std::set<Id> packs_written_;
};

}  // namespace drctl::store
