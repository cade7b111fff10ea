#include "sim/sim_world.hpp"

#include <algorithm>
#include <sstream>

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
  return {};
}

/// What an appliance image brings, and the services it starts at boot.
struct ApplianceImage {
  std::vector<std::string> units;
  std::map<std::string, std::string> files;
};
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

/// Packages the installed systems' mirror offers (apt install of anything else fails).
const std::set<std::string> kMirror = {
    "openssh-server", "open-vm-tools", "containerd", "docker.io", "kubelet", "kubeadm", "kubectl", "nfs-common",
    "curl", "socat", "conntrack", "ebtables", "ethtool", "etcd-client", "apt-transport-https", "ca-certificates",
    "gnupg", "python3", "tftpd-hpa", "nfs-kernel-server", "nginx", "syslinux-common", "pxelinux"};

bool is_ip_literal(const std::string& s) {
  return !s.empty() && (s.find(':') != std::string::npos ||
                        s.find_first_not_of("0123456789.") == std::string::npos);
}

std::string nic_id(std::size_t i) { return "nic" + std::to_string(i); }

std::string value_of(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + "=", 0) != 0) continue;
    std::string v = line.substr(key.size() + 1);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
    return v;
  }
  return "";
}

/// Is `ip` allowed by an /etc/exports client spec ("*", "10.0.20.0/24", "10.0.20.11")?
bool client_matches(const std::string& spec, const std::string& ip) {
  if (spec == "*") return true;
  const auto slash = spec.find('/');
  try {
    if (slash == std::string::npos) return parse_ipv4(spec) == parse_ipv4(ip);
    const int bits = std::stoi(spec.substr(slash + 1));
    const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t(0) << (32 - bits);
    return (parse_ipv4(spec.substr(0, slash)) & mask) == (parse_ipv4(ip) & mask);
  } catch (const std::exception&) {
    return false;
  }
}

bool same_key(const std::string& a, const std::string& b) {
  auto head = [](const std::string& k) {
    std::istringstream in(k);
    std::string type, body;
    in >> type >> body;
    return type + " " + body;
  };
  return head(a) == head(b) && !head(a).empty() && head(a) != " ";
}

}  // namespace

struct SimWorld::Machine {
  std::string name;
  const MachineModel* model = nullptr;
  world::VmSpec spec;
  std::string state = "off";
  std::uint64_t gen = 0;  // bumped at every power change: callbacks of an earlier boot do nothing
  bool on_disk = false;   // an installed system (or appliance) on the disk
  std::unique_ptr<SimHost> system;
  std::optional<InstallPlan> plan;
  std::string problem;    // the last thing that went wrong, for diagnose()
};

/// A site machine as drctl reaches it over SSH: every call logs in first, as ssh(1) would.
class SimWorld::SshHost : public world::Host {
 public:
  SshHost(SimWorld& world, std::string name) : world_(world), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  world::CommandResult run(const world::Command& command) override {
    auto login = world_.ssh_login(name_);
    if (!login.ok) {
      world::CommandResult r;
      r.exit_code = 255;
      r.err = "ssh: " + name_ + ": " + login.reason + "\n";
      return r;
    }
    return world_.system(login.machine)->run(command);
  }
  void put_file(const std::string& path, const std::string& content, unsigned mode) override {
    world_.system(login_or_throw())->put_file(path, content, mode);
  }
  std::optional<std::string> get_file(const std::string& path) override {
    return world_.system(login_or_throw())->get_file(path);
  }

 private:
  std::string login_or_throw() {
    auto login = world_.ssh_login(name_);
    if (!login.ok) throw std::runtime_error("sftp: " + name_ + ": " + login.reason);
    return login.machine;
  }
  SimWorld& world_;
  std::string name_;
};

SimWorld::SimWorld(const json& site, std::uint64_t seed)
    : site_(read_site(site)), engine_(seed), hv_(engine_, site_.capacity, [this] {
        std::set<std::string> groups;
        for (const auto& [pg, sw] : site_.port_groups) groups.insert(pg);
        return groups;
      }()) {
  for (const auto& f : site_.datastore_files) hv_.add_datastore_file(f);
  hv_.on_power([this](const std::string& vm, bool on) { on_power(vm, on); });
  hv_.on_destroy([this](const std::string& vm) { on_destroy(vm); });
  hv_.on_define([this](const std::string& vm) { machine(vm).state = "off"; });  // its NICs are on the wire, unpowered
  hv_.on_guest([this](const std::string& vm) -> world::Host* {
    auto it = machines_.find(vm);
    return it != machines_.end() && it->second->state == "up" ? it->second->system.get() : nullptr;
  });
  for (const auto& n : site_.networks) net_.add_segment(n.name, n.cidr);

  for (const auto& m : site_.machines) {
    if (m.kind != MachineModel::Kind::physical) continue;
    net_.attach(m.name, "eth0", m.network, "");
    net_.add_address(m.name, "eth0", m.address);
    int i = 1;
    for (const auto& [network, ip] : m.extra_addresses) {
      const std::string nic = "eth" + std::to_string(i++);
      net_.attach(m.name, nic, network, "");
      net_.add_address(m.name, nic, ip);
    }
    if (!m.gateway.empty()) net_.set_gateway(m.name, m.gateway);
    for (const auto& [cidr, via] : m.routes) net_.add_route(m.name, cidr, via);
    if (!m.routes.empty() || !m.forwards.empty()) net_.set_router(m.name, [](const Flow&) { return Verdict{}; });
    for (const auto& f : m.forwards)
      net_.add_forward(m.name, f.listen_ip, f.port, f.proto == "udp" ? Proto::udp : Proto::tcp, f.target_ip, f.target_port);
    if (m.dhcp) {
      DhcpScope scope;
      scope.vlan = m.network;
      scope.range_start = m.dhcp->range_start;
      scope.range_end = m.dhcp->range_end;
      scope.reserved = m.dhcp->reserved;
      scope.router = m.address;
      scope.dns = m.address;
      physical_dhcp_[m.name] = std::make_unique<DhcpServer>(engine_, std::vector<DhcpScope>{scope});
    }
  }
  const MachineModel& controller = site_.controller();
  if (controller.kind != MachineModel::Kind::physical)
    throw SiteError("hosts: '" + controller.name + "' (connection: local) must be a machine with a network and an address, not a VM");
  controller_ = std::make_unique<SimHost>(engine_, controller.name);
  controller_->install_package("kubectl");  // the operator's machine has kubectl (and drctl)
  wire_kube(*controller_, controller.name);
  kube_.on_change([this] { reconcile_cluster(); });
  engine_.on_log([this](const json& e) {
    if (e["component"] != "invariants") check_invariants(false);
  });
  view_ = std::make_unique<SimNetworkView>(engine_, net_, controller.name,
                                           [this](const std::string& name) { return resolve_name(name); });
  engine_.log("site", "built", {{"site", site_.name}, {"machines", site_.machines.size()}, {"networks", site_.networks.size()}});
}

