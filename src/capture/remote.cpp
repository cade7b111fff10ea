#include "capture/remote.hpp"

#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "capture/tar_stream.hpp"
#include "base/error.hpp"

namespace drctl::capture {

namespace {

/// Thrown by Pipe::write once the reader failed: it ends the command that feeds the pipe.
struct PipeBroken : std::runtime_error {
  PipeBroken() : std::runtime_error("the reader of the stream failed") {}
};

/// Chunks from a producer thread to a consumer, at most `cap` of them waiting. Either side may
/// give up: a closed pipe reads as its end; an abandoned one swallows what is still written, or
/// (abandoned after a failure) throws PipeBroken at the writer.
class Pipe {
 public:
  explicit Pipe(std::size_t cap = 16) : cap_(cap) {}

  void write(const char* data, std::size_t n) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return abandoned_ || chunks_.size() < cap_; });
    if (abandoned_ && broken_) throw PipeBroken();
    if (abandoned_) return;
    chunks_.emplace_back(data, n);
    cv_.notify_all();
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    cv_.notify_all();
  }
  void abandon(bool broken = false) {
    std::lock_guard lock(mutex_);
    abandoned_ = true;
    broken_ = broken;
    chunks_.clear();
    cv_.notify_all();
  }
  /// The next chunk; "" once the pipe is closed and empty.
  std::string read() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return closed_ || !chunks_.empty(); });
    if (chunks_.empty()) return "";
    std::string out = std::move(chunks_.front());
    chunks_.pop_front();
    cv_.notify_all();
    return out;
  }

 private:
  std::size_t cap_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::string> chunks_;
  bool closed_ = false, abandoned_ = false, broken_ = false;
};


std::string first_line(const std::string& s) {
  const auto start = s.find_first_not_of("\n");
  if (start == std::string::npos) return "";
  return s.substr(start, s.find('\n', start) - start);
}

std::string why(const world::CommandResult& r) {
  if (r.timed_out) return "timed out";
  if (r.cancelled) return "cancelled";
  const std::string line = first_line(r.err);
  return "exit " + std::to_string(r.exit_code) + (line.empty() ? "" : ": " + line);
}

}  // namespace

NasResult capture_host_dir(store::Repository& repo, const std::string& name, const std::string& source,
                           world::Host& host, const std::string& dir, Progress& progress,
                           const std::function<void(const std::string&)>& warn) {
  // The command runs on this thread (a simulated host must not be called from another one);
  // the chunker reads the stream on a helper thread through a bounded pipe.
  const std::string tar = host.system().tar_create(dir);
  Pipe pipe;
  NasResult out;
  std::exception_ptr failed;
  std::thread consumer([&] {
    std::string pending;
    std::size_t at = 0;
    auto read = [&](char* buf, std::size_t size) -> std::size_t {
      while (at == pending.size()) {
        pending = pipe.read();
        at = 0;
        if (pending.empty()) return 0;
      }
      const std::size_t n = std::min(size, pending.size() - at);
      std::memcpy(buf, pending.data() + at, n);
      at += n;
      return n;
    };
    try {
      out = capture_tar(repo, name, source, read, progress, warn);
      pipe.abandon();  // anything after the end of the archive is not ours
    } catch (...) {
      failed = std::current_exception();
      pipe.abandon(true);  // the next write ends the command: no reading the rest of a dataset for nothing
    }
  });
  world::CommandResult result;
  try {
    result = host.run_stream(world::shell_command(tar),
                             [&](const char* data, std::size_t n) { pipe.write(data, n); });
  } catch (...) {
    pipe.close();
    consumer.join();
    if (failed) std::rethrow_exception(failed);  // why the pipe broke
    throw;
  }
  pipe.close();
  consumer.join();
  if (!result.ok()) throw Failure("tar of " + dir + " on " + host.name() + " failed (" + why(result) + ")");
  if (failed) std::rethrow_exception(failed);
  return out;
}

void restore_host_dir(const store::Repository& repo, const store::Section& section, world::Host& host,
                      const std::string& dir, const std::vector<std::string>& includes) {
  const std::string extract = host.system().tar_extract(dir);  // before the stream: the probe is a command of its own
  Pipe pipe;
  std::exception_ptr failed;
  std::thread producer([&] {
    try {
      write_tar(repo, section, [&](const char* data, std::size_t n) { pipe.write(data, n); }, includes);
    } catch (...) {
      failed = std::current_exception();
    }
    pipe.close();
  });
  world::CommandResult result;
  try {
    result = host.run_stream(world::shell_command(extract), [](const char*, std::size_t) {}, [&] { return pipe.read(); });
  } catch (...) {
    pipe.abandon();
    producer.join();
    throw;
  }
  pipe.abandon();
  producer.join();
  if (failed) std::rethrow_exception(failed);
  if (!result.ok())
    throw Failure("restore of " + section.name + " into " + dir + " on " + host.name() + " failed (" + why(result) + ")");
}

}  // namespace drctl::capture
