#include "offsite/sftp_repo.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "base/error.hpp"
#include "base/shell.hpp"
#include "offsite/copy.hpp"
#include "store/backend.hpp"
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
    store::Bytes out;
    out.reserve(length);
    bool found;
    try {
      found = host_.get_range(root_ + "/" + rel, offset, length,
                              [&](const char* d, std::size_t n) { out.insert(out.end(), d, d + n); });
    } catch (const std::runtime_error& e) {
      throw Failure(e.what());
    }
    if (!found) throw Failure("cannot open: " + location_ + "/" + rel + ": No such file or directory");
    if (out.size() != length)
      throw Failure(location_ + "/" + rel + ": the file ends before byte " + std::to_string(offset + length));
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

  static std::string holder(const store::Bytes& text) {
    std::string s(text.begin(), text.end());
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    return s.empty() ? std::string("a writer") : s.substr(0, 200);
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

  std::string location_, root_;
  world::Cancel cancel_;
  mutable world::real::SshHost host_;
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
