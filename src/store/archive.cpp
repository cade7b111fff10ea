#include "store/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <unordered_map>

#include "store/chunker.hpp"
#include "base/error.hpp"
#include "store/files.hpp"
#include "store/walk.hpp"

namespace drctl::store {

namespace {

constexpr char kPrefix[] = "drctl-export/";
constexpr std::size_t kPiece = 1 << 20;  // entries are read in pieces of this size

struct WriteDeleter { void operator()(struct archive* a) const { archive_write_free(a); } };
struct ReadDeleter { void operator()(struct archive* a) const { archive_read_free(a); } };
struct EntryDeleter { void operator()(archive_entry* e) const { archive_entry_free(e); } };

std::string archive_message(struct archive* a, const char* otherwise) {
  const char* text = archive_error_string(a);
  return text ? text : otherwise;
}

void check(struct archive* a, int rc, const std::string& what) {
  if (rc < ARCHIVE_WARN) throw Failure(what + ": " + archive_message(a, "libarchive error"));
}

void add_entry(struct archive* a, const std::string& name, std::span<const std::uint8_t> data) {
  std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0600);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  check(a, archive_write_header(a, e.get()), "cannot write " + name);
  if (!data.empty() && archive_write_data(a, data.data(), data.size()) < 0)
    check(a, ARCHIVE_FATAL, "cannot write " + name);
}

// ---- export ------------------------------------------------------------------------------

/// The export's temporary file, created 0600 whatever the umask; removed unless kept.
class PartialFile {
 public:
  explicit PartialFile(std::string path) : path_(std::move(path)) {
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove the leftover", path_, errno);
    // O_EXCL: never through a symlink or into a file someone else opened.
    fd_ = Fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd_) throw_errno("cannot create", path_, errno);
    if (::fchmod(fd_.get(), 0600) != 0) throw_errno("cannot set the mode of", path_, errno);
  }
  ~PartialFile() {
    if (!kept_) ::unlink(path_.c_str());
  }
  PartialFile(const PartialFile&) = delete;
  PartialFile& operator=(const PartialFile&) = delete;

  int fd() const { return fd_.get(); }

  /// Makes the file durable and gives it its final name; without `force` an existing file
  /// there is not replaced (checked by the rename itself, so no race).
  void finish(const std::string& file, bool force) {
    if (::fsync(fd_.get()) != 0) throw_errno("cannot sync", path_, errno);
    fd_ = Fd();
    if (force) {
      if (::rename(path_.c_str(), file.c_str()) != 0) throw_errno("cannot rename into place", file, errno);
    } else if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, file.c_str(), RENAME_NOREPLACE) != 0) {
      if (errno == EEXIST) throw InputError(file + " exists (use --force to replace it)");
      if (errno != EINVAL && errno != ENOSYS) throw_errno("cannot rename into place", file, errno);
      // A file system without RENAME_NOREPLACE: link(2) refuses an existing name as well.
      if (::link(path_.c_str(), file.c_str()) != 0) {
        if (errno == EEXIST) throw InputError(file + " exists (use --force to replace it)");
        throw_errno("cannot link into place", file, errno);
      }
      ::unlink(path_.c_str());
    }
    kept_ = true;
  }

 private:
  std::string path_;
  Fd fd_;
  bool kept_ = false;
};

}  // namespace

