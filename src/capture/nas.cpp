#include "capture/nas.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "capture/exclude.hpp"
#include "store/chunker.hpp"
#include "base/error.hpp"
#include "store/files.hpp"
#include "store/walk.hpp"

namespace drctl::capture {

using namespace drctl::store;

namespace {

std::int64_t ns_of(const struct timespec& t) { return std::int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; }

/// A directory being captured. It lives while the walk is inside it, a file of it is being
/// read or a subdirectory of it is unfinished (`pending` counts these); then its tree is
/// stored, its entries are dropped and only the tree's id goes up to its parent. So memory
/// follows the directories in flight, never the whole tree.
struct Dir {
  std::shared_ptr<Dir> parent;  // nullptr for the section's top directory
  std::size_t slot = 0;         // this directory's entry in parent->nodes
  std::string fs_path;          // where to read it
  std::string section_path;     // "a/b/c" inside the section; "" for the top
  std::size_t depth = 0;        // names in section_path
  std::vector<Node> nodes;      // entries in name order; sized once, so workers fill distinct slots
  std::vector<char> skipped;    // per entry: left out (not vector<bool>: slots are written concurrently)
  std::optional<Tree> earlier;  // its tree in the parent snapshot, until its own is stored
  std::optional<Id> earlier_id;
  std::atomic<std::size_t> pending{1};  // the walk's hold, files being read, unfinished subdirectories
};

/// A file of a directory whose content must be read.
struct Job {
  std::shared_ptr<Dir> dir;
  std::size_t slot;
};

/// Threads reading files while the walk goes on. The queue is short so the directories its
/// jobs keep alive stay few: when it is full, the walking thread reads a file itself.
class Readers {
 public:
  using Run = std::function<void(Job&, Bytes& buffer)>;
  Readers(unsigned threads, Run run) : run_(std::move(run)), limit_(threads > 1 ? 64 * std::size_t(threads) : 0) {
    for (unsigned t = 1; t < threads; ++t) pool_.emplace_back([this] { work(); });
  }
  ~Readers() { stop(); }

  /// Queues a job; throws the first failure of any job.
  void submit(Job job) {
    std::unique_lock lock(mutex_);
    rethrow_failure();
    queue_.push_back(std::move(job));
    if (queue_.size() <= limit_) {
      ready_.notify_one();
      return;
    }
    Job own = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    run_(own, buffer_);
  }

  /// Reads what is queued (the calling thread helps), waits for every job; throws the first failure.
  void finish() {
    while (true) {
      std::unique_lock lock(mutex_);
      rethrow_failure();
      if (queue_.empty()) break;
      Job own = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      run_(own, buffer_);
    }
    stop();
    std::lock_guard lock(mutex_);
    rethrow_failure();
  }

 private:
  void work() {
    Bytes buffer;
    while (true) {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      Job job = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      attempt(job, buffer);
    }
  }

  void attempt(Job& job, Bytes& buffer) {
    try {
      run_(job, buffer);
    } catch (...) {
      std::lock_guard lock(mutex_);
      if (!failure_) failure_ = std::current_exception();
      queue_.clear();  // nothing more is worth reading
    }
  }

  void rethrow_failure() {
    if (failure_) std::rethrow_exception(failure_);
  }

  /// Drops what is still queued (after a failure), lets running jobs end, joins.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      queue_.clear();
    }
    ready_.notify_all();
    for (auto& t : pool_) t.join();
    pool_.clear();
  }

  Run run_;
  std::size_t limit_;
  Bytes buffer_;  // the calling thread's
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::vector<std::thread> pool_;
};

/// The metadata lstat gives: permissions, owner, times and inode.
void fill_metadata(Node& n, const struct stat& st) {
  n.mode = st.st_mode & 07777;
  n.uid = st.st_uid;
  n.gid = st.st_gid;
  n.mtime_ns = ns_of(st.st_mtim);
  n.ctime_ns = ns_of(st.st_ctim);
  n.inode = st.st_ino;
}

