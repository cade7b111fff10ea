// The World of a real run with a site: this machine, and the site's hosts reached over SSH.
#pragma once
#include <map>
#include <memory>
#include <string>

#include "world/real/local_world.hpp"
#include "world/real/ssh_config.hpp"
#include "world/real/ssh_host.hpp"

namespace drctl::world::real {

/// LocalWorld (the local host under "local" and its aliases, the steady clock, the host's
/// network, threads) plus an SshHost for every site host with `connection: ssh`. Add the hosts
/// before the run starts: host() may then be called from several threads.
class RealWorld : public LocalWorld {
 public:
  RealWorld() = default;

  /// Adds a host reached over SSH. Its endpoint is resolved now (site → SSH config → defaults),
  /// so a bad or unsafe config is reported before anything runs: throws SshConfigError.
  void add_ssh_host(const SshHostSpec& spec);

  /// The site's hypervisor (vSphere, libvirt); without one, hypervisor() is nullptr.
  void set_hypervisor(std::unique_ptr<Hypervisor> hypervisor) { hypervisor_ = std::move(hypervisor); }
  Hypervisor* hypervisor() override { return hypervisor_.get(); }

  /// The SSH host of that name, else LocalWorld's (std::out_of_range for an unknown name).
  Host& host(const std::string& name) override;
  /// The SSH host of that name; nullptr when there is none.
  SshHost* ssh_host(const std::string& name);

  /// Writes the key to the SSH host's known_hosts (expect_host_key in known_hosts.hpp); throws
  /// std::runtime_error for a host that is not reached over SSH.
  void expect_host_key(const std::string& host, const std::string& public_line) override;

  /// Host keys for the machines drctl installs, kept under `dir` (drctl run: STATE/host-keys).
  void set_host_keys_dir(std::string dir) { host_keys_dir_ = std::move(dir); }
  HostKeyPair host_key(const std::string& host) override { return stored_host_key(host_keys_dir_, host); }

  /// Tags the commands of the local host and of every SSH host.
  void tag_commands(const std::string& tag) override;
  /// Kills what a killed run left, here and on every SSH host (asked side by side; a host that
  /// cannot be reached is skipped); returns how many processes were found.
  int kill_tagged(const std::string& tag) override;

 private:
  std::map<std::string, std::unique_ptr<SshHost>> ssh_;
  std::unique_ptr<Hypervisor> hypervisor_;
  std::string host_keys_dir_ = ".drctl/host-keys";
};

}  // namespace drctl::world::real