ArchiveStats export_snapshot(const Repository& repo, const Snapshot& snapshot, const std::string& file, bool force) {
  struct stat st;
  if (!force && ::lstat(file.c_str(), &st) == 0) throw InputError(file + " exists (use --force to replace it)");
  ArchiveStats stats;
  PartialFile partial(file + ".partial");
  std::unique_ptr<struct archive, WriteDeleter> a(archive_write_new());
  check(a.get(), archive_write_add_filter_zstd(a.get()), "zstd filter");
  check(a.get(), archive_write_set_format_pax_restricted(a.get()), "tar format");
  check(a.get(), archive_write_open_fd(a.get(), partial.fd()), "cannot write " + file + ".partial");
  auto add_blob = [&](BlobType type, const Id& id, std::span<const std::uint8_t> raw) {
    add_entry(a.get(), std::string(kPrefix) + (type == BlobType::Tree ? "tree/" : "data/") + id.hex(), raw);
    stats.blobs++;
    stats.bytes += raw.size();
  };
  const std::string manifest = repo.snapshot_text(snapshot.id);
  add_entry(a.get(), std::string(kPrefix) + "snapshot.json",
            std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(manifest.data()), manifest.size()));
  std::unordered_set<Id> seen;  // chunks and section roots written
  // Trees before the data they list, each distinct tree and chunk once.
  TreeGraph graph([&](const Id& id) {
    Bytes raw = repo.read_blob(id);
    Tree tree = decode_tree(raw);
    TreeShape shape = shape_of(tree);
    add_blob(BlobType::Tree, id, raw);
    for (const Node& n : tree.nodes)
      for (const Part& p : n.content)
        if (p.blob && seen.insert(*p.blob).second) add_blob(BlobType::Data, *p.blob, repo.read_blob(*p.blob));
    return shape;
  });
  for (const auto& sec : snapshot.sections) {
    try {
      if (sec.root) {
        Bytes raw = repo.read_blob(*sec.root);
        check_section_root(sec, decode_tree(raw));
        if (seen.insert(*sec.root).second) add_blob(BlobType::Tree, *sec.root, raw);
      }
      check_budget(sec, graph.explore(sec.tree));
    } catch (const TreeDamage& d) {
      throw Failure("snapshot " + snapshot.id.short_hex() + ": " + d.in_section(sec.name));
    }
  }
  check(a.get(), archive_write_close(a.get()), "cannot finish " + file + ".partial");
  partial.finish(file, force);
  return stats;
}

// ---- import ------------------------------------------------------------------------------

namespace {

enum class EntryKind { Manifest, Tree, Data };

struct Entry {
  EntryKind kind;
  Id id;                   // trees and data
  std::uint64_t size = 0;  // as its header declares
  std::string name;
};

/// Reads an export entry by entry, never trusting a declared size for more than a refusal.
class ExportReader {
 public:
  explicit ExportReader(const std::string& file) : file_(file), a_(archive_read_new()) {
    archive_read_support_filter_zstd(a_.get());  // only what export writes: no external programs
    archive_read_support_format_tar(a_.get());
    if (archive_read_open_filename(a_.get(), file.c_str(), kPiece) != ARCHIVE_OK)
      throw InputError(file + ": cannot read as .tar.zst (" + archive_message(a_.get(), "unknown error") + ")");
  }

  /// The next entry, or nullopt at the end. Throws InputError for an entry an export does not
  /// hold or one declaring more bytes than its kind can have.
  std::optional<Entry> next() {
    archive_entry* e = nullptr;
    const int rc = archive_read_next_header(a_.get(), &e);
    if (rc == ARCHIVE_EOF) return std::nullopt;
    if (rc < ARCHIVE_WARN) throw InputError(file_ + ": " + archive_message(a_.get(), "damaged archive"));
    Entry entry;
    const char* path = archive_entry_pathname(e);
    entry.name = path ? path : "";
    const std::string shown = escape_bytes(entry.name.substr(0, 200));
    if (!entry.name.starts_with(kPrefix)) throw InputError(file_ + ": unexpected entry " + shown + " (not a drctl export)");
    const std::string rest = entry.name.substr(sizeof kPrefix - 1);
    std::size_t limit;
    if (rest == "snapshot.json") {
      entry.kind = EntryKind::Manifest;
      limit = kMaxManifestSize;
    } else if ((rest.starts_with("tree/") || rest.starts_with("data/")) && Id::is_hex(rest.substr(5))) {
      entry.kind = rest[0] == 't' ? EntryKind::Tree : EntryKind::Data;
      entry.id = Id::from_hex(rest.substr(5));
      limit = entry.kind == EntryKind::Tree ? kMaxTreeSize : kMaxChunkSize;
    } else {
      throw InputError(file_ + ": unexpected entry " + shown);
    }
    if (archive_entry_filetype(e) != AE_IFREG) throw InputError(file_ + ": entry " + shown + " is not a regular file");
    const la_int64_t size = archive_entry_size(e);
    if (size < 0 || static_cast<std::uint64_t>(size) > limit)
      throw InputError(file_ + ": entry " + shown + " declares " + std::to_string(size) + " bytes, more than a" +
                       (entry.kind == EntryKind::Manifest ? " manifest" : entry.kind == EntryKind::Tree ? " tree" : " data blob") +
                       " can hold (" + std::to_string(limit) + ")");
    entry.size = static_cast<std::uint64_t>(size);
    current_ = entry.name;
    return entry;
  }

