// Subcommand registration: each adds itself to the app and sets `run` when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

namespace drctl::cli {

/// The command chosen on the command line; returns the process exit code.
using Action = std::function<int()>;

enum ExitCode { kOk = 0, kFailed = 1, kBadInput = 2, kPartial = 3 };

void add_snapshot_commands(CLI::App& app, Action& run);
void add_demo_command(CLI::App& app, Action& run);
void add_run_commands(CLI::App& app, Action& run);
void add_drill_command(CLI::App& app, Action& run);
void add_hosts_command(CLI::App& app, Action& run);
void add_pxe_command(CLI::App& app, Action& run);
void add_schedule_command(CLI::App& app, Action& run);
void add_status_command(CLI::App& app, Action& run);
/// `completion bash|zsh` and `man`: made from the app itself, so call it after every other command.
void add_docs_commands(CLI::App& app, Action& run);

/// "drctl: warning: ..." on stderr.
void warn(const std::string& message);

}  // namespace drctl::cli