std::vector<std::pair<std::string, Bytes>> read_xattrs(const std::string& path) {
  std::vector<std::pair<std::string, Bytes>> out;
  ssize_t len = ::llistxattr(path.c_str(), nullptr, 0);
  if (len <= 0) return out;
  std::string names(static_cast<std::size_t>(len), '\0');
  len = ::llistxattr(path.c_str(), names.data(), names.size());
  if (len <= 0) return out;
  names.resize(static_cast<std::size_t>(len));
  for (std::size_t pos = 0; pos < names.size();) {
    std::string name(names.c_str() + pos);
    pos += name.size() + 1;
    ssize_t vlen = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (vlen < 0) continue;
    Bytes value(static_cast<std::size_t>(vlen));
    vlen = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (vlen < 0) continue;
    value.resize(static_cast<std::size_t>(vlen));
    out.emplace_back(std::move(name), std::move(value));
  }
  std::sort(out.begin(), out.end());
  return out;
}

class NasCapture {
 public:
  NasCapture(Repository& repo, std::string section, Progress& progress,
             const std::function<void(const std::string&)>& warn, const ExcludeMatcher& exclude)
      : repo_(repo), section_(std::move(section)), progress_(progress), warn_(warn),
        chunker_(repo.config().chunker), exclude_(exclude) {
    struct stat st;
    if (::stat(repo.path().c_str(), &st) == 0) repo_dir_ = {st.st_dev, st.st_ino};
  }

  NasResult run(const std::string& source, const std::optional<Id>& parent, unsigned threads) {
    require_section_name(section_);
    struct stat st;
    if (::stat(source.c_str(), &st) != 0)
      throw InputError("source path " + source + " does not exist or cannot be read (" + std::strerror(errno) + ")");
    if (!S_ISDIR(st.st_mode)) throw InputError("source path " + source + " is not a directory");
    if (::access(source.c_str(), R_OK | X_OK) != 0)
      throw InputError("source path " + source + " cannot be read (" + std::strerror(errno) + ")");

    Node root_node;
    root_node.type = NodeType::Dir;
    fill_metadata(root_node, st);
    root_node.xattrs = read_xattrs(source);

    Readers readers(threads ? threads : std::max(2u, std::thread::hardware_concurrency()),
                    [this](Job& job, Bytes& buffer) {
                      read_file(job, buffer);
                      release(job.dir.get());
                    });
    readers_ = &readers;
    auto root = std::make_shared<Dir>();
    root->fs_path = source;
    if (parent) root->earlier = earlier_tree(*parent, source, root->earlier_id);
    if (DIR* handle = ::opendir(source.c_str())) {
      walk(root, handle);
    } else {
      skip(*root, std::string("cannot open directory: ") + std::strerror(errno));
      release(root.get());  // an empty tree
    }
    root.reset();
    readers.finish();
    readers_ = nullptr;

    NasResult result;
    result.section.name = section_;
    result.section.source = source;
    result.section.tree = *top_tree_;
    root_node.name.assign(1, '.');  // not a literal: gcc 12 warns falsely (PR 105651)
    root_node.subtree = result.section.tree;
    result.section.root = repo_.save_tree(Tree{{root_node}});
    result.section.files = files_;
    result.section.dirs = dirs_;
    result.section.bytes = bytes_;
    result.section.excludes = exclude_.patterns();
    result.section.excluded = excluded_count_;
    result.section.excluded_paths = std::move(excluded_);
    result.skipped = std::move(skipped_);
    return result;
  }

 private:
  /// Leaves out `dir`'s entry `slot`, or with no slot the directory itself (its listing).
  void skip(Dir& dir, const std::string& error, std::optional<std::size_t> slot = std::nullopt) {
    std::string section_path = dir.section_path, fs_path = dir.fs_path;
    if (slot) {
      dir.skipped[*slot] = 1;
      const std::string& name = dir.nodes[*slot].name;
      section_path = section_path.empty() ? name : section_path + "/" + name;
      fs_path += "/" + name;
    }
    std::lock_guard lock(skipped_mutex_);
    skipped_.push_back({section_, section_path, error});
    warn_("skipped " + fs_path + ": " + error);
  }

