#include <doctest/doctest.h>

#include <set>

#include "sim/metallb.hpp"

using namespace drctl::sim;
using nlohmann::json;

namespace {

// The versions the site may pin: 0.12 reads the legacy ConfigMap, 0.13+ the CRDs.
const Version kLegacy = parse_version("0.12.1");
const Version kCrds = parse_version("0.13.12");

// The seed's MetalLB configuration, as the legacy ConfigMap.
json legacy_config(const std::string& pools_yaml) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"namespace", "metallb-system"}, {"name", "config"}}},
          {"data", {{"config", pools_yaml}}}};
}

const char* kSeedPools =
    "address-pools:\n"
    "- name: default\n"
    "  protocol: layer2\n"
    "  addresses:\n"
    "  - 10.0.20.200-10.0.20.220\n";

json ip_address_pool(const std::string& name, const std::vector<std::string>& addresses) {
  return {{"apiVersion", "metallb.io/v1beta1"},
          {"kind", "IPAddressPool"},
          {"metadata", {{"namespace", "metallb-system"}, {"name", name}}},
          {"spec", {{"addresses", addresses}}}};
}

json l2_advertisement(const std::vector<std::string>& pools) {
  json l2 = {{"apiVersion", "metallb.io/v1beta1"},
             {"kind", "L2Advertisement"},
             {"metadata", {{"namespace", "metallb-system"}, {"name", "l2"}}},
             {"spec", json::object()}};
  if (!pools.empty()) l2["spec"]["ipAddressPools"] = pools;
  return l2;
}

MetalConfig seed_config() { return read_metallb_config({legacy_config(kSeedPools)}, kLegacy); }

// A LoadBalancer Service "ns/name" with (port, protocol) pairs.
json lb(const std::string& ns, const std::string& name, const std::vector<std::pair<int, std::string>>& ports,
        const json& annotations = json::object(), const std::string& policy = "Cluster",
        const json& selector = json::object()) {
  json s = {{"apiVersion", "v1"},
            {"kind", "Service"},
            {"metadata", {{"namespace", ns}, {"name", name}, {"annotations", annotations}}},
            {"spec", {{"type", "LoadBalancer"}, {"externalTrafficPolicy", policy}, {"selector", selector}}}};
  for (const auto& [port, proto] : ports) s["spec"]["ports"].push_back({{"port", port}, {"protocol", proto}});
  return s;
}

json shared(const std::string& key) { return {{"metallb.universe.tf/allow-shared-ip", key}}; }

// The seed's wireguard Service, as in the blog post.
json seed_wireguard() {
  return json::parse(R"({
    "apiVersion": "v1", "kind": "Service",
    "metadata": {"annotations": {"metallb.universe.tf/allow-shared-ip": "shared"},
                 "labels": {"app": "wireguard"}, "name": "wireguard", "namespace": "wireguard"},
    "spec": {"type": "LoadBalancer", "externalTrafficPolicy": "Cluster", "selector": {"app": "wireguard"},
             "ports": [{"port": 51820, "protocol": "UDP", "targetPort": 51820}]}})");
}

// The ingress controller's Service, sharing the same key.
json ingress_controller() {
  return lb("ingress-nginx", "ingress-nginx-controller", {{80, "TCP"}, {443, "TCP"}}, shared("shared"), "Cluster",
            {{"app.kubernetes.io/name", "ingress-nginx"}});
}

}  // namespace

TEST_CASE("sim metallb: the seed's pool in the legacy ConfigMap and as CRDs assigns its first addresses") {
  const MetalConfig legacy = seed_config();
  REQUIRE(legacy.errors.empty());
  REQUIRE(legacy.pools.size() == 1);
  CHECK(legacy.pools[0].name == "default");
  CHECK(legacy.pools[0].ranges == std::vector<std::string>{"10.0.20.200-10.0.20.220"});
  CHECK(legacy.pools[0].announced);

  const MetalConfig crd =
      read_metallb_config({ip_address_pool("default", {"10.0.20.200-10.0.20.220"}), l2_advertisement({})}, kCrds);
  REQUIRE(crd.errors.empty());
  REQUIRE(crd.pools.size() == 1);
  CHECK(crd.pools[0].announced);

  for (const MetalConfig* config : {&legacy, &crd}) {
    auto a = assign_ips(*config, {lb("web", "one", {{80, "TCP"}}), lb("web", "two", {{80, "TCP"}})}, {});
    REQUIRE(a.size() == 2);
    CHECK(a[0].ip == "10.0.20.200");
    CHECK(a[1].ip == "10.0.20.201");
    CHECK(a[1].ns == "web");
    CHECK(a[1].name == "two");
    CHECK(a[1].pending_reason.empty());
  }
}

