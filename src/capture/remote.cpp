#include "capture/remote.hpp"

#include "capture/exclude.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "base/error.hpp"
#include "capture/remote_tree.hpp"
#include "capture/tar_stream.hpp"

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

  void write(const char* data, std::size_t n) { write(std::string(data, n)); }
  void write(std::string&& chunk) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return abandoned_ || chunks_.size() < cap_; });
    if (abandoned_ && broken_) throw PipeBroken();
    if (abandoned_) return;
    chunks_.push_back(std::move(chunk));
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

namespace {

using Consume = std::function<NasResult(const std::function<std::size_t(char*, std::size_t)>& read)>;

/// What a command streamed into a capture gave: the capture, the command's result, and what
/// the capture threw (the command's own failure says more, so the caller looks at it first).
struct Streamed {
  NasResult out;
  world::CommandResult result;
  std::exception_ptr failed;
};

// How much of a command's output is handed to the consumer thread at a time.
constexpr std::size_t kHandOverBlock = 256 * 1024;

/// Runs `command` on `host` (on this thread: a simulated host must not be called from another
/// one), `stdin_data` on its stdin, and hands its output to `consume` on a helper thread
/// through a bounded pipe. Throws what running the command throws.
Streamed stream_into(world::Host& host, const std::string& command, const std::string& stdin_data,
                     const Consume& consume) {
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
      out = consume(read);
      pipe.abandon();  // anything after the end of the archive is not ours
    } catch (...) {
      failed = std::current_exception();
      pipe.abandon(true);  // the next write ends the command: no reading the rest of a dataset for nothing
    }
  });
  world::Command cmd = world::shell_command(command);
  cmd.stdin_data = stdin_data;
  world::CommandResult result;
  // The stream arrives a few KiB at a time (libssh takes 4 KiB off the socket per read): handed
  // over in blocks, the consumer thread wakes once a block instead of once a read.
  std::string block;
  const auto hand_over = [&] {
    pipe.write(std::move(block));
    block = std::string();
    block.reserve(kHandOverBlock);
  };
  block.reserve(kHandOverBlock);
  try {
    result = host.run_stream(cmd, [&](const char* data, std::size_t n) {
      block.append(data, n);
      if (block.size() >= kHandOverBlock) hand_over();
    });
    if (!block.empty()) hand_over();
  } catch (...) {
    pipe.close();
    consumer.join();
    if (failed) std::rethrow_exception(failed);  // why the pipe broke
    throw;
  }
  pipe.close();
  consumer.join();
  return {std::move(out), std::move(result), failed};
}

/// What tar says of a file that changed or vanished while it ran: it goes on (GNU tar exits 1
/// or 2, bsdtar 1 at the end), and the stream holds the file as tar read it, or not at all.
bool is_race_line(const std::string& line) {
  static const char* const races[] = {
      ": file changed as we read it",        // GNU tar: the file was written to while it was read
      ": File removed before we read it",    // GNU tar
      ": Cannot stat: No such file or directory",  // GNU tar and bsdtar: gone since it was listed
      "Exiting with failure status due to previous errors",  // GNU tar's last line
      "Error exit delayed from previous errors",             // bsdtar's last line
  };
  for (const char* r : races)
    if (line.find(r) != std::string::npos) return true;
  return false;
}

/// Whether a failed tar only met files that changed or went away while it ran; reports each.
bool only_races(const world::CommandResult& r, const std::string& where,
                const std::function<void(const std::string&)>& warn) {
  if (r.timed_out || r.cancelled || (r.exit_code != 1 && r.exit_code != 2) || !r.transport_error.empty()) return false;
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < r.err.size()) {
    const std::size_t nl = std::min(r.err.find('\n', pos), r.err.size());
    if (nl > pos) lines.push_back(r.err.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.empty() || !std::all_of(lines.begin(), lines.end(), is_race_line)) return false;
  for (const auto& line : lines)
    if (line.find("previous errors") == std::string::npos) warn(where + ": " + line + " (captured as tar read it)");
  return true;
}

