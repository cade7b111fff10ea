// A simulated machine's life: power, firmware and the boot order, network boot (DHCP, the PXE
// chain), the installer, appliance images, booting the installed system and its DHCP client, the
// ports its services open; and a machine's problems and halts.
#include "sim/sim_world.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

#include "sim/dnsmasq.hpp"
#include "sim/sim_machine.hpp"
#include "sim/sim_ssh_host.hpp"

namespace drctl::sim {

using json = nlohmann::json;
using world::Duration;

namespace {

/// The ports a service opens while it runs.
struct Port {
  int port;
  Proto proto;
};
std::vector<Port> ports_of(const std::string& unit) {
  if (unit == "ssh" || unit == "sshd") return {{22, Proto::tcp}};
  if (unit == "tftpd-hpa") return {{69, Proto::udp}};
  if (unit == "nfs-kernel-server" || unit == "nfs") return {{2049, Proto::tcp}, {111, Proto::tcp}};
  if (unit == "nginx") return {{80, Proto::tcp}};
  if (unit == "dhcpd") return {{67, Proto::udp}};
  if (unit == "unbound") return {{53, Proto::udp}};
  if (unit == "dnsmasq") return {{67, Proto::udp}, {53, Proto::udp}};
  return {};
}


}  // namespace

ApplianceImage appliance_image(const std::string& kind) {
  if (kind == "pfsense") return {{"sshd", "dhcpd", "unbound"}, {{"/cf/conf/config.xml", factory_default_config()}}};
  if (kind == "pxe-server")
    return {{"ssh", "tftpd-hpa", "nfs-kernel-server", "nginx"},
            {{"/etc/default/tftpd-hpa",
              "TFTP_USERNAME=\"tftp\"\nTFTP_DIRECTORY=\"/srv/tftp\"\nTFTP_ADDRESS=\":69\"\nTFTP_OPTIONS=\"--secure\"\n"},
             {"/etc/exports", ""}}};
  if (kind == "vcenter") return {{"ssh"}, {}};  // manages the host; nothing the rebuild reads from it
  return {{"ssh", "nfs"}, {}};  // truenas
}

const std::set<std::string>& mirror_packages() {
  static const std::set<std::string> mirror = {
    "openssh-server", "open-vm-tools", "containerd", "docker.io", "kubelet", "kubeadm", "kubectl", "nfs-common",
    "curl", "socat", "conntrack", "ebtables", "ethtool", "etcd-client", "apt-transport-https", "ca-certificates",
    "gnupg", "python3", "tftpd-hpa", "nfs-kernel-server", "nginx", "syslinux-common", "pxelinux", "dnsmasq"};
  return mirror;
}

void SimWorld::problem(Machine& m, const std::string& what) {
  m.problem = what;
  engine_.log(m.name, "problem", {{"cause", what}});
}

bool SimWorld::assign(Machine& m, std::size_t nic, const std::string& ip) {
  try {
    net_.add_address(m.name, nic_id(nic), ip);
    return true;
  } catch (const std::invalid_argument& e) {
    problem(m, std::string("address does not fit its network: ") + e.what());
    return false;
  }
}

void SimWorld::halt(Machine& m, const std::string& why) {
  m.state = "halted";
  problem(m, why);
}

// ---- power and boot -------------------------------------------------------------------------

void SimWorld::on_power(const std::string& vm, bool on) {
  Machine& m = machine(vm);
  const std::uint64_t gen = ++m.gen;
  for (std::size_t i = 0; i < m.spec.nics.size(); ++i) net_.clear_addresses(vm, nic_id(i));
  net_.set_gateway(vm, "");
  net_.set_node_up(vm, on);
  if (m.system) {
    const std::string node = kube_node(vm).name;
    const auto known = kube_.nodes(false);
    if (std::find(known.begin(), known.end(), node) != known.end()) kube_.set_node_up(node, on);
  }
  if (!on) {
    if (m.state == "installing") {
      m.on_disk = false;
      m.system.reset();
      problem(m, "powered off during the install: the disk holds no bootable system");
    }
    if (vm == pf_machine_) pf_dhcp_.reset();
    m.state = "off";
    reconcile_cluster();  // a VIP it held moves to another speaker
    return;
  }
  m.state = "firmware";
  m.problem.clear();
  engine_.background(engine_.now() + engine_.rng().between(timings_.post, timings_.post_max), [this, vm, gen] {
    auto it = machines_.find(vm);
    if (it != machines_.end() && it->second->gen == gen) boot_device(*it->second, gen, 0);
  });
}

void SimWorld::on_destroy(const std::string& vm) {
  if (auto it = machines_.find(vm); it != machines_.end() && it->second->system) kube_.remove_node(kube_node(vm).name);
  if (vm == pf_machine_) {  // its configuration was on its disk
    pf_config_.reset();
    pf_dhcp_.reset();
    pf_machine_.clear();
  }
  if (nas_ && site_.machine(vm) && site_.machine(vm)->appliance == "truenas") nas_.reset();
  net_.remove_node(vm);
  machines_.erase(vm);
  ssh_hosts_.erase(vm);
}

void SimWorld::boot_device(Machine& m, std::uint64_t gen, std::size_t index) {
  const auto& order = m.spec.boot_order;
  if (index >= order.size()) {
    std::string tried;
    for (const auto& d : order) tried += (tried.empty() ? "" : ", ") + d;
    halt(m, "no bootable device (tried " + tried + ")" + (m.problem.empty() ? "" : "; " + m.problem));
    return;
  }
  const std::string& device = order[index];
  engine_.log(m.name, "boot-device", {{"device", device}});
  if (device == "disk") {
    if (m.written.contains(0)) return boot_from_image(m, gen, index);
    if (m.on_disk) {
      if (m.written.contains(1) && m.system)
        if (const std::string why = import_pool(m, *m.system); !why.empty()) return halt(m, why);
      return boot_system(m, gen);
    }
    return boot_device(m, gen, index + 1);
  }
  if (device == "cdrom") {
    if (!m.spec.cdrom.empty() && m.model && m.model->kind == MachineModel::Kind::appliance && !m.on_disk)
      return install_appliance(m, gen, index);
    return boot_device(m, gen, index + 1);
  }
  network_boot(m, gen, index, 0);
}

void SimWorld::network_boot(Machine& m, std::uint64_t gen, std::size_t index, int attempt) {
  m.state = "pxe";
  const auto& nic = m.spec.nics.front();
  auto lease = dhcp(m.name, nic.mac, nic.network);
  if (!lease) {
    if (attempt < 3) {  // PXE firmware sends DISCOVER 4 times: 4, 8, 16, 32 s apart
      const std::string name = m.name;
      engine_.background(engine_.now() + Duration(4000 << attempt), [this, name, gen, index, attempt] {
        auto it = machines_.find(name);
        if (it != machines_.end() && it->second->gen == gen) network_boot(*it->second, gen, index, attempt + 1);
      });
      return;
    }
    problem(m, "PXE-E51: no DHCP offers were received on " + nic.network + " (" + last_dhcp_refusal_ + ")");
    return boot_device(m, gen, index + 1);
  }
  if (!assign(m, 0, lease->ip)) return boot_device(m, gen, index + 1);
  net_.set_gateway(m.name, lease->router);  // the firmware routes through the lease's router
  if (lease->filename.empty() || lease->next_server.empty()) {
    problem(m, "PXE-E53: no boot filename received (the DHCP scope on " + nic.network + " has no next-server/filename" +
                   pf_stale_note() + ")");
    return boot_device(m, gen, index + 1);
  }
  const std::string name = m.name;
  auto outcome = follow_pxe(nic.mac, lease->ip, lease->next_server, lease->filename,
                            [this, name, l = *lease](const Location& where) { return fetch(name, l, where); },
                            &site_.versions.ubuntu);
  engine_.log(m.name, "pxe-boot", {{"ip", lease->ip}, {"config", outcome.config_path}, {"label", outcome.label}, {"read", outcome.trail}});
  if (!outcome.ok) return halt(m, "PXE: " + outcome.error);
  if (outcome.localboot) {
    if (m.on_disk) return boot_system(m, gen);
    return halt(m, "PXE: label '" + outcome.label + "' boots the local disk, which holds no system");
  }
  // The kernel and initrd load over TFTP before the installer starts.
  engine_.background(engine_.now() + engine_.rng().between(Duration(10000), Duration(20000)),
                     [this, name, gen, plan = *outcome.plan] {
                       auto it = machines_.find(name);
                       if (it != machines_.end() && it->second->gen == gen) start_install(*it->second, gen, plan);
                     });
}

void SimWorld::start_install(Machine& m, std::uint64_t gen, const InstallPlan& plan) {
  if (!plan.partitioned)
    return halt(m, "the installer stopped at the partitioning question: the answers have no partitioning "
                   "(clearpart/part or autopart; autoinstall storage)");
  m.state = "installing";
  m.on_disk = false;
  m.system.reset();
  m.plan = plan;
  const auto base = engine_.rng().between(timings_.install, timings_.install_max);
  const Duration took(static_cast<std::int64_t>(static_cast<double>(base.count()) * slowdown_));
  json started = {{"installer", plan.installer}, {"hostname", plan.hostname}, {"seconds", took.count() / 1000}};
  if (!plan.warnings.empty()) started["warnings"] = plan.warnings;  // what kickseed logged and went past
  engine_.log(m.name, "install-started", started);
  const std::string name = m.name;
  engine_.background(engine_.now() + took, [this, name, gen] {
    auto it = machines_.find(name);
    if (it != machines_.end() && it->second->gen == gen) finish_install(*it->second, gen);
  });
}

void SimWorld::finish_install(Machine& m, std::uint64_t) {
  const InstallPlan& plan = *m.plan;
  auto sys = std::make_unique<SimHost>(engine_, m.name);
  sys->set_available_packages(mirror_packages());
  sys->put_file("/etc/hostname", (plan.hostname.empty() ? m.name : plan.hostname) + "\n", 0644);
  sys->set_swap(true);  // Ubuntu's installer makes a swap file
  for (const auto& user : plan.users) {
    if (user.authorized_keys.empty()) continue;
    std::string keys;
    for (const auto& k : user.authorized_keys) keys += k + "\n";
    const std::string home = user.name == "root" ? "/root" : "/home/" + user.name;
    sys->put_file(home + "/.ssh/authorized_keys", keys, 0600);
  }
  for (const auto& p : plan.packages) sys->install_package(p);
  if (plan.ssh_server) sys->install_package("ssh");
  wire_services(*sys, m.name);
  wire_kube(*sys, m.name);
  m.system = std::move(sys);
  m.on_disk = true;
  engine_.log(m.name, "install-finished", {{"ssh_server", plan.ssh_server}, {"packages", plan.packages}});
  if (!plan.ssh_server) problem(m, "installed without openssh-server (the answers' packages do not list it): no SSH");
  if (!plan.reboot) return halt(m, "the installer finished, but the answers do not say `reboot`: the VM waits at the end of the install");
  // Reboot: firmware again, in the VM's boot order.
  const std::uint64_t gen = ++m.gen;
  m.state = "firmware";
  for (std::size_t i = 0; i < m.spec.nics.size(); ++i) net_.clear_addresses(m.name, nic_id(i));
  net_.set_gateway(m.name, "");
  const std::string name = m.name;
  engine_.background(engine_.now() + engine_.rng().between(timings_.post, timings_.post_max), [this, name, gen] {
    auto it = machines_.find(name);
    if (it != machines_.end() && it->second->gen == gen) boot_device(*it->second, gen, 0);
  });
}

namespace {

/// The first question an appliance's installer asks at the console (sim/CONFORMANCE.md, "Appliance
/// installers"); "" for one that installs by itself (the site's own PXE server image).
std::string installer_question(const std::string& kind, const std::string& iso) {
  if (kind == "pfsense")
    return "pfSense's installer waits at its first screen (Copyright and distribution notice -> Accept) for someone at "
           "the console";
  if (kind == "truenas")
    return "TrueNAS CORE's installer waits at its first menu (Console Setup: 1 Install/Upgrade) for someone at the console";
  if (kind == "vcenter")
    return iso + " is vCenter's installer for a workstation (vcsa-ui-installer: Install -> Stage 1, Deploy vCenter "
           "Server, which deploys the appliance's OVA onto a host; its first question is the end user license "
           "agreement), not an image a VM installs itself from: it waits for someone to run it";
  return "";
}

}  // namespace

void SimWorld::set_console_operator(bool present) {
  console_operator_ = present;
  engine_.log("site", "console-operator", {{"present", present}});
}

void SimWorld::install_appliance(Machine& m, std::uint64_t gen, std::size_t) {
  const std::string name = m.name, kind = m.model->appliance;
  if (const std::string question = installer_question(kind, m.spec.cdrom); !question.empty()) {
    if (!console_operator_)
      return halt(m, question + ": nobody is at the console (an unattended rebuild brings an appliance back from its "
                                "disk images: vm.create with disks)");
    engine_.log(name, "installer-answered", {{"appliance", kind}, {"by", "someone at the console"}, {"question", question}});
  }
  m.state = "installing";
  engine_.log(m.name, "appliance-install-started", {{"appliance", kind}, {"image", m.spec.cdrom}});
  // The PXE server's image is an unattended install of the nodes' own system: it takes what
  // theirs takes (the seed's "around 10 minutes"); an interactive installer, answered at the
  // console, its own time (sim/CONFORMANCE.md, "Time").
  const bool unattended = installer_question(kind, m.spec.cdrom).empty();
  const Duration took = unattended ? engine_.rng().between(timings_.install, timings_.install_max)
                                   : engine_.rng().between(timings_.appliance_install, timings_.appliance_install_max);
  engine_.background(engine_.now() + took,
                     [this, name, gen, kind] {
                       auto it = machines_.find(name);
                       if (it == machines_.end() || it->second->gen != gen) return;
                       Machine& m = *it->second;
                       std::string why;
                       auto sys = appliance_system(m, kind, &why);
                       if (!sys) return halt(m, why);
                       m.system = std::move(sys);
                       m.on_disk = true;
                       engine_.log(name, "appliance-installed", {{"appliance", kind}});
                       boot_system(m, gen);
                     });
}

std::unique_ptr<SimHost> SimWorld::appliance_system(Machine& m, const std::string& kind, std::string* why) {
  const std::string name = m.name;
  auto sys = std::make_unique<SimHost>(engine_, name);
  if (kind == "pfsense" || kind == "truenas") sys->set_os(SimHost::Os::freebsd);
  sys->set_available_packages(mirror_packages());
  const ApplianceImage image = appliance_image(kind);
  for (const auto& unit : image.units) sys->install_package(unit);
  for (const auto& [path, content] : image.files) sys->put_file(path, content, 0644);
  if (sys->installed("tftpd-hpa")) sys->make_dir("/srv/tftp");  // the package's directory
  const std::string user = m.model->user.empty() ? "root" : m.model->user;
  if (!m.model->ssh_key.empty())
    sys->put_file((user == "root" ? "/root" : "/home/" + user) + "/.ssh/authorized_keys", m.model->ssh_key + "\n", 0600);
  if (kind == "pfsense")
    sys->add_command("/etc/rc.reload_all", [this, name](const std::vector<std::string>&, const std::string&) {
      apply_pfsense_config(*machines_.at(name));
      if (!pf_config_) return SimHost::Result{1, "", machines_.at(name)->problem + "\n"};
      return SimHost::Result{0, "", ""};
    });
  if (kind == "truenas") {
    nas_ = std::make_unique<NasStorage>(engine_, m.model->pool, m.model->pool_bytes);
    SimHost* nas_host = sys.get();
    nas_host->make_dir("/mnt/" + m.model->pool);
    sys->add_command("zfs", [this, nas_host](const std::vector<std::string>& argv, const std::string&) {
      auto r = nas_->zfs(argv);
      for (const auto& ds : nas_->datasets()) nas_host->make_dir("/mnt/" + ds);  // mounted
      return SimHost::Result{r.code, r.out, r.err};
    });
    sys->add_command("midclt", [this](const std::vector<std::string>& argv, const std::string&) {
      auto r = nas_->midclt(argv);
      return SimHost::Result{r.code, r.out, r.err};
    });
    sys->set_storage(
        [this](const std::string& path, std::int64_t delta, std::string* why) {
          return nas_->dataset_of(path).empty() || nas_->fits(path, delta, why);
        },
        [this](const std::string& path, std::int64_t delta) {
          if (!nas_->dataset_of(path).empty()) nas_->commit(path, delta);
        });
    if (m.written.contains(1))  // its pool's disk came from an image: the pool is imported at boot
      if (*why = import_pool(m, *sys); !why->empty()) return nullptr;
  }
  wire_services(*sys, name);
  return sys;
}

void SimWorld::boot_system(Machine& m, std::uint64_t gen) {
  m.state = "booting";
  const std::string name = m.name;
  engine_.background(engine_.now() + engine_.rng().between(timings_.os_boot, timings_.os_boot_max), [this, name, gen] {
    auto it = machines_.find(name);
    if (it != machines_.end() && it->second->gen == gen) system_up(*it->second, gen);
  });
}

void SimWorld::system_up(Machine& m, std::uint64_t gen) {
  m.state = "up";
  if (m.model && m.model->appliance == "pfsense") {
    apply_pfsense_config(m);
  } else {
    request_addresses(m, gen);
  }
  const std::vector<std::string> units =
      m.boot_units                                                       ? *m.boot_units
      : m.model && m.model->kind == MachineModel::Kind::appliance ? appliance_image(m.model->appliance).units
                                                                         : std::vector<std::string>{"ssh"};
  services(m.name)->booted(units);  // each daemon reads its configuration as the disk has it now
  engine_.log(m.name, "system-up", {{"addresses", net_.addresses(m.name)}});
}

void SimWorld::request_addresses(Machine& m, std::uint64_t gen) {
  bool missing = false;
  for (std::size_t i = 0; i < m.spec.nics.size(); ++i) {
    if (!net_.addresses_of(m.name, nic_id(i)).empty()) continue;
    auto lease = dhcp(m.name, m.spec.nics[i].mac, m.spec.nics[i].network);
    if (!lease) {
      missing = true;
      problem(m, "no DHCP lease on " + m.spec.nics[i].network + " (" + last_dhcp_refusal_ + ")");
      continue;
    }
    if (!assign(m, i, lease->ip)) {
      missing = true;
      continue;
    }
    if (i == 0 && !lease->router.empty()) net_.set_gateway(m.name, lease->router);
  }
  if (!missing) {
    if (m.problem.rfind("no DHCP lease", 0) == 0) m.problem.clear();
    return;
  }
  const std::string name = m.name;  // the DHCP client keeps asking
  engine_.background(engine_.now() + engine_.rng().between(timings_.dhcp_retry, timings_.dhcp_retry_max), [this, name, gen] {
    auto it = machines_.find(name);
    if (it != machines_.end() && it->second->gen == gen && it->second->state == "up") request_addresses(*it->second, gen);
  });
}

void SimWorld::wire_services(SimHost& host, const std::string& node) {
  host.set_weight([this, node](const std::string& path) { return data_weight(node, path); });
  // The system owns its service manager (through these functions): it goes when the disk is wiped.
  auto manager = std::make_shared<ServiceManager>(engine_, host);
  services_[node] = manager;
  host.on_service_change([this, node, manager](const std::string& unit, bool active) {
    if (active) manager->started(unit);
    for (const auto& p : ports_of(unit)) {
      if (active)
        net_.listen(node, p.port, p.proto, unit);
      else
        net_.unlisten(node, p.port, p.proto);
    }
  });
  const MachineModel* model = site_.machine(node);
  if (model && (model->appliance == "pfsense" || model->appliance == "truenas")) return;  // FreeBSD: no systemd
  host.add_command("systemctl", [manager](const std::vector<std::string>& argv, const std::string&) {
    return manager->systemctl(argv);
  });
  host.add_command(
      "exportfs",
      [manager, &host](const std::vector<std::string>& argv, const std::string&) {
        if (!host.installed("nfs-kernel-server")) return SimHost::Result{127, "", "sh: 1: exportfs: not found\n"};
        return manager->exportfs(argv);
      },
      [&host] { return host.installed("nfs-kernel-server"); });
  host.add_command(
      "dnsmasq",
      [&host](const std::vector<std::string>& argv, const std::string&) {
        // `dnsmasq --test` checks the configuration as a start would; the daemon itself runs as a unit.
        if (argv.size() < 2 || argv[1] != "--test")
          return SimHost::Result{2, "", "sim: dnsmasq runs as its unit here (systemctl start dnsmasq); only --test is modelled\n"};
        try {
          read_dnsmasq([&host](const std::string& path) { return host.get_file(path); });
        } catch (const std::invalid_argument& e) {
          return SimHost::Result{1, "", std::string("dnsmasq: ") + e.what() + "\n"};
        }
        return SimHost::Result{0, "", "dnsmasq: syntax check OK.\n"};
      },
      [&host] { return host.installed("dnsmasq"); });
}

}  // namespace drctl::sim
