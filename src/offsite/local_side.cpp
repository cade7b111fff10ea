// A copy's end on this machine: the repository directory itself. Files arrive in tmp/ (as every
// writer's do, FORMAT.md) and are renamed into place once checked.
#include <fcntl.h>
#include <unistd.h>

#include <random>

#include "base/error.hpp"
#include "offsite/copy.hpp"
#include "offsite/layout.hpp"
#include "store/bytes.hpp"
#include "store/files.hpp"

namespace drctl::offsite {

namespace {

constexpr std::size_t kPiece = 1024 * 1024;

class LocalSide : public Side {
 public:
  explicit LocalSide(fs::path root) : root_(std::move(root)) {}

  std::string describe() const override { return root_.string(); }

  Listing list() override {
    Listing out;
    std::error_code ec;
    if (!fs::is_directory(root_, ec)) return out;
    for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      const std::string rel = it->path().lexically_relative(root_).string();
      if (is_repository_file(rel)) out.files.insert(rel);
      else if (is_copy_temporary(rel)) out.temporaries.push_back(rel);
      else if (rel != "lock" && rel != "readers" && rel.rfind("tmp/lock.", 0) != 0) out.others.push_back(rel);
    }
    if (ec) store::throw_errno("cannot list", root_, ec.value());
    return out;
  }

  std::optional<std::string> read_small(const std::string& rel) override {
    if (!fs::exists(root_ / rel)) return std::nullopt;
    const store::Bytes b = store::read_file(root_ / rel);
    return std::string(b.begin(), b.end());
  }

  void make_dirs(const std::vector<std::string>& rels) override {
    store::make_private_dir(root_);
    for (const auto& rel : rels) store::make_private_dir(root_ / rel);
  }

  std::map<std::string, std::string> hash(const std::vector<std::string>& rels) override {
    std::map<std::string, std::string> out;
    for (const auto& rel : rels) {
      if (!fs::exists(root_ / rel)) continue;
      store::Sha256 h;
      read_into(rel, [&](const char* d, std::size_t n) { h.update({reinterpret_cast<const std::uint8_t*>(d), n}); });
      out[rel] = h.finish().hex();
    }
    return out;
  }

  void remove(const std::vector<std::string>& temporaries) override {
    for (const auto& rel : temporaries) fs::remove(root_ / rel);
  }

  bool can_pull() const override { return true; }

  Pull reader(const std::string& rel) override {
    auto fd = std::make_shared<store::Fd>(store::open_or_throw(root_ / rel, O_RDONLY));
    const fs::path path = root_ / rel;
    return [fd, path] {
      std::string piece(kPiece, '\0');
      ssize_t n;
      do n = ::read(fd->get(), piece.data(), piece.size());
      while (n < 0 && errno == EINTR);
      if (n < 0) store::throw_errno("cannot read", path, errno);
      piece.resize(static_cast<std::size_t>(n));
      return piece;
    };
  }

  void read_into(const std::string& rel, const Sink& sink) override {
    Pull next = reader(rel);
    for (std::string piece = next(); !piece.empty(); piece = next()) sink(piece.data(), piece.size());
  }

  std::string write_pull(const std::string& rel, const Pull& next) override {
    return write_push(rel, [&](const Sink& sink) {
      for (std::string piece = next(); !piece.empty(); piece = next()) sink(piece.data(), piece.size());
    });
  }

  std::string write_push(const std::string&, const std::function<void(const Sink&)>& produce) override {
    store::make_private_dir(root_ / "tmp");
    const std::string temp = "tmp/copy-" + random_hex();
    const fs::path path = root_ / temp;
    store::Fd fd = store::open_or_throw(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    try {
      produce([&](const char* d, std::size_t n) {
        store::write_all(fd.get(), {reinterpret_cast<const std::uint8_t*>(d), n}, path);
      });
      if (::fsync(fd.get()) != 0) store::throw_errno("cannot fsync", path, errno);
    } catch (...) {
      fs::remove(path);
      throw;
    }
    return temp;
  }

  void place_checked(const std::vector<Arrival>& arrivals) override {
    for (const Arrival& a : arrivals) {
      const auto got = hash({a.temp});
      if (got.at(a.temp) != a.sha256) {
        fs::remove(root_ / a.temp);
        throw Failure(describe() + "/" + a.rel + ": the copy is damaged: SHA-256 " + got.at(a.temp).substr(0, 16) +
                      "… here, " + a.sha256.substr(0, 16) + "… sent");
      }
      const fs::path to = root_ / a.rel;
      if (::rename((root_ / a.temp).c_str(), to.c_str()) != 0) store::throw_errno("cannot rename into", to, errno);
      store::fsync_dir(to.parent_path());
    }
  }

 private:
  static std::string random_hex() {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(rng()));
    return buf;
  }

  fs::path root_;
};

}  // namespace

std::unique_ptr<Side> local_side(fs::path root) { return std::make_unique<LocalSide>(std::move(root)); }

}  // namespace drctl::offsite
