#include "sim/dnsmasq.hpp"

#include <set>
#include <stdexcept>

#include "base/ipv4.hpp"
#include "base/text.hpp"

namespace drctl::sim {

namespace {

/// Options dnsmasq knows that a network boot does not depend on: accepted, not modelled.
const std::set<std::string> kAccepted = {
    "interface", "except-interface", "listen-address", "bind-interfaces", "bind-dynamic", "user", "group", "port",
    "enable-ra", "conf-dir", "conf-file", "dhcp-leasefile", "domain", "local", "expand-hosts", "log-dhcp",
    "log-queries", "no-resolv", "no-hosts", "server", "dhcp-authoritative", "pid-file", "cache-size", "enable-tftp",
    "tftp-root", "dhcp-no-override", "domain-needed", "bogus-priv"};

std::vector<std::string> fields(const std::string& value) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (true) {
    const auto comma = value.find(',', at);
    out.push_back(text::trim(value.substr(at, comma == std::string::npos ? std::string::npos : comma - at)));
    if (comma == std::string::npos) return out;
    at = comma + 1;
  }
}

bool is_mac(const std::string& s) {
  if (s.size() != 17) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i % 3 == 2 ? s[i] != ':' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

/// Reads one `option=value` line into `c`; false when dnsmasq would call it a bad option.
bool read_option(const std::string& key, const std::string& value, DnsmasqConfig& c) {
  const auto f = fields(value);
  if (key == "dhcp-range") {
    // dhcp-range=START,END[,MASK[,LEASE]] or START,static[,MASK]
    if (f.size() < 2 || !parse_ipv4(f[0])) return false;
    if (f[1] == "static") c.ranges.push_back({f[0], "", true});
    else if (parse_ipv4(f[1])) c.ranges.push_back({f[0], f[1], false});
    else return false;
    return true;
  }
  if (key == "dhcp-host") {  // dhcp-host=MAC,ADDRESS[,NAME]
    if (f.size() < 2 || !is_mac(f[0]) || !parse_ipv4(f[1])) return false;
    c.hosts[text::lower(f[0])] = f[1];
    return true;
  }
  if (key == "dhcp-boot") {  // dhcp-boot=FILE[,SERVER-NAME[,SERVER-ADDRESS]]
    if (f.empty() || f[0].empty()) return false;
    c.boot_file = f[0];
    c.boot_server = f.size() > 2 ? f[2] : "";
    return true;
  }
  if (key == "dhcp-option") {  // only the two options a boot reads; others are accepted
    if (f.size() >= 2 && (f[0] == "option:router" || f[0] == "3")) c.router = f[1];
    if (f.size() >= 2 && (f[0] == "option:dns-server" || f[0] == "6")) c.dns = f[1];
    return f.size() >= 2;
  }
  if (key == "host-record") {  // host-record=NAME[,NAME…],ADDRESS
    if (f.size() < 2 || !parse_ipv4(f.back())) return false;
    for (std::size_t i = 0; i + 1 < f.size(); ++i) c.records[f[i]] = f.back();
    return true;
  }
  return kAccepted.contains(key);
}

}  // namespace

DnsmasqConfig parse_dnsmasq(const std::vector<std::pair<std::string, std::string>>& files) {
  DnsmasqConfig c;
  for (const auto& [path, content] : files) {
    std::size_t number = 0, at = 0;
    while (at <= content.size()) {
      const auto end = std::min(content.find('\n', at), content.size());
      const std::string line = text::trim(std::string_view(content).substr(at, end - at));
      at = end + 1;
      ++number;
      if (line.empty() || line[0] == '#') continue;
      const auto eq = line.find('=');
      const std::string key = text::trim(line.substr(0, eq));
      const std::string value = eq == std::string::npos ? "" : text::trim(line.substr(eq + 1));
      if (!read_option(key, value, c))
        throw std::invalid_argument("bad option at line " + std::to_string(number) + " of " + path);
    }
  }
  return c;
}

DnsmasqConfig read_dnsmasq(const std::function<std::optional<std::string>(const std::string&)>& read) {
  return parse_dnsmasq({{kDnsmasqConf, read(kDnsmasqConf).value_or("")}, {kDnsmasqDrctlConf, read(kDnsmasqDrctlConf).value_or("")}});
}

DhcpScope dnsmasq_scope(const DnsmasqConfig& c, const std::string& vlan, const std::string& own_address) {
  DhcpScope s;
  s.vlan = vlan;
  s.deny_unknown = true;
  for (const auto& r : c.ranges)
    if (!r.only_static) {
      s.range_start = r.start;
      s.range_end = r.end;
      s.deny_unknown = false;
    }
  s.reserved = c.hosts;
  s.filename = c.boot_file;
  s.next_server = c.boot_file.empty() ? "" : c.boot_server.empty() ? own_address : c.boot_server;
  s.router = c.router;
  s.dns = c.dns.empty() ? own_address : c.dns;
  return s;
}

}  // namespace drctl::sim
