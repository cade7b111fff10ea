// The simulator's reading of dnsmasq's configuration against the real dnsmasq (2.90, Debian 12's
// dnsmasq-base): the same files are accepted or refused by both, with the same message.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "sim/dnsmasq.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace drctl;

namespace {

/// What the real dnsmasq says of `content` as a configuration file: "" when it accepts it,
/// else its message without the "dnsmasq: " prefix.
std::string real_dnsmasq_verdict(const support::TempDir& t, const std::string& content) {
  const auto file = t.path() / "test.conf";
  support::write_file(file, content);
  const auto r = support::run({"/usr/sbin/dnsmasq", "--test", "--conf-file=" + file.string()});
  REQUIRE_MESSAGE(r.err.find("dnsmasq") != std::string::npos, "dnsmasq --test did not run: " << r.describe());
  if (r.exit_code == 0) return "";
  for (const auto& line : r.err_lines())  // it prints an empty line first
    if (line.rfind("dnsmasq: ", 0) == 0) return line.substr(9);
  return r.err;
}

std::string sim_verdict(const support::TempDir& t, const std::string& content) {
  try {
    sim::parse_dnsmasq({{(t.path() / "test.conf").string(), content}});
    return "";
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("sim dnsmasq: accepts and refuses configuration lines as the real dnsmasq does") {
  support::TempDir t("dnsmasq");
  for (const std::string content : {
           "dhcp-range=203.0.113.0,static,255.255.255.0\ndhcp-host=00:50:56:aa:00:01,203.0.113.11,k8s-master\n",
           "# a comment\n\ndomain=viktorbarzin.lan\ndhcp-boot=pxelinux.0,pxe,203.0.113.5\n",
           "dhcp-range=203.0.113.100,203.0.113.150,12h\ndhcp-option=option:router,203.0.113.1\n",
           "host-record=pxe.viktorbarzin.lan,203.0.113.5\ndhcp-option=option:dns-server,203.0.113.5\n",
           "dhcp-range=203.0.113.0,static\ndhcp-bootfile=pxelinux.0\n",
           "interface=br0\nbind-interfaces\nnot-an-option=1\n",
       }) {
    INFO(content);
    CHECK(sim_verdict(t, content) == real_dnsmasq_verdict(t, content));
  }
}

TEST_CASE("sim dnsmasq: a static range denies unknown clients, and dnsmasq is the boot and DNS server by default") {
  const auto c = sim::parse_dnsmasq({{"/etc/dnsmasq.d/drctl-pxe.conf",
                                      "dhcp-range=203.0.113.0,static,255.255.255.0\n"
                                      "dhcp-host=00:50:56:AA:00:01,203.0.113.11,k8s-master\n"
                                      "dhcp-boot=pxelinux.0\n"}});
  const auto scope = sim::dnsmasq_scope(c, "cluster", "203.0.113.5");
  CHECK(scope.deny_unknown);
  CHECK(scope.reserved.at("00:50:56:aa:00:01") == "203.0.113.11");
  CHECK(scope.next_server == "203.0.113.5");
  CHECK(scope.filename == "pxelinux.0");
  CHECK(scope.dns == "203.0.113.5");
}
