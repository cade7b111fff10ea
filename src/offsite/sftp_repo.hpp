// `--repo sftp://[USER@]HOST[:PORT]/PATH`: a repository on an SSH host (the far copy `snapshot
// copy --to` makes), read where it lies. Files move over SFTP with drctl's strict host-key rules
// (world::real::SshHost): the config, keys/, index/ and snapshots/ whole, and of a pack only the
// byte ranges a blob needs, so restoring one file reads that file's chunks, not whole packs.
// The listing is one `find` on the host (GNU and FreeBSD alike). Nothing is ever written there.
// Locking: see src/store/FORMAT.md, "Reading over SFTP".
#pragma once
#include <chrono>
#include <functional>
#include <string>

namespace drctl::offsite {

/// What every sftp:// repository this process opens is reached with (the CLI sets it from its flags).
struct SftpRepoOptions {
  std::string ssh_config;                            // as ssh -F; "" for ~/.ssh/config
  std::chrono::milliseconds lock_wait{60000};        // how long a reader waits for a far writer's lock
  std::function<void(const std::string&)> warn;      // says once whom a reader waits for
};
void set_sftp_repo_options(SftpRepoOptions options);
/// Changes only the OpenSSH client configuration (a subcommand's own --ssh-config).
void set_sftp_repo_ssh_config(const std::string& file);

/// Registers the "sftp" scheme with the store (store::register_backend): from then on
/// store::Repository("sftp://…") reads that repository. Idempotent.
void register_sftp_repositories();

}  // namespace drctl::offsite
