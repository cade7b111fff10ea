#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "sim/pfsense.hpp"
#include "support/sim_lab.hpp"

using namespace drctl::sim;
namespace fs = std::filesystem;

namespace {
std::string homelab_xml() {
  std::ifstream in(fs::path(__FILE__).parent_path().parent_path() / "fixtures/pfsense/homelab.xml");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

const PfConfig& homelab() {
  static const PfConfig config = parse_pfsense_config(homelab_xml());
  return config;
}

const DhcpScope& scope(const PfConfig& c, const std::string& vlan) {
  auto it = std::find_if(c.dhcp.begin(), c.dhcp.end(), [&](const DhcpScope& s) { return s.vlan == vlan; });
  REQUIRE(it != c.dhcp.end());
  return *it;
}

// A config.xml with two static interfaces (lan 10.0.10.1/24 on vmx1, opt1 10.0.20.1/24 on vmx2),
// a dhcp wan on vmx0 and `body` after them.
std::string config_with(const std::string& body, const std::string& wan_extra = "") {
  const std::string wan = "<wan><enable/><if>vmx0</if><ipaddr>dhcp</ipaddr>" + wan_extra + "</wan>\n";
  return "<?xml version=\"1.0\"?>\n<pfsense>\n<interfaces>\n" + wan +
         "<lan><enable/><if>vmx1</if><ipaddr>10.0.10.1</ipaddr><subnet>24</subnet></lan>\n"
         "<opt1><enable/><if>vmx2</if><ipaddr>10.0.20.1</ipaddr><subnet>24</subnet></opt1>\n"
         "</interfaces>\n" + body + "\n</pfsense>\n";
}

std::string rule(const std::string& iface, const std::string& type, const std::string& proto, const std::string& src,
                 const std::string& dst, const std::string& descr, const std::string& extra = "") {
  return "<rule><type>" + type + "</type><interface>" + iface + "</interface>" +
         (proto.empty() ? "" : "<protocol>" + proto + "</protocol>") + "<source>" + src + "</source><destination>" +
         dst + "</destination><descr>" + descr + "</descr>" + extra + "</rule>\n";
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  return text;
}

// The line of `xml` on which `marker` starts.
int line_of(const std::string& xml, const std::string& marker) {
  const auto at = xml.find(marker);
  REQUIRE(at != std::string::npos);
  return static_cast<int>(1 + std::count(xml.begin(), xml.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

// Parsing `xml` fails on the line where `marker` is, with a message containing `cause`.
void check_error(const std::string& xml, const std::string& marker, const std::string& cause) {
  CAPTURE(cause);
  try {
    parse_pfsense_config(xml);
    FAIL("parsed without an error");
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    CHECK(message.starts_with("config.xml:" + std::to_string(line_of(xml, marker)) + ": "));
    CHECK(message.find(cause) != std::string::npos);
  }
}
}  // namespace

TEST_CASE("sim pfsense: the homelab fixture parses to the site it describes") {
  const PfConfig& c = homelab();
  CHECK(c.hostname == "pfsense");
  CHECK(c.domain == "viktorbarzin.lan");
  CHECK(c.anti_lockout);

  REQUIRE(c.interfaces.size() == 3);
  const PfInterface* wan = c.interface("wan");
  REQUIRE(wan);
  CHECK(wan->device == "vmx0");
  CHECK(wan->ipaddr == "dhcp");
  CHECK_FALSE(wan->block_private);
  CHECK(wan->block_bogons);
  const PfInterface* lan = c.interface("lan");
  REQUIRE(lan);
  CHECK(lan->descr == "MANAGEMENT");
  CHECK(lan->device == "vmx1");
  CHECK(lan->ipaddr == "10.0.10.1");
  CHECK(lan->subnet == 24);
  const PfInterface* cluster = c.interface("opt1");
  REQUIRE(cluster);
  CHECK(cluster->descr == "CLUSTER");
  CHECK(cluster->device == "vmx2");
  CHECK(cluster->ipaddr == "10.0.20.1");
  CHECK(cluster->enabled);
  CHECK_FALSE(c.interface("opt2"));

  REQUIRE(c.dhcp.size() == 2);
  const DhcpScope& cl = scope(c, "opt1");
  CHECK(cl.range_start == "10.0.20.100");
  CHECK(cl.range_end == "10.0.20.150");
  CHECK(cl.reserved == std::map<std::string, std::string>{{"00:50:56:aa:00:01", "10.0.20.11"},
                                                          {"00:50:56:aa:00:02", "10.0.20.12"},
                                                          {"00:50:56:aa:00:03", "10.0.20.13"}});
  CHECK_FALSE(cl.deny_unknown);
  CHECK(cl.next_server == "10.0.10.5");
  CHECK(cl.filename == "pxelinux.0");
  CHECK(cl.router == "10.0.20.1");
  CHECK(cl.dns == "10.0.20.1");
  const DhcpScope& mg = scope(c, "lan");
  CHECK(mg.deny_unknown);
  CHECK(mg.reserved ==
        std::map<std::string, std::string>{{"00:50:56:aa:10:05", "10.0.10.5"}, {"00:50:56:aa:10:06", "10.0.10.6"}});
  CHECK(mg.next_server.empty());
  CHECK(mg.router == "10.0.10.1");
  CHECK(c.dhcp_hostnames.at("00:50:56:aa:00:01") == "k8s-master");
  CHECK(c.dhcp_hostnames.at("00:50:56:aa:00:03") == "k8s-node2");
  CHECK(c.dhcp_hostnames.at("00:50:56:aa:10:06") == "truenas");

  REQUIRE(c.rules.size() == 10);
  CHECK(c.rules[0].interface == "wan");
  CHECK(c.rules[0].source.address == "192.168.1.0/24");
  CHECK(c.rules[0].destination.address == "10.0.0.0/16");  // the DATACENTER alias, resolved
  CHECK(c.rules[2].ipprotocol == "inet6");
  const PfRule& nfs = c.rules[5];
  CHECK(nfs.descr == "Allow cluster to PXE (NFS)");
  CHECK(nfs.protocol == "tcp");
  CHECK(nfs.source.network == "opt1");
  CHECK(nfs.destination.port == "111 2049");  // the NFS_PORTS alias
  CHECK(c.rules[7].disabled);
  CHECK(c.rules[8].destination.negate);
  CHECK(c.rules[9].type == "block");
  CHECK(c.rules[9].line == line_of(homelab_xml(), "<type>block</type>") - 1);
  CHECK(c.port_forwards.empty());

  REQUIRE(c.dns_hosts.size() == 2);
  CHECK(c.dns_hosts[0].host == "pxe");
  CHECK(c.dns_hosts[0].domain == "viktorbarzin.lan");
  CHECK(c.dns_hosts[0].ip == "10.0.10.5");
  CHECK(c.dns_hosts[1].host == "truenas");
  CHECK(c.dns_hosts[1].ip == "10.0.10.6");
}

TEST_CASE("sim pfsense: the homelab's DHCP scopes serve PXE on the cluster and only known hosts on management") {
  Engine e(1);
  DhcpServer dhcp(e, homelab().dhcp);
  auto master = dhcp.request("00:50:56:AA:00:01", "opt1");
  REQUIRE(master);
  CHECK(master->ip == "10.0.20.11");
  CHECK(master->next_server == "10.0.10.5");
  CHECK(dhcp.request("00:50:56:aa:00:99", "opt1")->ip == "10.0.20.100");
  CHECK(dhcp.request("00:50:56:aa:10:05", "lan")->ip == "10.0.10.5");
  CHECK_FALSE(dhcp.request("00:50:56:aa:00:99", "lan"));
}

TEST_CASE("sim pfsense: the factory default config parses") {
  const PfConfig c = parse_pfsense_config(factory_default_config());
  REQUIRE(c.interfaces.size() == 2);
  CHECK(c.interface("wan")->device == "vmx0");
  CHECK(c.interface("wan")->ipaddr == "dhcp");
  CHECK(c.interface("wan")->block_private);
  CHECK(c.interface("lan")->device == "vmx1");
  CHECK(c.interface("lan")->ipaddr == "192.168.1.1");
  CHECK(c.interface("lan")->subnet == 24);
  REQUIRE(c.dhcp.size() == 1);
  CHECK(c.dhcp[0].vlan == "lan");
  CHECK(c.dhcp[0].range_start == "192.168.1.100");
  CHECK(c.dhcp[0].range_end == "192.168.1.199");
  CHECK(c.dhcp[0].reserved.empty());
  REQUIRE(c.rules.size() == 2);
  CHECK(c.rules[0].ipprotocol == "inet");
  CHECK(c.rules[1].ipprotocol == "inet6");
  CHECK(c.port_forwards.empty());
  CHECK(c.dns_hosts.empty());

  CHECK(evaluate(c, "lan", "tcp", "192.168.1.100", "1.1.1.1", 443).reason ==
        "rule 'Default allow LAN to any rule' on interface lan");
  CHECK(evaluate(c, "wan", "tcp", "203.0.113.7", "192.168.1.100", 22).action == "block");
  CHECK(evaluate(c, "wan", "tcp", "8.8.8.8", "192.168.1.100", 22).reason == "default deny on interface wan");
}

TEST_CASE("sim pfsense: on the homelab the first matching rule wins") {
  const PfConfig& c = homelab();
  auto tftp = evaluate(c, "opt1", "udp", "10.0.20.11", "10.0.10.5", 69);
  CHECK(tftp.action == "pass");
  CHECK(tftp.reason == "rule 'Allow cluster to PXE (TFTP)' on interface opt1");
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.11", "10.0.10.5", 69).reason ==
        "rule 'Block the rest from the cluster' on interface opt1");
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.12", "10.0.10.5", 111).reason ==
        "rule 'Allow cluster to PXE (NFS)' on interface opt1");
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.12", "10.0.10.5", 2049).action == "pass");
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.12", "10.0.10.5", 2050).action == "block");
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.13", "10.0.10.6", 2049).reason ==
        "rule 'Allow cluster to TrueNAS (NFS)' on interface opt1");
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.13", "10.0.10.6", 111).action == "block");
  CHECK(evaluate(c, "wan", "tcp", "192.168.1.20", "10.0.20.200", 443).reason ==
        "rule 'Allow the operator's LAN into the datacenter' on interface wan");
  CHECK(evaluate(c, "lan", "tcp", "10.0.10.6", "10.0.20.11", 6443).action == "pass");
}

TEST_CASE("sim pfsense: a disabled rule is skipped") {
  const PfConfig& c = homelab();
  auto ssh = evaluate(c, "opt1", "tcp", "10.0.20.11", "10.0.10.6", 22);
  CHECK(ssh.action == "block");
  CHECK(ssh.reason == "rule 'Block the rest from the cluster' on interface opt1");
  PfConfig enabled = c;
  enabled.rules[7].disabled = false;
  CHECK(evaluate(enabled, "opt1", "tcp", "10.0.20.11", "10.0.10.6", 22).reason ==
        "rule 'Allow cluster SSH to management (maintenance only)' on interface opt1");
}

TEST_CASE("sim pfsense: negation and network versus address") {
  const PfConfig& c = homelab();
  // ! DATACENTER: the internet passes, the datacenter does not.
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.11", "1.1.1.1", 443).reason ==
        "rule 'Allow cluster to the internet' on interface opt1");
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.11", "10.0.10.1", 443).action == "block");
  // opt1ip is the firewall's own address on opt1, not the opt1 net.
  CHECK(evaluate(c, "opt1", "udp", "10.0.20.11", "10.0.20.1", 53).reason ==
        "rule 'Allow cluster DNS to the firewall' on interface opt1");
  CHECK(evaluate(c, "opt1", "udp", "10.0.20.11", "10.0.20.2", 53).action == "block");
  CHECK(evaluate(c, "opt1", "udp", "10.0.20.11", "10.0.10.1", 53).action == "block");
  // Source net opt1: a spoofed management address arriving on opt1 matches none of the cluster's pass rules.
  CHECK(evaluate(c, "opt1", "udp", "10.0.10.9", "10.0.10.5", 69).reason ==
        "rule 'Block the rest from the cluster' on interface opt1");
  CHECK(evaluate(c, "opt1", "udp", "10.0.10.9", "8.8.8.8", 53).action == "block");
}