SimWorld::~SimWorld() = default;

const MachineModel* SimWorld::model(const std::string& vm) const { return site_.machine(vm); }

SimWorld::Machine& SimWorld::machine(const std::string& name) {
  auto it = machines_.find(name);
  if (it != machines_.end()) return *it->second;
  world::VmSpec spec;
  bool found = false;
  for (const auto& vm : hv_.list())
    if (vm.spec.name == name) {
      spec = vm.spec;
      found = true;
    }
  if (!found) throw std::out_of_range("no VM named " + name);
  auto m = std::make_unique<Machine>();
  m->name = name;
  m->model = model(name);
  m->spec = spec;
  for (std::size_t i = 0; i < spec.nics.size(); ++i) net_.attach(name, nic_id(i), spec.nics[i].network, spec.nics[i].mac);
  net_.set_node_up(name, false);
  return *(machines_[name] = std::move(m));
}

SimHost* SimWorld::system(const std::string& name) {
  auto it = machines_.find(name);
  return it == machines_.end() ? nullptr : it->second->system.get();
}

std::string SimWorld::state(const std::string& name) const {
  auto it = machines_.find(name);
  return it == machines_.end() ? "off" : it->second->state;
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
    if (m.on_disk) return boot_system(m, gen);
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
    problem(m, "PXE-E53: no boot filename received (the DHCP scope on " + nic.network + " has no next-server/filename)");
    return boot_device(m, gen, index + 1);
  }
  const std::string name = m.name;
  auto outcome = follow_pxe(nic.mac, lease->ip, lease->next_server, lease->filename,
                            [this, name, l = *lease](const Location& where) { return fetch(name, l, where); });
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
  engine_.log(m.name, "install-started",
              {{"installer", plan.installer}, {"hostname", plan.hostname}, {"seconds", took.count() / 1000}});
  const std::string name = m.name;
  engine_.background(engine_.now() + took, [this, name, gen] {
    auto it = machines_.find(name);
    if (it != machines_.end() && it->second->gen == gen) finish_install(*it->second, gen);
  });
}

void SimWorld::finish_install(Machine& m, std::uint64_t) {
  const InstallPlan& plan = *m.plan;
  auto sys = std::make_unique<SimHost>(engine_, m.name);
  sys->set_available_packages(kMirror);
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

void SimWorld::install_appliance(Machine& m, std::uint64_t gen, std::size_t) {
  m.state = "installing";
  const std::string name = m.name, kind = m.model->appliance;
  engine_.log(m.name, "appliance-install-started", {{"appliance", kind}, {"image", m.spec.cdrom}});
  engine_.background(engine_.now() + engine_.rng().between(timings_.appliance_install, timings_.appliance_install_max),
                     [this, name, gen, kind] {
                       auto it = machines_.find(name);
                       if (it == machines_.end() || it->second->gen != gen) return;
                       Machine& m = *it->second;
                       auto sys = std::make_unique<SimHost>(engine_, name);
                       sys->set_available_packages(kMirror);
                       const ApplianceImage image = appliance_image(kind);
                       for (const auto& unit : image.units) sys->install_package(unit);
                       for (const auto& [path, content] : image.files) sys->put_file(path, content, 0644);
                       const std::string user = m.model->user.empty() ? "root" : m.model->user;
                       if (!m.model->ssh_key.empty())
                         sys->put_file((user == "root" ? "/root" : "/home/" + user) + "/.ssh/authorized_keys",
                                       m.model->ssh_key + "\n", 0600);
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
                       }
                       if (kind == "pxe-server")
                         sys->add_command("exportfs", [](const std::vector<std::string>&, const std::string&) {
                           return SimHost::Result{0, "", ""};
                         });
                       wire_services(*sys, name);
                       m.system = std::move(sys);
                       m.on_disk = true;
                       engine_.log(name, "appliance-installed", {{"appliance", kind}});
                       boot_system(m, gen);
                     });
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
      m.model && m.model->kind == MachineModel::Kind::appliance ? appliance_image(m.model->appliance).units : std::vector<std::string>{"ssh"};
  for (const auto& unit : units)
    if (m.system->installed(unit)) m.system->set_service(unit, true);
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
  host.on_service_change([this, node](const std::string& unit, bool active) {
    for (const auto& p : ports_of(unit)) {
      if (active)
        net_.listen(node, p.port, p.proto, unit);
      else
        net_.unlisten(node, p.port, p.proto);
    }
  });
}

