// The simulated network: L2 segments (one per VLAN / port group), nodes with NICs and
// addresses, ARP, routes and gateways, routers with stateful firewalls, port forwards (the
// border router's IPv6 → IPv4 socat), listeners, and the faults that break them. It answers
// one question — does a connection get through, and if not, why — and SimNetworkView puts
// that behind world::Network for the machine drctl runs on.
#pragma once
#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/engine.hpp"

namespace drctl::sim {

/// An IPv4 or IPv6 address.
struct IpAddress {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};  // IPv4 uses the first four
  /// "10.0.20.5" or "2a00:4802:360::136"; throws std::invalid_argument naming the text.
  static IpAddress parse(const std::string& text);
  /// The canonical text (inet_ntop).
  std::string str() const;
  auto operator<=>(const IpAddress&) const = default;
};

/// True for an IPv4 or IPv6 literal.
bool is_ip_address(const std::string& text);

/// A prefix: "10.0.20.0/24", "2a00:4802:360::/64".
struct Cidr {
  IpAddress network;
  int bits = 0;
  /// Throws std::invalid_argument naming the text.
  static Cidr parse(const std::string& text);
  bool contains(const IpAddress& ip) const;
  std::string str() const;
};

enum class Proto { tcp, udp };
std::string to_string(Proto);

/// A new connection as a router's firewall sees it.
struct Flow {
  std::string router;                   // the forwarding node
  std::string in_segment, out_segment;  // out_segment "": addressed to the router itself
  std::string src_ip, dst_ip;
  int port = 0;
  Proto proto = Proto::tcp;
};

/// A firewall's decision: pass, or block (silently dropped) / reject (refused), with the rule that decided.
struct Verdict {
  enum Action { pass, block, reject } action = pass;
  std::string reason;  // e.g. "rule 'default deny' on interface wan"
};
using Filter = std::function<Verdict(const Flow&)>;

/// Nodes, their NICs on segments, and whether a connection between them gets through. Every call naming a node,
/// except attach(), on_wire() and has_node(), throws std::out_of_range when the node does not exist.
class SimNetwork {
 public:
  explicit SimNetwork(Engine& engine);

  /// An L2 domain (one VLAN / port group) with its prefix: "10.0.20.0/24" or "2a00:4802:360::/64".
  /// Calling it again for the same segment adds another prefix (a dual-stack VLAN).
  void add_segment(const std::string& name, const std::string& cidr);
  /// How fast a segment carries data, in bytes per second: its NICs' speed (the seed's 1 Gbit
  /// unless the site says otherwise; sim/CONFORMANCE.md, "Time").
  static constexpr double kDefaultBandwidth = 125e6;
  void set_bandwidth(const std::string& segment, double bytes_per_second);
  double bandwidth(const std::string& segment) const;
  /// Plugs NIC `nic` of `node` (creating the node on first use) into `segment`; throws for an unknown segment.
  /// Re-plugging a NIC into another segment drops its addresses.
  void attach(const std::string& node, const std::string& nic, const std::string& segment, const std::string& mac);
  /// Unplugs a NIC; its addresses go with it.
  void detach(const std::string& node, const std::string& nic);
  void remove_node(const std::string& node);

  /// Addresses on a NIC (several allowed: a VIP is added to whichever node holds it). An address outside the
  /// segment's prefix throws std::invalid_argument naming both. Adding one twice or removing an absent one does
  /// nothing.
  void add_address(const std::string& node, const std::string& nic, const std::string& ip);
  void remove_address(const std::string& node, const std::string& nic, const std::string& ip);
  void clear_addresses(const std::string& node, const std::string& nic);
  /// The default route for the gateway's address family ("" = none).
  void set_gateway(const std::string& node, const std::string& ip);
  /// A static route; the longest matching prefix wins over the gateway.
  void add_route(const std::string& node, const std::string& cidr, const std::string& via);

  /// `node` forwards between its NICs; `filter` judges each new connection (stateful: replies always pass).
  /// An empty filter makes it a plain host again.
  void set_router(const std::string& node, Filter filter);
  /// Port forward on `node` (the border router's socat, a NAT rule): connections to listen_ip:port/proto are sent on
  /// to target_ip:target_port from `node` (the target sees `node` as the source). Works v6 → v4.
  void add_forward(const std::string& node, const std::string& listen_ip, int port, Proto proto,
                   const std::string& target_ip, int target_port);
  /// A service listening on every address of `node`.
  void listen(const std::string& node, int port, Proto proto, const std::string& service);
  void unlisten(const std::string& node, int port, Proto proto);
  /// The ports `service` accepts on one address of `node` (as kube-proxy's rules match a
  /// destination VIP, whether or not the node holds it now), replacing what that service had on
  /// addresses: `bound` lists (ip, port, proto). A connection to an address prefers such a
  /// listener over one on every address.
  struct Bound {
    std::string ip;
    int port = 0;
    Proto proto = Proto::tcp;
    auto operator<=>(const Bound&) const = default;
  };
  void set_bound(const std::string& node, const std::string& service, const std::set<Bound>& bound);

