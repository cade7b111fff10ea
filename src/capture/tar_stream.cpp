#include "capture/tar_stream.hpp"
#include "capture/section_builder.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "store/chunker.hpp"
#include "base/error.hpp"
#include "store/restorer.hpp"
#include "store/walk.hpp"

namespace drctl::capture {

using namespace drctl::store;

namespace {

using ReadFn = std::function<std::size_t(char* buf, std::size_t size)>;
using WriteFn = std::function<void(const char* data, std::size_t size)>;
using WarnFn = std::function<void(const std::string&)>;

struct ReadDeleter { void operator()(struct archive* a) const { archive_read_free(a); } };
struct WriteDeleter { void operator()(struct archive* a) const { archive_write_free(a); } };
struct EntryDeleter { void operator()(archive_entry* e) const { archive_entry_free(e); } };

std::string archive_message(struct archive* a) {
  const char* text = archive_error_string(a);
  return text ? text : "libarchive error";
}

/// A member name split into components, or why it is refused.
struct Name {
  std::vector<std::string> parts;  // empty: the root
  std::string refused;
};

/// "./a//b/" → {a, b}. Absolute names and ".." components are refused: they would land outside the section.
Name split_name(const std::string& raw) {
  Name name;
  if (raw.starts_with('/')) {
    name.refused = "absolute names are refused";
    return name;
  }
  std::size_t pos = 0;
  while (pos <= raw.size()) {
    std::size_t slash = std::min(raw.find('/', pos), raw.size());
    std::string part = raw.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      name.refused = "names with a \"..\" component are refused";
      return name;
    }
    name.parts.push_back(std::move(part));
  }
  return name;
}

/// Where libarchive pulls the stream from; keeps the caller's exception to pass it on.
struct StreamSource {
  explicit StreamSource(const ReadFn& r) : read(r) {}
  const ReadFn& read;
  std::vector<char> buffer = std::vector<char>(1 << 20);
  std::exception_ptr error;
};

la_ssize_t read_callback(struct archive* a, void* client, const void** out) {
  auto* source = static_cast<StreamSource*>(client);
  try {
    *out = source->buffer.data();
    return static_cast<la_ssize_t>(source->read(source->buffer.data(), source->buffer.size()));
  } catch (...) {
    source->error = std::current_exception();
    archive_set_error(a, EIO, "reading the stream failed");
    return -1;
  }
}

/// A stream entry on its way into a tree.
struct Item {
  Node node;
  std::map<std::string, std::unique_ptr<Item>> children;  // Dir, by name bytes as trees sort them
  std::optional<std::size_t> link;  // one name of a file with several (an index into TarCapture::links_)
};

/// A file with several names: its node, and the name that carries the content in the section.
struct LinkGroup {
  Node file;
  std::string first;  // set while saving: the first name in depth-first name order
};

Node implied_dir(const std::string& name) {
  Node n;
  n.name = name;
  n.type = NodeType::Dir;
  n.mode = 0755;
  return n;
}

class TarCapture {
 public:
  TarCapture(Repository& repo, std::string section, std::string source, Progress& progress, const WarnFn& warn)
      : repo_(repo), section_(std::move(section)), source_(std::move(source)), progress_(progress), warn_(warn),
        chunker_(repo.config().chunker) {
    root_.node = implied_dir(".");
  }

  NasResult run(const ReadFn& read, const TarBase* base = nullptr) {
    require_section_name(section_);
    base_ = base;
    if (base_)
      for (const auto& [path, node] : base_->kept) keep(path, node);
    std::unique_ptr<struct archive, ReadDeleter> a(archive_read_new());
    archive_read_support_format_tar(a.get());
    archive_read_support_filter_gzip(a.get());
    archive_read_support_filter_zstd(a.get());
    archive_read_support_filter_xz(a.get());
    // Compression and pack writes run beside the thread that receives and parses the stream.
    pool_.emplace(repo_, progress_, std::max(2u, std::thread::hardware_concurrency()));
    StreamSource stream{read};
    if (archive_read_open(a.get(), &stream, nullptr, read_callback, nullptr) != ARCHIVE_OK)
      fail(a.get(), stream, "at its start");
    while (true) {
      archive_entry* entry = nullptr;
      int rc = archive_read_next_header(a.get(), &entry);
      if (rc == ARCHIVE_EOF) break;
      // ARCHIVE_WARN: a name that does not convert to the locale's charset; the entry keeps its raw bytes.
      if (rc < ARCHIVE_WARN) fail(a.get(), stream, current_.empty() ? "at its start" : "after entry " + current_);
      const char* path = archive_entry_pathname(entry);
      current_ = path ? path : "";
      add(a.get(), stream, entry);
      if (archive_read_data_skip(a.get()) < ARCHIVE_WARN) fail(a.get(), stream, "in entry " + current_);
    }
    return finish();
  }

