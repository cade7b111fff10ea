#include "store/lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "base/error.hpp"
#include "store/backend.hpp"

namespace drctl::store {

using json = nlohmann::json;

std::string LockHolder::describe() const {
  return "pid " + std::to_string(pid) + " on host " + host + ", started " + started;
}

std::string local_hostname() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string utc_now_iso() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

namespace {

fs::path lock_path(const fs::path& repo) { return repo / "lock"; }

std::optional<LockHolder> parse_holder(const Bytes& data) {
  try {
    json j = json::parse(data.begin(), data.end());
    return LockHolder{j.at("host").get<std::string>(), j.at("pid").get<long>(), j.at("started").get<std::string>()};
  } catch (const json::exception&) {
    return LockHolder{"(unknown)", 0, "(lock file unreadable)"};
  }
}

/// If the lock at `path` is stale, returns an fd holding its flock (so nobody else can decide
/// the same meanwhile) after checking the path still names the inode we locked.
std::optional<Fd> grab_if_stale(const fs::path& path) {
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (raw < 0) return std::nullopt;
  Fd fd(raw);
  Bytes data;
  {
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return std::nullopt;
    data.resize(static_cast<std::size_t>(st.st_size));
    if (!data.empty() && ::pread(fd.get(), data.data(), data.size(), 0) != static_cast<ssize_t>(data.size()))
      return std::nullopt;
  }
  auto holder = parse_holder(data);
  if (!holder || holder->host != local_hostname()) return std::nullopt;
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) return std::nullopt;  // the holder still runs
  struct stat a, b;
  if (::fstat(fd.get(), &a) != 0 || ::stat(path.c_str(), &b) != 0) return std::nullopt;
  if (a.st_ino != b.st_ino || a.st_dev != b.st_dev) return std::nullopt;  // replaced meanwhile
  return fd;
}

}  // namespace

std::optional<LockHolder> read_lock(const fs::path& repo) {
  std::error_code ec;
  if (!fs::exists(lock_path(repo), ec)) return std::nullopt;
  try {
    return parse_holder(read_file(lock_path(repo)));
  } catch (const Failure&) {
    return std::nullopt;  // removed between the two calls
  }
}

bool lock_is_stale(const fs::path& repo) { return grab_if_stale(lock_path(repo)).has_value(); }

RepoLock RepoLock::acquire(const fs::path& repo, std::chrono::milliseconds wait,
                           const std::function<void(const std::string&)>& warn) {
  if (is_remote_location(repo)) refuse_remote_write(repo.string());
  const fs::path path = lock_path(repo);
  const fs::path tmp = repo / "tmp" / ("lock." + std::to_string(::getpid()));
  json holder = {{"host", local_hostname()}, {"pid", ::getpid()}, {"started", utc_now_iso()}};
  std::string text = holder.dump() + "\n";

  ::unlink(tmp.c_str());
  Fd fd = open_or_throw(tmp, O_RDWR | O_CREAT | O_EXCL, 0600);
  write_all(fd.get(), std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()), tmp);
  ::fsync(fd.get());
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) throw_errno("cannot flock", tmp, errno);

  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto delay = std::chrono::milliseconds(20);
  bool said_waiting = false;
  std::optional<LockHolder> last_seen;
  bool retried_free = false;
  for (;;) {
    if (::link(tmp.c_str(), path.c_str()) == 0) {
      ::unlink(tmp.c_str());
      fsync_dir(repo);
      return RepoLock(path, std::move(fd));
    }
    if (errno != EEXIST) {
      int err = errno;
      ::unlink(tmp.c_str());
      throw_errno("cannot create lock", path, err);
    }
    // Who holds it, as seen now: it may let go before the message below is written (a lock-wait
    // of 0 meets a writer that is just finishing), and the message still names it.
    if (auto h = read_lock(repo)) last_seen = h;
    if (auto stale = grab_if_stale(path)) {
      auto h = read_lock(repo);
      warn("removing stale lock of " + (h ? h->describe() : std::string("an unknown holder")) +
           " (that process is gone)");
      ::unlink(path.c_str());
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      auto h = read_lock(repo);
      if (!h && !retried_free) {  // the holder let go meanwhile: the lock is free, try it once more
        retried_free = true;
        continue;
      }
      if (!h) h = last_seen;
      ::unlink(tmp.c_str());
      throw Failure("repository " + repo.string() + " is locked by " +
                    (h ? h->describe() : std::string("another writer")) + "; waited " +
                    std::to_string(wait.count() / 1000.0).substr(0, 4) +
                    "s (raise --lock-wait, or `drctl snapshot unlock` if that writer is gone)");
    }
    if (!said_waiting) {  // a wait can be long: say whom for, once
      said_waiting = true;
      auto h = read_lock(repo);
      if (!h) h = last_seen;
      warn("waiting up to " + std::to_string(std::chrono::ceil<std::chrono::seconds>(deadline - now).count()) +
           " s for the repository lock held by " + (h ? h->describe() : std::string("another writer")));
    }
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        delay, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()) +
                   std::chrono::milliseconds(1)));
    delay = std::min(delay * 2, std::chrono::milliseconds(500));
  }
}

