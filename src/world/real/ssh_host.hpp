// A site machine reached over SSH (libssh) as a Host: commands on exec channels, files over
// SFTP, with the strict host-key check and public-key login of SshConnection.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "world/real/ssh_config.hpp"
#include "world/real/ssh_pool.hpp"
#include "world/world.hpp"

namespace drctl::world::real {

class SshConnection;

/// One SSH host. Connections are opened lazily and kept for the next step.
///
/// Threads: a libssh session must not be used by two threads at once, so each call takes a
/// connection of its own from a small pool: sequential steps reuse one connection, steps
/// running side by side on the same host each get one (up to kMaxConnections; beyond that they
/// wait for one, and the wait counts against their timeout).
/// Serialising every call on one session would make a quick check wait behind a long backup
/// and count that wait against its timeout.
///
/// A connection that died while idle is replaced once, transparently: a command is retried on
/// a new connection only when it had not started (its channel could not be opened); one that
/// was running when the connection dropped is reported (exit 255), never run twice.
///
/// Remote commands run in their own process group (sshd gives each session one; the wrapper
/// makes sure with setsid and tells drctl the group on stderr's first line, which is removed).
/// On timeout or cancel drctl sends SIGTERM, then SIGKILL, to that group over a second channel.
/// The login shell does not matter (sh, bash, zsh, csh, tcsh): what goes on the exec channel is a
/// line they all read alike, running the command with /bin/sh (see any_login_shell_line).
class SshHost : public Host {
 public:
  /// Connections to the same host at once, at most.
  static constexpr int kMaxConnections = SshPool::kMaxConnections;

  /// The host at `endpoint` (see resolve_ssh_endpoint); commands end early on `cancel`.
  SshHost(SshEndpoint endpoint, const Cancel& cancel);
  /// Stops the keepalive thread and closes every connection (see SshPool).
  ~SshHost() override;
  SshHost(const SshHost&) = delete;
  SshHost& operator=(const SshHost&) = delete;

  /// The site's name for the host.
  const std::string& name() const override { return endpoint_.name; }
  /// Where and how it is reached.
  const SshEndpoint& endpoint() const { return endpoint_; }

  /// Runs the command remotely. A connection or login failure (unknown host key included) is
  /// exit 255 with "ssh: NAME: why" in `err`, as ssh(1) does; a timeout or cancel kills the
  /// remote process group (exit_code -1, timed_out / cancelled set).
  CommandResult run(const Command& command) override;
  /// As run(), with stdout handed to `on_out` as it arrives and stdin pulled from `in`, so the
  /// data never sits in memory whole.
  CommandResult run_stream(const Command& command, const std::function<void(const char*, std::size_t)>& on_out,
                           const std::function<std::string()>& in = nullptr) override;

  /// Writes the file atomically over SFTP with exactly `mode`; creates missing parent
  /// directories (0755). Throws std::runtime_error naming the host and what failed.
  void put_file(const std::string& path, const std::string& content, unsigned mode) override;
  /// Reads the file over SFTP; nullopt when it does not exist. Throws std::runtime_error.
  std::optional<std::string> get_file(const std::string& path) override;
  /// put_file() with the content pulled from `next_chunk` until it returns "" (constant memory):
  /// written to a temporary name in the same directory, fsynced, given `mode`, then renamed over
  /// `path` (posix-rename; `mv -f` on a server without it).
  void put_stream(const std::string& path, unsigned mode, const std::function<std::string()>& next_chunk);
  /// get_file() handing the content to `sink` as it arrives; false when the file does not exist.
  bool get_stream(const std::string& path, const std::function<void(const char*, std::size_t)>& sink);
  /// get_stream() for at most `length` bytes from `offset` (a pack's blob: no more is read on the
  /// host); false when the file does not exist.
  bool get_range(const std::string& path, std::uint64_t offset, std::uint64_t length,
                 const std::function<void(const char*, std::size_t)>& sink);
  /// The size of the file at `path` (SFTP stat); nullopt when it does not exist.
  std::optional<std::uint64_t> file_size(const std::string& path);

  /// Every command from now on gets DRCTL_RUN_TAG=tag in its environment.
  void set_tag(std::string tag) { tag_ = std::move(tag); }
  /// SIGKILLs the processes on the host whose environment holds DRCTL_RUN_TAG=tag (with their
  /// process groups); returns how many. Throws std::runtime_error when the host cannot be asked.
  int kill_tagged(const std::string& tag);

  /// SSH connections opened so far (for tests and diagnostics).
  int connections_opened() const;

 private:
  CommandResult execute(const Command& command, const std::function<void(const char*, std::size_t)>* on_out,
                        const std::function<std::string()>* in, bool tagged);
  /// Runs f(connection, sftp) on a connection of the pool, once more on a new connection when
  /// a reused one died before anything was done; errors become std::runtime_error naming `what`.
  template <class F>
  auto with_sftp(const std::string& what, F&& f);
  std::string where() const;

  SshEndpoint endpoint_;
  const Cancel& cancel_;
  std::string tag_;
  SshPool pool_;  // after endpoint_ and cancel_, which it uses
};

}  // namespace drctl::world::real
