#include "sim/network.hpp"

#include "world/url.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace drctl::sim {

using namespace std::chrono_literals;

IpAddress IpAddress::parse(const std::string& text) {
  IpAddress ip;
  if (inet_pton(AF_INET, text.c_str(), ip.bytes.data()) == 1) return ip;
  ip.v6 = true;
  if (inet_pton(AF_INET6, text.c_str(), ip.bytes.data()) == 1) return ip;
  throw std::invalid_argument("'" + text + "' is not an IP address");
}

std::string IpAddress::str() const {
  char buf[INET6_ADDRSTRLEN];
  return inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
}

bool is_ip_address(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

Cidr Cidr::parse(const std::string& text) {
  const std::size_t slash = text.find('/');
  const std::string bits = slash == std::string::npos ? "" : text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3 || !std::all_of(bits.begin(), bits.end(), ::isdigit))
    throw std::invalid_argument("'" + text + "' is not a prefix (address/bits)");
  Cidr c{IpAddress::parse(text.substr(0, slash)), std::stoi(bits)};
  if (c.bits > (c.network.v6 ? 128 : 32)) throw std::invalid_argument("'" + text + "' has too many prefix bits");
  return c;
}

bool Cidr::contains(const IpAddress& ip) const {
  if (ip.v6 != network.v6) return false;
  for (int i = 0; i < bits; ++i) {
    const unsigned mask = 0x80u >> (i % 8);
    if ((ip.bytes[i / 8] & mask) != (network.bytes[i / 8] & mask)) return false;
  }
  return true;
}

std::string Cidr::str() const { return network.str() + "/" + std::to_string(bits); }

std::string to_string(Proto p) { return p == Proto::tcp ? "tcp" : "udp"; }

std::string to_string(SimNetwork::Outcome o) {
  switch (o) {
    case SimNetwork::Outcome::connected:
      return "connected";
    case SimNetwork::Outcome::refused:
      return "refused";
    case SimNetwork::Outcome::unreachable:
      return "unreachable";
    case SimNetwork::Outcome::timeout:
      return "timeout";
  }
  return "?";
}

namespace {

constexpr int kMaxHops = 16;

std::string endpoint(const IpAddress& ip, int port, Proto proto) {
  return (ip.v6 ? "[" + ip.str() + "]" : ip.str()) + ":" + std::to_string(port) + "/" + to_string(proto);
}

std::string family(const IpAddress& ip) { return ip.v6 ? "IPv6" : "IPv4"; }

struct Judged {
  SimNetwork::Outcome outcome;
  std::string reason;
};

/// A router's filter on a new connection: nullopt when it passes, else what the client sees and why.
std::optional<Judged> judge(const Filter& filter, const Flow& flow) {
  const Verdict v = filter(flow);
  if (v.action == Verdict::block)
    return Judged{SimNetwork::Outcome::timeout, "blocked by " + flow.router + ": " + v.reason};
  if (v.action == Verdict::reject)
    return Judged{SimNetwork::Outcome::refused, "rejected by " + flow.router + ": " + v.reason};
  return std::nullopt;
}

}  // namespace

SimNetwork::SimNetwork(Engine& engine) : engine_(engine) {}

SimNetwork::Node& SimNetwork::node(const std::string& name) {
  return const_cast<Node&>(static_cast<const SimNetwork&>(*this).node(name));
}

const SimNetwork::Node& SimNetwork::node(const std::string& name) const {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) throw std::out_of_range("the simulated network has no node " + name);
  return it->second;
}

SimNetwork::Nic& SimNetwork::nic(const std::string& node_name, const std::string& nic_name) {
  Node& n = node(node_name);
  auto it = n.nics.find(nic_name);
  if (it == n.nics.end()) throw std::out_of_range(node_name + " has no NIC " + nic_name);
  return it->second;
}

void SimNetwork::add_segment(const std::string& name, const std::string& cidr) {
  segments_[name].push_back(Cidr::parse(cidr));
}

void SimNetwork::set_bandwidth(const std::string& segment, double bytes_per_second) {
  if (!segments_.contains(segment)) throw std::out_of_range("the simulated network has no segment " + segment);
  if (!(bytes_per_second > 0)) throw std::invalid_argument("the bandwidth of " + segment + " must be more than 0");
  bandwidth_[segment] = bytes_per_second;
}

