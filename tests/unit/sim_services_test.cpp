// The simulator's service manager: each daemon serves the configuration it read when it
// (re)started or reloaded, and systemctl answers with systemd's messages and exit codes (the
// texts are systemd's own: src/core/transaction.c, src/core/dbus-unit.c, src/systemctl; see
// sim/CONFORMANCE.md "Services"). And the homelab's rebuild run twice restarts nothing the second time.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <sstream>

#include "actions/action.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "sim/services.hpp"
#include "sim/sim_world.hpp"
#include "support/fs_tree.hpp"

using namespace drctl;
namespace fs = std::filesystem;

namespace {

const std::string kOld = "TFTP_USERNAME=\"tftp\"\nTFTP_DIRECTORY=\"/srv/tftp\"\nTFTP_ADDRESS=\":69\"\nTFTP_OPTIONS=\"--secure\"\n";
const std::string kNew = "TFTP_USERNAME=\"tftp\"\nTFTP_DIRECTORY=\"/tftpboot\"\nTFTP_ADDRESS=\":69\"\nTFTP_OPTIONS=\"--secure\"\n";

/// A PXE server's system as SimWorld wires it: every unit that starts reads its configuration.
struct Server {
  sim::Engine engine{1};
  sim::SimHost host{engine, "pxe"};
  sim::ServiceManager services{engine, host};

  Server() {
    for (const char* p : {"tftpd-hpa", "nfs-kernel-server", "nginx", "ssh"}) host.install_package(p);
    host.on_service_change([this](const std::string& unit, bool active) {
      if (active) services.started(unit);
    });
    host.make_dir("/srv/tftp");
    host.make_dir("/tftpboot");
    host.put_file(sim::kTftpDefaults, kOld, 0644);
  }
  sim::SimHost::Result systemctl(const std::string& args) { return services.systemctl(words("systemctl " + args)); }
  sim::SimHost::Result exportfs(const std::string& args) { return services.exportfs(words("exportfs " + args)); }
  std::string tftp_root() { return sim::tftp_directory(services.served("tftpd-hpa", sim::kTftpDefaults)); }

  static std::vector<std::string> words(const std::string& line) {
    std::vector<std::string> out;
    std::istringstream in(line);
    for (std::string w; in >> w;) out.push_back(w);
    return out;
  }
};

fs::path homelab() { return fs::path(__FILE__).parent_path().parent_path().parent_path() / "runbooks/homelab"; }

runbook::RunSummary rebuild(sim::SimWorld& world, const fs::path& state) {
  runbook::Runbook rb = runbook::load_runbook((homelab() / "rebuild.yaml").string());
  runbook::validate(rb, actions::Registry::builtin());
  runbook::ExecOptions options;
  options.state_dir = state;
  runbook::Observer quiet;
  return runbook::execute(rb, actions::Registry::builtin(), world, options, quiet);
}

}  // namespace

TEST_CASE("sim services: tftpd-hpa serves the directory it started with until it is restarted, and reload is not applicable") {
  Server s;
  REQUIRE(s.systemctl("start tftpd-hpa").code == 0);
  CHECK(s.tftp_root() == "/srv/tftp");
  s.host.put_file(sim::kTftpDefaults, kNew, 0644);
  CHECK(s.tftp_root() == "/srv/tftp");  // the file says /tftpboot; the daemon has its argument
  CHECK(s.services.stale("tftpd-hpa", sim::kTftpDefaults));
  CHECK(s.systemctl("start tftpd-hpa").code == 0);  // already running: start does nothing
  CHECK(s.tftp_root() == "/srv/tftp");
  // Debian's init script offers no reload (its usage line: start|stop|restart|force-reload|status).
  auto reload = s.systemctl("reload tftpd-hpa");
  CHECK(reload.code == 3);
  CHECK(reload.err == "Failed to reload tftpd-hpa.service: Job type reload is not applicable for unit tftpd-hpa.service.\n");
  CHECK(s.tftp_root() == "/srv/tftp");
  // reload-or-restart restarts what cannot reload.
  REQUIRE(s.systemctl("reload-or-restart tftpd-hpa.service").code == 0);
  CHECK(s.tftp_root() == "/tftpboot");
  CHECK_FALSE(s.services.stale("tftpd-hpa", sim::kTftpDefaults));
}

