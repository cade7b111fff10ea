// Pack files: many compressed blobs in one file, with a header at the end that lists them.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <memory>
#include <vector>

#include "store/bytes.hpp"
#include "store/crypto.hpp"

namespace drctl::store {

enum class BlobType : std::uint8_t { Data = 0, Tree = 1 };
enum class Compression : std::uint8_t { None = 0, Zstd = 1 };

/// One blob inside a pack, as listed in the pack header and in index files.
struct BlobEntry {
  BlobType type = BlobType::Data;
  Compression compression = Compression::None;
  Id id;
  std::uint32_t offset = 0;      // from the start of the pack file
  std::uint32_t length = 0;      // stored bytes
  std::uint32_t raw_length = 0;  // bytes after decompression
};

constexpr std::size_t kEntrySize = 46;
constexpr std::size_t kPackTrailerSize = 16;
inline constexpr char kPackMagic[] = "DRCTLPK1";
inline constexpr char kSealedPackMagic[] = "DRCTLPE1";  // an encrypted repository's packs

void encode_entry(Bytes& out, const BlobEntry& e);
BlobEntry decode_entry(const std::uint8_t* p);

/// Writes blobs of one type straight into a temporary pack file, hashing as it goes, so a
/// pack never sits whole in memory. finish() seals it; an unfinished pack is deleted.
class PackWriter {
 public:
  explicit PackWriter(std::filesystem::path tmp_path);
  PackWriter(PackWriter&& other) noexcept;
  PackWriter& operator=(PackWriter&&) = delete;
  ~PackWriter();

  /// Appends a stored (already compressed) blob.
  void add(BlobType type, Compression c, const Id& id, std::span<const std::uint8_t> stored,
           std::uint32_t raw_length);
  std::size_t size() const { return size_; }
  bool empty() const { return entries_.empty(); }
  const std::vector<BlobEntry>& entries() const { return entries_; }
  const std::filesystem::path& tmp_path() const { return tmp_path_; }

  /// Calls `fn(entry, stored bytes)` for each blob written so far, in order (read back from the
  /// temporary file), so another pack can take them: a sealed blob does not depend on its offset.
  void read_back(const std::function<void(const BlobEntry&, std::span<const std::uint8_t>)>& fn) const;

  /// Appends the header and trailer and fsyncs; returns the pack id (SHA-256 of the file).
  /// With `key` the header is sealed (an encrypted repository). The caller renames tmp_path()
  /// into place.
  Id finish(const SecretKey* key = nullptr);

 private:
  std::filesystem::path tmp_path_;
  int fd_ = -1;
  std::unique_ptr<Sha256> hash_;
  std::size_t size_ = 0;
  std::vector<BlobEntry> entries_;
  bool finished_ = false;
};

/// Reads and checks the header of a pack file on disk, opening it with `key` in an encrypted
/// repository. Throws Failure when it is malformed or (sealed) its bytes were changed.
std::vector<BlobEntry> read_pack_header(const std::filesystem::path& pack, const SecretKey* key = nullptr);
/// The same for a pack of `size` bytes read through `read_at(offset, length)` (a repository's
/// backend: the trailer and header are all it reads); `name` names the pack in messages.
std::vector<BlobEntry> read_pack_header(std::uint64_t size, const std::function<Bytes(std::uint64_t, std::size_t)>& read_at,
                                        const std::string& name, const SecretKey* key = nullptr);

}  // namespace drctl::store
