// IPv4 text for the simulator's models, whose parsers report a bad address by throwing
// std::invalid_argument (the message becomes the refusal the model prints or logs).
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

#include "base/ipv4.hpp"

namespace drctl::sim {

/// "10.0.20.5" → 0x0a001405 (base's parse_ipv4); throws std::invalid_argument
/// ("'TEXT' is not an IPv4 address") for anything else.
inline std::uint32_t ipv4_or_throw(const std::string& text) {
  if (const auto ip = parse_ipv4(text)) return *ip;
  throw std::invalid_argument("'" + text + "' is not an IPv4 address");
}

}  // namespace drctl::sim