  /// The earlier snapshot's tree for a directory, to reuse what did not change; nullopt (read
  /// everything again) when it cannot be read.
  std::optional<Tree> earlier_tree(const Id& id, const std::string& fs_path, std::optional<Id>& earlier_id) {
    try {
      Tree tree = repo_.load_tree(id);
      if (tree.is_section_root()) throw Failure("a section root stands for a directory listing");
      earlier_id = id;
      return tree;
    } catch (const Failure& e) {
      std::lock_guard lock(skipped_mutex_);  // readers may be warning at the same time
      warn_("cannot read the earlier snapshot's tree for " + fs_path + " (" + e.what() + "); reading it in full");
      return std::nullopt;
    }
  }

  /// Lists the open directory `handle` of `dir` and describes its entries, descending into
  /// subdirectories as they come; then lets go of `dir` (it is stored once its files are read).
  void walk(const std::shared_ptr<Dir>& dir, DIR* handle) {
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(handle)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    ::closedir(handle);
    std::sort(names.begin(), names.end());
    if (!exclude_.empty()) std::erase_if(names, [&](const std::string& name) { return excluded(*dir, name); });
    dir->nodes.resize(names.size());
    dir->skipped.assign(names.size(), 0);
    for (std::size_t i = 0; i < names.size(); ++i) dir->nodes[i].name = std::move(names[i]);
    names = {};
    for (std::size_t i = 0; i < dir->nodes.size(); ++i)
      describe(dir, i, dir->earlier ? dir->earlier->find(dir->nodes[i].name) : nullptr);
    release(dir.get());
  }

  /// Whether the entry `name` of `dir` is excluded; if so it is recorded (only the walking
  /// thread calls this).
  bool excluded(const Dir& dir, const std::string& name) {
    const std::string path = dir.section_path.empty() ? name : dir.section_path + "/" + name;
    const std::string* pattern = exclude_.match(path);
    if (!pattern) return false;
    ++excluded_count_;
    if (excluded_.size() < kMaxExcludedPaths) excluded_.emplace_back(path, *pattern);
    return true;
  }

  /// Reads the metadata of `dir`'s entry `slot`; walks a subdirectory, queues file content
  /// that must be read.
  void describe(const std::shared_ptr<Dir>& dir, std::size_t slot, const Node* earlier) {
    Node& n = dir->nodes[slot];
    const std::string fs_path = dir->fs_path + "/" + n.name;
    struct stat st;
    if (::lstat(fs_path.c_str(), &st) != 0) return skip(*dir, std::string("cannot stat: ") + std::strerror(errno), slot);
    fill_metadata(n, st);
    progress_.files++;

    if (S_ISSOCK(st.st_mode)) {  // sockets are recreated by their servers; nothing to keep
      dir->skipped[slot] = 1;
      return;
    }
    if (S_ISDIR(st.st_mode)) return describe_dir(dir, slot, fs_path, st, earlier);
    if (!S_ISREG(st.st_mode)) {
      n.xattrs = read_xattrs(fs_path);
      if (S_ISLNK(st.st_mode)) {
        n.type = NodeType::Symlink;
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        ssize_t len = ::readlink(fs_path.c_str(), target.data(), target.size());
        if (len < 0) return skip(*dir, std::string("cannot read link: ") + std::strerror(errno), slot);
        target.resize(static_cast<std::size_t>(len));
        n.target = std::move(target);
      } else if (S_ISFIFO(st.st_mode)) {
        n.type = NodeType::Fifo;
      } else if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        n.type = S_ISCHR(st.st_mode) ? NodeType::CharDev : NodeType::BlockDev;
        n.rdev = st.st_rdev;
      }
      return;
    }

