// The site's services as the machines meet them: pfSense's configuration applied (interfaces,
// DHCP), DHCP on the wire, names through pfSense's host overrides, files fetched over TFTP, NFS
// and HTTP from the PXE server as its daemons read their configuration when they started (a
// request that meets a stale one says so), and services stopped or started (a fault).
#include "sim/sim_world.hpp"

#include <algorithm>
#include <sstream>

#include "sim/dnsmasq.hpp"
#include "sim/ipv4_text.hpp"
#include "sim/sim_machine.hpp"

namespace drctl::sim {

using json = nlohmann::json;
using world::Duration;

namespace {

bool is_ip_literal(const std::string& s) {
  return !s.empty() && (s.find(':') != std::string::npos ||
                        s.find_first_not_of("0123456789.") == std::string::npos);
}

/// Is `ip` allowed by an /etc/exports client spec ("*", "10.0.20.0/24", "10.0.20.11")?
bool client_matches(const std::string& spec, const std::string& ip) {
  if (spec == "*") return true;
  const auto slash = spec.find('/');
  try {
    if (slash == std::string::npos) return ipv4_or_throw(spec) == ipv4_or_throw(ip);
    const int bits = std::stoi(spec.substr(slash + 1));
    const std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t(0) << (32 - bits);
    return (ipv4_or_throw(spec.substr(0, slash)) & mask) == (ipv4_or_throw(ip) & mask);
  } catch (const std::exception&) {
    return false;
  }
}

/// Does an /etc/exports text export `path` to `ip`?
bool exports_allow(const std::string& exports, const std::string& path, const std::string& ip) {
  std::istringstream lines(exports);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string dir, client;
    if (!(words >> dir) || dir[0] == '#') continue;
    const bool under = path == dir || path.rfind(dir.back() == '/' ? dir : dir + "/", 0) == 0;
    while (under && words >> client)
      if (client_matches(client.substr(0, client.find('(')), ip)) return true;
  }
  return false;
}

/// "when it started at 00:01:02", "when exportfs -r ran at …": when a daemon read its files.
std::string when_read(const ConfigRead& r) {
  if (r.how == "exportfs -r") return "when exportfs -r ran at " + clock_text(r.at);
  return "when it " + r.how + " at " + clock_text(r.at);
}

const std::string kPfConfig = "/cf/conf/config.xml";

}  // namespace

// ---- the daemons' configuration ---------------------------------------------------------------

ServiceManager* SimWorld::services(const std::string& machine_name) {
  auto it = services_.find(machine_name);
  if (it == services_.end()) return nullptr;
  auto manager = it->second.lock();
  auto m = machines_.find(machine_name);
  // A reinstalled machine has a new system; the old one's manager went with it.
  if (!manager || m == machines_.end() || &manager->host() != m->second->system.get()) return nullptr;
  return manager.get();
}

std::string SimWorld::stale_note(const std::string& node, const std::string& unit, const std::string& serves,
                                 const std::string& path, const std::string& now_says, const std::string& fix) {
  ServiceManager* sm = services(node);
  if (!sm || !sm->stale(unit, path)) return "";
  return unit + " on " + node + " serves " + serves + ", as configured " + when_read(*sm->read(unit)) + "; " + path +
         " now says " + now_says + ": " + fix;
}

std::string SimWorld::pf_stale_note() {
  SimHost* pf = pf_machine_.empty() ? nullptr : system(pf_machine_);
  if (!pf || !pf_config_ || pf->get_file(kPfConfig).value_or("") == pf_applied_xml_) return "";
  return "; pfSense serves the configuration it applied at " + clock_text(pf_applied_at_) + ", and " + kPfConfig +
         " has changed since: run /etc/rc.reload_all";
}

// ---- pfSense ------------------------------------------------------------------------------

