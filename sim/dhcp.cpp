#include "sim/dhcp.hpp"
#include "base/text.hpp"
#include "sim/ipv4_text.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <stdexcept>

namespace drctl::sim {

namespace {
using text::lower;
}  // namespace

DhcpServer::DhcpServer(Engine& engine, std::vector<DhcpScope> scopes) : engine_(engine) {
  for (auto& s : scopes) {
    std::map<std::string, std::string> reserved;
    for (const auto& [mac, ip] : s.reserved) reserved[lower(mac)] = ip;
    s.reserved = std::move(reserved);
    scopes_[s.vlan] = std::move(s);
  }
}

bool DhcpServer::known_anywhere(const std::string& mac) const {
  return std::any_of(scopes_.begin(), scopes_.end(), [&](const auto& s) { return s.second.reserved.contains(mac); });
}

void DhcpServer::stop() {
  running_ = false;
  engine_.log("dhcp", "stopped");
}

void DhcpServer::start() {
  running_ = true;
  engine_.log("dhcp", "started");
}

std::optional<Lease> DhcpServer::request(const std::string& mac_in, const std::string& vlan) {
  const std::string mac = lower(mac_in);
  auto refuse = [&](const std::string& why) -> std::optional<Lease> {
    engine_.log("dhcp", "no-lease", {{"mac", mac}, {"vlan", vlan}, {"reason", why}});
    last_refusal_ = why;
    return std::nullopt;
  };
  if (!running_) return refuse("the DHCP service is stopped");
  auto it = scopes_.find(vlan);
  if (it == scopes_.end()) return refuse("no DHCP server serves VLAN " + vlan);
  const DhcpScope& scope = it->second;
  std::string ip;
  if (auto r = scope.reserved.find(mac); r != scope.reserved.end()) {
    ip = r->second;
  } else if (auto l = leases_[vlan].find(mac); l != leases_[vlan].end()) {
    ip = l->second;
  } else {
    if (scope.deny_unknown && (scope.known_here_only || !known_anywhere(mac)))
      return refuse("MAC " + mac + " has no reservation" + (scope.known_here_only ? "" : " on any interface") +
                    " and unknown clients are denied");
    if (scope.range_start.empty()) return refuse("MAC " + mac + " has no reservation and VLAN " + vlan + " has no dynamic range");
    std::set<std::string> taken;
    for (const auto& [m, a] : scope.reserved) taken.insert(a);
    for (const auto& [m, a] : leases_[vlan]) taken.insert(a);
    for (std::uint32_t a = ipv4_or_throw(scope.range_start); a <= ipv4_or_throw(scope.range_end); ++a)
      if (!taken.contains(format_ipv4(a))) {
        ip = format_ipv4(a);
        break;
      }
    if (ip.empty()) return refuse("the pool of VLAN " + vlan + " is exhausted");
  }
  leases_[vlan][mac] = ip;
  engine_.log("dhcp", "lease", {{"mac", mac}, {"vlan", vlan}, {"ip", ip}, {"next_server", scope.next_server}, {"filename", scope.filename}});
  return Lease{ip, scope.next_server, scope.filename, scope.router, scope.dns};
}

}  // namespace drctl::sim