// ---- pfSense ------------------------------------------------------------------------------

std::string SimWorld::pf_interface_of(const std::string& segment) const {
  if (!pf_config_) return "";
  const Machine& pf = *machines_.at(pf_machine_);
  for (const auto& i : pf_config_->interfaces) {
    if (i.device.rfind("vmx", 0) != 0) continue;
    const std::size_t n = std::stoul(i.device.substr(3));
    if (n < pf.spec.nics.size() && pf.spec.nics[n].network == segment) return i.name;
  }
  return "";
}

void SimWorld::apply_pfsense_config(Machine& m) {
  pf_machine_ = m.name;
  for (std::size_t i = 0; i < m.spec.nics.size(); ++i) net_.clear_addresses(m.name, nic_id(i));
  pf_dhcp_.reset();
  pf_config_.reset();
  const auto xml = m.system->get_file("/cf/conf/config.xml");
  if (!xml) return problem(m, "pfSense: /cf/conf/config.xml is missing");
  try {
    pf_config_ = parse_pfsense_config(*xml);
  } catch (const std::exception& e) {
    return problem(m, std::string("pfSense: ") + e.what());
  }
  std::vector<DhcpScope> scopes;
  for (const auto& i : pf_config_->interfaces) {
    if (!i.enabled || i.device.rfind("vmx", 0) != 0) continue;
    const std::size_t n = std::stoul(i.device.substr(3));
    if (n >= m.spec.nics.size()) {
      problem(m, "pfSense: interface " + i.name + " is on " + i.device + ", but the VM has only " +
                     std::to_string(m.spec.nics.size()) + " NICs");
      continue;
    }
    const std::string segment = m.spec.nics[n].network;
    if (i.ipaddr == "dhcp") {
      if (auto lease = dhcp(m.name, m.spec.nics[n].mac, segment); lease && assign(m, n, lease->ip))
        if (!lease->router.empty()) net_.set_gateway(m.name, lease->router);
    } else if (!i.ipaddr.empty() && !assign(m, n, i.ipaddr)) {
      continue;  // pfSense's interface does not fit the wire: it serves nothing there
    }
    for (auto scope : pf_config_->dhcp)
      if (scope.vlan == i.name) {
        scope.vlan = segment;
        scopes.push_back(scope);
      }
  }
  pf_dhcp_ = std::make_unique<DhcpServer>(engine_, scopes);
  net_.set_router(m.name, [this](const Flow& f) {
    const std::string iface = pf_interface_of(f.in_segment);
    if (!pf_config_ || iface.empty()) return Verdict{Verdict::block, "pfSense has no interface on " + f.in_segment};
    auto v = evaluate(*pf_config_, iface, to_string(f.proto), f.src_ip, f.dst_ip, f.port);
    return Verdict{v.action == "pass" ? Verdict::pass : v.action == "reject" ? Verdict::reject : Verdict::block,
                   "pfSense: " + v.reason};
  });
  engine_.log(m.name, "config-applied", {{"interfaces", pf_config_->interfaces.size()}, {"dhcp_scopes", scopes.size()}, {"rules", pf_config_->rules.size()}});
}

// ---- DHCP, DNS, file service ------------------------------------------------------------------

std::optional<Lease> SimWorld::dhcp(const std::string& node, const std::string& mac, const std::string& segment) {
  last_dhcp_refusal_ = "no DHCP server answers on " + segment;
  if (!net_.on_wire(node, segment)) {
    last_dhcp_refusal_ = "the NIC on " + segment + " has no link";
    return std::nullopt;
  }
  auto serves = [&](const std::string& server, const std::string& unit) {
    const auto it = machines_.find(server);
    if (it != machines_.end() && (it->second->state != "up" || !it->second->system || !it->second->system->service_active(unit)))
      return false;
    return net_.on_wire(server, segment);
  };
  if (pf_dhcp_ && !pf_interface_of(segment).empty()) {
    if (!serves(pf_machine_, "dhcpd")) {
      last_dhcp_refusal_ = "pfSense's DHCP service does not answer on " + segment;
    } else {
      auto lease = pf_dhcp_->request(mac, segment);
      if (lease) return lease;
      last_dhcp_refusal_ = pf_dhcp_->last_refusal();
    }
  }
  for (const auto& [server, d] : physical_dhcp_) {
    if (site_.machine(server)->network != segment || !serves(server, "dhcpd")) continue;
    auto lease = d->request(mac, segment);
    if (lease) return lease;
    last_dhcp_refusal_ = d->last_refusal();
  }
  return std::nullopt;
}