double SimNetwork::bandwidth(const std::string& segment) const {
  auto it = bandwidth_.find(segment);
  return it == bandwidth_.end() ? kDefaultBandwidth : it->second;
}

double SimNetwork::bandwidth(const Reach& reach) const {
  double slowest = kDefaultBandwidth;
  for (std::size_t i = 0; i < reach.segments.size(); ++i)
    slowest = i == 0 ? bandwidth(reach.segments[i]) : std::min(slowest, bandwidth(reach.segments[i]));
  return slowest;
}

void SimNetwork::attach(const std::string& node_name, const std::string& nic_name, const std::string& segment,
                        const std::string& mac) {
  if (!segments_.contains(segment))
    throw std::out_of_range("cannot plug " + node_name + "/" + nic_name + " into segment " + segment +
                            ": no such segment");
  Node& n = nodes_[node_name];
  if (auto it = n.nics.find(nic_name); it != n.nics.end() && it->second.segment != segment)
    std::erase_if(n.addresses, [&](const Address& a) { return a.nic == nic_name; });
  n.nics[nic_name] = Nic{segment, mac};
}

void SimNetwork::detach(const std::string& node_name, const std::string& nic_name) {
  nic(node_name, nic_name);  // throws for an unknown NIC
  Node& n = node(node_name);
  std::erase_if(n.addresses, [&](const Address& a) { return a.nic == nic_name; });
  n.nics.erase(nic_name);
}

void SimNetwork::remove_node(const std::string& name) {
  node(name);  // throws for an unknown node
  nodes_.erase(name);
}

void SimNetwork::add_address(const std::string& node_name, const std::string& nic_name, const std::string& ip_text) {
  const Nic& n = nic(node_name, nic_name);
  const IpAddress ip = IpAddress::parse(ip_text);
  const auto& prefixes = segments_.at(n.segment);
  if (std::none_of(prefixes.begin(), prefixes.end(), [&](const Cidr& c) { return c.contains(ip); })) {
    std::string have;
    for (const auto& c : prefixes) have += (have.empty() ? "" : ", ") + c.str();
    throw std::invalid_argument(ip_text + " on " + node_name + "/" + nic_name + " is outside segment " + n.segment +
                                " (" + have + ")");
  }
  auto& addresses = node(node_name).addresses;
  if (std::none_of(addresses.begin(), addresses.end(),
                   [&](const Address& a) { return a.nic == nic_name && a.ip == ip; }))
    addresses.push_back({nic_name, ip});
}

void SimNetwork::remove_address(const std::string& node_name, const std::string& nic_name, const std::string& ip_text) {
  nic(node_name, nic_name);  // throws for an unknown NIC
  const IpAddress ip = IpAddress::parse(ip_text);
  std::erase_if(node(node_name).addresses, [&](const Address& a) { return a.nic == nic_name && a.ip == ip; });
}

void SimNetwork::clear_addresses(const std::string& node_name, const std::string& nic_name) {
  nic(node_name, nic_name);  // throws for an unknown NIC
  std::erase_if(node(node_name).addresses, [&](const Address& a) { return a.nic == nic_name; });
}

void SimNetwork::set_gateway(const std::string& node_name, const std::string& ip) {
  node(node_name).gateway = ip.empty() ? std::nullopt : std::optional(IpAddress::parse(ip));
}

void SimNetwork::add_route(const std::string& node_name, const std::string& cidr, const std::string& via) {
  node(node_name).routes.push_back({Cidr::parse(cidr), IpAddress::parse(via)});
}

void SimNetwork::set_router(const std::string& node_name, Filter filter) { node(node_name).filter = std::move(filter); }

void SimNetwork::add_forward(const std::string& node_name, const std::string& listen_ip, int port, Proto proto,
                             const std::string& target_ip, int target_port) {
  node(node_name).forwards.push_back(
      {IpAddress::parse(listen_ip), port, proto, IpAddress::parse(target_ip), target_port});
}

void SimNetwork::listen(const std::string& node_name, int port, Proto proto, const std::string& service) {
  node(node_name).listeners[{port, proto}] = service;
}

void SimNetwork::unlisten(const std::string& node_name, int port, Proto proto) {
  node(node_name).listeners.erase({port, proto});
}

