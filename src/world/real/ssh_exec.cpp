#include "world/real/ssh_exec.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "base/shell.hpp"
#include "world/login_shell.hpp"
#include "world/real/ssh_connection.hpp"

namespace drctl::world::real {

namespace {

using std::chrono::milliseconds;
using OutFn = SshOutFn;
using InFn = SshInFn;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kWriteChunk = 64 * 1024;
constexpr milliseconds kPoll{50};         // how often cancel and the deadline are looked at, at most
constexpr milliseconds kGroupWait{2000};  // for the process group line, when killing early
constexpr milliseconds kKillWait{5000};   // for the kill command to finish
constexpr milliseconds kDrain{2000};      // for the output after the kill

// The head of every command's script. It makes sure the command leads its own process group
// (sshd gives each session one; setsid when not, e.g. under sudo: the script is its own $1, see
// any_login_shell_line), says which on stderr's first line, then the command (INNER) follows.
// Without /proc (FreeBSD) ps tells the group.
constexpr const char* kWrapper =
    "p=$$; g=$p\n"
    "if [ -r /proc/$p/stat ]; then read -r _ _ _ _ g _ < /proc/$p/stat || g=$p\n"
    "else g=$(ps -o pgid= -p $p 2>/dev/null) && g=$(echo $g) && [ -n \"$g\" ] || g=$p; fi\n"
    "if [ \"$g\" != \"$p\" ] && command -v setsid >/dev/null 2>&1; then exec setsid /bin/sh -c \"$1\" drctl \"$1\"; fi\n"
    "if [ \"$g\" = \"$p\" ]; then printf 'drctl-pgid %s\\n' \"$p\" >&2; else printf 'drctl-pid %s\\n' \"$p\" >&2; fi\n";

bool valid_env_name(const std::string& k) {
  if (k.empty() || std::isdigit(static_cast<unsigned char>(k[0]))) return false;
  return std::all_of(k.begin(), k.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

/// The first line of stdin when a command has env: its exports, read and eval'd by the shell
/// before the command starts, so values never appear in a process's arguments (ps on the
/// host) as they would on the exec line. Every byte but letters and digits is an octal escape
/// for printf %b, so the line holds no newline or quote; the `_` keeps trailing newlines.
std::string env_preamble(const std::map<std::string, std::string>& env) {
  std::string line;
  for (const auto& [k, v] : env) {
    std::string escaped;
    for (unsigned char c : v) {
      if (std::isalnum(c)) {
        escaped += static_cast<char>(c);
      } else {
        char oct[8];
        std::snprintf(oct, sizeof oct, "\\0%03o", c);
        escaped += oct;
      }
    }
    line += k + "=$(printf '%b_' '" + escaped + "'); " + k + "=${" + k + "%_}; export " + k + "; ";
  }
  return line + "\n";
}

/// `script` run by /bin/sh whatever the login shell (see any_login_shell_line), as root through
/// `sudo -n` (never waits for a password) when `sudo`.
std::string as_shell(const std::string& script, bool sudo) {
  return any_login_shell_line(script, sudo ? "sudo -n --" : "");
}

/// The exec request: the wrapper, then env read from stdin's first line (see env_preamble), the
/// cwd, the script.
std::string remote_command(const Command& c, const std::string& tag, bool sudo) {
  std::string inner;
  if (!tag.empty()) inner += "DRCTL_RUN_TAG=" + shell_quote(tag) + "; export DRCTL_RUN_TAG; ";
  if (!c.env.empty()) inner += "IFS= read -r __drctl_env || exit 127; eval \"$__drctl_env\"; unset __drctl_env; ";
  if (!c.cwd.empty()) inner += "cd -- " + shell_quote(c.cwd) + " || exit 127; ";
  inner += "exec /bin/sh -c " + shell_quote(c.script);
  return as_shell(kWrapper + inner, sudo);
}

int signal_number(const std::string& name) {
  static const std::pair<const char*, int> table[] = {
      {"HUP", 1}, {"INT", 2},   {"QUIT", 3}, {"ILL", 4},   {"TRAP", 5},  {"ABRT", 6},  {"BUS", 7},   {"FPE", 8},
      {"KILL", 9}, {"USR1", 10}, {"SEGV", 11}, {"USR2", 12}, {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15}, {"XCPU", 24},
      {"XFSZ", 25}};
  for (const auto& [n, v] : table)
    if (name == n) return v;
  return 0;
}

/// One command on an exec channel: its output going to the sinks, the process group line taken
/// off stderr, the exit signal when there is one.
class RemoteCommand {
 public:
  RemoteCommand(SshConnection& conn, CommandResult& result, const OutFn* on_out)
      : conn_(conn), result_(result), on_out_(on_out), buf_(kReadChunk) {}
  ~RemoteCommand() {
    if (!ch_) return;
    ssh_remove_channel_callbacks(ch_, &callbacks_);  // libssh may keep the channel past this object
    if (ssh_channel_is_open(ch_)) ssh_channel_close(ch_);
    ssh_channel_free(ch_);
  }
  RemoteCommand(const RemoteCommand&) = delete;
  RemoteCommand& operator=(const RemoteCommand&) = delete;

  /// Opens the channel and starts `command`; false with libssh's reason when it did not start.
  bool start(const std::string& command, std::string& error) {
    ch_ = ssh_channel_new(conn_.session());
    if (!ch_) {
      error = conn_.last_error();
      return false;
    }
    std::memset(&callbacks_, 0, sizeof callbacks_);
    callbacks_.userdata = this;
    callbacks_.channel_exit_signal_function = [](ssh_session, ssh_channel, const char* sig, int, const char*,
                                                 const char*, void* self) {
      static_cast<RemoteCommand*>(self)->exit_signal = sig ? signal_number(sig) : 0;
      if (static_cast<RemoteCommand*>(self)->exit_signal == 0) static_cast<RemoteCommand*>(self)->exit_signal = 127;
    };
    ssh_callbacks_init(&callbacks_);
    ssh_set_channel_callbacks(ch_, &callbacks_);
    if (ssh_channel_open_session(ch_) != SSH_OK || ssh_channel_request_exec(ch_, command.c_str()) != SSH_OK) {
      error = conn_.last_error();
      return false;
    }
    return true;
  }

  ssh_channel channel() const { return ch_; }
  bool finished() const { return out_eof_ && err_eof_; }
  bool group_known() const { return !target_.empty(); }
  /// What `kill` takes: "-PGID" for the group, else the pid.
  const std::string& kill_target() const { return target_; }
  bool header_done() const { return header_done_; }

  /// Moves the output that is ready to the sinks; false when the connection failed.
  bool read_ready(bool& progress) {
    for (int stream = 0; stream < 2; ++stream) {
      bool& eof = stream ? err_eof_ : out_eof_;
      // Several reads per turn: libssh takes only a few KiB off the socket per call.
      for (int i = 0; i < 32 && !eof; ++i) {
        const int n = ssh_channel_read_nonblocking(ch_, buf_.data(), static_cast<std::uint32_t>(buf_.size()), stream);
        if (n > 0) {
          progress = true;
          if (stream) take_err(buf_.data(), static_cast<std::size_t>(n));
          else if (on_out_) (*on_out_)(buf_.data(), static_cast<std::size_t>(n));
          else result_.out.append(buf_.data(), static_cast<std::size_t>(n));
          continue;
        }
        if (n == SSH_EOF) eof = true;
        else if (n < 0) return false;
        break;
      }
    }
    if (finished() && !header_done_) flush_header();
    return conn_.alive() || finished();
  }

  /// True when libssh holds unread output or the end of it (so waiting on the socket is wrong).
  bool buffered() {
    return (!out_eof_ && ssh_channel_poll(ch_, 0) != 0) || (!err_eof_ && ssh_channel_poll(ch_, 1) != 0);
  }

  /// Waits up to `wait` for the socket to have something.
  void wait(milliseconds wait) {
    pollfd p{ssh_get_fd(conn_.session()), POLLIN, 0};
    if (p.fd < 0) return;
    ::poll(&p, 1, static_cast<int>(std::min(wait, kPoll).count()));
  }

  /// Reads until `done()` or `limit` passes, or the connection fails.
  void pump_until(const std::function<bool()>& done, milliseconds limit) {
    const auto end = Clock_::now() + limit;
    while (!done() && Clock_::now() < end) {
      bool progress = false;
      if (!read_ready(progress)) return;
      if (!progress && !buffered()) wait(std::chrono::ceil<milliseconds>(end - Clock_::now()));
    }
  }

  int exit_signal = 0;

 private:
  // The wrapper's first stderr line names the process group; everything else is the command's.
  void take_err(const char* data, std::size_t n) {
    if (header_done_) {
      result_.err.append(data, n);
      return;
    }
    header_.append(data, n);
    const auto nl = header_.find('\n');
    if (nl == std::string::npos) {
      if (header_.size() > 256) flush_header();
      return;
    }
    const std::string line = header_.substr(0, nl);
    std::string rest = header_.substr(nl + 1);
    header_done_ = true;
    header_.clear();
    for (const std::string prefix : {"drctl-pgid ", "drctl-pid "}) {
      if (line.rfind(prefix, 0) != 0) continue;
      const std::string number = line.substr(prefix.size());
      if (!number.empty() && number.find_first_not_of("0123456789") == std::string::npos && number != "0" &&
          number != "1")
        target_ = (prefix == "drctl-pgid " ? "-" : "") + number;
      result_.err += rest;
      return;
    }
    result_.err += line + "\n" + rest;  // no wrapper line: the wrapper itself did not run
  }
  void flush_header() {
    header_done_ = true;
    result_.err += header_;
    header_.clear();
  }

  SshConnection& conn_;
  CommandResult& result_;
  const OutFn* on_out_;
  std::vector<char> buf_;
  ssh_channel ch_ = nullptr;
  ssh_channel_callbacks_struct callbacks_{};
  bool out_eof_ = false, err_eof_ = false, header_done_ = false;
  std::string header_, target_;
};

// SIGTERM, then SIGKILL after 2 s, to `target` ("-PGID" or "PID"), over a channel of its own.
// A group counts as gone when only zombies are left in it (their new parent reaps them when it
// gets to it).
std::string kill_remote(SshConnection& conn, const std::string& target, bool sudo) {
  const std::string script =
      "t=" + target + "; g=${t#-}\n"
      "gone() {\n"
      "  if [ \"$t\" != \"$g\" ] && [ -d /proc/self ]; then\n"
      "    for f in /proc/[0-9]*/stat; do\n"
      "      read -r _ _ s _ pg _ < \"$f\" 2>/dev/null || continue\n"
      "      [ \"$pg\" = \"$g\" ] && [ \"$s\" != Z ] && return 1\n"
      "    done\n"
      "    return 0\n"
      "  fi\n"
      "  ! kill -0 $t 2>/dev/null\n"
      "}\n"
      "kill -TERM $t 2>/dev/null || exit 0\n"
      "kill -CONT $t 2>/dev/null\n"
      "i=0\n"
      "while [ $i -lt 20 ]; do gone && exit 0; sleep 0.1; i=$((i+1)); done\n"
      "kill -KILL $t 2>/dev/null\n"
      "exit 0\n";
  CommandResult ignored;
  RemoteCommand killer(conn, ignored, nullptr);
  std::string error;
  if (!killer.start(as_shell(script, sudo), error)) return error;
  killer.pump_until([&] { return killer.finished(); }, kKillWait);
  return killer.finished() ? "" : "no answer within 5 s";
}

/// What a command reads: the env preamble first (see env_preamble), then `data` whole or the
/// pieces `in` gives; written only as far as the channel's window allows, so the loop never
/// blocks on a command that does not read while it writes.
class StdinFeed {
 public:
  StdinFeed(std::string preamble, const std::string& data, const InFn* in) : preamble_(std::move(preamble)), in_(in) {
    if (preamble_.empty()) {
      whole_ = &data;
    } else if (!in_) {
      with_preamble_ = preamble_ + data;
      whole_ = &with_preamble_;
    }
  }
  StdinFeed(const StdinFeed&) = delete;  // whole_ may point into it
  StdinFeed& operator=(const StdinFeed&) = delete;

  /// Starts over on `ch` (a new attempt sends everything again); closes stdin at once when
  /// there is nothing to send.
  void begin(ssh_channel ch) {
    ch_ = ch;
    open_ = true;
    preamble_sent_ = false;
    piece_.clear();
    pos_ = 0;
    if (!in_ && whole_->empty()) close();
  }

  /// Writes what the window takes now (`progress` when something went); false when the
  /// connection was lost.
  bool write_some(SshConnection& conn, bool& progress) {
    if (!open_) return true;
    const std::string* src = whole_;
    if (in_) {
      if (pos_ == piece_.size()) {
        piece_ = next_piece();
        pos_ = 0;
        if (piece_.empty()) close();
      }
      src = &piece_;
    }
    if (!open_) return true;
    const std::size_t n = std::min<std::size_t>({src->size() - pos_, kWriteChunk, ssh_channel_window_size(ch_)});
    if (n == 0) return true;
    const int w = ssh_channel_write(ch_, src->data() + pos_, static_cast<std::uint32_t>(n));
    if (w > 0) {
      pos_ += static_cast<std::size_t>(w);
      progress = true;
      if (!in_ && pos_ == src->size()) close();
      return true;
    }
    if (!conn.alive()) return false;
    open_ = false;  // the command is gone or closed its input
    return true;
  }

 private:
  std::string next_piece() {
    if (!preamble_sent_ && !preamble_.empty()) {
      preamble_sent_ = true;
      return preamble_;
    }
    return (*in_)();
  }
  void close() {
    if (open_) ssh_channel_send_eof(ch_);
    open_ = false;
  }

  const std::string preamble_;
  const InFn* in_;
  const std::string* whole_ = nullptr;  // without `in`: everything stdin gets
  std::string with_preamble_;
  ssh_channel ch_ = nullptr;
  bool open_ = true, preamble_sent_ = false;
  std::string piece_;
  std::size_t pos_ = 0;
};

/// One command from start to result, in named steps: refusals before it starts, an attempt on
/// a connection (a second one when a reused connection died before the command started), the
/// I/O loop, and its end (exit status, or the kill after a timeout or cancel).
class CommandRun {
 public:
  CommandRun(SshPool& pool, const SshEndpoint& endpoint, const Cancel& cancel, const Command& command,
             const OutFn* on_out, const InFn* in, const std::string& tag)
      : pool_(pool),
        endpoint_(endpoint),
        cancel_(cancel),
        command_(command),
        on_out_(on_out),
        start_(Clock_::now()),
        limited_(command.timeout > Duration::zero()),
        deadline_(limited_ ? start_ + command.timeout : Clock_::time_point::max()),
        remote_(remote_command(command, tag, endpoint.sudo)),
        // Env values go first on stdin, never on the exec line.
        stdin_(command.env.empty() ? "" : env_preamble(command.env), command.stdin_data, in) {}

  CommandResult run() {
    if (cancel_.requested()) {
      result_.cancelled = true;
      return finish();
    }
    for (const auto& [k, v] : command_.env)
      if (!valid_env_name(k)) {
        result_.exit_code = 127;
        result_.err = "drctl: '" + k + "' is not a valid environment variable name\n";
        return finish();
      }
    for (int attempt = 0;; ++attempt)
      if (std::optional<CommandResult> done = try_once(attempt)) return std::move(*done);
  }

 private:
  enum class End { finished, timed_out, cancelled, lost };

  /// One attempt on a connection of the pool; nullopt when it is to be made again.
  std::optional<CommandResult> try_once(int attempt) {
    std::optional<SshPool::Lease> lease;
    try {
      lease.emplace(pool_.acquire(deadline_));
    } catch (const SshCancelled&) {
      result_.cancelled = true;
      return finish();
    } catch (const std::exception& e) {
      if (limited_ && Clock_::now() >= deadline_) {
        result_.timed_out = true;
        result_.err += "ssh: " + endpoint_.name + ": the command's timeout passed while connecting: " + e.what() + "\n";
        return finish();
      }
      return ssh_failure(e.what());
    }
    SshConnection& conn = lease->conn();
    RemoteCommand cmd(conn, result_, on_out_);
    std::string error;
    if (!cmd.start(remote_, error)) {
      const bool lost = !conn.alive();
      if (lost) conn.mark_dead();
      if (lost && lease->reused() && attempt == 0) return std::nullopt;  // it had not started: once more, on a new connection
      return ssh_failure("cannot start the command on " + endpoint_.describe() + ": " + error);
    }
    try {  // a sink or source that throws: the command is killed and the connection not reused
      stdin_.begin(cmd.channel());
      const End end = pump(conn, cmd);
      if (end == End::lost) {
        conn.mark_dead();
        return ssh_failure("the connection to " + endpoint_.describe() +
                           " was lost while the command was running (it may have run in part): " + conn.last_error());
      }
      if (end == End::timed_out || end == End::cancelled) return stop(conn, cmd, end);
      return exit_status(conn, cmd);
    } catch (...) {
      if (conn.alive() && cmd.group_known() && !cmd.finished()) {
        try {
          kill_remote(conn, cmd.kill_target(), endpoint_.sudo);
        } catch (...) {  // the first exception is the one to report
        }
      }
      conn.mark_dead();
      throw;
    }
  }

  /// Moves output and input until the command ends, the connection is lost, the deadline
  /// passes or cancel; SSH keepalives go out after keepalive_interval of silence.
  End pump(SshConnection& conn, RemoteCommand& cmd) {
    auto last_traffic = Clock_::now();
    for (;;) {
      bool progress = false;
      if (!cmd.read_ready(progress)) return End::lost;
      if (cmd.finished()) return End::finished;
      if (!stdin_.write_some(conn, progress)) return End::lost;
      const auto now = Clock_::now();
      if (cancel_.requested()) return End::cancelled;
      if (limited_ && now >= deadline_) return End::timed_out;
      if (progress) {
        last_traffic = now;
        continue;
      }
      if (now - last_traffic >= endpoint_.keepalive_interval) {
        if (!conn.keepalive()) return End::lost;
        last_traffic = now;
      }
      if (!cmd.buffered()) cmd.wait(limited_ ? std::min(kPoll, time_left_until(deadline_)) : kPoll);
    }
  }

  /// After a timeout or cancel: kills the remote process group and takes what output is left.
  CommandResult stop(SshConnection& conn, RemoteCommand& cmd, End end) {
    (end == End::timed_out ? result_.timed_out : result_.cancelled) = true;
    result_.exit_code = -1;
    cmd.pump_until([&] { return cmd.header_done() || cmd.finished(); }, kGroupWait);
    if (cmd.group_known()) {
      const std::string failed = kill_remote(conn, cmd.kill_target(), endpoint_.sudo);
      if (!failed.empty())
        result_.err +=
            "drctl: could not kill the command on " + endpoint_.name + " (" + failed + "); it may still be running\n";
    } else if (!cmd.finished()) {
      result_.err +=
          "drctl: the command on " + endpoint_.name + " did not say its process group; it may still be running\n";
    }
    cmd.pump_until([&] { return cmd.finished(); }, kDrain);
    if (!cmd.finished()) conn.mark_dead();  // a channel still talking: not for the next command
    return finish();
  }

  /// The exit code of a command that ended: 128+signal when a signal ended it.
  CommandResult exit_status(SshConnection& conn, RemoteCommand& cmd) {
    const int status = ssh_channel_get_exit_status(cmd.channel());
    if (cmd.exit_signal) {
      result_.exit_code = 128 + cmd.exit_signal;
    } else if (status >= 0) {
      result_.exit_code = status;
    } else {
      if (!conn.alive()) conn.mark_dead();
      return ssh_failure("the server sent no exit status for the command (" + conn.last_error() + ")");
    }
    return finish();
  }

  CommandResult ssh_failure(const std::string& why) {
    result_.exit_code = 255;
    result_.transport_error = "ssh: " + endpoint_.name + ": " + why;
    result_.err += result_.transport_error + "\n";
    return finish();
  }

  CommandResult finish() {
    result_.elapsed = std::chrono::duration_cast<Duration>(Clock_::now() - start_);
    return std::move(result_);
  }

  SshPool& pool_;
  const SshEndpoint& endpoint_;
  const Cancel& cancel_;
  const Command& command_;
  const OutFn* on_out_;
  const Clock_::time_point start_;
  const bool limited_;
  const Clock_::time_point deadline_;
  const std::string remote_;
  StdinFeed stdin_;
  CommandResult result_;
};

}  // namespace

CommandResult execute_over_ssh(SshPool& pool, const SshEndpoint& endpoint, const Cancel& cancel, const Command& command,
                               const SshOutFn* on_out, const SshInFn* in, const std::string& tag) {
  return CommandRun(pool, endpoint, cancel, command, on_out, in, tag).run();
}

}  // namespace drctl::world::real