/// The listing of `dir`, or nullopt (said through `warn`) when the host cannot give one.
std::optional<std::vector<RemoteEntry>> list_remote(world::Host& host, const world::HostSystem& sys,
                                                    const std::string& dir,
                                                    const std::function<void(const std::string&)>& warn) {
  const std::string command = sys.list_tree(dir);
  if (command.empty()) return std::nullopt;
  const world::CommandResult r = host.run(world::shell_command(command));
  if (!r.ok()) {
    // A listing with holes (an unreadable directory, a file gone between find and stat) must not
    // make entries vanish: the whole tree is sent instead, and tar says what it cannot read.
    if (!r.out.empty())
      warn("listing " + dir + " on " + host.name() + " failed (" + why(r) + "); capturing it in full");
    return std::nullopt;  // empty: e.g. no such directory, which the tar that follows says
  }
  try {
    return parse_listing(sys.lister, r.out);
  } catch (const Failure& e) {
    warn(std::string(e.what()) + "; capturing " + dir + " on " + host.name() + " in full");
    return std::nullopt;
  }
}

}  // namespace

NasResult capture_host_dir(store::Repository& repo, const std::string& name, const std::string& source,
                           world::Host& host, const std::string& dir, Progress& progress,
                           const std::function<void(const std::string&)>& warn, const std::optional<store::Id>& parent,
                           const std::vector<std::string>& exclude) {
  ExcludeMatcher matcher;
  for (const auto& pattern : exclude) matcher.add(pattern, "exclude");
  const world::HostSystem sys = host.system();
  // The listing first: what it records (ctime, inode) is from before tar read the files, so a file
  // written to meanwhile differs from it next time and is read again.
  auto listing = list_remote(host, sys, dir, warn);
  if (!matcher.empty() && !listing) {
    // Without a listing tar would send what is excluded: no capture. Say why the host did not list.
    const world::CommandResult reach = host.run(world::shell_command("true"));
    throw Failure("cannot exclude from " + dir + " on " + host.name() + ": " +
                  (!reach.transport_error.empty() ? reach.transport_error : "its tree could not be listed (see the warning above)"));
  }
  // Excluded entries leave the listing, as a walk would not enter them: the topmost of each is
  // recorded, as capture_nas records what its walk skipped.
  std::uint64_t excluded_count = 0;
  std::vector<std::pair<std::string, std::string>> excluded_paths;
  if (!matcher.empty()) {
    std::erase_if(*listing, [&](const RemoteEntry& e) {
      if (e.path.empty()) return false;
      const std::string* pattern = matcher.excluded(e.path);
      if (!pattern) return false;
      const auto slash = e.path.rfind('/');
      if (slash == std::string::npos || !matcher.excluded(std::string_view(e.path).substr(0, slash))) {
        ++excluded_count;
        if (excluded_paths.size() < store::kMaxExcludedPaths) excluded_paths.emplace_back(e.path, *pattern);
      }
      return true;
    });
  }
  std::string command = sys.tar_create(dir), names;
  TarBase base;
  if (listing) {
    IncrementalPlan plan = plan_incremental(repo, *listing, parent, warn);
    base = std::move(plan.base);
    if (parent || !matcher.empty()) {  // by name: what changed, or what is not excluded
      command = sys.tar_create_list(dir);
      names = tar_name_list(plan.fetch);
    }
  }
  Streamed s = stream_into(host, command, names, [&](const auto& read) {
    return capture_tar(repo, name, source, read, progress, warn, base);
  });
  if (!s.result.ok() && !only_races(s.result, "tar of " + dir + " on " + host.name(), warn))
    throw Failure("tar of " + dir + " on " + host.name() + " failed (" + why(s.result) + ")");
  if (s.failed) std::rethrow_exception(s.failed);
  if (!matcher.empty()) {
    s.out.section.excludes = matcher.patterns();
    s.out.section.excluded = excluded_count;
    s.out.section.excluded_paths = std::move(excluded_paths);
  }
  return std::move(s.out);
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
