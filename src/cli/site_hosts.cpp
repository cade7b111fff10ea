#include "cli/site_hosts.hpp"

#include <algorithm>

#include "base/error.hpp"

namespace drctl::cli {

using json = nlohmann::json;

std::vector<world::real::SshHostSpec> site_ssh_specs(const runbook::Site& site, const std::string& ssh_config) {
  std::vector<world::real::SshHostSpec> out;
  for (const auto& h : site.hosts) {
    if (h.connection == "local") continue;
    world::real::SshHostSpec spec;
    spec.name = h.name;
    spec.address = h.address;
    spec.port = h.port_given ? h.port : 0;  // not given: the SSH config's Port, else 22, as ssh does
    spec.user = h.user;
    spec.ssh_config = ssh_config;
    auto text = [&](const char* var) -> std::string {
      if (!h.vars.contains(var)) return "";
      if (!h.vars[var].is_string())
        throw InputError(site.file + ": host " + h.name + ": " + var + ": must be a path, not " + h.vars[var].dump());
      return h.vars[var].get<std::string>();
    };
    spec.identity_file = text("identity_file");
    spec.known_hosts = text("known_hosts_file");
    if (h.vars.contains("become")) {
      const auto& become = h.vars["become"];
      if (!become.is_string() || become.get<std::string>() != "sudo")
        throw InputError(site.file + ": host " + h.name +
                         ": become: must be 'sudo' (commands and files as root through sudo -n), not " + become.dump());
      spec.sudo = true;
    }
    out.push_back(std::move(spec));
  }
  return out;
}

std::optional<world::real::HypervisorConfig> site_hypervisor(const runbook::Site& site) {
  const json& hv = site.hypervisor;
  if (!hv.is_object() || hv.empty()) return std::nullopt;
  auto bad = [&](const std::string& field, const std::string& message) -> InputError {
    return InputError(site.file + ": hypervisor." + field + ": " + message);
  };
  auto text = [&](const char* key) -> std::string {
    if (!hv.contains(key)) return "";
    if (!hv[key].is_string()) throw bad(key, "expected a string, not " + hv[key].dump());
    return hv[key].get<std::string>();
  };
  world::real::HypervisorConfig c;
  c.kind = text("kind");
  if (c.kind.empty()) c.kind = "sim";
  if (c.kind != "vsphere" && c.kind != "libvirt" && c.kind != "sim")
    throw bad("kind", "'" + c.kind + "' is not vsphere, libvirt or sim");
  c.url = text("url");
  if (c.kind == "sim" || c.url.empty()) return std::nullopt;
  if (c.kind == "vsphere" && c.url.rfind("https://", 0) != 0)
    throw bad("url", "'" + c.url + "' is not an https:// URL (vCenter or ESXi: https://HOST/sdk)");
  c.datacenter = text("datacenter");
  c.cluster = text("cluster");
  c.host = text("host");
  c.datastore = text("datastore");
  c.ca_file = text("ca_file");
  c.user = text("user");
  if (const std::string pin = text("thumbprint"); !pin.empty()) {
    try {
      c.thumbprint = world::real::normalize_thumbprint(pin);
    } catch (const std::invalid_argument& e) {
      throw bad("thumbprint", e.what());
    }
  }
  if (const std::string credentials = text("credentials"); !credentials.empty()) {
    if (credentials.rfind("secrets.", 0) != 0)
      throw bad("credentials", "name a secret of the site's secrets file (secrets.NAME), never the password itself");
    auto it = site.secrets.find(credentials.substr(8));
    if (it == site.secrets.end())
      throw bad("credentials", "the secrets file " + (site.secrets_file.empty() ? std::string("(none given)") : site.secrets_file) +
                                   " has no " + credentials.substr(8));
    c.password = it->second;
  }
  if (c.kind == "vsphere" && (c.user.empty() || c.password.empty()))
    throw bad(c.user.empty() ? "user" : "credentials",
              "vSphere needs a login: user (administrator@vsphere.local, root on ESXi) and credentials: secrets.NAME");
  for (const auto& h : site.hosts) {
    const json vm = h.vars.value("vm", json::object());
    if (!vm.is_object() || !vm.contains("nics") || !vm["nics"].is_array()) continue;
    for (const auto& nic : vm["nics"])
      if (nic.is_object() && nic.contains("network") && nic["network"].is_string()) {
        const std::string network = nic["network"].get<std::string>();
        if (std::find(c.networks.begin(), c.networks.end(), network) == c.networks.end()) c.networks.push_back(network);
      }
  }
  return c;
}

}  // namespace drctl::cli