std::vector<std::string> SimWorld::resolve_name(const std::string& name) {
  if (is_ip_literal(name)) return {name};
  if (const MachineModel* m = site_.machine(name); m && !m->address.empty()) return {m->address};
  if (pf_config_)
    for (const auto& h : pf_config_->dns_hosts)
      if (h.host + "." + h.domain == name || (h.host == name)) return {h.ip};
  return {};
}

Fetched SimWorld::fetch(const std::string& node, const Lease& lease, const Location& where) {
  std::string ip = where.server;
  if (!is_ip_literal(ip)) {
    if (lease.dns.empty()) return {false, "", "cannot resolve " + where.server + ": the DHCP lease names no DNS server"};
    auto dns = net_.connect(node, lease.dns, 53, Proto::udp);
    if (dns.outcome != SimNetwork::Outcome::connected)
      return {false, "", "cannot resolve " + where.server + ": DNS server " + lease.dns + ": " + dns.reason};
    ip.clear();
    if (dns.node == pf_machine_ && pf_config_)
      for (const auto& h : pf_config_->dns_hosts)
        if (h.host + "." + h.domain == where.server) ip = h.ip;
    if (ip.empty()) return {false, "", "cannot resolve " + where.server + ": DNS server " + lease.dns + " has no record for it"};
  }
  const int port = where.scheme == "tftp" ? 69 : where.scheme == "nfs" ? 2049 : where.port ? where.port : 80;
  const Proto proto = where.scheme == "tftp" ? Proto::udp : Proto::tcp;
  auto reach = net_.connect(node, ip, port, proto);
  if (reach.outcome != SimNetwork::Outcome::connected) return {false, "", where.scheme + " " + ip + ": " + reach.reason};
  SimHost* server = system(reach.node);
  if (!server) return {false, "", where.scheme + " " + ip + ": the server has no system"};
  std::string file;
  if (where.scheme == "tftp") {
    std::string root = value_of(server->get_file("/etc/default/tftpd-hpa").value_or(""), "TFTP_DIRECTORY");
    if (root.empty()) root = "/srv/tftp";
    file = root + "/" + where.path;
  } else if (where.scheme == "nfs") {
    const std::string me = lease.ip;
    bool exported = false;
    std::istringstream exports(server->get_file("/etc/exports").value_or(""));
    std::string line;
    while (std::getline(exports, line)) {
      std::istringstream words(line);
      std::string dir, client;
      if (!(words >> dir) || dir[0] == '#') continue;
      const bool under = where.path == dir || where.path.rfind(dir.back() == '/' ? dir : dir + "/", 0) == 0;
      while (under && words >> client)
        if (client_matches(client.substr(0, client.find('(')), me)) exported = true;
    }
    if (!exported) return {false, "", "NFS " + where.server + ": " + where.path + " is not exported to " + me + " (/etc/exports)"};
    file = where.path;
  } else {
    file = "/var/www/html" + where.path;
  }
  auto content = server->get_file(file);
  if (!content) {
    const std::string why = where.scheme == "tftp" ? "TFTP error 1: file not found" : where.scheme == "nfs" ? "NFS: no such file" : "HTTP 404";
    return {false, "", why + ": " + where.path + " on " + where.server + " (" + reach.node + ":" + file + ")"};
  }
  return {true, *content, ""};
}

// ---- what drctl sees ----------------------------------------------------------------------------

SimWorld::Login SimWorld::ssh_login(const std::string& host) {
  const MachineModel* model = site_.machine(host);
  if (!model) return {false, "not a host of the site", ""};
  const std::string address = model->address.empty() ? host : model->address;
  const auto ips = resolve_name(address);
  if (ips.empty()) return {false, "Could not resolve hostname " + address, ""};
  auto reach = net_.connect(site_.controller().name, ips.front(), 22, Proto::tcp);
  if (reach.outcome != SimNetwork::Outcome::connected)
    return {false, "connect to " + ips.front() + " port 22: " + reach.reason, ""};
  SimHost* sys = system(reach.node);
  if (!sys) return {false, "connect to " + ips.front() + " port 22: the answering machine has no system", ""};
  if (reach.node != host)
    return {false, "the host key of " + ips.front() + " is not " + host + "'s: the address is answered by " + reach.node, reach.node};
  if (model->ssh_key.empty()) return {false, "no SSH key to log in with (set ssh_key on the host or in the site's vars)", ""};
  const std::string user = model->user.empty() ? "root" : model->user;
  const std::string keys_file = (user == "root" ? "/root" : "/home/" + user) + "/.ssh/authorized_keys";
  const auto keys = sys->get_file(keys_file);
  std::istringstream lines(keys.value_or(""));
  std::string line;
  while (std::getline(lines, line))
    if (same_key(line, model->ssh_key)) return {true, "", reach.node};
  return {false, user + "@" + ips.front() + ": Permission denied (publickey): the key is not in " + keys_file, ""};
}

world::Host& SimWorld::host(const std::string& name) {
  if (name == "local" || name == site_.controller().name) return *controller_;
  const MachineModel* m = site_.machine(name);
  if (!m) throw std::out_of_range("no host named '" + name + "' in the simulated site");
  if (m->local) return *controller_;
  auto& h = ssh_hosts_[name];
  if (!h) h = std::make_unique<SshHost>(*this, name);
  return *h;
}

