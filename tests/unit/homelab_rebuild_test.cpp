// runbooks/homelab/rebuild.yaml against the simulated homelab: from empty hardware to services
// answering through the shared VIP, and a second run on the rebuilt site changing nothing.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "actions/action.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "support/homelab.hpp"
#include "sim/sim_world.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"

#include <fstream>

using namespace drctl;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

using support::failures;
using support::homelab;
using support::homelab_with;
using support::result_of;

TEST_CASE("homelab: rebuild.yaml takes the simulated site from empty hardware to services on the shared VIP") {
  support::TempDir t("homelab");
  sim::SimWorld world(runbook::load_site((homelab() / "site.yaml").string()).world_json(), 1);
  auto first = support::rebuild_homelab(world, t.path() / "state");  // its wall time is tools/bench/drill's to measure
  REQUIRE_MESSAGE(first.ok(), failures(first));
  CHECK(world.engine().now() < std::chrono::minutes(45));
  // Every web host answers through the ingress VIP from its own backend.
  for (const std::string app : {"blog", "hackmd", "privatebin"}) {
    const std::string host = app == "blog" ? "www.viktorbarzin.me" : app + ".viktorbarzin.me";
    auto r = world.http("drctl", "10.0.20.200", 80, false, host, "/");
    CHECK_MESSAGE(r.status == 200, std::string(host + ": " + r.error));
    CHECK(r.body.find(app) != std::string::npos);
  }
  CHECK(world.http("drctl", "10.0.20.200", 443, true, "www.viktorbarzin.me", "/").status == 200);
  // A visitor on the internet reaches them through the border router's public IPv6 address (its
  // forwards to the VIP); the checks from there need drctl's SSH login to it.
  auto visited = world.network_from("visitor").http_get("http://[2a00:4802:360::136]/", "hackmd.viktorbarzin.me", 5s);
  CHECK_MESSAGE(visited.status == 200, visited.error);
  CHECK(visited.body.find("hackmd") != std::string::npos);
  auto tls = world.network_from("visitor").http_get("https://[2a00:4802:360::136]/", "www.viktorbarzin.me", 5s);
  CHECK_MESSAGE(tls.status == 200, tls.error);
  CHECK(std::find(tls.tls_names.begin(), tls.tls_names.end(), "www.viktorbarzin.me") != tls.tls_names.end());
  const auto keys = world.system("visitor")->get_file("/home/wizard/.ssh/authorized_keys");
  REQUIRE(keys);
  world.system("visitor")->put_file("/home/wizard/.ssh/authorized_keys", "", 0600);
  auto locked_out = world.network_from("visitor").http_get("http://[2a00:4802:360::136]/", "hackmd.viktorbarzin.me", 5s);
  CHECK(locked_out.status == 0);
  CHECK_MESSAGE(locked_out.error.find("ssh: visitor: wizard@2a00:4802:360::beef: Permission denied (publickey)") != std::string::npos,
                locked_out.error);
  world.system("visitor")->put_file("/home/wizard/.ssh/authorized_keys", *keys, 0600);
  CHECK(&world.network_from("drctl") == &world.network());
  CHECK_THROWS_AS(world.network_from("nobody"), std::out_of_range);
  // IMAPS and wireguard share the ingress's IP.
  CHECK(world.net().connect("drctl", "10.0.20.200", 993, sim::Proto::tcp).outcome == sim::SimNetwork::Outcome::connected);
  CHECK(world.net().connect("drctl", "10.0.20.200", 51820, sim::Proto::udp).outcome == sim::SimNetwork::Outcome::connected);
  CHECK(world.load_balancer_ips().at("mail/mailserver") == "10.0.20.200");
  CHECK(world.load_balancer_ips().at("wireguard/wireguard") == "10.0.20.200");
  CHECK(world.check_invariants(true).empty());
  // The workers joined with the token in a root-only JoinConfiguration, never on a command line,
  // and the file is gone.
  int joins = 0;
  for (const auto& e : world.engine().events()) {
    if (e.value("event", "") != "command") continue;
    const std::string script = e.value("script", "");
    CHECK_MESSAGE(script.find("--token") == std::string::npos, script);
    joins += script.find("kubeadm join --config /var/tmp/drctl-kubeadm-join.yaml") != std::string::npos;
  }
  CHECK(joins == 3);
  for (const std::string w : {"k8s-node1", "k8s-node2", "k8s-node3"})
    CHECK_FALSE(world.host(w).get_file("/var/tmp/drctl-kubeadm-join.yaml").has_value());
  // The same runbook on the rebuilt site finds everything in place.
  auto second = support::rebuild_homelab(world, t.path() / "state");
  REQUIRE_MESSAGE(second.ok(), failures(second));
  std::string applied;
  for (const auto& r : second.results)
    if (r.status == runbook::Status::Done) applied += r.id + " ";
  CHECK_MESSAGE(applied.empty(), std::string("applied again: " + applied));
}

