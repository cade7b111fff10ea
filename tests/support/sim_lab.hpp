// Test support: the lab site of tests/fixtures/sim (a small copy of the seed's) in the simulator,
// brought to the state the rebuild reaches before it installs the nodes — pfSense and the PXE
// server installed from their images and given their configuration. Header-only: only the
// simulator's tests include it.
#pragma once
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "runbook/loader.hpp"
#include "sim/sim_world.hpp"
#include "support/fs_tree.hpp"
#include "world/vm_spec.hpp"

namespace support {

inline std::filesystem::path sim_fixtures() {
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures/sim";
}

/// The lab's site.yaml as the simulator reads it.
inline const nlohmann::json& lab_site() {
  static const nlohmann::json site = drctl::runbook::load_site((sim_fixtures() / "lab.yaml").string()).to_json();
  return site;
}

inline drctl::world::Command command(const std::string& script) {
  drctl::world::Command c;
  c.script = script;
  return c;
}

struct SimLab {
  std::map<std::string, std::string> pxe_files;  // path on the PXE server -> content; tests may change them
  std::string pf_config = read_file(sim_fixtures() / "pfsense-lab.xml");
  nlohmann::json site;
  std::unique_ptr<drctl::sim::SimWorld> world;

  explicit SimLab(std::uint64_t seed, const nlohmann::json& site_json = lab_site())
      : site(site_json), world(std::make_unique<drctl::sim::SimWorld>(site_json, seed)) {
    const auto root = sim_fixtures() / "tftpboot";
    for (const auto& e : std::filesystem::recursive_directory_iterator(root))
      if (e.is_regular_file()) pxe_files["/tftpboot/" + std::filesystem::relative(e.path(), root).string()] = read_file(e.path());
    pxe_files["/etc/default/tftpd-hpa"] = "TFTP_USERNAME=\"tftp\"\nTFTP_DIRECTORY=\"/tftpboot\"\nTFTP_ADDRESS=\":69\"\nTFTP_OPTIONS=\"--secure\"\n";
    pxe_files["/etc/exports"] = "/tftpboot 10.0.20.0/24(ro,no_subtree_check)\n";
  }
  drctl::sim::SimWorld& w() { return *world; }
  drctl::sim::Engine& engine() { return world->engine(); }

  void define(const std::string& vm) { world->hv().define(drctl::world::vm_spec_from_json(vm, site["hosts"][vm]["vm"])); }
  void start(const std::string& vm) {
    define(vm);
    world->hv().start(vm);
  }
  /// pfSense and the PXE server installed and configured (the PXE server's unattended install
  /// takes about 10 virtual minutes, as the nodes' do).
  void infra() {
    using namespace std::chrono_literals;
    start("pfsense");
    start("pxe");
    engine().run_for(6min);
    REQUIRE(world->state("pfsense") == "up");
    drctl::sim::SimHost* pf = world->system("pfsense");
    pf->put_file("/cf/conf/config.xml", pf_config, 0644);
    REQUIRE(pf->run(command("/etc/rc.reload_all")).ok());
    for (int i = 0; i < 40 && world->state("pxe") != "up"; ++i) engine().run_for(30s);
    engine().run_for(2min);  // the PXE server's DHCP client asks again
    drctl::sim::SimHost* pxe = world->system("pxe");
    REQUIRE(pxe);
    for (const auto& [path, content] : pxe_files)
      if (!content.empty() || path == "/etc/exports") pxe->put_file(path, content, 0644);
    // As the rebuild does: tftpd-hpa and the NFS server read their new configuration.
    REQUIRE(pxe->run(command("systemctl restart tftpd-hpa && exportfs -ra")).ok());
  }
  /// Applies the fixture's pod network (a flannel-like DaemonSet) from the control plane: no node
  /// is Ready without one.
  void pod_network() {
    world->host("k8s-master").put_file("/home/wizard/pod-network.yaml", read_file(sim_fixtures() / "k8s/pod-network.yaml"), 0644);
    auto r = world->host("k8s-master").run(command("kubectl --kubeconfig /etc/kubernetes/admin.conf apply -f /home/wizard/pod-network.yaml"));
    REQUIRE_MESSAGE(r.ok(), std::string(r.out + r.err));
  }
  /// Defines and powers on a node, and lets `d` of virtual time pass.
  void install(const std::string& node, drctl::world::Duration d = std::chrono::minutes(16)) {
    start(node);
    engine().run_for(d);
  }
  /// Events of one component and kind, as JSON lines.
  std::string events(const std::string& component, const std::string& event) {
    std::string out;
    for (const auto& e : engine().events())
      if (e["component"] == component && e["event"] == event) out += e.dump() + "\n";
    return out;
  }
};

}  // namespace support
