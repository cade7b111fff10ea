// A site host's view of the network, for checks made from there — a visitor on the internet
// reaching the site's public address: curl runs on that host over its connection (SSH),
// so what answers is what that host reaches, not what drctl's machine reaches.
#pragma once
#include "world/world.hpp"

namespace drctl::world::real {

class HostNetwork : public Network {
 public:
  explicit HostNetwork(Host& host) : host_(host) {}
  /// Whether curl on the host connects to host:port (telnet://, which only connects).
  bool tcp_probe(const std::string& host, int port, Duration timeout) override;
  /// curl on the host (7.88 or later, for the certificate's names): the status and body; for
  /// https the certificate's DNS names and whether its chain verifies (curl's
  /// ssl_verify_result, as OpenSSL names it). A Host header that is a name is sent as the URL's
  /// host, resolved to the URL's address (`--resolve`), so SNI carries it too. A failure is
  /// curl's own message ("curl: (7) Failed to connect …"), or that the host has no curl.
  HttpResponse http_get(const std::string& url, const std::string& host_header, Duration timeout) override;
  /// An IP literal is itself; a name as the host resolves it (`getent ahosts`).
  std::vector<std::string> resolve(const std::string& name) override;
  /// dig on the host (BIND's, on Debian's bind9-dnsutils), else drill (ldns: FreeBSD's base
  /// system): the header's status and the answer section's A records; when nothing answered,
  /// the tool's own last line (";; communications error to …: connection refused").
  DnsAnswer dns_query(const std::string& server, int port, const std::string& name, Duration timeout) override;

 private:
  Host& host_;
};

}  // namespace drctl::world::real
