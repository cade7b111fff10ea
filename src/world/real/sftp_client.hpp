// A small SFTP (version 3) client over one libssh channel: what drctl needs to write files
// atomically and to move large files with constant memory. It speaks the protocol itself
// (libssh 0.10's sftp API waits for every request in turn and has no posix-rename), so reads
// and writes are pipelined and a rename can replace its target.
#pragma once
#include <libssh/libssh.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace drctl::world::real {

/// The SFTP server refused a request (the file is missing, permission denied, …).
struct SftpStatusError : std::runtime_error {
  SftpStatusError(std::uint32_t code, const std::string& message) : std::runtime_error(message), code(code) {}
  std::uint32_t code;  // SSH_FX_* status
};

/// One "sftp" subsystem channel, used by one thread at a time. Transport failures throw
/// SshError; refusals throw SftpStatusError. After any exception the client must be dropped
/// (replies may still be in flight).
class SftpClient {
 public:
  static constexpr std::uint32_t kNoSuchFile = 2;  // SSH_FX_NO_SUCH_FILE
  static constexpr std::uint32_t kRead = 0x01, kWrite = 0x02, kCreate = 0x08, kTruncate = 0x10, kExclusive = 0x20;

  /// What stat() tells about a path.
  struct Attrs {
    std::uint64_t size = 0;
    std::uint32_t permissions = 0;  // including the file type bits (S_IFDIR, …)
    bool is_dir() const { return (permissions & 0170000) == 0040000; }
  };

  /// Opens the subsystem on `session` and exchanges versions; `where` starts every message.
  SftpClient(ssh_session session, std::string where);
  ~SftpClient();
  SftpClient(const SftpClient&) = delete;
  SftpClient& operator=(const SftpClient&) = delete;

  /// True when the server announced the extension (e.g. "posix-rename@openssh.com").
  bool has_extension(const std::string& name) const;
  /// The attributes of `path` (following symlinks); nullopt when it does not exist.
  std::optional<Attrs> stat(const std::string& path);
  /// Creates one directory.
  void mkdir(const std::string& path, unsigned mode);
  /// Opens a file; returns the server's handle.
  std::string open(const std::string& path, std::uint32_t flags, unsigned mode);
  /// Closes a handle.
  void close(const std::string& handle);
  /// Writes everything `next_chunk` returns (until it returns "") from offset 0, with several
  /// requests in flight; `poll` is called between chunks (it may throw to stop). Returns the size.
  std::uint64_t write_all(const std::string& handle, const std::function<std::string()>& next_chunk,
                          const std::function<void()>& poll);
  /// Reads the whole file into `sink` in order, with several requests in flight. Returns the size.
  std::uint64_t read_all(const std::string& handle, const std::function<void(const char*, std::size_t)>& sink,
                         const std::function<void()>& poll);
  /// As read_all, for at most `length` bytes from `offset` (fewer when the file ends first).
  std::uint64_t read_range(const std::string& handle, std::uint64_t offset, std::uint64_t length,
                           const std::function<void(const char*, std::size_t)>& sink, const std::function<void()>& poll);
  /// Sets a path's permission bits exactly (no umask).
  void chmod(const std::string& path, unsigned mode);
  /// Flushes a file to disk on the server (fsync@openssh.com); a no-op when not offered.
  void fsync(const std::string& handle);
  /// Renames, replacing `to` atomically (posix-rename@openssh.com). Throws SftpStatusError
  /// when the server lacks that extension: plain SFTP rename refuses an existing target.
  void posix_rename(const std::string& from, const std::string& to);
  /// Removes a file.
  void remove(const std::string& path);

 private:
  struct Packet {
    std::uint8_t type = 0;
    std::string body;  // after the type byte
    std::size_t pos = 0;
    std::uint32_t u32();
    std::uint64_t u64();
    std::string str();
  };
  std::uint32_t send(std::uint8_t type, const std::string& payload);
  Packet receive();
  Packet reply(std::uint32_t id);
  void expect_ok(std::uint32_t id, const std::string& what);
  [[noreturn]] void fail_status(Packet& p, const std::string& what);
  void read_exact(char* out, std::size_t n);

  ssh_channel channel_ = nullptr;
  std::string where_;
  std::uint32_t next_id_ = 1;
  std::string extensions_;  // "\nname\n" for each announced extension
};

}  // namespace drctl::world::real
