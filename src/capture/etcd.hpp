// etcd snapshots: taken with etcdctl on a host (a kubeadm control-plane node, locally or over
// SSH, only through world::Host), streamed into a snapshot section as `etcd.db` beside
// `etcd.json` (the etcd version and when it was taken), and restored into a new data directory
// on a host by `etcdutl`/`etcdctl snapshot restore`, refusing a snapshot of another etcd
// major.minor version and an existing data directory that is not empty.
//
// Memory: the db streams from the host into the repository through Host::run_stream and a
// FileWriter (one chunker window, 4 MiB by default), and back through run_stream's stdin
// reader, one chunk at a time: bounded when the Host streams (a Host that does not holds the
// whole db once, see Host::run_stream).
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "capture/nas.hpp"
#include "store/repository.hpp"
#include "world/world.hpp"

namespace drctl::capture {

/// How to reach etcd's client API. The defaults are kubeadm's: its etcd CA, and the client
/// certificate kubeadm makes for health checks (server.crt also carries clientAuth usage).
struct EtcdEndpoint {
  std::string endpoints = "https://127.0.0.1:2379";  // comma-separated; the first that answers is used
  std::string cacert = "/etc/kubernetes/pki/etcd/ca.crt";
  std::string cert = "/etc/kubernetes/pki/etcd/healthcheck-client.crt";
  std::string key = "/etc/kubernetes/pki/etcd/healthcheck-client.key";
  world::Duration dial_timeout = std::chrono::seconds(3);  // a TLS mistake shows only as this timeout
};

/// An etcd release, "3.4.23".
struct EtcdVersion {
  int major = 0, minor = 0, patch = 0;
  std::string text;  // as read, without a leading "v"
  /// "3.4": what must match between a snapshot and the etcd restoring it.
  std::string major_minor() const { return std::to_string(major) + "." + std::to_string(minor); }
};

/// The version in "3.4.23", "v3.5.9", "3.6.0-rc.1" or the output of `etcd --version`,
/// `etcdctl version` or `etcdutl version` (the first "... version: X.Y.Z" line); nullopt if none.
std::optional<EtcdVersion> parse_etcd_version(std::string_view text);

/// What `etcd.json` records next to `etcd.db`.
struct EtcdSnapshotInfo {
  std::string etcd_version;  // the server's, from `etcdctl endpoint status`
  std::string taken_at;      // ISO 8601 UTC
  std::string host;          // the Host etcdctl ran on
  std::string endpoint;      // the endpoint the snapshot was read from
  std::uint64_t size = 0;    // bytes of etcd.db
  std::string sha256;        // of etcd.db, hex
  std::uint64_t revision = 0, total_keys = 0;  // from `etcdctl snapshot status`

  /// The JSON text stored as etcd.json.
  std::string to_json() const;
  /// Parses etcd.json; throws InputError naming `what` when it is not one.
  static EtcdSnapshotInfo from_json(const std::string& text, const std::string& what);
};

struct EtcdSaveOptions {
  std::string work_dir = "/var/tmp";  // on the host: the db is written to a fresh directory here, then removed
  world::Duration timeout = std::chrono::minutes(10);  // for `snapshot save` and for streaming the db back
};

/// A snapshot's files, stored in the repository and ready to be placed in a section.
struct EtcdFiles {
  store::Node db;    // etcd.db
  store::Node meta;  // etcd.json
  EtcdSnapshotInfo info;
};

/// Takes an etcd snapshot on `host` and stores it in `repo` (the caller holds its lock):
/// asks the endpoints for their status (a TLS or address mistake fails here, within about two
/// dial timeouts, naming the endpoint and the reason), runs `etcdctl snapshot save` into a
/// fresh directory under options.work_dir, checks it with `snapshot status`, streams it back
/// with `cat` and removes the directory, also when something fails. Throws Failure.
EtcdFiles etcd_snapshot_files(world::Host& host, const EtcdEndpoint& endpoint, store::Repository& repo,
                              Progress& progress, const EtcdSaveOptions& options = {});

/// Puts etcd.db and etcd.json at the top of `section` (e.g. `kube`, beside the objects),
/// replacing earlier ones; saves the changed trees.
void add_etcd_files(store::Repository& repo, store::Section& section, const EtcdFiles& files);

/// etcd_snapshot_files into a new section `name` holding only etcd.db and etcd.json.
store::Section capture_etcd(world::Host& host, const EtcdEndpoint& endpoint, store::Repository& repo,
                            const std::string& name, Progress& progress, const EtcdSaveOptions& options = {});

/// A snapshot db to restore: its recorded info and its bytes, piece by piece.
struct EtcdSnapshotSource {
  std::string description;            // for messages: "section kube of snapshot 1a2b3c4d"
  EtcdSnapshotInfo info;              // info.etcd_version is what the host's etcd must match
  std::function<std::string()> read;  // the next piece of the db, "" at the end
};

/// The etcd.db and etcd.json of a section (`repo` must outlive the source). Throws InputError
/// when the section holds no etcd snapshot.
EtcdSnapshotSource etcd_source_from_section(const store::Repository& repo, const store::Section& section,
                                            const std::string& description);

/// A db file on this machine (e.g. a section restored to a directory). The etcd version is
/// `etcd_version`, else read from etcd.json beside the file; InputError when neither exists.
EtcdSnapshotSource etcd_source_from_file(const std::string& path, const std::string& etcd_version = "");

struct EtcdRestoreOptions {
  std::string data_dir;                     // the new member's data directory, e.g. /var/lib/etcd
  std::string name;                         // the member's name (--name), kubeadm: the node's name
  std::string initial_advertise_peer_urls;  // e.g. https://10.0.30.11:2380
  std::string initial_cluster;              // empty: NAME=INITIAL_ADVERTISE_PEER_URLS (one member)
  std::string initial_cluster_token = "etcd-cluster";  // etcd's (and kubeadm's) default
  bool replace_existing = false;  // move a non-empty data_dir aside to DATA_DIR.replaced-TIME instead of refusing
  std::string etcd_version;       // the etcd that will serve the data, when not the host's own (kubeadm runs etcd
                                  // from an image): empty = `etcd --version`, else `etcdutl`/`etcdctl version`
  std::string work_dir = "/var/tmp";  // on the host: where the db is put before the restore, then removed
  world::Duration timeout = std::chrono::minutes(10);
};

struct EtcdRestoreResult {
  std::string data_dir;
  std::string snapshot_version, host_version;
  std::string host_version_from;  // how the host's version was learnt ("etcd --version", "given")
  std::uint64_t bytes = 0;        // of the db put on the host
  std::uint64_t revision = 0, total_keys = 0;
  std::string replaced_dir;       // where a replaced data dir was moved ("" when none)
};

/// Restores `source` into options.data_dir on `host`: refuses (InputError) a snapshot whose
/// etcd major.minor differs from the host's, naming both, and an existing data dir that is not
/// empty unless replace_existing; then streams the db to the host, runs `etcdutl snapshot
/// restore` (or `etcdctl`'s where there is no etcdutl) into a new directory beside data_dir and
/// moves it into place. etcd must not be running on data_dir. Temporary files are removed also
/// on failure. Throws Failure when a step fails, with the tool's message.
EtcdRestoreResult etcd_snapshot_restore(world::Host& host, EtcdSnapshotSource& source, const EtcdRestoreOptions& options);

}  // namespace drctl::capture
