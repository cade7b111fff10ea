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

/// A reader's share of the repository, or a prune's exclusion of readers: a flock(2) on the file
/// `readers`, shared by readers (restore, verify, export, ls, diff; many at once, beside writers
/// that only add), exclusive for prune, which deletes packs a reader may be reading. A reader
/// waits while a prune holds it; a prune waits for the readers to finish. Each says once through
/// `warn` whom it waits for. Released on destruction (or when its process ends). `init` makes the
/// file and readers never create it: a repository without one (made by an older drctl) is read
/// unlocked until its first prune makes it.
class ReadLock {
 public:
  static ReadLock shared(const fs::path& repo, std::chrono::milliseconds wait, const std::function<void(const std::string&)>& warn);
  static ReadLock exclusive(const fs::path& repo, std::chrono::milliseconds wait,
                            const std::function<void(const std::string&)>& warn);
  ReadLock(ReadLock&&) = default;
  ReadLock& operator=(ReadLock&&) = default;

 private:
  explicit ReadLock(Fd fd) : fd_(std::move(fd)) {}
  static ReadLock take(const fs::path& repo, bool exclusive, std::chrono::milliseconds wait,
                       const std::function<void(const std::string&)>& warn);
  Fd fd_;
};

/// Removes a lock: one that is stale, or any with force. Returns the holder removed.
/// Throws Failure when the lock is live (or of another host) and force is false.
std::optional<LockHolder> remove_lock(const fs::path& repo, bool force);

std::string local_hostname();
std::string utc_now_iso();

}  // namespace drctl::store
