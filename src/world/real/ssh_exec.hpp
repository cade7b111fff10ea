// One command run on an SSH exec channel, on a connection of the host's pool: the wrapper that
// puts it in a process group of its own, env on stdin, output to the sinks, the exit status or
// signal, and the kill of its group on timeout or cancel.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

#include "world/real/ssh_config.hpp"
#include "world/real/ssh_pool.hpp"
#include "world/world.hpp"

namespace drctl::world::real {

/// Where stdout goes as it arrives (null: into the result).
using SshOutFn = std::function<void(const char*, std::size_t)>;
/// Where stdin comes from, a piece per call until "" (null: the command's stdin_data).
using SshInFn = std::function<std::string()>;

/// Runs `command` on the host of `endpoint` through `pool`, as SshHost::run documents: a
/// connection or login failure is exit 255 with "ssh: NAME: why" (retried once on a new
/// connection when a reused one died before the command started); a timeout or `cancel` kills
/// the remote process group. `tag`, when not empty, is DRCTL_RUN_TAG in the command's
/// environment. A sink or source that throws: the command is killed, the exception goes on.
CommandResult execute_over_ssh(SshPool& pool, const SshEndpoint& endpoint, const Cancel& cancel, const Command& command,
                               const SshOutFn* on_out, const SshInFn* in, const std::string& tag);

}  // namespace drctl::world::real
