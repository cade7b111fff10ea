// The simulated site end to end: VMs PXE-install from the files on the PXE server, through
// pfSense's DHCP and firewall, until SSH answers with the kickstart's key — and each broken
// artifact stops it with its cause. Fixtures: tests/fixtures/sim (a small copy of the seed's site).
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "actions/action.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "sim/sim_world.hpp"
#include "support/sim_lab.hpp"
#include "world/vm_spec.hpp"

using namespace drctl;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() { return support::sim_fixtures(); }


std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  REQUIRE_MESSAGE(pos != std::string::npos, from);
  return text.replace(pos, from.size(), to);
}

using support::command;
using support::lab_site;
using Lab = support::SimLab;

/// Runs a runbook (written next to a copy of the lab's site) on the lab's World.
runbook::RunSummary run_runbook(Lab& lab, const std::string& steps) {
  support::TempDir t("sim-world");
  fs::copy_file(fixtures() / "lab.yaml", t.path() / "lab.yaml");
  {
    std::ofstream rb(t.path() / "rb.yaml");
    rb << "name: nodes\nsite: lab.yaml\nsteps:\n" << steps;
  }
  runbook::Runbook rb = runbook::load_runbook((t.path() / "rb.yaml").string());
  runbook::validate(rb, actions::Registry::builtin());
  runbook::ExecOptions options;
  options.state_dir = t.path() / "state";
  runbook::Observer quiet;
  return runbook::execute(rb, actions::Registry::builtin(), lab.w(), options, quiet);
}

const char* kInstallNodes =
    "  - id: create\n    uses: vm.create\n    on: nodes\n"
    "  - id: install\n    uses: pxe.install\n    on: nodes\n    needs: create\n    retries: 1\n    with: {timeout: 20m}\n";

}  // namespace