ReadLock ReadLock::shared(const fs::path& repo, std::chrono::milliseconds wait,
                         const std::function<void(const std::string&)>& warn) {
  return take(repo, false, wait, warn);
}

ReadLock ReadLock::exclusive(const fs::path& repo, std::chrono::milliseconds wait,
                            const std::function<void(const std::string&)>& warn) {
  return take(repo, true, wait, warn);
}

ReadLock ReadLock::take(const fs::path& repo, bool exclusive, std::chrono::milliseconds wait,
                        const std::function<void(const std::string&)>& warn) {
  // A remote repository is only read here, and a flock cannot be taken over SFTP: its backend
  // looks at the far writer's lock instead (FORMAT.md, "Reading over SFTP").
  if (is_remote_location(repo)) {
    if (exclusive) refuse_remote_write(repo.string());
    return ReadLock(Fd());
  }
  // init makes the file; a reader never writes to the repository, so in one made before there
  // was a `readers` file it reads unlocked until a prune (a writer) has made it.
  const fs::path path = repo / "readers";
  int raw = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (exclusive ? O_CREAT : 0), 0600);
  if (raw < 0) {
    if (!exclusive && (errno == EACCES || errno == ENOENT)) return ReadLock(Fd());
    throw_errno("cannot open", path, errno);
  }
  Fd fd(raw);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  auto delay = std::chrono::milliseconds(20);
  bool said_waiting = false;
  while (::flock(fd.get(), (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) throw_errno("cannot flock", path, errno);
    const auto now = std::chrono::steady_clock::now();
    const std::string whom = exclusive ? "readers of the repository (restore, verify, export, ls, diff) to finish"
                                       : "a prune of the repository to finish";
    if (now >= deadline)
      throw Failure("repository " + repo.string() + (exclusive ? " is being read" : " is being pruned") + "; waited " +
                    std::to_string(wait.count() / 1000.0).substr(0, 4) + "s for " + whom + " (raise --lock-wait)");
    if (!said_waiting) {
      said_waiting = true;
      warn("waiting up to " + std::to_string(std::chrono::ceil<std::chrono::seconds>(deadline - now).count()) + " s for " + whom);
    }
    std::this_thread::sleep_for(std::min<std::chrono::milliseconds>(
        delay, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + std::chrono::milliseconds(1)));
    delay = std::min(delay * 2, std::chrono::milliseconds(500));
  }
  return ReadLock(std::move(fd));
}

RepoLock::~RepoLock() {
  if (fd_) ::unlink(path_.c_str());
}

std::optional<LockHolder> remove_lock(const fs::path& repo, bool force) {
  if (is_remote_location(repo)) refuse_remote_write(repo.string());
  auto holder = read_lock(repo);
  if (!holder) return std::nullopt;
  if (!force && !lock_is_stale(repo))
    throw Failure("the lock of " + repo.string() + " is held by " + holder->describe() +
                  (holder->host == local_hostname() ? ", which is still running"
                                                    : ", on another host whose process cannot be checked from here") +
                  "; use --force only if you are sure it is gone");
  if (::unlink(lock_path(repo).c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove", lock_path(repo), errno);
  return holder;
}

}  // namespace drctl::store
