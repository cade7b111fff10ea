#include "offsite/sftp_repo.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "base/error.hpp"
#include "base/shell.hpp"
#include "offsite/copy.hpp"
#include "store/backend.hpp"
#include "store/lock.hpp"
#include "world/real/ssh_config.hpp"
#include "world/real/ssh_host.hpp"

namespace drctl::offsite {

namespace {

std::mutex options_mutex;
SftpRepoOptions options;

SftpRepoOptions current_options() {
  std::lock_guard lock(options_mutex);
  return options;
}

/// A repository directory on an SSH host, read over SFTP.
class SftpRepoBackend : public store::Backend {
 public:
  SftpRepoBackend(std::string location, const SftpUrl& url, const SftpRepoOptions& opts)
      : location_(std::move(location)), root_(url.path), host_(endpoint(url, opts), cancel_) {}

  std::string describe() const override { return location_; }

  std::optional<store::Bytes> read(const std::string& rel) const override {
    std::optional<std::string> text;
    try {
      text = host_.get_file(root_ + "/" + rel);
    } catch (const std::runtime_error& e) {
      throw Failure(e.what());
    }
    if (!text) return std::nullopt;
    return store::Bytes(text->begin(), text->end());
  }

  store::Bytes read_range(const std::string& rel, std::uint64_t offset, std::size_t length) const override {
    store::Bytes out = from_windows(rel, offset, length);
    if (out.size() == length) return out;
    if (out.empty() && !sequential(rel, offset)) return fetch(rel, offset, length, 0);
    // One read-ahead of a pack at a time: threads restoring neighbouring files wait for the
    // window another is fetching instead of fetching the same bytes again.
    std::unique_lock turn(pack_turn(rel));
    out = from_windows(rel, offset, length);
    if (out.size() == length) return out;
    const store::Bytes rest = fetch(rel, offset + out.size(), length - out.size(), ahead(rel, !out.empty()));
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
  }

  std::optional<std::uint64_t> size(const std::string& rel) const override {
    try {
      return host_.file_size(root_ + "/" + rel);
    } catch (const std::runtime_error& e) {
      throw Failure(e.what());
    }
  }

  std::vector<std::string> list(const std::string& rel) const override {
    const Listing& l = listing();
    std::vector<std::string> out;
    const std::string prefix = rel + "/";
    for (const std::set<std::string>* names : {&l.dirs, &l.files})
      for (auto it = names->lower_bound(prefix); it != names->end() && it->rfind(prefix, 0) == 0; ++it)
        if (it->find('/', prefix.size()) == std::string::npos) out.push_back(it->substr(prefix.size()));
    return out;
  }

  bool is_dir(const std::string& rel) const override { return listing().dirs.contains(rel); }

