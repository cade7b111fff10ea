// FastCDC content-defined chunking: cut points depend on content, so an insertion shifts
// only the chunks around it and the rest still deduplicate.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

namespace drctl::store {

/// The largest chunk any repository may cut: data blobs are never bigger (readers refuse them).
inline constexpr std::uint32_t kMaxChunkSize = 64 * 1024 * 1024;

/// Chunk size bounds in bytes. avg is rounded to a power of two for the masks.
struct ChunkerParams {
  std::uint32_t min = 256 * 1024;
  std::uint32_t avg = 1024 * 1024;
  std::uint32_t max = 4 * 1024 * 1024;
  void validate() const;  // throws InputError unless 64 <= min < avg < max <= kMaxChunkSize
};

class Chunker {
 public:
  explicit Chunker(ChunkerParams params);

  /// Length of the chunk that starts at data[0]. `data` must hold at least params.max bytes
  /// unless it is the end of the stream, in which case the last chunk may be shorter.
  std::size_t cut(std::span<const std::uint8_t> data) const;

  const ChunkerParams& params() const { return params_; }

  /// The 256-entry gear table (deterministic: splitmix64 from seed 0x6472637463646331).
  static const std::uint64_t* gear();

 private:
  ChunkerParams params_;
  std::uint64_t mask_small_;  // stricter mask before avg (normalized chunking)
  std::uint64_t mask_large_;  // looser mask after avg
};

}  // namespace drctl::store
