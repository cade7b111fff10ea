// The copy protocol (FORMAT.md, "Copies"): the target is made a repository (keys/, then config)
// when it is none; stale temporaries go; then packs, index files and manifests the target
// lacks are sent in that order, each stage checked on the target before the next starts, so a
// manifest is only ever there once everything it needs is there and whole.
#include "offsite/copy.hpp"

#include <nlohmann/json.hpp>
#include <future>
#include <stdexcept>

#include "base/error.hpp"
#include "store/bytes.hpp"

namespace drctl::offsite {

Side::Pull Side::reader(const std::string& rel) { throw Failure(describe() + ": cannot pull " + rel); }
std::string Side::write_push(const std::string& rel, const std::function<void(const Sink&)>&) {
  throw Failure(describe() + ": cannot write " + rel + " from a download (copy between two hosts is not supported)");
}

SftpUrl parse_sftp_url(const std::string& url, const std::string& what) {
  SftpUrl u = world::parse_host_path_url("sftp", url, what);
  if (u.path == "/") throw InputError(what + ": '" + url + "' names the host's root directory, not a repository");
  return u;
}

namespace {

/// The config's "id", or InputError naming the side.
std::string config_id(const std::string& text, const std::string& where) {
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.value("format", "") == "drctl-repo" && j.contains("id") && j["id"].is_string()) return j["id"];
  } catch (const nlohmann::json::exception&) {
  }
  throw InputError(where + "/config: not a drctl repository config");
}

/// The kind of a repository file: "keys", "data", "index", "snapshots" (its top folder).
std::string kind_of(const std::string& rel) { return rel.substr(0, rel.find('/')); }

std::string file_name(const std::string& rel) { return rel.substr(rel.rfind('/') + 1); }

/// The snapshots/ files the choice names: all, or each id's unique match.
std::vector<std::string> chosen_manifests(const std::set<std::string>& files, const CopyChoice& choice,
                                          const std::string& where) {
  std::vector<std::string> all;
  for (const auto& f : files)
    if (kind_of(f) == "snapshots") all.push_back(f);
  if (choice.all) return all;
  std::vector<std::string> out;
  for (const auto& ref : choice.ids) {
    if (ref.size() < 4 || ref.size() > 64 || ref.find_first_not_of("0123456789abcdef") != std::string::npos)
      throw InputError("'" + ref + "' is not a snapshot id (4 to 64 hex digits, as `snapshot list` shows)");
    std::vector<std::string> hits;
    for (const auto& f : all)
      if (file_name(f).starts_with(ref)) hits.push_back(f);
    if (hits.empty()) throw InputError("no snapshot " + ref + " in " + where);
    if (hits.size() > 1) throw InputError("snapshot id prefix " + ref + " is ambiguous; give more digits");
    if (std::find(out.begin(), out.end(), hits.front()) == out.end()) out.push_back(hits.front());
  }
  return out;
}

/// Writes one file under a temporary name on the target; returns it with the SHA-256 of the
/// bytes that left the source, for place_checked().
Side::Arrival send(Side& from, Side& to, const std::string& rel, CopyProgress& progress) {
  store::Sha256 h;
  auto count = [&](const char* d, std::size_t n) {
    h.update({reinterpret_cast<const std::uint8_t*>(d), n});
    progress.bytes_sent += n;
  };
  std::string temp;
  if (from.can_pull()) {
    Side::Pull next = from.reader(rel);
    temp = to.write_pull(rel, [&]() {
      std::string piece = next();
      count(piece.data(), piece.size());
      return piece;
    });
  } else {
    temp = to.write_push(rel, [&](const Side::Sink& sink) {
      from.read_into(rel, [&](const char* d, std::size_t n) {
        count(d, n);
        sink(d, n);
      });
    });
  }
  return {temp, rel, h.finish().hex()};
}

