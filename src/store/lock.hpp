// The writer lock of a repository: one file, `lock`, naming its holder.
#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "store/files.hpp"

namespace drctl::store {

/// Who holds a lock, as written in the lock file.
struct LockHolder {
  std::string host;
  long pid = 0;
  std::string started;  // ISO 8601, UTC
  std::string describe() const;
};

/// Reads the holder of `repo`/lock, if there is one.
std::optional<LockHolder> read_lock(const fs::path& repo);

/// True when the lock was taken on this host by a process that no longer runs (its flock is
/// gone). Locks from other hosts are never called stale: their liveness cannot be known here.
bool lock_is_stale(const fs::path& repo);

/// An exclusive writer lock, released on destruction. The lock file is created complete
/// (holder written, flock taken) under a temporary name and then hard-linked into place, so
/// it is never seen half written; the flock tells later writers on this host whether the
/// holder still runs. A lock left by a dead process on this host is reported through `warn`
/// and taken over.
class RepoLock {
 public:
  static RepoLock acquire(const fs::path& repo, std::chrono::milliseconds wait,
                          const std::function<void(const std::string&)>& warn);
  RepoLock(RepoLock&&) = default;
  RepoLock& operator=(RepoLock&&) = default;
  ~RepoLock();

 private:
  RepoLock(fs::path path, Fd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  fs::path path_;
  Fd fd_;
};

/// Removes a lock: one that is stale, or any with force. Returns the holder removed.
/// Throws Failure when the lock is live (or of another host) and force is false.
std::optional<LockHolder> remove_lock(const fs::path& repo, bool force);

std::string local_hostname();
std::string utc_now_iso();

}  // namespace drctl::store