std::string SimWorld::diagnose(const std::string& host) {
  auto it = machines_.find(host);
  if (it == machines_.end()) {
    const MachineModel* m = site_.machine(host);
    return m && m->vm ? "the VM " + host + " is not defined on the hypervisor" : "";
  }
  const Machine& m = *it->second;
  std::string out = "the VM is " + m.state;
  std::string at;
  for (const auto& a : net_.addresses(m.name)) at += (at.empty() ? " at " : ", ") + a;
  out += at;
  if (!m.problem.empty()) out += ": " + m.problem;
  return out;
}

std::string SimWorld::halted(const std::string& host) {
  auto it = machines_.find(host);
  if (it == machines_.end() || it->second->state != "halted") return "";
  return it->second->problem.empty() ? "it halted" : it->second->problem;
}

void SimWorld::set_service(const std::string& machine_name, const std::string& unit, bool running) {
  SimHost* sys = system(machine_name);
  if (!sys) throw std::runtime_error("sim: " + machine_name + " has no system to " + (running ? "start " : "stop ") + unit + " on");
  if (unit == "kube-apiserver") {  // a static pod, not a unit: its port closes and opens
    apiserver_stopped_ = !running;
    engine_.log(machine_name, running ? "service-started" : "service-stopped", {{"unit", unit}});
    if (running) return reconcile_cluster();
    return net_.unlisten(machine_name, 6443, Proto::tcp);
  }
  sys->set_service(unit, running);
}

// ---- Kubernetes, MetalLB, the ingress ------------------------------------------------------------

KubeNode SimWorld::kube_node(const std::string& machine_name) {
  KubeNode node;
  SimHost* sys = machine_name == site_.controller().name ? controller_.get() : system(machine_name);
  node.name = machine_name;
  if (!sys) return node;
  if (auto h = sys->get_file("/etc/hostname")) {
    node.name = *h;
    while (!node.name.empty() && (node.name.back() == '\n' || node.name.back() == ' ')) node.name.pop_back();
  }
  const auto addresses = net_.addresses(machine_name);
  if (!addresses.empty()) node.address = addresses.front();
  node.container_runtime = (sys->installed("containerd") && sys->service_active("containerd")) ||
                           (sys->installed("docker.io") && sys->service_active("docker.io"));
  node.kubelet = sys->installed("kubelet");
  node.swap_on = sys->swap_on();
  return node;
}

std::string SimWorld::machine_of_node(const std::string& node) const {
  for (const auto& [name, m] : machines_) {
    if (!m->system) continue;
    auto h = m->system->get_file("/etc/hostname");
    if (h && (*h == node + "\n" || *h == node)) return name;
  }
  return "";
}

void SimWorld::wire_kube(SimHost& host, const std::string& machine_name) {
  SimHost* h = &host;
  const KubeFiles files{[h](const std::string& path) { return h->get_file(path); },
                        [h](const std::string& path, const std::string& content, unsigned mode) { h->put_file(path, content, mode); },
                        [h](const std::string& path) { h->remove_file(path); }};
  auto missing = [](const std::string& tool) { return SimHost::Result{127, "", "sh: 1: " + tool + ": not found\n"}; };
  host.add_command(
      "kubeadm",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("kubeadm")) return missing("kubeadm");
        auto r = kube_.kubeadm(kube_node(machine_name), argv, files);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("kubeadm"); });
  // etcd-client is etcd 3.5's: etcdctl and etcdutl. An etcd binary comes only with etcd-server
  // (kubeadm runs etcd from its image).
  host.add_command(
      "etcdctl",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("etcd-client")) return missing("etcdctl");
        auto r = kube_.etcdctl(kube_node(machine_name), argv, files);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("etcd-client"); });
  host.add_command(
      "etcdutl",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("etcd-client")) return missing("etcdutl");
        auto r = kube_.etcdutl(kube_node(machine_name), argv, files);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("etcd-client"); });
  host.add_command(
      "etcd",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("etcd-server")) return missing("etcd");
        auto r = kube_.etcd(argv);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("etcd-server"); });
  host.add_command(
      "kubectl",
      [=, this](const std::vector<std::string>& argv, const std::string& stdin_data) {
        if (!h->installed("kubectl")) return missing("kubectl");
        if (kube_.api_up()) {  // kubectl talks to the API server over the network
          const std::string api = machine_of_node(kube_.api_node());
          const auto addresses = api.empty() ? std::vector<std::string>{} : net_.addresses(api);
          if (!addresses.empty()) {
            auto reach = net_.connect(machine_name, addresses.front(), 6443, Proto::tcp);
            if (reach.outcome != SimNetwork::Outcome::connected)
              return SimHost::Result{1, "", "Unable to connect to the server: dial tcp " + addresses.front() + ":6443: " + reach.reason + "\n"};
          }
        }
        auto r = kube_.kubectl(argv, stdin_data, h->command_env(), files);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("kubectl"); });
  // The kubelet watches its static pod manifests; etcd's data dir moved into place is restored data.
  host.on_file_event([=, this](const std::string& op, const std::string& path, const std::string& to) {
    const std::string manifests = "/etc/kubernetes/manifests";
    auto in_manifests = [&](const std::string& p) { return p == manifests || p.starts_with(manifests + "/"); };
    if (in_manifests(path) || (op == "move" && in_manifests(to))) kube_.static_pods_changed(kube_node(machine_name), files);
    if (op == "move") kube_.etcd_data_moved(kube_node(machine_name), to, files);
  });
}