TEST_CASE("sim pfsense: no matching rule is the default deny, naming the interface") {
  const PfConfig& c = homelab();
  auto v = evaluate(c, "wan", "tcp", "8.8.8.8", "10.0.20.200", 443);
  CHECK(v.action == "block");
  CHECK(v.reason == "default deny on interface wan");
  // The IPv6-only LAN rule does not pass IPv4 traffic: with the IPv4 one removed, LAN traffic is denied.
  PfConfig no_v4 = c;
  no_v4.rules.erase(no_v4.rules.begin() + 1);
  CHECK(evaluate(no_v4, "lan", "tcp", "10.0.10.6", "1.1.1.1", 443).reason == "default deny on interface lan");
  CHECK_THROWS_AS(evaluate(c, "opt7", "tcp", "10.0.20.11", "1.1.1.1", 443), std::invalid_argument);
  CHECK_THROWS_AS(evaluate(c, "opt1", "tcp", "10.0.20", "1.1.1.1", 443), std::invalid_argument);
}

TEST_CASE("sim pfsense: port ranges in rules and in port aliases, and reject") {
  const std::string xml = config_with(
      "<aliases><alias><name>WEB</name><type>port</type><address>80 8000:8080</address></alias></aliases>\n<filter>\n" +
      rule("opt1", "reject", "udp", "<network>opt1</network>", "<any/><port>67-69</port>", "Reject BOOTP and TFTP") +
      rule("opt1", "pass", "tcp", "<network>opt1</network>", "<network>lan</network><port>WEB</port>",
           "Web to management") +
      "</filter>");
  const PfConfig c = parse_pfsense_config(xml);
  CHECK(c.rules[0].destination.port == "67-69");
  CHECK(c.rules[1].destination.port == "80 8000:8080");
  for (int port : {67, 68, 69}) CHECK(evaluate(c, "opt1", "udp", "10.0.20.5", "10.0.10.5", port).action == "reject");
  CHECK(evaluate(c, "opt1", "udp", "10.0.20.5", "10.0.10.5", 69).reason ==
        "rule 'Reject BOOTP and TFTP' on interface opt1");
  CHECK(evaluate(c, "opt1", "udp", "10.0.20.5", "10.0.10.5", 70).action == "block");
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.5", "10.0.10.5", 68).action == "block");  // the reject rule is UDP only
  for (int port : {80, 8000, 8042, 8080})
    CHECK(evaluate(c, "opt1", "tcp", "10.0.20.5", "10.0.10.5", port).action == "pass");
  for (int port : {81, 7999, 8081}) CHECK(evaluate(c, "opt1", "tcp", "10.0.20.5", "10.0.10.5", port).action == "block");
}

