#include "boot/location.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace drctl::boot {

std::string Location::str() const {
  if (scheme == "nfs") return "nfs:" + server + ":" + path;
  if (scheme == "tftp") return "tftp://" + server + "/" + path;
  return scheme + "://" + server + (port ? ":" + std::to_string(port) : "") + path;
}

Location parse_location(const std::string& text) {
  auto fail = [&](const std::string& why) { return std::invalid_argument("cannot read location '" + text + "': " + why); };
  auto colon = text.find(':');
  if (colon == std::string::npos) throw fail("no scheme (expected nfs:, http:// or tftp://)");
  Location loc;
  loc.scheme = text.substr(0, colon);
  std::string rest = text.substr(colon + 1);
  if (loc.scheme != "nfs" && loc.scheme != "http" && loc.scheme != "tftp")
    throw fail("unknown scheme '" + loc.scheme + "' (expected nfs, http or tftp)");
  if (loc.scheme == "nfs" && !rest.starts_with("//")) {
    auto sep = rest.find(':');
    if (sep == std::string::npos) throw fail("expected nfs:SERVER:/PATH");
    loc.server = rest.substr(0, sep);
    loc.path = rest.substr(sep + 1);
  } else {
    if (!rest.starts_with("//")) throw fail("expected " + loc.scheme + "://SERVER/PATH");
    rest = rest.substr(2);
    auto slash = rest.find('/');
    loc.server = rest.substr(0, slash);
    loc.path = slash == std::string::npos ? "" : rest.substr(slash);
    if (auto p = loc.server.find(':'); p != std::string::npos) {
      std::string port = loc.server.substr(p + 1);
      loc.server = loc.server.substr(0, p);
      if (loc.scheme != "http") throw fail("a port is only modelled for http");
      if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoi(port) == 0 ||
          std::stoi(port) > 65535)
        throw fail("bad port '" + port + "'");
      loc.port = std::stoi(port);
    }
    if (loc.scheme == "http" && loc.path.empty()) loc.path = "/";
  }
  if (loc.server.empty()) throw fail("no server");
  if (!loc.path.starts_with("/")) throw fail("the path must be absolute");
  if (loc.scheme == "tftp") {
    loc.path = loc.path.substr(1);
    if (loc.path.empty()) throw fail("no file");
  }
  return loc;
}

}  // namespace drctl::boot
