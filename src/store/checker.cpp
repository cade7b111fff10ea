#include "store/checker.hpp"

#include <memory>
#include <random>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>

#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "store/compress.hpp"
#include "base/error.hpp"
#include "store/files.hpp"
#include "store/walk.hpp"

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
      if (repo_.pack_size(pack).value_or(0) < end + kPackTrailerSize) {
        report_.errors.push_back("pack " + pack.short_hex() + " is truncated");
        for (const auto& e : entries) damaged_.insert(e.id);
      }
    }
    for (const Id& id : on_disk)
      if (!indexed_packs_.contains(id))
        report_.warnings.push_back("pack " + id.short_hex() +
                                   " is not in the index (left by an interrupted write, or its index file was lost; `prune` keeps what snapshots need from it and removes the rest)");
  }

  void read_all_data(const std::function<void(std::size_t, std::size_t)>& progress,
                     const std::function<bool(const Id&)>& read_only) {
    std::size_t done = 0;
    for (const auto& [pack, entries] : indexed_packs_) {
      if (progress) progress(done++, indexed_packs_.size());
      if (read_only && !read_only(pack)) continue;
      Bytes data;
      try {
        data = repo_.read_pack(pack);
      } catch (const std::exception& e) {
        continue;  // already reported as missing
      }
      report_.packs_read++;
      report_.bytes_read += data.size();
      if (sha256(data) != pack) report_.errors.push_back("pack " + pack.short_hex() + " is damaged (hash mismatch)");
      if (repo_.encrypted()) check_sealed_header(pack);
      for (const auto& e : entries) {
        report_.blobs_checked++;
        if (std::uint64_t(e.offset) + e.length > data.size()) {
          damaged_.insert(e.id);
          continue;
        }
        try {
          repo_.open_blob(pack, e, std::span<const std::uint8_t>(data.data() + e.offset, e.length));
        } catch (const Failure&) {
          damaged_.insert(e.id);
        }
      }
    }
    if (progress) progress(done, indexed_packs_.size());
  }

  /// A sealed pack header that does not open is damage, even while the index still knows
  /// the blobs it lists (rebuild-index and prune read it).
  void check_sealed_header(const Id& pack) {
    try {
      repo_.read_pack_header(pack);
    } catch (const Failure& e) {
      report_.errors.push_back("pack " + pack.short_hex() + ": its header is damaged (" + e.what() + ")");
    }
  }

  /// Walks every snapshot; reports each damaged or missing file and directory under it, and
  /// trees a walk could not finish (cycles, depth, more entries than the counts allow).
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
      for (const auto& sec : s.sections) check_section_trees(id, sec);
    }
  }

 private:
  /// What verify found in one tree: why it cannot be read, or its damaged files and its
  /// directories (in name order) until the problems under them are known.
  struct Record {
    std::string unreadable;
    std::vector<std::pair<std::string, std::string>> files;  // name, problem
    std::size_t dirs = 0;
    std::vector<std::size_t> order;  // in name order: 2i for files[i], 2i + 1 for the tree's i-th directory
  };

  /// Section-relative paths (with the problem) of what is damaged under one tree; at most
  /// kMaxListed, so a subtree shared many times does not repeat its problems without end.
  struct Problems {
    std::vector<std::string> lines;
    bool truncated = false;
  };
  static constexpr std::size_t kMaxListed = 100;

  void check_section_trees(const Id& snapshot, const Section& sec) {
    const std::string where = "snapshot " + snapshot.short_hex() + ": " + sec.name;
    if (sec.root) {
      if (!blob_ok(*sec.root)) {
        report_.errors.push_back(where + ": root directory metadata is damaged or missing");
      } else {
        try {
          check_section_root(sec, repo_.load_tree(*sec.root));
        } catch (const TreeDamage& d) {
          report_.errors.push_back(where + ": " + d.problem);
        } catch (const Failure& e) {
          report_.errors.push_back(where + ": root directory metadata is damaged (" + e.what() + ")");
        }
      }
    }
    try {
      check_budget(sec, graph_.explore(sec.tree));
    } catch (const TreeDamage& d) {
      report_.errors.push_back(where + (d.path.empty() ? "" : "/" + d.path) + ": " + d.problem);
      return;
    }
    const Problems& found = problems_.at(sec.tree);
    for (const auto& problem : found.lines) report_.errors.push_back(where + "/" + problem);
    if (found.truncated) report_.errors.push_back(where + ": more damaged entries than listed here");
  }

  bool blob_ok(const Id& id) { return !damaged_.contains(id) && repo_.index().contains(id); }

  /// TreeGraph's loader: reads a tree once, noting its damaged files; an unreadable tree is a
  /// leaf with its problem noted.
  TreeShape load(const Id& tree_id) {
    Record& rec = records_[tree_id];
    rec = Record{};
    Bytes raw;
    try {
      if (!blob_ok(tree_id)) throw Failure("not in the index");
      raw = repo_.read_blob(tree_id);
    } catch (const Failure&) {
      damaged_.insert(tree_id);
      rec.unreadable = "directory listing (tree " + tree_id.short_hex() + ") is damaged or missing";
      return {};
    }
    Tree tree;
    try {
      tree = decode_tree(raw);
    } catch (const Failure& e) {
      rec.unreadable = "directory listing (tree " + tree_id.short_hex() + ") is damaged (" + e.what() + ")";
      return {};
    }
    for (const Node& n : tree.nodes) {
      if (n.type == NodeType::Dir) {
        rec.order.push_back(2 * rec.dirs++ + 1);
        continue;
      }
      for (const Part& p : n.content)
        if (p.blob && !blob_ok(*p.blob)) {
          rec.order.push_back(2 * rec.files.size());
          rec.files.emplace_back(n.name, "content chunk " + p.blob->short_hex() +
                                             (repo_.index().contains(*p.blob) ? " is damaged" : " is missing"));
          break;
        }
    }
    return shape_of(tree);
  }

  /// TreeGraph's post-order step: the problems under a tree from its own and its directories'.
  void done(const Id& tree_id, const TreeShape& shape) {
    Record rec = std::move(records_.at(tree_id));
    records_.erase(tree_id);
    Problems out;
    auto add = [&](std::string line) {
      if (out.lines.size() < kMaxListed) out.lines.push_back(std::move(line));
      else out.truncated = true;
    };
    if (!rec.unreadable.empty()) add(": " + rec.unreadable);
    for (std::size_t k : rec.order) {
      if (k % 2 == 0) {
        add(rec.files[k / 2].first + ": " + rec.files[k / 2].second);
        continue;
      }
      const auto& [name, subtree] = shape.dirs[k / 2];
      const Problems& sub = problems_.at(subtree);
      out.truncated = out.truncated || sub.truncated;
      for (const auto& line : sub.lines) add(line.starts_with(":") ? name + line : name + "/" + line);
    }
    problems_[tree_id] = std::move(out);
  }

  const Repository& repo_;
  VerifyReport& report_;
  std::map<Id, std::vector<BlobEntry>> indexed_packs_;
  std::unordered_set<Id> damaged_;
  std::unordered_map<Id, Record> records_;     // trees read whose subtrees are not all known yet
  std::unordered_map<Id, Problems> problems_;  // every tree TreeGraph has finished
  TreeGraph graph_{[this](const Id& id) { return load(id); },
                   [this](const Id& id, const TreeShape& shape) { done(id, shape); }};
};

}  // namespace

