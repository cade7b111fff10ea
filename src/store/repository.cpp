#include "store/repository.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "store/chunker.hpp"
#include "store/compress.hpp"
#include "base/error.hpp"

namespace drctl::store {

using json = nlohmann::json;

namespace {

constexpr std::size_t kPacksPerIndexFile = 64;  // ~1 GiB of data: bounds what a crash re-uploads
constexpr std::size_t kBlobsPerIndexFile = 50000;  // as restic: small files' entries wait in memory, and readers load a file whole

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string random_hex(std::size_t bytes) {
  std::random_device rd;
  std::vector<std::uint8_t> b(bytes);
  for (auto& x : b) x = static_cast<std::uint8_t>(rd());
  return to_hex(b);
}

RepoConfig parse_config(const Bytes& data, const std::string& file) {
  try {
    json j = json::parse(data.begin(), data.end());
    if (j.at("format") != "drctl-repo") throw InputError(file + ": not a drctl repository config");
    if (j.at("version") != 1 && j.at("version") != 2)
      throw InputError(file + ": repository format version " + j.at("version").dump() +
                       " is not supported (this drctl reads versions 1 and 2)");
    RepoConfig c;
    c.version = j.at("version").get<int>();
    if (c.version == 2) {
      const json& enc = j.at("encryption");
      c.encrypted = enc != "none";
      if (c.encrypted && (enc.at("cipher") != "xchacha20-poly1305" || enc.at("ids") != "hmac-sha256"))
        throw InputError(file + ": unknown encryption " + enc.dump());
    }
    c.id = j.at("id").get<std::string>();
    c.chunker.min = j.at("chunker").at("min").get<std::uint32_t>();
    c.chunker.avg = j.at("chunker").at("avg").get<std::uint32_t>();
    c.chunker.max = j.at("chunker").at("max").get<std::uint32_t>();
    c.compression_level = j.at("compression").at("level").get<int>();
    c.pack_size = j.at("pack_size").get<std::uint32_t>();
    try {
      c.chunker.validate();
    } catch (const InputError& e) {
      throw InputError(file + ": " + e.what());
    }
    return c;
  } catch (const json::exception& e) {
    std::string what = e.what();
    throw InputError(file + ": damaged repository config (" + what.substr(what.find(']') + 2) + ")");
  }
}

std::string config_json(const RepoConfig& c) {
  json j = {{"format", "drctl-repo"},
            {"version", 1},
            {"id", c.id},
            {"chunker", {{"algorithm", "fastcdc"}, {"min", c.chunker.min}, {"avg", c.chunker.avg}, {"max", c.chunker.max}}},
            {"hash", "sha256"},
            {"compression", {{"algorithm", "zstd"}, {"level", c.compression_level}}},
            {"pack_size", c.pack_size}};
  if (c.version >= 2) {
    j["version"] = 2;
    j["encryption"] = c.encrypted ? json{{"cipher", "xchacha20-poly1305"}, {"ids", "hmac-sha256"}, {"kdf", "argon2id"}}
                                  : json("none");
  }
  return j.dump(2) + "\n";
}

}  // namespace

fs::path default_repo_path(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("DRCTL_REPO"); env && *env) return env;
  return "snapshots";
}

void Repository::init(const fs::path& path, RepoConfig config, const Credential* encrypt) {
  if (is_remote_location(path)) refuse_remote_write(path.string());
  config.chunker.validate();
  if (config.compression_level < 1 || config.compression_level > 19)
    throw InputError("--compression-level must be between 1 and 19");
  if (fs::exists(path / "config")) throw InputError(path.string() + " is already a drctl repository");
  if (fs::exists(path) && !fs::is_directory(path)) throw InputError(path.string() + " exists and is not a directory");
  if (fs::exists(path)) {
    for (const auto& e : fs::directory_iterator(path))
      if (e.path().filename() != "README.md" && e.path().filename() != ".gitignore")
        throw InputError(path.string() + " is not empty; choose an empty or new directory");
  }
  make_private_dir(path);
  ::chmod(path.c_str(), 0700);
  for (const char* d : {"data", "index", "snapshots", "tmp"}) make_private_dir(path / d);
  write_file_atomic(path / "tmp", path / "readers", {});  // readers' and prune's flock (store/lock.hpp)
  config.id = random_hex(16);
  config.version = 2;
  config.encrypted = encrypt != nullptr;
  if (encrypt) {
    make_private_dir(path / "keys");
    const std::string key = wrap_master_key(random_master_key(), *encrypt, config.id);
    write_file_atomic(path / "tmp", path / "keys" / sha256(key).hex(), as_bytes(key));
  }
  write_file_atomic(path / "tmp", path / "config", as_bytes(config_json(config)));
}