TEST_CASE("sim metallb: a pool only an L2Advertisement names is announced, and ClusterIP Services get nothing") {
  const MetalConfig config =
      read_metallb_config({ip_address_pool("web", {"10.0.20.200/30"}), ip_address_pool("bgp-only", {"10.0.99.0/24"}),
                           l2_advertisement({"web"})},
                          kCrds);
  REQUIRE(config.errors.empty());
  REQUIRE(config.pools.size() == 2);
  CHECK(config.pools[0].announced);
  CHECK_FALSE(config.pools[1].announced);  // not announced in layer 2, so not held to the cluster subnet

  json cluster_ip = lb("web", "internal", {{80, "TCP"}});
  cluster_ip["spec"]["type"] = "ClusterIP";
  auto a = assign_ips(config, {cluster_ip, lb("web", "public", {{80, "TCP"}})}, {});
  REQUIRE(a.size() == 1);
  CHECK(a[0].name == "public");
  CHECK(a[0].ip == "10.0.20.200");
}

// MetalLB does not compare a pool with the nodes' subnets (internal/config validates ranges,
// overlaps and names only, v0.13.12): it assigns from it, and the VIP is simply unreachable.
TEST_CASE("sim metallb: a pool outside the nodes' subnet is accepted and assigns its addresses") {
  const MetalConfig legacy = read_metallb_config({legacy_config("address-pools:\n"
                                                                "- name: wrong-vlan\n"
                                                                "  protocol: layer2\n"
                                                                "  addresses: [10.0.30.200-10.0.30.220]\n")},
                                                 kLegacy);
  CHECK(legacy.errors.empty());
  REQUIRE(legacy.pools.size() == 1);
  auto a = assign_ips(legacy, {lb("web", "blog", {{80, "TCP"}})}, {});
  REQUIRE(a.size() == 1);
  CHECK(a[0].ip == "10.0.30.200");

  const MetalConfig crd = read_metallb_config({ip_address_pool("far", {"192.168.5.0/28"}), l2_advertisement({})}, kCrds);
  CHECK(crd.errors.empty());
  REQUIRE(crd.pools.size() == 1);
  a = assign_ips(crd, {lb("web", "blog", {{80, "TCP"}})}, {});
  CHECK(a[0].ip == "192.168.5.0");  // a CIDR pool hands out its first address too (avoidBuggyIPs is off)
}

// Up to 0.12 MetalLB is configured by its ConfigMap; from 0.13 by CRDs only (metallb.universe.tf
// "Migration to CRDs": "Up until release v0.12 MetalLB was configured via MetalLB's ConfigMap").
TEST_CASE("sim metallb: the pinned version decides which configuration is read") {
  const std::vector<json> both = {legacy_config(kSeedPools), ip_address_pool("crd", {"10.0.20.230/31"}), l2_advertisement({})};
  const MetalConfig v13 = read_metallb_config(both, kCrds);
  REQUIRE(v13.pools.size() == 1);
  CHECK(v13.pools[0].name == "crd");
  REQUIRE(v13.errors.size() == 1);
  CHECK(v13.errors[0] ==
        "ConfigMap metallb-system/config is ignored: MetalLB 0.13.12 reads only IPAddressPool and L2Advertisement "
        "objects (the ConfigMap was read up to 0.12)");
  const MetalConfig v12 = read_metallb_config(both, kLegacy);
  REQUIRE(v12.pools.size() == 1);
  CHECK(v12.pools[0].name == "default");
  REQUIRE(v12.errors.size() == 2);
  CHECK(v12.errors[0] ==
        "IPAddressPool metallb-system/crd is ignored: MetalLB 0.12.1 reads only the ConfigMap metallb-system/config "
        "(the CRDs came in 0.13)");
  // The ConfigMap alone on 0.13: no pools, and Services stay pending.
  const MetalConfig only_cm = read_metallb_config({legacy_config(kSeedPools)}, kCrds);
  CHECK(only_cm.pools.empty());
  CHECK(assign_ips(only_cm, {lb("web", "blog", {{80, "TCP"}})}, {})[0].pending_reason == "no MetalLB address pool is configured");
}

