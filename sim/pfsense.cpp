#include "sim/pfsense.hpp"

#include <algorithm>
#include <cctype>
#include <optional>
#include <pugixml.hpp>
#include <set>
#include <sstream>
#include <cstdlib>
#include <stdexcept>

#include "base/text.hpp"
#include "sim/ipv4_text.hpp"

namespace drctl::sim {

namespace {

using text::lower;

/// The config.xml format version pfSense 2.7 writes (its factory default's <version>).
constexpr double kConfigVersion = 22.9;

// ---- IPv4 networks and ports ---------------------------------------------------------------

struct Net {
  std::uint32_t base = 0, mask = 0;
  bool contains(std::uint32_t ip) const { return (ip & mask) == base; }
};

std::uint32_t prefix_mask(int prefix) { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 5 && std::all_of(s.begin(), s.end(), ::isdigit);
}

/// "10.0.0.0/16" or "10.0.10.5" (a /32); throws std::invalid_argument.
Net parse_net(const std::string& text) {
  const auto slash = text.find('/');
  const std::uint32_t ip = ipv4_or_throw(text.substr(0, slash));
  int prefix = 32;
  if (slash != std::string::npos) {
    const std::string p = text.substr(slash + 1);
    if (!all_digits(p) || std::stoi(p) > 32) throw std::invalid_argument("'" + text + "' is not an IPv4 network");
    prefix = std::stoi(p);
  }
  return {ip & prefix_mask(prefix), prefix_mask(prefix)};
}

/// "22", "67-69" (as pfSense writes ranges in rules) or "67:69" (in aliases); throws std::invalid_argument.
std::pair<int, int> parse_port_range(const std::string& text) {
  const auto sep = text.find_first_of("-:");
  const std::string lo = text.substr(0, sep), hi = sep == std::string::npos ? lo : text.substr(sep + 1);
  if (!all_digits(lo) || !all_digits(hi) || std::stoi(lo) < 1 || std::stoi(hi) > 65535 || std::stoi(lo) > std::stoi(hi))
    throw std::invalid_argument("'" + text + "' is not a port or port range (1-65535)");
  return {std::stoi(lo), std::stoi(hi)};
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " ") + p;
  return out;
}

bool is_mac(const std::string& s) {
  if (s.size() != 17) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (i % 3 == 2 ? s[i] != ':' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

bool is_dynamic_address(const std::string& ipaddr) {
  static const std::set<std::string> kinds = {"dhcp", "pppoe", "pptp", "l2tp", "ppp"};
  return kinds.contains(ipaddr);
}

/// The interface's address and network, when it has a static IPv4 address.
std::optional<std::uint32_t> static_address(const PfInterface& i) {
  if (i.ipaddr.empty() || is_dynamic_address(i.ipaddr)) return std::nullopt;
  return ipv4_or_throw(i.ipaddr);
}

Net interface_net(const PfInterface& i) {
  const std::uint32_t ip = *static_address(i);
  return {ip & prefix_mask(i.subnet), prefix_mask(i.subnet)};
}

std::string text(pugi::xml_node node, const char* child) { return node.child(child).text().as_string(); }

// The element to blame for a bad value: the child holding it, or its parent when the child is missing.
pugi::xml_node blame(pugi::xml_node parent, const char* child) {
  return parent.child(child) ? parent.child(child) : parent;
}

// ---- config.xml ------------------------------------------------------------------------------

struct Alias {
  std::string type;  // host, network, port, url, …
  std::vector<std::string> entries;
  pugi::xml_node node;
};

/// Reads one config.xml; every error names the line of the element at fault.
class Parser {
 public:
  explicit Parser(const std::string& xml) : xml_(xml) {}

  PfConfig parse() {
    const pugi::xml_parse_result loaded = doc_.load_string(xml_.c_str(), pugi::parse_default | pugi::parse_trim_pcdata);
    if (!loaded)
      throw PfConfigXmlError("config.xml:" + std::to_string(line_at(loaded.offset)) +
                             ": malformed XML: " + loaded.description());
    const pugi::xml_node root = doc_.document_element();
    if (std::string(root.name()) != "pfsense")
      throw PfConfigXmlError("config.xml:" + std::to_string(line_of(root)) + ": the root element is <" +
                             std::string(root.name()) + ">, not <pfsense> (\"XML error: no pfsense object found!\")");
    check_once(root);
    config_.version = text(root, "version");
    // pfSense 2.7's own config format is its factory default's; a newer one is loaded with a warning
    // (config.lib.inc parse_config_bootup: "The current configuration has been created with a newer
    // version of pfSense than this one! …").
    if (!config_.version.empty() && std::strtod(config_.version.c_str(), nullptr) > kConfigVersion)
      config_.notices.push_back("config.xml version " + config_.version +
                                " has been created with a newer version of pfSense than this one (" +
                                std::to_string(kConfigVersion).substr(0, 4) + "): it loads, with a warning on the console");
    const pugi::xml_node system = root.child("system");
    config_.hostname = text(system, "hostname");
    config_.domain = text(system, "domain");
    config_.anti_lockout = !system.child("webgui").child("noantilockout");
    read_interfaces(root.child("interfaces"));
    read_aliases(root.child("aliases"));
    read_dhcp(root.child("dhcpd"));
    for (pugi::xml_node r : root.child("filter").children("rule")) config_.rules.push_back(read_rule(r));
    for (pugi::xml_node r : root.child("nat").children("rule")) config_.port_forwards.push_back(read_port_forward(r));
    read_unbound(root.child("unbound"));
    return std::move(config_);
  }

 private:
  int line_at(std::ptrdiff_t offset) const {
    const auto end = xml_.begin() + std::clamp<std::ptrdiff_t>(offset, 0, static_cast<std::ptrdiff_t>(xml_.size()));
    return static_cast<int>(1 + std::count(xml_.begin(), end, '\n'));
  }
  int line_of(pugi::xml_node at) const { return line_at(at.offset_debug()); }
  [[noreturn]] void fail_at(std::ptrdiff_t offset, const std::string& what) const {
    throw std::runtime_error("config.xml:" + std::to_string(line_at(offset)) + ": " + what);
  }
  [[noreturn]] void fail(pugi::xml_node at, const std::string& what) const {
    throw std::runtime_error("config.xml:" + std::to_string(line_of(at)) + ": " + what);
  }
  std::uint32_t ipv4(pugi::xml_node at, const std::string& what, const std::string& value) const {
    try {
      return ipv4_or_throw(value);
    } catch (const std::invalid_argument& e) {
      fail(at, what + ": " + e.what());
    }
  }

  /// pfSense reads config.xml into nested arrays: an element not in its list tags (xmlparse.inc
  /// listtags(): rule, alias, staticmap, item …) may occur once under its parent.
  void check_once(pugi::xml_node node) const {
    static const std::set<std::string> list_tags = {
        "acls", "alias", "aliasurl", "allowedip", "allowedhostname", "authserver", "bridged", "build_port_path", "ca",
        "cacert", "cert", "crl", "clone", "config", "container", "columnitem", "checkipservice", "depends_on_package",
        "disk", "dnsserver", "dnsupdate", "domainoverrides", "dyndns", "earlyshellcmd", "element",
        "encryption-algorithm-option", "field", "fieldname", "gateway_item", "gateway_group", "gif", "gre", "group",
        "hash-algorithm-option", "hosts", "ifgroupentry", "igmpentry", "interface_array", "item", "key", "lagg",
        "lbaction", "lbpool", "l7rules", "lbprotocol", "member", "menu", "tab", "mobilekey", "monitor_type", "mount",
        "npt", "ntpserver", "onetoone", "openvpn-server", "openvpn-client", "openvpn-csc", "option", "package",
        "passthrumac", "phase1", "phase2", "ppp", "pppoe", "priv", "proxyarpnet", "pool", "qinqentry", "queue",
        "pages", "pipe", "radnsserver", "roll", "route", "row", "rrddatafile", "rule", "schedule", "service",
        "servernat", "servers", "serversdisabled", "shellcmd", "staticmap", "subqueue", "switch", "swport",
        "timerange", "tunnel", "user", "vip", "virtual_server", "vlan", "vlangroup", "winsserver", "wolentry",
        "widget"};
    std::set<std::string> seen;
    for (pugi::xml_node c : node.children()) {
      if (c.type() != pugi::node_element) continue;
      const std::string name = lower(c.name());
      if (!list_tags.contains(name) && !seen.insert(name).second) {
        std::string upper = name;
        for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        fail(c, "XML error: " + upper + " at line " + std::to_string(line_of(c)) + " cannot occur more than once");
      }
      check_once(c);
    }
  }

  void read_interfaces(pugi::xml_node interfaces) {
    std::map<std::string, std::string> devices;  // device -> interface
    for (pugi::xml_node n : interfaces.children()) {
      PfInterface i;
      i.name = n.name();
      i.descr = text(n, "descr");
      i.device = text(n, "if");
      i.ipaddr = text(n, "ipaddr");
      i.enabled = static_cast<bool>(n.child("enable"));
      i.block_private = static_cast<bool>(n.child("blockpriv"));
      i.block_bogons = static_cast<bool>(n.child("blockbogons"));
      if (i.device.empty()) fail(n, "interface " + i.name + " has no <if> (network device)");
      if (auto [it, fresh] = devices.emplace(i.device, i.name); !fresh)
        fail(blame(n, "if"), "interface " + i.name + ": device " + i.device + " is already assigned to " + it->second);
      if (!i.ipaddr.empty() && !is_dynamic_address(i.ipaddr)) {
        ipv4(blame(n, "ipaddr"), "interface " + i.name, i.ipaddr);
        const std::string subnet = text(n, "subnet");
        if (!all_digits(subnet) || std::stoi(subnet) < 1 || std::stoi(subnet) > 32)
          fail(blame(n, "subnet"), "interface " + i.name + ": subnet '" + subnet + "' is not a prefix length (1-32)");
        i.subnet = std::stoi(subnet);
      }
      config_.interfaces.push_back(i);
    }
  }

  void read_aliases(pugi::xml_node aliases) {
    for (pugi::xml_node a : aliases.children("alias"))
      aliases_[text(a, "name")] = Alias{text(a, "type"), words(text(a, "address")), a};
  }

  // An address alias's IPv4 entries, nested aliases expanded; IPv6 entries are left out.
  void expand_addresses(const std::string& name, pugi::xml_node at, std::vector<std::string>& out, int depth) const {
    const Alias& alias = aliases_.at(name);
    if (alias.type != "host" && alias.type != "network")
      fail(at, "alias '" + name + "' is a " + alias.type + " alias, not a host or network alias");
    if (depth > 16) fail(alias.node, "alias '" + name + "' nests more than 16 aliases deep (does it contain itself?)");
    for (const std::string& e : alias.entries) {
      if (aliases_.contains(e)) {
        expand_addresses(e, alias.node, out, depth + 1);
      } else if (e.find(':') == std::string::npos) {
        try {
          parse_net(e);
        } catch (const std::invalid_argument&) {
          fail(alias.node, "alias '" + name + "': '" + e +
                               "' is not an IPv4 address or network (the simulator does not resolve host names)");
        }
        out.push_back(e);
      }
    }
  }

  std::string resolve_address(const std::string& value, pugi::xml_node at) const {
    if (aliases_.contains(value)) {
      std::vector<std::string> out;
      expand_addresses(value, at, out, 0);
      return join(out);
    }
    try {
      parse_net(value);
    } catch (const std::invalid_argument&) {
      fail(at, "'" + value + "' is neither an IPv4 address or network nor an alias");
    }
    return value;
  }

  std::string resolve_port(const std::string& value, pugi::xml_node at) const {
    const auto alias = aliases_.find(value);
    if (alias != aliases_.end() && alias->second.type != "port")
      fail(at, "alias '" + value + "' is a " + alias->second.type + " alias, not a port alias");
    pugi::xml_node where = alias == aliases_.end() ? at : alias->second.node;
    const std::vector<std::string> entries =
        alias == aliases_.end() ? std::vector<std::string>{value} : alias->second.entries;
    for (const std::string& e : entries) {
      try {
        parse_port_range(e);
      } catch (const std::invalid_argument& err) {
        fail(where, err.what());
      }
    }
    return join(entries);
  }

  bool known_network(const std::string& network) const {
    if (network == "(self)" || config_.interface(network)) return true;
    return network.size() > 2 && network.ends_with("ip") && config_.interface(network.substr(0, network.size() - 2));
  }

  PfEndpoint read_endpoint(pugi::xml_node parent, const char* which, const std::string& ipprotocol) const {
    const pugi::xml_node n = parent.child(which);
    if (!n) fail(parent, std::string("the rule has no <") + which + ">");
    PfEndpoint e;
    e.any = static_cast<bool>(n.child("any"));
    e.negate = static_cast<bool>(n.child("not"));
    e.network = text(n, "network");
    e.address = text(n, "address");
    if (!e.any && e.network.empty() && e.address.empty())
      fail(n, std::string("<") + which + "> has none of <any/>, <network> and <address>");
    if (!e.network.empty() && !known_network(e.network))
      fail(blame(n, "network"), "network '" + e.network + "' is not an interface net, an interface address or (self)");
    // IPv6 rules keep their addresses as written: the simulator never applies them.
    if (!e.address.empty() && ipprotocol != "inet6") e.address = resolve_address(e.address, n.child("address"));
    if (n.child("port")) e.port = resolve_port(text(n, "port"), n.child("port"));
    return e;
  }

  PfRule read_rule(pugi::xml_node r) const {
    PfRule rule;
    rule.line = line_of(r);
    rule.descr = text(r, "descr");
    const std::string what = rule.descr.empty() ? "rule" : "rule '" + rule.descr + "'";
    if (r.child("floating")) fail(r, what + " is a floating rule, which the simulator does not model");
    if (r.child("type")) rule.type = text(r, "type");
    if (rule.type != "pass" && rule.type != "block" && rule.type != "reject")
      fail(blame(r, "type"), what + ": type '" + rule.type + "' is not pass, block or reject");
    rule.interface = text(r, "interface");
    if (!config_.interface(rule.interface))
      fail(blame(r, "interface"), what + " is on interface '" + rule.interface + "', which config.xml does not define");
    if (r.child("ipprotocol")) rule.ipprotocol = text(r, "ipprotocol");
    if (rule.ipprotocol != "inet" && rule.ipprotocol != "inet6" && rule.ipprotocol != "inet46")
      fail(blame(r, "ipprotocol"), what + ": ipprotocol '" + rule.ipprotocol + "' is not inet, inet6 or inet46");
    rule.protocol = text(r, "protocol");
    rule.disabled = static_cast<bool>(r.child("disabled"));
    rule.source = read_endpoint(r, "source", rule.ipprotocol);
    rule.destination = read_endpoint(r, "destination", rule.ipprotocol);
    const bool ports = !rule.source.port.empty() || !rule.destination.port.empty();
    if (ports && rule.protocol != "tcp" && rule.protocol != "udp" && rule.protocol != "tcp/udp")
      fail(r, what + " names a port, which needs protocol tcp, udp or tcp/udp (not '" + rule.protocol + "')");
    return rule;
  }

  PfPortForward read_port_forward(pugi::xml_node r) const {
    PfPortForward f;
    f.descr = text(r, "descr");
    const std::string what = f.descr.empty() ? "port forward" : "port forward '" + f.descr + "'";
    f.interface = text(r, "interface");
    if (!config_.interface(f.interface))
      fail(blame(r, "interface"), what + " is on interface '" + f.interface + "', which config.xml does not define");
    f.protocol = text(r, "protocol");
    f.disabled = static_cast<bool>(r.child("disabled"));
    const pugi::xml_node port = r.child("destination").child("port");
    if (!port) fail(r, what + " has no <destination><port>");
    f.external_port = resolve_port(port.text().as_string(), port);
    if (!r.child("target")) fail(r, what + " has no <target>");
    f.target = resolve_address(text(r, "target"), r.child("target"));
    f.local_port = r.child("local-port") ? resolve_port(text(r, "local-port"), r.child("local-port")) : f.external_port;
    return f;
  }

  void read_dhcp(pugi::xml_node dhcpd) {
    for (pugi::xml_node n : dhcpd.children()) {
      const PfInterface* i = config_.interface(n.name());
      if (!i)
        fail(n, "DHCP server settings for interface '" + std::string(n.name()) + "', which config.xml does not define");
      if (!n.child("enable") || !i->enabled) continue;  // pfSense starts no server there
      if (!static_address(*i))
        fail(n, "the DHCP server is enabled on " + i->name + ", which has no static IPv4 address");
      config_.dhcp.push_back(read_scope(n, *i));
    }
  }

  DhcpScope read_scope(pugi::xml_node n, const PfInterface& i) {
    const Net net = interface_net(i);
    const std::string subnet = format_ipv4(net.base) + "/" + std::to_string(i.subnet);
    DhcpScope s;
    s.vlan = i.name;
    const pugi::xml_node range = n.child("range");
    s.range_start = text(range, "from");
    s.range_end = text(range, "to");
    bool pool = !s.range_start.empty() || !s.range_end.empty();
    std::uint32_t from = 0, to = 0;
    if (pool) {
      from = ipv4(blame(range, "from"), "DHCP range on " + i.name, s.range_start);
      to = ipv4(blame(range, "to"), "DHCP range on " + i.name, s.range_end);
      if (!net.contains(from) || !net.contains(to)) {
        // services_dhcpdv4_configure() leaves such a pool out of dhcpd.conf with a file_notice; the
        // server still serves the interface's static mappings.
        config_.notices.push_back("Invalid DHCP pool " + s.range_start + " - " + s.range_end + " for " + i.name +
                                  " subnet " + subnet + " detected. Please correct the settings in Services, DHCP Server");
        s.range_start.clear();
        s.range_end.clear();
        pool = false;
      } else if (from > to)
        fail(range, "DHCP range " + s.range_start + "-" + s.range_end + " on " + i.name + " ends before it starts");
    }
    for (pugi::xml_node m : n.children("staticmap")) {
      const std::string mac = lower(text(m, "mac")), ip = text(m, "ipaddr");
      if (mac.empty())
        fail(m, "static mapping on " + i.name + " has no MAC address (client-id mappings are not modelled)");
      if (!is_mac(mac)) fail(blame(m, "mac"), "static mapping on " + i.name + ": '" + mac + "' is not a MAC address");
      if (ip.empty())
        fail(m, "static mapping for " + mac + " on " + i.name +
                    " has no IP address (the simulator only models reservations)");
      const std::uint32_t a = ipv4(blame(m, "ipaddr"), "static mapping for " + mac, ip);
      if (!net.contains(a))
        fail(blame(m, "ipaddr"),
             "static mapping for " + mac + ": " + ip + " is outside " + i.name + "'s subnet " + subnet);
      if (!s.reserved.emplace(mac, ip).second)
        fail(m, "static mapping on " + i.name + ": MAC " + mac + " is mapped twice");
      if (!text(m, "hostname").empty()) config_.dhcp_hostnames[mac] = text(m, "hostname");
    }
    // services_dhcpdv4_configure(): "class" allows the members of this interface's static mappings
    // only; "disabled" adds nothing; anything else — "enabled", or the empty <denyunknown/> of
    // configs from before the choice existed — is `deny unknown-clients`: a client with a static
    // mapping on any interface is known.
    const std::string deny = text(n, "denyunknown");
    s.deny_unknown = n.child("denyunknown") && deny != "disabled";
    s.known_here_only = deny == "class";
    if (n.child("netboot")) {  // without <netboot/> pfSense hands out neither option
      s.next_server = text(n, "nextserver");
      if (!s.next_server.empty()) ipv4(blame(n, "nextserver"), "DHCP next-server on " + i.name, s.next_server);
      s.filename = text(n, "filename");
    }
    const std::string gateway = text(n, "gateway");
    s.router = gateway.empty() ? i.ipaddr : gateway == "none" ? "" : gateway;
    if (!s.router.empty()) ipv4(blame(n, "gateway"), "DHCP gateway on " + i.name, s.router);
    s.dns = text(n, "dnsserver").empty() ? i.ipaddr : text(n, "dnsserver");
    ipv4(blame(n, "dnsserver"), "DHCP DNS server on " + i.name, s.dns);
    return s;
  }

  void read_unbound(pugi::xml_node unbound) {
    if (!unbound.child("enable")) return;  // the resolver is off: no overrides are answered
    for (pugi::xml_node h : unbound.children("hosts")) {
      PfHostOverride o{text(h, "host"), text(h, "domain"), text(h, "ip")};
      ipv4(blame(h, "ip"), "DNS host override " + o.host + "." + o.domain, o.ip);
      config_.dns_hosts.push_back(o);
    }
  }

  const std::string& xml_;
  pugi::xml_document doc_;
  PfConfig config_;
  std::map<std::string, Alias> aliases_;
};

// ---- the filter ------------------------------------------------------------------------------

bool address_matches(const std::string& entries, std::uint32_t ip) {
  const auto list = words(entries);
  return std::any_of(list.begin(), list.end(), [&](const std::string& e) { return parse_net(e).contains(ip); });
}

bool network_matches(const PfConfig& config, const std::string& network, std::uint32_t ip) {
  if (network == "(self)")
    return std::any_of(config.interfaces.begin(), config.interfaces.end(),
                       [&](const PfInterface& i) { return static_address(i) == ip; });
  if (const PfInterface* i = config.interface(network)) return static_address(*i) && interface_net(*i).contains(ip);
  const PfInterface* i = config.interface(network.substr(0, network.size() - 2));  // "lanip" → lan's address
  return static_address(*i) == ip;
}

bool endpoint_matches(const PfConfig& config, const PfEndpoint& e, std::uint32_t ip) {
  const bool hit = e.any || (!e.network.empty() && network_matches(config, e.network, ip)) ||
                   (!e.address.empty() && address_matches(e.address, ip));
  return hit != e.negate;
}

bool port_matches(const std::string& entries, int port) {
  const auto list = words(entries);
  return std::any_of(list.begin(), list.end(), [&](const std::string& e) {
    const auto [lo, hi] = parse_port_range(e);
    return lo <= port && port <= hi;
  });
}

bool rule_matches(const PfConfig& config, const PfRule& r, const std::string& protocol, std::uint32_t src,
                  std::uint32_t dst, int port) {
  if (r.ipprotocol == "inet6") return false;
  if (!r.protocol.empty() && r.protocol != protocol &&
      !(r.protocol == "tcp/udp" && (protocol == "tcp" || protocol == "udp")))
    return false;
  if (!r.source.port.empty()) return false;  // the source port of a new connection is not known
  if (!r.destination.port.empty() && !port_matches(r.destination.port, port)) return false;
  return endpoint_matches(config, r.source, src) && endpoint_matches(config, r.destination, dst);
}

// Where a list of sources is blocked, the entry that matches, if any.
std::optional<std::string> listed(const std::vector<std::string>& nets, std::uint32_t ip) {
  for (const auto& n : nets)
    if (parse_net(n).contains(ip)) return n;
  return std::nullopt;
}

const std::vector<std::string> kPrivateNets = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"};
// IANA's special-purpose IPv4 ranges, standing in for pfSense's downloaded bogons table.
const std::vector<std::string> kBogonNets = {"0.0.0.0/8",    "127.0.0.0/8",   "169.254.0.0/16",  "192.0.0.0/24",
                                             "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
                                             "224.0.0.0/4",  "240.0.0.0/4"};

}  // namespace

const PfInterface* PfConfig::interface(const std::string& name) const {
  for (const auto& i : interfaces)
    if (i.name == name) return &i;
  return nullptr;
}

PfConfig parse_pfsense_config(const std::string& xml) { return Parser(xml).parse(); }

PfVerdict evaluate(const PfConfig& config, const std::string& in_interface, const std::string& protocol,
                   const std::string& src_ip, const std::string& dst_ip, int port) {
  const PfInterface* in = config.interface(in_interface);
  if (!in) throw std::invalid_argument("pfSense has no interface '" + in_interface + "'");
  const std::uint32_t src = ipv4_or_throw(src_ip), dst = ipv4_or_throw(dst_ip);
  const std::string on = " on interface " + in_interface;
  if (!in->enabled) return {"block", "interface " + in_interface + " is disabled"};
  if (auto net = in->block_private ? listed(kPrivateNets, src) : std::nullopt)
    return {"block", "block private networks" + on + " (source " + src_ip + " is in " + *net + ")"};
  if (auto net = in->block_bogons ? listed(kBogonNets, src) : std::nullopt)
    return {"block", "block bogon networks" + on + " (source " + src_ip + " is in " + *net + ")"};
  const std::string lockout_if = config.interface("lan") ? "lan" : "wan";
  if (config.anti_lockout && in_interface == lockout_if && protocol == "tcp" && static_address(*in) == dst &&
      (port == 22 || port == 80 || port == 443))
    return {"pass", "anti-lockout rule" + on};
  for (const PfRule& r : config.rules) {
    if (r.disabled || r.interface != in_interface || !rule_matches(config, r, protocol, src, dst, port)) continue;
    const std::string name =
        r.descr.empty() ? "rule at config.xml:" + std::to_string(r.line) : "rule '" + r.descr + "'";
    return {r.type, name + on};
  }
  return {"block", "default deny" + on};
}

std::string factory_default_config() {
  return R"(<?xml version="1.0"?>
<pfsense>
	<version>22.9</version>
	<lastchange/>
	<system>
		<optimization>normal</optimization>
		<hostname>pfSense</hostname>
		<domain>home.arpa</domain>
		<dnsallowoverride/>
		<timeservers>2.pfsense.pool.ntp.org</timeservers>
		<webgui>
			<protocol>https</protocol>
			<loginautocomplete/>
		</webgui>
		<disablenatreflection>yes</disablenatreflection>
		<ipv6allow/>
		<bogons>
			<interval>monthly</interval>
		</bogons>
	</system>
	<interfaces>
		<wan>
			<enable/>
			<if>vmx0</if>
			<mtu/>
			<ipaddr>dhcp</ipaddr>
			<ipaddrv6>dhcp6</ipaddrv6>
			<subnet/>
			<gateway/>
			<blockpriv/>
			<blockbogons/>
			<dhcphostname/>
			<media/>
			<mediaopt/>
			<dhcp6-duid/>
			<dhcp6-ia-pd-len>0</dhcp6-ia-pd-len>
		</wan>
		<lan>
			<enable/>
			<if>vmx1</if>
			<ipaddr>192.168.1.1</ipaddr>
			<subnet>24</subnet>
			<ipaddrv6>track6</ipaddrv6>
			<subnetv6>64</subnetv6>
			<media/>
			<mediaopt/>
			<track6-interface>wan</track6-interface>
			<track6-prefix-id>0</track6-prefix-id>
		</lan>
	</interfaces>
	<staticroutes/>
	<dhcpd>
		<lan>
			<enable/>
			<range>
				<from>192.168.1.100</from>
				<to>192.168.1.199</to>
			</range>
		</lan>
	</dhcpd>
	<nat>
		<outbound>
			<mode>automatic</mode>
		</outbound>
	</nat>
	<filter>
		<rule>
			<type>pass</type>
			<ipprotocol>inet</ipprotocol>
			<descr><![CDATA[Default allow LAN to any rule]]></descr>
			<interface>lan</interface>
			<tracker>0100000101</tracker>
			<source>
				<network>lan</network>
			</source>
			<destination>
				<any/>
			</destination>
		</rule>
		<rule>
			<type>pass</type>
			<ipprotocol>inet6</ipprotocol>
			<descr><![CDATA[Default allow LAN IPv6 to any rule]]></descr>
			<interface>lan</interface>
			<tracker>0100000102</tracker>
			<source>
				<network>lan</network>
			</source>
			<destination>
				<any/>
			</destination>
		</rule>
	</filter>
	<aliases/>
	<unbound>
		<enable/>
		<dnssec/>
		<active_interface/>
		<outgoing_interface/>
		<custom_options/>
		<hideidentity/>
		<hideversion/>
		<dnssecstripped/>
	</unbound>
</pfsense>
)";
}

}  // namespace drctl::sim