  /// Hands the entry's bytes to `sink` in pieces; InputError when there are fewer than declared.
  void read(const Entry& entry, const std::function<void(std::span<const std::uint8_t>)>& sink) {
    std::vector<std::uint8_t> piece(static_cast<std::size_t>(std::min<std::uint64_t>(entry.size, kPiece)));
    std::uint64_t got = 0;
    while (got < entry.size) {
      const la_ssize_t n = archive_read_data(a_.get(), piece.data(), piece.size());
      if (n < 0) throw InputError(file_ + ": entry " + escape_bytes(current_) + " is truncated or damaged (" +
                                  archive_message(a_.get(), "read error") + ")");
      if (n == 0) break;
      got += static_cast<std::uint64_t>(n);
      sink({piece.data(), static_cast<std::size_t>(n)});
    }
    if (got != entry.size) throw InputError(file_ + ": entry " + escape_bytes(current_) + " is truncated");
  }

  /// The entry's bytes, gathered as they arrive (its kind bounds the declared size).
  Bytes read_all(const Entry& entry) {
    Bytes out;
    out.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(entry.size, kPiece)));
    read(entry, [&](std::span<const std::uint8_t> piece) { out.insert(out.end(), piece.begin(), piece.end()); });
    return out;
  }

  void skip() {
    if (archive_read_data_skip(a_.get()) < ARCHIVE_WARN)
      throw InputError(file_ + ": entry " + escape_bytes(current_) + " is truncated or damaged");
  }

 private:
  std::string file_;
  std::unique_ptr<struct archive, ReadDeleter> a_;
  std::string current_;
};

/// A tree of the file as the checks need it.
struct FileTree {
  std::optional<TreeShape> shape;  // nullopt: a section root
  std::optional<Id> root_of;        // a section root: the tree it holds
  std::vector<std::pair<Id, std::uint64_t>> data;  // the chunks it lists, with their sizes
};

/// What the first reading of the file found.
struct Contents {
  std::string manifest;
  std::unordered_map<Id, FileTree> trees;
  std::unordered_map<Id, std::uint64_t> data;  // size of each data blob in the file
};

/// The id a blob's bytes have where they are imported: keyed in an encrypted repository.
Id id_of(const Repository* repo, std::span<const std::uint8_t> raw) { return repo ? repo->blob_id(raw) : sha256(raw); }

/// "hash mismatch", with the likely reason when an encrypted repository is involved.
std::string mismatch(const Repository* repo) {
  return repo && repo->encrypted()
             ? "hash mismatch, or it was exported from another repository: an encrypted one imports only its own exports"
             : "hash mismatch, or it was exported from an encrypted repository, which only that repository imports";
}

Contents read_contents(const std::string& file, ArchiveStats& stats, const Repository* repo) {
  Contents c;
  bool manifest_seen = false;
  ExportReader r(file);
  while (auto e = r.next()) {
    if (e->kind == EntryKind::Manifest) {
      if (manifest_seen) throw InputError(file + ": two snapshot.json entries");
      manifest_seen = true;
      Bytes m = r.read_all(*e);
      c.manifest.assign(m.begin(), m.end());
      continue;
    }
    stats.blobs++;
    stats.bytes += e->size;
    const std::string what = std::string(e->kind == EntryKind::Tree ? "tree " : "data blob ") + e->id.hex();
    if (e->kind == EntryKind::Data && repo && repo->encrypted()) {
      if (id_of(repo, r.read_all(*e)) != e->id) throw InputError(file + ": " + what + " is damaged (" + mismatch(repo) + ")");
      c.data[e->id] = e->size;
      continue;
    }
    if (e->kind == EntryKind::Data) {
      Sha256 hash;
      r.read(*e, [&](std::span<const std::uint8_t> piece) { hash.update(piece); });
      if (hash.finish() != e->id) throw InputError(file + ": " + what + " is damaged (" + mismatch(repo) + ")");
      c.data[e->id] = e->size;
      continue;
    }
    Bytes raw = r.read_all(*e);
    if (id_of(repo, raw) != e->id) throw InputError(file + ": " + what + " is damaged (" + mismatch(repo) + ")");
    if (c.trees.contains(e->id)) continue;
    FileTree t;
    try {
      Tree tree = decode_tree(raw);
      if (tree.is_section_root()) t.root_of = tree.nodes[0].subtree;
      else t.shape = shape_of(tree);
      for (const Node& n : tree.nodes)
        for (const Part& p : n.content)
          if (p.blob) t.data.emplace_back(*p.blob, p.size);
    } catch (const Failure& err) {
      throw InputError(file + ": " + what + " is damaged: " + err.what());
    }
    c.trees.emplace(e->id, std::move(t));
  }
  if (!manifest_seen) throw InputError(file + ": no snapshot.json (not a drctl export)");
  return c;
}

}  // namespace

