#include "base/ipv4.hpp"

namespace drctl {
namespace {

/// `text` as a decimal number of 1..`max_digits` digits, nullopt otherwise.
std::optional<unsigned> small_number(std::string_view text, std::size_t max_digits) {
  if (text.empty() || text.size() > max_digits) return std::nullopt;
  unsigned n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  return n;
}

}  // namespace

std::optional<std::uint32_t> parse_ipv4(std::string_view text) {
  std::uint32_t ip = 0;
  for (int part = 0; part < 4; ++part) {
    const std::size_t dot = text.find('.');
    if ((part < 3) != (dot != std::string_view::npos)) return std::nullopt;
    const auto n = small_number(text.substr(0, dot), 3);
    if (!n || *n > 255) return std::nullopt;
    ip = ip << 8 | *n;
    text = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  }
  return ip;
}

std::string format_ipv4(std::uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string(ip >> 16 & 255) + "." + std::to_string(ip >> 8 & 255) + "." +
         std::to_string(ip & 255);
}

std::optional<Ipv4Net> parse_ipv4_cidr(std::string_view text) {
  const std::size_t slash = text.find('/');
  const auto ip = parse_ipv4(text.substr(0, slash));
  if (!ip) return std::nullopt;
  Ipv4Net net;
  if (slash != std::string_view::npos) {
    const auto bits = small_number(text.substr(slash + 1), 2);
    if (!bits || *bits > 32) return std::nullopt;
    net.bits = static_cast<int>(*bits);
  }
  net.network = *ip & net.mask();
  return net;
}

}  // namespace drctl