TEST_CASE("homelab: pxe.render writes the menu, one entry per node's MAC and the kickstart with the secrets") {
  support::TempDir t("homelab-pxe");
  const runbook::Site site = runbook::load_site((homelab() / "site.yaml").string());
  sim::SimWorld world(site.world_json(), 3);
  auto run = support::rebuild_homelab(world, t.path() / "state");
  REQUIRE_MESSAGE(run.ok(), failures(run));
  sim::SimHost* pxe = world.system("pxe");
  REQUIRE(pxe);
  CHECK(pxe->get_file("/tftpboot/pxelinux.cfg/default")->find("MENU DEFAULT") != std::string::npos);
  const auto entry = pxe->get_file("/tftpboot/pxelinux.cfg/01-00-50-56-aa-00-03");
  REQUIRE(entry);
  CHECK(entry->find("hostname=k8s-node2") != std::string::npos);
  const auto ks = pxe->get_file("/tftpboot/ks.cfg");
  REQUIRE(ks);
  CHECK(ks->find(site.secrets.at("password_hash")) != std::string::npos);
  CHECK(ks->find(site.secrets.at("ssh_key")) != std::string::npos);
  // The secrets are in the kickstart, never in what drctl recorded.
  std::string journal;
  for (const auto& e : fs::recursive_directory_iterator(t.path() / "state"))
    if (e.is_regular_file()) journal += support::read_file(e.path());
  CHECK(journal.find(site.secrets.at("password_hash")) == std::string::npos);
}

TEST_CASE("homelab: pxe.render refuses a DHCP server that sends network boots elsewhere") {
  support::TempDir t("homelab-dhcp");
  fs::copy(homelab(), t.path() / "homelab", fs::copy_options::recursive);
  const fs::path config = t.path() / "homelab/kit/pfsense-config.xml";
  std::string xml = support::read_file(config);
  const std::string next = "<nextserver>10.0.10.5</nextserver>";
  REQUIRE(xml.find(next) != std::string::npos);
  xml.replace(xml.find(next), next.size(), "<nextserver>10.0.10.9</nextserver>");
  std::ofstream(config) << xml;
  sim::SimWorld world(runbook::load_site((t.path() / "homelab/site.yaml").string()).world_json(), 1);
  auto run = support::rebuild_homelab(world, t.path() / "state", t.path() / "homelab");
  CHECK_FALSE(run.ok());
  bool named = false;
  for (const auto& r : run.results)
    if (r.id == "pxe-config")
      named = r.status == runbook::Status::Failed &&
              r.error.find("pfsense's DHCP does not name this PXE server (10.0.10.5) as next-server") != std::string::npos;
  CHECK_MESSAGE(named, failures(run));
}


TEST_CASE("homelab: dhcp.render refuses nodes that boot on different networks") {
  support::TempDir t("homelab-dnsmasq-nets");
  fs::path dir = homelab_with(t.path() / "homelab", "dhcp: {kind: pfsense, host: pfsense}", "dhcp: {kind: dnsmasq, host: pxe}");
  std::string site = support::read_file(dir / "site.yaml");
  const std::string nic = "nics: [{network: cluster, mac: \"00:50:56:aa:00:03\"}]";
  REQUIRE(site.find(nic) != std::string::npos);
  site.replace(site.find(nic), nic.size(), "nics: [{network: management, mac: \"00:50:56:aa:00:03\"}]");
  std::ofstream(dir / "site.yaml") << site;
  sim::SimWorld world(runbook::load_site((dir / "site.yaml").string()).world_json(), 1);
  auto run = support::rebuild_homelab(world, t.path() / "state", dir);
  const auto* step = result_of(run, "dhcp-config");
  REQUIRE(step);
  CHECK(step->status == runbook::Status::Failed);
  CHECK(step->error.find("k8s-master boots on network 'cluster' but k8s-node2 on 'management'") != std::string::npos);
}

