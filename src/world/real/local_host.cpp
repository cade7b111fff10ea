#include "world/real/local_host.hpp"

#include <array>
#include <iterator>
#include <fstream>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/env.hpp>
#include <boost/process/environment.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace drctl::world::real {

namespace {

namespace bp = boost::process;
using std::chrono::milliseconds;

constexpr milliseconds kPollInterval{50};  // how often cancel is looked at, at most
constexpr milliseconds kTermGrace{200};    // SIGTERM → SIGKILL
constexpr milliseconds kDrainAfterKill{200};
constexpr milliseconds kReapAfterKill{1000};
constexpr std::size_t kChunk = 64 * 1024;

std::runtime_error file_error(const std::string& path, const char* what, int err) {
  return std::runtime_error(path + ": " + what + ": " + std::strerror(err));
}

/// An owned file descriptor, closed on destruction.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }
  bool open() const { return fd_ >= 0; }
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

struct Pipe {
  Fd read, write;
};

// Close-on-exec from birth, so a command started by another thread at the same moment cannot
// inherit our ends (and hold our stdout open). Kept above 2 so that the child's dup2 onto
// 0/1/2 always happens and clears close-on-exec there.
Pipe make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::system_error(errno, std::generic_category(), "pipe2");
  Pipe p{Fd(fds[0]), Fd(fds[1])};
  for (Fd* end : {&p.read, &p.write}) {
    if (end->get() > 2) continue;
    int moved = ::fcntl(end->get(), F_DUPFD_CLOEXEC, 3);
    if (moved < 0) throw std::system_error(errno, std::generic_category(), "fcntl(F_DUPFD_CLOEXEC)");
    *end = Fd(moved);
  }
  return p;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Highest descriptor number + 1, for the child's fallback when close_range is missing.
int fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return 65536;
  return static_cast<int>(std::min<rlim_t>(rl.rlim_cur, 65536));
}

/// Runs in the child between fork and exec (async-signal-safe calls only): its own process
/// group, default signal handling, the working directory, and no descriptor of ours beyond
/// 0, 1, 2 survives exec. Must come after the bindings of 0, 1, 2 among the child's
/// arguments, so that a failure to change directory is reported on the command's stderr.
struct ChildSetup : bp::extend::handler {
  int max_fd;
  const char* cwd;            // nullptr: stay where drctl is
  const char* cwd_failure;    // "drctl: cannot change directory to CWD: "

  template <class Executor>
  void on_exec_setup(Executor&) const {
    ::setpgid(0, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig : {SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP}) ::sigaction(sig, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    // Not bp::start_dir: in Boost 1.74 it ignores a failing chdir and runs the command in
    // drctl's own directory.
    if (cwd && ::chdir(cwd) != 0) {
      const char* reason = ::strerrordesc_np(errno);
      write_all(cwd_failure);
      write_all(reason ? reason : "error");
      write_all("\n");
      ::_exit(127);
    }
    // Close-on-exec rather than close: Boost.Process reports exec failures through a pipe.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0)
      for (int fd = 3; fd < max_fd; ++fd) ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  }

  static void write_all(const char* text) {
    for (std::size_t left = std::strlen(text); left > 0;) {
      ssize_t n = ::write(STDERR_FILENO, text, left);
      if (n <= 0) return;
      text += n;
      left -= static_cast<std::size_t>(n);
    }
  }
};

// write(2) that cannot raise SIGPIPE in this process when the command closed its stdin.
ssize_t write_no_sigpipe(int fd, const char* data, std::size_t size) {
  sigset_t pipe_only, old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  ssize_t n = ::write(fd, data, size);
  int saved = errno;
  if (n < 0 && saved == EPIPE && !sigismember(&old, SIGPIPE)) {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE)) {
      timespec zero{};
      ::sigtimedwait(&pipe_only, nullptr, &zero);
    }
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

/// Process groups of the commands running now, for kill_all_command_groups() (a signal
/// handler may read it: plain atomics, no locks).
std::array<std::atomic<pid_t>, 256> g_groups{};

void register_group(pid_t pgid) {
  for (auto& slot : g_groups) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pgid)) return;
  }
}

void unregister_group(pid_t pgid) {
  for (auto& slot : g_groups) {
    pid_t mine = pgid;
    if (slot.compare_exchange_strong(mine, 0)) return;
  }
}

using OutFn = std::function<void(const char*, std::size_t)>;
using InFn = std::function<std::string()>;

/// One running command: its pipes, its process and what it wrote so far. stdout goes to
/// `on_out` when given (else into `out`); stdin comes from `in` piece by piece until it returns
/// "" when given (else from `input`).
class Running {
 public:
  Running(pid_t pid, Pipe& in, Pipe& out, Pipe& err, const std::string& input, const OutFn* on_out, const InFn* pull)
      : pid_(pid), in_(std::move(in.write)), out_(std::move(out.read)), err_(std::move(err.read)), input_(&input),
        on_out_(on_out), pull_(pull) {
    pidfd_ = Fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    for (Fd* fd : {&in_, &out_, &err_}) set_nonblocking(fd->get());
    if (pull_) input_ = &piece_;
    else if (input_->empty()) in_.reset();
    register_group(pid_);
  }
  Running(const Running&) = delete;
  Running& operator=(const Running&) = delete;
  // Leaves nothing behind if run() is left early by an exception.
  ~Running() {
    if (!reaped_ && !killed_) kill_group();
    unregister_group(pid_);
  }

