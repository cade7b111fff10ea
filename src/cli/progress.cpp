#include "cli/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "cli/format.hpp"

namespace drctl::cli {

std::size_t terminal_columns(int fd) {
  if (const char* c = std::getenv("COLUMNS")) {
    const std::string text = c;
    if (!text.empty() && text.size() < 5 && text.find_first_not_of("0123456789") == std::string::npos && std::stoi(text) > 0)
      return static_cast<std::size_t>(std::stoi(text));
  }
  struct winsize w {};
  if (::ioctl(fd, TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
  return 80;
}

std::size_t text_columns(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string cut_to_columns(const std::string& s, std::size_t width) {
  std::size_t cols = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((s[i] & 0xC0) != 0x80 && ++cols > width) return s.substr(0, i);
  return s;
}

std::string fit_to_width(const std::string& line, std::size_t columns) {
  const std::size_t room = columns > 1 ? columns - 1 : 1;
  if (text_columns(line) <= room) return line;
  return cut_to_columns(line, room - 1) + "\u2026";
}

namespace {

std::string duration_text(double seconds) {
  const auto s = static_cast<long>(std::lround(seconds));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else if (s >= 60) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

}  // namespace

std::string byte_progress(std::uint64_t done, std::uint64_t total, double seconds) {
  const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  std::string out = human_bytes(done);
  if (total > 0) {
    out += " of " + human_bytes(total) + " (" + std::to_string(std::min<std::uint64_t>(100, done * 100 / total)) + "%)";
  }
  if (rate > 0) out += ", " + human_bytes(static_cast<std::uint64_t>(rate)) + "/s";
  if (total > done && rate > 0 && seconds >= 1) out += ", " + duration_text(static_cast<double>(total - done) / rate) + " left";
  return out;
}

StatusLine::StatusLine(std::function<std::string()> render)
    : render_(std::move(render)), tty_(render_ && ::isatty(STDERR_FILENO) == 1) {
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
    const std::string s = fit_to_width(render_(), terminal_columns(STDERR_FILENO));
    std::fprintf(stderr, "\r\033[K%s", s.c_str());
    std::fflush(stderr);
    shown_ = true;
  }
}

}  // namespace drctl::cli