/// Files sent but not yet checked. They are checked and placed together (every kFiles files
/// or kBytes), in the background while the next ones are sent: hashing on the host overlaps the
/// transfer. One check runs at a time; wait() ends a stage with all of it checked.
class Batch {
 public:
  static constexpr std::size_t kFiles = 64;
  static constexpr std::uint64_t kBytes = 64ull * 1024 * 1024;
  explicit Batch(Side& to) : to_(to) {}
  ~Batch() {
    if (running_.valid()) running_.wait();  // an error is already on its way up
  }
  void add(Side::Arrival a, std::uint64_t bytes) {
    pending_.push_back(std::move(a));
    bytes_ += bytes;
    if (pending_.size() >= kFiles || bytes_ >= kBytes) start();
  }
  /// Checks and places everything sent so far; rethrows a check's Failure.
  void wait() {
    start();
    if (running_.valid()) running_.get();
  }

 private:
  void start() {
    if (pending_.empty()) return;
    if (running_.valid()) running_.get();
    running_ = std::async(std::launch::async, [this, files = std::move(pending_)] { to_.place_checked(files); });
    pending_.clear();
    bytes_ = 0;
  }

  Side& to_;
  std::vector<Side::Arrival> pending_;
  std::uint64_t bytes_ = 0;
  std::future<void> running_;
};

/// Compares what the target's hasher says of each file with the source's; Failure naming the
/// first file that differs or is missing.
void verify(Side& to, const std::map<std::string, std::string>& expected) {
  if (expected.empty()) return;
  std::vector<std::string> rels;
  for (const auto& [rel, _] : expected) rels.push_back(rel);
  const auto got = to.hash(rels);
  for (const auto& [rel, want] : expected) {
    auto it = got.find(rel);
    if (it == got.end()) throw Failure(to.describe() + "/" + rel + ": missing on the target");
    if (it->second != want)
      throw Failure(to.describe() + "/" + rel + ": the copy is damaged: SHA-256 " + it->second.substr(0, 16) +
                    "… there, " + want.substr(0, 16) + "… at the source");
  }
}

/// Writes `content` under a temporary name on the target, as send() does a file of the source.
Side::Arrival send_bytes(Side& to, const std::string& rel, const std::string& content, CopyProgress& progress) {
  bool given = false;
  const std::string temp = to.write_pull(rel, [&] {
    if (given) return std::string();
    given = true;
    progress.bytes_sent += content.size();
    return content;
  });
  return {temp, rel, store::sha256(content).hex()};
}

/// A small file sent whole (config, readers), checked and placed.
void send_small(Side& to, const std::string& rel, const std::string& content) {
  CopyProgress uncounted;
  to.place_checked({send_bytes(to, rel, content, uncounted)});
}

/// Refuses a target that is another repository, or a directory holding anything else; true
/// when it has no config yet. A target without a config whose files all come from the source
/// is a first copy that was interrupted: it is carried on. Writes nothing.
bool check_target(Side& from, Side& to, const std::set<std::string>& src_files, const Side::Listing& dst,
                  const std::string& src_config) {
  const std::string src_id = config_id(src_config, from.describe());
  if (dst.files.count("config")) {
    const auto dst_config = to.read_small("config");
    const std::string dst_id = config_id(dst_config.value_or(""), to.describe());
    if (dst_id != src_id)
      throw InputError(to.describe() + " is another repository (id " + dst_id.substr(0, 8) + ", the source's is " +
                       src_id.substr(0, 8) + "): a copy goes only into a copy of the same repository");
    return false;
  }
  bool foreign = !dst.others.empty();
  for (const auto& rel : dst.files) foreign = foreign || !src_files.count(rel);
  if (foreign)
    throw InputError(to.describe() + " is not empty and not a drctl repository: copy needs an empty or new directory");
  return true;
}

/// Makes the target a repository like the source: keys/ before config, so a config that names
/// an encrypted repository is never there without its keys.
void make_target(Side& from, Side& to, const std::set<std::string>& src_files, const Side::Listing& dst,
                 const std::string& src_config, CopyProgress& progress) {
  to.make_dirs({"data", "index", "snapshots", "keys", "tmp"});
  Batch keys(to);
  for (const auto& rel : src_files)
    if (kind_of(rel) == "keys" && !dst.files.count(rel)) keys.add(send(from, to, rel, progress), 0);
  keys.wait();
  send_small(to, "readers", "");
  send_small(to, "config", src_config);
}

/// Holds the target's lock for the copy's length.
class TargetLock {
 public:
  explicit TargetLock(Side& to) : to_(to) { to_.lock(); }
  ~TargetLock() {
    try {
      to_.unlock();
    } catch (...) {  // the error that ends the copy says more; a stale lock is taken over next time
    }
  }

