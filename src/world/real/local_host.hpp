// The machine drctl runs on, as a Host: commands through /bin/sh (Boost.Process), files on
// the local file system.
#pragma once
#include <functional>
#include <optional>
#include <string>

#include "world/world.hpp"

namespace drctl::world::real {

/// This machine. Commands run as `/bin/sh -c SCRIPT` in their own process group, which is
/// killed as a whole (SIGTERM, then SIGKILL after a short grace) on timeout or cancel.
///
/// Output is read until every writer has closed stdout and stderr, so a background child
/// that keeps them open extends the command up to its timeout. Safe to use from several
/// threads at once.
class LocalHost : public Host {
 public:
  /// A host called `name` whose commands end early when `cancel` is requested.
  LocalHost(std::string name, const Cancel& cancel);

  /// The name given at construction ("local").
  const std::string& name() const override { return name_; }

  /// Runs the command; a command that cannot be started (e.g. a missing cwd) exits 127
  /// with the reason in `err`.
  CommandResult run(const Command& command) override;

  /// Streams both ways without holding the data: stdout to `on_out` as it arrives, stdin
  /// pulled from `in` (when set) as the command reads it.
  CommandResult run_stream(const Command& command, const std::function<void(const char*, std::size_t)>& on_out,
                           const std::function<std::string()>& in = nullptr) override;

  /// Writes through a temporary file in the same directory (fsync, rename, fsync of the
  /// directory); the file gets exactly `mode`, whatever the umask. Throws std::runtime_error.
  void put_file(const std::string& path, const std::string& content, unsigned mode) override;

  /// Reads the whole file; nullopt when it does not exist, std::runtime_error otherwise.
  std::optional<std::string> get_file(const std::string& path) override;
  bool is_this_machine() const override { return true; }

  /// Every command from now on gets DRCTL_RUN_TAG=tag in its environment (inherited by its
  /// children), so kill_tagged_processes() can find what a killed drctl left behind.
  void set_tag(std::string tag) { tag_ = std::move(tag); }

 private:
  CommandResult execute(const Command& command, const std::function<void(const char*, std::size_t)>* on_out,
                        const std::function<std::string()>* in);

  std::string name_;
  std::string tag_;
  const Cancel& cancel_;
};

/// SIGKILLs every process (and its group) whose environment holds DRCTL_RUN_TAG=tag, except
/// this process; returns how many were found.
int kill_tagged_processes(const std::string& tag);

/// SIGKILLs the process group of every command LocalHost is running now. Async-signal-safe:
/// for a second Ctrl-C, when drctl exits at once.
void kill_all_command_groups();

}  // namespace drctl::world::real