TEST_CASE("sim pfsense: the anti-lockout rule keeps the LAN address reachable unless it is turned off") {
  const std::string rules =
      "<filter>\n" + rule("lan", "block", "", "<any/>", "<any/>", "Block everything on LAN") + "</filter>";
  const PfConfig c = parse_pfsense_config(config_with(rules));
  for (int port : {22, 80, 443})
    CHECK(evaluate(c, "lan", "tcp", "10.0.10.50", "10.0.10.1", port).reason == "anti-lockout rule on interface lan");
  CHECK(evaluate(c, "lan", "tcp", "10.0.10.50", "10.0.10.1", 8443).reason ==
        "rule 'Block everything on LAN' on interface lan");
  CHECK(evaluate(c, "lan", "udp", "10.0.10.50", "10.0.10.1", 443).action == "block");
  CHECK(evaluate(c, "lan", "tcp", "10.0.10.50", "10.0.10.5", 22).action == "block");  // another host's SSH
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.50", "10.0.20.1", 443).reason == "default deny on interface opt1");

  const PfConfig off =
      parse_pfsense_config(config_with("<system><webgui><noantilockout/></webgui></system>\n" + rules));
  CHECK_FALSE(off.anti_lockout);
  CHECK(evaluate(off, "lan", "tcp", "10.0.10.50", "10.0.10.1", 443).reason ==
        "rule 'Block everything on LAN' on interface lan");
}

