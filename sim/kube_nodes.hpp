// The simulated cluster's nodes as the API server knows them: address, the CA their kubelet
// trusts, pod CIDR index, role, power and readiness; and the Node objects served for them.
// Timing (NotReady after the grace period, eviction) is the cluster's: it spans pods too.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/engine.hpp"
#include "sim/kube_setup.hpp"
#include "sim/kube_store.hpp"

namespace drctl::sim {

/// The kubelet's Ready message while containerd has no CNI configuration (Kubernetes 1.28 with
/// containerd 1.6/1.7: the runtime's NetworkReady condition quoted by the kubelet).
inline constexpr const char* kNetworkNotReady =
    "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin "
    "returns error: cni plugin not initialized";

/// One node's state.
struct KubeNodeState {
  std::string address, ca;  // ca: the cluster CA its kubelet trusts
  int index = 0;            // its pod CIDR: the index-th /24 of the pod subnet
  bool control_plane = false, up = true, ready = false;
  /// The kubelet posts the node's status: once registered and its images are pulled, until the
  /// machine stops. Ready needs a pod network besides (a CNI configuration on the node).
  bool kubelet = false;
  std::uint64_t generation = 0;  // bumped on every power change: stale timers do nothing
  Duration since{0}, registered{0};
};

class KubeNodes {
 public:
  /// `setup` (pod subnet, version) and `store` (the revision shown) outlive the nodes.
  KubeNodes(const KubeSetup& setup, const KubeStore& store);

  /// Registers (or re-registers) a node at `now`: up, not Ready yet, keeping its pod CIDR unless
  /// the cluster's CA changed. Returns its new generation, for the timer that makes it Ready.
  std::uint64_t register_node(const std::string& name, const std::string& address, bool control_plane, Duration now);
  /// Every node by name.
  const std::map<std::string, KubeNodeState>& states() const { return states_; }
  std::map<std::string, KubeNodeState>& states() { return states_; }
  /// The Node object the API server serves for `name`.
  nlohmann::json node_json(const std::string& name, const KubeNodeState& n) const;
  /// The nodes' names (only the Ready ones when `ready_only`).
  std::vector<std::string> names(bool ready_only) const;

 private:
  const KubeSetup& setup_;
  const KubeStore& store_;
  std::map<std::string, KubeNodeState> states_;
};

}  // namespace drctl::sim