Repository::Repository(fs::path path) : path_(std::move(path)), backend_(open_backend(path_)) {
  if (writable() && !fs::exists(path_))
    throw InputError("repository " + path_.string() + " does not exist (create it with `drctl snapshot init`)");
  std::optional<Bytes> config;
  try {
    config = backend_->read("config");
  } catch (const Failure& e) {
    if (!writable()) throw;  // a host that cannot be reached (or whose key is unknown), not bad input
    throw InputError(e.what());
  }
  if (!config) throw InputError(backend_->describe() + " is not a drctl repository (it has no config file)");
  config_ = parse_config(*config, backend_->describe() + "/config");
  // tmp/ is where a writer stages files; a remote copy is only read.
  for (const char* d : {"data", "index", "snapshots", "tmp"})
    if ((writable() || std::string(d) != "tmp") && !backend_->is_dir(d))
      throw InputError(backend_->describe() + " is not a complete drctl repository (missing " + d + "/)");
  if (config_.encrypted) unlock();
  reload_index();
}

Id Repository::blob_id(std::span<const std::uint8_t> raw) const { return key_ ? keyed_id(key_->ids, raw) : sha256(raw); }

Id Repository::blob_id(std::string_view raw) const {
  return blob_id(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(raw.data()), raw.size()));
}

Bytes Repository::read_required(const std::string& rel) const {
  std::optional<Bytes> data = backend_->read(rel);
  if (!data) throw Failure("cannot open: " + backend_->describe() + "/" + rel + ": No such file or directory");
  return std::move(*data);
}

void Repository::need_writable() const {
  if (!writable()) refuse_remote_write(backend_->describe());
}

Bytes Repository::read_object(const std::string& dir, const Id& id) const {
  return open_object(dir, id, read_required(dir + "/" + id.hex()));
}

Bytes Repository::open_object(const std::string& dir, const Id& id, Bytes data) const {
  if (key_) {
    Bytes ad(dir.begin(), dir.end());
    ad.push_back(0);
    ad.insert(ad.end(), id.bytes.begin(), id.bytes.end());
    data = open_sealed(key_->encrypt, data, ad);
  }
  if (blob_id(data) != id) throw Failure("hash mismatch");
  return data;
}

Bytes Repository::stored_object(const std::string& dir, const Id& id, std::span<const std::uint8_t> plain) const {
  if (!key_) return Bytes(plain.begin(), plain.end());
  Bytes ad(dir.begin(), dir.end());
  ad.push_back(0);
  ad.insert(ad.end(), id.bytes.begin(), id.bytes.end());
  return seal(key_->encrypt, plain, ad);
}

void Repository::write_object(const std::string& dir, const Id& id, std::span<const std::uint8_t> plain) {
  need_writable();
  if (!key_) {
    write_file_atomic(tmp_dir(), path_ / dir / id.hex(), plain);
    return;
  }
  write_file_atomic(tmp_dir(), path_ / dir / id.hex(), stored_object(dir, id, plain));
}

void Repository::reload_index() {
  std::lock_guard lock(mutex_);
  index_ = Index{};
  index_problems_.clear();
  for (const Id& id : list_ids("index")) {
    try {
      index_.add_encoded(read_object("index", id));  // read_object checks the id (or the seal)
    } catch (const Failure& e) {
      index_problems_.push_back("index file " + id.short_hex() + " is damaged (" + e.what() + ")");
    }
  }
}

std::string Repository::pack_rel(const Id& pack) {
  const std::string hex = pack.hex();
  return "data/" + hex.substr(0, 2) + "/" + hex;
}

fs::path Repository::pack_path(const Id& pack) const { return path_ / pack_rel(pack); }

std::optional<std::uint64_t> Repository::pack_size(const Id& pack) const { return backend_->size(pack_rel(pack)); }