std::string SimWorld::vip_holder(const std::string& ip) const {
  auto it = vip_holder_.find(ip);
  return it == vip_holder_.end() ? "" : it->second;
}

void SimWorld::move_vip(const std::string& ip, const std::string& to) {
  const std::string from = vip_holder(ip);
  if (from == to) return;
  auto nic_for = [this](const std::string& machine, const std::string& address) -> std::string {
    auto it = machines_.find(machine);
    if (it == machines_.end()) return "";
    for (std::size_t i = 0; i < it->second->spec.nics.size(); ++i)
      if (const NetworkModel* n = site_.network(it->second->spec.nics[i].network))
        if (Cidr::parse(n->cidr).contains(IpAddress::parse(address))) return nic_id(i);
    return "";
  };
  if (!from.empty())
    if (const std::string nic = nic_for(from, ip); !nic.empty()) net_.remove_address(from, nic, ip);
  if (to.empty()) {
    vip_holder_.erase(ip);
  } else if (const std::string nic = nic_for(to, ip); !nic.empty()) {
    net_.add_address(to, nic, ip);
    vip_holder_[ip] = to;
  }
  engine_.log("metallb", "vip-announced", {{"ip", ip}, {"from", from}, {"to", to}});
}

void SimWorld::reconcile_cluster() {
  static thread_local bool busy = false;  // setting a Service's status is itself a change
  if (busy) return;
  busy = true;
  struct Done {
    bool& b;
    ~Done() { b = false; }
  } done{busy};

  // The API server's port on the control-plane node.
  if (kube_.api_up() && !apiserver_stopped_)
    if (const std::string api = machine_of_node(kube_.api_node()); !api.empty()) net_.listen(api, 6443, Proto::tcp, "kube-apiserver");

  // MetalLB: the controller assigns, the speakers (on running machines) announce.
  bool controller_ready = false;
  std::vector<std::string> speakers;
  for (const auto& pod : kube_.pods()) {
    if (pod.ns != "metallb-system" || !pod.ready) continue;
    const std::string component = pod.labels.value("component", "");
    if (component == "controller") controller_ready = true;
    const std::string machine = machine_of_node(pod.node);
    if (component == "speaker" && !machine.empty() && state(machine) == "up") speakers.push_back(pod.node);
  }
  std::sort(speakers.begin(), speakers.end());
  speakers.erase(std::unique(speakers.begin(), speakers.end()), speakers.end());
  if (controller_ready) {
    std::vector<json> objects = kube_.objects("ConfigMap");
    for (const char* kind : {"IPAddressPool", "L2Advertisement"})
      for (auto& o : kube_.objects(kind)) objects.push_back(std::move(o));
    std::vector<std::string> cidrs;
    for (const auto& node : kube_.nodes(false)) {
      auto it = machines_.find(machine_of_node(node));
      if (it == machines_.end()) continue;
      for (const auto& nic : it->second->spec.nics)
        if (const NetworkModel* n = site_.network(nic.network)) cidrs.push_back(n->cidr);
    }
    const MetalConfig config = read_metallb_config(objects, cidrs);
    for (const auto& error : config.errors)
      if (pending_.emplace("config: " + error, error).second) engine_.log("metallb", "config-error", {{"error", error}});
    std::vector<json> services;
    for (auto& svc : kube_.objects("Service"))
      if (svc["spec"].value("type", "") == "LoadBalancer") services.push_back(std::move(svc));
    std::map<std::string, std::string> ips;
    for (const auto& a : assign_ips(config, services, lb_ips_)) {
      const std::string key = a.ns + "/" + a.name;
      if (a.ip.empty()) {
        if (pending_[key] != a.pending_reason) engine_.log("metallb", "pending", {{"service", key}, {"reason", a.pending_reason}});
        pending_[key] = a.pending_reason;
        if (lb_ips_.contains(key)) kube_.set_load_balancer_ip(a.ns, a.name, "");
        continue;
      }
      pending_.erase(key);
      ips[key] = a.ip;
      if (lb_ips_[key] != a.ip) {
        kube_.set_load_balancer_ip(a.ns, a.name, a.ip);
        engine_.log("metallb", "ip-assigned", {{"service", key}, {"ip", a.ip}});
      }
    }
    lb_ips_ = std::move(ips);
  }
  // Announcements: one speaker node per VIP; when the holder is gone, the others notice after a
  // few seconds (memberlist), then one of them takes over.
  std::set<std::string> vips;
  for (const auto& [svc, ip] : lb_ips_) vips.insert(ip);
  for (const auto& [ip, holder] : std::map<std::string, std::string>(vip_holder_))
    if (!vips.contains(ip)) move_vip(ip, "");
  for (const auto& ip : vips) {
    const std::string want = machine_of_node(announcing_node(ip, speakers));
    const std::string now = vip_holder(ip);
    if (want == now) continue;
    if (!now.empty() && state(now) != "up") {
      auto moving = vip_moving_.find(ip);
      if (moving == vip_moving_.end()) {
        const Duration when = engine_.now() + engine_.rng().between(Duration(2000), Duration(8000));
        vip_moving_[ip] = when;
        engine_.log("metallb", "vip-failover-started", {{"ip", ip}, {"from", now}});
        engine_.background(when, [this] { reconcile_cluster(); });
        move_vip(ip, "");
        vip_holder_[ip] = now;  // still the holder as far as the others know, until they notice
        continue;
      }
      if (engine_.now() < moving->second) continue;
      vip_moving_.erase(moving);
    }
    move_vip(ip, want);
  }
  // kube-proxy: every running node answers on the LoadBalancer ports; HTTP on 80 is the ingress.
  for (const auto& node : kube_.nodes(false)) {
    const std::string machine = machine_of_node(node);
    if (machine.empty()) continue;
    for (const auto& svc : kube_.objects("Service")) {
      if (svc["spec"].value("type", "") != "LoadBalancer" || !svc["spec"].contains("ports")) continue;
      for (const auto& port : svc["spec"]["ports"])
        net_.listen(machine, port.value("port", 0), port.value("protocol", "TCP") == "UDP" ? Proto::udp : Proto::tcp,
                    "kube-proxy");
    }
    for (const bool https : {false, true})
      view_->serve_http(
          machine, https ? 443 : 80,
          [this, https](const std::string& host_header, const std::string& path) {
            const std::string host = host_header.substr(0, host_header.find(':'));
            auto r = route(https, host, path);
            world::HttpResponse out;
            out.status = r.status;
            out.body = r.status == 200 ? "served by " + r.endpoint + "\n" : r.reason + "\n";
            if (r.status == 0) out.error = r.reason;
            // The Ingress's own certificate (the simulator does not mint keys: the Secret stands for it).
            if (https && r.status != 0) out.tls_names = {host}, out.tls_trusted = true;
            return out;
          },
          https);
  }
}

