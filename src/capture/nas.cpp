#include "capture/nas.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <thread>

#include "store/chunker.hpp"
#include "base/error.hpp"
#include "store/files.hpp"
#include "store/walk.hpp"

namespace drctl::capture {

using namespace drctl::store;

namespace {

std::int64_t ns_of(const struct timespec& t) { return std::int64_t(t.tv_sec) * 1000000000 + t.tv_nsec; }

/// A directory entry on its way into the repository.
struct Item {
  Node node;
  std::string fs_path;       // where to read it
  std::string section_path;  // "a/b/c" inside the section
  std::size_t depth = 0;     // names in section_path
  bool skipped = false;
  std::vector<Item> children;  // Dir; never resized once filled, so pointers stay valid
  std::optional<Tree> earlier;  // Dir: its tree in the parent snapshot
  std::optional<Id> earlier_id;
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
             const std::function<void(const std::string&)>& warn)
      : repo_(repo), section_(std::move(section)), progress_(progress), warn_(warn),
        chunker_(repo.config().chunker) {
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

    Item root;
    root.fs_path = source;
    describe_root(root, st);
    if (parent) root.earlier = earlier_tree(*parent, source, root.earlier_id);
    walk_dir(root, root.earlier ? &*root.earlier : nullptr);
    read_contents(threads ? threads : std::max(2u, std::thread::hardware_concurrency()));

    NasResult result;
    result.section.name = section_;
    result.section.source = source;
    Node root_node = root.node;
    result.section.tree = save(root);
    root_node.name.assign(1, '.');  // not a literal: gcc 12 warns falsely (PR 105651)
    root_node.subtree = result.section.tree;
    result.section.root = repo_.save_tree(Tree{{root_node}});
    result.section.files = files_;
    result.section.dirs = dirs_;
    result.section.bytes = bytes_;
    result.skipped = std::move(skipped_);
    return result;
  }

 private:
  void skip(Item& item, const std::string& error) {
    item.skipped = true;
    std::lock_guard lock(skipped_mutex_);
    skipped_.push_back({section_, item.section_path, error});
    warn_("skipped " + item.fs_path + ": " + error);
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
      warn_("cannot read the earlier snapshot's tree for " + fs_path + " (" + e.what() + "); reading it in full");
      return std::nullopt;
    }
  }

  void describe_root(Item& root, const struct stat& st) {
    root.node.type = NodeType::Dir;
    fill_metadata(root.node, st);
    root.node.xattrs = read_xattrs(root.fs_path);
  }

