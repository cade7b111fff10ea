#include "store/index.hpp"

#include <cstring>

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

void Index::add(const Id& pack, const BlobEntry& e) {
  auto [it, inserted] = pack_numbers_.try_emplace(pack, static_cast<std::uint32_t>(packs_.size()));
  if (inserted) packs_.push_back(pack);
  blobs_.insert_or_assign(e.id, Location{it->second, e});
}

void Index::add(const PackContents& packs) {
  for (const auto& [pack, entries] : packs)
    for (const auto& e : entries) add(pack, e);
}

const Index::Location* Index::find(const Id& blob) const {
  auto it = blobs_.find(blob);
  return it == blobs_.end() ? nullptr : &it->second;
}

PackContents Index::by_pack() const {
  PackContents out;
  for (const auto& [id, loc] : blobs_) out[packs_[loc.pack]].push_back(loc.entry);
  return out;
}

}  // namespace drctl::store