namespace {

/// config.lib.inc discover_last_backup(): the newest /cf/conf/backup/*.xml (last by name: they are
/// config-EPOCH.xml) that pfSense's XML reader can read, with its path.
std::optional<std::pair<std::string, std::string>> pf_last_backup(SimHost& pf) {
  auto names = pf.list_dir("/cf/conf/backup");
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (!it->ends_with(".xml")) continue;
    const std::string path = "/cf/conf/backup/" + *it;
    const auto content = pf.get_file(path);
    if (!content || content->empty()) continue;
    try {
      parse_pfsense_config(*content);
    } catch (const PfConfigXmlError&) {
      continue;
    } catch (const std::exception&) {
      // readable as XML: pfSense restores it (what it then makes of it is the caller's)
    }
    return std::pair(path, *content);
  }
  return std::nullopt;
}

}  // namespace

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
  auto xml = m.system->get_file(kPfConfig);
  pf_applied_at_ = engine_.now();
  try {
    if (!xml || xml->empty()) throw PfConfigXmlError("config.xml is missing or empty");
    pf_config_ = parse_pfsense_config(*xml);
  } catch (const PfConfigXmlError& e) {
    // config.lib.inc parse_config(): a config.xml pfSense cannot read (missing, empty, not XML, no
    // <pfsense>) is replaced by the newest backup in /cf/conf/backup that reads, which is then loaded;
    // with none, it dies: "Config.xml is corrupted and is 0 bytes.  Could not restore a previous backup."
    const auto backup = pf_last_backup(*m.system);
    if (!backup) {
      pf_applied_xml_ = xml.value_or("");
      return problem(m, std::string("pfSense: ") + e.what() +
                            ": Config.xml is corrupted and is 0 bytes.  Could not restore a previous backup.");
    }
    m.system->put_file(kPfConfig, backup->second, 0644);
    engine_.log(m.name, "config-restored", {{"backup", backup->first}, {"cause", e.what()}});
    xml = backup->second;
    pf_applied_xml_ = *xml;
    try {
      pf_config_ = parse_pfsense_config(*xml);
    } catch (const std::exception& bad) {
      return problem(m, std::string("pfSense: restored ") + backup->first + ": " + bad.what());
    }
  } catch (const std::exception& e) {
    pf_applied_xml_ = xml.value_or("");
    return problem(m, std::string("pfSense: ") + e.what());
  }
  pf_applied_xml_ = *xml;
  for (const auto& notice : pf_config_->notices) engine_.log(m.name, "notice", {{"text", notice}});
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
      last_dhcp_refusal_ = pf_dhcp_->last_refusal() + pf_stale_note();
    }
  }
  for (const auto& [server, d] : physical_dhcp_) {
    if (site_.machine(server)->network != segment || !serves(server, "dhcpd")) continue;
    auto lease = d->request(mac, segment);
    if (lease) return lease;
    last_dhcp_refusal_ = d->last_refusal();
  }
  return dnsmasq_lease(mac, segment);
}

SimWorld::DnsmasqServed* SimWorld::dnsmasq_served(const std::string& machine) {
  SimHost* host = system(machine);
  ServiceManager* manager = services(machine);
  if (!host || !manager || !host->service_active("dnsmasq")) return nullptr;
  const ConfigRead* read = manager->read("dnsmasq");
  const world::Duration at = read ? read->at : world::Duration(-1);
  DnsmasqServed& served = dnsmasq_[machine];
  if (served.read_at != at) {
    served = {at, std::nullopt, nullptr};
    try {
      served.config = read_dnsmasq([manager](const std::string& path) { return manager->served("dnsmasq", path); });
    } catch (const std::invalid_argument&) {
    }
  }
  return &served;
}

