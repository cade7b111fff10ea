// A one-line status that rewrites itself on a terminal (ninja-style) and stays quiet otherwise.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace drctl::cli {

class StatusLine {
 public:
  /// Calls `render` every 200 ms while alive, when stderr is a terminal.
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
