#include "store/files.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "base/error.hpp"

namespace drctl::store {

void throw_errno(const std::string& what, const fs::path& path, int err) {
  throw Failure(what + ": " + path.string() + ": " + std::strerror(err));
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

Fd open_or_throw(const fs::path& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw_errno("cannot open", path, errno);
  return Fd(fd);
}

void write_all(int fd, std::span<const std::uint8_t> data, const fs::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write", path, errno);
    }
    done += static_cast<std::size_t>(n);
  }
}

void pwrite_all(int fd, std::span<const std::uint8_t> data, off_t offset, const fs::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot write", path, errno);
    }
    done += static_cast<std::size_t>(n);
  }
}

void pread_all(int fd, std::uint8_t* buf, std::size_t len, off_t offset, const fs::path& path) {
  std::size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, buf + done, len - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("cannot read", path, errno);
    }
    if (n == 0) throw Failure("unexpected end of file: " + path.string());
    done += static_cast<std::size_t>(n);
  }
}

Bytes read_file(const fs::path& path) {
  Fd fd = open_or_throw(path, O_RDONLY);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw_errno("cannot stat", path, errno);
  Bytes out(static_cast<std::size_t>(st.st_size));
  if (!out.empty()) pread_all(fd.get(), out.data(), out.size(), 0, path);
  return out;
}

void fsync_dir(const fs::path& dir) {
  Fd fd = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  if (::fsync(fd.get()) != 0) throw_errno("cannot fsync", dir, errno);
}

void make_private_dir(const fs::path& dir) {
  if (fs::is_directory(dir)) return;
  if (dir.has_parent_path() && dir.parent_path() != dir) make_private_dir(dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("cannot create directory", dir, errno);
}

void write_file_atomic(const fs::path& tmp_dir, const fs::path& target,
                       std::span<const std::uint8_t> data) {
  static std::atomic<unsigned> counter{0};
  fs::path tmp = tmp_dir / (target.filename().string() + "." + std::to_string(::getpid()) + "." +
                            std::to_string(counter++) + ".tmp");
  {
    Fd fd = open_or_throw(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
    write_all(fd.get(), data, tmp);
    if (::fsync(fd.get()) != 0) throw_errno("cannot fsync", tmp, errno);
  }
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    throw_errno("cannot rename into place", target, err);
  }
  fsync_dir(target.parent_path());
}

}  // namespace drctl::store