 private:
  [[noreturn]] void fail(struct archive* a, const StreamSource& stream, const std::string& where) {
    if (stream.error) std::rethrow_exception(stream.error);
    throw Failure("tar stream from " + source_ + " is truncated or corrupt " + where + ": " + archive_message(a));
  }

  void skip(const std::string& raw, const std::string& error) {
    skipped_.push_back({section_, raw, error});
    warn_("skipped tar entry " + raw + " from " + source_ + ": " + error);
  }

  /// Puts an entry the stream leaves out where it belongs, as it is.
  void keep(const std::string& path, const Node& node) {
    Name name = split_name(path);
    if (!name.refused.empty() || name.parts.empty()) return;
    Item* dir = parent_dir(name.parts);
    if (!dir) return;
    progress_.files++;
    if (node.type == NodeType::File) progress_.bytes_seen += node.size;
    std::unique_ptr<Item>& slot = dir->children[name.parts.back()];
    if (node.type == NodeType::Dir && slot && slot->node.type == NodeType::Dir) {
      slot->node = node;  // implied by an entry kept before it: keep what is inside
      return;
    }
    slot = std::make_unique<Item>();
    slot->node = node;
  }

  /// What the listing knew of a streamed entry and tar does not say; a file that changed after it
  /// was listed is marked to be read again next time.
  void add_listed(const std::vector<std::string>& parts, Node& n) {
    if (!base_) return;
    std::string path;
    for (const auto& p : parts) path += (path.empty() ? "" : "/") + p;
    auto it = base_->listed.find(path);
    if (it == base_->listed.end()) return;
    const ListedIdentity& listed = it->second;
    n.ctime_ns = listed.ctime_ns;
    n.inode = listed.inode;
    if (n.type == NodeType::File && (n.mtime_ns != listed.mtime_ns || n.size != listed.size)) {
      warn_(escape_bytes(path) + " in " + source_ + " changed while it was captured: stored as tar read it, read again next time");
      n.ctime_ns = 0;
    }
  }

  void add(struct archive* a, const StreamSource& stream, archive_entry* entry) {
    progress_.files++;
    Name name = split_name(current_);
    if (!name.refused.empty()) return skip(current_, name.refused);
    if (name.parts.empty()) {
      if (archive_entry_filetype(entry) != AE_IFDIR) return skip(current_, "the root is not a directory");
      root_.node = metadata(entry, ".");
      root_.node.type = NodeType::Dir;
      return;
    }
    // Trees nest at most kMaxTreeDepth levels: a directory at that depth could not hold its tree.
    if (name.parts.size() > kMaxTreeDepth ||
        (name.parts.size() == kMaxTreeDepth && archive_entry_filetype(entry) == AE_IFDIR))
      return skip(current_, "nested deeper than " + std::to_string(kMaxTreeDepth) + " levels");
    Item* dir = parent_dir(name.parts);
    if (!dir) return skip(current_, "a parent of it is not a directory");
    const std::string& base = name.parts.back();
    if (const char* target = archive_entry_hardlink(entry)) return add_hardlink(*dir, base, target);

    Node n = metadata(entry, base);
    switch (archive_entry_filetype(entry)) {
      case AE_IFREG:
        n.type = NodeType::File;
        read_content(a, stream, entry, n);
        break;
      case AE_IFDIR:
        n.type = NodeType::Dir;
        break;
      case AE_IFLNK:
        n.type = NodeType::Symlink;
        n.target = archive_entry_symlink(entry) ? archive_entry_symlink(entry) : "";
        if (n.target.empty()) return skip(current_, "a symlink without a target");
        break;
      case AE_IFIFO:
        n.type = NodeType::Fifo;
        break;
      case AE_IFCHR:
      case AE_IFBLK:
        n.type = archive_entry_filetype(entry) == AE_IFCHR ? NodeType::CharDev : NodeType::BlockDev;
        n.rdev = archive_entry_rdev(entry);
        break;
      case AE_IFSOCK:  // sockets are recreated by their servers; nothing to keep (as capture_nas)
        return;
      default:
        return skip(current_, "unsupported entry type");
    }
    add_listed(name.parts, n);
    std::unique_ptr<Item>& slot = dir->children[base];
    if (n.type == NodeType::Dir && slot && slot->node.type == NodeType::Dir) {
      slot->node = std::move(n);  // a directory named after its contents (or twice): keep what is inside
      return;
    }
    slot = std::make_unique<Item>();
    slot->node = std::move(n);
  }

