// The simulated cluster's controllers, scheduler and kubelets: pods of Deployments,
// StatefulSets, DaemonSets and bare Pods, PVCs binding to PVs, pod IPs and readiness, workload
// status and Service endpoints. They read and write the store and read the nodes; they tell
// the cluster of a change through a callback.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "sim/engine.hpp"
#include "sim/kube_nodes.hpp"
#include "sim/kube_setup.hpp"
#include "sim/kube_store.hpp"

namespace drctl::sim {

/// A pod as the kubelet runs it. `owner` is "Deployment/web", "" for a bare Pod.
struct KubePod {
  std::string ns, name, node, ip;
  nlohmann::json labels;
  bool ready;
  std::string owner;
};

/// A ready endpoint of a Service: the pod, its node and IP, and the container port.
struct KubeEndpoint {
  std::string pod, node, ip;
  int port;
};

/// A pod's state (the kubelet's and the scheduler's view).
struct KubePodState {
  std::string ns, name, node, ip, owner_kind, owner_name;
  nlohmann::json labels, spec;
  bool ready = false;
  std::uint64_t uid = 0, revision = 0;
  Duration created{0};
};

class KubeControllers {
 public:
  /// `api_up` says whether the API server runs (controllers act only then); `changed` is called
  /// when a pod gets ready by itself (a timer), `started` with the pod first. Every reference
  /// outlives the controllers.
  KubeControllers(Engine& engine, const KubeSetup& setup, KubeStore& store, const KubeNodes& nodes,
                  std::function<bool()> api_up, std::function<void()> changed,
                  std::function<void(const KubePodState&)> started = {});

  /// Brings pods, PVC bindings and workloads in line with the store and the nodes.
  void reconcile();
  /// Places a pod on a node (its own, or the scheduler's pick) or leaves it pending; it gets
  /// ready 2–10 s later if its node is Ready, or (a host-network pod) if its kubelet runs.
  void schedule(KubePodState pod);
  /// Every pod by namespace and name.
  const std::map<std::pair<std::string, std::string>, KubePodState>& pod_states() const { return pods_; }
  std::map<std::pair<std::string, std::string>, KubePodState>& pod_states() { return pods_; }
  /// `node` became Ready: its pods waiting for a pod network start now.
  void node_ready(const std::string& node);
  /// A fresh pod uid (a restarted pod gets one).
  std::uint64_t next_uid() { return next_uid_++; }
  /// Forgets which pod IPs each node handed out last (a new cluster CA: new nodes).
  void clear_pod_hosts() { next_pod_host_.clear(); }

  /// The Pod object the API server serves for a pod.
  nlohmann::json pod_json(const KubePodState& p) const;
  /// status of a Deployment, StatefulSet or DaemonSet from its pods.
  nlohmann::json workload_status(const std::string& kind, const nlohmann::json& obj) const;
  /// The pods as the world sees them.
  std::vector<KubePod> pods() const;
  /// Ready endpoints of a Service for a service port, resolving targetPort (number or name).
  std::vector<KubeEndpoint> endpoints(const std::string& ns, const std::string& service, int port) const;
  /// The same, for a service port given by its name.
  std::vector<KubeEndpoint> endpoints(const std::string& ns, const std::string& service,
                                      const std::string& port_name) const;

 private:
  void reconcile_volumes();
  void reconcile_workload(const std::string& kind, const nlohmann::json& obj);
  bool claims_bound(const KubePodState& pod) const;
  /// Starts the pod 2–10 s from now if it can then run on its node.
  void start_later(const std::pair<std::string, std::string>& key, std::uint64_t uid);
  static bool can_start(const KubePodState& pod, const KubeNodeState& node);
  std::vector<std::string> eligible_nodes(const nlohmann::json& pod_spec) const;
  std::string next_pod_ip(const std::string& node);
  std::vector<KubeEndpoint> endpoints_for(const std::string& ns, const std::string& service,
                                          const std::function<bool(const nlohmann::json&)>& is_port) const;

  Engine& engine_;
  const KubeSetup& setup_;
  KubeStore& store_;
  const KubeNodes& nodes_;
  std::function<bool()> api_up_;
  std::function<void()> changed_;
  std::function<void(const KubePodState&)> started_;
  std::map<std::pair<std::string, std::string>, KubePodState> pods_;  // ns, name
  std::uint64_t next_uid_ = 1;
  std::map<std::string, int> next_pod_host_;  // node -> last pod IP host part
};

}  // namespace drctl::sim
