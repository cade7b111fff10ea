// IPv4 addresses and networks as the site's files write them ("10.0.20.15", "10.0.20.0/24").
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drctl {

/// An IPv4 network: its address with the host bits cleared, and the prefix length.
struct Ipv4Net {
  std::uint32_t network = 0;
  int bits = 32;
  std::uint32_t mask() const { return bits == 0 ? 0 : ~std::uint32_t(0) << (32 - bits); }
  bool contains(std::uint32_t ip) const { return (ip & mask()) == network; }
};

/// Dotted-quad text as a number ("10.0.0.1" → 0x0a000001); nullopt unless it is exactly four
/// decimal parts of at most three digits, each at most 255.
std::optional<std::uint32_t> parse_ipv4(std::string_view text);

/// A number as dotted-quad text.
std::string format_ipv4(std::uint32_t ip);

/// "10.244.0.0/16" as a network (host bits cleared); a bare address is a /32. nullopt when it
/// is not an IPv4 network.
std::optional<Ipv4Net> parse_ipv4_cidr(std::string_view text);

}  // namespace drctl
