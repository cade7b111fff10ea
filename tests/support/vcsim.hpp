// Test support: vcsim, VMware's vSphere simulator (tests/support/vcsim/main.go, built into
// DRCTL_VCSIM by tests/support/vcsim/build), as a child process on 127.0.0.1. It runs in its own
// process group; the destructor SIGKILLs that group (and nothing else) and reaps it. Its stdin is
// a pipe it watches: should the test process die, vcsim ends by itself. Header-only, to stay out
// of the test library.
#pragma once
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

namespace support {

/// The simulated inventory and server (see main.go for what each flag makes).
struct VcsimOptions {
  std::string username = "administrator@vsphere.local";
  std::string password = "vcsim-Secret-1";
  std::vector<std::string> portgroups{"wan", "management:10", "cluster"};  // NAME[:VLAN]
  int vms = 0;                                                            // 0: empty inventory
  std::string cert, key;  // PEM files to serve ("" for govmomi's built-in localhost certificate)
  std::string listen = "127.0.0.1:0";
};

class Vcsim {
 public:
  /// Starts vcsim and waits (generously: the first start of a fresh binary can be slow) for its
  /// URL line; throws std::runtime_error with its stderr when it does not come.
  explicit Vcsim(VcsimOptions options = {}) : options_(std::move(options)), dir_("vcsim") { start(); }
  ~Vcsim() { stop(); }
  Vcsim(const Vcsim&) = delete;
  Vcsim& operator=(const Vcsim&) = delete;

  /// https://127.0.0.1:PORT/sdk
  const std::string& url() const { return url_; }
  /// https://127.0.0.1:PORT (for openssl s_client and the like).
  std::string host_port() const { return url_.substr(8, url_.find('/', 8) - 8); }
  const VcsimOptions& options() const { return options_; }
  pid_t pid() const { return pid_; }

  /// The simulator's binary (the DRCTL_VCSIM macro, or $DRCTL_VCSIM).
  static std::string binary() {
    if (const char* env = std::getenv("DRCTL_VCSIM")) return env;
#ifdef DRCTL_VCSIM
    return DRCTL_VCSIM;
#else
    return "vcsim";
#endif
  }

  /// Writes a fresh self-signed certificate for 127.0.0.1 and its key (openssl req).
  static void make_certificate(const fs::path& cert, const fs::path& key) {
    expect_exit(run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                     "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key.string(), "-out", cert.string()}),
                0);
  }

 private:
  void start() {
    std::vector<std::string> args{binary(), "-listen", options_.listen, "-username", options_.username,
                                  "-password", options_.password, "-vms", std::to_string(options_.vms)};
    std::string pgs;
    for (const auto& p : options_.portgroups) pgs += (pgs.empty() ? "" : ",") + p;
    if (!pgs.empty()) args.insert(args.end(), {"-portgroups", pgs});
    if (!options_.cert.empty()) args.insert(args.end(), {"-cert", options_.cert, "-key", options_.key});
    const std::string err_path = (dir_ / "stderr").string();

    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::setpgid(0, 0);
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (err >= 0) ::dup2(err, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::setpgid(pid_, pid_);  // also here: no race with the child's own call
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    const int fd = out[0];
    std::string text;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) break;  // it exited
      text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    const auto nl = text.find('\n');
    if (nl == std::string::npos || text.compare(0, 4, "URL ") != 0) {
      stop();
      throw std::runtime_error("vcsim (" + binary() + ") did not start: " + read_file(err_path) + text);
    }
    url_ = text.substr(4, nl - 4);
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);  // its own process group: vcsim and anything it started
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
  }

  VcsimOptions options_;
  TempDir dir_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::string url_;
};

}  // namespace support