TEST_CASE("sim pfsense: block private and bogon networks on WAN come before the rules") {
  const std::string rules = "<filter>\n" + rule("wan", "pass", "", "<any/>", "<any/>", "Open WAN") + "</filter>";
  const PfConfig open = parse_pfsense_config(config_with(rules));
  CHECK(evaluate(open, "wan", "tcp", "192.168.1.20", "10.0.20.5", 443).action == "pass");
  const PfConfig guarded = parse_pfsense_config(config_with(rules, "<blockpriv/><blockbogons/>"));
  CHECK(evaluate(guarded, "wan", "tcp", "192.168.1.20", "10.0.20.5", 443).reason ==
        "block private networks on interface wan (source 192.168.1.20 is in 192.168.0.0/16)");
  CHECK(evaluate(guarded, "wan", "tcp", "172.31.0.1", "10.0.20.5", 443).action == "block");
  CHECK(evaluate(guarded, "wan", "tcp", "172.32.0.1", "10.0.20.5", 443).action == "pass");
  CHECK(evaluate(guarded, "wan", "tcp", "0.1.2.3", "10.0.20.5", 443).reason ==
        "block bogon networks on interface wan (source 0.1.2.3 is in 0.0.0.0/8)");
  CHECK(evaluate(guarded, "wan", "tcp", "8.8.8.8", "10.0.20.5", 443).reason == "rule 'Open WAN' on interface wan");
}

TEST_CASE("sim pfsense: a disabled interface and a disabled DHCP server do nothing") {
  std::string xml = config_with(
      "<dhcpd><opt1><range><from>10.0.20.100</from><to>10.0.20.110</to></range></opt1></dhcpd>\n<filter>\n" +
      rule("opt1", "pass", "", "<any/>", "<any/>", "Open opt1") + "</filter>");
  CHECK(parse_pfsense_config(xml).dhcp.empty());
  xml.replace(xml.find("<opt1><enable/>"), 15, "<opt1>");
  const PfConfig c = parse_pfsense_config(xml);
  CHECK_FALSE(c.interface("opt1")->enabled);
  CHECK(evaluate(c, "opt1", "tcp", "10.0.20.5", "1.1.1.1", 443).reason == "interface opt1 is disabled");
}

