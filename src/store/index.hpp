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

class Index {
 public:
  struct Location {
    std::uint32_t pack;  // position in packs()
    BlobEntry entry;     // entry.id repeats the key; kept for simplicity
  };

  void add(const Id& pack, const BlobEntry& e);
  void add(const PackContents& packs);
  const Location* find(const Id& blob) const;
  bool contains(const Id& blob) const { return find(blob) != nullptr; }
  const Id& pack_id(const Location& l) const { return packs_[l.pack]; }
  std::size_t size() const { return blobs_.size(); }

  /// Every blob, grouped by pack.
  PackContents by_pack() const;

 private:
  std::vector<Id> packs_;
  std::unordered_map<Id, std::uint32_t> pack_numbers_;
  std::unordered_map<Id, Location> blobs_;
};

}  // namespace drctl::store