IngressRoute SimWorld::route(bool https, const std::string& host, const std::string& path) {
  auto resolve = [this](const std::string& ns, const std::string& service, const json& port) {
    std::vector<std::string> pods;
    const auto eps = port.contains("name") ? kube_.endpoints(ns, service, port["name"].get<std::string>())
                                           : kube_.endpoints(ns, service, port.value("number", 0));
    for (const auto& e : eps)  // a pod on a machine that is down does not answer, whatever the API says
      if (state(machine_of_node(e.node)) == "up") pods.push_back(e.pod);
    return pods;
  };
  bool controller_ready = false;
  for (const auto& pod : kube_.pods())
    if (pod.ns == "ingress-nginx" && pod.ready) controller_ready = true;
  if (!controller_ready) return IngressRoute{503, "", "", "", "no ready ingress-nginx controller pod"};
  auto r = route_request(kube_.objects("Ingress"), kube_.objects("Service"), kube_.objects("Secret"), resolve, "nginx",
                         https, host, path);
  engine_.log("ingress", "request", {{"host", host}, {"path", path}, {"https", https}, {"status", r.status},
                                     {"endpoint", r.endpoint}, {"reason", r.reason}});
  return r;
}

SimWorld::HttpResult SimWorld::http(const std::string& from, const std::string& ip, int port, bool https,
                                    const std::string& host, const std::string& path) {
  auto reach = net_.connect(from, ip, port, Proto::tcp);
  if (reach.outcome != SimNetwork::Outcome::connected) return {0, "", reach.reason};
  auto r = route(https, host, path);
  if (r.status == 0) return {0, "", r.reason};
  return {r.status, r.status == 200 ? "served by " + r.endpoint + "\n" : r.reason + "\n", r.status == 200 ? "" : r.reason};
}

// ---- faults and invariants ------------------------------------------------------------------------

void SimWorld::schedule_faults(std::vector<FaultSpec> faults) {
  for (const auto& f : faults) {
    std::string machine = f.target.substr(0, f.target.find_first_of("/:"));
    if (f.action == "fill_disk" || f.action == "slow_installer" || f.action.rfind("host_power", 0) == 0) continue;
    if (!site_.machine(machine)) throw SiteError(f.where + ".target: '" + machine + "' is not a host of the site");
  }
  faults_ = std::make_unique<FaultSchedule>(engine_, std::move(faults),
                                            [this](const FaultSpec& f, bool undo) { apply_fault(f, undo); });
  engine_.on_log([this](const json& e) {
    if (faults_) faults_->observe(e);
  });
  faults_->arm();
}

std::vector<std::string> SimWorld::faults_not_fired() const { return faults_ ? faults_->not_fired() : std::vector<std::string>{}; }

void SimWorld::apply_fault(const FaultSpec& f, bool undo) {
  const auto split = f.target.find_first_of("/:");
  const std::string machine = f.target.substr(0, split), rest = split == std::string::npos ? "" : f.target.substr(split + 1);
  auto in_hypervisor = [this](const std::string& vm) {
    for (const auto& v : hv_.list())
      if (v.spec.name == vm) return true;
    return false;
  };
  const std::string& a = f.action;
  if (a == "power_off" || a == "power_on") {
    if (!in_hypervisor(machine)) return engine_.log("faults", "fault-skipped", {{"where", f.where}, {"reason", "no VM " + machine}});
    ((a == "power_off") != undo) ? hv_.stop(machine) : hv_.start(machine);
  } else if (a == "host_power_off" || a == "host_power_on") {
    if ((a == "host_power_off") != undo) {
      powered_before_fault_.clear();
      for (const auto& v : hv_.list())
        if (v.running) powered_before_fault_.push_back(v.spec.name);
      hv_.power_off_host();
    } else {
      hv_.power_on_host();
      for (const auto& vm : powered_before_fault_) hv_.start(vm);  // their autostart
    }
  } else if (a == "link_down" || a == "link_up") {
    const std::string nic = rest.empty() ? (site_.machine(machine)->vm ? "nic0" : "eth0") : rest;
    net_.set_link(machine, nic, (a == "link_up") != undo);
  } else if (a == "loss") {
    net_.set_loss(machine, undo ? 0.0 : f.value);
  } else if (a == "isolate" || a == "unisolate") {
    net_.set_isolated(machine, (a == "isolate") != undo);
  } else if (a == "stop_service" || a == "start_service") {
    set_service(machine, rest, (a == "start_service") != undo);
  } else if (a == "delete_file") {
    if (SimHost* sys = system(machine)) sys->remove_file(rest);
  } else if (a == "fill_disk") {
    if (!nas_) return engine_.log("faults", "fault-skipped", {{"where", f.where}, {"reason", "no NAS is installed"}});
    nas_->fill(f.target);
  } else if (a == "slow_installer") {
    set_install_slowdown(undo ? 1.0 : f.value);
  }
}

