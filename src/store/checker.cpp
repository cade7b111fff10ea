#include "store/checker.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "store/compress.hpp"
#include "store/error.hpp"
#include "store/files.hpp"

namespace drctl::store {

namespace {

class Checker {
 public:
  Checker(const Repository& repo, VerifyReport& report) : repo_(repo), report_(report) {}

  void check_index_files() {
    for (const auto& problem : repo_.index_problems()) report_.errors.push_back(problem);
  }

  void check_packs_exist() {
    std::set<Id> on_disk;
    for (const Id& id : repo_.list_packs()) on_disk.insert(id);
    for (const auto& [pack, entries] : repo_.index().by_pack()) {
      indexed_packs_[pack] = entries;
      if (!on_disk.contains(pack)) {
        report_.errors.push_back("pack " + pack.short_hex() + " is missing");
        for (const auto& e : entries) damaged_.insert(e.id);
        continue;
      }
      std::uint64_t end = 0;
      for (const auto& e : entries) end = std::max<std::uint64_t>(end, std::uint64_t(e.offset) + e.length);
      std::error_code ec;
      if (fs::file_size(repo_.pack_path(pack), ec) < end + kPackTrailerSize) {
        report_.errors.push_back("pack " + pack.short_hex() + " is truncated");
        for (const auto& e : entries) damaged_.insert(e.id);
      }
    }
    for (const Id& id : on_disk)
      if (!indexed_packs_.contains(id))
        report_.warnings.push_back("pack " + id.short_hex() +
                                   " is not in the index (left by an interrupted write, or its index file was lost; `prune` keeps what snapshots need from it and removes the rest)");
  }

  void read_all_data(const std::function<void(std::size_t, std::size_t)>& progress) {
    std::size_t done = 0;
    for (const auto& [pack, entries] : indexed_packs_) {
      if (progress) progress(done++, indexed_packs_.size());
      fs::path file = repo_.pack_path(pack);
      Bytes data;
      try {
        data = read_file(file);
      } catch (const std::exception& e) {
        continue;  // already reported as missing
      }
      report_.packs_read++;
      report_.bytes_read += data.size();
      if (sha256(data) != pack) report_.errors.push_back("pack " + pack.short_hex() + " is damaged (hash mismatch)");
      for (const auto& e : entries) {
        report_.blobs_checked++;
        if (std::uint64_t(e.offset) + e.length > data.size()) {
          damaged_.insert(e.id);
          continue;
        }
        std::span<const std::uint8_t> stored(data.data() + e.offset, e.length);
        try {
          Bytes raw = e.compression == Compression::Zstd ? decompress(stored, e.raw_length)
                                                         : Bytes(stored.begin(), stored.end());
          if (sha256(raw) != e.id) damaged_.insert(e.id);
        } catch (const Failure&) {
          damaged_.insert(e.id);
        }
      }
    }
    if (progress) progress(done, indexed_packs_.size());
  }

  /// Walks every snapshot; reports each damaged or missing file and directory under it.
  void check_snapshots() {
    std::vector<Id> ids = repo_.list_ids("snapshots");
    for (const Id& id : ids) {
      Snapshot s;
      try {
        s = repo_.load_snapshot(id);
      } catch (const std::exception& e) {
        report_.errors.push_back("snapshot " + id.short_hex() + ": " + e.what());
        continue;
      }
      for (const auto& sec : s.sections) {
        if (sec.root && !blob_ok(*sec.root))
          report_.errors.push_back("snapshot " + id.short_hex() + ": " + sec.name + ": root directory metadata is damaged or missing");
        for (const auto& problem : problems_in(sec.tree))
          report_.errors.push_back("snapshot " + id.short_hex() + ": " + sec.name + "/" + problem);
      }
    }
  }

 private:
  bool blob_ok(const Id& id) { return !damaged_.contains(id) && repo_.index().contains(id); }

  /// Section-relative paths (with the problem) of everything damaged under a tree; memoised.
  const std::vector<std::string>& problems_in(const Id& tree_id) {
    if (auto it = memo_.find(tree_id); it != memo_.end()) return it->second;
    std::vector<std::string> out;
    Tree tree;
    bool loaded = false;
    if (blob_ok(tree_id)) {
      try {
        tree = repo_.load_tree(tree_id);
        loaded = true;
      } catch (const std::exception&) {
        damaged_.insert(tree_id);
      }
    }
    if (!loaded) {
      out.push_back(std::string(": directory listing (tree ") + tree_id.short_hex() + ") is damaged or missing");
      return memo_[tree_id] = out;
    }
    for (const Node& n : tree.nodes) {
      if (n.type == NodeType::File) {
        for (const Part& p : n.content)
          if (p.blob && !blob_ok(*p.blob)) {
            out.push_back(n.name + ": content chunk " + p.blob->short_hex() +
                          (repo_.index().contains(*p.blob) ? " is damaged" : " is missing"));
            break;
          }
      } else if (n.type == NodeType::Dir && n.subtree) {
        for (const auto& sub : problems_in(*n.subtree))
          out.push_back(sub.starts_with(":") ? n.name + sub : n.name + "/" + sub);
      }
    }
    return memo_[tree_id] = out;
  }

  const Repository& repo_;
  VerifyReport& report_;
  std::map<Id, std::vector<BlobEntry>> indexed_packs_;
  std::unordered_set<Id> damaged_;
  std::unordered_map<Id, std::vector<std::string>> memo_;
};

}  // namespace

VerifyReport verify_repository(const Repository& repo, bool read_data,
                               const std::function<void(std::size_t, std::size_t)>& progress) {
  VerifyReport report;
  Checker c(repo, report);
  c.check_index_files();
  c.check_packs_exist();
  if (read_data) c.read_all_data(progress);
  c.check_snapshots();
  return report;
}

}  // namespace drctl::store