  /// Faults and power. A node that is down or isolated answers nothing; a link that is down carries nothing;
  /// loss drops each connection attempt crossing one of the node's NICs with that probability (Engine::rng()),
  /// drawn once per node and attempt.
  void set_node_up(const std::string& node, bool up);
  void set_link(const std::string& node, const std::string& nic, bool up);
  void set_isolated(const std::string& node, bool isolated);
  void set_loss(const std::string& node, double probability);

  enum class Outcome { connected, refused, unreachable, timeout };
  struct Reach {
    Outcome outcome = Outcome::unreachable;
    std::string node;               // who answered (connected/refused)
    std::string service;            // the listener (connected)
    std::string reason;             // for anything but connected, naming the cause
    std::vector<std::string> path;  // nodes crossed, in order
    std::vector<std::string> segments;  // segments crossed, in order (connected: every one)
  };
  /// Would a connection from `from` to dst_ip:port/proto get through? The answer must also find its way back
  /// (a host without a route to the source never answers). Logs nothing on success, logs
  /// {"component":"network","event":"connect-failed",…reason} on failure. At most 16 hops. A dst_ip that is not
  /// an IP address throws std::invalid_argument.
  Reach connect(const std::string& from, const std::string& dst_ip, int port, Proto proto);
  /// The slowest segment a connection crossed: what a transfer over it gets, in bytes per second.
  double bandwidth(const Reach& reach) const;
  /// The nodes answering ARP for `ip` on `segment` (up, not isolated, link up), by name. Two or more is a
  /// conflict: logged once per (segment, ip, owners) as event "duplicate-ip".
  std::vector<std::string> arp(const std::string& segment, const std::string& ip);

  /// Every address of a node, in the order added.
  std::vector<std::string> addresses(const std::string& node) const;
  /// The addresses of one NIC, in the order added.
  std::vector<std::string> addresses_of(const std::string& node, const std::string& nic) const;
  /// Whether `node` can send and hear broadcasts (DHCP) on `segment`: it exists, is up, is not isolated and has a
  /// NIC there whose link is up.
  bool on_wire(const std::string& node, const std::string& segment) const;
  /// The segment NIC `nic` of `node` is plugged into.
  std::string segment(const std::string& node, const std::string& nic) const;
  bool has_node(const std::string& node) const { return nodes_.contains(node); }

 private:
  struct Nic {
    std::string segment, mac;
    bool link_up = true;
  };
  struct Address {
    std::string nic;
    IpAddress ip;
  };
  struct Route {
    Cidr to;
    IpAddress via;
  };
  struct Forward {
    IpAddress listen;
    int port;
    Proto proto;
    IpAddress target;
    int target_port;
  };
  struct Node {
    std::map<std::string, Nic> nics;
    std::vector<Address> addresses;  // in the order added
    std::optional<IpAddress> gateway;
    std::vector<Route> routes;
    Filter filter;  // set: the node forwards
    std::vector<Forward> forwards;
    std::map<std::pair<int, Proto>, std::string> listeners;
    std::map<std::string, std::set<Bound>> bound;  // service -> what it accepts on one address
    bool up = true, isolated = false;
    double loss = 0;
  };
  /// Where a packet leaves a node for a destination; `error` says why it cannot.
  struct Egress {
    std::string nic, segment;
    IpAddress next_hop, src;
    std::string error;
  };
  /// One connection attempt: the nodes it crossed, those that already drew for loss, the hops used.
  struct Attempt {
    std::vector<std::string> path;
    std::set<std::string> drawn;
    int hops = 0;
    std::vector<std::string> segments;  // crossed, in order
  };
  /// A packet carried from a sender towards a destination, hop by hop.
  struct Leg {
    std::string end;         // the node it reached (the destination's owner, or the router that rejected it)
    std::string in_segment;  // the segment it arrived on ("" when the sender owns the destination)
    IpAddress src;           // the source address the sender chose
    std::optional<Outcome> failed;
    std::string reason;
  };