TEST_CASE("sim services: tftpd-hpa's start script refuses a directory that does not exist, and the unit stays down") {
  Server s;
  REQUIRE(s.systemctl("start tftpd-hpa").code == 0);
  s.host.put_file(sim::kTftpDefaults, "TFTP_USERNAME=\"tftp\"\nTFTP_DIRECTORY=\"/srv/missing\"\nTFTP_ADDRESS=\":69\"\n", 0644);
  auto r = s.systemctl("restart tftpd-hpa");
  CHECK(r.code == 1);
  CHECK(r.err.find("Job for tftpd-hpa.service failed because the control process exited with error code.") == 0);
  CHECK_FALSE(s.host.service_active("tftpd-hpa"));
  CHECK(s.systemctl("is-active tftpd-hpa").out == "inactive\n");
  s.host.make_dir("/srv/missing");
  CHECK(s.systemctl("restart tftpd-hpa").code == 0);
  CHECK(s.tftp_root() == "/srv/missing");
}

TEST_CASE("sim services: tftpd-hpa does not start when /etc/default/tftpd-hpa leaves TFTP_ADDRESS or TFTP_USERNAME empty") {
  // Debian's init script passes both unquoted; the real in.tftpd then takes the next word as
  // the value and exits 66 (seen with Debian 12's in.tftpd 5.2).
  Server s;
  REQUIRE(s.systemctl("start tftpd-hpa").code == 0);
  s.host.make_dir("/tftpboot");
  s.host.put_file(sim::kTftpDefaults, "TFTP_USERNAME=\"tftp\"\nTFTP_DIRECTORY=\"/tftpboot\"\nTFTP_OPTIONS=\"--secure\"\n", 0644);
  auto r = s.systemctl("restart tftpd-hpa");
  CHECK(r.code == 1);
  CHECK_FALSE(s.host.service_active("tftpd-hpa"));
  s.host.put_file(sim::kTftpDefaults, kNew, 0644);
  CHECK(s.systemctl("restart tftpd-hpa").code == 0);
  CHECK(s.tftp_root() == "/tftpboot");
}

TEST_CASE("sim services: nginx and ssh reload (ExecReload), and a reload of a stopped unit fails") {
  Server s;
  s.host.put_file(sim::kNginxSite, "server {\n  listen 80;\n  root /var/www/html;\n}\n", 0644);
  REQUIRE(s.systemctl("start nginx").code == 0);
  s.host.put_file(sim::kNginxSite, "server {\n  listen 80;\n  root /srv/www;\n}\n", 0644);
  CHECK(sim::nginx_root(s.services.served("nginx", sim::kNginxSite)) == "/var/www/html");
  REQUIRE(s.systemctl("reload nginx").code == 0);
  CHECK(sim::nginx_root(s.services.served("nginx", sim::kNginxSite)) == "/srv/www");
  CHECK(s.services.read("nginx")->how == "reloaded");
  CHECK(s.systemctl("reload sshd").code == 1);  // ssh.service's alias, not running yet
  REQUIRE(s.systemctl("start ssh").code == 0);
  CHECK(s.systemctl("reload sshd").code == 0);
  REQUIRE(s.systemctl("stop nginx").code == 0);
  auto r = s.systemctl("reload nginx");
  CHECK(r.code == 1);
  CHECK(r.err == "nginx.service is not active, cannot reload.\n");
  CHECK(s.systemctl("try-restart nginx").code == 0);  // does nothing to a stopped unit
  CHECK_FALSE(s.host.service_active("nginx"));
}