 private:
  Side& to_;
};

}  // namespace

CopyStats copy_repository(Side& from, Side& to, const CopyChoice& choice, CopyProgress& progress) {
  CopyStats stats;
  // Manifests and index files from one listing, packs from a second one taken after it: a writer
  // makes packs visible before the index files and manifests that need them, and a prune waits
  // for this copy's read lock, so every pack a listed manifest needs is in the second listing
  // even when a backup finishes while the first is taken.
  const std::set<std::string> listed_first = from.list().files;
  std::set<std::string> src_files = from.list().files;
  std::erase_if(src_files, [&](const std::string& rel) { return kind_of(rel) != "data" && !listed_first.count(rel); });
  const std::vector<std::string> manifests = chosen_manifests(src_files, choice, from.describe());
  // Chosen snapshots take only the packs they need, and index files made for those packs.
  std::optional<CopyNeeds> needs;
  if (!choice.all && choice.needs) {
    needs = choice.needs(manifests);
    for (const auto& rel : needs->packs)
      if (!src_files.count(rel)) throw Failure(from.describe() + "/" + rel + ": a chosen snapshot needs this pack, which is missing");
  }
  const auto src_config = from.read_small("config");
  if (!src_config) throw InputError(from.describe() + " is not a drctl repository (it has no config file)");
  check_target(from, to, src_files, to.list(), *src_config);  // refused before anything is written
  to.make_dirs({});
  TargetLock lock(to);
  Side::Listing dst = to.list();  // again, under the lock
  to.remove(dst.temporaries);     // an interrupted copy's: none of them has its final name
  stats.temporaries_removed = dst.temporaries.size();
  if (check_target(from, to, src_files, dst, *src_config)) {
    make_target(from, to, src_files, dst, *src_config, progress);
    stats.created = true;
  }
  const std::set<std::string> dst_files = to.list().files;

  // Every pack and index file for --all (they are shared by snapshots), or what the chosen ones need.
  std::vector<std::vector<std::string>> stages(4);
  for (const auto& rel : src_files) {
    const std::string kind = kind_of(rel);
    if (kind == "keys") stages[0].push_back(rel);
    else if (kind == "data" && (!needs || needs->packs.count(rel))) stages[1].push_back(rel);
    else if (kind == "index" && !needs) stages[2].push_back(rel);
  }
  if (needs)
    for (const auto& [rel, _] : needs->index_files) stages[2].push_back(rel);
  stages[3] = manifests;
  for (auto& stage : stages)
    for (const auto& rel : stage)
      if (!dst_files.count(rel)) ++progress.files_total;

  std::set<std::string> data_dirs;
  for (const auto& rel : stages[1])
    if (!dst_files.count(rel)) data_dirs.insert(rel.substr(0, rel.rfind('/')));
  if (!data_dirs.empty()) to.make_dirs({data_dirs.begin(), data_dirs.end()});

  std::vector<std::string> present;  // on both sides before this copy: --verify-all checks them
  for (const auto& stage : stages) {
    Batch batch(to);
    for (const auto& rel : stage) {
      const bool made = needs && needs->index_files.count(rel);  // made for this copy, not a file of the source
      if (dst_files.count(rel)) {
        ++stats.files_present;
        if (!made) present.push_back(rel);  // a made one is sealed anew each time: its bytes differ
        continue;
      }
      const std::uint64_t before = progress.bytes_sent;
      Side::Arrival arrival = made ? send_bytes(to, rel, needs->index_files.at(rel), progress) : send(from, to, rel, progress);
      batch.add(std::move(arrival), progress.bytes_sent - before);
      ++progress.files_done;
      ++stats.files_sent;
      ++stats.files_verified;
      if (kind_of(rel) == "snapshots") ++stats.snapshots_sent;
    }
    batch.wait();  // a stage is whole and checked on the target before the next one starts
  }
  stats.bytes_sent = progress.bytes_sent;
  if (choice.verify_all && !present.empty()) {
    verify(to, from.hash(present));
    stats.files_verified += present.size();
  }
  return stats;
}

}  // namespace drctl::offsite
