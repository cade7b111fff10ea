#include "support/run.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

#ifndef DRCTL_BINARY
#define DRCTL_BINARY "drctl"
#endif

namespace support {

namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

std::string read_fd_all(int fd) {
  std::string out;
  char buf[65536];
  off_t off = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return out;
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  std::string cur;
  for (char c : s) {
    if (c == '\n') {
      lines.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

std::string quote_arg(const std::string& a) {
  if (!a.empty() && a.find_first_of(" \t\n'\"\\$*?[]") == std::string::npos) {
    bool printable = true;
    for (unsigned char c : a)
      if (c < 0x20 || c >= 0x7f) printable = false;
    if (printable) return a;
  }
  return "'" + escape(a) + "'";
}

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

// ---------------------------------------------------------------------------------------
std::string RunResult::describe(std::size_t max_chars) const {
  std::ostringstream s;
  for (std::size_t i = 0; i < argv.size(); ++i) s << (i ? " " : "") << quote_arg(argv[i]);
  s << " -> ";
  if (timed_out)
    s << "TIMED OUT and killed";
  else if (term_signal)
    s << "killed by signal " << term_signal;
  else
    s << "exit " << exit_code;
  char buf[32];
  std::snprintf(buf, sizeof buf, " (%.2f s)", seconds);
  s << buf << "\n";
  auto clip = [&](const std::string& t) {
    if (t.size() <= max_chars) return t;
    return t.substr(0, max_chars / 2) + "\n[... " + std::to_string(t.size() - max_chars) +
           " bytes cut ...]\n" + t.substr(t.size() - max_chars / 2);
  };
  s << "--- stdout ---\n" << clip(out) << (out.empty() || out.back() == '\n' ? "" : "\n");
  s << "--- stderr ---\n" << clip(err) << (err.empty() || err.back() == '\n' ? "" : "\n");
  return s.str();
}

std::vector<std::string> RunResult::err_lines() const { return split_lines(err); }
std::vector<std::string> RunResult::out_lines() const { return split_lines(out); }

// ---------------------------------------------------------------------------------------
Process::Process(std::vector<std::string> argv, const RunOptions& opt) : argv_(std::move(argv)) {
  if (argv_.empty()) throw std::runtime_error("Process: empty argv");
  out_fd_ = ::memfd_create("stdout", MFD_CLOEXEC);
  err_fd_ = ::memfd_create("stderr", MFD_CLOEXEC);
  if (out_fd_ < 0 || err_fd_ < 0) throw std::runtime_error(errno_text("memfd_create"));

  // Environment: inherited, minus DRCTL_REPO and unset_env, plus opt.env.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  env.erase("DRCTL_REPO");
  for (const auto& k : opt.unset_env) env.erase(k);
  for (const auto& [k, v] : opt.env) env[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<char*> args;
  for (auto& a : argv_) args.push_back(a.data());
  args.push_back(nullptr);
  std::string path_env = env.count("PATH") ? env["PATH"] : "/usr/local/bin:/usr/bin:/bin";

  start_ = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(errno_text("fork"));
  if (pid == 0) {
    // Child: only async-signal-safe calls from here on.
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_fd_, 1);
    ::dup2(err_fd_, 2);
    if (!opt.cwd.empty() && ::chdir(opt.cwd.c_str()) != 0) {
      const char msg[] = "test harness: chdir failed\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    if (opt.umask) ::umask(*opt.umask);
    if (opt.gid || opt.uid) {
      ::setgroups(0, nullptr);
      if (opt.gid && ::setgid(*opt.gid) != 0) ::_exit(126);
      if (opt.uid && ::setuid(*opt.uid) != 0) ::_exit(126);
    }
    ::close_range(3, ~0U, 0);
    if (std::strchr(args[0], '/')) {
      ::execve(args[0], args.data(), envp.data());
    } else {
      // PATH search without allocating.
      const char* p = path_env.c_str();
      char buf[4096];
      while (*p) {
        const char* colon = std::strchr(p, ':');
        std::size_t len = colon ? static_cast<std::size_t>(colon - p) : std::strlen(p);
        std::size_t nlen = std::strlen(args[0]);
        if (len + 1 + nlen + 1 < sizeof buf) {
          std::memcpy(buf, p, len);
          buf[len] = '/';
          std::memcpy(buf + len + 1, args[0], nlen + 1);
          ::execve(buf, args.data(), envp.data());
        }
        if (!colon) break;
        p = colon + 1;
      }
    }
    int e = errno;
    const char msg[] = "test harness: cannot execute ";
    (void)!::write(2, msg, sizeof msg - 1);
    (void)!::write(2, args[0], std::strlen(args[0]));
    const char* why = e == ENOENT ? ": no such file\n" : e == EACCES ? ": permission denied\n" : ": exec failed\n";
    (void)!::write(2, why, std::strlen(why));
    ::_exit(127);
  }
  pid_ = pid;
  ::setpgid(pid, pid);  // also from the parent, so the group exists before we signal it
  pidfd_ = pidfd_open(pid);
}

Process::~Process() {
  if (pid_ > 0 && !reaped_) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
  }
  if (pidfd_ >= 0) ::close(pidfd_);
  if (out_fd_ >= 0) ::close(out_fd_);
  if (err_fd_ >= 0) ::close(err_fd_);
}

bool Process::wait_exit_for(std::chrono::microseconds delay) {
  if (reaped_) return true;
  auto deadline = std::chrono::steady_clock::now() + delay;
  for (;;) {
    int st;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      status_ = st;
      return true;
    }
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now);
    if (pidfd_ >= 0) {
      // poll has millisecond resolution: round up, then sleep the sub-ms remainder.
      if (left >= std::chrono::milliseconds(1)) {
        pollfd pfd{pidfd_, POLLIN, 0};
        int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(left).count());
        ::poll(&pfd, 1, ms);
      } else {
        std::this_thread::sleep_for(left);
      }
    } else {
      std::this_thread::sleep_for(std::min<std::chrono::microseconds>(left, std::chrono::milliseconds(2)));
    }
  }
}

bool Process::running() { return !wait_exit_for(std::chrono::microseconds(0)); }

void Process::signal(int sig) {
  if (reaped_) return;
  ::kill(-pid_, sig);
}

std::string Process::err_so_far() const { return read_fd_all(err_fd_); }

RunResult Process::collect(bool timed_out) {
  RunResult r;
  r.argv = argv_;
  r.timed_out = timed_out;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (WIFEXITED(status_)) {
    r.exit_code = WEXITSTATUS(status_);
  } else if (WIFSIGNALED(status_)) {
    r.term_signal = WTERMSIG(status_);
    r.exit_code = 128 + r.term_signal;
  }
  r.out = read_fd_all(out_fd_);
  r.err = read_fd_all(err_fd_);
  return r;
}

RunResult Process::wait(std::chrono::milliseconds timeout) {
  bool timed_out = false;
  if (!wait_exit_for(timeout)) {
    timed_out = true;
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGCONT);
    wait_exit_for(std::chrono::seconds(30));
    if (!reaped_) {
      int st;
      ::waitpid(pid_, &st, 0);
      status_ = st;
      reaped_ = true;
    }
  }
  return collect(timed_out);
}