Bytes Repository::read_pack(const Id& pack) const { return read_required(pack_rel(pack)); }

std::vector<Id> Repository::list_ids(const std::string& dir) const {
  std::vector<Id> out;
  auto scan = [&](const std::string& d) {
    for (const std::string& name : backend_->list(d))
      if (Id::is_hex(name)) out.push_back(Id::from_hex(name));
  };
  if (dir == "data") {
    for (const std::string& sub : backend_->list("data"))
      if (backend_->is_dir("data/" + sub)) scan("data/" + sub);
  } else {
    scan(dir);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Bytes Repository::read_blob(const Id& id) const {
  Index::Location loc;
  Id pack;
  {
    std::lock_guard lock(mutex_);
    const Index::Location* l = index_.find(id);
    if (!l) throw Failure("blob " + id.short_hex() + " is not in the index");
    loc = *l;
    pack = index_.pack_id(loc);
  }
  // An index from elsewhere (a repository a compromised host wrote) must not make us allocate
  // what no blob can be: sizes beyond a blob's limit are damage, found before any allocation.
  const std::uint64_t limit = loc.entry.type == BlobType::Tree ? kMaxTreeSize : kMaxChunkSize;
  if (loc.entry.raw_length > limit || loc.entry.length > limit + kSealOverhead)
    throw Failure("blob " + id.short_hex() + " in pack " + pack.short_hex() + " is damaged (the index gives it " +
                  std::to_string(std::max(loc.entry.raw_length, loc.entry.length)) + " bytes, more than a blob can be)");
  // Only the blob's bytes: over SFTP a restore of one file must not fetch whole packs.
  const Bytes stored = backend_->read_range(pack_rel(pack), loc.entry.offset, loc.entry.length);
  return open_blob(pack, loc.entry, stored);
}

namespace {
/// What a sealed blob is bound to: its type and id (FORMAT.md).
Bytes blob_ad(const BlobEntry& e) {
  Bytes ad{static_cast<std::uint8_t>(e.type)};
  ad.insert(ad.end(), e.id.bytes.begin(), e.id.bytes.end());
  return ad;
}
}  // namespace

Bytes Repository::open_blob(const Id& pack, const BlobEntry& e, std::span<const std::uint8_t> stored) const {
  Bytes raw;
  try {
    Bytes opened;
    if (key_) {
      opened = open_sealed(key_->encrypt, stored, blob_ad(e));
      stored = opened;
    }
    raw = e.compression == Compression::Zstd ? decompress(stored, e.raw_length) : Bytes(stored.begin(), stored.end());
  } catch (const Failure& err) {
    throw Failure("blob " + e.id.short_hex() + " in pack " + pack.short_hex() + " is damaged (" + err.what() + ")");
  }
  if (raw.size() != e.raw_length || blob_id(raw) != e.id)
    throw Failure("blob " + e.id.short_hex() + " in pack " + pack.short_hex() + " is damaged (hash mismatch)");
  return raw;
}

std::vector<BlobEntry> Repository::read_pack_header(const Id& pack) const {
  const std::string rel = pack_rel(pack);
  const std::optional<std::uint64_t> size = backend_->size(rel);
  if (!size) throw Failure("cannot open: " + backend_->describe() + "/" + rel + ": No such file or directory");
  return store::read_pack_header(
      *size, [&](std::uint64_t offset, std::size_t length) { return backend_->read_range(rel, offset, length); },
      backend_->describe() + "/" + rel, key_ ? &key_->encrypt : nullptr);
}

Tree Repository::load_tree(const Id& id) const { return decode_tree(read_blob(id)); }

std::string Repository::snapshot_text(const Id& id) const {
  Bytes stored = read_required("snapshots/" + id.hex());
  try {
    Bytes data = open_object("snapshots", id, std::move(stored));
    return std::string(data.begin(), data.end());
  } catch (const Failure& e) {
    throw Failure("snapshot " + id.short_hex() + " is damaged (" + e.what() + ")");
  }
}

Snapshot Repository::load_snapshot(const Id& id) const { return Snapshot::from_json(snapshot_text(id), id); }

std::vector<Snapshot> Repository::snapshots(std::vector<std::string>* problems) const {
  std::vector<Snapshot> out;
  for (const Id& id : list_ids("snapshots")) {
    try {
      out.push_back(load_snapshot(id));
    } catch (const Failure& e) {
      if (problems) problems->push_back(e.what());
    }
  }
  std::sort(out.begin(), out.end(), [](const Snapshot& a, const Snapshot& b) { return a.time < b.time; });
  return out;
}

Snapshot Repository::find_snapshot(std::string_view ref) const {
  std::vector<Id> ids = list_ids("snapshots");
  if (ref == "latest") {
    auto all = snapshots();
    if (all.empty()) throw InputError("repository " + path_.string() + " has no snapshots yet");
    return all.back();
  }
  if (ref.size() < 4 || ref.size() > 64 || ref.find_first_not_of("0123456789abcdef") != std::string_view::npos)
    throw InputError("'" + std::string(ref) + "' is not a snapshot id (use `latest`, or 4 to 64 hex digits)");
  std::vector<Id> matches;
  for (const Id& id : ids)
    if (id.hex().starts_with(ref)) matches.push_back(id);
  if (matches.empty()) throw InputError("no snapshot " + std::string(ref) + " in " + path_.string());
  if (matches.size() > 1) throw InputError("snapshot id prefix " + std::string(ref) + " is ambiguous; give more digits");
  return load_snapshot(matches.front());
}

bool Repository::has_blob(const Id& id) const {
  std::lock_guard lock(mutex_);
  return index_.contains(id) || pending_.contains(id);
}

std::uint64_t Repository::add_blob(BlobType type, const Id& id, std::span<const std::uint8_t> raw) {
  need_writable();
  {
    std::lock_guard lock(mutex_);
    if (index_.contains(id) || !pending_.insert(id).second) return 0;
  }
  return store_blob(type, id, raw);
}

std::uint64_t Repository::add_blob_again(BlobType type, const Id& id, std::span<const std::uint8_t> raw) {
  need_writable();
  {
    std::lock_guard lock(mutex_);
    if (!pending_.insert(id).second) return 0;
  }
  return store_blob(type, id, raw);
}

std::uint64_t Repository::store_blob(BlobType type, const Id& id, std::span<const std::uint8_t> raw) {
  Bytes packed = compress(raw, config_.compression_level);
  Compression c = Compression::Zstd;
  std::span<const std::uint8_t> stored = packed;
  if (packed.size() >= raw.size()) {
    c = Compression::None;
    stored = raw;
  }
  if (key_) {
    packed = seal(key_->encrypt, stored, blob_ad(BlobEntry{type, c, id, 0, 0, 0}));
    stored = packed;
  }
  // An open pack of this type no other caller is writing to, or a new one: callers side by side
  // (the capture's pool workers) each write and hash into their own pack, none waits.
  std::optional<PackWriter> writer;
  {
    std::lock_guard lock(pack_mutex_);
    auto& idle = writers_[type];
    if (!idle.empty()) {
      writer.emplace(std::move(idle.back()));
      idle.pop_back();
    }
  }
  if (!writer) writer.emplace(new_pack_path());
  writer->add(type, c, id, stored, static_cast<std::uint32_t>(raw.size()));
  if (writer->size() >= config_.pack_size) {
    write_pack(std::move(*writer));
  } else {
    std::lock_guard lock(pack_mutex_);
    writers_[type].push_back(std::move(*writer));
  }
  added_bytes_ += stored.size();
  return stored.size();
}

std::filesystem::path Repository::new_pack_path() {
  return tmp_dir() / ("pack." + std::to_string(::getpid()) + "." + std::to_string(pack_counter_++) + ".tmp");
}

void Repository::write_pack(PackWriter writer) {
  std::vector<BlobEntry> entries = writer.entries();
  Id pack = writer.finish(key_ ? &key_->encrypt : nullptr);
  fs::path target = pack_path(pack);
  make_private_dir(target.parent_path());
  if (::rename(writer.tmp_path().c_str(), target.c_str()) != 0) throw_errno("cannot rename into place", target, errno);
  fsync_dir(target.parent_path());
  std::lock_guard lock(mutex_);
  packs_written_.insert(pack);
  for (const auto& e : entries) {
    index_.add(pack, e);
    pending_.erase(e.id);
  }
  unindexed_[pack] = std::move(entries);
  std::size_t blobs = 0;
  for (const auto& [p, e] : unindexed_) blobs += e.size();
  if (unindexed_.size() >= kPacksPerIndexFile || blobs >= kBlobsPerIndexFile) write_pending_index();
}

void Repository::write_pending_index() {
  // mutex_ is held by the caller
  if (unindexed_.empty()) return;
  Bytes data = encode_index(unindexed_);
  write_object("index", blob_id(data), data);
  unindexed_.clear();
}

Id Repository::write_index_file(const PackContents& contents) {
  Bytes data = encode_index(contents);
  Id id = blob_id(data);
  write_object("index", id, data);
  return id;
}

std::pair<Id, Bytes> Repository::index_file_bytes(const PackContents& contents) const {
  const Bytes data = encode_index(contents);
  const Id id = blob_id(data);
  return {id, stored_object("index", id, data)};
}

Id Repository::save_tree(const Tree& tree) {
  Bytes data = encode_tree(tree);
  if (data.size() > kMaxTreeSize)
    throw Failure("a directory of " + std::to_string(tree.nodes.size()) + " entries is too big to store (its listing takes " +
                  std::to_string(data.size()) + " bytes; at most " + std::to_string(kMaxTreeSize) + ")");
  Id id = blob_id(data);
  add_blob(BlobType::Tree, id, data);
  return id;
}

void Repository::flush() {
  need_writable();
  std::map<BlobType, std::vector<PackWriter>> open;
  {
    std::lock_guard lock(pack_mutex_);
    open.swap(writers_);
  }
  // Each storing thread left a pack of its own open. The others' blobs are appended to the largest,
  // which is written whenever it reaches the pack size (as add_blob does) and continued in a new
  // one: a capture ends with at most one partly filled pack of each type, not one per thread.
  for (auto& [type, packs] : open) {
    std::size_t largest = 0;
    for (std::size_t i = 1; i < packs.size(); ++i)
      if (packs[i].size() > packs[largest].size()) largest = i;
    std::optional<PackWriter> target;
    target.emplace(std::move(packs[largest]));
    for (std::size_t i = 0; i < packs.size(); ++i) {
      if (i == largest) continue;
      packs[i].read_back([&](const BlobEntry& e, std::span<const std::uint8_t> stored) {
        if (!target) target.emplace(new_pack_path());
        target->add(e.type, e.compression, e.id, stored, e.raw_length);
        if (target->size() >= config_.pack_size) {
          write_pack(std::move(*target));
          target.reset();
        }
      });
    }
    if (target && !target->empty()) write_pack(std::move(*target));
  }  // the emptied packs' temporary files are deleted here
  std::lock_guard lock(mutex_);
  write_pending_index();
}

Id Repository::save_snapshot(Snapshot& snapshot) {
  snapshot.validate();
  snapshot.id = save_snapshot_text(snapshot.to_json());
  return snapshot.id;
}

Id Repository::save_snapshot_text(const std::string& text) {
  Id id = blob_id(text);
  Snapshot::from_json(text, id);  // nothing a reader would refuse is written
  write_object("snapshots", id, as_bytes(text));
  return id;
}

void Repository::remove_snapshot(const Id& id) {
  need_writable();
  fs::path p = path_ / "snapshots" / id.hex();
  if (::unlink(p.c_str()) != 0) throw_errno("cannot remove", p, errno);
  fsync_dir(p.parent_path());
}

void Repository::remove_index_file(const Id& id) {
  need_writable();
  fs::path p = path_ / "index" / id.hex();
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove", p, errno);
  fsync_dir(p.parent_path());
}

void Repository::remove_pack(const Id& id) {
  need_writable();
  fs::path p = pack_path(id);
  backend_->forget(pack_rel(id));
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove", p, errno);
}

void Repository::adopt_pack(const Id& pack, const std::vector<BlobEntry>& entries) {
  std::lock_guard lock(mutex_);
  for (const auto& e : entries)
    if (!index_.contains(e.id)) index_.add(pack, e);
}

void Repository::clean_tmp() {
  need_writable();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(tmp_dir(), ec))
    if (e.path().extension() == ".tmp") fs::remove(e.path(), ec);
}

}  // namespace drctl::store
