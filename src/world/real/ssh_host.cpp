#include "world/real/ssh_host.hpp"

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <utility>

#include "world/real/sftp_client.hpp"
#include "world/real/ssh_connection.hpp"

namespace drctl::world::real {

namespace {

using std::chrono::milliseconds;
using OutFn = std::function<void(const char*, std::size_t)>;
using InFn = std::function<std::string()>;

constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kWriteChunk = 64 * 1024;
constexpr std::size_t kPutPiece = 1024 * 1024;  // put_file hands its content over in pieces this big
constexpr milliseconds kPoll{50};               // how often cancel and the deadline are looked at, at most
constexpr milliseconds kGroupWait{2000};        // for the process group line, when killing early
constexpr milliseconds kKillWait{5000};         // for the kill command to finish
constexpr milliseconds kDrain{2000};            // for the output after the kill
constexpr milliseconds kProbeIdle{1000};        // an idle connection older than this is probed before use
constexpr milliseconds kKillTaggedTimeout{30000};

/// Thrown by acquire() when Cancel was requested while waiting.
struct Cancelled {};

// Runs as `/bin/sh -c WRAPPER drctl INNER WRAPPER`. It makes sure the command leads its own
// process group (sshd already gives each session one; setsid when not), says which on stderr's
// first line, then runs INNER (the exports, the cd and the command).
constexpr const char* kWrapper =
    "p=$$; g=$p; "
    "if [ -r /proc/$p/stat ]; then read -r _ _ _ _ g _ < /proc/$p/stat || g=$p; fi; "
    "if [ \"$g\" != \"$p\" ] && command -v setsid >/dev/null 2>&1; then exec setsid /bin/sh -c \"$2\" drctl \"$1\" \"$2\"; fi; "
    "if [ \"$g\" = \"$p\" ]; then printf 'drctl-pgid %s\\n' \"$p\" >&2; else printf 'drctl-pid %s\\n' \"$p\" >&2; fi; "
    "exec /bin/sh -c \"$1\"";

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

// The exec request: env read from stdin's first line (see env_preamble), the cwd, the script.
/// `script` run by /bin/sh, as root through `sudo -n` (never waits for a password) when `sudo`.
std::string as_shell(const std::string& script, bool sudo) {
  return std::string(sudo ? "exec sudo -n -- /bin/sh -c " : "exec /bin/sh -c ") + shell_quote(script);
}

std::string remote_command(const Command& c, const std::string& tag, bool sudo) {
  std::string inner;
  if (!tag.empty()) inner += "DRCTL_RUN_TAG=" + shell_quote(tag) + "; export DRCTL_RUN_TAG; ";
  if (!c.env.empty()) inner += "IFS= read -r __drctl_env || exit 127; eval \"$__drctl_env\"; unset __drctl_env; ";
  if (!c.cwd.empty()) inner += "cd -- " + shell_quote(c.cwd) + " || exit 127; ";
  inner += "exec /bin/sh -c " + shell_quote(c.script);
  return as_shell(kWrapper, sudo) + " drctl " + shell_quote(inner) + " " + shell_quote(kWrapper);
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

/// Why a helper command failed, for a message: its last line of stderr, else its exit status.
std::string last_line(const std::string& err, int exit_code) {
  std::string text = err;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty()) return exit_code < 0 ? "killed" : "exit status " + std::to_string(exit_code);
  const auto nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s;
  std::uint64_t v = rng();
  for (int i = 0; i < 12; ++i, v >>= 4) s += hex[v & 15];
  return s;
}

milliseconds left_until(Clock_::time_point deadline) {
  if (deadline == Clock_::time_point::max()) return milliseconds::max();
  return std::max(milliseconds::zero(), std::chrono::ceil<milliseconds>(deadline - Clock_::now()));
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

}  // namespace

// A connection taken from the pool; it goes back (or away, when dead) on destruction.
class SshHost::Lease {
 public:
  Lease(SshHost& host, std::unique_ptr<SshConnection> conn, bool reused)
      : host_(&host), conn_(std::move(conn)), reused_(reused) {}
  Lease(Lease&& o) noexcept : host_(o.host_), conn_(std::move(o.conn_)), reused_(o.reused_) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (conn_) host_->release(std::move(conn_));
  }
  SshConnection& conn() { return *conn_; }
  /// True when the connection had been used before (and may have died since).
  bool reused() const { return reused_; }

