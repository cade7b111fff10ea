// verify.dns against a real DNS server: dnsmasq in a visitor's network namespace answers a host
// record on 127.0.0.1 (which only the visitor reaches) and on the visitor's address (which
// drctl's namespace reaches too). From the visitor drctl asks with dig over SSH
// (world::real::HostNetwork); from its own machine with libresolv (SocketNetwork). The expected
// answers are the record dnsmasq was given, and for what fails, what dig itself prints for the
// same query from the same place.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "support/visitor_lab.hpp"

namespace {

namespace fs = std::filesystem;

const std::string kPort = "5353";

/// dnsmasq in `ns` on 127.0.0.1 and `address`, port 5353: one record, no upstream, no /etc/hosts.
struct Dnsmasq {
  std::unique_ptr<support::Process> process;
  Dnsmasq(const std::string& ns, const std::string& address) {
    process = std::make_unique<support::Process>(support::NetnsLab::in(
        ns, {"dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--pid-file=", "--no-resolv", "--no-hosts",
             "--bind-interfaces", "--listen-address=127.0.0.1", "--listen-address=" + address, "--port=" + kPort,
             "--user=root", "--host-record=pxe.example.lan,10.0.10.5"}));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (dig(ns, "127.0.0.1", "pxe.example.lan").find("10.0.10.5") == std::string::npos) {
      if (!process->running() || std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("dnsmasq did not start: " + process->err_so_far());
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  static std::string dig(const std::string& ns, const std::string& server, const std::string& name) {
    auto r = support::run(
        support::NetnsLab::in(ns, {"dig", "+time=2", "+tries=1", "-p", kPort, "@" + server, name, "A"}));
    return r.out + r.err;
  }
};

/// The status dig's header gives ("NOERROR", "NXDOMAIN", "REFUSED" …).
std::string status_of(const std::string& dig_out) {
  const auto at = dig_out.find("status: ");
  REQUIRE_MESSAGE(at != std::string::npos, dig_out);
  return dig_out.substr(at + 8, dig_out.find(',', at) - at - 8);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

TEST_CASE("verify.dns from a visitor and from drctl's machine: the record dnsmasq serves, and what dig says when it fails") {
  support::VisitorLab lab("public-dns");
  Dnsmasq dns(lab.visitor_ns(), lab.net.address(1));
  auto check = [&](const std::string& name, const std::string& with) { return lab.run_step(name, "verify.dns", with); };
  const std::string quick = ", timeout: 3s, interval: 1s";

  // From the visitor, its own loopback: dig there gets the record.
  auto r = check("visitor", "{server: '127.0.0.1:5353', name: pxe.example.lan, expect: 10.0.10.5, from: visitor" + quick + "}");
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  // From drctl's machine, the visitor's address: libresolv's query gets the same record.
  r = check("local", "{server: '" + lab.net.address(1) + ":5353', name: pxe.example.lan, expect: 10.0.10.5" + quick + "}");
  CHECK_MESSAGE(r.exit_code == 0, r.describe());

  // Another address expected: the answer's is named.
  r = check("wrong", "{server: '127.0.0.1:5353', name: pxe.example.lan, expect: 10.0.10.6, from: visitor" + quick + "}");
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("DNS 127.0.0.1:5353 from visitor: pxe.example.lan is 10.0.10.5, not 10.0.10.6") != std::string::npos, r.err);

  // A name dnsmasq has no record for, asked both ways: the status dig reports for it.
  const std::string status = status_of(Dnsmasq::dig(lab.visitor_ns(), "127.0.0.1", "nosuch.example.lan"));
  r = check("unknown-visitor", "{server: '127.0.0.1:5353', name: nosuch.example.lan, from: visitor" + quick + "}");
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find("from visitor: nosuch.example.lan: " + status) != std::string::npos, std::string(status + "\n" + r.err));
  r = check("unknown-local", "{server: '" + lab.net.address(1) + ":5353', name: nosuch.example.lan" + quick + "}");
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(r.err.find(": nosuch.example.lan: " + status) != std::string::npos, std::string(status + "\n" + r.err));

  // drctl's machine's own loopback: nothing listens there, and dig says why; so does drctl.
  const std::string dig_there = lower(Dnsmasq::dig(lab.net.operator_ns(), "127.0.0.1", "pxe.example.lan"));
  REQUIRE_MESSAGE(dig_there.find("connection refused") != std::string::npos, dig_there);
  r = check("nothing-there", "{server: '127.0.0.1:5353', name: pxe.example.lan" + quick + "}");
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  CHECK_MESSAGE(lower(r.err).find("no answer to pxe.example.lan: connection refused") != std::string::npos, r.err);

  // A server that is not an address: refused before anything is sent.
  r = check("bad-server", "{server: '[::1', name: pxe.example.lan" + quick + "}");
  CHECK_MESSAGE(r.exit_code != 0, r.describe());
  CHECK_MESSAGE(r.err.find("opens '[' and never closes it") != std::string::npos, r.err);
}