RunResult Process::kill_after(std::chrono::microseconds delay) {
  if (!wait_exit_for(delay)) {
    ::kill(-pid_, SIGKILL);
    int st;
    ::waitpid(pid_, &st, 0);
    status_ = st;
    reaped_ = true;
  }
  return collect(false);
}

RunResult run(const std::vector<std::string>& argv, const RunOptions& opt) {
  Process p(argv, opt);
  return p.wait(opt.timeout);
}

// ---------------------------------------------------------------------------------------
std::string drctl_binary() {
  if (const char* b = std::getenv("DRCTL_TEST_BINARY"); b && *b) return b;
  return DRCTL_BINARY;
}

std::vector<std::string> drctl_argv(std::vector<std::string> args) {
  args.insert(args.begin(), drctl_binary());
  return args;
}

RunResult drctl(std::vector<std::string> args, std::map<std::string, std::string> env) {
  RunOptions opt;
  opt.env = std::move(env);
  return run(drctl_argv(std::move(args)), opt);
}

RunResult drctl_opts(std::vector<std::string> args, const RunOptions& opt) {
  return run(drctl_argv(std::move(args)), opt);
}

std::unique_ptr<Process> drctl_start(std::vector<std::string> args, const RunOptions& opt) {
  return std::make_unique<Process>(drctl_argv(std::move(args)), opt);
}

RunResult drctl_killed_after(std::vector<std::string> args, std::chrono::microseconds delay,
                             const RunOptions& opt) {
  Process p(drctl_argv(std::move(args)), opt);
  return p.kill_after(delay);
}

// ---------------------------------------------------------------------------------------
const RunResult& expect_exit(const RunResult& r, int code) {
  if (r.timed_out || r.exit_code != code)
    throw std::runtime_error("expected exit " + std::to_string(code) + ": " + r.describe());
  return r;
}

std::string parse_snapshot_id(const std::string& out) {
  static const std::regex hex64("(^|[^0-9a-fA-F])([0-9a-f]{64})([^0-9a-fA-F]|$)");
  std::smatch m;
  if (!std::regex_search(out, m, hex64))
    throw std::runtime_error("no 64-hex snapshot id in output:\n" + out);
  return m[2].str();
}

bool is_one_error_line(const std::string& s) {
  if (s.rfind("drctl: error: ", 0) != 0) return false;
  auto nl = s.find('\n');
  return nl == std::string::npos || nl == s.size() - 1;
}