TEST_CASE("sim pfsense: port forwards, DHCP gateway and DNS overrides, and a resolver that is off") {
  const PfConfig c = parse_pfsense_config(config_with(
      "<dhcpd><opt1><enable/><range><from>10.0.20.100</from><to>10.0.20.110</to></range>"
      "<gateway>10.0.20.254</gateway><dnsserver>10.0.10.53</dnsserver><dnsserver>1.1.1.1</dnsserver>"
      "<nextserver>10.0.10.5</nextserver><filename>pxelinux.0</filename></opt1></dhcpd>\n"
      "<nat><outbound><mode>automatic</mode></outbound>\n"
      "<rule><source><any/></source><destination><network>wanip</network><port>443</port></destination>"
      "<protocol>tcp</protocol><target>10.0.20.200</target><local-port>8443</local-port><interface>wan</interface>"
      "<descr>HTTPS to the ingress</descr></rule>\n"
      "<rule><source><any/></source><destination><network>wanip</network><port>80</port></destination>"
      "<protocol>tcp</protocol><target>10.0.20.200</target><interface>wan</interface><disabled/></rule></nat>\n"
      "<unbound><hosts><host>pxe</host><domain>example.lan</domain><ip>10.0.10.5</ip></hosts></unbound>"));
  REQUIRE(c.dhcp.size() == 1);
  CHECK(c.dhcp[0].router == "10.0.20.254");
  CHECK(c.dhcp[0].dns == "10.0.10.53");
  CHECK(c.dhcp[0].next_server.empty());  // no <netboot/>: pfSense sends no PXE options
  CHECK(c.dhcp[0].filename.empty());
  REQUIRE(c.port_forwards.size() == 2);
  CHECK(c.port_forwards[0].interface == "wan");
  CHECK(c.port_forwards[0].protocol == "tcp");
  CHECK(c.port_forwards[0].external_port == "443");
  CHECK(c.port_forwards[0].target == "10.0.20.200");
  CHECK(c.port_forwards[0].local_port == "8443");
  CHECK(c.port_forwards[0].descr == "HTTPS to the ingress");
  CHECK_FALSE(c.port_forwards[0].disabled);
  CHECK(c.port_forwards[1].local_port == "80");
  CHECK(c.port_forwards[1].disabled);
  CHECK(c.dns_hosts.empty());  // <unbound> without <enable/>
}

