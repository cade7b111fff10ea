// drctl run on a real terminal (a pty): what the terminal receives, for tests of what people see.
#pragma once
#include <doctest/doctest.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "support/run.hpp"

namespace support {

/// What a terminal of `columns` columns shows when drctl runs on it (stdin, stdout and stderr the
/// pty, as from a shell), with COLUMNS set as a shell sets it.
struct PtyRun {
  std::string screen;
  int exit_code = -1;
};

inline PtyRun run_in_pty(const std::vector<std::string>& args, unsigned short columns,
                         const std::vector<std::pair<std::string, std::string>>& env = {}) {
  winsize size{};
  size.ws_col = columns;
  size.ws_row = 40;
  int master = -1, slave = -1;
  DOCTEST_REQUIRE(::openpty(&master, &slave, nullptr, nullptr, &size) == 0);
  std::vector<std::string> argv = support::drctl_argv(args);
  const pid_t pid = ::fork();
  DOCTEST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setsid();
    ::ioctl(slave, TIOCSCTTY, 0);
    for (int fd : {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO}) ::dup2(slave, fd);
    ::close(master);
    ::setenv("COLUMNS", std::to_string(columns).c_str(), 1);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> raw;
    for (auto& a : argv) raw.push_back(a.data());
    raw.push_back(nullptr);
    ::execv(raw[0], raw.data());
    ::_exit(127);
  }
  ::close(slave);
  PtyRun out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO: the child and everything it started closed the terminal
    out.screen.append(buf, static_cast<std::size_t>(n));
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return out;
}

}  // namespace support
