// pfSense's DHCP server as the simulator sees it: per VLAN a range, static MAC reservations
// and PXE options (next-server, filename). A client only reaches the server of its own VLAN.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "sim/engine.hpp"

namespace drctl::sim {

/// The DHCP settings of one VLAN (interface) on pfSense.
struct DhcpScope {
  std::string vlan;
  std::string range_start, range_end;          // empty: no dynamic pool
  std::map<std::string, std::string> reserved;  // MAC (lower case) -> IP
  bool deny_unknown = false;                    // only known clients get a lease
  /// With deny_unknown, which clients are known: those reserved in this scope (pfSense's `class`,
  /// "Allow known clients from only this interface"), or those reserved in any scope of the server
  /// (`enabled`: ISC dhcpd's `deny unknown-clients`, a client with a host declaration anywhere).
  bool known_here_only = true;
  std::string next_server, filename;            // PXE options
  std::string router, dns;
};

struct Lease {
  std::string ip, next_server, filename, router, dns;
};

class DhcpServer {
 public:
  DhcpServer(Engine& engine, std::vector<DhcpScope> scopes);

  /// A DISCOVER from `mac` on `vlan`: the lease, or nullopt with the reason in the event log
  /// (no server on that VLAN, service stopped, unknown client denied, pool exhausted).
  std::optional<Lease> request(const std::string& mac, const std::string& vlan);
  void stop();
  void start();
  bool running() const { return running_; }
  /// Why the last request got no lease.
  const std::string& last_refusal() const { return last_refusal_; }

 private:
  /// Whether `mac` (lower case) has a reservation in any scope.
  bool known_anywhere(const std::string& mac) const;

  Engine& engine_;
  std::map<std::string, DhcpScope> scopes_;               // by VLAN
  std::map<std::string, std::map<std::string, std::string>> leases_;  // VLAN -> MAC -> IP
  bool running_ = true;
  std::string last_refusal_;
};

}  // namespace drctl::sim
