// The SSH hosts of a site as drctl reaches them: shared by `drctl run` and `drctl hosts check`.
#pragma once
#include <string>
#include <vector>

#include "runbook/model.hpp"
#include "world/real/ssh_config.hpp"

namespace drctl::cli {

/// One spec per site host that is not `connection: local`: the site's address, user and port (a
/// port the site gives wins, as `ssh -p` does; else the SSH config's, else 22), the host vars
/// identity_file, known_hosts_file and become (only `sudo`); `ssh_config` as with `ssh -F`.
/// Throws InputError naming the site file, the host and the field.
std::vector<world::real::SshHostSpec> site_ssh_specs(const runbook::Site& site, const std::string& ssh_config);

}  // namespace drctl::cli