  /// Fills `dir.children` from the file system; recurses into subdirectories.
  void walk_dir(Item& dir, const Tree* parent) {
    DIR* d = ::opendir(dir.fs_path.c_str());
    if (!d) {
      skip(dir, std::string("cannot open directory: ") + std::strerror(errno));
      return;
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      names.emplace_back(e->d_name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    dir.children.resize(names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      Item& item = dir.children[i];
      item.node.name = names[i];
      item.fs_path = dir.fs_path + "/" + names[i];
      item.section_path = dir.section_path.empty() ? names[i] : dir.section_path + "/" + names[i];
      item.depth = dir.depth + 1;
      describe(item, parent ? parent->find(names[i]) : nullptr);
    }
  }

  /// Reads one entry's metadata; queues file content that must be read.
  void describe(Item& item, const Node* earlier) {
    struct stat st;
    if (::lstat(item.fs_path.c_str(), &st) != 0) {
      skip(item, std::string("cannot stat: ") + std::strerror(errno));
      return;
    }
    Node& n = item.node;
    fill_metadata(n, st);
    progress_.files++;

    if (S_ISSOCK(st.st_mode)) {  // sockets are recreated by their servers; nothing to keep
      item.skipped = true;
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      if (std::pair(st.st_dev, st.st_ino) == repo_dir_) {  // never back up the repository into itself
        item.skipped = true;
        return;
      }
      n.type = NodeType::Dir;
      n.xattrs = read_xattrs(item.fs_path);
      if (item.depth >= kMaxTreeDepth) {  // its tree would be deeper than readers accept
        skip(item, "nested deeper than " + std::to_string(kMaxTreeDepth) + " levels");
        return;
      }
      if (earlier && earlier->type == NodeType::Dir && earlier->subtree)
        item.earlier = earlier_tree(*earlier->subtree, item.fs_path, item.earlier_id);
      walk_dir(item, item.earlier ? &*item.earlier : nullptr);
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      n.xattrs = read_xattrs(item.fs_path);
      if (S_ISLNK(st.st_mode)) {
        n.type = NodeType::Symlink;
        std::string target(static_cast<std::size_t>(st.st_size) + 1, '\0');
        ssize_t len = ::readlink(item.fs_path.c_str(), target.data(), target.size());
        if (len < 0) return skip(item, std::string("cannot read link: ") + std::strerror(errno));
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
      auto [it, first] = hardlinks_.try_emplace({st.st_dev, st.st_ino}, item.section_path);
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
    n.xattrs = read_xattrs(item.fs_path);
    jobs_.push_back(&item);
  }

  void read_contents(unsigned threads) {
    std::atomic<std::size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mutex;
    auto worker = [&] {
      Bytes buffer;
      for (std::size_t i; (i = next++) < jobs_.size();) {
        try {
          read_file(*jobs_[i], buffer);
        } catch (...) {
          std::lock_guard lock(failure_mutex);
          if (!failure) failure = std::current_exception();
          next = jobs_.size();
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
  }

  /// Reads a file's data extents (holes become hole parts), cuts them into chunks and stores them.
  void read_file(Item& item, Bytes& buffer) {
    int raw = ::open(item.fs_path.c_str(), O_RDONLY | O_NOATIME | O_CLOEXEC);
    if (raw < 0 && errno == EPERM) raw = ::open(item.fs_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (raw < 0) return skip(item, std::string("cannot open: ") + std::strerror(errno));
    Fd fd(raw);
    Node& n = item.node;
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
      if (!error.empty()) return skip(item, error);
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

  /// Stores the trees bottom-up; returns the id of `dir`'s tree.
  Id save(Item& dir) {
    Tree tree;
    tree.nodes.reserve(dir.children.size());
    for (Item& child : dir.children) {
      if (child.skipped) continue;
      if (child.node.type == NodeType::Dir) child.node.subtree = save(child);
      if (child.skipped) continue;  // its directory could not be opened
      // The counts are of what the trees hold (FORMAT.md): directories, and every other entry as a file.
      if (child.node.type == NodeType::Dir) {
        ++dirs_;
      } else {
        ++files_;
        if (child.node.type == NodeType::File || child.node.type == NodeType::Hardlink) bytes_ += child.node.size;
      }
      tree.nodes.push_back(std::move(child.node));
    }
    dir.children.clear();
    // An unchanged directory has the same tree as before: no need to encode and hash it again.
    if (dir.earlier && dir.earlier->nodes == tree.nodes) return *dir.earlier_id;
    dir.earlier.reset();
    return repo_.save_tree(tree);
  }

  Repository& repo_;
  std::string section_;
  Progress& progress_;
  const std::function<void(const std::string&)>& warn_;
  Chunker chunker_;
  std::vector<Item*> jobs_;
  std::map<std::pair<dev_t, ino_t>, std::string> hardlinks_;
  std::pair<dev_t, ino_t> repo_dir_{};
  std::mutex skipped_mutex_;
  std::vector<Skipped> skipped_;
  std::uint64_t files_ = 0, dirs_ = 0, bytes_ = 0;
};

}  // namespace

NasResult capture_nas(Repository& repo, const std::string& name, const std::string& source,
                      const std::optional<Id>& parent, Progress& progress,
                      const std::function<void(const std::string&)>& warn, unsigned threads) {
  return NasCapture(repo, name, progress, warn).run(source, parent, threads);
}

}  // namespace drctl::capture
