#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>

#include "sim/network.hpp"

using namespace drctl::sim;
using namespace std::chrono_literals;
using Outcome = SimNetwork::Outcome;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

int count_events(const Engine& e, const std::string& event) {
  int n = 0;
  for (const auto& ev : e.events()) n += ev["event"] == event;
  return n;
}

/// The seed's site in small: the controller on management, two nodes on cluster, pfSense routing between them
/// and to the border router's LAN, the border router forwarding its global IPv6 :443 to the ingress VIP.
struct Site {
  Engine engine;
  SimNetwork net{engine};
  Verdict verdict;          // what pfSense's filter answers
  std::vector<Flow> flows;  // what it was asked

  explicit Site(std::uint64_t seed = 7) : engine(seed) {
    net.add_segment("wan6", "2a00:4802:360::/64");
    net.add_segment("lan", "10.0.0.0/24");
    net.add_segment("management", "10.0.10.0/24");
    net.add_segment("cluster", "10.0.20.0/24");
    host("internet", "wan6", "2a00:4802:360::1", "");
    host("controller", "management", "10.0.10.5", "10.0.10.1");
    host("k8s-node1", "cluster", "10.0.20.7", "10.0.20.1");
    host("k8s-node2", "cluster", "10.0.20.8", "10.0.20.1");
    net.listen("k8s-node1", 22, Proto::tcp, "sshd");
    net.listen("k8s-node2", 22, Proto::tcp, "sshd");

    net.attach("pfsense", "wan", "lan", "00:50:56:00:00:01");
    net.attach("pfsense", "mgmt", "management", "00:50:56:00:00:02");
    net.attach("pfsense", "cluster", "cluster", "00:50:56:00:00:03");
    net.add_address("pfsense", "wan", "10.0.0.2");
    net.add_address("pfsense", "mgmt", "10.0.10.1");
    net.add_address("pfsense", "cluster", "10.0.20.1");
    net.set_gateway("pfsense", "10.0.0.1");
    net.set_router("pfsense", [this](const Flow& f) {
      flows.push_back(f);
      return verdict;
    });

    net.attach("border", "wan", "wan6", "00:11:22:00:00:01");
    net.attach("border", "lan", "lan", "00:11:22:00:00:02");
    net.add_address("border", "wan", "2a00:4802:360::136");
    net.add_address("border", "lan", "10.0.0.1");
    net.add_route("border", "10.0.0.0/16", "10.0.0.2");
    net.set_router("border", [](const Flow&) { return Verdict{}; });
    net.add_forward("border", "2a00:4802:360::136", 443, Proto::tcp, "10.0.20.200", 443);
  }
  Site(const Site&) = delete;

  void host(const std::string& name, const std::string& segment, const std::string& ip, const std::string& gateway) {
    net.attach(name, "eth0", segment, "00:50:56:aa:00:01");
    net.add_address(name, "eth0", ip);
    net.set_gateway(name, gateway);
  }
};

}  // namespace

TEST_CASE("sim network: hosts on one segment reach each other directly") {
  Site s;
  auto r = s.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::connected);
  CHECK(r.node == "k8s-node2");
  CHECK(r.service == "sshd");
  CHECK(r.path == std::vector<std::string>{"k8s-node1", "k8s-node2"});
  CHECK(s.flows.empty());  // no router in between
  CHECK(count_events(s.engine, "connect-failed") == 0);
}

TEST_CASE("sim network: another VLAN is unreachable without a router") {
  Site s;
  s.net.set_gateway("controller", "");
  auto r = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::unreachable);
  CHECK(r.reason ==
        "no route to host 10.0.20.7 from controller: not on-link, no route matches and it has no IPv4 gateway");

  s.net.set_gateway("controller", "10.0.10.1");
  s.net.set_router("pfsense", {});  // the gateway is a plain host now: it drops what is not its own
  r = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::timeout);
  CHECK(r.reason == "pfsense is not a router: it drops packets for 10.0.20.7");
  CHECK(has(s.engine.log_jsonl(), R"("event":"connect-failed")"));
}

TEST_CASE("sim network: a router's filter sees the flow and passes, blocks or rejects it") {
  Site s;
  auto r = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::connected);
  CHECK(r.path == std::vector<std::string>{"controller", "pfsense", "k8s-node1"});
  REQUIRE(s.flows.size() == 1);
  CHECK(s.flows[0].router == "pfsense");
  CHECK(s.flows[0].in_segment == "management");
  CHECK(s.flows[0].out_segment == "cluster");
  CHECK(s.flows[0].src_ip == "10.0.10.5");
  CHECK(s.flows[0].dst_ip == "10.0.20.7");
  CHECK(s.flows[0].port == 22);

  s.verdict = {Verdict::block, "rule 'default deny' on interface mgmt"};
  r = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::timeout);
  CHECK(r.reason == "blocked by pfsense: rule 'default deny' on interface mgmt");
  CHECK(r.node.empty());  // nobody answered

  s.verdict = {Verdict::reject, "rule 'reject ssh' on interface mgmt"};
  r = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::refused);
  CHECK(r.node == "pfsense");
  CHECK(r.reason == "rejected by pfsense: rule 'reject ssh' on interface mgmt");
}

