#include <doctest/doctest.h>

#include "sim/dhcp.hpp"
#include "sim/ipv4_text.hpp"

using namespace drctl::sim;

namespace {
DhcpScope cluster() {
  DhcpScope s;
  s.vlan = "cluster";
  s.range_start = "10.0.20.100";
  s.range_end = "10.0.20.101";
  s.reserved = {{"00:50:56:AA:00:01", "10.0.20.10"}};
  s.next_server = "10.0.10.5";
  s.filename = "pxelinux.0";
  return s;
}
}  // namespace

TEST_CASE("sim dhcp: reservations, the pool and PXE options") {
  Engine e(1);
  DhcpServer d(e, {cluster()});
  auto a = d.request("00:50:56:aa:00:01", "cluster");
  REQUIRE(a);
  CHECK(a->ip == "10.0.20.10");
  CHECK(a->next_server == "10.0.10.5");
  CHECK(a->filename == "pxelinux.0");
  CHECK(d.request("00:50:56:aa:00:02", "cluster")->ip == "10.0.20.100");
  CHECK(d.request("00:50:56:aa:00:02", "cluster")->ip == "10.0.20.100");  // same client, same lease
  CHECK(d.request("00:50:56:aa:00:03", "cluster")->ip == "10.0.20.101");
  CHECK_FALSE(d.request("00:50:56:aa:00:04", "cluster"));
  CHECK(e.log_jsonl().find("exhausted") != std::string::npos);
}

TEST_CASE("sim dhcp: the wrong VLAN, a stopped service and denied unknown clients get no lease") {
  Engine e(1);
  DhcpScope strict = cluster();
  strict.deny_unknown = true;
  DhcpServer d(e, {strict});
  CHECK_FALSE(d.request("00:50:56:aa:00:01", "management"));
  CHECK(e.log_jsonl().find("no DHCP server serves VLAN management") != std::string::npos);
  CHECK_FALSE(d.request("00:50:56:aa:00:09", "cluster"));
  CHECK(e.log_jsonl().find("unknown clients are denied") != std::string::npos);
  d.stop();
  CHECK_FALSE(d.request("00:50:56:aa:00:01", "cluster"));
  CHECK(e.log_jsonl().find("the DHCP service is stopped") != std::string::npos);
  d.start();
  CHECK(d.request("00:50:56:aa:00:01", "cluster"));
}

TEST_CASE("sim dhcp: IPv4 parsing") {
  CHECK(ipv4_or_throw("10.0.20.5") == 0x0a001405u);
  CHECK(drctl::format_ipv4(0x0a001405u) == "10.0.20.5");
  CHECK_THROWS_WITH_AS(ipv4_or_throw("10.0.20"), "'10.0.20' is not an IPv4 address", std::invalid_argument);
  CHECK_THROWS_AS(ipv4_or_throw("10.0.20.256"), std::invalid_argument);
  CHECK_THROWS_AS(ipv4_or_throw("10.0.20.5.1"), std::invalid_argument);
  CHECK_THROWS_AS(ipv4_or_throw("a.b.c.d"), std::invalid_argument);
}

TEST_CASE("sim dhcp: a client known on another VLAN is known everywhere unless only this VLAN's count") {
  // ISC dhcpd's `deny unknown-clients` (pfSense's denyunknown "enabled") denies clients with no host
  // declaration anywhere in dhcpd.conf; pfSense's "class" allows only this interface's mappings.
  Engine e(1);
  DhcpScope management;
  management.vlan = "management";
  management.range_start = "10.0.10.100";
  management.range_end = "10.0.10.101";
  management.deny_unknown = true;
  management.known_here_only = false;
  DhcpServer any(e, {cluster(), management});
  auto lease = any.request("00:50:56:aa:00:01", "management");  // reserved on cluster
  REQUIRE(lease);
  CHECK(lease->ip == "10.0.10.100");
  CHECK_FALSE(any.request("00:50:56:aa:00:77", "management"));
  CHECK(any.last_refusal() == "MAC 00:50:56:aa:00:77 has no reservation on any interface and unknown clients are denied");

  management.known_here_only = true;
  DhcpServer here(e, {cluster(), management});
  CHECK_FALSE(here.request("00:50:56:aa:00:01", "management"));
  CHECK(here.last_refusal() == "MAC 00:50:56:aa:00:01 has no reservation and unknown clients are denied");
}