TEST_CASE("sim metallb: configurations MetalLB itself refuses name the cause") {
  auto legacy_errors = [](const std::string& yaml) { return read_metallb_config({legacy_config(yaml)}, kLegacy); };

  MetalConfig bad_range =
      legacy_errors("address-pools:\n- name: default\n  protocol: layer2\n  addresses: [10.0.20.220-10.0.20.200]\n");
  CHECK(bad_range.pools.empty());
  REQUIRE(bad_range.errors.size() == 1);
  CHECK(bad_range.errors[0] ==
        "ConfigMap metallb-system/config rejected, MetalLB keeps no pools: parsing address pool #1: invalid CIDR "
        "\"10.0.20.220-10.0.20.200\" in pool \"default\": invalid IP range \"10.0.20.220-10.0.20.200\": start IP "
        "\"10.0.20.220\" is after the end IP \"10.0.20.200\"");

  // One bad pool rejects the whole ConfigMap, the good one with it.
  MetalConfig second_bad = legacy_errors(
      "address-pools:\n- name: a\n  protocol: layer2\n  addresses: [10.0.20.200/29]\n"
      "- name: b\n  protocol: layer2\n  addresses: [10.0.20.204-10.0.20.210]\n");
  CHECK(second_bad.pools.empty());
  REQUIRE(second_bad.errors.size() == 1);
  CHECK(second_bad.errors[0].find("parsing address pool #2: CIDR \"10.0.20.204-10.0.20.210\" in pool \"b\" overlaps "
                                  "with already defined CIDR \"10.0.20.200/29\"") != std::string::npos);

  MetalConfig no_protocol = legacy_errors("address-pools:\n- name: a\n  addresses: [10.0.20.200/29]\n");
  REQUIRE(no_protocol.errors.size() == 1);
  CHECK(no_protocol.errors[0].find("address pool is missing the protocol field") != std::string::npos);

  MetalConfig bgp = legacy_errors("address-pools:\n- name: a\n  protocol: bgp\n  addresses: [10.0.20.200/29]\n");
  CHECK(bgp.pools.empty());
  REQUIRE(bgp.errors.size() == 1);
  CHECK(bgp.errors[0] ==
        "pool \"a\" rejected: protocol bgp but the configuration has no peers, so nothing announces it");

  // A CRD pool is refused on its own; the others stay.
  MetalConfig crd = read_metallb_config(
      {ip_address_pool("good", {"10.0.20.200/30"}), ip_address_pool("typo", {"10.0.20.3OO/30"}), l2_advertisement({})},
      kCrds);
  REQUIRE(crd.pools.size() == 1);
  CHECK(crd.pools[0].name == "good");
  REQUIRE(crd.errors.size() == 1);
  CHECK(crd.errors[0] ==
        "IPAddressPool metallb-system/typo rejected: invalid CIDR \"10.0.20.3OO/30\" in pool \"typo\": invalid CIDR "
        "\"10.0.20.3OO/30\"");
}

TEST_CASE("sim metallb: two Services sharing an IP on the same port leave the second pending") {
  json first = lb("a", "first", {{80, "TCP"}}, shared("k"));
  json second = lb("b", "second", {{80, "TCP"}}, shared("k"));
  first["spec"]["loadBalancerIP"] = "10.0.20.200";
  second["spec"]["loadBalancerIP"] = "10.0.20.200";
  auto a = assign_ips(seed_config(), {first, second}, {});
  REQUIRE(a.size() == 2);
  CHECK(a[0].ip == "10.0.20.200");
  CHECK(a[1].ip.empty());
  CHECK(a[1].pending_reason ==
        "Failed to allocate IP for \"b/second\": port TCP/80 is already in use on \"10.0.20.200\"");

  // The same port number over UDP does not collide.
  second["spec"]["ports"][0]["protocol"] = "UDP";
  a = assign_ips(seed_config(), {first, second}, {});
  CHECK(a[1].ip == "10.0.20.200");
}

TEST_CASE("sim metallb: different sharing keys, or no key, leave the second Service pending") {
  json first = lb("a", "first", {{80, "TCP"}}, shared("one"));
  json second = lb("b", "second", {{443, "TCP"}},
                   {{"metallb.io/allow-shared-ip", "two"}, {"metallb.io/loadBalancerIPs", "10.0.20.200"}});
  auto a = assign_ips(seed_config(), {first, second}, {});
  CHECK(a[0].ip == "10.0.20.200");
  CHECK(a[1].ip.empty());
  CHECK(a[1].pending_reason ==
        "Failed to allocate IP for \"b/second\": can't change sharing key for \"b/second\", address also in use by "
        "a/first");

  json unshared = lb("c", "plain", {{8080, "TCP"}});
  unshared["spec"]["loadBalancerIP"] = "10.0.20.200";
  a = assign_ips(seed_config(), {first, unshared}, {});
  CHECK(a[1].pending_reason.find("address also in use by a/first") != std::string::npos);

  // Without a requested IP the second simply gets the next free address.
  a = assign_ips(seed_config(), {first, lb("b", "second", {{443, "TCP"}}, shared("two"))}, {});
  CHECK(a[1].ip == "10.0.20.201");
}