void SimNetwork::set_bound(const std::string& node_name, const std::string& service, const std::set<Bound>& bound) {
  Node& n = node(node_name);
  if (bound.empty())
    n.bound.erase(service);
  else
    n.bound[service] = bound;
}

void SimNetwork::set_node_up(const std::string& node_name, bool up) { node(node_name).up = up; }

void SimNetwork::set_link(const std::string& node_name, const std::string& nic_name, bool up) {
  nic(node_name, nic_name).link_up = up;
}

void SimNetwork::set_isolated(const std::string& node_name, bool isolated) { node(node_name).isolated = isolated; }

void SimNetwork::set_loss(const std::string& node_name, double probability) {
  if (!(probability >= 0 && probability <= 1))
    throw std::invalid_argument("loss on " + node_name + " must be between 0 and 1, not " +
                                std::to_string(probability));
  node(node_name).loss = probability;
}

std::vector<std::string> SimNetwork::addresses(const std::string& node_name) const {
  std::vector<std::string> out;
  for (const auto& a : node(node_name).addresses) out.push_back(a.ip.str());
  return out;
}

std::vector<std::string> SimNetwork::addresses_of(const std::string& node_name, const std::string& nic_name) const {
  segment(node_name, nic_name);  // throws for an unknown NIC
  std::vector<std::string> out;
  for (const auto& a : node(node_name).addresses)
    if (a.nic == nic_name) out.push_back(a.ip.str());
  return out;
}

bool SimNetwork::on_wire(const std::string& node_name, const std::string& segment) const {
  auto it = nodes_.find(node_name);
  if (it == nodes_.end() || !it->second.up || it->second.isolated) return false;
  const auto& nics = it->second.nics;
  return std::any_of(nics.begin(), nics.end(),
                     [&](const auto& n) { return n.second.segment == segment && n.second.link_up; });
}

std::string SimNetwork::segment(const std::string& node_name, const std::string& nic_name) const {
  const Node& n = node(node_name);
  auto it = n.nics.find(nic_name);
  if (it == n.nics.end()) throw std::out_of_range(node_name + " has no NIC " + nic_name);
  return it->second.segment;
}

std::vector<std::string> SimNetwork::arp(const std::string& segment, const std::string& ip_text) {
  if (!segments_.contains(segment)) throw std::out_of_range("the simulated network has no segment " + segment);
  const IpAddress ip = IpAddress::parse(ip_text);
  std::vector<std::string> owners;
  for (const auto& [name, n] : nodes_) {
    if (!n.up || n.isolated) continue;
    for (const auto& a : n.addresses) {
      const Nic& nic = n.nics.at(a.nic);
      if (a.ip == ip && nic.segment == segment && nic.link_up) {
        owners.push_back(name);
        break;
      }
    }
  }
  if (owners.size() > 1) {
    std::string key = segment + " " + ip.str();
    for (const auto& o : owners) key += " " + o;
    if (duplicates_logged_.insert(key).second)
      engine_.log("network", "duplicate-ip", {{"segment", segment}, {"ip", ip.str()}, {"owners", owners}});
  }
  return owners;
}

std::string SimNetwork::silent_owners(const std::string& segment, const IpAddress& ip) const {
  std::string out;
  for (const auto& [name, n] : nodes_)
    for (const auto& a : n.addresses) {
      const Nic& nic = n.nics.at(a.nic);
      if (a.ip != ip || nic.segment != segment) continue;
      const std::string why = !n.up          ? "is powered off"
                              : n.isolated   ? "is isolated"
                              : !nic.link_up ? "its link " + a.nic + " is down"
                                             : "";
      if (!why.empty()) out += (out.empty() ? " (" : ", ") + name + " holds it but " + why;
    }
  return out.empty() ? out : out + ")";
}

std::optional<SimNetwork::Address> SimNetwork::on_link(const Node& n, const IpAddress& ip) const {
  for (const auto& a : n.addresses)
    for (const auto& prefix : segments_.at(n.nics.at(a.nic).segment))
      if (prefix.contains(a.ip) && prefix.contains(ip)) return a;
  return std::nullopt;
}