  /// Another name for a regular file earlier in the stream (tar names the first one it wrote).
  void add_hardlink(Item& dir, const std::string& base, const std::string& target_raw) {
    Name target = split_name(target_raw);
    if (!target.refused.empty()) return skip(current_, "hard link target " + target_raw + ": " + target.refused);
    Item* first = find(target.parts);
    if (!first || first->node.type != NodeType::File)
      return skip(current_, "hard link to " + target_raw + ", which is not a regular file earlier in the stream");
    if (!first->link) {
      links_.push_back({first->node, ""});
      first->link = links_.size() - 1;
    }
    auto item = std::make_unique<Item>();
    item->node.name = base;
    item->link = first->link;
    dir.children[base] = std::move(item);
  }

  /// The directory that holds `parts`' last component; missing ones are implied. nullptr if one is not a directory.
  Item* parent_dir(const std::vector<std::string>& parts) {
    Item* dir = &root_;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      std::unique_ptr<Item>& slot = dir->children[parts[i]];
      if (!slot) {
        slot = std::make_unique<Item>();
        slot->node = implied_dir(parts[i]);
      } else if (slot->node.type != NodeType::Dir) {
        return nullptr;
      }
      dir = slot.get();
    }
    return dir;
  }

  Item* find(const std::vector<std::string>& parts) {
    Item* item = &root_;
    for (const std::string& part : parts) {
      auto it = item->children.find(part);
      if (it == item->children.end()) return nullptr;
      item = it->second.get();
    }
    return item;
  }

  static Node metadata(archive_entry* entry, const std::string& name) {
    Node n;
    n.name = name;
    n.mode = archive_entry_perm(entry) & 07777;
    n.uid = static_cast<std::uint32_t>(archive_entry_uid(entry));
    n.gid = static_cast<std::uint32_t>(archive_entry_gid(entry));
    n.mtime_ns = std::int64_t(archive_entry_mtime(entry)) * 1000000000 + archive_entry_mtime_nsec(entry);
    archive_entry_xattr_reset(entry);
    const char* key;
    const void* value;
    std::size_t size;
    while (archive_entry_xattr_next(entry, &key, &value, &size) == ARCHIVE_OK) {
      if (!key || !*key) continue;  // no attribute has an empty name
      const auto* bytes = static_cast<const std::uint8_t*>(value);
      n.xattrs.emplace_back(key, Bytes(bytes, bytes + size));
    }
    std::sort(n.xattrs.begin(), n.xattrs.end());
    // bsdtar writes each attribute twice (LIBARCHIVE.xattr and SCHILY.xattr), and libarchive
    // reads both: one of each name, as from GNU tar.
    n.xattrs.erase(std::unique(n.xattrs.begin(), n.xattrs.end(),
                               [](const auto& a, const auto& b) { return a.first == b.first; }),
                   n.xattrs.end());
    return n;
  }

  /// Chunks the entry's data blocks as capture_nas chunks a file's extents: each run of data on its own,
  /// the gaps between blocks (sparse files) as holes.
  void read_content(struct archive* a, const StreamSource& stream, archive_entry* entry, Node& n) {
    std::uint64_t end = 0;  // the file offset after the bytes received so far
    pending_.clear();
    while (true) {
      const void* data;
      std::size_t size;
      la_int64_t offset;
      int rc = archive_read_data_block(a, &data, &size, &offset);
      if (rc == ARCHIVE_EOF) break;
      if (rc < ARCHIVE_WARN) fail(a, stream, "in entry " + current_);
      if (size == 0) continue;
      auto at = static_cast<std::uint64_t>(offset);
      if (offset < 0 || at < end) throw Failure("tar stream from " + source_ + " is corrupt in entry " + current_ +
                                                ": its data blocks overlap");
      if (at > end) {
        cut(n.content, true);
        add_hole(n.content, at - end);
      }
      const auto* bytes = static_cast<const std::uint8_t*>(data);
      pending_.insert(pending_.end(), bytes, bytes + size);
      end = at + size;
      progress_.bytes_read += size;
      progress_.bytes_seen += size;
      // Cut once two windows are held, not at every block: each cut moves what is left to the
      // front, so this moves about one byte per byte stored instead of three.
      if (pending_.size() >= 2 * std::size_t{chunker_.params().max}) cut(n.content, false);
    }
    cut(n.content, true);
    auto size = static_cast<std::uint64_t>(std::max<la_int64_t>(archive_entry_size(entry), 0));
    if (size > end) add_hole(n.content, size - end);
    n.size = std::max(size, end);
  }