namespace {

/// The homelab with dnsmasq on the PXE server as the nodes' DHCP server: the PXE server moves to
/// the nodes' network (a DHCP broadcast does not cross pfSense), where pfSense's DHCP keeps only
/// its reservation and denies unknown clients, so the nodes' requests are dnsmasq's to answer.
fs::path dnsmasq_homelab(const fs::path& dir) {
  homelab_with(dir, "dhcp: {kind: pfsense, host: pfsense}", "dhcp: {kind: dnsmasq, host: pxe}");
  std::string site = support::read_file(dir / "site.yaml");
  for (const auto& [from, to] : {std::pair<std::string, std::string>{"address: 10.0.10.5", "address: 10.0.20.5"},
                                 {"nics: [{network: management, mac: \"00:50:56:aa:10:05\"}]",
                                  "nics: [{network: cluster, mac: \"00:50:56:aa:10:05\"}]"}}) {
    REQUIRE(site.find(from) != std::string::npos);
    site.replace(site.find(from), from.size(), to);
  }
  std::ofstream(dir / "site.yaml") << site;
  std::string xml = support::read_file(dir / "kit/pfsense-config.xml");
  const auto dhcpd = xml.find("<dhcpd>");
  const auto begin = xml.find("<opt1>", dhcpd), end = xml.find("</opt1>", begin) + 7;
  REQUIRE(begin != std::string::npos);
  xml.replace(begin, end - begin,
              "<opt1><enable/><denyunknown>enabled</denyunknown><staticmap><mac>00:50:56:aa:10:05</mac><cid/>"
              "<ipaddr>10.0.20.5</ipaddr><hostname>pxe</hostname><descr/></staticmap></opt1>");
  std::ofstream(dir / "kit/pfsense-config.xml") << xml;
  return dir;
}

}  // namespace

TEST_CASE("homelab: with dnsmasq on the PXE server as the nodes' DHCP the rebuild installs them from it") {
  support::TempDir t("homelab-dnsmasq-ok");
  const fs::path dir = dnsmasq_homelab(t.path() / "homelab");
  sim::SimWorld world(runbook::load_site((dir / "site.yaml").string()).world_json(), 1);
  auto run = support::rebuild_homelab(world, t.path() / "state", dir);
  REQUIRE_MESSAGE(run.ok(), failures(run));
  // The nodes booted from what dnsmasq handed out: pfSense's configuration no longer names a boot server.
  bool from_dnsmasq = false;
  for (const auto& e : world.engine().events())
    if (e.value("component", "") == "k8s-master" && e.value("event", "") == "pxe-boot")
      from_dnsmasq = e.dump().find("tftp://10.0.20.5/pxelinux.0") != std::string::npos;
  CHECK(from_dnsmasq);
  // What dhcp.render wrote is a configuration the real dnsmasq accepts.
  support::TempDir check("dnsmasq-rendered");
  const auto rendered = world.system("pxe")->get_file("/etc/dnsmasq.d/drctl-pxe.conf");
  REQUIRE(rendered);
  support::write_file(check.path() / "drctl-pxe.conf", *rendered);
  const auto real = support::run({"/usr/sbin/dnsmasq", "--test", "--conf-file=" + (check.path() / "drctl-pxe.conf").string()});
  CHECK_MESSAGE(real.exit_code == 0, real.describe());
}

TEST_CASE("homelab: with dnsmasq but without its restart the nodes get no DHCP answer") {
  support::TempDir t("homelab-dnsmasq-stale");
  const fs::path dir = dnsmasq_homelab(t.path() / "homelab");
  std::string rebuild_text = support::read_file(dir / "rebuild.yaml");
  const std::string then = "      then: systemctl restart dnsmasq\n";
  REQUIRE(rebuild_text.find(then) != std::string::npos);
  rebuild_text.erase(rebuild_text.find(then), then.size());
  std::ofstream(dir / "rebuild.yaml") << rebuild_text;
  sim::SimWorld world(runbook::load_site((dir / "site.yaml").string()).world_json(), 1);
  auto run = support::rebuild_homelab(world, t.path() / "state", dir);
  CHECK_FALSE(run.ok());
  const auto* install = result_of(run, "install-nodes[k8s-master]");
  REQUIRE(install);
  CHECK(install->status == runbook::Status::Failed);
  CHECK_MESSAGE(install->error.find("dnsmasq on pxe is installed but not running") != std::string::npos, install->error);
}

TEST_CASE("homelab: a dnsmasq configuration dnsmasq refuses fails dhcp-config with its message and is put back") {
  support::TempDir t("homelab-dnsmasq-bad");
  const fs::path dir = dnsmasq_homelab(t.path() / "homelab");
  const fs::path tmpl = dir / "templates/dnsmasq-pxe.conf.mustache";
  std::ofstream(tmpl, std::ios::app) << "dhcp-bootfile=pxelinux.0\n";  // not an option dnsmasq 2.90 knows
  sim::SimWorld world(runbook::load_site((dir / "site.yaml").string()).world_json(), 1);
  auto run = support::rebuild_homelab(world, t.path() / "state", dir);
  const auto* step = result_of(run, "dhcp-config");
  REQUIRE(step);
  CHECK(step->status == runbook::Status::Failed);
  CHECK_MESSAGE(step->error.find("then: `systemctl restart dnsmasq` exited with status 1") != std::string::npos, step->error);
  // It was not there before: put back means gone, so a retry writes it and restarts dnsmasq again.
  REQUIRE(world.system("pxe"));
  CHECK_FALSE(world.system("pxe")->get_file("/etc/dnsmasq.d/drctl-pxe.conf"));
}
