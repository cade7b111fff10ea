// dnsmasq (2.90, Debian 12) as a site's DHCP and DNS server: the part of its configuration a
// network boot depends on, read as dnsmasq(8) reads it — one `option=value` per line, `#`
// comments, an option it does not know refused at start ("bad option at line N of FILE").
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "sim/dhcp.hpp"

namespace drctl::sim {

/// Where dnsmasq reads its configuration on Debian: the main file, and the file drctl's
/// dhcp.render writes into its conf-dir (the simulator follows these two, not every *.conf).
inline constexpr const char* kDnsmasqConf = "/etc/dnsmasq.conf";
inline constexpr const char* kDnsmasqDrctlConf = "/etc/dnsmasq.d/drctl-pxe.conf";

struct DnsmasqConfig {
  struct Range {
    std::string start, end;  // start only, with `static`: no pool, only dhcp-host reservations
    bool only_static = false;
  };
  std::vector<Range> ranges;
  std::map<std::string, std::string> hosts;  // dhcp-host: MAC (lower case) -> address
  std::string boot_file, boot_server;        // dhcp-boot=FILE[,NAME[,ADDRESS]]
  std::string router, dns;                   // dhcp-option=option:router / option:dns-server
  std::map<std::string, std::string> records;  // host-record=NAME,ADDRESS
};

/// Parses dnsmasq's configuration files (path, content), in order. Throws std::invalid_argument
/// with dnsmasq's own message ("bad option at line 3 of /etc/dnsmasq.d/x.conf") for an option
/// it does not know or a dhcp-range/dhcp-host/dhcp-boot/host-record it cannot read.
DnsmasqConfig parse_dnsmasq(const std::vector<std::pair<std::string, std::string>>& files);

/// parse_dnsmasq of the two files dnsmasq reads (kDnsmasqConf, kDnsmasqDrctlConf), as `read`
/// gives them (nullopt: the file is not there, read as empty).
DnsmasqConfig read_dnsmasq(const std::function<std::optional<std::string>(const std::string&)>& read);

/// The DHCP scope dnsmasq answers with on `vlan`, where it has the address `own_address`:
/// reservations, the pool (none for `static` ranges: unknown clients get nothing), PXE boot
/// options (next-server: dhcp-boot's address, else dnsmasq itself), router and DNS (dnsmasq
/// itself unless dhcp-option names another).
DhcpScope dnsmasq_scope(const DnsmasqConfig& config, const std::string& vlan, const std::string& own_address);

}  // namespace drctl::sim
