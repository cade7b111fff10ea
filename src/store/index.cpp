#include "store/index.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <new>
#include <type_traits>
#include <utility>

#include "base/error.hpp"

namespace drctl::store {

namespace {
constexpr char kIndexMagic[] = "DRCTLIX1";
}

Bytes encode_index(const PackContents& packs) {
  std::size_t size = 12;
  for (const auto& [pack, entries] : packs) size += 36 + entries.size() * kEntrySize;
  Bytes out;
  out.reserve(size);  // exactly: growing by doubling would hold up to three times the file
  out.assign(kIndexMagic, kIndexMagic + 8);
  put_u32(out, static_cast<std::uint32_t>(packs.size()));
  for (const auto& [pack, entries] : packs) {
    out.insert(out.end(), pack.bytes.begin(), pack.bytes.end());
    put_u32(out, static_cast<std::uint32_t>(entries.size()));
    for (const auto& e : entries) encode_entry(out, e);
  }
  return out;
}

namespace {

/// Calls `visit(pack, entry)` for each entry of an index file, in file order; throws Failure
/// when the file is malformed (possibly after some calls: check a file first with a no-op visit).
template <class Visit>
void for_each_entry(std::span<const std::uint8_t> data, Visit&& visit) {
  auto need = [&](std::size_t pos, std::size_t n) {
    if (pos + n > data.size()) throw Failure("index file is truncated");
  };
  need(0, 12);
  if (std::memcmp(data.data(), kIndexMagic, 8) != 0) throw Failure("index file has a bad magic");
  std::uint32_t count = get_u32(data.data() + 8);
  std::size_t pos = 12;
  for (std::uint32_t i = 0; i < count; ++i) {
    need(pos, 36);
    Id pack;
    std::memcpy(pack.bytes.data(), data.data() + pos, 32);
    std::uint32_t n = get_u32(data.data() + pos + 32);
    pos += 36;
    need(pos, std::size_t(n) * kEntrySize);
    for (std::uint32_t j = 0; j < n; ++j, pos += kEntrySize) visit(pack, data.data() + pos);
  }
  if (pos != data.size()) throw Failure("index file has trailing bytes");
}

}  // namespace

PackContents decode_index(std::span<const std::uint8_t> data) {
  PackContents out;
  for_each_entry(data, [&](const Id& pack, const std::uint8_t* e) { out[pack].push_back(decode_entry(e)); });
  return out;
}

namespace {
bool by_id(const Index::Location& a, const Index::Location& b) { return a.entry.id < b.entry.id; }

/// The blob's entry in a shard (const or not), or nullptr.
template <class Shard>
auto find_in(Shard& s, const Id& blob) -> decltype(s.sorted.begin()) {
  auto it = std::lower_bound(s.sorted.begin(), s.sorted.end(), blob,
                             [](const Index::Location& l, const Id& id) { return l.entry.id < id; });
  if (it != s.sorted.end() && it->entry.id == blob) return &*it;
  for (auto& l : s.tail)
    if (l.entry.id == blob) return &l;
  return nullptr;
}
}  // namespace

template <class T>
MappedArray<T>::MappedArray(MappedArray&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)), mapped_(std::exchange(o.mapped_, 0)) {}

template <class T>
MappedArray<T>& MappedArray<T>::operator=(MappedArray&& o) noexcept {
  if (this != &o) {
    this->~MappedArray();
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    mapped_ = std::exchange(o.mapped_, 0);
  }
  return *this;
}

template <class T>
MappedArray<T>::~MappedArray() {
  if (data_) ::munmap(data_, mapped_);
}

template <class T>
void MappedArray<T>::resize(std::size_t n) {
  static_assert(std::is_trivially_copyable_v<T>, "pages are moved, not objects");
  static const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t want = n == 0 ? 0 : (n * sizeof(T) + page - 1) / page * page;
  if (want == 0 && data_) {
    ::munmap(data_, mapped_);
    data_ = nullptr;
  } else if (want != mapped_) {
    void* p = data_ ? ::mremap(data_, mapped_, want, MREMAP_MAYMOVE)
                    : ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
  }
  mapped_ = want;
  size_ = n;  // fresh pages are zero: no entry needs constructing
}

template class MappedArray<Index::Location>;

Index::Index() : shards_(std::size_t(1) << kShardBits) {}

std::size_t Index::shard_number(const Id& id) {
  static_assert(kShardBits == 10, "the id's first 10 bits");
  return std::size_t(id.bytes[0]) << 2 | id.bytes[1] >> 6;
}

void Index::merge(Shard& s) {
  std::sort(s.tail.begin(), s.tail.end(), by_id);
  // In place, from the back: the larger of the two ends goes last.
  std::size_t i = s.sorted.size(), j = s.tail.size(), k = i + j;
  s.sorted.resize(k);
  while (j > 0) {
    if (i > 0 && s.tail[j - 1].entry.id < s.sorted[i - 1].entry.id) s.sorted[--k] = s.sorted[--i];
    else s.sorted[--k] = s.tail[--j];
  }
  s.tail.clear();  // its capacity is kept: the next tail grows as long
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
  if (s.tail.size() > std::max<std::size_t>(16, s.sorted.size() / 32)) merge(s);
}

void Index::add_encoded(std::span<const std::uint8_t> data) {
  for_each_entry(data, [](const Id&, const std::uint8_t* e) { decode_entry(e); });  // all or nothing: a damaged file adds no blob
  for_each_entry(data, [&](const Id& pack, const std::uint8_t* e) { add(pack, decode_entry(e)); });
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
