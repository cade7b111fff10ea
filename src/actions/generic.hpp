// The generic actions every runbook can use: shell.run, file.put, wait.tcp, wait.http.
#pragma once
#include <functional>
#include <optional>

#include "actions/action.hpp"
#include "base/duration.hpp"

namespace drctl::actions {

/// Adds the generic actions to `registry`.
void add_generic_actions(Registry& registry);

/// A file on this machine, whole; throws ActionError("cannot read WHAT FILE").
std::string read_local_file(const std::string& file, const std::string& what);

/// What a file-writing action writes: its `content`, its `template` rendered, or its `source`
/// file — exactly one of them; throws ActionError naming `action`.
std::string file_content(Context& ctx, const std::string& action);

/// The `mode` input ("0644"); throws ActionError when it is not octal.
unsigned mode_input(Context& ctx);

/// Reads a template file on this machine and renders it; throws ActionError naming the file.
std::string render_template_file(const std::string& file, const std::function<std::string(const std::string&)>& render);

/// A Duration input (a string like "20m", or a number of seconds); throws ActionError.
world::Duration duration_input(const json& inputs, const std::string& name);

/// Calls `ready` every `interval` until it returns true (true) or `timeout` passes (false), on
/// the World's clock; throws ActionError when interrupted.
bool poll_until(Context& ctx, world::Duration timeout, world::Duration interval, const std::function<bool()>& ready);

/// Runs `script` on `host` (with `stdin_data`); when it fails, throws ActionError "WHAT on HOST
/// failed (exit N): <its first error line>" with the output's last lines as detail.
world::CommandResult run_or_fail(world::Host& host, const std::string& script, const std::string& what,
                                 world::Duration timeout, const std::string& stdin_data = "");

/// Writes `text` to `path` on the step's host with `mode`; then, when `then` is not empty, runs it
/// there (the step's timeout). When it fails, the file goes back to what it was (or away, if it
/// was new) — else a retry would find the file in place, skip the step, and the command would
/// never run — and ActionError says why ("then: `CMD` exited with status N (PATH is put back as it was)").
void write_then(Context& ctx, const std::string& path, const std::string& text, unsigned mode, const std::string& then);

/// The permission bits of `path` on the step's host (GNU or BSD stat); nullopt when stat cannot tell.
std::optional<unsigned> host_file_mode(Context& ctx, const std::string& path);

/// The last `lines` lines of `text`, for error messages.
std::string tail_lines(const std::string& text, std::size_t lines);

}  // namespace drctl::actions
