// The simulated site put together as a World: the site built from its model (physical machines,
// networks, the controller), the machines table, the hosts drctl reaches, diagnose and describe.
// A machine's life is sim_machine_life.cpp, the site's services sim_site_services.cpp, SSH
// sim_ssh.cpp, the cluster sim_cluster.cpp, faults and invariants sim_faults.cpp.
#include "sim/sim_world.hpp"

#include <algorithm>
#include <sstream>

#include "sim/sim_machine.hpp"
#include "sim/sim_ssh_host.hpp"

namespace drctl::sim {

using json = nlohmann::json;
using world::Duration;

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
  // A disk image moves between drctl's machine and the hypervisor's datastore at the speed of the
  // controller's network (and of the pool's disks, for TrueNAS's data disk), the bytes it stands for.
  auto image_time = [this](const std::string& what, const std::string& vm, std::size_t disk, const std::string& image) {
    const std::int64_t bytes = image_weight(vm, image);
    take_time(what + " disk " + std::to_string(disk) + " of " + vm, vm, bytes, {site_.controller().network}, bytes);
  };
  hv_.on_disks(
      [this, image_time](const std::string& vm, std::size_t disk) {
        std::string image = read_disk_image(vm, disk);
        image_time("read", vm, disk, image);
        return image;
      },
      [this, image_time](const std::string& vm, std::size_t disk, std::string image) {
        image_time("write", vm, disk, image);
        write_disk_image(vm, disk, std::move(image));
      });
  hv_.on_guest_down([this](const std::string& vm) { return diagnose(vm); });
  hv_.on_guest([this](const std::string& vm) -> world::Host* {
    auto it = machines_.find(vm);
    return it != machines_.end() && it->second->state == "up" ? it->second->system.get() : nullptr;
  });
  for (const auto& n : site_.networks) {
    net_.add_segment(n.name, n.cidr);
    if (n.bandwidth > 0) net_.set_bandwidth(n.name, n.bandwidth);
  }

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
    if (m.role == "client") {  // someone's machine: up, answering SSH with the site's key
      auto& client = clients_[m.name] = std::make_unique<SimHost>(engine_, m.name);
      const std::string home = m.user.empty() || m.user == "root" ? "/root" : "/home/" + m.user;
      if (!m.ssh_key.empty()) client->put_file(home + "/.ssh/authorized_keys", m.ssh_key + "\n", 0600);
      net_.listen(m.name, 22, Proto::tcp, "sshd");
    }
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
  view_->serve_dns([this](const std::string& node, const std::string& name) { return dns_records(node, name); });
  engine_.log("site", "built", {{"site", site_.name}, {"machines", site_.machines.size()}, {"networks", site_.networks.size()}});
}

SimWorld::~SimWorld() {
  // Actors still parked (a drill cut short, a test driving with run_for) unwind while the
  // machines, the network and the cluster their frames use still exist.
  engine_.shutdown();
}

SimHost* SimWorld::kube_host(const KubeNode& node, std::string* machine_name) {
  std::string name = machine_of_node(node.name);
  if (name.empty()) name = node.name;
  if (machine_name) *machine_name = name;
  if (name == site_.controller().name) return controller_.get();
  return system(name);
}