  static void add_hole(std::vector<Part>& parts, std::uint64_t len) {
    if (!parts.empty() && !parts.back().blob) parts.back().size += len;
    else parts.push_back({std::nullopt, len});
  }

  /// Stores the chunks of the pending bytes (all of them at the end of a run of data).
  void cut(std::vector<Part>& parts, bool end_of_run) {
    store_chunks(repo_, chunker_, pending_, parts, progress_, end_of_run, &*pool_);
  }

  NasResult finish() {
    pool_->drain();  // every data blob stored before the trees that name them
    NasResult result;
    result.section.name = section_;
    result.section.source = source_;
    result.section.tree = save(root_, "");
    root_.node.subtree = result.section.tree;
    result.section.root = repo_.save_tree(Tree{{root_.node}});
    result.section.files = files_;
    result.section.dirs = dirs_;
    result.section.bytes = bytes_;
    result.skipped = std::move(skipped_);
    return result;
  }

  /// Stores the trees bottom-up in depth-first name order; returns the id of `dir`'s tree.
  Id save(Item& dir, const std::string& path) {
    Tree tree;
    tree.nodes.reserve(dir.children.size());
    for (auto& [name, child] : dir.children) {
      std::string child_path = path.empty() ? name : path + "/" + name;
      Node n = child->link ? link_node(*child->link, name, child_path) : std::move(child->node);
      // The counts are of what the trees hold (FORMAT.md): directories, and every other entry as a file.
      if (n.type == NodeType::Dir) {
        ++dirs_;
        n.subtree = save(*child, child_path);
      } else {
        ++files_;
        if (n.type == NodeType::File || n.type == NodeType::Hardlink) bytes_ += n.size;
      }
      tree.nodes.push_back(std::move(n));
    }
    dir.children.clear();
    if (base_) {  // unchanged since the parent: its tree as it is
      auto it = base_->earlier.find(path);
      if (it != base_->earlier.end() && it->second.second.nodes == tree.nodes) return it->second.first;
    }
    return repo_.save_tree(tree);
  }

  /// As capture_nas stores a file with several names: the first name in depth-first name order holds the
  /// content, the others are Hardlink nodes naming it (whatever order the stream had them in).
  Node link_node(std::size_t group, const std::string& name, const std::string& path) {
    LinkGroup& links = links_[group];
    Node n = links.file;
    n.name = name;
    if (links.first.empty()) {
      links.first = path;
      return n;
    }
    n.type = NodeType::Hardlink;
    n.target = links.first;
    n.content.clear();
    n.xattrs.clear();
    return n;
  }

  Repository& repo_;
  std::string section_;
  std::string source_;
  Progress& progress_;
  const WarnFn& warn_;
  Chunker chunker_;
  std::optional<BlobPool> pool_;
  const TarBase* base_ = nullptr;
  Item root_;
  std::vector<LinkGroup> links_;
  std::string current_;  // the entry being read, as the stream names it
  Bytes pending_;        // received file bytes not yet cut into chunks
  std::vector<Skipped> skipped_;
  std::uint64_t files_ = 0, dirs_ = 0, bytes_ = 0;
};

// ---- writing ---------------------------------------------------------------------------------------------------

/// Where libarchive pushes the stream to; keeps the caller's exception to pass it on.
struct StreamSink {
  explicit StreamSink(const WriteFn& w) : write(w) {}
  const WriteFn& write;
  std::exception_ptr error;
};

