// The simulated cluster's nodes: registration, the Node objects the API server serves for them,
// and their names.
#include "sim/kube_nodes.hpp"

#include <algorithm>

#include "base/ipv4.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_util;

KubeNodes::KubeNodes(const KubeSetup& setup, const KubeStore& store) : setup_(setup), store_(store) {}

std::uint64_t KubeNodes::register_node(const std::string& name, const std::string& address, bool control_plane,
                                       Duration now) {
  KubeNodeState& n = states_[name];
  if (n.ca != setup_.ca || n.address.empty()) {
    int index = 0;
    for (const auto& [other_name, other] : states_)
      if (other_name != name) index = std::max(index, other.index + 1);
    n.index = index;
  }
  n.address = address;
  n.ca = setup_.ca;
  n.control_plane = control_plane;
  n.up = true;
  n.ready = false;
  n.kubelet = false;
  n.since = now;
  n.registered = now;
  return ++n.generation;
}

namespace {

/// The Ready condition as the kubelet posts it (pkg/kubelet/nodestatus/setters.go ReadyCondition):
/// False with the runtime's network error while no CNI configuration is loaded; Unknown once the
/// kubelet stopped posting (the node lifecycle controller's "Kubelet stopped posting node status.").
json ready_condition(const KubeNodeState& n) {
  if (n.ready) return {{"type", "Ready"}, {"status", "True"}, {"reason", "KubeletReady"}, {"message", "kubelet is posting ready status"}};
  if (n.kubelet)
    return {{"type", "Ready"}, {"status", "False"}, {"reason", "KubeletNotReady"}, {"message", kNetworkNotReady}};
  return {{"type", "Ready"}, {"status", "Unknown"}, {"reason", "NodeStatusUnknown"}, {"message", "Kubelet stopped posting node status."}};
}

}  // namespace

json KubeNodes::node_json(const std::string& name, const KubeNodeState& n) const {
  json labels = {{"beta.kubernetes.io/arch", "amd64"},
                 {"beta.kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"}};
  if (n.control_plane) {
    labels["node-role.kubernetes.io/control-plane"] = "";
    labels["node.kubernetes.io/exclude-from-external-load-balancers"] = "";
  }
  auto cidr = cluster_subnet(setup_.pod_subnet);
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata",
                {{"name", name},
                 {"labels", labels},
                 {"annotations",
                  {{"kubeadm.alpha.kubernetes.io/cri-socket", "unix:///var/run/containerd/containerd.sock"},
                   {"node.alpha.kubernetes.io/ttl", "0"},
                   {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}},
                 {"uid", sim_uuid(n.ca + "/node/" + name)},
                 {"resourceVersion", std::to_string(store_.revision())},
                 {"creationTimestamp", sim_time(n.registered)}}},
               {"spec", json::object()},
               {"status",
                {{"addresses", {{{"type", "InternalIP"}, {"address", n.address}}, {{"type", "Hostname"}, {"address", name}}}},
                 {"conditions", {ready_condition(n)}},
                 {"nodeInfo", {{"kubeletVersion", setup_.version}, {"kubeProxyVersion", setup_.version},
                               {"containerRuntimeVersion", "containerd://1.7.2"}, {"operatingSystem", "linux"},
                               {"architecture", "amd64"}}}}}};
  if (cidr) {
    node["spec"]["podCIDR"] = format_ipv4(cidr->first + (static_cast<std::uint32_t>(n.index) << 8)) + "/24";
    node["spec"]["podCIDRs"] = {node["spec"]["podCIDR"]};
  }
  node["spec"]["taints"] = json::array();
  if (n.control_plane)
    node["spec"]["taints"].push_back({{"key", "node-role.kubernetes.io/control-plane"}, {"effect", "NoSchedule"}});
  if (!n.ready)  // the node lifecycle controller's taint for a Ready condition that is False or Unknown
    node["spec"]["taints"].push_back(
        {{"key", n.kubelet ? "node.kubernetes.io/not-ready" : "node.kubernetes.io/unreachable"}, {"effect", "NoSchedule"}});
  if (node["spec"]["taints"].empty()) node["spec"].erase("taints");
  return node;
}


std::vector<std::string> KubeNodes::names(bool ready_only) const {
  std::vector<std::string> out;
  for (const auto& [name, n] : states_)
    if (!ready_only || n.ready) out.push_back(name);
  return out;
}

}  // namespace drctl::sim
