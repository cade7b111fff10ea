// http:// URLs as the World's networks accept them (real sockets and the simulator alike).
#pragma once
#include <string>

namespace drctl::world {

struct HttpUrl {
  std::string host;    // without brackets
  int port = 80;
  std::string target;  // path and query, at least "/"
};

/// Parses http://host[:port][/path][?query]; "" when fine, else why not.
std::string parse_http_url(const std::string& url, HttpUrl& u);

}  // namespace drctl::world
