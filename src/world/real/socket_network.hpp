// The real network, as a Network: TCP probes and name resolution with POSIX sockets and
// getaddrinfo, HTTP and HTTPS GETs with libcurl (curl_http.hpp).
#pragma once
#include <string>
#include <vector>

#include "world/world.hpp"

namespace drctl::world::real {

/// Probes services over the host's own network stack. Every call is bounded by its timeout
/// (a zero timeout means no limit) and returns early, as a failure, when `cancel` is
/// requested; the name lookups of tcp_probe and resolve (getaddrinfo) are not bounded, those of
/// http_get (libcurl's resolver thread) are. Safe from several threads.
class SocketNetwork : public Network {
 public:
  /// A network whose waits end early when `cancel` is requested.
  explicit SocketNetwork(const Cancel& cancel) : cancel_(cancel) {}

  /// Tries each address of `host` in turn; true on the first accepted connection.
  bool tcp_probe(const std::string& host, int port, Duration timeout) override;

  /// HTTP/1.1 GET with `Connection: close` of an http(s)://host[:port]/path URL, by libcurl
  /// (curl_http_get: a Host header reaches the URL's address by CONNECT_TO, redirects are
  /// reported, not followed). Network and protocol errors come back as status 0 with `error`
  /// set, never as exceptions. https: the handshake does not verify; the response says which
  /// names the certificate has and whether its chain is trusted.
  HttpResponse http_get(const std::string& url, const std::string& host_header, Duration timeout) override;

  /// Numeric IPv4 and IPv6 addresses of `name`, without duplicates, in resolver order.
  std::vector<std::string> resolve(const std::string& name) override;

  /// One A query over UDP to server:port (built and parsed with libresolv), sent again once
  /// half the timeout has passed without an answer. A server that is not there is the error
  /// the socket reports ("connection refused" from an ICMP port unreachable) or "timed out".
  DnsAnswer dns_query(const std::string& server, int port, const std::string& name, Duration timeout) override;

 private:
  const Cancel& cancel_;
};

}  // namespace drctl::world::real