SimNetwork::Egress SimNetwork::egress(const std::string& name, const IpAddress& dst) const {
  const Node& n = nodes_.at(name);
  Egress e;
  const std::string no_route = "no route to host " + dst.str() + " from " + name + ": ";
  if (std::none_of(n.addresses.begin(), n.addresses.end(), [&](const Address& a) { return a.ip.v6 == dst.v6; })) {
    e.error = no_route + "it has no " + family(dst) + " address";
    return e;
  }
  IpAddress hop = dst;
  std::optional<Address> out = on_link(n, dst);
  if (!out) {
    const Route* best = nullptr;
    for (const auto& r : n.routes)
      if (r.to.contains(dst) && (!best || r.to.bits > best->to.bits)) best = &r;
    std::string via;
    if (best) {
      hop = best->via;
      via = "the route to " + best->to.str() + " via " + hop.str();
    } else if (n.gateway && n.gateway->v6 == dst.v6) {
      hop = *n.gateway;
      via = "the gateway " + hop.str();
    } else {
      e.error = no_route + "not on-link, no route matches and it has no " + family(dst) + " gateway";
      return e;
    }
    out = on_link(n, hop);
    if (!out) {
      e.error = no_route + via + " is not on-link";
      return e;
    }
  }
  const Nic& nic = n.nics.at(out->nic);
  if (!nic.link_up) {
    e.error = no_route + "the link of " + out->nic + " is down";
    return e;
  }
  e.nic = out->nic;
  e.segment = nic.segment;
  e.next_hop = hop;
  e.src = out->ip;
  return e;
}

bool SimNetwork::lost(const std::string& name, Attempt& attempt) {
  const double p = nodes_.at(name).loss;
  if (p <= 0 || !attempt.drawn.insert(name).second) return false;
  // 53 random bits give a uniform double in [0, 1), the same on every platform.
  return p >= 1 || static_cast<double>(engine_.rng().next() >> 11) * 0x1.0p-53 < p;
}

SimNetwork::Leg SimNetwork::carry(const std::string& from, const IpAddress& dst, int port, Proto proto, bool reply,
                                  Attempt& attempt) {
  Leg leg;
  leg.src = dst;  // until the sender picks its own: a destination it owns needs no other
  auto stop = [&](Outcome o, std::string reason) {
    leg.failed = o;
    leg.reason = std::move(reason);
    return leg;
  };
  auto loss = [&](const std::string& name) {
    return stop(Outcome::timeout,
                "packet lost (loss " + std::to_string(std::lround(nodes_.at(name).loss * 100)) + "% on " + name + ")");
  };
  std::string at = from;
  for (bool sent = false;; sent = true) {
    const Node& n = nodes_.at(at);
    leg.end = at;
    if (std::any_of(n.addresses.begin(), n.addresses.end(), [&](const Address& a) { return a.ip == dst; })) return leg;
    if (sent && !n.filter) return stop(Outcome::timeout, at + " is not a router: it drops packets for " + dst.str());
    const Egress e = egress(at, dst);
    if (!e.error.empty()) return stop(Outcome::unreachable, e.error);
    if (!sent) leg.src = e.src;
    if (sent && !reply)
      if (auto j = judge(n.filter, Flow{at, leg.in_segment, e.segment, leg.src.str(), dst.str(), port, proto}))
        return stop(j->outcome, j->reason);
    if (!reply && lost(at, attempt)) return loss(at);
    const std::vector<std::string> owners = arp(e.segment, e.next_hop.str());
    if (owners.empty())
      return stop(Outcome::unreachable, "no route to host " + dst.str() + ": nobody answers " +
                                            (dst.v6 ? "neighbour discovery" : "ARP") +
                                            (e.next_hop == dst ? "" : " for " + e.next_hop.str()) + " on segment " +
                                            e.segment + silent_owners(e.segment, e.next_hop));
    if (++attempt.hops > kMaxHops)
      return stop(Outcome::unreachable, "no route to host " + dst.str() + ": more than " + std::to_string(kMaxHops) +
                                            " hops (a routing loop?)");
    at = owners.front();
    leg.in_segment = e.segment;
    if (reply) continue;
    attempt.path.push_back(at);
    attempt.segments.push_back(e.segment);
    if (lost(at, attempt)) return loss(at);
  }
}

