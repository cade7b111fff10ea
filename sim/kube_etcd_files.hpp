// etcd on the simulated control plane as kubeadm sets it up: its data dir, and
// how this simulator marks the snapshots and data files it writes (kubeadm writes the data dir's
// files at init, etcdctl/etcdutl at a restore).
#pragma once

namespace drctl::sim {

/// The first line of every snapshot and db file this simulator writes.
inline constexpr const char* kSnapshotMagic = "drctl-sim etcd snapshot";
inline constexpr const char* kEtcdDb = "/var/lib/etcd/member/snap/db";
inline constexpr const char* kEtcdWal = "/var/lib/etcd/member/wal/0000000000000000-0000000000000000.wal";
inline constexpr const char* kEtcdDataDir = "/var/lib/etcd";

}  // namespace drctl::sim
