// Pack files: many compressed blobs in one file, with a header at the end that lists them.
#pragma once
#include <filesystem>
#include <vector>

#include "store/bytes.hpp"

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

void encode_entry(Bytes& out, const BlobEntry& e);
BlobEntry decode_entry(const std::uint8_t* p);

/// Collects blobs of one type in memory until the pack is full.
class PackBuilder {
 public:
  /// `capacity`: bytes to reserve up front, so the buffer never grows by doubling.
  explicit PackBuilder(std::size_t capacity = 0) : capacity_(capacity) {}
  /// Appends a stored (already compressed) blob; returns its entry.
  const BlobEntry& add(BlobType type, Compression c, const Id& id, std::span<const std::uint8_t> stored,
                       std::uint32_t raw_length);
  std::size_t size() const { return data_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<BlobEntry>& entries() const { return entries_; }

  /// The complete pack file: blobs, header entries, trailer. Leaves the builder empty.
  Bytes finish();

 private:
  std::size_t capacity_;
  Bytes data_;
  std::vector<BlobEntry> entries_;
};

/// Reads and checks the header of a pack file on disk. Throws Failure when it is malformed.
std::vector<BlobEntry> read_pack_header(const std::filesystem::path& pack);

}  // namespace drctl::store