SimNetwork::Reach SimNetwork::connect(const std::string& from, const std::string& dst_ip, int port, Proto proto) {
  const Node& origin = node(from);
  IpAddress dst = IpAddress::parse(dst_ip);
  const std::string target = endpoint(dst, port, proto);
  Reach r;
  r.path = {from};
  auto fail = [&](Outcome o, const std::string& reason) {
    r.outcome = o;
    if (o != Outcome::refused) r.node.clear();  // nobody answered
    r.reason = reason;
    engine_.log("network", "connect-failed",
                {{"from", from}, {"to", target}, {"outcome", to_string(o)}, {"reason", reason}});
    return r;
  };
  if (!origin.up) return fail(Outcome::unreachable, from + " is powered off");
  if (origin.isolated) return fail(Outcome::unreachable, from + " is isolated");

  // Legs: the connection from `from`, then one more from each node that forwards it on.
  struct Sent {
    std::string sender;
    IpAddress src;
  };
  std::vector<Sent> legs;
  Attempt attempt{{from}, {}, 0, {}};
  std::string sender = from;
  std::optional<std::string> refused;
  for (;;) {
    Leg leg = carry(sender, dst, port, proto, false, attempt);
    r.path = attempt.path;
    r.segments = attempt.segments;
    if (leg.failed && *leg.failed != Outcome::refused) return fail(*leg.failed, leg.reason);
    legs.push_back({sender, leg.src});
    r.node = leg.end;
    if (leg.failed) {
      refused = leg.reason;
      break;
    }
    const Node& n = nodes_.at(leg.end);
    if (n.filter && !leg.in_segment.empty())
      if (auto j = judge(n.filter, Flow{leg.end, leg.in_segment, "", leg.src.str(), dst.str(), port, proto})) {
        if (j->outcome != Outcome::refused) return fail(j->outcome, j->reason);
        refused = j->reason;
        break;
      }
    auto fwd = std::find_if(n.forwards.begin(), n.forwards.end(),
                            [&](const Forward& f) { return f.listen == dst && f.port == port && f.proto == proto; });
    if (fwd != n.forwards.end()) {
      if (++attempt.hops > kMaxHops)
        return fail(Outcome::unreachable, "more than " + std::to_string(kMaxHops) + " hops (a forwarding loop?)");
      sender = leg.end;
      dst = fwd->target;
      port = fwd->target_port;
      continue;
    }
    const Bound wanted{dst.str(), port, proto};
    for (const auto& [service, bound] : n.bound)
      if (bound.contains(wanted)) r.service = service;
    if (r.service.empty()) {
      auto listener = n.listeners.find({port, proto});
      if (listener == n.listeners.end()) {
        refused = "connection refused: nothing listens on " + endpoint(dst, port, proto);
        break;
      }
      r.service = listener->second;
    }
    break;
  }

  // The answer goes back along each leg: routers let it pass (stateful), but every host needs a route back.
  std::string answerer = r.node;
  for (auto leg = legs.rbegin(); leg != legs.rend(); ++leg) {
    if (answerer != leg->sender) {
      Attempt back;
      const Leg reply = carry(answerer, leg->src, port, proto, true, back);
      if (reply.failed) return fail(Outcome::timeout, "no answer from " + answerer + ": " + reply.reason);
      if (reply.end != leg->sender)
        return fail(Outcome::timeout, "the answer from " + answerer + " to " + leg->src.str() + " went to " +
                                          reply.end + ", not " + leg->sender + " (duplicate address)");
    }
    answerer = leg->sender;
  }
  if (refused) return fail(Outcome::refused, *refused);
  r.outcome = Outcome::connected;
  return r;
}

namespace {

/// What a failed attempt costs: ARP gives up after 3 s; a dropped SYN waits out the timeout (zero: Linux's 127 s).
Duration wait_for(SimNetwork::Outcome o, Duration timeout) {
  const Duration limit = timeout > Duration(0) ? timeout : Duration(127s);
  switch (o) {
    case SimNetwork::Outcome::unreachable:
      return std::min(Duration(3s), limit);
    case SimNetwork::Outcome::timeout:
      return limit;
    default:
      return Duration(0);
  }
}

}  // namespace

SimNetworkView::SimNetworkView(Engine& engine, SimNetwork& net, std::string vantage, Resolver resolve)
    : engine_(engine), net_(net), vantage_(std::move(vantage)), resolve_(std::move(resolve)) {}