TEST_CASE("sim network: a connection to the router's own address is filtered with no out segment") {
  Site s;
  s.net.listen("pfsense", 443, Proto::tcp, "webgui");
  auto r = s.net.connect("controller", "10.0.10.1", 443, Proto::tcp);
  CHECK(r.outcome == Outcome::connected);
  CHECK(r.service == "webgui");
  REQUIRE(s.flows.size() == 1);
  CHECK(s.flows[0].in_segment == "management");
  CHECK(s.flows[0].out_segment == "");
}

TEST_CASE("sim network: nothing listening is refused by the host, naming the address") {
  Site s;
  auto r = s.net.connect("k8s-node1", "10.0.20.8", 80, Proto::tcp);
  CHECK(r.outcome == Outcome::refused);
  CHECK(r.node == "k8s-node2");
  CHECK(r.reason == "connection refused: nothing listens on 10.0.20.8:80/tcp");
  s.net.unlisten("k8s-node2", 22, Proto::tcp);
  CHECK(s.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp).outcome == Outcome::refused);
}

TEST_CASE("sim network: a host that is down or isolated answers no ARP") {
  Site s;
  s.net.set_node_up("k8s-node2", false);
  auto r = s.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::unreachable);
  CHECK(r.reason ==
        "no route to host 10.0.20.8: nobody answers ARP on segment cluster (k8s-node2 holds it but is powered off)");
  CHECK(s.net.arp("cluster", "10.0.20.8").empty());

  s.net.set_node_up("k8s-node2", true);
  s.net.set_isolated("k8s-node2", true);
  r = s.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::unreachable);
  CHECK(has(r.reason, "k8s-node2 holds it but is isolated"));
  CHECK(s.net.connect("k8s-node2", "10.0.20.7", 22, Proto::tcp).reason == "k8s-node2 is isolated");

  s.net.set_isolated("k8s-node2", false);
  CHECK(s.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp).outcome == Outcome::connected);
}

TEST_CASE("sim network: a link that is down carries nothing, on either end") {
  Site s;
  s.net.set_link("k8s-node2", "eth0", false);
  auto r = s.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::unreachable);
  CHECK(has(r.reason, "k8s-node2 holds it but its link eth0 is down"));
  r = s.net.connect("k8s-node2", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::unreachable);
  CHECK(r.reason == "no route to host 10.0.20.7 from k8s-node2: the link of eth0 is down");
}

TEST_CASE("sim network: a gateway that is off-link or a host without a way back fails") {
  Site s;
  s.net.set_gateway("controller", "10.0.20.1");
  auto r = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::unreachable);
  CHECK(has(r.reason, "the gateway 10.0.20.1 is not on-link"));

  s.net.set_gateway("controller", "10.0.10.1");
  s.net.set_gateway("k8s-node1", "");  // the SYN arrives, the SYN-ACK has nowhere to go
  r = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::timeout);
  CHECK(has(r.reason, "no answer from k8s-node1: no route to host 10.0.10.5 from k8s-node1"));
}

TEST_CASE("sim network: loss 1.0 always drops, 0.0 never, 0.5 the same way for the same seed") {
  Site s;
  s.net.set_loss("k8s-node2", 1.0);
  for (int i = 0; i < 5; ++i) {
    auto r = s.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp);
    CHECK(r.outcome == Outcome::timeout);
    CHECK(r.reason == "packet lost (loss 100% on k8s-node2)");
  }
  s.net.set_loss("k8s-node2", 0.0);
  for (int i = 0; i < 5; ++i)
    CHECK(s.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp).outcome == Outcome::connected);
  CHECK_THROWS_AS(s.net.set_loss("k8s-node2", 1.5), std::invalid_argument);

  auto draws = [](std::uint64_t seed) {
    Site site(seed);
    site.net.set_loss("k8s-node2", 0.5);
    std::string seen;
    for (int i = 0; i < 40; ++i)
      seen += site.net.connect("k8s-node1", "10.0.20.8", 22, Proto::tcp).outcome == Outcome::connected ? 'c' : 'x';
    return seen;
  };
  const std::string a = draws(11);
  CHECK(a == draws(11));
  CHECK(has(a, "c"));
  CHECK(has(a, "x"));
}

