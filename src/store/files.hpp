// Small POSIX file helpers: owned descriptors, whole-file reads, crash-safe writes.
#pragma once
#include <filesystem>
#include <span>
#include <string>

#include "store/bytes.hpp"

namespace drctl::store {

namespace fs = std::filesystem;

/// "what: path: strerror(errno)" as a Failure.
[[noreturn]] void throw_errno(const std::string& what, const fs::path& path, int err);

/// An owned file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd();
  int get() const { return fd_; }
  int release() { int f = fd_; fd_ = -1; return f; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

Fd open_or_throw(const fs::path& path, int flags, int mode = 0600);
void write_all(int fd, std::span<const std::uint8_t> data, const fs::path& path);
void pwrite_all(int fd, std::span<const std::uint8_t> data, off_t offset, const fs::path& path);
void pread_all(int fd, std::uint8_t* buf, std::size_t len, off_t offset, const fs::path& path);
Bytes read_file(const fs::path& path);

/// fsync a directory so a rename inside it is durable.
void fsync_dir(const fs::path& dir);

/// Creates a directory (and missing parents) with mode 0700.
void make_private_dir(const fs::path& dir);

/// Writes data to `target` crash-safely: a temp file in `tmp_dir` (same file system), fsync,
/// rename over the target, fsync of the target's directory. Mode 0600.
void write_file_atomic(const fs::path& tmp_dir, const fs::path& target,
                       std::span<const std::uint8_t> data);

}  // namespace drctl::store
