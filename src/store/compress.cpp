#include "store/compress.hpp"

#include <zstd.h>

#include <memory>
#include <string>

#include "base/error.hpp"

namespace drctl::store {

namespace {
struct CCtxFree { void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); } };
struct DCtxFree { void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); } };
}  // namespace

Bytes compress(std::span<const std::uint8_t> raw, int level) {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> ctx(ZSTD_createCCtx());
  Bytes out(ZSTD_compressBound(raw.size()));
  std::size_t n = ZSTD_compressCCtx(ctx.get(), out.data(), out.size(), raw.data(), raw.size(), level);
  if (ZSTD_isError(n)) throw Failure(std::string("zstd compression failed: ") + ZSTD_getErrorName(n));
  out.resize(n);
  return out;
}

Bytes decompress(std::span<const std::uint8_t> packed, std::size_t raw_size) {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> ctx(ZSTD_createDCtx());
  Bytes out(raw_size);
  std::size_t n = ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), packed.data(), packed.size());
  if (ZSTD_isError(n)) throw Failure(std::string("zstd: ") + ZSTD_getErrorName(n));
  if (n != raw_size) throw Failure("blob decompressed to the wrong size");
  return out;
}

}  // namespace drctl::store