la_ssize_t write_callback(struct archive* a, void* client, const void* data, std::size_t size) {
  auto* sink = static_cast<StreamSink*>(client);
  try {
    sink->write(static_cast<const char*>(data), size);
    return static_cast<la_ssize_t>(size);
  } catch (...) {
    sink->error = std::current_exception();
    archive_set_error(a, EIO, "writing the stream failed");
    return -1;
  }
}

class TarWriter {
 public:
  TarWriter(const Repository& repo, const WriteFn& write, const std::vector<std::string>& includes)
      : repo_(repo), sink_(write), includes_(includes) {}

  void run(const Section& section) {
    tree_ = section.tree;
    std::unique_ptr<struct archive, WriteDeleter> a(archive_write_new());
    a_ = a.get();
    check(archive_write_set_format_pax(a_), "cannot choose the pax format");
    // GNU tar reads only SCHILY.xattr (it warns about LIBARCHIVE.xattr).
    check(archive_write_set_format_option(a_, "pax", "xattrheader", "SCHILY"), "cannot set xattrheader");
    check(archive_write_open(a_, &sink_, nullptr, write_callback, nullptr), "cannot start the tar stream");
    try {
      if (section.root) {
        Tree root = repo_.load_tree(*section.root);
        check_section_root(section, root);
        write_header(root.nodes[0], "./");
      }
      WalkGuard guard(node_budget(section));
      walk_tree(repo_, section.tree, guard, [&](const std::string& rel, const Node& n) { return write_entry(rel, n); });
    } catch (const TreeDamage& d) {
      throw Failure(d.in_section(section.name));
    }
    check(archive_write_close(a_), "cannot finish the tar stream");
  }

 private:
  /// The name a hard link's target was written under (itself, unless an include moved it).
  const std::string& first_name(const std::string& target) const {
    auto it = first_names_.find(target);
    return it == first_names_.end() ? target : it->second;
  }

  void check(int rc, const std::string& what) {
    if (rc >= ARCHIVE_WARN) return;
    if (sink_.error) std::rethrow_exception(sink_.error);
    throw Failure(what + ": " + archive_message(a_));
  }

  /// Writes one entry (`rel`: its section-relative path); whether to go into it.
  bool write_entry(const std::string& rel, const Node& n) {
    if (!store::path_included(includes_, rel)) return false;
    const std::string path = "./" + rel;
    if (!includes_.empty()) {
      if (n.type == NodeType::File) {
        first_names_[rel] = rel;
      } else if (n.type == NodeType::Hardlink && !first_names_.contains(n.target)) {
        // Its first name is left out: this name carries the content, and later names link to it.
        auto first = store::find_node(repo_, tree_, n.target);
        if (!first || first->type != NodeType::File)
          throw Failure("hard link target " + escape_bytes(n.target) + " is missing from the snapshot");
        write_header(*first, path);
        write_content(*first, path);
        first_names_[n.target] = rel;
        return false;
      }
    }
    write_header(n, path);
    if (n.type == NodeType::File) write_content(n, path);
    return true;
  }

