// The ciphers drctl offers an SSH server: an OpenSSH config's `Ciphers` line resolved as ssh(1)
// resolves it (OpenSSH 9.2, as `ssh -G` prints it), and without one, OpenSSH's default set with
// AES-GCM first when the CPU has AES instructions.
//
// Why the reordering: the client's order decides (RFC 4253 §7.1), and OpenSSH puts
// chacha20-poly1305 first. With AES-NI and PCLMULQDQ, aes128-gcm moves the same bytes for much
// less CPU on both ends (2 GB of `ssh HOST tar | cat` on loopback: 2.2 s against 3.4-4.6 s, half
// the client's CPU); a capture of a NAS over SSH is bound by that CPU when the link is fast. Both
// are authenticated ciphers OpenSSH enables by default; no weaker one is added.
#pragma once
#include <string>
#include <vector>

namespace drctl::world::real {

/// Every cipher name OpenSSH 9.2 knows (`ssh -Q cipher`), in its order.
const std::vector<std::string>& openssh_cipher_names();
/// OpenSSH 9.2's default client list (what `ssh -G` prints without a Ciphers line).
const std::vector<std::string>& openssh_default_ciphers();

/// The list a `Ciphers` value gives, as ssh(1) assembles it: names replace the default, "+names"
/// are appended to it, "^names" put at its head, "-patterns" (with * and ?) removed from it.
/// Throws SshConfigError naming `where` for a name OpenSSH does not know ("Bad SSH2 cipher spec").
std::vector<std::string> resolve_ciphers(const std::string& value, const std::string& where);

/// True when this CPU has the AES and carry-less multiply instructions AES-GCM runs fast with.
bool cpu_has_fast_aes_gcm();

/// OpenSSH's default list with the AES-GCM ciphers moved to the head when `fast_aes_gcm`.
std::vector<std::string> drctl_default_ciphers(bool fast_aes_gcm);

}  // namespace drctl::world::real
