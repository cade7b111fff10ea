// The simulated cluster's nodes: power and readiness (NotReady after the grace period, pods
// evicted later), a wiped control plane, a destroyed node, the Node objects, and the control
// plane's static pods following their manifests.
#include "sim/kube.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <ctime>

#include "base/ipv4.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_util;

namespace {

using namespace std::chrono_literals;

const Duration kNodeMonitorGrace = 40s;
const Duration kEvictionTimeout = 300s;

}  // namespace

void KubeCluster::set_node_up(const std::string& name, bool up) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  NodeState& n = it->second;
  if (n.up == up) return;
  n.up = up;
  const std::uint64_t gen = ++n.generation;
  if (up) {
    n.ready = true;
    n.since = engine_.now();
    engine_.log("kube", "node-ready", {{"node", name}});
    std::vector<PodState> restarted;
    for (auto& [key, p] : pods_)
      if (p.node == name) restarted.push_back(p);
    for (auto& p : restarted) {  // the machine rebooted: its pods start again
      p.node = name;
      p.uid = next_uid_++;
      schedule(std::move(p));
    }
    reconcile();
    changed();
    return;
  }
  engine_.log("kube", "node-down", {{"node", name}});
  changed();
  engine_.background(engine_.now() + kNodeMonitorGrace, [this, name, gen] {
    auto it = nodes_.find(name);
    if (it == nodes_.end() || it->second.generation != gen) return;
    it->second.ready = false;
    it->second.since = engine_.now();
    for (auto& [key, p] : pods_)
      if (p.node == name) p.ready = false;
    engine_.log("kube", "node-not-ready", {{"node", name}});
    changed();
    engine_.background(engine_.now() + kEvictionTimeout, [this, name, gen] {
      auto it = nodes_.find(name);
      if (it == nodes_.end() || it->second.generation != gen || !api_up()) return;
      for (auto p = pods_.begin(); p != pods_.end();) {
        bool evict = p->second.node == name && (p->second.owner_kind == "Deployment" || p->second.owner_kind.empty());
        if (evict) engine_.log("kube", "pod-evicted", {{"pod", p->second.ns + "/" + p->second.name}, {"node", name}});
        p = evict ? pods_.erase(p) : std::next(p);
      }
      reconcile();
      changed();
    });
  });
}

void KubeCluster::wipe() {
  store_.clear();
  pods_.clear();
  tokens_.clear();
  api_running_ = false;
  engine_.log("kube", "control-plane-wiped", {{"node", api_node_}});
  changed();
}

void KubeCluster::remove_node(const std::string& name) {
  if (!nodes_.count(name)) return;
  if (name == api_node_) {  // its etcd went with it
    api_running_ = false;
    api_node_.clear();
    store_.clear();
    tokens_.clear();
    pods_.clear();
  }
  nodes_.erase(name);
  for (auto it = pods_.begin(); it != pods_.end();) it = it->second.node == name ? pods_.erase(it) : std::next(it);
  engine_.log("kube", "node-gone", {{"node", name}});
  changed();
}

bool KubeCluster::api_up() const { return etcd_up() && apiserver_pod_; }

std::string KubeCluster::api_node() const { return api_node_; }


json KubeCluster::node_json(const std::string& name, const NodeState& n) const {
  json labels = {{"beta.kubernetes.io/arch", "amd64"},
                 {"beta.kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"}};
  if (n.control_plane) {
    labels["node-role.kubernetes.io/control-plane"] = "";
    labels["node.kubernetes.io/exclude-from-external-load-balancers"] = "";
  }
  auto cidr = cluster_subnet(pod_subnet_);
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
                 {"resourceVersion", std::to_string(revision_)},
                 {"creationTimestamp", sim_time(n.registered)}}},
               {"spec", json::object()},
               {"status",
                {{"addresses", {{{"type", "InternalIP"}, {"address", n.address}}, {{"type", "Hostname"}, {"address", name}}}},
                 {"conditions", {{{"type", "Ready"}, {"status", n.ready ? "True" : "Unknown"}}}},
                 {"nodeInfo", {{"kubeletVersion", version_}, {"kubeProxyVersion", version_},
                               {"containerRuntimeVersion", "containerd://1.7.2"}, {"operatingSystem", "linux"},
                               {"architecture", "amd64"}}}}}};
  if (cidr) {
    node["spec"]["podCIDR"] = format_ipv4(cidr->first + (static_cast<std::uint32_t>(n.index) << 8)) + "/24";
    node["spec"]["podCIDRs"] = {node["spec"]["podCIDR"]};
  }
  if (n.control_plane)
    node["spec"]["taints"] = {{{"key", "node-role.kubernetes.io/control-plane"}, {"effect", "NoSchedule"}}};
  return node;
}


std::vector<std::string> KubeCluster::nodes(bool ready_only) const {
  std::vector<std::string> out;
  for (const auto& [name, n] : nodes_)
    if (!ready_only || n.ready) out.push_back(name);
  return out;
}


void KubeCluster::static_pods_changed(const KubeNode& node, const KubeFiles& files) {
  if (node.name != api_node_ || !nodes_.count(api_node_)) return;
  const bool api = exists(files, "/etc/kubernetes/manifests/kube-apiserver.yaml");
  const bool etcd = exists(files, "/etc/kubernetes/manifests/etcd.yaml");
  if (api == apiserver_pod_ && etcd == etcd_pod_) return;
  const bool was_up = api_up();
  if (api != apiserver_pod_)
    engine_.log("kube", api ? "static-pod-started" : "static-pod-stopped", {{"node", node.name}, {"pod", "kube-apiserver-" + node.name}});
  if (etcd != etcd_pod_)
    engine_.log("kube", etcd ? "static-pod-started" : "static-pod-stopped", {{"node", node.name}, {"pod", "etcd-" + node.name}});
  apiserver_pod_ = api;
  etcd_pod_ = etcd;
  if (etcd && pending_etcd_data_) {
    const std::string data = *pending_etcd_data_;
    pending_etcd_data_.reset();
    etcd_data_replaced(node.name, data);
    return;
  }
  if (api_up() && !was_up) reconcile();
  changed();
}


}  // namespace drctl::sim
