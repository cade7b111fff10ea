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

/// Where every blob lives, for lookups on every chunk a backup stores. Compact because it
/// grows with the repository (one entry per blob, millions on a NAS): 4096 shards by the id's
/// first 12 bits, each a sorted vector plus a short unsorted tail that is merged in when it
/// grows past 1/32 of the shard. About 54 bytes a blob, against some 130 in a node-based map,
/// and a merge copies one shard, never the whole index.
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
  /// The blob's location, valid until the next add().
  const Location* find(const Id& blob) const;
  bool contains(const Id& blob) const { return find(blob) != nullptr; }
  const Id& pack_id(const Location& l) const { return packs_[l.pack]; }
  std::size_t size() const { return size_; }

  /// Every blob, grouped by pack.
  PackContents by_pack() const;

 private:
  struct Shard {
    std::vector<Location> sorted;  // by entry.id, exactly sized
    std::vector<Location> tail;    // unsorted, merged into `sorted` when it grows too long
  };
  static constexpr std::size_t kShardBits = 12;
  static std::size_t shard_number(const Id& id);
  static void merge(Shard& s);

  std::vector<Id> packs_;
  std::unordered_map<Id, std::uint32_t> pack_numbers_;
  std::vector<Shard> shards_;
  std::size_t size_ = 0;
};

}  // namespace drctl::store