std::optional<Lease> SimWorld::dnsmasq_lease(const std::string& mac, const std::string& segment) {
  for (auto& [name, m] : machines_) {
    if (m->state != "up" || !m->system || !net_.on_wire(name, segment)) continue;
    DnsmasqServed* served = dnsmasq_served(name);
    if (!served) {
      if (m->system->installed("dnsmasq"))
        last_dhcp_refusal_ += " (dnsmasq on " + name + " is installed but not running: systemctl restart dnsmasq)";
      continue;
    }
    if (!served->config) continue;
    if (!served->dhcp) {
      const MachineModel* model = site_.machine(name);
      served->dhcp = std::make_unique<DhcpServer>(
          engine_, std::vector<DhcpScope>{dnsmasq_scope(*served->config, segment, model ? model->address : "")});
    }
    if (auto lease = served->dhcp->request(mac, segment)) return lease;
    last_dhcp_refusal_ = "dnsmasq on " + name + ": " + served->dhcp->last_refusal();
    if (services(name)->stale("dnsmasq", kDnsmasqDrctlConf))
      last_dhcp_refusal_ += " (dnsmasq serves the configuration it read when it started at " + clock_text(*served->read_at) +
                            "; " + kDnsmasqDrctlConf + " has changed since: restart dnsmasq)";
  }
  return std::nullopt;
}

std::string SimWorld::dnsmasq_record(const std::string& server, const std::string& name) {
  const DnsmasqServed* served = dnsmasq_served(server);
  if (!served || !served->config) return "";
  auto it = served->config->records.find(name);
  return it == served->config->records.end() ? "" : it->second;
}

std::vector<std::string> SimWorld::dns_records(const std::string& node, const std::string& name) {
  if (node == pf_machine_ && pf_config_)
    for (const auto& h : pf_config_->dns_hosts)
      if (h.host + "." + h.domain == name) return {h.ip};
  if (std::string ip = dnsmasq_record(node, name); !ip.empty()) return {ip};
  return {};
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
    const std::vector<std::string> records = dns_records(dns.node, where.server);
    ip = records.empty() ? "" : records.front();
    if (ip.empty()) return {false, "", "cannot resolve " + where.server + ": DNS server " + lease.dns + " has no record for it"};
  }
  const int port = where.scheme == "tftp" ? 69 : where.scheme == "nfs" ? 2049 : where.port ? where.port : 80;
  const Proto proto = where.scheme == "tftp" ? Proto::udp : Proto::tcp;
  auto reach = net_.connect(node, ip, port, proto);
  if (reach.outcome != SimNetwork::Outcome::connected) return {false, "", where.scheme + " " + ip + ": " + reach.reason};
  SimHost* server = system(reach.node);
  if (!server) return {false, "", where.scheme + " " + ip + ": the server has no system"};
  ServiceManager* sm = services(reach.node);
  auto served = [&](const std::string& unit, const std::string& path) {
    return sm ? sm->served(unit, path) : server->get_file(path);
  };
  std::string file, stale;
  if (where.scheme == "tftp") {
    const std::string root = tftp_directory(served("tftpd-hpa", kTftpDefaults));
    file = root + "/" + where.path;
    stale = stale_note(reach.node, "tftpd-hpa", root, kTftpDefaults, tftp_directory(server->get_file(kTftpDefaults)),
                       "restart tftpd-hpa");
  } else if (where.scheme == "nfs") {
    const std::string me = lease.ip;
    if (!exports_allow(served("nfs-kernel-server", kExports).value_or(""), where.path, me)) {
      const bool would = exports_allow(server->get_file(kExports).value_or(""), where.path, me);
      const std::string note = would ? stale_note(reach.node, "nfs-kernel-server", "the exports", kExports,
                                                  "it is exported", "run exportfs -ra")
                                     : "";
      return {false, "", "NFS " + where.server + ": " + where.path + " is not exported to " + me + " (" +
                             (note.empty() ? kExports : note) + ")"};
    }
    file = where.path;
  } else {
    const std::string root = nginx_root(served("nginx", kNginxSite));
    file = root + where.path;
    stale = stale_note(reach.node, "nginx", root, kNginxSite, nginx_root(server->get_file(kNginxSite)), "reload nginx");
  }
  auto content = server->get_file(file);
  if (!content) {
    const std::string why = where.scheme == "tftp" ? "TFTP error 1: file not found" : where.scheme == "nfs" ? "NFS: no such file" : "HTTP 404";
    return {false, "", why + ": " + where.path + " on " + where.server + " (" + (stale.empty() ? reach.node + ":" + file : stale) + ")"};
  }
  return {true, *content, ""};
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

}  // namespace drctl::sim
