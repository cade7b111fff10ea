// kubeadm on the simulated cluster, a front end over its pieces: `init` decides the cluster's
// setup and starts the control plane (fresh, or on etcd data already in /var/lib/etcd), `join`
// registers a node with a bootstrap token, `token` issues and lists them, `reset` undoes a node.
// kubeadm is the release the site pins (KubeVersions::kubernetes): the configuration API versions
// it reads, its messages, the control-plane versions it deploys. The addresses it is given are
// dialled from the node it runs on over the site's network (KubeWorld::dial), never compared.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/engine.hpp"
#include "sim/kube_controllers.hpp"
#include "sim/kube_etcd.hpp"
#include "sim/kube_nodes.hpp"
#include "sim/kube_setup.hpp"
#include "sim/kube_store.hpp"
#include "sim/kube_types.hpp"

namespace drctl::sim {

/// What kubeadm needs of the cluster beyond its pieces.
struct KubeAdmHooks {
  std::function<bool()> api_up;                                  // the API server answers
  std::function<void()> apiserver_manifest_written;              // init wrote kube-apiserver.yaml
  std::function<void(const nlohmann::json& restored)> start_api;  // the API starts on these objects
  std::function<void()> changed;                                 // objects, pods or nodes changed
  std::function<void(const std::string& node)> kubelet_started;   // a node's kubelet posts its status
};

class KubeAdm {
 public:
  /// Every reference outlives kubeadm; `setup` is the one kubeadm writes.
  KubeAdm(Engine& engine, KubeSetup& setup, KubeStore& store, KubeNodes& nodes, KubeControllers& controllers,
          KubeEtcd& etcd, const KubeVersions& versions, const KubeWorld& world, KubeAdmHooks hooks);

  /// `kubeadm ARGV` run on `node` with its files: see KubeCluster::kubeadm.
  KubeResult run(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files);
  /// The control plane is gone (wiped, or its node destroyed): its bootstrap tokens with it.
  void forget_tokens() { tokens_.clear(); }

 private:
  KubeResult init(const KubeNode& node, const std::vector<std::string>& args, const KubeFiles& files);
  KubeResult join(const KubeNode& node, const std::vector<std::string>& args, const KubeFiles& files);
  KubeResult token(const KubeNode& node, const std::vector<std::string>& args, const KubeFiles& files);
  KubeResult reset(const KubeNode& node, const std::vector<std::string>& args, const KubeFiles& files);
  /// `init` breaks the line before the hash (" \\\n\t"), `token create` prints one line (" ");
  /// `endpoint`: the API server's host:port as the command's kubeconfig names it.
  std::string join_command(const std::string& endpoint, const std::string& token, const std::string& break_before_hash) const;
  /// `node` opens a TLS connection to the API server at `endpoint` (host:port): "" when it reaches
  /// this cluster's API server and its certificate names the host, else Go's error after "dial tcp …"
  /// ("dial tcp 10.0.20.9:6443: connect: connection refused", "x509: certificate is valid for …").
  std::string reach_api(const KubeNode& node, const std::string& endpoint, const std::string& what);
  void write_node_files(const KubeNode& node, const KubeFiles& files, bool control_plane) const;
  /// Registers the node; its kubelet reports Ready 5–15 s later.
  void add_node(const KubeNode& node, bool control_plane);

  Engine& engine_;
  KubeSetup& setup_;
  KubeStore& store_;
  KubeNodes& nodes_;
  KubeControllers& controllers_;
  KubeEtcd& etcd_;
  const KubeVersions& versions_;
  const KubeWorld& world_;
  KubeAdmHooks hooks_;
  std::map<std::string, Duration> tokens_;  // "id.secret" -> expiry
};

}  // namespace drctl::sim
