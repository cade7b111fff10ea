// The generic actions every runbook can use: shell.run, file.put, wait.tcp, wait.http.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds the generic actions to `registry`.
void add_generic_actions(Registry& registry);

/// "90s", "20m", "1h30m", "500ms", or plain seconds; nullopt when malformed or negative.
std::optional<world::Duration> parse_duration(const std::string& text);

/// The last `lines` lines of `text`, for error messages.
std::string tail_lines(const std::string& text, std::size_t lines);

}  // namespace drctl::actions
