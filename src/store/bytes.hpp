// Byte strings, SHA-256 ids and hex: the vocabulary every other store file uses.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace drctl::store {

using Bytes = std::vector<std::uint8_t>;

/// A SHA-256 digest naming a blob, pack, index file or snapshot.
struct Id {
  std::array<std::uint8_t, 32> bytes{};

  std::string hex() const;
  std::string short_hex() const { return hex().substr(0, 8); }
  static Id from_hex(std::string_view hex);  // throws on bad input
  static bool is_hex(std::string_view s);
  bool operator==(const Id&) const = default;
  auto operator<=>(const Id&) const = default;
};

/// SHA-256 of a byte range (OpenSSL).
Id sha256(std::span<const std::uint8_t> data);
Id sha256(std::string_view data);

/// Incremental SHA-256 for data that arrives in pieces (whole pack files).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::span<const std::uint8_t> data);
  Id finish();

 private:
  void* ctx_;
};

std::string to_hex(std::span<const std::uint8_t> data);

/// Raw bytes (names from trees and manifests) made safe for one line of a message: valid UTF-8
/// kept, \n \t and backslash escaped, control characters and other bytes as \xNN.
std::string escape_bytes(std::string_view s);

/// Little-endian fixed-width integers in byte buffers.
void put_u32(Bytes& out, std::uint32_t v);
void put_u64(Bytes& out, std::uint64_t v);
std::uint32_t get_u32(const std::uint8_t* p);
std::uint64_t get_u64(const std::uint8_t* p);

}  // namespace drctl::store

template <>
struct std::hash<drctl::store::Id> {
  std::size_t operator()(const drctl::store::Id& id) const noexcept {
    std::size_t h;
    static_assert(sizeof h <= 32);
    __builtin_memcpy(&h, id.bytes.data(), sizeof h);
    return h;
  }
};