std::unique_ptr<SimNetworkView> SimNetworkView::from(std::string vantage, std::function<std::string()> reach_vantage) const {
  auto view = std::make_unique<SimNetworkView>(engine_, net_, std::move(vantage), resolve_);
  view->reach_vantage_ = std::move(reach_vantage);
  view->http_ = http_;
  view->dns_ = dns_;
  return view;
}

std::vector<std::string> SimNetworkView::resolve(const std::string& name) {
  if (is_ip_address(name)) return {name};
  return resolve_(name);
}

std::optional<SimNetwork::Reach> SimNetworkView::reach(const std::string& host, int port, Duration timeout) {
  const auto key = std::pair(host, port);
  if (std::string why = vantage_problem(); !why.empty()) {
    failures_[key] = why;
    return std::nullopt;
  }
  const std::vector<std::string> ips = resolve(host);
  if (ips.empty()) {
    failures_[key] = host + " does not resolve";
    return std::nullopt;
  }
  Duration left = timeout > Duration(0) ? timeout : Duration(127s);
  std::string reasons;
  for (const auto& ip : ips) {
    SimNetwork::Reach r = net_.connect(vantage_, ip, port, Proto::tcp);
    if (r.outcome == SimNetwork::Outcome::connected) {
      failures_.erase(key);
      return r;
    }
    reasons += (reasons.empty() ? "" : "; ") + r.reason;
    const Duration wait = std::min(wait_for(r.outcome, timeout), left);
    if (engine_.in_actor()) engine_.sleep(wait);
    left -= wait;
    if (left <= Duration(0)) break;
  }
  failures_[key] = reasons;
  return std::nullopt;
}

bool SimNetworkView::tcp_probe(const std::string& host, int port, Duration timeout) {
  return reach(host, port, timeout).has_value();
}

world::HttpResponse SimNetworkView::http_get(const std::string& url, const std::string& host_header, Duration timeout) {
  world::HttpResponse failed;
  auto fail = [&](const std::string& why) {
    failed.error = url + ": " + why;
    return failed;
  };
  world::HttpUrl u;
  if (const std::string error = world::parse_http_url(url, u); !error.empty()) return fail(error);
  const std::optional<SimNetwork::Reach> r = reach(u.host, u.port, timeout);
  if (!r) return fail(why(u.host, u.port));
  auto handler = http_->find({r->node, u.port});
  if (handler == http_->end())
    return fail(r->node + ":" + std::to_string(u.port) + " (" + r->service + ") is not an HTTP service");
  if (u.https && !handler->second.tls)
    return fail("TLS handshake failed: " + r->node + ":" + std::to_string(u.port) + " speaks plain HTTP");
  if (!u.https && handler->second.tls) {
    world::HttpResponse plain;
    plain.status = 400;
    plain.body = "400 The plain HTTP request was sent to HTTPS port\n";
    return plain;
  }
  std::string host = host_header;
  if (host.empty()) {
    host = u.host.find(':') == std::string::npos ? u.host : "[" + u.host + "]";
    if (u.port != (u.https ? 443 : 80)) host += ":" + std::to_string(u.port);
  }
  return handler->second.handler(host, u.target);
}

world::DnsAnswer SimNetworkView::dns_query(const std::string& server, int port, const std::string& name,
                                          Duration timeout) {
  world::DnsAnswer answer;
  if (std::string why = vantage_problem(); !why.empty()) {
    answer.error = why;
    return answer;
  }
  const SimNetwork::Reach r = net_.connect(vantage_, server, port, Proto::udp);
  if (r.outcome != SimNetwork::Outcome::connected || !*dns_) {
    if (engine_.in_actor()) engine_.sleep(wait_for(r.outcome, timeout));
    answer.error = r.outcome == SimNetwork::Outcome::connected ? r.node + " has no DNS server modelled" : r.reason;
    return answer;
  }
  answer.addresses = (*dns_)(r.node, name);
  answer.rcode = answer.addresses.empty() ? "NXDOMAIN" : "NOERROR";
  return answer;
}

void SimNetworkView::serve_http(const std::string& node, int port, HttpHandler handler, bool tls) {
  (*http_)[{node, port}] = HttpService{std::move(handler), tls};
}

std::string SimNetworkView::why(const std::string& host, int port) const {
  auto it = failures_.find({host, port});
  return it == failures_.end() ? "" : it->second;
}

}  // namespace drctl::sim