TEST_CASE("sim pfsense: every malformed config.xml names the line and the cause") {
  check_error("<?xml version=\"1.0\"?>\n<pfsense>\n<system>\n<hostname>fw</hostname>\n</pfsense>\n", "</pfsense>",
              "malformed XML");
  check_error("<?xml version=\"1.0\"?>\n<opnsense>\n</opnsense>\n", "<opnsense>", "not <pfsense>");

  auto iface = [](const std::string& opt2) {
    std::string xml = config_with("");
    return xml.insert(xml.find("</interfaces>"), opt2 + "\n");
  };
  check_error(iface("<opt2><enable/><if>vmx3</if><ipaddr>10.0.30.256</ipaddr><subnet>24</subnet></opt2>"), "<opt2>",
              "interface opt2: '10.0.30.256' is not an IPv4 address");
  check_error(iface("<opt2><enable/><if>vmx3</if><ipaddr>10.0.30.1</ipaddr><subnet>33</subnet></opt2>"), "<opt2>",
              "interface opt2: subnet '33' is not a prefix length (1-32)");
  check_error(iface("<opt2><enable/><if>vmx3</if><ipaddr>10.0.30.1</ipaddr></opt2>"), "<opt2>",
              "interface opt2: subnet '' is not a prefix length");
  check_error(iface("<opt2><enable/><if>vmx2</if><ipaddr>dhcp</ipaddr></opt2>"), "<opt2>",
              "interface opt2: device vmx2 is already assigned to opt1");
  check_error(iface("<opt2><enable/><ipaddr>dhcp</ipaddr></opt2>"), "<opt2>", "interface opt2 has no <if>");

  auto filter = [](const std::string& r) {
    return config_with(
        "<filter>\n<rule><descr>ok</descr><interface>lan</interface><source><any/></source><destination><any/></"
        "destination></rule>\n" +
        r + "</filter>");
  };
  check_error(filter(rule("opt5", "pass", "", "<any/>", "<any/>", "Lost")), "<rule><type>pass</type><interface>opt5",
              "rule 'Lost' is on interface 'opt5', which config.xml does not define");
  check_error(filter(rule("lan", "allow", "", "<any/>", "<any/>", "Typo")), "<rule><type>allow",
              "rule 'Typo': type 'allow' is not pass, block or reject");
  check_error(filter(rule("lan", "pass", "tcp", "<any/>", "<address>10.0.10.300</address>", "Bad")),
              "<rule><type>pass</type><interface>lan</interface><protocol>",
              "'10.0.10.300' is neither an IPv4 address or network nor an alias");
  check_error(filter(rule("lan", "pass", "tcp", "<any/>", "<address>10.0.0.0/40</address>", "Bad mask")),
              "<rule><type>pass</type><interface>lan</interface><protocol>", "'10.0.0.0/40' is neither");
  check_error(filter(rule("lan", "pass", "tcp", "<network>opt9</network>", "<any/>", "Bad net")),
              "<rule><type>pass</type><interface>lan</interface><protocol>", "network 'opt9' is not an interface net");
  check_error(filter(rule("lan", "pass", "tcp", "<any/>", "<any/><port>70000</port>", "Bad port")),
              "<rule><type>pass</type><interface>lan</interface><protocol>", "'70000' is not a port or port range");
  check_error(filter(rule("lan", "pass", "tcp", "<any/>", "<any/><port>69-67</port>", "Backwards")),
              "<rule><type>pass</type><interface>lan</interface><protocol>", "'69-67' is not a port or port range");
  check_error(filter(rule("lan", "pass", "", "<any/>", "<any/><port>22</port>", "No proto")),
              "<rule><type>pass</type><interface>lan</interface><source>",
              "rule 'No proto' names a port, which needs protocol tcp, udp or tcp/udp");
  check_error(filter(rule("lan", "pass", "", "", "<any/>", "Empty source")),
              "<rule><type>pass</type><interface>lan</interface><source>",
              "<source> has none of <any/>, <network> and <address>");
  check_error(filter(rule("lan", "pass", "", "<any/>", "<any/>", "Float", "<floating>yes</floating>")),
              "<rule><type>pass</type><interface>lan</interface><source>", "rule 'Float' is a floating rule");

  const std::string aliased = config_with(
      "<aliases>\n<alias><name>PORTS</name><type>port</type><address>22 "
      "http</address></alias>\n</aliases>\n<filter>\n" +
      rule("lan", "pass", "tcp", "<any/>", "<any/><port>PORTS</port>", "Port alias") + "</filter>");
  check_error(aliased, "<alias><name>PORTS", "'http' is not a port or port range");
  const std::string hosts = config_with(
      "<aliases>\n<alias><name>HOSTS</name><type>host</type><address>10.0.10.5 "
      "pxe.example.lan</address></alias>\n</aliases>\n<filter>\n" +
      rule("lan", "pass", "tcp", "<any/>", "<address>HOSTS</address>", "Host alias") + "</filter>");
  check_error(hosts, "<alias><name>HOSTS", "alias 'HOSTS': 'pxe.example.lan' is not an IPv4 address or network");
  const std::string wrong_kind = config_with(
      "<aliases>\n<alias><name>WEB</name><type>port</type><address>80</address></alias>\n</aliases>\n<filter>\n" +
      rule("lan", "pass", "tcp", "<any/>", "<address>WEB</address>", "Wrong kind") + "</filter>");
  check_error(wrong_kind, "<address>WEB", "alias 'WEB' is a port alias, not a host or network alias");

  auto dhcp = [](const std::string& body) {
    return config_with("<dhcpd>\n<opt1><enable/>\n" + body + "\n</opt1>\n</dhcpd>");
  };
  check_error(dhcp("<range><from>10.0.20.150</from><to>10.0.20.100</to></range>"), "<range>", "ends before it starts");
  check_error(dhcp("<range><from>10.0.20.1OO</from><to>10.0.20.150</to></range>"), "<range>",
              "DHCP range on opt1: '10.0.20.1OO' is not an IPv4 address");
  check_error(dhcp("<staticmap>\n<mac>00:50:56:aa:00:0g</mac><ipaddr>10.0.20.11</ipaddr></staticmap>"), "<mac>",
              "static mapping on opt1: '00:50:56:aa:00:0g' is not a MAC address");
  check_error(dhcp("<staticmap>\n<mac>00:50:56:aa:00</mac><ipaddr>10.0.20.11</ipaddr></staticmap>"), "<mac>",
              "is not a MAC address");
  check_error(dhcp("<staticmap><mac>00:50:56:aa:00:01</mac></staticmap>"), "<staticmap>", "has no IP address");
  check_error(dhcp("<staticmap><cid>node</cid><ipaddr>10.0.20.11</ipaddr></staticmap>"), "<staticmap>",
              "has no MAC address");
  check_error(dhcp("<staticmap><mac>00:50:56:aa:00:01</mac>\n<ipaddr>10.0.10.11</ipaddr></staticmap>"),
              "<ipaddr>10.0.10.11", "10.0.10.11 is outside opt1's subnet 10.0.20.0/24");
  check_error(dhcp("<staticmap><mac>00:50:56:aa:00:01</mac><ipaddr>10.0.20.11</ipaddr></"
                   "staticmap>\n<staticmap><mac>00:50:56:AA:00:01</mac><ipaddr>10.0.20.12</ipaddr></staticmap>"),
              "<staticmap><mac>00:50:56:AA", "MAC 00:50:56:aa:00:01 is mapped twice");
  check_error(dhcp("<netboot/>\n<nextserver>pxe</nextserver>"), "<nextserver>",
              "DHCP next-server on opt1: 'pxe' is not an IPv4 address");
  check_error(config_with("<system>\n<hostname>fw</hostname>\n<hostname>fw2</hostname>\n</system>"), "<hostname>fw2",
              "XML error: HOSTNAME at line 10 cannot occur more than once");
  check_error(config_with("<dhcpd>\n<opt3><enable/></opt3>\n</dhcpd>"), "<opt3>",
              "DHCP server settings for interface 'opt3', which config.xml does not define");
  check_error(config_with("<dhcpd>\n<wan><enable/></wan>\n</dhcpd>"), "<wan><enable/></wan>",
              "the DHCP server is enabled on wan, which has no static IPv4 address");

  check_error(config_with("<nat>\n<rule><interface>opt4</interface><protocol>tcp</protocol><target>10.0.20.5</target>"
                          "<destination><port>443</port></destination></rule>\n</nat>"),
              "<interface>opt4", "port forward is on interface 'opt4'");
  check_error(config_with("<nat>\n<rule><interface>wan</interface><protocol>tcp</protocol>\n<target>ingress</target>"
                          "<destination><port>443</port></destination></rule>\n</nat>"),
              "<target>", "'ingress' is neither an IPv4 address or network nor an alias");
  check_error(
      config_with(
          "<unbound><enable/>\n<hosts><host>pxe</host><domain>x.lan</domain>\n<ip>10.0.10.500</ip></hosts></unbound>"),
      "<ip>", "DNS host override pxe.x.lan: '10.0.10.500' is not an IPv4 address");
}