std::vector<std::string> SimWorld::check_invariants(bool final) {
  static thread_local bool busy = false;  // logging a violation is an event too
  if (busy) return {};
  busy = true;
  std::vector<std::string> out;
  int threads = 0;
  std::int64_t memory = 0;
  for (const auto& v : hv_.list()) {
    threads += v.spec.vcpus;
    memory += v.spec.memory_mb;
  }
  if (threads > site_.capacity.threads || memory > site_.capacity.memory_mb)
    out.push_back("the VMs need " + std::to_string(threads) + " threads and " + std::to_string(memory) +
                  " MB: more than the host has");
  for (const auto& n : site_.networks) {
    std::map<std::string, std::set<std::string>> owners;
    for (const auto& [name, m] : machines_)
      for (std::size_t i = 0; i < m->spec.nics.size(); ++i)
        if (m->spec.nics[i].network == n.name && state(name) != "off")
          for (const auto& ip : net_.addresses_of(name, nic_id(i))) owners[ip].insert(name);
    for (const auto& [ip, who] : owners) {
      const bool vip = vip_holder_.contains(ip);
      if (who.size() > 1 && !vip) out.push_back("IP " + ip + " is on more than one machine on " + n.name);
      if (who.size() > 1 && vip) out.push_back("VIP " + ip + " is answered by more than one node");
    }
  }
  if (final) {
    for (const auto& [svc, ip] : lb_ips_)
      if (vip_holder(ip).empty() || state(vip_holder(ip)) != "up") out.push_back("VIP " + ip + " (" + svc + ") is answered by no node");
    for (const auto& ing : kube_.objects("Ingress"))
      for (const auto& rule : ing["spec"].value("rules", json::array())) {
        const std::string host = rule.value("host", "");
        if (host.empty()) continue;
        auto r = route(false, host, "/");
        if (r.status != 200) out.push_back("Ingress host " + host + " does not reach a ready pod: " + r.reason);
      }
  }
  for (const auto& v : out)
    if (violations_.insert(v).second) engine_.log("invariants", "violated", {{"what", v}});
  busy = false;
  return out;
}

std::string SimWorld::describe() {
  std::ostringstream out;
  out << "site " << site_.name << " (simulated)\n";
  out << "hypervisor: " << site_.capacity.threads << " threads, " << site_.capacity.memory_mb / 1024 << " GB memory, "
      << site_.capacity.datastore_gb << " GB datastore";
  if (!site_.datastore_files.empty()) {
    out << "; images:";
    for (const auto& f : site_.datastore_files) out << " " << f;
  }
  out << "\nnetworks:\n";
  for (const auto& n : site_.networks) {
    out << "  " << n.name << "  " << n.cidr;
    if (!n.vswitch.empty()) out << "  port group on " << n.vswitch << (n.vlan ? ", VLAN " + std::to_string(n.vlan) : "");
    if (!n.gateway.empty()) out << "  gateway " << n.gateway;
    out << "\n";
  }
  out << "hosts:\n";
  for (const auto& m : site_.machines) {
    out << "  " << m.name;
    if (!m.role.empty()) out << " (" << m.role << ")";
    if (m.kind == MachineModel::Kind::physical) {
      out << "  physical on " << m.network << ", " << m.address;
      for (const auto& [net, ip] : m.extra_addresses) out << ", " << ip << " on " << net;
      if (m.local) out << "  [drctl runs here]";
      for (const auto& f : m.forwards)
        out << "\n      forwards [" << f.listen_ip << "]:" << f.port << "/" << f.proto << " -> " << f.target_ip << ":" << f.target_port;
      if (m.dhcp) out << "\n      DHCP " << m.dhcp->range_start << "-" << m.dhcp->range_end;
    } else {
      const auto& vm = *m.vm;
      out << "  VM " << vm.vcpus << " vCPU, " << vm.memory_mb / 1024 << " GB";
      if (m.kind == MachineModel::Kind::appliance) out << ", appliance " << m.appliance << " from " << vm.cdrom;
      else out << ", installed over PXE";
      if (!m.address.empty()) out << ", expected at " << m.address;
      for (const auto& nic : vm.nics) out << "\n      NIC " << nic.mac << " on " << nic.network;
    }
    out << "\n      state: " << state(m.name);
    if (SimHost* sys = system(m.name)) {
      auto units = sys->services();
      if (!units.empty()) {
        out << "; services:";
        for (const auto& u : units) out << " " << u;
      }
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace drctl::sim