TEST_CASE("sim network: two hosts with one address are a conflict, logged once") {
  Site s;
  s.net.add_address("k8s-node2", "eth0", "10.0.20.7");
  CHECK(s.net.arp("cluster", "10.0.20.7") == std::vector<std::string>{"k8s-node1", "k8s-node2"});
  auto r = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(r.outcome == Outcome::connected);
  CHECK(r.node == "k8s-node1");  // the first owner
  s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  CHECK(count_events(s.engine, "duplicate-ip") == 1);
  CHECK(has(s.engine.log_jsonl(), R"("owners":["k8s-node1","k8s-node2"])"));
}

TEST_CASE("sim network: the border router forwards its IPv6 address to an IPv4 VIP behind pfSense") {
  Site s;
  s.net.add_address("k8s-node1", "eth0", "10.0.20.200");  // the ingress VIP
  s.net.listen("k8s-node1", 443, Proto::tcp, "ingress");
  auto r = s.net.connect("internet", "2a00:4802:360::136", 443, Proto::tcp);
  CHECK(r.outcome == Outcome::connected);
  CHECK(r.node == "k8s-node1");
  CHECK(r.service == "ingress");
  CHECK(r.path == std::vector<std::string>{"internet", "border", "pfsense", "k8s-node1"});
  REQUIRE(s.flows.size() == 1);
  CHECK(s.flows[0].src_ip == "10.0.0.1");  // the target sees the border router
  CHECK(s.flows[0].in_segment == "lan");
  CHECK(s.flows[0].dst_ip == "10.0.20.200");

  // The VIP moves to a node that is down: nobody holds it any more.
  s.net.remove_address("k8s-node1", "eth0", "10.0.20.200");
  r = s.net.connect("internet", "2a00:4802:360::136", 443, Proto::tcp);
  CHECK(r.outcome == Outcome::unreachable);
  CHECK(r.reason == "no route to host 10.0.20.200: nobody answers ARP on segment cluster");
  CHECK(s.net.connect("internet", "2a00:4802:360::136", 80, Proto::tcp).outcome == Outcome::refused);
}

TEST_CASE("sim network: addresses must sit in their segment's prefix, v4 and v6") {
  Site s;
  CHECK_THROWS_WITH_AS(s.net.add_address("k8s-node1", "eth0", "10.0.30.5"),
                       "10.0.30.5 on k8s-node1/eth0 is outside segment cluster (10.0.20.0/24)", std::invalid_argument);
  CHECK_THROWS_AS(s.net.attach("k8s-node1", "eth1", "storage", "00:50:56:aa:00:09"), std::out_of_range);
  CHECK_THROWS_AS(s.net.listen("nas", 2049, Proto::tcp, "nfs"), std::out_of_range);
  s.net.add_segment("cluster", "fd00:20::/64");  // dual stack
  s.net.add_address("k8s-node1", "eth0", "fd00:20::7");
  CHECK(s.net.addresses("k8s-node1") == std::vector<std::string>{"10.0.20.7", "fd00:20::7"});
  CHECK(s.net.addresses_of("k8s-node1", "eth0") == std::vector<std::string>{"10.0.20.7", "fd00:20::7"});
  CHECK(s.net.segment("border", "lan") == "lan");
  CHECK(s.net.on_wire("border", "lan"));
  CHECK_FALSE(s.net.on_wire("border", "cluster"));
  s.net.set_link("border", "lan", false);
  CHECK_FALSE(s.net.on_wire("border", "lan"));
  CHECK_FALSE(s.net.on_wire("nas", "lan"));
  CHECK(Cidr::parse("2a00:4802:360::/64").contains(IpAddress::parse("2a00:4802:360::136")));
  CHECK_FALSE(Cidr::parse("2a00:4802:360::/64").contains(IpAddress::parse("2a00:4802:361::1")));
  CHECK_FALSE(Cidr::parse("10.0.20.0/24").contains(IpAddress::parse("::ffff:10.0.20.1")));
  CHECK_THROWS_AS(Cidr::parse("10.0.20.0/33"), std::invalid_argument);
  CHECK_THROWS_AS(IpAddress::parse("10.0.20"), std::invalid_argument);
  s.net.attach("k8s-node1", "eth0", "cluster", "00:50:56:aa:00:01");  // the same wire: the addresses stay
  CHECK(s.net.addresses("k8s-node1").size() == 2);
  s.net.attach("k8s-node2", "eth0", "management", "00:50:56:aa:00:01");  // another wire: they go
  CHECK(s.net.addresses("k8s-node2").empty());
  s.net.detach("k8s-node1", "eth0");
  CHECK(s.net.addresses("k8s-node1").empty());
}