TEST_CASE("sim world: a PXE install ends with SSH answering with the kickstart's key") {
  Lab lab(3);
  lab.infra();
  lab.install("k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "up");
  auto login = lab.w().ssh_login("k8s-node1");
  CHECK_MESSAGE(login.ok, login.reason);
  auto r = lab.w().host("k8s-node1").run(command("hostname"));
  CHECK(r.exit_code == 0);
  CHECK(r.out == "k8s-node1\n");
  // What the installer read, in order, from the files on the PXE server.
  const std::string pxe = lab.events("k8s-node1", "pxe-boot");
  CHECK(pxe.find("pxelinux.cfg/01-00-50-56-aa-00-02") != std::string::npos);
  CHECK(pxe.find("ks.cfg") != std::string::npos);
  const auto installs = lab.events("k8s-node1", "install-started");
  CHECK(!installs.empty());
  // Only the kickstart's key is authorized: another key is refused.
  auto other_site = lab_site();
  other_site["hosts"]["k8s-node1"]["ssh_key"] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNvbWVib2R5LWVsc2Uta2V5 mallory@x";
  Lab other(3, other_site);
  other.infra();
  other.install("k8s-node1");
  auto refused = other.w().ssh_login("k8s-node1");
  CHECK_FALSE(refused.ok);
  CHECK(refused.reason.find("Permission denied (publickey)") != std::string::npos);
  // A command the simulated host does not know exits 127 naming the host and the command.
  auto unknown = lab.w().host("k8s-node1").run(command("frobnicate --now"));
  CHECK(unknown.exit_code == 127);
  CHECK(unknown.err.find("sim: k8s-node1: unknown command 'frobnicate'") != std::string::npos);
}

TEST_CASE("sim world: a wrong ks= path stops the install naming the location") {
  Lab lab(3);
  const std::string f = "/tftpboot/pxelinux.cfg/01-00-50-56-aa-00-02";
  lab.pxe_files[f] = replace(lab.pxe_files[f], "/tftpboot/ks.cfg", "/tftpboot/kickstart/ks.cfg");
  lab.infra();
  lab.install("k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "halted");
  CHECK_FALSE(lab.w().ssh_login("k8s-node1").ok);
  const std::string why = lab.w().diagnose("k8s-node1");
  CHECK_MESSAGE(why.find("/tftpboot/kickstart/ks.cfg") != std::string::npos, why);
}

TEST_CASE("sim world: a missing pxelinux.0 or kernel stops the boot naming the file") {
  for (const std::string missing : {"/tftpboot/pxelinux.0", "/tftpboot/Ubuntu20.04/linux"}) {
    CAPTURE(missing);
    Lab lab(3);
    lab.pxe_files.erase(missing);
    lab.infra();
    lab.install("k8s-node1");
    CHECK(lab.w().state("k8s-node1") == "halted");
    const std::string why = lab.w().diagnose("k8s-node1");
    CHECK_MESSAGE(why.find(missing.substr(std::string("/tftpboot/").size())) != std::string::npos, why);
  }
}

TEST_CASE("sim world: a kickstart without openssh-server installs a host nobody can log in to") {
  Lab lab(3);
  lab.pxe_files["/tftpboot/ks.cfg"] = replace(lab.pxe_files["/tftpboot/ks.cfg"], "@ openssh-server\n", "");
  lab.infra();
  lab.install("k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "up");
  auto login = lab.w().ssh_login("k8s-node1");
  CHECK_FALSE(login.ok);
  CHECK(login.reason.find("refused") != std::string::npos);
  CHECK(lab.w().diagnose("k8s-node1").find("openssh-server") != std::string::npos);
}

TEST_CASE("sim world: a VM on the management VLAN gets no lease and does not install") {
  auto site = lab_site();
  site["hosts"]["k8s-node1"]["vm"]["nics"][0]["network"] = "management";
  Lab lab(3, site);
  lab.infra();
  lab.install("k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "halted");
  const std::string why = lab.w().diagnose("k8s-node1");
  CHECK_MESSAGE(why.find("unknown clients are denied") != std::string::npos, why);
  CHECK(lab.events("k8s-node1", "install-started").empty());
}

TEST_CASE("sim world: a DHCP reservation for another MAC leaves the node away from its address") {
  Lab lab(3);
  lab.pf_config = replace(lab.pf_config, "<mac>00:50:56:aa:00:02</mac>", "<mac>00:50:56:aa:00:99</mac>");
  lab.infra();
  lab.install("k8s-node1");
  auto login = lab.w().ssh_login("k8s-node1");
  CHECK_FALSE(login.ok);
  CHECK_MESSAGE(login.reason.find("10.0.20.12") != std::string::npos, login.reason);
  const std::string why = lab.w().diagnose("k8s-node1");
  CHECK_MESSAGE(why.find("10.0.20.100") != std::string::npos, why);  // where it really is: the pool
}

TEST_CASE("sim world: with DHCP stopped the install fails fast, and succeeds on retry once DHCP is back") {
  Lab lab(3);
  lab.infra();
  lab.w().set_service("pfsense", "dhcpd", false);
  const auto start = lab.engine().now();
  lab.engine().at(start + 7min, [&] { lab.w().set_service("pfsense", "dhcpd", true); });
  auto summary = run_runbook(lab,
                             "  - id: create\n    uses: vm.create\n    on: k8s-node1\n"
                             "  - id: install\n    uses: pxe.install\n    on: k8s-node1\n    needs: create\n"
                             "    retries: 4\n    retry_delay: 1m\n    with: {timeout: 20m}\n");
  REQUIRE(summary.results.size() == 2);
  CHECK(summary.ok());
  CHECK(summary.results[1].attempts >= 2);
  // A VM halted at PXE-E51 fails its attempt at once instead of waiting out the 20-minute timeout.
  const std::string attempts = summary.results[1].error + " (" + std::to_string(summary.results[1].attempts) + " attempts)";
  CHECK_MESSAGE(lab.engine().now() - start < 25min, attempts);
  CHECK(lab.engine().log_jsonl().find("PXE-E51") != std::string::npos);
  CHECK(lab.w().ssh_login("k8s-node1").ok);
}

TEST_CASE("sim world: six VMs install in parallel in about one install time, without waiting it out") {
  Lab lab(9);
  lab.infra();
  const auto start = lab.engine().now();
  const auto wall = std::chrono::steady_clock::now();
  auto summary = run_runbook(lab, kInstallNodes);
  const auto took = lab.engine().now() - start;
  CHECK(std::chrono::steady_clock::now() - wall < took);  // really sleeping would take at least the virtual time
  CHECK(summary.ok());
  CHECK(took >= world::Duration(9min));
  CHECK(took <= world::Duration(14min));  // one install (9–11 min) plus firmware, PXE and boot; six in a row would be an hour
  for (const std::string node : {"k8s-master", "k8s-node1", "k8s-node2", "k8s-node3", "k8s-node4", "k8s-node5"})
    CHECK(lab.w().ssh_login(node).ok);
}

TEST_CASE("sim world: the same seed gives the same event log, another seed other timings and the same outcome") {
  auto run = [](std::uint64_t seed) {
    Lab lab(seed);
    lab.infra();
    auto summary = run_runbook(lab, kInstallNodes);
    return std::pair(lab.engine().log_jsonl(), summary.ok());
  };
  auto a = run(21), b = run(21), c = run(22);
  CHECK(a.first == b.first);
  CHECK(a.first != c.first);
  CHECK(a.second);
  CHECK(c.second);
  auto outcome = [](const std::string& log) {  // the events without their times
    std::string out;
    std::istringstream lines(log);
    std::string line;
    while (std::getline(lines, line)) {
      auto e = nlohmann::json::parse(line);
      if (e["event"] == "install-finished" || e["event"] == "system-up") out += e["component"].get<std::string>() + " ";
    }
    return out;
  };
  CHECK(outcome(a.first).size() == outcome(c.first).size());
}

TEST_CASE("sim world: bad site content is refused naming the field") {
  auto site = lab_site();
  site["hosts"]["k8s-node1"]["vm"]["nics"][0]["network"] = "clster";
  CHECK_THROWS_WITH_AS(sim::SimWorld(site, 1),
                       doctest::Contains("hosts.k8s-node1.vm.nics[0].network: 'clster' is not a port group"),
                       sim::SiteError);
  site = lab_site();
  site["hosts"]["pfsense"]["vm"].erase("cdrom");
  CHECK_THROWS_WITH_AS(sim::SimWorld(site, 1), doctest::Contains("hosts.pfsense.vm.cdrom"), sim::SiteError);
}

TEST_CASE("sim world faults: a worker powered off mid-install is reinstalled by the step's retry") {
  Lab lab(4);
  lab.infra();
  lab.engine().at(lab.engine().now() + 6min, [&] { lab.w().hv().stop("k8s-node1"); });
  auto summary = run_runbook(lab,
                             "  - id: create\n    uses: vm.create\n    on: k8s-node1\n"
                             "  - id: install\n    uses: pxe.install\n    on: k8s-node1\n    needs: create\n"
                             "    retries: 1\n    with: {timeout: 20m}\n");
  CHECK(summary.ok());
  CHECK(summary.results[1].attempts == 2);
  CHECK(lab.engine().log_jsonl().find("powered off during the install") != std::string::npos);
  std::string starts = lab.events("k8s-node1", "install-started");
  CHECK(std::count(starts.begin(), starts.end(), '\n') == 2);
  CHECK(lab.w().ssh_login("k8s-node1").ok);
}

TEST_CASE("sim world faults: TFTP or NFS stopped on the PXE server stops the boot naming the service's port") {
  for (const auto& [unit, port] : {std::pair<std::string, std::string>{"tftpd-hpa", "69/udp"}, {"nfs-kernel-server", "2049/tcp"}}) {
    CAPTURE(unit);
    Lab lab(3);
    lab.infra();
    lab.w().set_service("pxe", unit, false);
    lab.install("k8s-node1");
    CHECK(lab.w().state("k8s-node1") == "halted");
    const std::string why = lab.w().diagnose("k8s-node1");
    CHECK_MESSAGE(why.find(port) != std::string::npos, why);
  }
}

TEST_CASE("sim world faults: a NIC without link gets no lease") {
  Lab lab(3);
  lab.infra();
  lab.define("k8s-node1");
  lab.w().net().set_link("k8s-node1", "nic0", false);
  lab.w().hv().start("k8s-node1");
  lab.engine().run_for(5min);
  const std::string why = lab.w().diagnose("k8s-node1");
  CHECK_MESSAGE(why.find("no link") != std::string::npos, why);
}

TEST_CASE("sim world faults: isolation, packet loss and a deleted authorized_keys each cut SSH, and undoing them restores it") {
  Lab lab(3);
  lab.infra();
  lab.install("k8s-node1");
  REQUIRE(lab.w().ssh_login("k8s-node1").ok);
  lab.w().net().set_isolated("k8s-node1", true);
  CHECK(lab.w().ssh_login("k8s-node1").reason.find("isolated") != std::string::npos);
  lab.w().net().set_isolated("k8s-node1", false);
  CHECK(lab.w().ssh_login("k8s-node1").ok);
  lab.w().net().set_loss("k8s-node1", 1.0);
  CHECK(lab.w().ssh_login("k8s-node1").reason.find("lost") != std::string::npos);
  lab.w().net().set_loss("k8s-node1", 0.0);
  CHECK(lab.w().ssh_login("k8s-node1").ok);
  lab.w().system("k8s-node1")->remove_file("/home/wizard/.ssh/authorized_keys");
  CHECK(lab.w().ssh_login("k8s-node1").reason.find("Permission denied (publickey)") != std::string::npos);
}

TEST_CASE("sim world faults: a slow installer takes longer") {
  Lab lab(3);
  lab.infra();
  lab.w().set_install_slowdown(2.0);
  lab.install("k8s-node1", 30min);
  auto started = nlohmann::json::parse(lab.events("k8s-node1", "install-started"));
  CHECK(started["seconds"].get<int>() >= 18 * 60);
  CHECK(lab.w().ssh_login("k8s-node1").ok);
}

TEST_CASE("sim world faults: the whole host loses power, and its VMs boot from disk when it is back") {
  Lab lab(3);
  lab.infra();
  lab.install("k8s-node1");
  REQUIRE(lab.w().ssh_login("k8s-node1").ok);
  lab.w().hv().power_off_host();
  CHECK_FALSE(lab.w().ssh_login("k8s-node1").ok);
  CHECK_THROWS_WITH_AS(lab.w().hv().start("k8s-node1"), doctest::Contains("the host is powered off"), std::runtime_error);
  lab.w().hv().power_on_host();
  for (const std::string vm : {"pfsense", "pxe", "k8s-node1"}) lab.w().hv().start(vm);
  lab.engine().run_for(5min);
  CHECK(lab.w().ssh_login("k8s-node1").ok);
  std::string starts = lab.events("k8s-node1", "install-started");
  CHECK(std::count(starts.begin(), starts.end(), '\n') == 1);  // no reinstall: the disk kept the system
}

TEST_CASE("sim world: the border router forwards IPv6 DNS to pfSense, and 443 to a VIP nobody holds yet") {
  Lab lab(3);
  lab.infra();
  auto dns = lab.w().net().connect("phone", "2a00:4802:360::136", 53, sim::Proto::udp);
  CHECK_MESSAGE(dns.outcome == sim::SimNetwork::Outcome::connected, dns.reason);
  CHECK(dns.node == "pfsense");
  CHECK(dns.service == "unbound");
  auto web = lab.w().net().connect("phone", "2a00:4802:360::136", 443, sim::Proto::tcp);
  CHECK(web.outcome != sim::SimNetwork::Outcome::connected);
  CHECK_MESSAGE(web.reason.find("10.0.20.200") != std::string::npos, web.reason);
}

namespace {

/// Lab::infra() without its last line: the PXE server's files written, its daemons not restarted.
void infra_without_restarts(Lab& lab) {
  lab.start("pfsense");
  lab.start("pxe");
  lab.engine().run_for(6min);
  sim::SimHost* pf = lab.w().system("pfsense");
  REQUIRE(pf);
  pf->put_file("/cf/conf/config.xml", lab.pf_config, 0644);
  REQUIRE(pf->run(command("/etc/rc.reload_all")).ok());
  for (int i = 0; i < 40 && lab.w().state("pxe") != "up"; ++i) lab.engine().run_for(30s);  // its unattended install
  lab.engine().run_for(2min);
  sim::SimHost* pxe = lab.w().system("pxe");
  REQUIRE(pxe);
  for (const auto& [path, content] : lab.pxe_files) pxe->put_file(path, content, 0644);
}

/// Powers the node off and on again and lets an install's worth of virtual time pass.
void boot_again(Lab& lab, const std::string& node) {
  lab.w().hv().stop(node);
  lab.w().hv().start(node);
  lab.engine().run_for(16min);
}

}  // namespace

TEST_CASE("sim world: tftpd-hpa and the NFS server serve what they read at start until restarted, and the boot says which") {
  Lab lab(3);
  infra_without_restarts(lab);
  lab.install("k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "halted");
  // The image's tftpd-hpa started with Debian's /srv/tftp; the file now says /tftpboot.
  std::string why = lab.w().diagnose("k8s-node1");
  CHECK_MESSAGE(why.find("TFTP error 1: file not found: pxelinux.0") != std::string::npos, why);
  CHECK_MESSAGE(why.find("tftpd-hpa on pxe serves /srv/tftp, as configured when it started at ") != std::string::npos, why);
  CHECK_MESSAGE(why.find("/etc/default/tftpd-hpa now says /tftpboot: restart tftpd-hpa") != std::string::npos, why);

  sim::SimHost* pxe = lab.w().system("pxe");
  REQUIRE(pxe->run(command("systemctl restart tftpd-hpa")).ok());
  boot_again(lab, "k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "halted");
  why = lab.w().diagnose("k8s-node1");  // TFTP now works; the kickstart over NFS is not exported yet
  CHECK_MESSAGE(why.find("/tftpboot/ks.cfg is not exported to 10.0.20.") != std::string::npos, why);
  CHECK_MESSAGE(why.find("nfs-kernel-server on pxe") != std::string::npos, why);
  CHECK_MESSAGE(why.find("run exportfs -ra") != std::string::npos, why);

  REQUIRE(pxe->run(command("exportfs -ra")).ok());
  boot_again(lab, "k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "up");
  CHECK(lab.w().ssh_login("k8s-node1").ok);
}

TEST_CASE("sim world: pfSense serves the configuration it applied until /etc/rc.reload_all, and the boot says so") {
  Lab lab(3);
  // pfSense applied a configuration without network boot options (no next-server/filename)…
  const std::string boot_options = "<nextserver>10.0.10.5</nextserver>";
  lab.pf_config = replace(lab.pf_config, boot_options, "");
  lab.infra();
  // …then its config.xml gets them, and nobody runs /etc/rc.reload_all.
  sim::SimHost* pf = lab.w().system("pfsense");
  const std::string applied = *pf->get_file("/cf/conf/config.xml");
  pf->put_file("/cf/conf/config.xml", replace(applied, "<filename>", boot_options + "<filename>"), 0644);
  lab.install("k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "halted");
  const std::string why = lab.w().diagnose("k8s-node1");
  CHECK_MESSAGE(why.find("PXE-E53") != std::string::npos, why);
  CHECK_MESSAGE(why.find("pfSense serves the configuration it applied at ") != std::string::npos, why);
  CHECK_MESSAGE(why.find("/cf/conf/config.xml has changed since: run /etc/rc.reload_all") != std::string::npos, why);
  REQUIRE(pf->run(command("/etc/rc.reload_all")).ok());
  boot_again(lab, "k8s-node1");
  CHECK(lab.w().state("k8s-node1") == "up");
}

namespace {

/// Runs steps on the lab's World with a state directory the caller keeps (its journal).
runbook::RunSummary run_steps(Lab& lab, const fs::path& dir, const std::string& steps) {
  fs::copy_file(fixtures() / "lab.yaml", dir / "lab.yaml", fs::copy_options::overwrite_existing);
  std::ofstream(dir / "rb.yaml") << "name: steps\nsite: lab.yaml\nsteps:\n" << steps;
  runbook::Runbook rb = runbook::load_runbook((dir / "rb.yaml").string());
  runbook::validate(rb, actions::Registry::builtin());
  runbook::ExecOptions options;
  options.state_dir = dir / "state";
  runbook::Observer quiet;
  return runbook::execute(rb, actions::Registry::builtin(), lab.w(), options, quiet);
}

std::string tftp_step(const std::string& dir, const std::string& then) {
  return "  - id: tftp-root\n    uses: file.put\n    on: pxe\n    with:\n      path: /etc/default/tftpd-hpa\n"
         "      content: \"TFTP_USERNAME=tftp\\nTFTP_ADDRESS=:69\\nTFTP_DIRECTORY=\\\"" + dir + "\\\"\\n\"\n      then: " + then + "\n";
}

}  // namespace

TEST_CASE("file.put then: runs only when the file changed, shows in the journal, and a failure puts the file back") {
  support::TempDir t("file-put-then");
  Lab lab(3);
  lab.infra();
  sim::ServiceManager* services = lab.w().services("pxe");
  REQUIRE(services);
  auto first = run_steps(lab, t.path(), tftp_step("/srv/boot", "mkdir -p /srv/boot && systemctl restart tftpd-hpa"));
  REQUIRE_MESSAGE(first.ok(), first.results[0].error);
  CHECK(first.results[0].status == runbook::Status::Done);
  CHECK(sim::tftp_directory(services->served("tftpd-hpa", sim::kTftpDefaults)) == "/srv/boot");
  CHECK(support::read_file(t.path() / "state/journal.jsonl").find("then: mkdir -p /srv/boot && systemctl restart tftpd-hpa") !=
        std::string::npos);

  // The same file again: nothing written, nothing restarted.
  const std::size_t before = lab.engine().events().size();
  auto again = run_steps(lab, t.path(), tftp_step("/srv/boot", "mkdir -p /srv/boot && systemctl restart tftpd-hpa"));
  REQUIRE(again.ok());
  CHECK(again.results[0].status == runbook::Status::Unchanged);
  for (std::size_t i = before; i < lab.engine().events().size(); ++i)
    CHECK_MESSAGE(lab.engine().events()[i].value("event", "") != "service-started", lab.engine().events()[i].dump());

  // A directory that does not exist: tftpd-hpa's start script refuses it, the step fails naming
  // the command, the old file is back — and the retry writes and restarts again instead of skipping.
  const std::string kept = *lab.w().system("pxe")->get_file(sim::kTftpDefaults);
  auto broken = run_steps(lab, t.path(), tftp_step("/srv/nowhere", "systemctl restart tftpd-hpa") + "    retries: 1\n    retry_delay: 1s\n");
  CHECK_FALSE(broken.ok());
  CHECK(broken.results[0].attempts == 2);
  CHECK_MESSAGE(broken.results[0].error.find("then: `systemctl restart tftpd-hpa` exited with status 1") == 0, broken.results[0].error);
  CHECK(broken.results[0].detail.find("Job for tftpd-hpa.service failed") != std::string::npos);
  CHECK(lab.w().system("pxe")->get_file(sim::kTftpDefaults) == kept);
}

TEST_CASE("appliance.restore: an apply that fails puts the old configuration back, so the retry applies again") {
  support::TempDir t("appliance-restore");
  Lab lab(3);
  lab.infra();
  sim::SimHost* pf = lab.w().system("pfsense");
  const std::string applied = *pf->get_file("/cf/conf/config.xml");
  auto r = run_steps(lab, t.path(),
                     "  - id: restore\n    uses: appliance.restore\n    on: pfsense\n    retries: 1\n    retry_delay: 1s\n"
                     "    with: {path: /cf/conf/config.xml, content: \"<pfsense><broken\", apply: /etc/rc.reload_all}\n");
  CHECK_FALSE(r.ok());
  CHECK(r.results[0].attempts == 2);  // the second attempt found the old file and applied again
  CHECK_MESSAGE(r.results[0].error.find("refused its configuration: `/etc/rc.reload_all` exited 1") != std::string::npos,
                r.results[0].error);
  CHECK(pf->get_file("/cf/conf/config.xml") == applied);
}
