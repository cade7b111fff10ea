// `drctl hosts trust`: adds a host's SSH key to known_hosts once the operator has named its
// fingerprint — drctl itself never trusts a key on first use.
#include <cstdio>
#include <memory>

#include "cli/commands.hpp"
#include "store/error.hpp"
#include "world/real/known_hosts.hpp"
#include "world/real/ssh_config.hpp"

namespace drctl::cli {

namespace {

using namespace drctl::world::real;

struct TrustArgs {
  std::string host, fingerprint, known_hosts, ssh_config;
  int port = 0;
};

int cmd_trust(const TrustArgs& a) {
  SshHostSpec spec;
  spec.name = a.host;
  spec.address = a.host;
  spec.port = a.port;
  spec.known_hosts = a.known_hosts;
  spec.ssh_config = a.ssh_config;
  SshEndpoint ep;
  std::string fingerprint;
  try {
    ep = resolve_ssh_endpoint(spec);
    fingerprint = normalize_fingerprint(a.fingerprint);
  } catch (const SshConfigError& e) {
    throw InputError(e.what());
  }
  TrustOutcome out;
  try {
    out = trust_host_key(ep, fingerprint, ep.connect_timeout);
  } catch (const SshError& e) {
    throw Failure(e.what());
  }
  if (!out.written) {
    std::printf("%s is already trusted: its %s key %s is in %s; nothing was written\n", ep.host_and_port().c_str(),
                out.key.type.c_str(), out.key.fingerprint.c_str(), ep.known_hosts.c_str());
    return kOk;
  }
  std::printf("trusted %s: its %s key %s was added to %s\n", ep.host_and_port().c_str(), out.key.type.c_str(),
              out.key.fingerprint.c_str(), ep.known_hosts.c_str());
  if (out.other_keys)
    warn(ep.known_hosts + " still holds an older key for " + ep.host_and_port() +
         ", which is still accepted too; to drop it, run `" + out.remove_hint + "` and then this command again");
  return kOk;
}

}  // namespace

void add_hosts_command(CLI::App& app, Action& run) {
  auto a = std::make_shared<TrustArgs>();
  auto* hosts = app.add_subcommand("hosts", "SSH hosts: trust a host's key");
  hosts->require_subcommand(1);
  auto* trust = hosts->add_subcommand(
      "trust", "Add a host's SSH key to known_hosts, after checking it has the fingerprint you give (compare it with "
               "`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host's console)");
  trust->add_option("HOST", a->host, "The host, as in the site or after `ssh` (resolved through the SSH config)")->required();
  trust->add_option("--fingerprint", a->fingerprint, "The key's fingerprint: SHA256:…")->required();
  trust->add_option("--port", a->port, "The SSH port (default: the SSH config's, else 22)");
  trust->add_option("--known-hosts", a->known_hosts, "The known_hosts file to add to (default: the SSH config's, else ~/.ssh/known_hosts)");
  trust->add_option("--ssh-config", a->ssh_config, "The SSH client config to read (default: ~/.ssh/config)");
  trust->callback([&run, a] { run = [a] { return cmd_trust(*a); }; });
}

}  // namespace drctl::cli
