#include "cli/progress.hpp"

#include <unistd.h>

#include <cstdio>

namespace drctl::cli {

StatusLine::StatusLine(std::function<std::string()> render)
    : render_(std::move(render)), tty_(::isatty(STDERR_FILENO) == 1) {
  if (tty_) thread_ = std::thread([this] { loop(); });
}

StatusLine::~StatusLine() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (shown_) std::fputs("\r\033[K", stderr);
}

void StatusLine::print(const std::string& line) {
  std::lock_guard lock(mutex_);
  if (shown_) std::fputs("\r\033[K", stderr);
  std::fprintf(stderr, "%s\n", line.c_str());
  shown_ = false;
}

void StatusLine::loop() {
  std::unique_lock lock(mutex_);
  while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return done_; })) {
    std::string s = render_();
    std::fprintf(stderr, "\r\033[K%s", s.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
}

}  // namespace drctl::cli
