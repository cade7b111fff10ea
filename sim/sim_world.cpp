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
  if (!on) {
    if (m.state == "installing") {
      m.on_disk = false;
      m.system.reset();
      problem(m, "powered off during the install: the disk holds no bootable system");
    }
    if (vm == pf_machine_) pf_dhcp_.reset();
    m.state = "off";
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

void SimWorld::set_service(const std::string& machine_name, const std::string& unit, bool running) {
  SimHost* sys = system(machine_name);
  if (!sys) throw std::runtime_error("sim: " + machine_name + " has no system to " + (running ? "start " : "stop ") + unit + " on");
  sys->set_service(unit, running);
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