// pfSense 2.7 as it loads config.xml (services.inc services_dhcpdv4_configure(), config.lib.inc
// parse_config(), xmlparse.inc), not as its web forms validate what a user types.
TEST_CASE("sim pfsense: a static mapping inside the DHCP range is served, as dhcpd.conf gets it") {
  // services_dhcp_edit.php refuses it in the GUI; from config.xml the mapping becomes a `host` with a
  // `fixed-address` and the pool keeps its range.
  const std::string xml = config_with(
      "<dhcpd>\n<opt1><enable/>\n<range><from>10.0.20.100</from><to>10.0.20.101</to></range>\n"
      "<staticmap><mac>00:50:56:aa:00:01</mac><ipaddr>10.0.20.100</ipaddr></staticmap>\n</opt1>\n</dhcpd>");
  const PfConfig c = parse_pfsense_config(xml);
  REQUIRE(c.dhcp.size() == 1);
  CHECK(c.dhcp[0].range_start == "10.0.20.100");
  Engine e(1);
  DhcpServer dhcp(e, c.dhcp);
  CHECK(dhcp.request("00:50:56:aa:00:01", "opt1")->ip == "10.0.20.100");
  // A dynamic client gets the rest of the pool (the fixed address is not handed out twice).
  CHECK(dhcp.request("00:50:56:aa:00:09", "opt1")->ip == "10.0.20.101");
  // The broken form of the same mapping, still refused: an address outside the interface's subnet.
  check_error(replace_all(xml, "<ipaddr>10.0.20.100</ipaddr></staticmap>", "<ipaddr>10.0.30.100</ipaddr></staticmap>"),
              "<staticmap>", "10.0.30.100 is outside opt1's subnet 10.0.20.0/24");
}

TEST_CASE("sim pfsense: denyunknown enabled knows a client mapped on any interface, class only this one's") {
  // services_dhcpdv4_configure() at 2.7: "class" → `allow members of "s_IF"; deny unknown-clients;`,
  // "disabled" → nothing, anything else (enabled, or an old config's empty <denyunknown/>) →
  // `deny unknown-clients;`, and ISC dhcpd knows a client with a host declaration anywhere.
  auto config = [](const std::string& deny) {
    return config_with(
        "<dhcpd>\n<lan><enable/>\n<range><from>10.0.10.100</from><to>10.0.10.150</to></range>\n" + deny +
        "\n<staticmap><mac>00:50:56:aa:10:05</mac><ipaddr>10.0.10.5</ipaddr></staticmap>\n</lan>\n"
        "<opt1><enable/>\n<range><from>10.0.20.100</from><to>10.0.20.150</to></range>\n"
        "<staticmap><mac>00:50:56:aa:00:01</mac><ipaddr>10.0.20.11</ipaddr></staticmap>\n</opt1>\n</dhcpd>");
  };
  const std::string cluster_node = "00:50:56:aa:00:01", stranger = "00:50:56:aa:00:99";
  for (const std::string deny : {"<denyunknown>enabled</denyunknown>", "<denyunknown/>"}) {
    CAPTURE(deny);
    Engine e(1);
    DhcpServer dhcp(e, parse_pfsense_config(config(deny)).dhcp);
    CHECK(dhcp.request("00:50:56:aa:10:05", "lan")->ip == "10.0.10.5");
    CHECK(dhcp.request(cluster_node, "lan")->ip == "10.0.10.100");  // known from opt1's mapping
    CHECK_FALSE(dhcp.request(stranger, "lan"));
    CHECK(dhcp.last_refusal() == "MAC 00:50:56:aa:00:99 has no reservation on any interface and unknown clients are denied");
  }
  Engine e(1);
  DhcpServer only_here(e, parse_pfsense_config(config("<denyunknown>class</denyunknown>")).dhcp);
  CHECK(only_here.request("00:50:56:aa:10:05", "lan")->ip == "10.0.10.5");
  CHECK_FALSE(only_here.request(cluster_node, "lan"));
  CHECK(only_here.last_refusal() == "MAC 00:50:56:aa:00:01 has no reservation and unknown clients are denied");
  DhcpServer open(e, parse_pfsense_config(config("<denyunknown>disabled</denyunknown>")).dhcp);
  CHECK(open.request(stranger, "lan")->ip == "10.0.10.100");
}