 private:
  SshHost* host_;
  std::unique_ptr<SshConnection> conn_;
  bool reused_;
};

SshHost::SshHost(SshEndpoint endpoint, const Cancel& cancel) : endpoint_(std::move(endpoint)), cancel_(cancel) {}

SshHost::~SshHost() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (keepalive_.joinable()) keepalive_.join();
  idle_.clear();
}

std::string SshHost::where() const { return endpoint_.name + " (" + endpoint_.describe() + ")"; }

int SshHost::connections_opened() const {
  std::lock_guard lock(mutex_);
  return opened_;
}

SshHost::Lease SshHost::acquire(Clock_::time_point deadline) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (cancel_.requested()) throw Cancelled{};
    while (!idle_.empty()) {
      std::unique_ptr<SshConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (Clock_::now() - conn->last_used >= kProbeIdle) {
        lock.unlock();
        conn->keepalive();  // notices a connection the peer closed while it sat here
        lock.lock();
      }
      if (conn->alive()) return Lease(*this, std::move(conn), true);
      --open_;
    }
    if (open_ < kMaxConnections) {
      ++open_;
      lock.unlock();
      try {
        const milliseconds budget = std::min<milliseconds>(endpoint_.connect_timeout, left_until(deadline));
        if (budget <= milliseconds::zero()) throw SshError("no time left to connect within the command's timeout");
        std::unique_ptr<SshConnection> conn = SshConnection::open(endpoint_, budget);
        lock.lock();
        ++opened_;
        return Lease(*this, std::move(conn), false);
      } catch (...) {
        if (!lock.owns_lock()) lock.lock();
        --open_;
        changed_.notify_all();
        throw;
      }
    }
    if (Clock_::now() >= deadline)
      throw SshError("all " + std::to_string(kMaxConnections) + " connections to the host were busy until the timeout");
    changed_.wait_for(lock, kPoll);
  }
}

void SshHost::release(std::unique_ptr<SshConnection> conn) {
  std::lock_guard lock(mutex_);
  if (conn->alive() && !stop_) {
    conn->last_used = Clock_::now();
    idle_.push_back(std::move(conn));
    if (!keepalive_.joinable()) keepalive_ = std::thread([this] { keepalive_loop(); });
  } else {
    --open_;
  }
  changed_.notify_all();
}

// Idle connections get an SSH keepalive every keepalive_interval: firewalls and NAT keep
// their state, and a connection that died is dropped before a command needs it.
void SshHost::keepalive_loop() {
  std::unique_lock lock(mutex_);
  const auto interval = std::chrono::duration_cast<milliseconds>(endpoint_.keepalive_interval);
  while (!stop_) {
    changed_.wait_for(lock, std::max(milliseconds(200), interval / 3));
    const auto now = Clock_::now();
    for (std::size_t i = 0; i < idle_.size() && !stop_;) {
      if (now - idle_[i]->last_used < interval) {
        ++i;
        continue;
      }
      std::unique_ptr<SshConnection> conn = std::move(idle_[i]);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      lock.unlock();
      const bool ok = conn->keepalive();
      if (ok) conn->last_used = Clock_::now();
      else conn.reset();
      lock.lock();
      if (ok) idle_.push_back(std::move(conn));
      else --open_;
      changed_.notify_all();
    }
  }
}

CommandResult SshHost::run(const Command& command) { return execute(command, nullptr, nullptr, true); }

CommandResult SshHost::run_stream(const Command& command, const OutFn& on_out, const InFn& in) {
  return execute(command, &on_out, in ? &in : nullptr, true);
}

