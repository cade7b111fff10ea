#include "support/hostile_export.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "store/files.hpp"
#include "store/repository.hpp"

namespace support::hostile {

namespace {

struct WriteDeleter { void operator()(struct archive* a) const { archive_write_free(a); } };
struct EntryDeleter { void operator()(archive_entry* e) const { archive_entry_free(e); } };

void check(struct archive* a, int rc, const std::string& what) {
  if (rc < ARCHIVE_WARN)
    throw std::runtime_error(what + ": " + (archive_error_string(a) ? archive_error_string(a) : "libarchive error"));
}

/// A zstd-compressed archive of format `format` (a libarchive setter) at `file`.
std::unique_ptr<struct archive, WriteDeleter> open_zstd(const fs::path& file, int (*format)(struct archive*)) {
  std::unique_ptr<struct archive, WriteDeleter> a(archive_write_new());
  check(a.get(), archive_write_add_filter_zstd(a.get()), "zstd");
  check(a.get(), format(a.get()), "format");
  check(a.get(), archive_write_open_filename(a.get(), file.c_str()), "open " + file.string());
  return a;
}

void add_entry(struct archive* a, const std::string& name, const std::string& data) {
  std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
  archive_entry_set_pathname(e.get(), name.c_str());
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_entry_set_perm(e.get(), 0600);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  check(a, archive_write_header(a, e.get()), "header " + name);
  if (!data.empty() && archive_write_data(a, data.data(), data.size()) < 0) check(a, ARCHIVE_FATAL, "data " + name);
}

/// A ustar header (512 bytes) whose size field is GNU base-256, so it can declare any size.
std::string tar_header(const std::string& name, std::uint64_t size) {
  std::string h(512, '\0');
  if (name.size() >= 100) throw std::runtime_error("tar_header: name too long");
  std::memcpy(h.data(), name.data(), name.size());
  std::memcpy(h.data() + 100, "0000600", 7);  // mode
  std::memcpy(h.data() + 108, "0000000", 7);  // uid
  std::memcpy(h.data() + 116, "0000000", 7);  // gid
  h[124] = static_cast<char>(0x80);           // size: base-256, big-endian in bytes 125..135
  for (int i = 0; i < 8; ++i) h[135 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
  std::memcpy(h.data() + 136, "00000000000", 11);  // mtime
  h[156] = '0';                                     // a regular file
  std::memcpy(h.data() + 257, "ustar", 6);
  std::memcpy(h.data() + 263, "00", 2);
  std::memset(h.data() + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::snprintf(h.data() + 148, 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

}  // namespace

std::string sha256_raw(std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return std::string(reinterpret_cast<char*>(out), 32);
}

std::string hex(std::string_view raw) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

Cbor& Cbor::head(int major, std::uint64_t value) {
  const auto m = static_cast<char>(major << 5);
  if (value < 24) {
    out_ += static_cast<char>(m | static_cast<char>(value));
    return *this;
  }
  int n = value <= 0xff ? 1 : value <= 0xffff ? 2 : value <= 0xffffffffULL ? 4 : 8;
  out_ += static_cast<char>(m | static_cast<char>(n == 1 ? 24 : n == 2 ? 25 : n == 4 ? 26 : 27));
  for (int i = n - 1; i >= 0; --i) out_ += static_cast<char>((value >> (8 * i)) & 0xff);
  return *this;
}

Node file(std::string name, std::string content_id, std::uint64_t size) {
  Node n;
  n.name = std::move(name);
  if (!content_id.empty()) n.parts.push_back({std::move(content_id), size});
  n.size = size;
  return n;
}

Node dir(std::string name, std::string sub, std::uint32_t mode) {
  Node n;
  n.name = std::move(name);
  n.type = "dir";
  n.mode = mode;
  n.sub = std::move(sub);
  return n;
}

Node symlink(std::string name, std::string target) {
  Node n;
  n.name = std::move(name);
  n.type = "symlink";
  n.mode = 0777;
  n.target = std::move(target);
  return n;
}

Node hardlink(std::string name, std::string target) {
  Node n;
  n.name = std::move(name);
  n.type = "hardlink";
  n.target = std::move(target);
  return n;
}

Node fifo(std::string name) {
  Node n;
  n.name = std::move(name);
  n.type = "fifo";
  return n;
}

std::string encode_tree(const std::vector<Node>& nodes) {
  Cbor c;
  c.map(2).text("v").uint(1).text("nodes").array(nodes.size());
  for (const Node& n : nodes) {
    const bool is_file = n.type == "file", has_target = n.type == "symlink" || n.type == "hardlink";
    const std::uint64_t keys = 8 + (is_file ? 2 : 0) + (has_target ? 1 : 0) + (n.sub.empty() ? 0 : 1) +
                               (n.extra_key.empty() ? 0 : 1);
    c.map(keys).text("n").bytes(n.name).text("t").text(n.type).text("m").uint(n.mode);
    c.text("u").uint(0).text("g").uint(0).text("mt").uint(1700000000000000000ULL).text("ct").uint(0).text("i").uint(0);
    if (is_file) {
      c.text("s").uint(n.size).text("c").array(n.parts.size());
      for (const auto& [id, size] : n.parts) {
        if (id.empty()) c.array(1).uint(size);
        else c.array(2).bytes(id).uint(size);
      }
    }
    if (has_target) c.text("l").bytes(n.target);
    if (!n.sub.empty()) c.text("sub").bytes(n.sub);
    if (!n.extra_key.empty()) c.text(n.extra_key).raw(n.extra_value);
  }
  return c.str();
}

std::string Snapshot::add_tree_bytes(const std::string& cbor) {
  std::string id = sha256_raw(cbor);
  trees[id] = cbor;
  return id;
}

std::string Snapshot::add_chunk(const std::string& content) {
  std::string id = sha256_raw(content);
  data[id] = content;
  return id;
}

std::string Snapshot::add_root(const std::string& top) {
  Node root = dir(".", top, 0755);
  return add_tree({root});
}

void Snapshot::set_manifest(const std::vector<Section>& sections,
                            const std::vector<std::pair<std::string, std::string>>& skipped) {
  nlohmann::json secs = nlohmann::json::array(), skips = nlohmann::json::array();
  for (const auto& s : sections) {
    nlohmann::json j = {{"name", s.name}, {"source", "/src"}, {"tree", hex(s.tree)},
                        {"files", s.files}, {"dirs", s.dirs}, {"bytes", 0}};
    if (!s.root.empty()) j["root"] = hex(s.root);
    secs.push_back(j);
  }
  for (const auto& [section, path] : skipped) skips.push_back({{"section", section}, {"path", path}, {"error", "x"}});
  nlohmann::json m = {{"format", "drctl-snapshot"}, {"version", 1}, {"time", "2026-01-01T00:00:00.000000000Z"},
                      {"host", "hostile"}, {"tags", nlohmann::json::array()}, {"sections", secs},
                      {"skipped", skips}, {"added_bytes", 0}};
  manifest = m.dump(1) + "\n";
}

std::string Snapshot::id() const { return hex(sha256_raw(manifest)); }

Snapshot one_section(const std::vector<Node>& nodes, const std::string& name, std::uint64_t files, std::uint64_t dirs) {
  Snapshot s;
  const std::string top = s.add_tree(nodes);
  s.set_manifest({{name, top, s.add_root(top), files, dirs}});
  return s;
}

void write_export(const fs::path& file, const Snapshot& snapshot) {
  auto a = open_zstd(file, archive_write_set_format_pax_restricted);
  add_entry(a.get(), "drctl-export/snapshot.json", snapshot.manifest);
  for (const auto& [id, cbor] : snapshot.trees) add_entry(a.get(), "drctl-export/tree/" + hex(id), cbor);
  for (const auto& [id, bytes] : snapshot.data) add_entry(a.get(), "drctl-export/data/" + hex(id), bytes);
  check(a.get(), archive_write_close(a.get()), "close");
}

void write_export_declaring(const fs::path& file, const std::string& name, std::uint64_t declared,
                            const std::string& data) {
  const std::string tar = tar_header(name, declared) + data;
  auto a = open_zstd(file, archive_write_set_format_raw);
  add_entry(a.get(), "raw", tar);
  check(a.get(), archive_write_close(a.get()), "close");
}

void plant(const fs::path& repo_path, const Snapshot& snapshot) {
  using drctl::store::BlobType;
  drctl::store::Repository repo(repo_path);
  auto id_of = [](const std::string& raw) {
    drctl::store::Id id;
    std::memcpy(id.bytes.data(), raw.data(), 32);
    return id;
  };
  auto span = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  for (const auto& [id, cbor] : snapshot.trees) repo.add_blob(BlobType::Tree, id_of(id), span(cbor));
  for (const auto& [id, bytes] : snapshot.data) repo.add_blob(BlobType::Data, id_of(id), span(bytes));
  repo.flush();
  drctl::store::write_file_atomic(repo.tmp_dir(), repo_path / "snapshots" / snapshot.id(), span(snapshot.manifest));
}

}  // namespace support::hostile
