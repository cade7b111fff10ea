// Strict host-key checking against the known_hosts files (each read as OpenSSH reads it, see
// known_hosts_file.hpp), and `drctl hosts trust`: a key is added only when the operator typed
// its fingerprint, and never when the file marks it revoked. There is no trust on first use.
#pragma once
#include <libssh/libssh.h>

#include <chrono>
#include <string>
#include <vector>

#include "world/real/known_hosts_file.hpp"
#include "world/real/ssh_config.hpp"
#include "world/real/ssh_connection.hpp"

namespace drctl::world::real {

/// The host key a server offered.
struct HostKey {
  std::string type;         // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", …
  std::string fingerprint;  // OpenSSH's form: "SHA256:" + base64 without padding
  std::string blob;         // the key in SSH wire form (what known_hosts lines hold, base64-encoded)
};

/// drctl refuses the host's key: unknown, changed, revoked, or not the one the operator named.
struct HostKeyError : SshError {
  using SshError::SshError;
};

/// The key the server of `session` offered in the key exchange. Throws SshError.
HostKey offered_host_key(ssh_session session);

/// A fingerprint as the operator typed it, in OpenSSH's form (trailing '=' padding dropped).
/// Throws SshConfigError unless it is "SHA256:" followed by base64.
std::string normalize_fingerprint(const std::string& typed);

/// The command that trusts `fingerprint` for `ep` — the same host, port, files as this run:
/// "drctl hosts trust ALIAS [--port N] [--known-hosts FILE] [--ssh-config FILE] --fingerprint FP".
std::string trust_command(const SshEndpoint& ep, const std::string& fingerprint);

/// The known_hosts files ssh(1) reads for `ep`: ep.known_hosts (the one drctl trusts into; a
/// HostKeyError when it cannot be read), then each of ep.more_known_hosts that exists and can be
/// read (ssh(1) passes over the others).
std::vector<KnownHostsFile> read_every_known_hosts_file(const SshEndpoint& ep);

/// Checks the key `session` was offered against ep.known_hosts and ep.more_known_hosts, taken
/// together as ssh(1) takes them (revoked in any: refused; listed in any: trusted; another key
/// for the host in any: changed). An unknown key
/// and a changed one throw HostKeyError with one message: the host and port, the key's type and
/// fingerprint, and the `drctl hosts trust` command that trusts it after the operator compared
/// it (an unknown one also names the file's @cert-authority lines for the host: host certificates
/// are not supported). A revoked key throws HostKeyError naming the @revoked line and offering
/// no way to trust it. An unreadable file throws HostKeyError.
void verify_host_key(ssh_session session, const SshEndpoint& ep);

/// What `drctl hosts trust` did.
struct TrustOutcome {
  HostKey key;
  bool written = false;     // false: a known_hosts file already trusted this key, nothing was written
  std::string trusted_in;   // that file (ep.known_hosts or one of ep.more_known_hosts)
  std::string line;         // the line appended to the file
  bool other_keys = false;  // the file also holds other keys for the host, still trusted
  std::string remove_hint;  // how to remove those: "ssh-keygen -R … -f …"
};

/// Connects to ep (no login) and compares the offered key's fingerprint with `fingerprint`.
/// Equal: appends the host's line ("host" or "[host]:port") to ep.known_hosts, creating it with
/// mode 0600, unless one of the files the connection reads already holds it (TrustOutcome::
/// trusted_in). Different, or a key an @revoked line of any of those files holds (for any host):
/// writes nothing and throws HostKeyError saying why.
TrustOutcome trust_host_key(const SshEndpoint& ep, const std::string& fingerprint, std::chrono::milliseconds timeout);

/// Records the key a machine drctl is installing will have (`public_line`: "ssh-ed25519 AAAA…
/// [comment]", the key drctl made and the kickstart installs) before anything connects to it:
/// ep.known_hosts gets "host"/"[host]:port" with that key, and every other plain key line for
/// that name goes (the machine is new; its old keys are gone with it). Nothing is written when
/// the file already trusts exactly this key; a key the file marks @revoked throws HostKeyError.
/// Returns true when the file changed. The file is replaced whole (mode 0600).
bool expect_host_key(const SshEndpoint& ep, const std::string& public_line);

}  // namespace drctl::world::real
