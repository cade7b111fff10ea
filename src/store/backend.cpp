#include "store/backend.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <map>
#include <mutex>

#include "base/error.hpp"
#include "store/files.hpp"

namespace drctl::store {

namespace {

/// The repository directory on this machine. Packs stay open between reads (a restore reads
/// many blobs of few packs), at most 64 at once.
class LocalBackend : public Backend {
 public:
  explicit LocalBackend(fs::path dir) : dir_(std::move(dir)) {}

  std::string describe() const override { return dir_.string(); }
  std::optional<fs::path> local_dir() const override { return dir_; }

  std::optional<Bytes> read(const std::string& rel) const override {
    std::error_code ec;
    if (!fs::exists(dir_ / rel, ec)) return std::nullopt;
    return read_file(dir_ / rel);
  }

  Bytes read_range(const std::string& rel, std::uint64_t offset, std::size_t length) const override {
    Fd fd(open_fd(rel));
    Bytes out(length);
    pread_all(fd.get(), out.data(), out.size(), static_cast<off_t>(offset), dir_ / rel);
    return out;
  }

  std::optional<std::uint64_t> size(const std::string& rel) const override {
    struct stat st;
    if (::stat((dir_ / rel).c_str(), &st) != 0) {
      if (errno == ENOENT) return std::nullopt;
      throw_errno("cannot stat", dir_ / rel, errno);
    }
    return static_cast<std::uint64_t>(st.st_size);
  }

  std::vector<std::string> list(const std::string& rel) const override {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ / rel, ec)) out.push_back(e.path().filename().string());
    return out;
  }

  bool is_dir(const std::string& rel) const override {
    std::error_code ec;
    return fs::is_directory(dir_ / rel, ec);
  }

  void forget(const std::string& rel) const override {
    std::lock_guard lock(mutex_);
    open_.erase(rel);
  }

 private:
  /// A descriptor of its own for the file (the cached one stays for the next read).
  int open_fd(const std::string& rel) const {
    std::lock_guard lock(mutex_);
    if (auto it = open_.find(rel); it != open_.end()) {
      const int copy = ::dup(it->second.get());
      if (copy < 0) throw_errno("cannot dup", dir_ / rel, errno);
      return copy;
    }
    if (open_.size() >= 64) open_.clear();
    Fd fd = open_or_throw(dir_ / rel, O_RDONLY);
    const int copy = ::dup(fd.get());
    if (copy < 0) throw_errno("cannot dup", dir_ / rel, errno);
    open_.emplace(rel, std::move(fd));
    return copy;
  }

  fs::path dir_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, Fd> open_;
};

std::mutex factories_mutex;
std::map<std::string, BackendFactory>& factories() {
  static std::map<std::string, BackendFactory> f;
  return f;
}

}  // namespace

std::unique_ptr<Backend> local_backend(fs::path dir) { return std::make_unique<LocalBackend>(std::move(dir)); }

void register_backend(const std::string& scheme, BackendFactory make) {
  std::lock_guard lock(factories_mutex);
  factories()[scheme] = std::move(make);
}

std::string location_scheme(const std::string& location) {
  const auto colon = location.find("://");
  if (colon == std::string::npos || colon == 0) return "";
  // RFC 3986: a letter, then letters, digits, '+', '-' and '.'.
  for (std::size_t i = 0; i < colon; ++i) {
    const unsigned char c = static_cast<unsigned char>(location[i]);
    const bool ok = std::isalpha(c) || (i > 0 && (std::isdigit(c) || c == '+' || c == '-' || c == '.'));
    if (!ok) return "";
  }
  return location.substr(0, colon);
}

std::unique_ptr<Backend> open_backend(const fs::path& location) {
  const std::string scheme = location_scheme(location.string());
  if (scheme.empty()) return local_backend(location);
  BackendFactory make;
  {
    std::lock_guard lock(factories_mutex);
    if (auto it = factories().find(scheme); it != factories().end()) make = it->second;
  }
  if (!make)
    throw InputError("repository " + location.string() + ": " + scheme +
                     ":// is not a repository location drctl reads (a directory, or sftp://[USER@]HOST[:PORT]/PATH)");
  return make(location.string());
}

void refuse_remote_write(const std::string& location) {
  throw InputError(location + ": sftp:// repositories are read-only here; copy with `snapshot copy --from`");
}

}  // namespace drctl::store
