#include "store/confined_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <deque>

#include "base/error.hpp"

namespace drctl::store {

namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
constexpr std::size_t kRemoveWindow = 32;  // directories remove_beneath keeps open

[[noreturn]] void throw_sys(const std::string& what, int err) { throw Failure(what + ": " + std::strerror(err)); }

// Cleared the first time the kernel answers ENOSYS (before Linux 5.6, or a seccomp filter).
std::atomic<bool> have_openat2{true};

int openat2_beneath(int dir, const std::string& path) {
  struct open_how how {};
  how.flags = kDirFlags;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd = -1;
  // EAGAIN: a rename somewhere on the system raced the lookup; RESOLVE_BENEATH asks to retry.
  for (int tries = 0; tries < 100; ++tries) {
    fd = static_cast<int>(::syscall(SYS_openat2, dir, path.c_str(), &how, sizeof how));
    if (fd >= 0 || errno != EAGAIN) break;
  }
  return fd;
}

/// How much of `rel` one step of open_beneath opens: as many names as fit in a path for
/// openat2, else one.
std::size_t step_length(std::string_view rel, bool whole_paths) {
  std::size_t first = std::min(rel.find('/'), rel.size());
  if (!whole_paths) return first;
  if (rel.size() < PATH_MAX) return rel.size();
  std::size_t cut = rel.rfind('/', PATH_MAX - 1);
  return cut == std::string_view::npos || cut < first ? first : cut;
}

std::vector<std::string> entry_names(int dir) {
  int fd = ::fcntl(dir, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw_sys("cannot list directory", errno);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    throw_sys("cannot list directory", err);
  }
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) throw_sys("cannot list directory", err);
  return names;
}

}  // namespace

Fd open_subdir(int dir, const std::string& name) {
  int fd = ::openat(dir, name.c_str(), kDirFlags);
  if (fd < 0) throw_sys("cannot open directory " + name, errno);
  return Fd(fd);
}

Fd open_beneath(int root, std::string_view rel) {
  if (rel.empty()) {
    int fd = ::fcntl(root, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw_sys("cannot open directory", errno);
    return Fd(fd);
  }
  const std::string whole(rel);
  Fd cur;
  while (!rel.empty()) {
    bool whole_paths = have_openat2.load(std::memory_order_relaxed);
    std::string step(rel.substr(0, step_length(rel, whole_paths)));
    int at = cur ? cur.get() : root;
    int fd = whole_paths ? openat2_beneath(at, step) : ::openat(at, step.c_str(), kDirFlags);
    if (fd < 0 && errno == ENOSYS && whole_paths) {
      have_openat2 = false;
      continue;
    }
    if (fd < 0) throw_sys("cannot open directory " + whole, errno);
    cur = Fd(fd);
    rel.remove_prefix(std::min(rel.size(), step.size() + 1));
  }
  return cur;
}

void remove_beneath(int dir, const std::string& name, std::size_t max_depth) {
  if (::unlinkat(dir, name.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR) throw_sys("cannot remove " + name, errno);
  // Depth first, with a bounded number of directories open: each level removes what is not a
  // directory at once and remembers its subdirectories to empty one by one.
  struct Level {
    std::string name;
    std::vector<std::string> subdirs;
  };
  std::deque<Level> levels;  // stable: `open` holds pointers to the names
  DirStack open(dir, kRemoveWindow);
  auto enter = [&](std::string sub) {
    if (levels.size() >= max_depth) throw Failure("cannot remove " + name + ": directories nested too deep");
    Fd fd = open_subdir(open.top(), sub);  // O_NOFOLLOW: a symlink swapped in meanwhile is refused
    levels.push_back({std::move(sub), {}});
    open.push(levels.back().name, std::move(fd));
    for (std::string& entry : entry_names(open.top())) {
      if (::unlinkat(open.top(), entry.c_str(), 0) == 0 || errno == ENOENT) continue;
      if (errno != EISDIR) throw_sys("cannot remove " + entry, errno);
      levels.back().subdirs.push_back(std::move(entry));
    }
  };
  enter(name);
  while (!levels.empty()) {
    if (!levels.back().subdirs.empty()) {
      std::string sub = std::move(levels.back().subdirs.back());
      levels.back().subdirs.pop_back();
      enter(std::move(sub));
      continue;
    }
    open.pop();
    std::string emptied = std::move(levels.back().name);
    levels.pop_back();
    if (::unlinkat(open.top(), emptied.c_str(), AT_REMOVEDIR) != 0) throw_sys("cannot remove " + emptied, errno);
  }
}

bool is_empty_dir(int dir) { return entry_names(dir).empty(); }

void DirStack::push(const std::string& name, Fd dir) {
  levels_.push_back({&name, std::move(dir)});
  if (levels_.size() > window_) levels_[levels_.size() - 1 - window_].fd = Fd();
}

void DirStack::pop() { levels_.pop_back(); }

int DirStack::top() {
  if (levels_.empty()) return root_;
  if (levels_.back().fd) return levels_.back().fd.get();
  // Open again from the deepest level still open; keep the last `window` levels open.
  std::size_t next = levels_.size();
  while (next > 0 && !levels_[next - 1].fd) --next;
  int at = next == 0 ? root_ : levels_[next - 1].fd.get();
  Fd passing;
  for (std::size_t k = next; k < levels_.size(); ++k) {
    Fd fd = open_subdir(at, *levels_[k].name);
    if (k + window_ >= levels_.size()) {
      levels_[k].fd = std::move(fd);
      at = levels_[k].fd.get();
    } else {
      passing = std::move(fd);
      at = passing.get();
    }
  }
  return levels_.back().fd.get();
}

}  // namespace drctl::store