  Node& node(const std::string& name);
  const Node& node(const std::string& name) const;
  Nic& nic(const std::string& node_name, const std::string& nic_name);
  std::optional<Address> on_link(const Node& n, const IpAddress& ip) const;
  Egress egress(const std::string& name, const IpAddress& dst) const;
  Leg carry(const std::string& from, const IpAddress& dst, int port, Proto proto, bool reply, Attempt& attempt);
  bool lost(const std::string& name, Attempt& attempt);
  std::string silent_owners(const std::string& segment, const IpAddress& ip) const;

  Engine& engine_;
  std::map<std::string, std::vector<Cidr>> segments_;
  std::map<std::string, double> bandwidth_;  // segment -> bytes per second (absent: kDefaultBandwidth)
  std::map<std::string, Node> nodes_;
  std::set<std::string> duplicates_logged_;
};

std::string to_string(SimNetwork::Outcome);

/// The World's Network as seen from one node (the machine drctl runs on): names resolve through `resolve`, probes
/// go through SimNetwork::connect. Waiting costs virtual time only: a refused probe returns at once; an unreachable
/// one after min(3 s, timeout) (ARP gives up); a dropped one after the whole timeout (a zero timeout: the 127 s
/// after which Linux gives up a connect) — via Engine::sleep when called from an actor, else without waiting.
class SimNetworkView : public world::Network {
 public:
  using Resolver = std::function<std::vector<std::string>(const std::string& name)>;
  using HttpHandler = std::function<world::HttpResponse(const std::string& host_header, const std::string& path)>;
  SimNetworkView(Engine& engine, SimNetwork& net, std::string vantage, Resolver resolve);

  /// Tries each address of `host` in turn within `timeout`.
  bool tcp_probe(const std::string& host, int port, world::Duration timeout) override;
  /// GET of an http(s):// URL: connects like tcp_probe, then asks the handler serve_http() set for the node that answered.
  world::HttpResponse http_get(const std::string& url, const std::string& host_header,
                               world::Duration timeout) override;
  /// An IP literal resolves to itself; names go to the Resolver.
  std::vector<std::string> resolve(const std::string& name) override;
  /// A UDP query: what answers server:port (through forwards and firewalls, as SimNetwork::connect
  /// finds it) is asked through the handler serve_dns() set; a refusal or a drop is the error.
  world::DnsAnswer dns_query(const std::string& server, int port, const std::string& name, world::Duration timeout) override;
  /// The records the DNS server on `node` has for `name` (none: NXDOMAIN).
  using DnsHandler = std::function<std::vector<std::string>(const std::string& node, const std::string& name)>;
  void serve_dns(DnsHandler handler) { *dns_ = std::move(handler); }

  /// HTTP served by node:port (the handler gets the Host header — default: the URL's host[:port] — and the path).
  /// The node must also listen on the port (SimNetwork::listen); unlisten and it stops answering.
  /// `tls`: the port speaks HTTPS (an https:// URL is needed, and plain HTTP gets nginx's 400).
  void serve_http(const std::string& node, int port, HttpHandler handler, bool tls = false);
  /// The same network seen from another node (a visitor on the internet): the same resolver and
  /// HTTP services, connections made from `vantage`. `reach_vantage`, when set, says why the
  /// checks cannot be made there now ("" when they can): every probe then fails with it.
  std::unique_ptr<SimNetworkView> from(std::string vantage, std::function<std::string()> reach_vantage = {}) const;
  /// Why the last failed probe of host:port failed (the Reach reason, or "HOST does not resolve"); "" if it did not
  /// fail.
  std::string why(const std::string& host, int port) const;

 private:
  /// Why checks cannot be made from the vantage now ("" when they can: see from()).
  std::string vantage_problem() const { return reach_vantage_ ? reach_vantage_() : std::string(); }
  /// Connects to host:port, waiting as a failed attempt would; the connected Reach, or nullopt with why() set.
  std::optional<SimNetwork::Reach> reach(const std::string& host, int port, world::Duration timeout);

  Engine& engine_;
  SimNetwork& net_;
  std::string vantage_;
  Resolver resolve_;
  struct HttpService { HttpHandler handler; bool tls = false; };
  using HttpServices = std::map<std::pair<std::string, int>, HttpService>;
  std::shared_ptr<HttpServices> http_ = std::make_shared<HttpServices>();  // shared by the views from() makes
  std::shared_ptr<DnsHandler> dns_ = std::make_shared<DnsHandler>();
  std::function<std::string()> reach_vantage_;
  std::map<std::pair<std::string, int>, std::string> failures_;
};

}  // namespace drctl::sim
