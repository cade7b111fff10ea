#include "cli/site_hosts.hpp"

#include "base/error.hpp"

namespace drctl::cli {

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

}  // namespace drctl::cli
