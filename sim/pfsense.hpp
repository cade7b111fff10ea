// pfSense as the simulator reads it: its configuration file, /cf/conf/config.xml (the XML that
// Diagnostics → Backup & Restore exports and imports), turned into interfaces, DHCP scopes,
// firewall rules, port forwards and DNS host overrides, and the filter's verdict on a new
// connection. The simulator is IPv4 only: IPv6 settings are read past, and IPv6-only rules
// never match.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "sim/dhcp.hpp"

namespace drctl::sim {

/// One assigned interface (<interfaces><lan>…).
struct PfInterface {
  std::string name;    // "wan", "lan", "opt1" …
  std::string descr;   // "MANAGEMENT" …; empty when none
  std::string device;  // "vmx0", "vmx1" … (NIC order of the VM: vmx0 is its first NIC)
  std::string ipaddr;  // address, "dhcp", or empty
  int subnet = 0;      // prefix length
  bool enabled = true;
  bool block_private = false;  // <blockpriv/>: drop inbound traffic from RFC 1918 sources
  bool block_bogons = false;   // <blockbogons/>: drop inbound traffic from reserved sources
};

/// The source or destination of a rule. After parsing, aliases are replaced by their entries,
/// so `address` and `port` may hold several space-separated entries (any of them matches).
struct PfEndpoint {
  bool any = false;
  std::string network;  // "lan", "opt1", "wanip", "lanip", "(self)" … (interface net / interface address)
  std::string address;  // an IP or CIDR (or alias name — aliases from <aliases> resolved to their addresses)
  std::string port;     // "", "22", "67-69" or "67:69" (range: pfSense writes '-' in rules, ':' in aliases)
  bool negate = false;  // <not/>
};

/// One rule of <filter>.
struct PfRule {
  std::string type = "pass";        // pass, block, reject
  std::string interface;            // pfSense interface name
  std::string ipprotocol = "inet";  // inet, inet6, inet46
  std::string protocol;             // "", "tcp", "udp", "tcp/udp", "icmp"
  PfEndpoint source, destination;
  std::string descr;
  bool disabled = false;
  int line = 0;  // where the rule is in config.xml
};

/// One port forward of <nat> (aliases in target and local_port resolved like PfEndpoint's).
struct PfPortForward {
  std::string interface, protocol, external_port, target, local_port, descr;
  bool disabled = false;
};

/// One host override of the DNS resolver (<unbound><hosts>).
struct PfHostOverride {
  std::string host, domain, ip;
};

struct PfConfig {
  std::string hostname, domain;
  std::vector<PfInterface> interfaces;
  std::vector<DhcpScope> dhcp;  // enabled scopes only; router/dns default to the interface address
  std::map<std::string, std::string> dhcp_hostnames;  // MAC (lower case) -> hostname of its static mapping
  std::vector<PfRule> rules;                          // in file order
  std::vector<PfPortForward> port_forwards;
  std::vector<PfHostOverride> dns_hosts;  // empty when the DNS resolver is disabled
  bool anti_lockout = true;               // false with <system><webgui><noantilockout/>
  std::string version;                    // <version>, the config format's (pfSense 2.7's factory default: 22.9)
  /// What pfSense says about the file and goes on (its console warnings and file_notice()s): a config
  /// written by a newer pfSense, a DHCP pool outside its interface's subnet (the pool is left out).
  std::vector<std::string> notices;

  /// The interface called `name`, or nullptr.
  const PfInterface* interface(const std::string& name) const;
};

/// config.xml that pfSense's XML reader (xmlparse.inc parse_xml_config) cannot read — not XML, or no
/// <pfsense> root: pfSense falls back to its newest readable backup (config.lib.inc parse_config).
struct PfConfigXmlError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Parses config.xml as pfSense 2.7 loads it (not as its web forms validate): elements it does not
/// know are read past; a static mapping inside the DHCP range is served (services_dhcpdv4_configure
/// writes a host with a fixed-address, whatever the range); a DHCP pool outside its interface's subnet
/// is left out with a notice; a config from a newer pfSense gives a notice and loads. Not XML, or no
/// <pfsense> root → PfConfigXmlError; an element that may occur once occurring twice ("XML error: X at
/// line N cannot occur more than once", xmlparse.inc startElement) or a value that cannot be what
/// pfSense stores (bad IP, subnet out of range, a rule on an unknown interface, a static mapping with a
/// bad MAC) → std::runtime_error("config.xml:LINE: …"). Parts the simulator does not model and would
/// get wrong are refused the same way rather than skipped: floating rules, static mappings without an
/// IP, FQDN or URL aliases.
PfConfig parse_pfsense_config(const std::string& xml);

/// The configuration a freshly installed pfSense boots with (what the installer writes): wan = vmx0 by DHCP
/// (private and bogon networks blocked), lan = vmx1 192.168.1.1/24 with DHCP 192.168.1.100–199, the default "allow LAN to any" rules (IPv4 and IPv6),
/// nothing else.
std::string factory_default_config();

/// What the filter does with a new connection.
struct PfVerdict {
  std::string action;  // "pass", "block", "reject"
  std::string reason;  // "rule 'Allow cluster to PXE' on interface opt1", "default deny on interface wan", …
};

/// pfSense's filter for a new IPv4 connection arriving on `in_interface` (rules apply on the interface the traffic
/// enters). In order: a disabled interface drops everything; "block private networks" / "block bogon networks" on
/// interfaces that set them; the anti-lockout rule (TCP 22/80/443 to the LAN address, or WAN's when there is no
/// LAN, unless disabled); then the first matching enabled rule; no match → the implicit default deny. `protocol` is
/// "tcp", "udp" or "icmp"; `port` is the destination port (ignored for icmp). The source port is not known, so a
/// rule that names one never matches. Throws std::invalid_argument for an unknown interface or a bad address.
PfVerdict evaluate(const PfConfig& config, const std::string& in_interface, const std::string& protocol,
                   const std::string& src_ip, const std::string& dst_ip, int port);

}  // namespace drctl::sim
