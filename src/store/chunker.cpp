#include "store/chunker.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <string>

#include "base/error.hpp"

namespace drctl::store {

void ChunkerParams::validate() const {
  if (!(min >= 64 && min < avg && avg < max))
    throw InputError("chunker sizes must satisfy 64 <= min < avg < max (got min=" + std::to_string(min) +
                     " avg=" + std::to_string(avg) + " max=" + std::to_string(max) + ")");
  if (max > kMaxChunkSize)
    throw InputError("the largest chunk may be " + std::to_string(kMaxChunkSize) + " bytes (got max=" + std::to_string(max) + ")");
}

const std::uint64_t* Chunker::gear() {
  static const std::array<std::uint64_t, 256> table = [] {
    std::array<std::uint64_t, 256> t{};
    std::uint64_t x = 0x6472637463646331ULL;  // "drctlcd1"
    for (auto& v : t) {
      x += 0x9e3779b97f4a7c15ULL;
      std::uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      v = z ^ (z >> 31);
    }
    return t;
  }();
  return table.data();
}

namespace {
// The top `bits` bits of the 64-bit gear hash: those depend on the most input bytes.
std::uint64_t top_mask(unsigned bits) { return bits == 0 ? 0 : ~0ULL << (64 - bits); }
}  // namespace

Chunker::Chunker(ChunkerParams params) : params_(params) {
  params_.validate();
  unsigned bits = static_cast<unsigned>(std::bit_width(params_.avg) - 1);  // floor(log2(avg))
  mask_small_ = top_mask(bits + 1);
  mask_large_ = top_mask(bits - 1);
}

std::size_t Chunker::cut(std::span<const std::uint8_t> data) const {
  const std::size_t n = data.size();
  if (n <= params_.min) return n;
  const std::size_t normal = std::min<std::size_t>(params_.avg, n);
  const std::size_t end = std::min<std::size_t>(params_.max, n);
  const std::uint64_t* g = gear();
  const std::uint8_t* p = data.data();
  std::uint64_t h = 0;
  std::size_t i = params_.min;
  for (; i < normal; ++i) {
    h = (h << 1) + g[p[i]];
    if (!(h & mask_small_)) return i + 1;
  }
  for (; i < end; ++i) {
    h = (h << 1) + g[p[i]];
    if (!(h & mask_large_)) return i + 1;
  }
  return end;
}

}  // namespace drctl::store
