// etcd on the simulated control plane: etcdctl, etcdutl and etcd as the machines run them — the
// release of the nodes' etcd-client package the site pins (3.2–3.5, each with its own output) —
// with kubeadm's TLS; the etcd server kubeadm deploys for the cluster's Kubernetes version;
// whether etcd runs (it holds the cluster's data, its static pod is in place, its node is up);
// its snapshots of the store; and a restored data dir that it restarts on.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/engine.hpp"
#include "sim/kube_nodes.hpp"
#include "sim/kube_setup.hpp"
#include "sim/kube_store.hpp"
#include "sim/kube_types.hpp"

namespace drctl::sim {

class KubeEtcd {
 public:
  /// `restart` starts the API server on etcd's objects when etcd restarts on restored data.
  /// Every reference outlives etcd.
  KubeEtcd(Engine& engine, const KubeSetup& setup, const KubeStore& store, const KubeNodes& nodes,
           const KubeVersions& versions, const KubeWorld& world,
           std::function<void(const nlohmann::json& objects)> restart);

  /// etcdctl of the pinned etcd-client: see KubeCluster::etcdctl.
  KubeResult etcdctl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files);
  /// etcdutl (etcd-client 3.5 ships it; older ones do not): version, snapshot status FILE [-w …],
  /// snapshot restore FILE --data-dir DIR.
  KubeResult etcdutl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files);
  /// Whether the pinned etcd-client package has etcdutl (3.5 and later).
  bool ships_etcdutl() const;
  /// etcd --version (a machine with an etcd binary: the etcd-server package, of etcd-client's release).
  KubeResult etcd(const std::vector<std::string>& argv) const;
  /// The etcd server kubeadm deploys for Kubernetes `kubernetes` (its static pod's image tag,
  /// without the "-0": "3.5.9" for 1.28).
  static std::string server_version(const Version& kubernetes);
  /// The etcd server running the cluster now (for the cluster's Kubernetes version).
  std::string server_version() const;
  /// A directory moved to `dir` on `node`: when it is etcd's data dir on the control plane, etcd
  /// restarts on the data now there.
  void data_moved(const KubeNode& node, const std::string& dir, const KubeFiles& files);
  /// etcd's data dir on the control plane now holds `data` (a snapshot this simulator wrote): etcd
  /// restarts on it, or does when its manifest is back.
  void data_replaced(const std::string& node, const std::string& data);

  /// etcd is running on the control-plane node.
  bool up() const;
  /// etcd holds the cluster's data: from `kubeadm init` or a restore until a wipe or reset.
  bool started() const { return running_; }
  void start() { running_ = true; }
  void stop() { running_ = false; }
  /// Whether etcd's static pod runs (its manifest is in /etc/kubernetes/manifests).
  bool pod() const { return pod_; }
  /// etcd's static pod started or stopped by the kubelet. Starting it hands back data restored
  /// while it was away (to restart on), if any.
  std::optional<std::string> set_pod(bool running);
  /// `kubeadm init` wrote etcd's manifest: the pod runs and no restored data waits for it.
  void pod_from_init();

 private:
  KubeResult snapshot_status(const std::vector<std::string>& argv, const KubeFiles& files, const std::string& output,
                             bool etcdutl) const;
  /// etcdctl 3.2/3.3 without ETCDCTL_API=3: the v2 etcdctl (urfave/cli).
  KubeResult etcdctl_v2(const std::vector<std::string>& argv) const;
  KubeResult snapshot_restore(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files,
                              bool deprecated);
  /// Why etcdctl cannot reach etcd at `endpoint` from `node` with these TLS files ("" when it can),
  /// in etcdctl's words (the gRPC connection error).
  std::string dial_error(const KubeNode& node, const std::string& endpoint, const std::string& cacert,
                         const std::string& cert, const std::string& key, const KubeFiles& files) const;
  /// `endpoint status -w json`'s Status of the control plane's etcd, in etcdctl's field order,
  /// with the fields the pinned etcdctl knows.
  nlohmann::ordered_json endpoint_status() const;
  /// The store as a snapshot file's bytes.
  std::string snapshot_data() const;

  Engine& engine_;
  const KubeSetup& setup_;
  const KubeStore& store_;
  const KubeNodes& nodes_;
  const KubeVersions& versions_;
  const KubeWorld& world_;
  std::function<void(const nlohmann::json&)> restart_;
  bool running_ = false;
  bool pod_ = true;                        // its manifest is in place on the control plane
  std::optional<std::string> pending_data_;  // restored while etcd's manifest was away
};

}  // namespace drctl::sim
