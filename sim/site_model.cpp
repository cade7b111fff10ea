#include "sim/site_model.hpp"

#include <algorithm>
#include <cctype>
#include <string>

#include "sim/ipv4_text.hpp"
#include "world/vm_spec.hpp"

namespace drctl::sim {

using json = nlohmann::json;

namespace {

/// Reads fields of one JSON object, naming `where` in every error.
struct Fields {
  const json& obj;
  std::string where;

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw SiteError(where + (field.empty() ? "" : (where.empty() ? "" : ".") + field) + ": " + message);
  }
  bool has(const std::string& key) const { return obj.is_object() && obj.contains(key) && !obj[key].is_null(); }
  std::string str(const std::string& key, const std::string& fallback = "") const {
    if (!has(key)) return fallback;
    const json& v = obj[key];
    if (v.is_string()) return v.get<std::string>();
    if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
    fail(key, "expected a string, got " + v.dump());
  }
  int integer(const std::string& key, int fallback) const {
    if (!has(key)) return fallback;
    if (!obj[key].is_number_integer()) fail(key, "expected a whole number, got " + obj[key].dump());
    return obj[key].get<int>();
  }
  std::int64_t size_mb(const std::string& key, std::int64_t fallback, const std::string& unit = "M") const {
    if (!has(key)) return fallback;
    try {
      return world::parse_size_mb(obj[key], unit);
    } catch (const std::invalid_argument& e) {
      fail(key, e.what());
    }
  }
  std::vector<std::string> strings(const std::string& key) const {
    std::vector<std::string> out;
    if (!has(key)) return out;
    if (!obj[key].is_array()) fail(key, "expected a list");
    for (const auto& v : obj[key]) {
      if (!v.is_string()) fail(key, "expected a list of strings, got " + v.dump());
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  double rate(const std::string& key) const {
    if (!has(key)) return 0;
    if (!obj[key].is_string()) fail(key, "expected a rate like 1Gbit or 200MB/s, got " + obj[key].dump());
    try {
      return parse_rate(obj[key].get<std::string>());
    } catch (const std::invalid_argument& e) {
      fail(key, e.what());
    }
  }
  Fields sub(const std::string& key) const { return Fields{obj[key], where.empty() ? key : where + "." + key}; }
};

void check_ip(const Fields& f, const std::string& field, const std::string& ip) {
  try {
    ipv4_or_throw(ip);
  } catch (const std::invalid_argument&) {
    if (ip.find(':') == std::string::npos) f.fail(field, "'" + ip + "' is not an IP address");
  }
}

/// "[2a00::1]:443/udp" or "10.0.20.200:443" → address, port, protocol.
void parse_endpoint(const Fields& f, const std::string& field, const std::string& text, std::string& ip, int& port,
                    std::string& proto) {
  std::string rest = text;
  if (auto slash = rest.rfind('/'); slash != std::string::npos) {
    proto = rest.substr(slash + 1);
    rest.resize(slash);
    if (proto != "tcp" && proto != "udp") f.fail(field, "protocol '" + proto + "' is not tcp or udp");
  }
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos) f.fail(field, "'" + text + "' is not ADDRESS:PORT");
  ip = rest.substr(0, colon);
  if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
  try {
    port = std::stoi(rest.substr(colon + 1));
  } catch (const std::exception&) {
    f.fail(field, "'" + text + "' has no port number");
  }
  check_ip(f, field, ip);
}

world::VmSpec read_vm(const SiteModel& site, const Fields& f, const std::string& name) {
  world::VmSpec vm;
  try {
    vm = world::vm_spec_from_json(name, f.obj);
  } catch (const std::invalid_argument& e) {
    throw SiteError(f.where.substr(0, f.where.size() - 2) + e.what());  // where ends in ".vm"
  }
  for (std::size_t i = 0; i < vm.nics.size(); ++i)
    if (!site.port_groups.contains(vm.nics[i].network)) {
      std::string known;
      for (const auto& [pg, sw] : site.port_groups) known += (known.empty() ? "" : ", ") + pg;
      f.fail("nics[" + std::to_string(i) + "].network",
             "'" + vm.nics[i].network + "' is not a port group of the host's switches (" + known + ")");
    }
  return vm;
}

}  // namespace

double parse_rate(const std::string& text) {
  const auto bad = [&] {
    return std::invalid_argument("'" + text + "' is not a rate (1Gbit, 100Mbit, 2.5Gbit/s for bits per second; 200MB/s, 1.5GB/s for bytes)");
  };
  std::size_t used = 0;
  double number = 0;
  try {
    number = std::stod(text, &used);
  } catch (const std::exception&) {
    throw bad();
  }
  if (!(number > 0) || !std::isdigit(static_cast<unsigned char>(text[0]))) throw bad();
  std::string unit = text.substr(used);
  double scale = 1;
  if (!unit.empty() && (unit[0] == 'K' || unit[0] == 'k' || unit[0] == 'M' || unit[0] == 'G' || unit[0] == 'T')) {
    scale = unit[0] == 'T' ? 1e12 : unit[0] == 'G' ? 1e9 : unit[0] == 'M' ? 1e6 : 1e3;
    unit.erase(0, 1);
  }
  if (unit == "bit" || unit == "bit/s" || unit == "bps") return number * scale / 8;
  if (unit == "B/s") return number * scale;
  throw bad();
}

const NetworkModel* SiteModel::network(const std::string& name) const {
  for (const auto& n : networks)
    if (n.name == name) return &n;
  return nullptr;
}

const MachineModel* SiteModel::machine(const std::string& name) const {
  for (const auto& m : machines)
    if (m.name == name) return &m;
  return nullptr;
}

const MachineModel& SiteModel::controller() const {
  for (const auto& m : machines)
    if (m.local) return m;
  throw SiteError("hosts: the simulated site needs the machine drctl runs on: a host with `connection: local`, a "
                  "`network` and an `address`");
}

SiteModel read_site(const json& site) {
  SiteModel out;
  Fields top{site, ""};
  out.name = top.str("name", "site");
  out.versions = read_versions(top.has("versions") ? site["versions"] : json());

  Fields hv = top.has("hypervisor") ? top.sub("hypervisor") : Fields{json::object(), "hypervisor"};
  out.capacity.threads = hv.integer("threads", out.capacity.threads);
  out.capacity.memory_mb = hv.size_mb("memory", out.capacity.memory_mb);
  // A real site's `datastore:` names one (LocalDS_0): only a size (2T) is the simulator's capacity.
  // Its url, datacenter, cluster, host, thumbprint, ca_file, user and credentials are the real
  // hypervisor's business: the simulator reads none of them.
  const bool datastore_named = hv.has("datastore") && hv.obj["datastore"].is_string() &&
                               !hv.obj["datastore"].get<std::string>().empty() &&
                               !std::isdigit(static_cast<unsigned char>(hv.obj["datastore"].get<std::string>()[0]));
  if (!datastore_named)
    out.capacity.datastore_gb = hv.size_mb("datastore", out.capacity.datastore_gb * 1024, "G") / 1024;
  out.datastore_files = hv.strings("images");
  if (hv.has("switches")) {
    if (!hv.obj["switches"].is_object()) hv.fail("switches", "expected a map of switch name to its port groups");
    for (const auto& [sw, def] : hv.obj["switches"].items())
      for (const auto& pg : Fields{def, hv.where + ".switches." + sw}.strings("port_groups")) out.port_groups[pg] = sw;
  }

  if (top.has("networks")) {
    Fields nets = top.sub("networks");
    if (!nets.obj.is_object()) nets.fail("", "expected a map of network name to its settings");
    for (const auto& [name, def] : nets.obj.items()) {
      Fields n{def, "networks." + name};
      NetworkModel net{name, n.str("cidr"), n.str("gateway"), "", n.integer("vlan", 0), n.rate("bandwidth")};
      if (net.cidr.find('/') == std::string::npos) n.fail("cidr", "'" + net.cidr + "' is not a prefix like 10.0.20.0/24");
      if (auto it = out.port_groups.find(name); it != out.port_groups.end()) net.vswitch = it->second;
      out.networks.push_back(net);
    }
  }
  for (const auto& [pg, sw] : out.port_groups)
    if (!out.network(pg)) throw SiteError("hypervisor.switches." + sw + ": port group '" + pg + "' has no entry under networks");

  std::string site_key = top.has("vars") ? Fields{site["vars"], "vars"}.str("ssh_key") : "";
  if (site_key.empty() && site.contains("secrets") && site["secrets"].is_object())
    site_key = site["secrets"].value("ssh_key", "");  // the site's secrets file
  if (!top.has("hosts")) return out;
  if (!site["hosts"].is_object()) throw SiteError("hosts: expected a map of host name to its settings");
  for (const auto& [name, h] : site["hosts"].items()) {
    MachineModel m;
    m.name = name;
    Fields f{h, "hosts." + name};
    m.role = f.str("role");
    m.address = f.str("address");
    m.user = f.str("user");
    m.local = f.str("connection") == "local";
    m.ssh_key = f.str("ssh_key", site_key);
    m.appliance = f.str("appliance");
    if (f.has("pool")) {
      Fields pool = f.sub("pool");
      m.pool = pool.str("name", m.pool);
      m.pool_bytes = pool.size_mb("size", m.pool_bytes >> 20, "G") << 20;
      m.pool_throughput = pool.rate("throughput");
    }
    if (f.has("vm")) {
      m.vm = read_vm(out, f.sub("vm"), m.name);
      m.kind = m.appliance.empty() ? MachineModel::Kind::installed : MachineModel::Kind::appliance;
      if (!m.appliance.empty() && m.appliance != "pfsense" && m.appliance != "pxe-server" && m.appliance != "truenas" &&
          m.appliance != "vcenter")
        f.fail("appliance", "'" + m.appliance + "' is not an appliance the simulator knows (pfsense, pxe-server, truenas, vcenter)");
      if (m.kind == MachineModel::Kind::appliance && m.vm->cdrom.empty())
        f.fail("vm.cdrom", "an appliance VM is created from an install image: name it (a file in the datastore)");
    } else {
      m.network = f.str("network");
      if (m.network.empty() || !out.network(m.network))
        f.fail("network", "a machine that is not a VM needs the network it is plugged into ('" + m.network + "' is not one)");
      if (m.address.empty()) f.fail("address", "a machine that is not a VM needs its address");
      check_ip(f, "address", m.address);
      m.gateway = f.str("gateway");
      if (f.has("addresses"))
        for (const auto& [net, ip] : h["addresses"].items()) {
          if (!out.network(net)) f.fail("addresses." + net, "no network named '" + net + "'");
          m.extra_addresses[net] = Fields{h["addresses"], f.where + ".addresses"}.str(net);
        }
      if (f.has("routes"))
        for (const auto& [cidr, via] : h["routes"].items()) m.routes[cidr] = Fields{h["routes"], f.where + ".routes"}.str(cidr);
      if (f.has("forwards")) {
        for (std::size_t j = 0; j < h["forwards"].size(); ++j) {
          Fields fw{h["forwards"][j], f.where + ".forwards[" + std::to_string(j) + "]"};
          MachineModel::Forward forward;
          std::string proto_to = "tcp";
          parse_endpoint(fw, "listen", fw.str("listen"), forward.listen_ip, forward.port, forward.proto);
          parse_endpoint(fw, "to", fw.str("to"), forward.target_ip, forward.target_port, proto_to);
          if (proto_to != forward.proto) fw.fail("to", "forwards " + forward.proto + " to " + proto_to);
          m.forwards.push_back(forward);
        }
      }
      if (f.has("dhcp")) {
        Fields d = f.sub("dhcp");
        MachineModel::Dhcp dhcp;
        auto range = d.strings("range");
        if (range.size() == 2) {
          dhcp.range_start = range[0];
          dhcp.range_end = range[1];
        } else if (!range.empty()) {
          d.fail("range", "expected [first, last]");
        }
        if (d.has("reserved"))
          for (const auto& [mac, ip] : d.obj["reserved"].items()) dhcp.reserved[mac] = Fields{d.obj["reserved"], d.where + ".reserved"}.str(mac);
        m.dhcp = dhcp;
      }
    }
    out.machines.push_back(std::move(m));
  }
  return out;
}

}  // namespace drctl::sim
