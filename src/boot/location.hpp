// Where a network-boot file lives, as kernel command lines name it (ks=, url=, ds=…;s=,
// method=): read by the simulated installer and checked by the menu lint.
#pragma once
#include <string>

namespace drctl::boot {

/// Where a file lives: TFTP (relative to the TFTP root of `server`), NFS (`server`:/abs/path) or HTTP.
struct Location {
  std::string scheme;  // "tftp", "nfs" or "http"
  std::string server;  // IP address or host name, as written
  int port = 0;        // http only; 0 = default
  std::string path;    // tftp: relative path without leading '/'; nfs/http: absolute path
  /// "tftp://S/path", "nfs:S:/path", "http://S[:port]/path".
  std::string str() const;
};

/// Parses "nfs:server:/path", "nfs://server/path", "http://server[:port]/path", "tftp://server/path".
/// Throws std::invalid_argument("cannot read location 'TEXT': …") otherwise.
Location parse_location(const std::string& text);

}  // namespace drctl::boot
