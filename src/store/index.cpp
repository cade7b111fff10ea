#include "store/index.hpp"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "base/error.hpp"

namespace drctl::store {

namespace {
constexpr char kIndexMagic[] = "DRCTLIX1";
}

Bytes encode_index(const PackContents& packs) {
  Bytes out(kIndexMagic, kIndexMagic + 8);
  put_u32(out, static_cast<std::uint32_t>(packs.size()));
  for (const auto& [pack, entries] : packs) {
    out.insert(out.end(), pack.bytes.begin(), pack.bytes.end());
    put_u32(out, static_cast<std::uint32_t>(entries.size()));
    for (const auto& e : entries) encode_entry(out, e);
  }
  return out;
}

PackContents decode_index(std::span<const std::uint8_t> data) {
  auto need = [&](std::size_t pos, std::size_t n) {
    if (pos + n > data.size()) throw Failure("index file is truncated");
  };
  need(0, 12);
  if (std::memcmp(data.data(), kIndexMagic, 8) != 0) throw Failure("index file has a bad magic");
  std::uint32_t count = get_u32(data.data() + 8);
  std::size_t pos = 12;
  PackContents out;
  for (std::uint32_t i = 0; i < count; ++i) {
    need(pos, 36);
    Id pack;
    std::memcpy(pack.bytes.data(), data.data() + pos, 32);
    std::uint32_t n = get_u32(data.data() + pos + 32);
    pos += 36;
    need(pos, std::size_t(n) * kEntrySize);
    auto& entries = out[pack];
    for (std::uint32_t j = 0; j < n; ++j, pos += kEntrySize) entries.push_back(decode_entry(data.data() + pos));
  }
  if (pos != data.size()) throw Failure("index file has trailing bytes");
  return out;
}

namespace {
bool by_id(const Index::Location& a, const Index::Location& b) { return a.entry.id < b.entry.id; }

/// The blob's entry in a shard (const or not), or nullptr.
template <class Shard>
auto find_in(Shard& s, const Id& blob) -> decltype(s.sorted.data()) {
  auto it = std::lower_bound(s.sorted.begin(), s.sorted.end(), blob,
                             [](const Index::Location& l, const Id& id) { return l.entry.id < id; });
  if (it != s.sorted.end() && it->entry.id == blob) return &*it;
  for (auto& l : s.tail)
    if (l.entry.id == blob) return &l;
  return nullptr;
}
}  // namespace

Index::Index() : shards_(std::size_t(1) << kShardBits) {}

std::size_t Index::shard_number(const Id& id) {
  static_assert(kShardBits == 12, "the first byte and a half of the id");
  return std::size_t(id.bytes[0]) << 4 | id.bytes[1] >> 4;
}

void Index::merge(Shard& s) {
  std::sort(s.tail.begin(), s.tail.end(), by_id);
  std::vector<Location> merged;
  merged.reserve(s.sorted.size() + s.tail.size());  // exactly: no slack kept for millions of entries
  std::merge(s.sorted.begin(), s.sorted.end(), s.tail.begin(), s.tail.end(), std::back_inserter(merged), by_id);
  s.sorted = std::move(merged);
  s.tail.clear();
}

void Index::add(const Id& pack, const BlobEntry& e) {
  auto [it, inserted] = pack_numbers_.try_emplace(pack, static_cast<std::uint32_t>(packs_.size()));
  if (inserted) packs_.push_back(pack);
  const Location loc{it->second, e};
  Shard& s = shards_[shard_number(e.id)];
  if (Location* existing = find_in(s, e.id)) {
    *existing = loc;
    return;
  }
  s.tail.push_back(loc);
  ++size_;
  // The tail is scanned on every lookup: keep it short against the shard, merging costs one shard copy.
  if (s.tail.size() > std::max<std::size_t>(32, s.sorted.size() / 32)) merge(s);
}

void Index::add(const PackContents& packs) {
  for (const auto& [pack, entries] : packs)
    for (const auto& e : entries) add(pack, e);
}

const Index::Location* Index::find(const Id& blob) const {
  return find_in(shards_[shard_number(blob)], blob);
}

PackContents Index::by_pack() const {
  PackContents out;
  for (const Shard& s : shards_) {
    for (const Location& l : s.sorted) out[packs_[l.pack]].push_back(l.entry);
    for (const Location& l : s.tail) out[packs_[l.pack]].push_back(l.entry);
  }
  return out;
}

}  // namespace drctl::store