void init_repo(const fs::path& repo, std::vector<std::string> extra) {
  std::vector<std::string> args = {"snapshot", "init", "--repo", repo.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  expect_exit(drctl(args), 0);
}

std::vector<std::string> small_chunks() {
  return {"--chunk-min", "16384", "--chunk-avg", "65536", "--chunk-max", "262144"};
}

std::string create_snapshot(const fs::path& repo,
                            const std::vector<std::pair<std::string, fs::path>>& nas,
                            std::vector<std::string> extra) {
  std::vector<std::string> args = {"snapshot", "create", "--repo", repo.string()};
  for (const auto& [name, path] : nas) {
    args.push_back("--nas");
    args.push_back(name + "=" + path.string());
  }
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = drctl(args);
  expect_exit(r, 0);
  return parse_snapshot_id(r.out);
}

void restore_section(const fs::path& repo, const std::string& id, const std::string& section,
                     const fs::path& to, std::vector<std::string> extra) {
  std::vector<std::string> args = {"snapshot", "restore", id,           "--repo", repo.string(),
                                   "--section", section, "--to", to.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  expect_exit(drctl(args), 0);
}

std::size_t packs_under(const fs::path& repo, std::uint64_t size) {
  std::size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(repo / "data"))
    if (e.is_regular_file() && e.file_size() < size) ++n;
  return n;
}

std::vector<std::string> list_ids(const fs::path& repo, std::vector<std::string> extra) {
  std::vector<std::string> args = {"snapshot", "list", "--repo", repo.string(), "--json"};
  args.insert(args.end(), extra.begin(), extra.end());
  RunResult r = drctl(args);
  expect_exit(r, 0);
  std::vector<std::string> ids;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string("snapshot list --json: not JSON: ") + e.what() + "\n" + r.describe());
  }
  if (!j.is_array()) throw std::runtime_error("snapshot list --json: not an array\n" + r.describe());
  for (const auto& s : j) ids.push_back(s.at("id").get<std::string>());
  return ids;
}

std::vector<std::string> restore_and_compare(const fs::path& repo, const std::string& id,
                                             const std::string& section, const Manifest& expected,
                                             const fs::path& scratch, const CompareOptions& opt) {
  static int counter = 0;
  fs::path to = scratch / ("restore-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
  RunResult r = drctl({"snapshot", "restore", id, "--repo", repo.string(), "--section", section, "--to",
                       to.string()});
  std::vector<std::string> diffs;
  if (r.exit_code != 0) {
    diffs.push_back("restore failed: " + r.describe());
  } else {
    diffs = compare_manifests(expected, scan_tree(to), opt);
  }
  std::error_code ec;
  fs::remove_all(to, ec);
  return diffs;
}

namespace {

std::uint32_t le32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

// Returns the pack's bytes and the offset of its header entries; checks the trailer.
std::pair<std::string, std::size_t> read_pack(const fs::path& p, std::uint32_t& count) {
  std::string data = read_file(p);
  if (data.size() < 16 || data.compare(data.size() - 8, 8, "DRCTLPK1") != 0)
    throw std::runtime_error("not a pack (no DRCTLPK1 trailer): " + p.string());
  count = le32(reinterpret_cast<const unsigned char*>(data.data()) + data.size() - 16);
  if (static_cast<std::uint64_t>(count) * 46 + 16 > data.size())
    throw std::runtime_error("pack header count out of range: " + p.string());
  std::size_t hdr = data.size() - 16 - static_cast<std::size_t>(count) * 46;
  return {std::move(data), hdr};
}

}  // namespace

std::vector<PackBlob> parse_pack(const fs::path& p) {
  std::uint32_t count = 0;
  auto [data, hdr] = read_pack(p, count);
  auto* u = reinterpret_cast<const unsigned char*>(data.data());
  std::vector<PackBlob> blobs;
  static const char* digits = "0123456789abcdef";
  for (std::uint32_t i = 0; i < count; ++i) {
    const unsigned char* h = u + hdr + static_cast<std::size_t>(i) * 46;
    PackBlob b;
    b.type = h[0];
    b.compression = h[1];
    for (int k = 0; k < 32; ++k) {
      b.id.push_back(digits[h[2 + k] >> 4]);
      b.id.push_back(digits[h[2 + k] & 15]);
    }
    b.offset = le32(h + 34);
    b.length = le32(h + 38);
    b.raw_length = le32(h + 42);
    if (static_cast<std::uint64_t>(b.offset) + b.length > hdr)
      throw std::runtime_error("pack blob out of range: " + p.string());
    blobs.push_back(b);
  }
  return blobs;
}

std::string pack_header_bytes(const fs::path& p) {
  std::uint32_t count = 0;
  auto [data, hdr] = read_pack(p, count);
  return data.substr(hdr, static_cast<std::size_t>(count) * 46);
}

std::vector<fs::path> pack_files(const fs::path& repo) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(repo / "data"))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

}  // namespace support
