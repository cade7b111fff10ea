// TrueNAS's storage as the simulator sees it: one ZFS pool with its capacity, datasets with
// quotas and snapshots (`zfs`), and NFS shares with allowed networks (`midclt call sharing.nfs.*`).
// Files themselves live in the NAS machine's SimHost; it asks fits()/commit() before they grow.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/engine.hpp"

namespace drctl::sim {

/// What a pool holds besides its files, as its data disk keeps it (sim/disk_image.hpp writes it
/// out): datasets with their bytes, quotas and snapshots, and the NFS shares.
struct PoolState {
  std::string pool;
  std::int64_t pool_bytes = 0;
  struct Dataset {
    std::string name;
    std::int64_t bytes = 0;
    std::optional<std::int64_t> quota;
    std::vector<std::pair<std::string, std::int64_t>> snapshots;  // name, bytes; oldest first
  };
  std::vector<Dataset> datasets;  // parents before children
  struct Share {
    int id = 0;
    std::string path, comment;
    std::vector<std::string> networks;
    bool enabled = true;
  };
  std::vector<Share> shares;
  bool operator==(const PoolState&) const = default;
};

/// ZFS datasets with quota (and the pool's capacity), and NFS shares with allowed networks.
/// Datasets mount at /mnt/POOL/DS; the pool's root dataset (named POOL) always exists.
class NasStorage {
 public:
  NasStorage(Engine& engine, std::string pool, std::int64_t pool_bytes);
  /// The pool as its disk held it (imported at boot: datasets, quotas, snapshots and shares).
  NasStorage(Engine& engine, const PoolState& state);
  /// The pool as its disk holds it now.
  PoolState state() const;
  const std::string& pool() const { return pool_; }

  /// What a command printed and its exit code (zfs: 1 for a failed operation, 2 for bad usage;
  /// 127 for a subcommand or method the simulator does not model).
  struct Result {
    int code = 0;
    std::string out, err;
  };
  /// `zfs …` with argv[0] = "zfs": `create [-p] [-o quota=SIZE]… DS`, `set quota=SIZE DS…`,
  /// `list [-H] [-p] [-r] [-t filesystem|snapshot|all] [-o name,used,avail,refer,quota,mountpoint] [DS…]`,
  /// `destroy [-r] DS|DS@SNAP`, `snapshot DS@SNAP…` (kept, counted as 0 bytes), `rollback [-r] DS@SNAP`
  /// (the dataset's own bytes go back to what they were at the snapshot). Sizes as zfs accepts them
  /// (10G, 512M, 1.5T, 100, none); errors with zfs's texts ("cannot create 'tank/a/b': parent does
  /// not exist", "… dataset already exists", "cannot open 'tank/x': dataset does not exist").
  /// The properties compression, atime, recordsize and sync are accepted and have no effect.
  Result zfs(const std::vector<std::string>& argv);
  /// `midclt call sharing.nfs.create '{"path": "/mnt/POOL/DS", "networks": ["10.0.20.0/24"]}'` (also
  /// "comment", "enabled"; the path must be a dataset's mountpoint) prints the share as JSON;
  /// `midclt call sharing.nfs.query ['[["path", "=", "/mnt/…"]]']` prints the shares (filters with "=").
  Result midclt(const std::vector<std::string>& argv);

  /// The dataset a path is in (the deepest one whose mountpoint holds it), "" when none.
  std::string dataset_of(const std::string& path) const;
  /// Accounting hook for the file system (SimHost::set_storage): can `path` grow by `delta` bytes
  /// (negative = shrink, always fits)? The quota of its dataset and of every ancestor is honoured
  /// ("Disk quota exceeded (…)", ZFS's EDQUOT), then the pool's capacity ("No space left on device
  /// (…)"); the parenthesis names the dataset or pool and the numbers. Paths outside the pool fit.
  bool fits(const std::string& path, std::int64_t delta, std::string* why) const;
  /// Records a change fits() allowed (a dataset never goes below 0 bytes).
  void commit(const std::string& path, std::int64_t delta);
  /// Is `client_ip` allowed to mount `path` over NFS? The deepest enabled share covering the path
  /// decides: its networks include the client, or it has none (everyone). why = the refusal,
  /// "access denied by server while mounting PATH (…the cause…)".
  bool nfs_allows(const std::string& path, const std::string& client_ip, std::string* why) const;
  /// Fault: fills a dataset — its used bytes grow by what it has available, i.e. up to its quota
  /// (or an ancestor's), or until the pool is at its capacity. Unknown datasets throw std::invalid_argument.
  void fill(const std::string& dataset);
  /// The datasets (not snapshots), parents before children, as `zfs list` orders them.
  std::vector<std::string> datasets() const;
  /// Bytes used by a dataset and its descendants (its own data: its files).
  std::int64_t used(const std::string& dataset) const;
  /// What the dataset may still grow by: its quotas and the pool's free space, whichever is least.
  std::int64_t available(const std::string& dataset) const;

 private:
  struct Snapshot {
    std::string name;
    std::int64_t bytes = 0;  // the dataset's own bytes when it was taken
  };
  struct Dataset {
    std::int64_t bytes = 0;              // its own data, not its children's
    std::optional<std::int64_t> quota;   // on used(): itself and its descendants
    std::vector<Snapshot> snapshots;     // oldest first
  };
  struct Share {
    int id = 0;
    std::string path, comment;
    std::vector<std::string> networks;  // CIDRs; empty: everyone
    bool enabled = true;
  };

  Result create(const std::vector<std::string>& args);
  Result set(const std::vector<std::string>& args);
  Result list(const std::vector<std::string>& args) const;
  Result destroy(const std::vector<std::string>& args);
  Result snapshot(const std::vector<std::string>& args);
  Result rollback(const std::vector<std::string>& args);
  Result nfs_create(const std::string& arg);
  Result nfs_query(const std::string& arg) const;

  /// Why `name` is not a valid dataset (or, with `snapshot`, DS@SNAP) name, "" when it is.
  std::string invalid_name(const std::string& name, bool snapshot) const;
  /// Datasets strictly below `name`, in list order.
  std::vector<std::string> descendants(const std::string& name) const;
  std::int64_t pool_used() const;
  static std::string mountpoint(const std::string& dataset) { return "/mnt/" + dataset; }
  static nlohmann::json share_json(const Share& s);

  Engine& engine_;
  std::string pool_;
  std::int64_t pool_bytes_;
  std::map<std::string, Dataset> datasets_;
  std::vector<Share> shares_;
  int next_share_id_ = 1;
};

/// A size as zfs reads it: "10G", "512M", "1.5T", "10GB", "4096" (bytes); nullopt when it is not one.
std::optional<std::int64_t> parse_zfs_size(const std::string& text);
/// A size as `zfs list` prints it: "0B", "512B", "10G", "1.50G", "10.5G", "100G".
std::string format_zfs_size(std::int64_t bytes);

}  // namespace drctl::sim
