#include "store/restorer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "store/error.hpp"
#include "store/files.hpp"

namespace drctl::store {

namespace {

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

void apply_metadata(const Node& n, const std::string& path) {
  for (const auto& [name, value] : n.xattrs)
    if (::lsetxattr(path.c_str(), name.c_str(), value.data(), value.size(), 0) != 0 && errno != ENOTSUP)
      throw_errno("cannot set extended attribute " + name + " on", path, errno);
  if (::lchown(path.c_str(), n.uid, n.gid) != 0 && errno != EPERM) throw_errno("cannot chown", path, errno);
  if (n.type != NodeType::Symlink && ::chmod(path.c_str(), n.mode) != 0) throw_errno("cannot chmod", path, errno);
  struct timespec times[2] = {ts_of(n.mtime_ns), ts_of(n.mtime_ns)};
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("cannot set times", path, errno);
}


class Restorer {
 public:
  Restorer(const Repository& repo, const Id& root, const RestoreOptions& options, RestoreStats& stats,
           const std::function<void(const std::string&)>& warn)
      : repo_(repo), root_(root), options_(options), stats_(stats), warn_(warn) {}

  void run(const std::string& target) {
    restore_dir(root_, target, "");
    write_contents();
    // Directory metadata last, deepest first, so writing inside them does not change it again.
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) apply_metadata(it->second, it->first);
  }

 private:
  struct FileJob {
    const Node* node;
    std::string path;
  };

  void fail(const std::string& path, const std::string& error) {
    std::lock_guard lock(mutex_);
    stats_.errors.push_back(path + ": " + error);
    warn_("cannot restore " + path + ": " + error);
  }

  void restore_dir(const Id& tree_id, const std::string& dir, const std::string& section_path) {
    trees_.push_back(std::make_unique<Tree>(repo_.load_tree(tree_id)));
    const Tree& tree = *trees_.back();
    for (const Node& n : tree.nodes) {
      std::string rel = section_path.empty() ? n.name : section_path + "/" + n.name;
      if (!path_included(options_.includes, rel)) continue;
      std::string path = dir + "/" + n.name;
      try {
        restore_node(n, path, rel);
      } catch (const std::exception& e) {
        fail(path, e.what());
      }
    }
  }

  void restore_node(const Node& n, const std::string& path, const std::string& rel) {
    switch (n.type) {
      case NodeType::Dir: {
        struct stat st;
        bool is_dir = ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
        if (!is_dir) {
          remove_existing(path);  // a file or symlink in the way (--force): never write through it
          if (::mkdir(path.c_str(), 0700) != 0) throw_errno("cannot create directory", path, errno);
        }
        dirs_.emplace_back(path, n);
        if (n.subtree) restore_dir(*n.subtree, path, rel);
        return;
      }
      case NodeType::File: {
        remove_existing(path);
        Fd fd = open_or_throw(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
        if (::ftruncate(fd.get(), static_cast<off_t>(n.size)) != 0) throw_errno("cannot size", path, errno);
        first_names_[rel] = path;
        jobs_.push_back({&n, path});
        return;
      }
      case NodeType::Hardlink: {
        auto it = first_names_.find(n.target);
        remove_existing(path);
        if (it != first_names_.end()) {
          if (::link(it->second.c_str(), path.c_str()) != 0) throw_errno("cannot link", path, errno);
          return;  // shares the first name's inode and metadata
        }
        // The first name was not restored (an --include left it out): restore its content here.
        auto first = find_node(repo_, root_, n.target);
        if (!first || first->type != NodeType::File)
          throw Failure("hard link target " + n.target + " is missing from the snapshot");
        extra_nodes_.push_back(std::make_unique<Node>(*first));
        restore_node(*extra_nodes_.back(), path, n.target);
        return;
      }
      case NodeType::Symlink:
        remove_existing(path);
        if (::symlink(n.target.c_str(), path.c_str()) != 0) throw_errno("cannot create symlink", path, errno);
        apply_metadata(n, path);
        return;
      case NodeType::Fifo:
      case NodeType::CharDev:
      case NodeType::BlockDev: {
        remove_existing(path);
        mode_t kind = n.type == NodeType::Fifo ? S_IFIFO : n.type == NodeType::CharDev ? S_IFCHR : S_IFBLK;
        if (::mknod(path.c_str(), kind | 0600, static_cast<dev_t>(n.rdev)) != 0) throw_errno("cannot create", path, errno);
        apply_metadata(n, path);
        return;
      }
    }
  }

  /// Clears the way for a new entry (only a --force restore finds anything there).
  void remove_existing(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return;
    if (S_ISDIR(st.st_mode)) fs::remove_all(path);
    else if (::unlink(path.c_str()) != 0) throw_errno("cannot replace", path, errno);
  }

  void write_contents() {
    unsigned threads = options_.threads ? options_.threads : std::max(2u, std::thread::hardware_concurrency());
    std::atomic<std::size_t> next{0};
    auto worker = [&] {
      for (std::size_t i; (i = next++) < jobs_.size();) {
        const FileJob& job = jobs_[i];
        try {
          write_file(*job.node, job.path);
          apply_metadata(*job.node, job.path);
          stats_.files++;
        } catch (const std::exception& e) {
          fail(job.path, e.what());
        }
      }
    };
    std::vector<std::thread> pool;
    for (unsigned t = 1; t < threads; ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
  }

  void write_file(const Node& n, const std::string& path) {
    Fd fd = open_or_throw(path, O_WRONLY);
    off_t at = 0;
    for (const Part& p : n.content) {
      if (p.blob) {
        Bytes data = repo_.read_blob(*p.blob);
        if (data.size() != p.size) throw Failure("chunk " + p.blob->short_hex() + " has the wrong size");
        pwrite_all(fd.get(), data, at, path);
        stats_.bytes += data.size();
      }
      at += static_cast<off_t>(p.size);
    }
    if (static_cast<std::uint64_t>(at) != n.size) throw Failure("content does not add up to the file size");
  }

  const Repository& repo_;
  Id root_;
  const RestoreOptions& options_;
  RestoreStats& stats_;
  const std::function<void(const std::string&)>& warn_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Tree>> trees_;  // keep nodes alive for the jobs
  std::vector<std::unique_ptr<Node>> extra_nodes_;
  std::vector<FileJob> jobs_;
  std::vector<std::pair<std::string, Node>> dirs_;
  std::map<std::string, std::string> first_names_;
};

}  // namespace

void restore_root_metadata(const Repository& repo, const Id& root, const std::string& dir) {
  Tree t = repo.load_tree(root);
  if (t.nodes.size() != 1 || t.nodes[0].type != NodeType::Dir) throw Failure("section root " + root.short_hex() + " is malformed");
  apply_metadata(t.nodes[0], dir);
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
  Restorer(repo, root, options, stats, warn).run(target);
}

}  // namespace drctl::store