KubeWorld SimWorld::kube_world() {
  KubeWorld w;
  w.dial = [this](const KubeNode& from, const std::string& host, int port) {
    KubeDial d;
    std::string machine;
    SimHost* sys = kube_host(from, &machine);
    std::vector<std::string> ips;
    if (is_ip_address(host)) ips = {host};
    if (ips.empty() && sys)  // /etc/hosts first, as glibc's "files dns" does
      if (auto hosts = sys->get_file("/etc/hosts")) {
        std::istringstream lines(*hosts);
        for (std::string line; ips.empty() && std::getline(lines, line);) {
          std::istringstream words(line.substr(0, line.find('#')));
          std::string ip, name;
          words >> ip;
          while (words >> name)
            if (name == host && is_ip_address(ip)) ips = {ip};
        }
      }
    if (ips.empty()) ips = resolve_name(host);
    if (ips.empty()) {
      d.outcome = KubeDial::Outcome::unresolved;
      d.reason = host + " does not resolve";
      return d;
    }
    d.address = ips.front();
    if (!net_.has_node(machine)) {
      d.reason = machine + " is not on the network";
      return d;
    }
    const SimNetwork::Reach reach = net_.connect(machine, d.address, port, Proto::tcp);
    switch (reach.outcome) {
      case SimNetwork::Outcome::connected: d.outcome = KubeDial::Outcome::connected; break;
      case SimNetwork::Outcome::refused: d.outcome = KubeDial::Outcome::refused; break;
      case SimNetwork::Outcome::timeout: d.outcome = KubeDial::Outcome::timeout; break;
      case SimNetwork::Outcome::unreachable: d.outcome = KubeDial::Outcome::unreachable; break;
    }
    d.service = reach.service;
    d.reason = reach.reason;
    return d;
  };
  w.env = [this](const KubeNode& node) {
    SimHost* sys = kube_host(node);
    return sys ? sys->command_env() : std::map<std::string, std::string>{};
  };
  w.download = [this](const KubeNode& node, std::int64_t bytes, const std::string& what) {
    std::string machine;
    kube_host(node, &machine);
    return download_time(machine, bytes, what);
  };
  w.node_files = [this](const std::string& node) -> std::optional<KubeFiles> {
    SimHost* h = system(machine_of_node(node));
    if (!h) return std::nullopt;
    return KubeFiles{[h](const std::string& path) { return h->get_file(path); },
                     [h](const std::string& path, const std::string& content, unsigned mode) { h->put_file(path, content, mode); },
                     [h](const std::string& path) { h->remove_file(path); },
                     [h](const std::string& dir) { return h->list_dir(dir); }};
  };
  return w;
}

world::Network& SimWorld::network_from(const std::string& host) {
  if (host == site_.controller().name || host == "local") return *view_;
  if (!site_.machine(host)) throw std::out_of_range("unknown host: " + host);
  auto& view = views_[host];
  // The real checks run there over SSH (world::real::HostNetwork): no login, no check.
  if (!view) view = view_->from(host, [this, host] {
    const Login login = ssh_login(host);
    return login.ok ? std::string() : "ssh: " + host + ": " + login.reason;
  });
  return *view;
}

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
  if (auto client = clients_.find(name); client != clients_.end()) return client->second.get();
  auto it = machines_.find(name);
  return it == machines_.end() ? nullptr : it->second->system.get();
}

std::string SimWorld::state(const std::string& name) const {
  auto it = machines_.find(name);
  return it == machines_.end() ? "off" : it->second->state;
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

nlohmann::json SimWorld::describe_json() {
  using nlohmann::json;
  json out = {{"site", site_.name},
              {"hypervisor", {{"threads", site_.capacity.threads},
                              {"memory_mb", site_.capacity.memory_mb},
                              {"datastore_gb", site_.capacity.datastore_gb},
                              {"images", site_.datastore_files}}},
              {"networks", json::array()},
              {"hosts", json::array()}};
  for (const auto& n : site_.networks)
    out["networks"].push_back({{"name", n.name}, {"cidr", n.cidr}, {"vswitch", n.vswitch}, {"vlan", n.vlan}, {"gateway", n.gateway}});
  for (const auto& m : site_.machines) {
    json h = {{"name", m.name}, {"role", m.role}, {"address", m.address}, {"state", state(m.name)}};
    if (m.kind == MachineModel::Kind::physical) {
      h["kind"] = "physical";
      h["network"] = m.network;
      h["local"] = m.local;
      h["extra_addresses"] = json::object();
      for (const auto& [net, ip] : m.extra_addresses) h["extra_addresses"][net] = ip;
      h["forwards"] = json::array();
      for (const auto& f : m.forwards)
        h["forwards"].push_back({{"listen", f.listen_ip}, {"port", f.port}, {"proto", f.proto}, {"target", f.target_ip},
                                 {"target_port", f.target_port}});
      if (m.dhcp) h["dhcp"] = {{"start", m.dhcp->range_start}, {"end", m.dhcp->range_end}};
    } else {
      const auto& vm = *m.vm;
      h["kind"] = m.kind == MachineModel::Kind::appliance ? "appliance" : "pxe-installed";
      h["vcpus"] = vm.vcpus;
      h["memory_mb"] = vm.memory_mb;
      if (m.kind == MachineModel::Kind::appliance) h["appliance"] = m.appliance, h["cdrom"] = vm.cdrom;
      h["nics"] = json::array();
      for (const auto& nic : vm.nics) h["nics"].push_back({{"mac", nic.mac}, {"network", nic.network}});
    }
    h["services"] = json::array();
    if (SimHost* sys = system(m.name))
      for (const auto& u : sys->services()) h["services"].push_back(u);
    out["hosts"].push_back(h);
  }
  return out;
}

}  // namespace drctl::sim