TEST_CASE("sim pfsense: a DHCP pool outside its subnet is left out with pfSense's notice and the mappings still serve") {
  const PfConfig c = parse_pfsense_config(config_with(
      "<dhcpd>\n<opt1><enable/>\n<range><from>10.0.30.100</from><to>10.0.30.150</to></range>\n"
      "<staticmap><mac>00:50:56:aa:00:01</mac><ipaddr>10.0.20.11</ipaddr></staticmap>\n</opt1>\n</dhcpd>"));
  REQUIRE(c.dhcp.size() == 1);
  CHECK(c.dhcp[0].range_start.empty());
  CHECK(c.notices == std::vector<std::string>{"Invalid DHCP pool 10.0.30.100 - 10.0.30.150 for opt1 subnet "
                                              "10.0.20.0/24 detected. Please correct the settings in Services, DHCP Server"});
  Engine e(1);
  DhcpServer dhcp(e, c.dhcp);
  CHECK(dhcp.request("00:50:56:aa:00:01", "opt1")->ip == "10.0.20.11");
  CHECK_FALSE(dhcp.request("00:50:56:aa:00:99", "opt1"));
  // Inside the subnet: no notice.
  CHECK(homelab().notices.empty());
}

TEST_CASE("sim pfsense: elements pfSense does not know are read past, and a newer config version loads with a warning") {
  const PfConfig c = parse_pfsense_config(config_with(
      "<version>99.1</version>\n<frobnicator><level>11</level></frobnicator>\n<system><hostname>fw</hostname>"
      "<shiny/></system>"));
  CHECK(c.hostname == "fw");
  CHECK(c.version == "99.1");
  REQUIRE(c.notices.size() == 1);
  CHECK(c.notices[0].find("has been created with a newer version of pfSense than this one") != std::string::npos);
  // The factory default's own version: no warning.
  CHECK(parse_pfsense_config(factory_default_config()).notices.empty());
  CHECK(parse_pfsense_config(factory_default_config()).version == "22.9");
}

TEST_CASE("sim pfsense: config.xml that is not XML, or not pfSense's, is the error pfSense restores a backup for") {
  CHECK_THROWS_AS(parse_pfsense_config("<?xml version=\"1.0\"?>\n<pfsense>\n<system>\n</pfsense>\n"), PfConfigXmlError);
  CHECK_THROWS_AS(parse_pfsense_config("<?xml version=\"1.0\"?>\n<opnsense/>\n"), PfConfigXmlError);
  // A value pfSense cannot use is not a parse failure to it: no backup is restored for it.
  try {
    parse_pfsense_config(config_with("<dhcpd>\n<opt1><enable/>\n<range><from>10.0.20.1OO</from><to>10.0.20.150</to>"
                                     "</range>\n</opt1>\n</dhcpd>"));
    FAIL("parsed");
  } catch (const PfConfigXmlError&) {
    FAIL("a bad address is not an XML error");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("is not an IPv4 address") != std::string::npos);
  }
}

TEST_CASE("sim pfsense: an unreadable config.xml is replaced by the newest readable backup, as parse_config does") {
  // config.lib.inc parse_config(): parse_xml_config() == -1 → discover_last_backup() (newest
  // /cf/conf/backup/*.xml that reads) → restore_backup() copies it to config.xml; none → die().
  support::SimLab lab(1);
  lab.infra();
  drctl::sim::SimHost* pf = lab.w().system("pfsense");
  REQUIRE(pf);
  const std::string good = lab.pf_config;
  pf->put_file("/cf/conf/backup/config-1700000000.xml", good, 0644);
  pf->put_file("/cf/conf/backup/config-1800000000.xml", "<pfsense><system>", 0644);  // newest, unreadable
  pf->put_file("/cf/conf/config.xml", good.substr(0, good.size() / 2), 0644);          // cut off halfway
  REQUIRE(pf->run(support::command("/etc/rc.reload_all")).ok());
  const std::string restored = lab.events("pfsense", "config-restored");
  CHECK(restored.find("/cf/conf/backup/config-1700000000.xml") != std::string::npos);
  CHECK(restored.find("malformed XML") != std::string::npos);
  CHECK(pf->get_file("/cf/conf/config.xml") == good);
  CHECK(lab.w().diagnose("pfsense").find("corrupted") == std::string::npos);

  // Without a backup that reads, pfSense stops with its own words.
  support::SimLab bare(1);
  bare.infra();
  drctl::sim::SimHost* pf2 = bare.w().system("pfsense");
  pf2->put_file("/cf/conf/config.xml", "<pfsense><system>", 0644);
  pf2->run(support::command("/etc/rc.reload_all"));
  const std::string why = bare.w().diagnose("pfsense");
  CHECK_MESSAGE(why.find("Config.xml is corrupted and is 0 bytes.  Could not restore a previous backup.") != std::string::npos,
                why);
}
