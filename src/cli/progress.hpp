// A one-line status that rewrites itself on a terminal (ninja-style) and stays quiet otherwise.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace drctl::cli {

/// Columns of the terminal on `fd`: $COLUMNS when it is a number (as POSIX has it override the
/// terminal's), else what the terminal says, else 80.
std::size_t terminal_columns(int fd);

/// How many columns `s` takes: one per character (UTF-8 continuation bytes take none).
std::size_t text_columns(std::string_view s);

/// `s` cut to at most `width` columns, at a character boundary.
std::string cut_to_columns(const std::string& s, std::size_t width);

/// `line` cut to at most `columns` - 1 characters (the last column stays free so a terminal
/// never wraps), an ellipsis marking the cut.
std::string fit_to_width(const std::string& line, std::size_t columns);

/// "1.2 GiB of 4.0 GiB (30%), 45 MiB/s, 1m05s left": bytes done against a known total after
/// `seconds`; without a total (0), the bytes and the rate alone.
std::string byte_progress(std::uint64_t done, std::uint64_t total, double seconds);

class StatusLine {
 public:
  /// Calls `render` (if any) every 200 ms while alive, when stderr is a terminal; what it returns is cut
  /// to the terminal's width as it is then.
  explicit StatusLine(std::function<std::string()> render);
  ~StatusLine();

  /// Prints a message on its own line without tearing the status line.
  void print(const std::string& line);

 private:
  void loop();
  std::function<std::string()> render_;
  bool tty_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  bool shown_ = false;
  std::thread thread_;
};

}  // namespace drctl::cli