TEST_CASE("sim services: the NFS server exports what exportfs -r last read") {
  Server s;
  s.host.put_file(sim::kExports, "/srv/old 10.0.20.0/24(ro)\n", 0644);
  REQUIRE(s.systemctl("start nfs-kernel-server").code == 0);  // ExecStartPre: exportfs -r
  s.host.put_file(sim::kExports, "/tftpboot 10.0.20.0/24(ro,no_subtree_check)\n", 0644);
  CHECK(s.exportfs("").out == "/srv/old\t10.0.20.0/24\n");  // the table, not the file
  CHECK(s.services.stale("nfs-kernel-server", sim::kExports));
  auto r = s.exportfs("-rav");
  CHECK(r.code == 0);
  CHECK(r.out == "exporting 10.0.20.0/24:/tftpboot\n");
  CHECK(s.exportfs("").out == "/tftpboot\t10.0.20.0/24\n");
  CHECK(s.services.read("nfs-kernel-server")->how == "exportfs -r");
  // nfs-server.service: ExecReload=-/usr/sbin/exportfs -r (and the alias reaches the same unit).
  s.host.put_file(sim::kExports, "", 0644);
  CHECK(s.systemctl("reload nfs-server").code == 0);
  CHECK(s.exportfs("").out.empty());
  CHECK(s.exportfs("-u /tftpboot").code == 1);  // not modelled: says so rather than succeed
}

TEST_CASE("sim services: unknown units get systemd's messages and exit codes") {
  Server s;
  for (const char* verb : {"start", "restart", "reload", "try-restart", "reload-or-restart"}) {
    auto r = s.systemctl(std::string(verb) + " frobd");
    CHECK(r.code == 5);  // EXIT_NOTINSTALLED for org.freedesktop.systemd1.NoSuchUnit
    CHECK(r.err == "Failed to " + std::string(verb) + " frobd.service: Unit frobd.service not found.\n");
  }
  auto stop = s.systemctl("stop frobd.service");
  CHECK(stop.code == 5);
  CHECK(stop.err == "Failed to stop frobd.service: Unit frobd.service not loaded.\n");
  auto enable = s.systemctl("enable --now frobd");
  CHECK(enable.code == 1);
  CHECK(enable.err == "Failed to enable unit: Unit file frobd.service does not exist.\n");
  auto active = s.systemctl("is-active frobd");
  CHECK(active.code == 3);
  CHECK(active.out == "inactive\n");
  auto status = s.systemctl("status frobd");
  CHECK(status.code == 4);
  CHECK(status.err == "Unit frobd.service could not be found.\n");
  CHECK(s.systemctl("frobnicate tftpd-hpa").code == 127);  // a verb the simulator does not know says so
}

TEST_CASE("sim services: status shows when a unit last read its configuration") {
  Server s;
  CHECK(s.systemctl("status tftpd-hpa").code == 3);
  s.engine.run_for(std::chrono::seconds(3725));
  REQUIRE(s.systemctl("enable --now tftpd-hpa").code == 0);
  auto r = s.systemctl("status tftpd-hpa");
  CHECK(r.code == 0);
  CHECK(r.out.find("Active: active (running) since 01:02:05") != std::string::npos);
}

TEST_CASE("sim services: a second rebuild of the homelab changes nothing and restarts nothing") {
  support::TempDir t("sim-services-rerun");
  sim::SimWorld world(runbook::load_site((homelab() / "site.yaml").string()).world_json(), 2);
  auto first = rebuild(world, t.path() / "state");
  REQUIRE(first.ok());
  // The first run restarted tftpd-hpa (it read its file at boot and again) and re-exported.
  const std::size_t first_events = world.engine().events().size();
  int tftpd_reads = 0, exportfs_reads = 0;
  for (const auto& e : world.engine().events()) {
    if (e.value("event", "") != "config-read" || e.value("component", "") != "pxe") continue;
    tftpd_reads += e.value("unit", "") == "tftpd-hpa";
    exportfs_reads += e.value("how", "") == "exportfs -r";
  }
  CHECK(tftpd_reads >= 2);
  CHECK(exportfs_reads >= 1);
  CHECK(world.services("pxe")->served("tftpd-hpa", sim::kTftpDefaults) == world.host("pxe").get_file(sim::kTftpDefaults));
  auto second = rebuild(world, t.path() / "state");
  REQUIRE(second.ok());
  for (const auto& r : second.results) CHECK_MESSAGE(r.status != runbook::Status::Done, r.id);
  const auto& events = world.engine().events();
  for (std::size_t i = first_events; i < events.size(); ++i) {
    const std::string what = events[i].value("event", "");
    CHECK_MESSAGE(what != "service-started", events[i].dump());
    CHECK_MESSAGE(what != "service-stopped", events[i].dump());
    CHECK_MESSAGE(what != "config-read", events[i].dump());
  }
}
