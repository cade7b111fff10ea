#include "store/restorer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "store/confined_dir.hpp"
#include "base/error.hpp"
#include "store/walk.hpp"

namespace drctl::store {

namespace {

constexpr std::size_t kOpenDirs = 64;    // directories the walk keeps open however deep it goes

[[noreturn]] void throw_sys(const std::string& what, int err) { throw Failure(what + ": " + std::strerror(err)); }

struct timespec ts_of(std::int64_t ns) {
  struct timespec t;
  t.tv_sec = static_cast<time_t>(ns / 1000000000);
  t.tv_nsec = static_cast<long>(ns % 1000000000);
  if (t.tv_nsec < 0) {
    t.tv_nsec += 1000000000;
    t.tv_sec -= 1;
  }
  return t;
}

/// Gives an open file or directory the node's xattrs, owner, mode and mtime (in that order:
/// chown clears set-id bits, and everything else would change the times).
void apply_metadata(int fd, const Node& n) {
  for (const auto& [name, value] : n.xattrs)
    if (::fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0 && errno != ENOTSUP)
      throw_sys("cannot set extended attribute " + name, errno);
  if (::fchown(fd, n.uid, n.gid) != 0 && errno != EPERM) throw_sys("cannot chown", errno);
  if (::fchmod(fd, n.mode) != 0) throw_sys("cannot chmod", errno);
  struct timespec times[2] = {ts_of(n.mtime_ns), ts_of(n.mtime_ns)};
  if (::futimens(fd, times) != 0) throw_sys("cannot set times", errno);
}

/// The same for the entry `name` of `dir` that cannot be opened (a symlink, fifo or device),
/// never following it.
void apply_metadata_at(int dir, const std::string& name, const Node& n) {
  // /proc/self/fd/DIR is followed to the directory; lsetxattr does not follow `name` itself.
  const std::string path = "/proc/self/fd/" + std::to_string(dir) + "/" + name;
  for (const auto& [attr, value] : n.xattrs)
    if (::lsetxattr(path.c_str(), attr.c_str(), value.data(), value.size(), 0) != 0 && errno != ENOTSUP)
      throw_sys("cannot set extended attribute " + attr, errno);
  if (::fchownat(dir, name.c_str(), n.uid, n.gid, AT_SYMLINK_NOFOLLOW) != 0 && errno != EPERM)
    throw_sys("cannot chown", errno);
  if (n.type != NodeType::Symlink && ::fchmodat(dir, name.c_str(), n.mode, AT_SYMLINK_NOFOLLOW) != 0)
    throw_sys("cannot chmod", errno);
  struct timespec times[2] = {ts_of(n.mtime_ns), ts_of(n.mtime_ns)};
  if (::utimensat(dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw_sys("cannot set times", errno);
}

}  // namespace

bool path_included(const std::vector<std::string>& includes, const std::string& path) {
  if (includes.empty()) return true;
  for (const auto& inc : includes) {
    if (path == inc) return true;
    if (path.size() > inc.size() && path.starts_with(inc) && path[inc.size()] == '/') return true;  // inside
    if (inc.size() > path.size() && inc.starts_with(path) && inc[path.size()] == '/') return true;  // ancestor
  }
  return false;
}

namespace {

/// Restores one tree beneath one target directory. Every entry is made by its single name
/// inside a directory opened beneath the target (confined_dir.hpp), so crafted names and
/// symlinks in the snapshot or in the target cannot lead it outside. In order:
///   1. a walk of the tree (one thread) makes the directories, symlinks, fifos and devices and
///      lists the files and hard links;
///   2. worker threads write each file under a temporary name and rename it once its content
///      and metadata are complete, so a failure never leaves wrong content under a real name;
///   3. hard links are made to their complete first names;
///   4. directories get their metadata, deepest first, once nothing is written inside them.
class Restorer {
 public:
  Restorer(const Repository& repo, const Id& root, const std::string& target, const RestoreOptions& options,
           RestoreStats& stats, const std::function<void(const std::string&)>& warn)
      : repo_(repo), root_(root), target_(target), options_(options), stats_(stats), warn_(warn) {
    int fd = ::open(target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw_errno("cannot open restore target", target, errno);
    target_fd_ = Fd(fd);
    // Only a --force restore into a non-empty target finds anything in its way.
    replace_ = !is_empty_dir(fd);
    std::random_device rd;
    tmp_prefix_ = fmt::format(".drctl-restore-{:08x}{:08x}-", rd(), rd());
  }

  void run() {
    walk();
    write_files(0);
    make_links();
    // Deepest first (the reverse of the walk's order): a directory's descendants are done
    // before it, so its mtime stays and a mode without write access comes last.
    for (std::size_t i = dirs_.size(); i-- > 1;) {
      try {
        apply_metadata(open_beneath(target_fd_.get(), dir_path(i)).get(), *dirs_[i].node);
      } catch (const std::exception& e) {
        fail(display(static_cast<std::uint32_t>(i)), e.what());
      }
    }
  }

 private:
  /// A directory of the restore: where it is beneath the target and what it gets at the end.
  struct Dir {
    std::uint32_t parent;     // index in dirs_; the target (index 0) is its own
    const std::string* name;  // nullptr for the target
    const Node* node;         // its metadata; nullptr for the target
    const Tree* tree;         // its entries; nullptr when it has none
  };
  /// A file to write: `content`'s content and metadata under `name` in dirs_[dir].
  struct FileJob {
    const Node* content;
    std::uint32_t dir;
    const std::string* name;
  };
  struct LinkJob {
    const Node* node;
    std::uint32_t dir;
  };
  /// A directory being walked: its entries and how far the walk has come through them.
  struct Frame {
    const Tree* tree;
    std::uint32_t dir;
    std::string rel;  // section-relative path, "" for the target
    Id id;
    std::size_t next = 0;
    const std::string* last = nullptr;  // the previous name restored here
  };

  /// The last directory a thread wrote into, open; consecutive jobs are mostly in one
  /// directory, and one descriptor per directory of a large tree would be too many.
  class DirCache {
   public:
    explicit DirCache(const Restorer& r) : r_(r) {}
    int get(std::uint32_t dir) {
      if (dir == 0) return r_.target_fd_.get();
      if (dir != cached_) {
        Fd opened = open_beneath(r_.target_fd_.get(), r_.dir_path(dir));
        fd_ = std::move(opened);
        cached_ = dir;
      }
      return fd_.get();
    }

   private:
    const Restorer& r_;
    std::uint32_t cached_ = 0;
    Fd fd_;
  };

  void fail(const std::string& path, const std::string& error) {
    std::lock_guard lock(mutex_);
    stats_.errors.push_back(path + ": " + error);
    warn_("cannot restore " + path + ": " + error);
  }

  /// "a/b/c": where dirs_[dir] is beneath the target.
  std::string dir_path(std::size_t dir) const {
    std::vector<const std::string*> names;
    for (std::size_t d = dir; d != 0; d = dirs_[d].parent) names.push_back(dirs_[d].name);
    std::string path;
    for (auto it = names.rbegin(); it != names.rend(); ++it) {
      if (!path.empty()) path += '/';
      path += **it;
    }
    return path;
  }

  std::string display(std::uint32_t dir, const std::string& name = "") const {
    std::string path = target_;
    if (dir != 0) path += "/" + dir_path(dir);
    return name.empty() ? path : path + "/" + name;
  }

  const Tree* load(const Id& id) {
    trees_.push_back(std::make_unique<Tree>(repo_.load_tree(id)));
    return trees_.back().get();
  }

  // ---- 1. the walk --------------------------------------------------------------------

  void walk() {
    const Tree* root = load(root_);
    dirs_.push_back({0, nullptr, nullptr, root});
    std::vector<Frame> frames;
    frames.push_back({root, 0, "", root_});
    std::unordered_set<Id> on_path{root_};
    DirStack open_dirs(target_fd_.get(), kOpenDirs);
    while (!frames.empty()) {
      Frame& f = frames.back();
      if (f.next == f.tree->nodes.size()) {
        on_path.erase(f.id);
        frames.pop_back();
        if (!frames.empty()) open_dirs.pop();
        continue;
      }
      const Node& n = f.tree->nodes[f.next++];
      if (options_.max_nodes && ++walked_ > options_.max_nodes)
        throw Failure("the snapshot is damaged: its trees hold more than " + std::to_string(options_.max_nodes) +
                      " entries (subtrees shared or repeated); restore stopped");
      std::string rel = f.rel.empty() ? n.name : f.rel + "/" + n.name;
      if (!path_included(options_.includes, rel)) continue;
      if (!valid_node_name(n.name)) {
        fail(display(f.dir, n.name), "the snapshot is damaged: an entry name that is not a plain name");
        continue;
      }
      if (f.last && !(*f.last < n.name)) {
        fail(display(f.dir, n.name), "the snapshot is damaged: a repeated or misordered entry name");
        continue;
      }
      f.last = &n.name;
      const std::uint32_t dir = f.dir;  // `f` does not outlive a push onto `frames`
      try {
        if (n.type == NodeType::Dir) enter_dir(frames, on_path, open_dirs, n, std::move(rel));
        else make_entry(open_dirs.top(), dir, n, rel);
      } catch (const std::exception& e) {
        fail(display(dir, n.name), e.what());
      }
    }
  }

  /// Makes the directory `n` in the one walked now and, when it has entries, walks into it.
  void enter_dir(std::vector<Frame>& frames, std::unordered_set<Id>& on_path, DirStack& open_dirs, const Node& n,
                 std::string rel) {
    if (frames.size() > kMaxTreeDepth)
      throw Failure("the snapshot is damaged: directories nested more than " + std::to_string(kMaxTreeDepth) +
                    " levels deep");
    const Tree* tree = nullptr;
    if (n.subtree) {
      if (on_path.contains(*n.subtree))
        throw Failure("the snapshot is damaged: directory tree " + n.subtree->short_hex() + " contains itself");
      tree = load(*n.subtree);
    }
    Fd fd = make_dir(open_dirs.top(), n.name);
    auto index = static_cast<std::uint32_t>(dirs_.size());
    dirs_.push_back({frames.back().dir, &n.name, &n, tree});
    if (!tree) return;
    frames.push_back({tree, index, std::move(rel), *n.subtree});
    on_path.insert(*n.subtree);
    open_dirs.push(n.name, std::move(fd));
  }

  /// Creates (or, --force, reuses a real directory at) `name` in `dir` and opens it.
  Fd make_dir(int dir, const std::string& name) {
    if (::mkdirat(dir, name.c_str(), 0700) != 0) {
      if (errno != EEXIST) throw_sys("cannot create directory", errno);
      int fd = ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd >= 0) return Fd(fd);
      if (errno != ELOOP && errno != ENOTDIR) throw_sys("cannot open directory", errno);
      remove_beneath(dir, name, kMaxTreeDepth);  // a file or symlink in the way: never write through it
      if (::mkdirat(dir, name.c_str(), 0700) != 0) throw_sys("cannot create directory", errno);
    }
    return open_subdir(dir, name);
  }

  /// Makes a symlink, fifo or device, or lists a file or hard link for later.
  void make_entry(int dir, std::uint32_t dir_index, const Node& n, const std::string& rel) {
    if (replace_) remove_beneath(dir, n.name, kMaxTreeDepth);
    switch (n.type) {
      case NodeType::File:
        file_jobs_[rel] = add_job({&n, dir_index, &n.name});
        return;
      case NodeType::Hardlink:
        links_.push_back({&n, dir_index});
        return;
      case NodeType::Symlink:
        if (::symlinkat(n.target.c_str(), dir, n.name.c_str()) != 0) throw_sys("cannot create symlink", errno);
        apply_metadata_at(dir, n.name, n);
        return;
      case NodeType::Fifo:
      case NodeType::CharDev:
      case NodeType::BlockDev: {
        mode_t kind = n.type == NodeType::Fifo ? S_IFIFO : n.type == NodeType::CharDev ? S_IFCHR : S_IFBLK;
        if (::mknodat(dir, n.name.c_str(), kind | 0600, static_cast<dev_t>(n.rdev)) != 0)
          throw_sys("cannot create", errno);
        apply_metadata_at(dir, n.name, n);
        return;
      }
      case NodeType::Dir:
        return;  // enter_dir
    }
  }

  // ---- 2. file contents ---------------------------------------------------------------

  std::uint32_t add_job(FileJob job) {
    jobs_.push_back(job);
    done_.push_back(0);
    return static_cast<std::uint32_t>(jobs_.size() - 1);
  }

  /// Writes jobs_[from…] on worker threads.
  void write_files(std::size_t from) {
    unsigned threads = options_.threads ? options_.threads : std::max(2u, std::thread::hardware_concurrency());
    std::atomic<std::size_t> next{from};
    auto worker = [&] {
      DirCache dirs(*this);
      for (std::size_t i; (i = next++) < jobs_.size();) {
        const FileJob& job = jobs_[i];
        try {
          write_file(job, dirs.get(job.dir));
          done_[i] = 1;
          stats_.files++;
        } catch (const std::exception& e) {
          fail(display(job.dir, *job.name), e.what());
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads && from + t < jobs_.size(); ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
  }

  void write_file(const FileJob& job, int dir) {
    std::string tmp;
    Fd fd = create_temporary(job, dir, tmp);
    try {
      write_content(*job.content, fd.get());
      apply_metadata(fd.get(), *job.content);
      commit(dir, tmp, *job.name);
    } catch (...) {
      ::unlinkat(dir, tmp.c_str(), 0);
      throw;
    }
  }

  /// A new empty file in `dir` under a name no entry of the directory has.
  Fd create_temporary(const FileJob& job, int dir, std::string& name) {
    const Tree* entries = dirs_[job.dir].tree;
    for (int tries = 0; tries < 1000; ++tries) {
      name = tmp_prefix_ + std::to_string(tmp_counter_++);
      if (entries && entries->find(name)) continue;
      int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) return Fd(fd);
      if (errno != EEXIST) throw_sys("cannot create", errno);
    }
    throw Failure("cannot create a temporary file: every name tried exists");
  }

  void write_content(const Node& n, int fd) {
    // Sized first, then only the data written: holes stay holes.
    if (::ftruncate(fd, static_cast<off_t>(n.size)) != 0) throw_sys("cannot size", errno);
    off_t at = 0;
    for (const Part& p : n.content) {
      if (p.blob) {
        Bytes data = repo_.read_blob(*p.blob);
        if (data.size() != p.size) throw Failure("chunk " + p.blob->short_hex() + " has the wrong size");
        pwrite_all(fd, data, at, n.name);
        stats_.bytes += data.size();
      }
      at += static_cast<off_t>(p.size);
    }
    if (static_cast<std::uint64_t>(at) != n.size) throw Failure("content does not add up to the file size");
  }

  /// Gives the complete temporary file its real name, which must be free.
  static void commit(int dir, const std::string& tmp, const std::string& name) {
    if (::renameat2(dir, tmp.c_str(), dir, name.c_str(), RENAME_NOREPLACE) == 0) return;
    if (errno != EINVAL) throw_sys("cannot rename the complete file into place", errno);
    // A file system without RENAME_NOREPLACE: a link refuses to replace just the same.
    if (::linkat(dir, tmp.c_str(), dir, name.c_str(), 0) != 0) throw_sys("cannot link the complete file into place", errno);
    ::unlinkat(dir, tmp.c_str(), 0);
  }

  // ---- 3. hard links ------------------------------------------------------------------

  void make_links() {
    DirCache from_dirs(*this), to_dirs(*this);
    // A first name that failed or was left out by --include: the first link to it gets the
    // content instead, the others link to that one.
    std::unordered_set<std::string> substituted;
    std::vector<const LinkJob*> waiting;
    const std::size_t first_substitute = jobs_.size();
    for (const LinkJob& l : links_) {
      try {
        if (link_to_first(l, from_dirs, to_dirs)) continue;
        if (substituted.contains(l.node->target)) {
          waiting.push_back(&l);
          continue;
        }
        auto first = find_node(repo_, root_, l.node->target);
        if (!first || first->type != NodeType::File)
          throw Failure("hard link target " + l.node->target + " is missing from the snapshot");
        extra_nodes_.push_back(std::make_unique<Node>(std::move(*first)));
        substituted.insert(l.node->target);
        file_jobs_[l.node->target] = add_job({extra_nodes_.back().get(), l.dir, &l.node->name});
      } catch (const std::exception& e) {
        fail(display(l.dir, l.node->name), e.what());
      }
    }
    write_files(first_substitute);
    for (const LinkJob* l : waiting) {
      try {
        if (!link_to_first(*l, from_dirs, to_dirs))
          throw Failure("hard link target " + l->node->target + " could not be restored");
      } catch (const std::exception& e) {
        fail(display(l->dir, l->node->name), e.what());
      }
    }
  }

  /// Links `l` to its first name when that is complete; false when it is not.
  bool link_to_first(const LinkJob& l, DirCache& from_dirs, DirCache& to_dirs) {
    auto it = file_jobs_.find(l.node->target);
    if (it == file_jobs_.end() || !done_[it->second]) return false;
    const FileJob& first = jobs_[it->second];
    if (::linkat(from_dirs.get(first.dir), first.name->c_str(), to_dirs.get(l.dir), l.node->name.c_str(), 0) != 0)
      throw_sys("cannot link", errno);
    return true;
  }

  const Repository& repo_;
  Id root_;
  std::string target_;
  const RestoreOptions& options_;
  RestoreStats& stats_;
  const std::function<void(const std::string&)>& warn_;
  Fd target_fd_;
  bool replace_ = false;
  std::string tmp_prefix_;
  std::atomic<std::uint64_t> tmp_counter_{0};
  std::uint64_t walked_ = 0;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Tree>> trees_;  // keep nodes alive for the jobs
  std::vector<std::unique_ptr<Node>> extra_nodes_;
  std::vector<Dir> dirs_;
  std::vector<FileJob> jobs_;
  std::vector<std::uint8_t> done_;  // per job: complete under its real name
  std::unordered_map<std::string, std::uint32_t> file_jobs_;  // section path → job writing it
  std::vector<LinkJob> links_;
};

}  // namespace

void restore_root_metadata(const Repository& repo, const Id& root, const std::string& dir) {
  Tree t = repo.load_tree(root);
  if (t.nodes.size() != 1 || t.nodes[0].type != NodeType::Dir) throw Failure("section root " + root.short_hex() + " is malformed");
  Fd fd = open_or_throw(dir, O_RDONLY | O_DIRECTORY);
  try {
    apply_metadata(fd.get(), t.nodes[0]);
  } catch (const Failure& e) {
    throw Failure(dir + ": " + e.what());
  }
}

std::optional<Node> find_node(const Repository& repo, const Id& root, const std::string& path) {
  Id tree_id = root;
  std::size_t pos = 0;
  while (true) {
    std::size_t slash = path.find('/', pos);
    std::string name = path.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    Tree tree = repo.load_tree(tree_id);
    const Node* n = tree.find(name);
    if (!n) return std::nullopt;
    if (slash == std::string::npos) return *n;
    if (n->type != NodeType::Dir || !n->subtree) return std::nullopt;
    tree_id = *n->subtree;
    pos = slash + 1;
  }
}

void restore_tree(const Repository& repo, const Id& root, const std::string& target, const RestoreOptions& options,
                  RestoreStats& stats, const std::function<void(const std::string&)>& warn) {
  Restorer(repo, root, target, options, stats, warn).run();
}

}  // namespace drctl::store
