// The index: where every blob lives (pack, offset, length). Kept in memory, stored as index files.
#pragma once
#include <map>
#include <unordered_map>
#include <vector>

#include "store/pack.hpp"

namespace drctl::store {

/// Blobs grouped by the pack that holds them: the content of one index file.
using PackContents = std::map<Id, std::vector<BlobEntry>>;

/// An index file: magic "DRCTLIX1", u32 pack count, then per pack its id, u32 entry count and
/// the entries exactly as in the pack header.
Bytes encode_index(const PackContents& packs);
PackContents decode_index(std::span<const std::uint8_t> data);  // throws Failure when malformed

/// A growable array of trivially copyable entries in its own anonymous memory mapping. Growing
/// remaps pages (mremap) instead of copying them into a new heap block, so an array that grows
/// a little at a time, as an index shard does, leaves no trail of freed blocks too small to
/// reuse: the process holds the pages in use and not much more.
template <class T>
class MappedArray {
 public:
  MappedArray() = default;
  MappedArray(MappedArray&& o) noexcept;
  MappedArray& operator=(MappedArray&& o) noexcept;
  ~MappedArray();

  /// Grows or shrinks to `n` entries; new entries are zero bytes. Throws std::bad_alloc.
  void resize(std::size_t n);
  std::size_t size() const { return size_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& operator[](std::size_t i) { return data_[i]; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;  // bytes
};

/// Where every blob lives, for lookups on every chunk a backup stores. Compact because it
/// grows with the repository (one entry per blob, millions on a NAS): 1024 shards by the id's
/// first 10 bits, each a sorted MappedArray plus a short unsorted tail that is merged in, in
/// place, when it grows past 1/32 of the shard. About 55 bytes a blob (a node-based map took
/// some 130, and more again in the heap holes its growth left).
class Index {
 public:
  struct Location {
    std::uint32_t pack;  // position in packs()
    BlobEntry entry;     // entry.id is the key
  };

  Index();
  /// Adds a blob; a blob already present moves to this location (prune's new copy).
  void add(const Id& pack, const BlobEntry& e);
  void add(const PackContents& packs);
  /// Adds the blobs of an index file (encode_index's form) without decoding it whole first: a
  /// large index file costs its bytes, not a map of them. Throws Failure, adding nothing,
  /// when it is malformed.
  void add_encoded(std::span<const std::uint8_t> data);
  /// The blob's location, valid until the next add().
  const Location* find(const Id& blob) const;
  bool contains(const Id& blob) const { return find(blob) != nullptr; }
  const Id& pack_id(const Location& l) const { return packs_[l.pack]; }
  std::size_t size() const { return size_; }

  /// Every blob, grouped by pack.
  PackContents by_pack() const;

 private:
  struct Shard {
    MappedArray<Location> sorted;  // by entry.id
    std::vector<Location> tail;    // unsorted, merged into `sorted` when it grows too long
  };
  static constexpr std::size_t kShardBits = 10;
  static std::size_t shard_number(const Id& id);
  static void merge(Shard& s);

  std::vector<Id> packs_;
  std::unordered_map<Id, std::uint32_t> pack_numbers_;
  std::vector<Shard> shards_;
  std::size_t size_ = 0;
};

}  // namespace drctl::store