  /// Waits while the far repository's writer lock is held (see FORMAT.md, "Reading over SFTP").
  void wait_for_writers(const SftpRepoOptions& opts) {
    const auto deadline = std::chrono::steady_clock::now() + opts.lock_wait;
    auto delay = std::chrono::milliseconds(100);
    bool said = false;
    for (;;) {
      const std::optional<store::Bytes> held = read("lock");
      if (!held) return;
      const std::string who = holder(*held);
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline)
        throw Failure(location_ + " is locked by " + who + "; waited " +
                      std::to_string(opts.lock_wait.count() / 1000.0).substr(0, 4) +
                      "s (a copy into it, or a writer there; raise --lock-wait)");
      if (!said && opts.warn) {
        said = true;
        opts.warn("waiting up to " + std::to_string(std::chrono::ceil<std::chrono::seconds>(deadline - now).count()) +
                  " s for the lock of " + location_ + " held by " + who);
      }
      std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
          delay, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + std::chrono::milliseconds(1)));
      delay = std::min(delay * 2, std::chrono::milliseconds(1000));
    }
  }

 private:
  struct Listing {
    std::set<std::string> dirs, files;  // relative to the root: "data", "data/ab", "data/ab/<id>"
  };

  // Read-ahead: a restore asks for a pack's blobs mostly in order, one SFTP open/read/close each.
  // When a read starts where the last one of that pack ended (or a little after), the bytes after
  // it are fetched with it and kept (kFirstAhead, doubling up to kReadAhead while the reads keep
  // following each other), so the next small blobs cost no round trip and
  // a blob that begins in a window fetches only its tail (no byte is fetched twice); a lone read
  // (one file wanted back) fetches its own bytes only.
  static constexpr std::size_t kReadAhead = 1 << 20;
  static constexpr std::size_t kFirstAhead = 128 << 10;
  static constexpr std::size_t kWindows = 16;  // read-ahead windows kept (16 MiB), oldest dropped first
  // A small read is kept too, apart from the windows: a restore reads each directory's tree when
  // it checks the trees and again when it walks them, and over SFTP each read is a round trip.
  static constexpr std::size_t kKeepSmall = 64 << 10;
  static constexpr std::size_t kSmallKept = 512;  // at most 32 MiB; a lookup scans them all
  struct Window {
    std::string rel;
    std::uint64_t offset;
    store::Bytes data;
  };

  /// As much of the range, from its start, as kept windows and small reads hold (possibly nothing).
  store::Bytes from_windows(const std::string& rel, std::uint64_t offset, std::size_t length) const {
    std::lock_guard lock(windows_mutex_);
    store::Bytes out;
    while (out.size() < length) {
      const Window* w = holding(rel, offset + out.size());
      if (!w) break;
      const std::uint64_t at = offset + out.size();
      const auto from = w->data.begin() + static_cast<std::ptrdiff_t>(at - w->offset);
      const auto n = std::min<std::uint64_t>(length - out.size(), w->offset + w->data.size() - at);
      out.insert(out.end(), from, from + static_cast<std::ptrdiff_t>(n));
    }
    if (!out.empty()) last_end_[rel] = offset + out.size();
    return out;
  }

  /// The kept bytes that hold byte `at` of `rel` (windows_mutex_ held); nullptr when none does.
  const Window* holding(const std::string& rel, std::uint64_t at) const {
    for (const std::deque<Window>* kept : {&windows_, &small_})
      for (const Window& w : *kept)
        if (w.rel == rel && at >= w.offset && at < w.offset + w.data.size()) return &w;
    return nullptr;
  }

  std::mutex& pack_turn(const std::string& rel) const {
    std::lock_guard lock(windows_mutex_);
    return turns_[rel];
  }

  /// True when `offset` follows the last read of `rel` closely (the next blobs in order).
  bool sequential(const std::string& rel, std::uint64_t offset) const {
    std::lock_guard lock(windows_mutex_);
    const auto it = last_end_.find(rel);
    return it != last_end_.end() && offset >= it->second && offset - it->second < kReadAhead;
  }

  /// How far to read ahead in `rel`: kFirstAhead, doubled up to kReadAhead each time a read
  /// began in the last window (the reads keep following each other), as a kernel's read-ahead does.
  std::size_t ahead(const std::string& rel, bool window_used) const {
    std::lock_guard lock(windows_mutex_);
    std::size_t& size = ahead_[rel];
    size = size == 0 || !window_used ? kFirstAhead : std::min(size * 2, kReadAhead);
    return size;
  }

  static world::real::SshEndpoint endpoint(const SftpUrl& url, const SftpRepoOptions& opts) {
    world::real::SshHostSpec spec;
    spec.name = (url.user.empty() ? "" : url.user + "@") + url.host + (url.port ? ":" + std::to_string(url.port) : "");
    spec.address = url.host;
    spec.port = url.port;
    spec.user = url.user;
    spec.ssh_config = opts.ssh_config;
    try {
      return world::real::resolve_ssh_endpoint(spec);
    } catch (const world::real::SshConfigError& e) {
      throw InputError("--repo " + spec.name + ": " + e.what());
    }
  }

  /// The lock file's holder, as local lock messages name one (store::LockHolder::describe).
  static std::string holder(const store::Bytes& text) {
    try {
      const auto j = nlohmann::json::parse(text.begin(), text.end());
      return store::LockHolder{j.at("host").get<std::string>(), j.at("pid").get<long>(), j.at("started").get<std::string>()}
          .describe();
    } catch (const nlohmann::json::exception&) {
      return "a writer (its lock file is unreadable)";
    }
  }

  /// The root's directories and files, listed once (a reader reads a repository as it found it).
  const Listing& listing() const {
    std::call_once(listed_, [this] {
      // Directories, a line "//", then files: find prints "./data/ab" (FreeBSD's find too).
      world::Command c = world::shell_command("cd " + shell_quote(root_) +
                                              " || exit 3; find . -type d; echo //; find . -type f");
      const world::CommandResult r = host_.run(c);
      if (!r.ok()) {
        std::string why = !r.transport_error.empty() ? r.transport_error : r.err;
        while (!why.empty() && why.back() == '\n') why.pop_back();
        if (why.empty()) why = "exit status " + std::to_string(r.exit_code);
        throw Failure("cannot list " + location_ + ": " + why.substr(why.rfind('\n') + 1));
      }
      std::istringstream in(r.out);
      bool files = false;
      for (std::string line; std::getline(in, line);) {
        if (line == "//") files = true;
        else if (line.rfind("./", 0) == 0) (files ? listed_files_.files : listed_files_.dirs).insert(line.substr(2));
      }
    });
    return listed_files_;
  }

  /// Fetches `length` bytes from `offset` and up to `ahead` bytes after them (fewer at the end of
  /// the file), keeps those as a window, and returns the first `length`.
  store::Bytes fetch(const std::string& rel, std::uint64_t offset, std::size_t length, std::size_t ahead) const {
    store::Bytes out;
    out.reserve(length + ahead);
    bool found;
    try {
      found = host_.get_range(root_ + "/" + rel, offset, length + ahead,
                              [&](const char* d, std::size_t n) { out.insert(out.end(), d, d + n); });
    } catch (const std::runtime_error& e) {
      throw Failure(e.what());
    }
    if (!found) throw Failure("cannot open: " + location_ + "/" + rel + ": No such file or directory");
    if (out.size() < length)
      throw Failure(location_ + "/" + rel + ": the file ends before byte " + std::to_string(offset + length));
    std::lock_guard lock(windows_mutex_);
    last_end_[rel] = offset + length;
    if (out.size() > length) {
      keep(windows_, {rel, offset + length, store::Bytes(out.begin() + static_cast<std::ptrdiff_t>(length), out.end())}, kWindows);
      out.resize(length);
    } else if (length <= kKeepSmall) {
      keep(small_, {rel, offset, out}, kSmallKept);
    }
    return out;
  }

  /// Keeps bytes in `kept` (windows_mutex_ held), dropping the oldest beyond `limit` entries.
  static void keep(std::deque<Window>& kept, Window w, std::size_t limit) {
    kept.push_back(std::move(w));
    if (kept.size() > limit) kept.pop_front();
  }

  std::string location_, root_;
  world::Cancel cancel_;
  mutable world::real::SshHost host_;
  mutable std::mutex windows_mutex_;
  mutable std::deque<Window> windows_;  // read-ahead: the bytes after a blob read in order
  mutable std::deque<Window> small_;    // small reads, as they were
  mutable std::map<std::string, std::uint64_t> last_end_;  // by pack: where its last read ended
  mutable std::map<std::string, std::size_t> ahead_;       // by pack: its current read-ahead
  mutable std::map<std::string, std::mutex> turns_;         // by pack: held while a window is fetched
  mutable std::once_flag listed_;
  mutable Listing listed_files_;
};

std::unique_ptr<store::Backend> open_sftp(const std::string& location) {
  const SftpUrl url = parse_sftp_url(location, "--repo");
  const SftpRepoOptions opts = current_options();
  auto backend = std::make_unique<SftpRepoBackend>(location, url, opts);
  backend->wait_for_writers(opts);
  return backend;
}

}  // namespace

void set_sftp_repo_options(SftpRepoOptions o) {
  std::lock_guard lock(options_mutex);
  options = std::move(o);
}

void set_sftp_repo_ssh_config(const std::string& file) {
  std::lock_guard lock(options_mutex);
  options.ssh_config = file;
}

void register_sftp_repositories() { store::register_backend("sftp", open_sftp); }

}  // namespace drctl::offsite
