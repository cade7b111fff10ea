#include "world/url.hpp"

#include <algorithm>
#include <cctype>
#include <regex>

#include "base/error.hpp"

namespace drctl::world {

std::string parse_http_url(const std::string& url, HttpUrl& u) {
  std::string lower = url.substr(0, 8);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  u.https = lower == "https://";
  if (!u.https && lower.substr(0, 7) != "http://") return "only http:// and https:// URLs are supported";
  u.port = u.https ? 443 : 80;
  std::string rest = url.substr(u.https ? 8 : 7);
  rest = rest.substr(0, rest.find('#'));
  const std::size_t slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (u.target[0] == '?') u.target = "/" + u.target;
  if (authority.find('@') != std::string::npos) return "user names in URLs are not supported";
  std::string port;
  if (!authority.empty() && authority[0] == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string::npos || (close + 1 < authority.size() && authority[close + 1] != ':'))
      return "bad IPv6 address in URL";
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) port = authority.substr(close + 2);
  } else {
    const std::size_t colon = authority.find(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return "no host in URL";
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c); }) ||
        std::stoi(port) < 1 || std::stoi(port) > 65535)
      return "bad port in URL: " + port;
    u.port = std::stoi(port);
  }
  return "";
}

bool tls_name_matches(const std::vector<std::string>& names, const std::string& host) {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  const std::string h = lower(host);
  for (const auto& n : names) {
    const std::string name = lower(n);
    if (name == h) return true;
    if (name.rfind("*.", 0) == 0) {
      const std::size_t dot = h.find('.');
      if (dot != std::string::npos && dot > 0 && h.substr(dot) == name.substr(1)) return true;
    }
  }
  return false;
}

HostPathUrl parse_host_path_url(const std::string& scheme, const std::string& url, const std::string& what) {
  static const std::regex form(R"(([a-z]+)://(?:([^@/]+)@)?(\[[^\]]+\]|[^:/@]+)(?::([0-9]{1,5}))?(/.*))");
  std::smatch m;
  if (!std::regex_match(url, m, form) || m[1] != scheme)
    throw InputError(what + ": '" + url + "' is not " + scheme + "://[USER@]HOST[:PORT]/PATH (an absolute path on the host)");
  HostPathUrl u{m[2], m[3], m[5]};
  if (u.host.front() == '[') u.host = u.host.substr(1, u.host.size() - 2);
  if (m[4].matched) {
    u.port = std::stoi(m[4]);
    if (u.port < 1 || u.port > 65535) throw InputError(what + ": bad port in '" + url + "'");
  }
  while (u.path.size() > 1 && u.path.back() == '/') u.path.pop_back();
  return u;
}

}  // namespace drctl::world