TEST_CASE("sim metallb: with externalTrafficPolicy Local only identical selectors share") {
  const json sel = {{"app", "mail"}};
  json smtp = lb("mail", "smtp", {{25, "TCP"}}, shared("mail"), "Local", sel);
  json imap = lb("mail", "imap", {{993, "TCP"}}, shared("mail"), "Local", sel);
  json other = lb("mail", "webmail", {{8443, "TCP"}}, shared("mail"), "Local", {{"app", "webmail"}});
  json cluster = lb("mail", "submission", {{587, "TCP"}}, shared("mail"), "Cluster", sel);
  for (json* s : {&imap, &other, &cluster}) (*s)["spec"]["loadBalancerIP"] = "10.0.20.200";
  auto a = assign_ips(seed_config(), {smtp, imap, other, cluster}, {});
  REQUIRE(a.size() == 4);
  CHECK(a[0].ip == "10.0.20.200");
  CHECK(a[1].ip == "10.0.20.200");
  CHECK(a[2].pending_reason.find("can't change sharing key for \"mail/webmail\", address also in use by "
                                 "mail/smtp,mail/imap") != std::string::npos);
  CHECK(a[3].pending_reason.find("can't change sharing key for \"mail/submission\"") != std::string::npos);
}

TEST_CASE("sim metallb: the seed's wireguard and the ingress controller share 10.0.20.200") {
  const json plain = lb("web", "other", {{8080, "TCP"}});
  for (const auto& services : {std::vector<json>{ingress_controller(), seed_wireguard(), plain},
                               std::vector<json>{seed_wireguard(), ingress_controller(), plain}}) {
    auto a = assign_ips(seed_config(), services, {});
    REQUIRE(a.size() == 3);
    CHECK(a[0].ip == "10.0.20.200");
    CHECK(a[1].ip == "10.0.20.200");
    CHECK(a[2].ip == "10.0.20.201");  // no sharing key: an address of its own
  }
}

TEST_CASE("sim metallb: a requested IP outside the pools, an exhausted pool and an unknown pool stay pending") {
  json outside = lb("web", "outside", {{80, "TCP"}});
  outside["spec"]["loadBalancerIP"] = "10.0.20.50";
  auto a = assign_ips(seed_config(), {outside}, {});
  CHECK(a[0].pending_reason == "Failed to allocate IP for \"web/outside\": [\"10.0.20.50\"] is not allowed in config");

  const MetalConfig small = read_metallb_config({legacy_config("address-pools:\n"
                                                               "- name: small\n"
                                                               "  protocol: layer2\n"
                                                               "  addresses: [10.0.20.200-10.0.20.201]\n")},
                                                kLegacy);
  a = assign_ips(small, {lb("w", "a", {{80, "TCP"}}), lb("w", "b", {{80, "TCP"}}), lb("w", "c", {{80, "TCP"}})}, {});
  CHECK(a[0].ip == "10.0.20.200");
  CHECK(a[1].ip == "10.0.20.201");
  CHECK(a[2].ip.empty());
  CHECK(a[2].pending_reason == "Failed to allocate IP for \"w/c\": no available IPs");

  a = assign_ips(small,
                 {lb("w", "a", {{80, "TCP"}}), lb("w", "b", {{80, "TCP"}}),
                  lb("w", "c", {{80, "TCP"}}, {{"metallb.universe.tf/address-pool", "small"}}),
                  lb("w", "d", {{80, "TCP"}}, {{"metallb.universe.tf/address-pool", "big"}})},
                 {});
  CHECK(a[2].pending_reason == "Failed to allocate IP for \"w/c\": no available IPs in pool \"small\"");
  CHECK(a[3].pending_reason == "Failed to allocate IP for \"w/d\": unknown pool \"big\"");
}

