// SSH host keys that drctl makes for the machines it installs: the kickstart writes them into the
// new system and their public halves go into known_hosts before the first connection, so strict
// host-key checking holds for a freshly installed machine too — no trust on first use, ever.
#pragma once
#include <string>

namespace drctl::world {

struct HostKeyPair {
  std::string private_key;  // OpenSSH's format ("-----BEGIN OPENSSH PRIVATE KEY-----", unencrypted), as ssh-keygen writes it
  std::string public_key;   // "ssh-ed25519 AAAA… COMMENT", as ssh_host_ed25519_key.pub holds it
};

/// A new Ed25519 key pair with `comment` (e.g. "root@k8s-node1"): from OpenSSL's generator, or
/// from `seed` (32 bytes) when given — the simulator's keys, the same run after run.
HostKeyPair generate_host_key(const std::string& comment, const std::string& seed = "");

/// Host `name`'s key kept in DIR/NAME/ssh_host_ed25519_key (0600; .pub beside it; directories
/// 0700): made on first use and read back after, so a re-run installs the same key and finds
/// known_hosts already true. Throws std::runtime_error when it cannot be read or written.
HostKeyPair stored_host_key(const std::string& dir, const std::string& name);

/// The public line of an OpenSSH Ed25519 private key made by generate_host_key or ssh-keygen
/// (unencrypted); throws std::invalid_argument when it is not one.
std::string public_key_of(const std::string& private_key);

}  // namespace drctl::world
