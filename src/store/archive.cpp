#include "store/archive.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <memory>
#include <unordered_set>

#include "store/error.hpp"
#include "store/files.hpp"

namespace drctl::store {

namespace {

constexpr char kPrefix[] = "drctl-export/";

struct WriteDeleter { void operator()(struct archive* a) const { archive_write_free(a); } };
struct ReadDeleter { void operator()(struct archive* a) const { archive_read_free(a); } };
struct EntryDeleter { void operator()(archive_entry* e) const { archive_entry_free(e); } };

void check(struct archive* a, int rc, const std::string& what) {
  if (rc < ARCHIVE_WARN) throw Failure(what + ": " + (archive_error_string(a) ? archive_error_string(a) : "libarchive error"));
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

/// Every blob a snapshot needs, trees before the data they list, each once.
void walk(const Repository& repo, const Id& tree_id, std::unordered_set<Id>& seen,
          const std::function<void(BlobType, const Id&)>& visit) {
  if (!seen.insert(tree_id).second) return;
  visit(BlobType::Tree, tree_id);
  Tree tree = repo.load_tree(tree_id);
  for (const Node& n : tree.nodes) {
    for (const Part& p : n.content)
      if (p.blob && seen.insert(*p.blob).second) visit(BlobType::Data, *p.blob);
    if (n.subtree) walk(repo, *n.subtree, seen, visit);
  }
}

}  // namespace

ArchiveStats export_snapshot(const Repository& repo, const Snapshot& snapshot, const std::string& file) {
  ArchiveStats stats;
  std::string tmp = file + ".partial";
  std::unique_ptr<struct archive, WriteDeleter> a(archive_write_new());
  check(a.get(), archive_write_add_filter_zstd(a.get()), "zstd filter");
  check(a.get(), archive_write_set_format_pax_restricted(a.get()), "tar format");
  check(a.get(), archive_write_open_filename(a.get(), tmp.c_str()), "cannot create " + tmp);
  try {
    Bytes manifest = read_file(repo.path() / "snapshots" / snapshot.id.hex());
    add_entry(a.get(), std::string(kPrefix) + "snapshot.json", manifest);
    std::unordered_set<Id> seen;
    for (const auto& sec : snapshot.sections)
      walk(repo, sec.root.value_or(sec.tree), seen, [&](BlobType type, const Id& id) {
        Bytes raw = repo.read_blob(id);
        add_entry(a.get(), std::string(kPrefix) + (type == BlobType::Tree ? "tree/" : "data/") + id.hex(), raw);
        stats.blobs++;
        stats.bytes += raw.size();
      });
    check(a.get(), archive_write_close(a.get()), "cannot finish " + tmp);
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) throw_errno("cannot rename into place", file, errno);
  return stats;
}

ArchiveStats import_snapshot(Repository& repo, const std::string& file, Id& id) {
  ArchiveStats stats;
  std::unique_ptr<struct archive, ReadDeleter> a(archive_read_new());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_tar(a.get());
  if (archive_read_open_filename(a.get(), file.c_str(), 1 << 20) != ARCHIVE_OK)
    throw InputError(file + ": cannot read as .tar.zst (" +
                     (archive_error_string(a.get()) ? archive_error_string(a.get()) : "unknown error") + ")");
  std::string manifest;
  archive_entry* entry;
  const std::string prefix = kPrefix;
  int rc;
  while ((rc = archive_read_next_header(a.get(), &entry)) == ARCHIVE_OK) {
    std::string name = archive_entry_pathname(entry);
    if (!name.starts_with(prefix)) throw InputError(file + ": unexpected entry " + name + " (not a drctl export)");
    name = name.substr(prefix.size());
    Bytes data(static_cast<std::size_t>(archive_entry_size(entry)));
    if (!data.empty() && archive_read_data(a.get(), data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
      throw InputError(file + ": entry " + name + " is truncated or damaged");
    if (name == "snapshot.json") {
      manifest.assign(data.begin(), data.end());
      continue;
    }
    BlobType type;
    if (name.starts_with("tree/")) type = BlobType::Tree;
    else if (name.starts_with("data/")) type = BlobType::Data;
    else throw InputError(file + ": unexpected entry " + name);
    std::string hex = name.substr(5);
    if (!Id::is_hex(hex)) throw InputError(file + ": entry " + name + " is not named by a SHA-256");
    Id blob = Id::from_hex(hex);
    if (sha256(data) != blob) throw InputError(file + ": entry " + name + " is damaged (hash mismatch)");
    if (repo.add_blob(type, blob, data) > 0) stats.new_blobs++;
    stats.blobs++;
    stats.bytes += data.size();
  }
  if (rc != ARCHIVE_EOF)
    throw InputError(file + ": " + (archive_error_string(a.get()) ? archive_error_string(a.get()) : "damaged archive"));
  if (manifest.empty()) throw InputError(file + ": no snapshot.json (not a drctl export)");
  repo.flush();
  Snapshot s = Snapshot::from_json(manifest, sha256(manifest));
  std::unordered_set<Id> seen;
  for (const auto& sec : s.sections)
    walk(repo, sec.root.value_or(sec.tree), seen, [&](BlobType, const Id& blob) {
      if (!repo.has_blob(blob)) throw InputError(file + ": blob " + blob.short_hex() + " the snapshot needs is missing");
    });
  id = repo.save_snapshot_text(manifest);
  return stats;
}

}  // namespace drctl::store