  void write_header(const Node& n, const std::string& path) {
    std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
    archive_entry_copy_pathname(e.get(), path.c_str());
    archive_entry_set_perm(e.get(), n.mode);
    archive_entry_set_uid(e.get(), n.uid);
    archive_entry_set_gid(e.get(), n.gid);
    std::int64_t sec = n.mtime_ns / 1000000000, nsec = n.mtime_ns % 1000000000;
    if (nsec < 0) {
      nsec += 1000000000;
      sec -= 1;
    }
    archive_entry_set_mtime(e.get(), static_cast<time_t>(sec), static_cast<long>(nsec));
    for (const auto& [name, value] : n.xattrs)
      archive_entry_xattr_add_entry(e.get(), name.c_str(), value.data(), value.size());
    switch (n.type) {
      case NodeType::Dir:
        archive_entry_set_filetype(e.get(), AE_IFDIR);
        break;
      case NodeType::File:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_set_size(e.get(), static_cast<la_int64_t>(n.size));
        add_sparse_map(e.get(), n);
        break;
      case NodeType::Hardlink:
        archive_entry_set_filetype(e.get(), AE_IFREG);
        archive_entry_copy_hardlink(e.get(), ("./" + first_name(n.target)).c_str());
        break;
      case NodeType::Symlink:
        archive_entry_set_filetype(e.get(), AE_IFLNK);
        archive_entry_copy_symlink(e.get(), n.target.c_str());
        break;
      case NodeType::Fifo:
        archive_entry_set_filetype(e.get(), AE_IFIFO);
        break;
      case NodeType::CharDev:
      case NodeType::BlockDev:
        archive_entry_set_filetype(e.get(), n.type == NodeType::CharDev ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdev(e.get(), static_cast<dev_t>(n.rdev));
        break;
    }
    check(archive_write_header(a_, e.get()), "cannot write the tar header of " + path);
  }

  /// A file with holes gets a map of its data runs, so the stream (and what tar -x makes of it) stays sparse.
  /// A trailing hole is marked by an empty run at the end, as GNU tar does.
  static void add_sparse_map(archive_entry* e, const Node& n) {
    bool has_hole = std::any_of(n.content.begin(), n.content.end(), [](const Part& p) { return !p.blob; });
    if (!has_hole) return;
    auto add_run = [e](std::uint64_t offset, std::uint64_t length) {
      archive_entry_sparse_add_entry(e, static_cast<la_int64_t>(offset), static_cast<la_int64_t>(length));
    };
    std::uint64_t at = 0, run_start = 0;
    bool in_run = false;
    for (const Part& p : n.content) {
      if (p.blob && !in_run) {
        run_start = at;
        in_run = true;
      } else if (!p.blob && in_run) {
        add_run(run_start, at - run_start);
        in_run = false;
      }
      at += p.size;
    }
    if (in_run) add_run(run_start, at - run_start);
    else add_run(at, 0);
  }

  /// libarchive takes a sparse file's holes as zeros and leaves them out of the stream.
  void write_content(const Node& n, const std::string& path) {
    static const std::uint8_t zeros[64 * 1024] = {};
    for (const Part& p : n.content) {
      if (p.blob) {
        Bytes data = repo_.read_blob(*p.blob);
        if (data.size() != p.size) throw Failure("chunk " + p.blob->short_hex() + " of " + path + " has the wrong size");
        write_data(data.data(), data.size(), path);
        continue;
      }
      for (std::uint64_t left = p.size; left > 0;) {
        std::size_t piece = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof zeros));
        write_data(zeros, piece, path);
        left -= piece;
      }
    }
  }

  void write_data(const std::uint8_t* data, std::size_t size, const std::string& path) {
    if (archive_write_data(a_, data, size) < 0) check(ARCHIVE_FATAL, "cannot write the data of " + path);
  }

  const Repository& repo_;
  StreamSink sink_;
  const std::vector<std::string>& includes_;
  Id tree_;
  std::map<std::string, std::string> first_names_;  // with includes: a file's path → where it was written
  struct archive* a_ = nullptr;
};

}  // namespace

NasResult capture_tar(Repository& repo, const std::string& name, const std::string& source, const ReadFn& read,
                      Progress& progress, const WarnFn& warn) {
  return TarCapture(repo, name, source, progress, warn).run(read);
}

NasResult capture_tar(Repository& repo, const std::string& name, const std::string& source, const ReadFn& read,
                      Progress& progress, const WarnFn& warn, const TarBase& base) {
  return TarCapture(repo, name, source, progress, warn).run(read, &base);
}

NasResult capture_tar_bytes(Repository& repo, const std::string& name, const std::string& source,
                            const std::string& tar, Progress& progress, const WarnFn& warn) {
  std::size_t at = 0;
  auto read = [&](char* buf, std::size_t size) {
    std::size_t n = std::min(size, tar.size() - at);
    tar.copy(buf, n, at);
    at += n;
    return n;
  };
  return capture_tar(repo, name, source, read, progress, warn);
}

void write_tar(const Repository& repo, const Section& section, const WriteFn& write,
               const std::vector<std::string>& includes) {
  TarWriter(repo, write, includes).run(section);
}

std::string tar_bytes(const Repository& repo, const Section& section) {
  std::string out;
  write_tar(repo, section, [&](const char* data, std::size_t size) { out.append(data, size); });
  return out;
}

namespace {

la_ssize_t append_to_string(struct archive*, void* out, const void* buf, std::size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

}  // namespace

std::string tar_of_files(const std::map<std::string, std::string>& files) {
  std::string bytes;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(a, &bytes, nullptr, append_to_string, nullptr);
  for (const auto& [path, content] : files) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    archive_write_header(a, e);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return bytes;
}

}  // namespace drctl::capture