  /// True when the shell has exited and every writer has closed stdout and stderr.
  bool finished() const { return reaped_ && !out_.open() && !err_.open(); }

  /// Waits up to `wait` for something to happen, then moves the bytes that are ready.
  void step(milliseconds wait) {
    std::vector<pollfd> fds;
    auto watch = [&fds](const Fd& fd, short events) {
      if (fd.open()) fds.push_back({fd.get(), events, 0});
    };
    watch(out_, POLLIN);
    watch(err_, POLLIN);
    watch(in_, POLLOUT);
    if (!reaped_) watch(pidfd_, POLLIN);
    if (!reaped_ && !pidfd_.open() && !out_.open() && !err_.open()) wait = std::min(wait, milliseconds(10));
    int n = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
    if (n > 0) {
      for (const pollfd& p : fds) {
        if (p.revents == 0) continue;
        if (p.fd == out_.get()) read_some(out_, out, on_out_);
        else if (p.fd == err_.get()) read_some(err_, err, nullptr);
        else if (p.fd == in_.get()) write_some();
      }
    }
    try_reap();
  }

  /// Kills the process group: SIGTERM, a short grace, then SIGKILL; reaps the shell.
  void kill_group() {
    killed_ = true;
    signal_group(SIGTERM);
    signal_group(SIGCONT);  // a stopped process acts on SIGTERM only once continued
    const auto grace_end = Clock_::now() + kTermGrace;
    while (Clock_::now() < grace_end) {
      try_reap();
      if (reaped_ && ::kill(-pid_, 0) != 0 && errno == ESRCH) return;
      std::this_thread::sleep_for(milliseconds(10));
    }
    signal_group(SIGKILL);
    const auto reap_end = Clock_::now() + kReapAfterKill;
    while (!reaped_ && Clock_::now() < reap_end) {
      std::this_thread::sleep_for(milliseconds(5));
      try_reap();
    }
  }

  /// Collects what is still buffered in the pipes, for at most `limit`.
  void drain(milliseconds limit) {
    in_.reset();
    const auto end = Clock_::now() + limit;
    while ((out_.open() || err_.open()) && Clock_::now() < end)
      step(std::chrono::duration_cast<milliseconds>(end - Clock_::now()) + milliseconds(1));
  }

  int exit_code() const { return status_known_ ? exit_code_of(status_) : -1; }

  std::string out, err;

 private:
  void read_some(Fd& fd, std::string& sink, const OutFn* stream) {
    char buf[kChunk];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0 && stream) (*stream)(buf, static_cast<std::size_t>(n));
    else if (n > 0) sink.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || (errno != EINTR && errno != EAGAIN)) fd.reset();
  }

  void write_some() {
    if (pull_ && written_ == input_->size()) {
      piece_ = (*pull_)();  // may wait for the producer: the command waits on its stdin meanwhile
      written_ = 0;
      if (piece_.empty()) {
        in_.reset();
        return;
      }
    }
    std::size_t size = std::min(kChunk, input_->size() - written_);
    ssize_t n = write_no_sigpipe(in_.get(), input_->data() + written_, size);
    if (n > 0) written_ += static_cast<std::size_t>(n);
    else if (errno != EINTR && errno != EAGAIN) in_.reset();  // the command closed its stdin
    if (!pull_ && written_ == input_->size()) in_.reset();
  }

  void try_reap() {
    if (reaped_) return;
    pid_t r = ::waitpid(pid_, &status_, WNOHANG);
    if (r == pid_) {
      reaped_ = status_known_ = true;
    } else if (r < 0 && errno == ECHILD) {
      reaped_ = true;  // reaped by someone else (SIGCHLD ignored in this process)
    }
    if (reaped_) pidfd_.reset();
  }

  void signal_group(int sig) {
    if (::kill(-pid_, sig) != 0 && errno == ESRCH && !reaped_) ::kill(pid_, sig);
  }

  pid_t pid_;
  Fd in_, out_, err_, pidfd_;
  const std::string* input_;
  std::string piece_;  // the piece pulled last, when stdin is pulled
  const OutFn* on_out_;
  const InFn* pull_;
  std::size_t written_ = 0;
  bool reaped_ = false, status_known_ = false, killed_ = false;
  int status_ = 0;
};

}  // namespace

LocalHost::LocalHost(std::string name, const Cancel& cancel) : name_(std::move(name)), cancel_(cancel) {}

CommandResult LocalHost::run(const Command& command) { return execute(command, nullptr, nullptr); }

