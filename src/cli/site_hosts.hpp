// The SSH hosts of a site as drctl reaches them: shared by `drctl run` and `drctl hosts check`.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "runbook/model.hpp"
#include "world/real/hypervisor_config.hpp"
#include "world/real/ssh_config.hpp"

namespace drctl::cli {

/// One spec per site host that is not `connection: local`: the site's address, user and port (a
/// port the site gives wins, as `ssh -p` does; else the SSH config's, else 22), the host vars
/// identity_file, known_hosts_file and become (only `sudo`); `ssh_config` as with `ssh -F`.
/// Throws InputError naming the site file, the host and the field.
std::vector<world::real::SshHostSpec> site_ssh_specs(const runbook::Site& site, const std::string& ssh_config);

/// The site's `hypervisor:` as a real run reaches it: kind vsphere or libvirt with url,
/// datacenter, cluster, host, datastore, thumbprint, ca_file, user and `credentials:
/// secrets.NAME` (the password, from the secrets file); networks are those the hosts' `vm:` NICs
/// name. nullopt when the site has no hypervisor a real run can reach: none, kind sim, or no url
/// (a site the simulator alone drives). Throws InputError naming the site file and the field.
std::optional<world::real::HypervisorConfig> site_hypervisor(const runbook::Site& site);

}  // namespace drctl::cli
