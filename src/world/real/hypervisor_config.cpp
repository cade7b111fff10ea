#include "world/real/hypervisor_config.hpp"

#include <cctype>
#include <stdexcept>

namespace drctl::world::real {

std::string normalize_thumbprint(const std::string& text) {
  std::string t = text;
  if (t.size() > 7 && (t.compare(0, 7, "sha256:") == 0 || t.compare(0, 7, "SHA256:") == 0)) t = t.substr(7);
  std::string hex;
  for (char c : t) {
    if (c == ':') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      throw std::invalid_argument("'" + text + "' is not a SHA-256 thumbprint (64 hex digits, colons optional)");
    hex += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (hex.size() != 64) throw std::invalid_argument("'" + text + "' is not a SHA-256 thumbprint (64 hex digits, colons optional)");
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) out += (i ? ":" : "") + hex.substr(i, 2);
  return out;
}

}  // namespace drctl::world::real
