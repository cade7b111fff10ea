// zstd compression of blobs.
#pragma once
#include <span>

#include "store/bytes.hpp"

namespace drctl::store {

/// Compresses with zstd at `level` (a per-thread context is reused).
Bytes compress(std::span<const std::uint8_t> raw, int level);

/// Decompresses a zstd frame that must expand to exactly raw_size bytes; throws Failure otherwise.
Bytes decompress(std::span<const std::uint8_t> packed, std::size_t raw_size);

}  // namespace drctl::store