CommandResult LocalHost::run_stream(const Command& command, const OutFn& on_out, const InFn& in) {
  return execute(command, &on_out, in ? &in : nullptr);
}

CommandResult LocalHost::execute(const Command& command, const OutFn* on_out, const InFn* in_fn) {
  const auto start = Clock_::now();
  const auto elapsed = [&start] { return std::chrono::duration_cast<Duration>(Clock_::now() - start); };
  CommandResult result;
  if (cancel_.requested()) {
    result.cancelled = true;
    return result;
  }

  Pipe in = make_pipe(), out = make_pipe(), err = make_pipe();
  bp::environment env = boost::this_process::environment();
  for (const auto& [key, value] : command.env) env[key] = value;
  if (!tag_.empty()) env["DRCTL_RUN_TAG"] = tag_;
  const std::string cwd_failure = "drctl: cannot change directory to " + command.cwd + ": ";
  ChildSetup setup{{}, fd_limit(), command.cwd.empty() ? nullptr : command.cwd.c_str(), cwd_failure.c_str()};
  std::error_code ec;
  bp::child child(bp::exe = "/bin/sh", bp::args = std::vector<std::string>{"-c", command.script}, env,
                  bp::posix::fd.bind(0, in.read.get()), bp::posix::fd.bind(1, out.write.get()),
                  bp::posix::fd.bind(2, err.write.get()), setup, ec);
  in.read.reset();
  out.write.reset();
  err.write.reset();
  if (ec) {
    result.exit_code = 127;
    result.err = "drctl: cannot start /bin/sh: " + ec.message() + "\n";
    result.elapsed = elapsed();
    return result;
  }
  const pid_t pid = child.id();
  child.detach();  // reaped below with waitpid, which also gives the terminating signal

  Running proc(pid, in, out, err, command.stdin_data, on_out, in_fn);
  const bool limited = command.timeout > Duration::zero();
  const auto deadline = start + command.timeout;
  while (!proc.finished()) {
    if (cancel_.requested()) {
      result.cancelled = true;
      break;
    }
    auto wait = kPollInterval;
    if (limited) {
      auto left = std::chrono::ceil<milliseconds>(deadline - Clock_::now());
      if (left <= milliseconds::zero()) {
        result.timed_out = true;
        break;
      }
      wait = std::min(wait, left);
    }
    proc.step(wait);
  }
  if (result.timed_out || result.cancelled) {
    proc.kill_group();
    proc.drain(kDrainAfterKill);
  } else {
    result.exit_code = proc.exit_code();
  }
  result.out = std::move(proc.out);
  result.err = std::move(proc.err);
  result.elapsed = elapsed();
  return result;
}

void LocalHost::put_file(const std::string& path, const std::string& content, unsigned mode) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (!target.has_filename()) throw std::runtime_error(path + ": not a file path");
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(dir.string() + ": cannot create directory: " + ec.message());

  std::string temp = (dir / ("." + target.filename().string() + ".drctl-XXXXXX")).string();
  Fd fd(::mkostemp(temp.data(), O_CLOEXEC));
  if (!fd.open()) throw file_error(path, "cannot create temporary file", errno);
  try {
    for (std::size_t done = 0; done < content.size();) {
      ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw file_error(path, "write", errno);
      done += static_cast<std::size_t>(n);
    }
    if (::fchmod(fd.get(), mode & 07777) != 0) throw file_error(path, "chmod", errno);
    if (::fsync(fd.get()) != 0) throw file_error(path, "fsync", errno);
    if (::close(fd.release()) != 0) throw file_error(path, "close", errno);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    throw file_error(path, "rename", saved);
  }
  Fd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dirfd.open() && ::fsync(dirfd.get()) != 0 && errno != EINVAL)
    throw file_error(dir.string(), "fsync", errno);
}

std::optional<std::string> LocalHost::get_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.open()) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw file_error(path, "open", errno);
  }
  std::string content;
  char buf[kChunk];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw file_error(path, "read", errno);
    if (n == 0) return content;
    content.append(buf, static_cast<std::size_t>(n));
  }
}

void kill_all_command_groups() {
  for (auto& slot : g_groups)
    if (pid_t pgid = slot.load(); pgid > 0) ::kill(-pgid, SIGKILL);
}

int kill_tagged_processes(const std::string& tag) {
  const std::string needle = "DRCTL_RUN_TAG=" + tag;
  int found = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == ::getpid()) continue;
    std::ifstream in(entry.path() / "environ", std::ios::binary);
    std::string environ((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::size_t pos = 0;
    bool match = false;
    while (pos < environ.size() && !match) {
      std::size_t end = environ.find('\0', pos);
      if (end == std::string::npos) end = environ.size();
      match = environ.compare(pos, end - pos, needle) == 0;
      pos = end + 1;
    }
    if (!match) continue;
    ++found;
    const pid_t pgid = ::getpgid(pid);
    if (pgid > 0 && pgid != ::getpgrp()) ::kill(-pgid, SIGKILL);
    ::kill(pid, SIGKILL);
  }
  return found;
}

}  // namespace drctl::world::real
