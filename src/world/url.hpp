// http:// and https:// URLs as the World's networks accept them (real sockets and the simulator
// alike), and matching a certificate's names against a host.
#pragma once
#include <string>
#include <vector>

namespace drctl::world {

struct HttpUrl {
  bool https = false;
  std::string host;    // without brackets
  int port = 80;       // 443 for https unless given
  std::string target;  // path and query, at least "/"
};

/// Parses http(s)://host[:port][/path][?query]; "" when fine, else why not.
std::string parse_http_url(const std::string& url, HttpUrl& u);

/// SCHEME://[USER@]HOST[:PORT]/PATH, taken apart (ssh:// sources, sftp:// copies).
struct HostPathUrl {
  std::string user, host, path;  // host without brackets; path absolute, without a trailing '/'
  int port = 0;                  // 0: the SSH configuration's Port, else 22
};
/// Parses a `scheme`:// URL of that form; InputError naming `what` when malformed.
HostPathUrl parse_host_path_url(const std::string& scheme, const std::string& url, const std::string& what);

/// True when one of a certificate's DNS names covers `host` (exact, case-insensitive, or a
/// "*.domain" wildcard standing for exactly one label, as RFC 6125 says).
bool tls_name_matches(const std::vector<std::string>& names, const std::string& host);

}  // namespace drctl::world