ImportPlan plan_import(const std::string& file, const Repository* repo) {
  ImportPlan plan;
  plan.file = file;
  Contents c = read_contents(file, plan.stats, repo);
  plan.manifest = std::move(c.manifest);
  plan.id = id_of(repo, std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(plan.manifest.data()),
                                                      plan.manifest.size()));
  Snapshot s;
  try {
    s = Snapshot::from_json(plan.manifest, plan.id);
  } catch (const Failure& e) {
    throw InputError(file + ": " + e.what());
  }
  auto in_repo = [&](const Id& id) { return repo && repo->has_blob(id); };
  auto missing = [&](const Id& id) {
    return InputError(file + ": blob " + id.short_hex() + " the snapshot needs is missing");
  };
  TreeGraph graph([&](const Id& id) -> TreeShape {
    auto it = c.trees.find(id);
    if (it != c.trees.end()) {
      if (!it->second.shape) throw Failure("a section root stands for a directory listing");
      return *it->second.shape;
    }
    if (!in_repo(id)) throw missing(id);
    return shape_of(repo->load_tree(id));
  });
  for (const auto& sec : s.sections) {
    try {
      if (sec.root) {
        auto it = c.trees.find(*sec.root);
        if (it != c.trees.end()) {
          if (it->second.root_of != sec.tree) throw TreeDamage("", "its root directory metadata is malformed");
          plan.write.insert(*sec.root);
        } else if (!in_repo(*sec.root)) {
          throw missing(*sec.root);
        }
      }
      check_budget(sec, graph.explore(sec.tree));
    } catch (const TreeDamage& d) {
      throw InputError(file + ": snapshot " + plan.id.short_hex() + ": " + d.in_section(sec.name));
    }
  }
  // Only what the sections reach is stored; every chunk it lists must be at hand, as big as listed.
  for (const auto& [id, facts] : graph.known()) {
    auto it = c.trees.find(id);
    if (it == c.trees.end()) continue;  // already in the repository
    plan.write.insert(id);
    for (const auto& [blob, size] : it->second.data) {
      auto d = c.data.find(blob);
      if (d != c.data.end()) {
        if (d->second != size)
          throw InputError(file + ": data blob " + blob.short_hex() + " holds " + std::to_string(d->second) +
                           " bytes, but a file lists it with " + std::to_string(size));
        plan.write.insert(blob);
      } else if (!in_repo(blob)) {
        throw missing(blob);
      }
    }
  }
  if (repo) std::erase_if(plan.write, [&](const Id& id) { return repo->has_blob(id); });
  return plan;
}

Id apply_import(Repository& repo, const ImportPlan& plan, ArchiveStats& stats) {
  const auto changed = [&] { return Failure(plan.file + " changed while it was imported; nothing refers to what was stored"); };
  std::unordered_set<Id> written;
  ExportReader r(plan.file);
  while (auto e = r.next()) {
    if (e->kind == EntryKind::Manifest) {
      Bytes m = r.read_all(*e);
      if (std::string(m.begin(), m.end()) != plan.manifest) throw changed();
      continue;
    }
    if (!plan.write.contains(e->id) || written.contains(e->id)) {
      r.skip();
      continue;
    }
    Bytes raw = r.read_all(*e);
    if (repo.blob_id(raw) != e->id) throw changed();
    if (repo.add_blob(e->kind == EntryKind::Tree ? BlobType::Tree : BlobType::Data, e->id, raw) > 0) stats.new_blobs++;
    written.insert(e->id);
  }
  if (written.size() != plan.write.size()) throw changed();
  repo.flush();
  return repo.save_snapshot_text(plan.manifest);
}

}  // namespace drctl::store