VerifyReport verify_repository(const Repository& repo, bool read_data,
                               const std::function<void(std::size_t, std::size_t)>& progress,
                               const std::function<bool(const Id& pack)>& read_only) {
  VerifyReport report;
  Checker c(repo, report);
  c.check_index_files();
  c.check_packs_exist();
  if (read_data) c.read_all_data(progress, read_only);
  c.check_snapshots();
  return report;
}

std::function<bool(const Id& pack)> pack_subset(const std::string& text) {
  const auto bad = [&] {
    return std::invalid_argument("'" + text + "' is not a subset: n/t (part n of t, 1 <= n <= t) or x% (a random share, 0 < x <= 100)");
  };
  if (!text.empty() && text.back() == '%') {
    std::size_t used = 0;
    double percent = 0;
    try {
      percent = std::stod(text.substr(0, text.size() - 1), &used);
    } catch (const std::exception&) {
      throw bad();
    }
    if (used != text.size() - 1 || !(percent > 0) || percent > 100) throw bad();
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    return [rng, percent](const Id&) { return std::uniform_real_distribution<double>(0, 100)(*rng) < percent; };
  }
  const auto slash = text.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == text.size() ||
      text.find_first_not_of("0123456789/") != std::string::npos || text.find('/', slash + 1) != std::string::npos ||
      slash > 9 || text.size() - slash - 1 > 9)
    throw bad();
  const std::uint32_t n = static_cast<std::uint32_t>(std::stoul(text.substr(0, slash)));
  const std::uint32_t t = static_cast<std::uint32_t>(std::stoul(text.substr(slash + 1)));
  if (n < 1 || t < 1 || n > t) throw bad();
  return [n, t](const Id& pack) {
    const auto* b = pack.bytes.data();
    const std::uint32_t head = (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
    return head % t == n - 1;
  };
}

}  // namespace drctl::store