CommandResult SshHost::execute(const Command& command, const OutFn* on_out, const InFn* in, bool tagged) {
  const auto start = Clock_::now();
  CommandResult result;
  auto finish = [&]() -> CommandResult {
    result.elapsed = std::chrono::duration_cast<Duration>(Clock_::now() - start);
    return std::move(result);
  };
  auto ssh_failure = [&](const std::string& why) {
    result.exit_code = 255;
    result.transport_error = "ssh: " + name() + ": " + why;
    result.err += result.transport_error + "\n";
    return finish();
  };
  if (cancel_.requested()) {
    result.cancelled = true;
    return finish();
  }
  for (const auto& [k, v] : command.env)
    if (!valid_env_name(k)) {
      result.exit_code = 127;
      result.err = "drctl: '" + k + "' is not a valid environment variable name\n";
      return finish();
    }
  const bool limited = command.timeout > Duration::zero();
  const auto deadline = limited ? start + command.timeout : Clock_::time_point::max();
  const std::string remote = remote_command(command, tagged ? tag_ : "", endpoint_.sudo);
  // Env values go first on stdin (never on the exec line): ahead of stdin_data, or as the
  // first piece pulled.
  const std::string preamble = command.env.empty() ? "" : env_preamble(command.env);
  const std::string stdin_data = preamble.empty() ? std::string() : preamble + command.stdin_data;
  bool preamble_sent = false;
  InFn with_preamble;
  if (in && !preamble.empty()) {
    with_preamble = [&preamble, &preamble_sent, pull = in]() -> std::string {
      if (!preamble_sent) {
        preamble_sent = true;
        return preamble;
      }
      return (*pull)();
    };
    in = &with_preamble;
  }

  for (int attempt = 0;; ++attempt) {
    std::optional<Lease> lease;
    try {
      lease.emplace(acquire(deadline));
    } catch (const Cancelled&) {
      result.cancelled = true;
      return finish();
    } catch (const std::exception& e) {
      if (limited && Clock_::now() >= deadline) {
        result.timed_out = true;
        result.err += "ssh: " + name() + ": the command's timeout passed while connecting: " + e.what() + "\n";
        return finish();
      }
      return ssh_failure(e.what());
    }
    SshConnection& conn = lease->conn();
    preamble_sent = false;  // a new attempt starts its stdin again
    RemoteCommand cmd(conn, result, on_out);
    std::string error;
    if (!cmd.start(remote, error)) {
      const bool lost = !conn.alive();
      if (lost) conn.mark_dead();
      if (lost && lease->reused() && attempt == 0) continue;  // it had not started: once more, on a new connection
      return ssh_failure("cannot start the command on " + endpoint_.describe() + ": " + error);
    }

    try {  // a sink or source that throws: the command is killed and the connection not reused
      // Input: stdin_data, or pieces pulled from `in`; written only as far as the window allows,
      // so the loop never blocks on a command that does not read while it writes.
      const std::string* input = in ? nullptr : preamble.empty() ? &command.stdin_data : &stdin_data;
      std::string piece;
      std::size_t pos = 0;
      bool stdin_open = true;
      auto close_stdin = [&] {
        if (stdin_open) ssh_channel_send_eof(cmd.channel());
        stdin_open = false;
      };
      if (!in && input->empty()) close_stdin();

      enum class End { finished, timed_out, cancelled, lost } end = End::finished;
      auto last_traffic = Clock_::now();
      for (;;) {
        bool progress = false;
        if (!cmd.read_ready(progress)) {
          end = End::lost;
          break;
        }
        if (cmd.finished()) break;
        if (stdin_open) {
          const std::string* src = input;
          if (in) {
            if (pos == piece.size()) {
              piece = (*in)();
              pos = 0;
              if (piece.empty()) close_stdin();
            }
            src = &piece;
          }
          if (stdin_open && src) {
            const std::size_t n =
                std::min<std::size_t>({src->size() - pos, kWriteChunk, ssh_channel_window_size(cmd.channel())});
            if (n > 0) {
              const int w = ssh_channel_write(cmd.channel(), src->data() + pos, static_cast<std::uint32_t>(n));
              if (w > 0) {
                pos += static_cast<std::size_t>(w);
                progress = true;
                if (!in && pos == src->size()) close_stdin();
              } else if (!conn.alive()) {
                end = End::lost;
                break;
              } else {
                stdin_open = false;  // the command is gone or closed its input
              }
            }
          }
        }
        const auto now = Clock_::now();
        if (cancel_.requested()) {
          end = End::cancelled;
          break;
        }
        if (limited && now >= deadline) {
          end = End::timed_out;
          break;
        }
        if (progress) {
          last_traffic = now;
          continue;
        }
        if (now - last_traffic >= endpoint_.keepalive_interval) {
          if (!conn.keepalive()) {
            end = End::lost;
            break;
          }
          last_traffic = now;
        }
        if (!cmd.buffered()) cmd.wait(limited ? std::min(kPoll, left_until(deadline)) : kPoll);
      }

      if (end == End::lost) {
        conn.mark_dead();
        return ssh_failure("the connection to " + endpoint_.describe() +
                           " was lost while the command was running (it may have run in part): " + conn.last_error());
      }
      if (end == End::timed_out || end == End::cancelled) {
        (end == End::timed_out ? result.timed_out : result.cancelled) = true;
        result.exit_code = -1;
        cmd.pump_until([&] { return cmd.header_done() || cmd.finished(); }, kGroupWait);
        if (cmd.group_known()) {
          const std::string failed = kill_remote(conn, cmd.kill_target(), endpoint_.sudo);
          if (!failed.empty())
            result.err +=
                "drctl: could not kill the command on " + name() + " (" + failed + "); it may still be running\n";
        } else if (!cmd.finished()) {
          result.err += "drctl: the command on " + name() + " did not say its process group; it may still be running\n";
        }
        cmd.pump_until([&] { return cmd.finished(); }, kDrain);
        if (!cmd.finished()) conn.mark_dead();  // a channel still talking: not for the next command
        return finish();
      }
      const int status = ssh_channel_get_exit_status(cmd.channel());
      if (cmd.exit_signal) {
        result.exit_code = 128 + cmd.exit_signal;
      } else if (status >= 0) {
        result.exit_code = status;
      } else {
        if (!conn.alive()) conn.mark_dead();
        return ssh_failure("the server sent no exit status for the command (" + conn.last_error() + ")");
      }
      return finish();
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
}

template <class F>
auto SshHost::with_sftp(const std::string& what, F&& f) {
  for (int attempt = 0;; ++attempt) {
    std::optional<Lease> lease;
    try {
      lease.emplace(acquire(Clock_::time_point::max()));
    } catch (const Cancelled&) {
      throw std::runtime_error(where() + ": " + what + ": cancelled");
    } catch (const std::exception& e) {
      throw std::runtime_error(where() + ": " + what + ": " + e.what());
    }
    SshConnection& conn = lease->conn();
    SftpClient* sftp = nullptr;
    try {
      sftp = &conn.sftp("SFTP");
    } catch (const SshError& e) {
      const bool lost = !conn.alive();
      if (lost) conn.mark_dead();
      if (lost && lease->reused() && attempt == 0) continue;  // nothing was done yet: once more, on a new connection
      throw std::runtime_error(where() + ": " + what + ": " + e.what());
    }
    try {
      return f(conn, *sftp);
    } catch (const SftpStatusError& e) {
      conn.drop_sftp();
      throw std::runtime_error(where() + ": " + what + ": " + e.what());
    } catch (const SshError& e) {
      conn.drop_sftp();
      if (!conn.alive()) conn.mark_dead();
      throw std::runtime_error(where() + ": " + what + ": " + e.what() +
                               (conn.alive() ? "" : " (" + conn.last_error() + ")"));
    } catch (...) {
      conn.drop_sftp();  // replies may still be in flight
      throw;
    }
  }
}

namespace {

// Creates `dir` and its missing parents (0755), like mkdir -p.
void make_dirs(SftpClient& sftp, const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return;
  if (auto st = sftp.stat(dir); st && st->is_dir()) return;
  std::string prefix = dir[0] == '/' ? "/" : "";
  std::size_t pos = dir[0] == '/' ? 1 : 0;
  while (pos <= dir.size()) {
    const auto slash = dir.find('/', pos);
    const std::string part = dir.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? dir.size() + 1 : slash + 1;
    if (part.empty() || part == ".") continue;
    prefix += (prefix.empty() || prefix.back() == '/' ? "" : "/") + part;
    auto st = sftp.stat(prefix);
    if (!st) {
      try {
        sftp.mkdir(prefix, 0755);
        continue;
      } catch (const SftpStatusError&) {
        st = sftp.stat(prefix);  // made by someone else meanwhile?
        if (!st) throw;
      }
    }
    if (!st->is_dir()) throw SftpStatusError(4, "cannot create the directory " + dir + ": " + prefix + " is not a directory");
  }
}

}  // namespace

void SshHost::put_file(const std::string& path, const std::string& content, unsigned mode) {
  std::size_t pos = 0;
  put_stream(path, mode, [&]() -> std::string {
    const std::size_t n = std::min(kPutPiece, content.size() - pos);
    std::string piece = content.substr(pos, n);
    pos += n;
    return piece;
  });
}

void SshHost::put_stream(const std::string& path, unsigned mode, const InFn& next_chunk) {
  const auto slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") throw std::runtime_error(where() + ": put " + path + ": not a file path");
  const std::string dir = parent_of(path);
  if (endpoint_.sudo) {
    // As root: the content streams into a temporary file next to the target (cat on the
    // command's stdin), which is then fsynced and renamed over it; SFTP would write as the user.
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode & 07777);
    Command put;
    put.script = "set -e; p=" + shell_quote(path) + "; d=" + shell_quote(dir.empty() ? "." : dir) +
                 "; b=" + shell_quote(base) + "; mkdir -p -- \"$d\"; t=$(mktemp \"$d/.$b.drctl-XXXXXX\"); "
                 "trap 'rm -f -- \"$t\"' EXIT; cat > \"$t\"; chmod " + octal + " \"$t\"; "
                 "sync -- \"$t\" 2>/dev/null || sync; mv -f -- \"$t\" \"$p\"; trap - EXIT";
    CommandResult r = execute(put, nullptr, &next_chunk, true);
    if (r.cancelled) throw std::runtime_error(where() + ": put " + path + ": cancelled");
    if (!r.ok()) throw std::runtime_error(where() + ": put " + path + " (sudo): " + last_line(r.err, r.exit_code));
    return;
  }
  const std::string temp = (dir.empty() ? "" : dir == "/" ? "/" : dir + "/") + "." + base + ".drctl-" + random_suffix();
  auto poll = [this] {
    if (cancel_.requested()) throw SshError("cancelled");
  };
  const bool renamed = with_sftp("put " + path, [&](SshConnection& conn, SftpClient& sftp) {
    make_dirs(sftp, dir);
    std::string handle = sftp.open(temp, SftpClient::kWrite | SftpClient::kCreate | SftpClient::kExclusive, 0600);
    try {
      sftp.write_all(handle, next_chunk, poll);
      sftp.fsync(handle);
      sftp.close(handle);
      sftp.chmod(temp, mode);
      if (!sftp.has_extension("posix-rename@openssh.com")) return false;
      sftp.posix_rename(temp, path);
      return true;
    } catch (...) {
      // Leave no temporary file behind, on a fresh channel (the old one may hold replies).
      if (conn.alive()) {
        conn.drop_sftp();
        try {
          conn.sftp("SFTP").remove(temp);
        } catch (...) {
        }
      }
      throw;
    }
  });
  if (renamed) return;
  // A server without posix-rename: plain SFTP rename refuses an existing target; mv renames atomically.
  Command mv;
  mv.script = "mv -f -- " + shell_quote(temp) + " " + shell_quote(path);
  mv.timeout = std::chrono::minutes(2);
  CommandResult r = run(mv);
  if (!r.ok()) {
    Command rm;
    rm.script = "rm -f -- " + shell_quote(temp);
    run(rm);
    throw std::runtime_error(where() + ": put " + path + ": rename failed: " + r.err);
  }
}

std::optional<std::string> SshHost::get_file(const std::string& path) {
  std::string content;
  if (!get_stream(path, [&](const char* d, std::size_t n) { content.append(d, n); })) return std::nullopt;
  return content;
}

bool SshHost::get_stream(const std::string& path, const OutFn& sink) {
  if (endpoint_.sudo) {
    Command get;
    get.script = "p=" + shell_quote(path) + "; [ -e \"$p\" ] || exit 3; exec cat -- \"$p\"";
    CommandResult r = execute(get, &sink, nullptr, true);
    if (r.exit_code == 3 && r.err.empty()) return false;
    if (r.cancelled) throw std::runtime_error(where() + ": get " + path + ": cancelled");
    if (!r.ok()) throw std::runtime_error(where() + ": get " + path + " (sudo): " + last_line(r.err, r.exit_code));
    return true;
  }
  auto poll = [this] {
    if (cancel_.requested()) throw SshError("cancelled");
  };
  return with_sftp("get " + path, [&](SshConnection&, SftpClient& sftp) {
    std::string handle;
    try {
      handle = sftp.open(path, SftpClient::kRead, 0);
    } catch (const SftpStatusError& e) {
      if (e.code == SftpClient::kNoSuchFile) return false;
      throw;
    }
    sftp.read_all(handle, sink, poll);
    sftp.close(handle);
    return true;
  });
}

int SshHost::kill_tagged(const std::string& tag) {
  if (tag.empty()) return 0;
  // Linux only (/proc); grep -z reads every environment in one go where it exists.
  Command c;
  c.script =
      "[ -d /proc/self ] || { echo 0; exit 0; }\n"
      "pattern=" + shell_quote("DRCTL_RUN_TAG=" + tag) + "\n"
      "me=; read -r _ _ _ _ me _ < /proc/$$/stat\n"
      "tagged() {\n"
      "  if printf 'a\\0' | grep -qzx a 2>/dev/null; then\n"
      "    for f in $(grep -lzxF -e \"$pattern\" /proc/[0-9]*/environ 2>/dev/null); do p=${f#/proc/}; echo \"${p%/environ}\"; done\n"
      "  else\n"
      "    for d in /proc/[0-9]*; do tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qxF -e \"$pattern\" && echo \"${d#/proc/}\"; done\n"
      "  fi\n"
      "}\n"
      "n=0\n"
      "for p in $(tagged); do\n"
      "  [ \"$p\" = \"$$\" ] && continue\n"
      "  g=; read -r _ _ _ _ g _ < \"/proc/$p/stat\" 2>/dev/null || continue\n"
      "  n=$((n+1))\n"
      "  if [ -n \"$g\" ] && [ \"$g\" != \"$me\" ] && [ \"$g\" -gt 1 ]; then kill -KILL -$g 2>/dev/null; fi\n"
      "  kill -KILL $p 2>/dev/null\n"
      "done\n"
      "echo $n\n";
  c.timeout = kKillTaggedTimeout;
  CommandResult r = execute(c, nullptr, nullptr, false);  // without the tag it looks for
  if (!r.ok()) throw std::runtime_error(where() + ": cannot look for processes a killed run left: " + r.err);
  try {
    return std::stoi(r.out);
  } catch (const std::exception&) {
    return 0;
  }
}

}  // namespace drctl::world::real