TEST_CASE("sim metallb: auto-assign false pools are used only on request") {
  const MetalConfig config = read_metallb_config({legacy_config("address-pools:\n"
                                                                "- name: reserved\n"
                                                                "  protocol: layer2\n"
                                                                "  auto-assign: false\n"
                                                                "  addresses: [10.0.20.190/32]\n"
                                                                "- name: default\n"
                                                                "  protocol: layer2\n"
                                                                "  addresses: [10.0.20.200/32]\n")},
                                                 kLegacy);
  REQUIRE(config.pools.size() == 2);
  auto a =
      assign_ips(config,
                 {lb("w", "a", {{80, "TCP"}}), lb("w", "b", {{80, "TCP"}}, {{"metallb.io/address-pool", "reserved"}}),
                  lb("w", "c", {{80, "TCP"}})},
                 {});
  CHECK(a[0].ip == "10.0.20.200");
  CHECK(a[1].ip == "10.0.20.190");
  CHECK(a[2].pending_reason == "Failed to allocate IP for \"w/c\": no available IPs");
}

TEST_CASE("sim metallb: previous assignments stay while still valid") {
  const std::vector<json> services = {lb("web", "new", {{80, "TCP"}}), lb("web", "old", {{80, "TCP"}})};
  // The old Service keeps its address even though the new one comes first and would take the first free.
  auto a = assign_ips(seed_config(), services, {{"web/old", "10.0.20.200"}});
  CHECK(a[1].ip == "10.0.20.200");
  CHECK(a[0].ip == "10.0.20.201");
  a = assign_ips(seed_config(), services, {{"web/old", "10.0.20.207"}, {"web/new", "10.0.20.211"}});
  CHECK(a[0].ip == "10.0.20.211");
  CHECK(a[1].ip == "10.0.20.207");

  // An address no pool holds any more is given up, and the Service gets a new one.
  a = assign_ips(seed_config(), services, {{"web/old", "10.0.20.150"}});
  CHECK(a[0].ip == "10.0.20.200");
  CHECK(a[1].ip == "10.0.20.201");
}

TEST_CASE("sim metallb: one speaker answers for a VIP, the same every time, another when it leaves") {
  const std::vector<std::string> nodes = {"k8s-master", "k8s-node1", "k8s-node2", "k8s-node3"};
  const std::string holder = announcing_node("10.0.20.200", nodes);
  REQUIRE(!holder.empty());
  CHECK(announcing_node("10.0.20.200", nodes) == holder);
  CHECK(announcing_node("10.0.20.200", {nodes.rbegin(), nodes.rend()}) == holder);  // order of the list is irrelevant

  std::vector<std::string> without = nodes;
  std::erase(without, holder);
  const std::string next = announcing_node("10.0.20.200", without);
  CHECK(!next.empty());
  CHECK(next != holder);
  // Removing a node that is not the holder changes nothing.
  std::vector<std::string> without_other = nodes;
  std::erase(without_other, next);
  CHECK(announcing_node("10.0.20.200", without_other) == holder);

  CHECK(announcing_node("10.0.20.200", {}).empty());

  // The hash spreads the pool's VIPs over several nodes.
  std::set<std::string> holders;
  for (int i = 200; i <= 220; ++i) holders.insert(announcing_node("10.0.20." + std::to_string(i), nodes));
  CHECK(holders.size() > 1);
}

// speaker/layer2_controller.go, ShouldAnnounce (v0.13.12): no active endpoint, nobody announces;
// with externalTrafficPolicy Local only speakers on a node with a ready endpoint (usableNodes).
TEST_CASE("sim metallb: only nodes eligible by the Services' ready endpoints announce a VIP") {
  const std::vector<std::string> speakers = {"k8s-node1", "k8s-node2", "k8s-node3"};
  CHECK(announcing_nodes({{false, {}}}, speakers).empty());
  CHECK(announcing_nodes({{true, {}}}, speakers).empty());
  CHECK(announcing_nodes({{false, {"k8s-node2"}}}, speakers) == speakers);
  CHECK(announcing_nodes({{true, {"k8s-node2", "k8s-node2"}}}, speakers) == std::vector<std::string>{"k8s-node2"});
  CHECK(announcing_nodes({{true, {"k8s-master"}}}, speakers).empty());  // its node has no speaker
  // Two Services on one VIP: the one with endpoints makes it announced.
  CHECK(announcing_nodes({{false, {}}, {true, {"k8s-node3"}}}, speakers) == std::vector<std::string>{"k8s-node3"});
  CHECK(announcing_node("10.0.20.200", announcing_nodes({{true, {"k8s-node3"}}}, speakers)) == "k8s-node3");
}