    n.size = static_cast<std::uint64_t>(st.st_size);
    if (st.st_nlink > 1) {
      const std::string section_path = dir->section_path.empty() ? n.name : dir->section_path + "/" + n.name;
      auto [it, first] = hardlinks_.try_emplace({st.st_dev, st.st_ino}, section_path);
      if (!first) {
        n.type = NodeType::Hardlink;
        n.target = it->second;
        return;
      }
    }
    n.type = NodeType::File;
    if (earlier && n.unchanged_since(*earlier)) {
      n.content = earlier->content;
      n.xattrs = earlier->xattrs;
      progress_.bytes_seen += n.size;
      return;
    }
    n.xattrs = read_xattrs(fs_path);
    ++dir->pending;
    readers_->submit({dir, slot});
  }

  /// A subdirectory: walked at once (depth first), with its tree in the parent snapshot.
  void describe_dir(const std::shared_ptr<Dir>& dir, std::size_t slot, const std::string& fs_path,
                    const struct stat& st, const Node* earlier) {
    Node& n = dir->nodes[slot];
    if (std::pair(st.st_dev, st.st_ino) == repo_dir_) {  // never back up the repository into itself
      dir->skipped[slot] = 1;
      return;
    }
    n.type = NodeType::Dir;
    n.xattrs = read_xattrs(fs_path);
    if (dir->depth + 1 >= kMaxTreeDepth)  // its tree would be deeper than readers accept
      return skip(*dir, "nested deeper than " + std::to_string(kMaxTreeDepth) + " levels", slot);
    DIR* handle = ::opendir(fs_path.c_str());
    if (!handle) return skip(*dir, std::string("cannot open directory: ") + std::strerror(errno), slot);
    auto sub = std::make_shared<Dir>();
    sub->parent = dir;
    sub->slot = slot;
    sub->fs_path = fs_path;
    sub->section_path = dir->section_path.empty() ? n.name : dir->section_path + "/" + n.name;
    sub->depth = dir->depth + 1;
    if (earlier && earlier->type == NodeType::Dir && earlier->subtree)
      sub->earlier = earlier_tree(*earlier->subtree, fs_path, sub->earlier_id);
    ++dir->pending;
    walk(sub, handle);
  }

  /// Drops one hold on `dir`; the last one stores its tree, which may finish its parents too.
  void release(Dir* dir) {
    while (dir && dir->pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      const Id id = store_tree(*dir);
      if (!dir->parent) {
        top_tree_ = id;
        return;
      }
      dir->parent->nodes[dir->slot].subtree = id;
      dir = dir->parent.get();
    }
  }

  /// Stores the tree of a finished directory and drops its entries; returns the tree's id.
  Id store_tree(Dir& dir) {
    Tree tree;
    tree.nodes.reserve(dir.nodes.size());
    for (std::size_t i = 0; i < dir.nodes.size(); ++i) {
      if (dir.skipped[i]) continue;
      Node& node = dir.nodes[i];
      // The counts are of what the trees hold (FORMAT.md): directories, and every other entry as a file.
      if (node.type == NodeType::Dir) {
        ++dirs_;
      } else {
        ++files_;
        if (node.type == NodeType::File || node.type == NodeType::Hardlink) bytes_ += node.size;
      }
      tree.nodes.push_back(std::move(node));
    }
    dir.nodes = {};
    dir.skipped = {};
    // An unchanged directory has the same tree as before: no need to encode and hash it again.
    const bool same = dir.earlier && dir.earlier->nodes == tree.nodes;
    dir.earlier.reset();
    return same ? *dir.earlier_id : repo_.save_tree(tree);
  }

  /// Reads a file's data extents (holes become hole parts), cuts them into chunks and stores them.
  void read_file(Job& job, Bytes& buffer) {
    Dir& dir = *job.dir;
    Node& n = dir.nodes[job.slot];
    const std::string fs_path = dir.fs_path + "/" + n.name;
    int raw = ::open(fs_path.c_str(), O_RDONLY | O_NOATIME | O_CLOEXEC);
    if (raw < 0 && errno == EPERM) raw = ::open(fs_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) return skip(dir, std::string("cannot open: ") + std::strerror(errno), job.slot);
    Fd fd(raw);
    std::vector<Part> parts;
    const off_t size = static_cast<off_t>(n.size);
    off_t pos = 0;
    auto add_hole = [&](std::uint64_t len) {
      if (!parts.empty() && !parts.back().blob) parts.back().size += len;
      else parts.push_back({std::nullopt, len});
    };
    while (pos < size) {
      off_t data = ::lseek(fd.get(), pos, SEEK_DATA);
      if (data < 0) data = errno == ENXIO ? size : pos;  // ENXIO: only a hole remains
      if (data > size) data = size;
      if (data > pos) add_hole(static_cast<std::uint64_t>(data - pos));
      pos = data;
      if (data >= size) break;
      off_t hole = ::lseek(fd.get(), data, SEEK_HOLE);
      if (hole < 0 || hole > size) hole = size;
      std::string error;
      off_t end = read_extent(fd.get(), data, hole, parts, buffer, error);
      if (!error.empty()) return skip(dir, error, job.slot);
      pos = end;
      if (end < hole) break;  // the file shrank while we read it
    }
    n.size = static_cast<std::uint64_t>(pos);
    n.content = std::move(parts);
  }

  /// Chunks [begin, end) of fd; returns where reading stopped (before end on a short file).
  off_t read_extent(int fd, off_t begin, off_t end, std::vector<Part>& parts, Bytes& buffer, std::string& error) {
    const std::size_t max = chunker_.params().max;
    const std::size_t cap = max + (2u << 20);  // refilled whenever less than `max` is left
    if (buffer.size() < cap) buffer.resize(cap);
    std::size_t start = 0, filled = 0;
    off_t at = begin;
    bool eof = false;
    while (true) {
      while (!eof && filled - start < max) {
        if (start > 0 && filled + max > cap) {
          std::memmove(buffer.data(), buffer.data() + start, filled - start);
          filled -= start;
          start = 0;
        }
        std::size_t want = std::min<std::size_t>(cap - filled, static_cast<std::size_t>(end - at));
        if (want == 0) { eof = true; break; }
        ssize_t got = ::pread(fd, buffer.data() + filled, want, at);
        if (got < 0) {
          if (errno == EINTR) continue;
          error = std::string("read failed: ") + std::strerror(errno);
          return at;
        }
        if (got == 0) { eof = true; break; }
        filled += static_cast<std::size_t>(got);
        at += got;
        progress_.bytes_read += static_cast<std::uint64_t>(got);
        progress_.bytes_seen += static_cast<std::uint64_t>(got);
      }
      if (filled == start) return at;
      std::span<const std::uint8_t> rest(buffer.data() + start, filled - start);
      std::size_t len = chunker_.cut(rest);
      auto chunk = rest.first(len);
      Id id = repo_.blob_id(chunk);
      progress_.bytes_added += repo_.add_blob(BlobType::Data, id, chunk);
      parts.push_back({id, len});
      start += len;
    }
  }

  Repository& repo_;
  std::string section_;
  Progress& progress_;
  const std::function<void(const std::string&)>& warn_;
  Chunker chunker_;
  Readers* readers_ = nullptr;  // while run() walks
  std::optional<Id> top_tree_;  // the section's tree, once its top directory is stored
  std::map<std::pair<dev_t, ino_t>, std::string> hardlinks_;  // first names of files with several (walk only)
  std::pair<dev_t, ino_t> repo_dir_{};
  std::mutex skipped_mutex_;  // guards skipped_ and calls of warn_
  std::vector<Skipped> skipped_;
  std::atomic<std::uint64_t> files_{0}, dirs_{0}, bytes_{0};  // trees are stored by any thread
  const ExcludeMatcher& exclude_;
  std::uint64_t excluded_count_ = 0;  // walk only
  std::vector<std::pair<std::string, std::string>> excluded_;  // walk only: (path, pattern)
};

}  // namespace

NasResult capture_nas(Repository& repo, const std::string& name, const std::string& source,
                      const std::optional<Id>& parent, Progress& progress,
                      const std::function<void(const std::string&)>& warn, unsigned threads,
                      const std::vector<std::string>& exclude) {
  ExcludeMatcher matcher;
  for (const auto& pattern : exclude) matcher.add(pattern, "exclude");
  return NasCapture(repo, name, progress, warn, matcher).run(source, parent, threads);
}

}  // namespace drctl::capture