TEST_CASE("sim network view: probes answer true or false and why() says why") {
  Site s;
  SimNetworkView view(s.engine, s.net, "controller", [](const std::string& name) {
    return name == "node1.lan" ? std::vector<std::string>{"10.0.20.7"} : std::vector<std::string>{};
  });
  CHECK(view.tcp_probe("node1.lan", 22, 5s));
  CHECK(view.why("node1.lan", 22) == "");
  CHECK_FALSE(view.tcp_probe("node1.lan", 80, 5s));
  CHECK(view.why("node1.lan", 80) == "connection refused: nothing listens on 10.0.20.7:80/tcp");
  CHECK_FALSE(view.tcp_probe("nas.lan", 22, 5s));
  CHECK(view.why("nas.lan", 22) == "nas.lan does not resolve");
  CHECK(view.resolve("10.0.20.8") == std::vector<std::string>{"10.0.20.8"});
  CHECK(s.engine.now() == Duration(0));  // outside an actor nothing waits
}

TEST_CASE("sim network view: a refused probe costs no virtual time, an unreachable 3 s, a dropped the timeout") {
  Site s;
  SimNetworkView view(s.engine, s.net, "controller", [](const std::string&) { return std::vector<std::string>{}; });
  std::vector<Duration> spent;
  s.engine.spawn("probe", [&] {
    auto timed = [&](const std::string& ip, int port) {
      const Duration start = s.engine.now();
      CHECK_FALSE(view.tcp_probe(ip, port, 10s));
      spent.push_back(s.engine.now() - start);
    };
    timed("10.0.20.7", 80);  // refused
    timed("10.0.20.9", 22);  // nobody answers ARP
    s.verdict = {Verdict::block, "rule 'default deny' on interface mgmt"};
    timed("10.0.20.7", 22);  // dropped
  });
  s.engine.run();
  CHECK(spent == std::vector<Duration>{Duration(0), Duration(3s), Duration(10s)});
  CHECK(view.why("10.0.20.7", 22) == "blocked by pfsense: rule 'default deny' on interface mgmt");
}

TEST_CASE("sim network view: http_get reaches the handler of the node that answered, with the Host header") {
  Site s;
  s.net.add_address("k8s-node1", "eth0", "10.0.20.200");
  s.net.listen("k8s-node1", 80, Proto::tcp, "ingress");
  SimNetworkView view(s.engine, s.net, "controller", [](const std::string&) { return std::vector<std::string>{}; });
  std::string got_host, got_path;
  view.serve_http("k8s-node1", 80, [&](const std::string& host, const std::string& path) {
    got_host = host;
    got_path = path;
    drctl::world::HttpResponse ok;
    ok.status = 200;
    ok.body = "ok";
    return ok;
  });
  auto res = view.http_get("http://10.0.20.200/healthz", "grafana.viktorbarzin.me", 5s);
  CHECK(res.status == 200);
  CHECK(res.body == "ok");
  CHECK(got_host == "grafana.viktorbarzin.me");
  CHECK(got_path == "/healthz");
  view.http_get("http://10.0.20.200/", "", 5s);
  CHECK(got_host == "10.0.20.200");

  res = view.http_get("http://10.0.20.8:22/", "", 5s);
  CHECK(res.status == 0);
  CHECK(res.error == "http://10.0.20.8:22/: k8s-node2:22 (sshd) is not an HTTP service");
  res = view.http_get("ftp://10.0.20.200/", "", 5s);
  CHECK(res.status == 0);
  CHECK(has(res.error, "only http:// and https:// URLs are supported"));
  s.net.unlisten("k8s-node1", 80, Proto::tcp);
  res = view.http_get("http://10.0.20.200/", "", 5s);
  CHECK(res.error == "http://10.0.20.200/: connection refused: nothing listens on 10.0.20.200:80/tcp");
}

TEST_CASE("sim network: a connection carries data at its slowest segment's bandwidth, 1 Gbit where none is given") {
  Site s;
  auto reach = s.net.connect("controller", "10.0.20.7", 22, Proto::tcp);
  REQUIRE(reach.outcome == Outcome::connected);
  CHECK(reach.segments == std::vector<std::string>{"management", "cluster"});
  CHECK(s.net.bandwidth(reach) == doctest::Approx(1e9 / 8));
  s.net.set_bandwidth("cluster", 100e6 / 8);
  CHECK(s.net.bandwidth(s.net.connect("controller", "10.0.20.7", 22, Proto::tcp)) == doctest::Approx(100e6 / 8));
  s.net.set_bandwidth("management", 10e6 / 8);  // now the first hop is the slowest
  CHECK(s.net.bandwidth(s.net.connect("controller", "10.0.20.7", 22, Proto::tcp)) == doctest::Approx(10e6 / 8));
  CHECK_THROWS_AS(s.net.set_bandwidth("nowhere", 1), std::out_of_range);
  CHECK_THROWS_AS(s.net.set_bandwidth("cluster", 0), std::invalid_argument);
}
