// KubeCluster put together: the store, the nodes and the controllers composed, the API server
// started on a store (fresh or etcd's), the change observers, the queries the world makes, and
// what spans the pieces: node power and readiness timing, the disaster, a destroyed node, and
// the control plane's static pods following their manifests.
#include "sim/kube.hpp"

#include <algorithm>
#include <set>

#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_util;

namespace {

using namespace std::chrono_literals;

const Duration kNodeMonitorGrace = 40s;
const Duration kEvictionTimeout = 300s;

}  // namespace

KubeCluster::KubeCluster(Engine& engine, KubeVersions versions, KubeWorld world)
    : engine_(engine),
      versions_(std::move(versions)),
      world_(std::move(world)),
      store_(engine, setup_),
      nodes_(setup_, store_),
      controllers_(engine, setup_, store_, nodes_, [this] { return api_up(); }, [this] { changed(); },
                   [this](const PodState& pod) { pod_started(pod); }),
      etcd_(engine, setup_, store_, nodes_, versions_, world_, [this](const json& objects) { start_api(objects); }),
      kubeadm_(engine, setup_, store_, nodes_, controllers_, etcd_, versions_, world_,
               {[this] { return api_up(); }, [this] { apiserver_pod_ = true; },
                [this](const json& restored) { start_api(restored); }, [this] { changed(); },
                [this](const std::string& node) { kubelet_started(node); }}),
      kubectl_(engine, setup_, store_, nodes_, controllers_, *this, [this] { changed(); }) {}

KubeResult KubeCluster::kubectl(const std::vector<std::string>& argv, const std::string& stdin_data,
                                const std::map<std::string, std::string>& env, const KubeFiles& files) {
  return kubectl_.run(argv, stdin_data, env, files);
}

KubeResult KubeCluster::kubeadm(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  return kubeadm_.run(node, argv, files);
}

KubeResult KubeCluster::etcdctl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  return etcd_.etcdctl(node, argv, files);
}

KubeResult KubeCluster::etcdutl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  return etcd_.etcdutl(node, argv, files);
}

KubeResult KubeCluster::etcd(const std::vector<std::string>& argv) const { return etcd_.etcd(argv); }

void KubeCluster::etcd_data_moved(const KubeNode& node, const std::string& dir, const KubeFiles& files) {
  etcd_.data_moved(node, dir, files);
}

bool KubeCluster::etcd_up() const { return etcd_.up(); }

void KubeCluster::start_api(const json& restored_objects) {
  store_.clear();
  controllers_.pod_states().clear();
  etcd_.start();
  api_started_ = engine_.now();
  if (restored_objects.empty()) {
    for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"})
      store_.put({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}, "kube-apiserver");
    store_.put({{"apiVersion", "v1"},
                {"kind", "Service"},
                {"metadata", {{"name", "kubernetes"}, {"namespace", "default"},
                              {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
                {"spec",
                 {{"ports", json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}})},
                  {"sessionAffinity", "None"},
                  {"type", "ClusterIP"}}}},
               "kube-apiserver");
  } else {
    store_.load(restored_objects);  // etcd's data as it was: uids, resourceVersions and creation times included
  }
  controllers_.reconcile();
  changed();
}

void KubeCluster::changed() {
  for (const auto& fn : observers_) fn();
}

void KubeCluster::on_change(std::function<void()> fn) { observers_.push_back(std::move(fn)); }

std::vector<json> KubeCluster::objects(const std::string& kind) const {
  std::vector<json> out;
  if (kind == "Pod") {
    for (const auto& [key, p] : controllers_.pod_states()) out.push_back(controllers_.pod_json(p));
    return out;
  }
  if (kind == "Node") {
    for (const auto& [name, n] : nodes_.states()) out.push_back(nodes_.node_json(name, n));
    return out;
  }
  for (const auto& [key, obj] : store_.objects())
    if (std::get<0>(key) == kind) out.push_back(obj);
  std::vector<json> made = generated(kind);
  if (made.empty()) return out;
  auto where = [](const json& o) {
    return std::pair(str(o, "/metadata/namespace"_json_pointer), str(o, "/metadata/name"_json_pointer));
  };
  std::set<std::pair<std::string, std::string>> stored;
  for (const auto& o : out) stored.insert(where(o));
  for (auto& o : made)
    if (!stored.count(where(o))) out.push_back(std::move(o));
  std::stable_sort(out.begin(), out.end(), [&](const json& a, const json& b) { return where(a) < where(b); });
  return out;
}

std::optional<json> KubeCluster::object(const std::string& kind, const std::string& ns, const std::string& name) const {
  if (kind == "Pod") {
    auto it = controllers_.pod_states().find({ns, name});
    return it == controllers_.pod_states().end() ? std::nullopt : std::optional(controllers_.pod_json(it->second));
  }
  if (kind == "Node") {
    auto it = nodes_.states().find(name);
    return it == nodes_.states().end() ? std::nullopt : std::optional(nodes_.node_json(name, it->second));
  }
  auto it = store_.objects().find({kind, ns, name});
  if (it != store_.objects().end()) return it->second;
  for (auto& o : generated(kind))
    if (str(o, "/metadata/namespace"_json_pointer) == ns && str(o, "/metadata/name"_json_pointer) == name) return o;
  return std::nullopt;
}

void KubeCluster::set_load_balancer_ip(const std::string& ns, const std::string& service, const std::string& ip) {
  auto it = store_.objects().find({"Service", ns, service});
  if (it == store_.objects().end()) return;
  json ingress = ip.empty() ? json::array() : json::array({{{"ip", ip}}});
  if (it->second.contains("/status/loadBalancer/ingress"_json_pointer) &&
      it->second["status"]["loadBalancer"]["ingress"] == ingress)
    return;
  it->second["status"]["loadBalancer"]["ingress"] = ingress;
  it->second["metadata"]["resourceVersion"] = std::to_string(store_.next_revision());
  engine_.log("kube", "load-balancer-ip", {{"service", ns + "/" + service}, {"ip", ip}});
  changed();
}

std::vector<KubeCluster::Pod> KubeCluster::pods() const { return controllers_.pods(); }

std::vector<KubeCluster::Endpoint> KubeCluster::endpoints(const std::string& ns, const std::string& service,
                                                          int port) const {
  return controllers_.endpoints(ns, service, port);
}

std::vector<KubeCluster::Endpoint> KubeCluster::endpoints(const std::string& ns, const std::string& service,
                                                          const std::string& port_name) const {
  return controllers_.endpoints(ns, service, port_name);
}

std::vector<std::string> KubeCluster::nodes(bool ready_only) const { return nodes_.names(ready_only); }

void KubeCluster::set_node_up(const std::string& name, bool up) {
  auto it = nodes_.states().find(name);
  if (it == nodes_.states().end()) return;
  NodeState& n = it->second;
  if (n.up == up) return;
  n.up = up;
  const std::uint64_t gen = ++n.generation;
  if (up) {
    n.kubelet = true;
    n.ready = has_pod_network(name);  // the configuration is on the node's disk: loaded again at boot
    n.since = engine_.now();
    if (n.ready)
      engine_.log("kube", "node-ready", {{"node", name}});
    else
      engine_.log("kube", "node-not-ready", {{"node", name}, {"reason", kNetworkNotReady}});
    std::vector<PodState> restarted;
    for (auto& [key, p] : controllers_.pod_states())
      if (p.node == name) restarted.push_back(p);
    for (auto& p : restarted) {  // the machine rebooted: its pods start again
      p.node = name;
      p.uid = controllers_.next_uid();
      controllers_.schedule(std::move(p));
    }
    controllers_.reconcile();
    changed();
    return;
  }
  engine_.log("kube", "node-down", {{"node", name}});
  changed();
  engine_.background(engine_.now() + kNodeMonitorGrace, [this, name, gen] {
    auto it = nodes_.states().find(name);
    if (it == nodes_.states().end() || it->second.generation != gen) return;
    it->second.ready = false;
    it->second.kubelet = false;  // it stopped posting: Ready is Unknown now
    it->second.since = engine_.now();
    for (auto& [key, p] : controllers_.pod_states())
      if (p.node == name) p.ready = false;
    engine_.log("kube", "node-not-ready", {{"node", name}});
    changed();
    engine_.background(engine_.now() + kEvictionTimeout, [this, name, gen] {
      auto it = nodes_.states().find(name);
      if (it == nodes_.states().end() || it->second.generation != gen || !api_up()) return;
      for (auto p = controllers_.pod_states().begin(); p != controllers_.pod_states().end();) {
        bool evict = p->second.node == name && (p->second.owner_kind == "Deployment" || p->second.owner_kind.empty());
        if (evict) engine_.log("kube", "pod-evicted", {{"pod", p->second.ns + "/" + p->second.name}, {"node", name}});
        p = evict ? controllers_.pod_states().erase(p) : std::next(p);
      }
      controllers_.reconcile();
      changed();
    });
  });
}

void KubeCluster::wipe() {
  store_.clear();
  controllers_.pod_states().clear();
  kubeadm_.forget_tokens();
  etcd_.stop();
  engine_.log("kube", "control-plane-wiped", {{"node", setup_.api_node}});
  changed();
}

void KubeCluster::remove_node(const std::string& name) {
  if (!nodes_.states().count(name)) return;
  if (name == setup_.api_node) {  // its etcd went with it
    etcd_.stop();
    setup_.api_node.clear();
    store_.clear();
    kubeadm_.forget_tokens();
    controllers_.pod_states().clear();
  }
  nodes_.states().erase(name);
  for (auto it = controllers_.pod_states().begin(); it != controllers_.pod_states().end();) it = it->second.node == name ? controllers_.pod_states().erase(it) : std::next(it);
  engine_.log("kube", "node-gone", {{"node", name}});
  changed();
}

bool KubeCluster::api_up() const { return etcd_up() && apiserver_pod_; }

std::string KubeCluster::api_node() const { return setup_.api_node; }

namespace {

const std::string kCniConfDir = "/etc/cni/net.d";

/// A file containerd's CNI loader reads (libcni ConfFiles: .conf, .conflist, .json).
bool cni_config_file(const std::string& name) {
  return name.ends_with(".conf") || name.ends_with(".conflist") || name.ends_with(".json");
}

/// The pod writes the node's CNI configuration directory through a hostPath volume.
bool writes_cni_config(const json& spec) {
  if (!spec.contains("volumes") || !spec["volumes"].is_array()) return false;
  for (const auto& v : spec["volumes"]) {
    std::string path = v.contains("hostPath") ? v["hostPath"].value("path", "") : "";
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (path == kCniConfDir) return true;
  }
  return false;
}

/// The name the pod's installer gives its configuration: CNI_CONF_NAME (Calico's install-cni), a
/// path in /etc/cni/net.d among its command's words (flannel's `cp -f … /etc/cni/net.d/10-flannel.conflist`),
/// else 10-OWNER.conflist.
std::string cni_config_name(const json& spec, const std::string& owner) {
  for (const char* list : {"initContainers", "containers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (const auto& c : spec[list]) {
      if (c.contains("env") && c["env"].is_array())
        for (const auto& e : c["env"])
          if (e.value("name", "") == "CNI_CONF_NAME" && e.contains("value") && e["value"].is_string())
            return e["value"].get<std::string>();
      for (const char* words : {"command", "args"})
        if (c.contains(words) && c[words].is_array())
          for (const auto& w : c[words])
            if (w.is_string() && w.get<std::string>().starts_with(kCniConfDir + "/")) return w.get<std::string>().substr(kCniConfDir.size() + 1);
    }
  }
  return "10-" + owner + ".conflist";
}

}  // namespace

bool KubeCluster::has_pod_network(const std::string& node) const {
  if (!world_.node_files) return true;  // a cluster without a world around it: the network is taken as there
  const auto files = world_.node_files(node);
  if (!files || !files->list) return false;
  const auto names = files->list(kCniConfDir);
  return std::any_of(names.begin(), names.end(), cni_config_file);
}

void KubeCluster::kubelet_started(const std::string& node) {
  auto it = nodes_.states().find(node);
  if (it == nodes_.states().end() || !it->second.up) return;
  it->second.kubelet = true;
  if (!has_pod_network(node)) engine_.log("kube", "node-not-ready", {{"node", node}, {"reason", kNetworkNotReady}});
  post_network_state(node);
  controllers_.reconcile();  // a pod network's DaemonSet tolerates the not-ready taint: its pods land now
  changed();
}

void KubeCluster::pod_network_changed(const std::string& node) {
  auto it = nodes_.states().find(node);
  if (it != nodes_.states().end() && it->second.kubelet) post_network_state(node);
}

void KubeCluster::post_network_state(const std::string& node) {
  // containerd loads a configuration as it appears (its CNI config watcher); the kubelet asks the
  // runtime every 5 s (updateRuntimeUp) and posts the node's status every 10 s
  // (nodeStatusUpdateFrequency), so Ready changes 0–15 s after the file does.
  const std::uint64_t gen = nodes_.states().at(node).generation;
  const Duration after = engine_.rng().between(0s, 5s) + engine_.rng().between(0s, 10s);
  engine_.background(engine_.now() + after, [this, node, gen] {
    auto it = nodes_.states().find(node);
    if (it == nodes_.states().end() || it->second.generation != gen || !it->second.up || !it->second.kubelet) return;
    const bool network = has_pod_network(node);
    if (network == it->second.ready) return;
    it->second.ready = network;
    it->second.since = engine_.now();
    if (network) {
      engine_.log("kube", "node-ready", {{"node", node}});
      controllers_.node_ready(node);
    } else {
      engine_.log("kube", "node-not-ready", {{"node", node}, {"reason", kNetworkNotReady}});
    }
    controllers_.reconcile();
    changed();
  });
}

void KubeCluster::pod_started(const PodState& pod) {
  // A pod network's installer (Calico's and flannel's install-cni init containers) copies its
  // configuration into the node's /etc/cni/net.d through a hostPath volume.
  if (!world_.node_files || !writes_cni_config(pod.spec)) return;
  auto files = world_.node_files(pod.node);
  if (!files || !files->write) return;
  const std::string owner = pod.owner_name.empty() ? pod.name : pod.owner_name;
  const std::string name = cni_config_name(pod.spec, owner);
  // The node's file events tell the cluster (pod_network_changed), as for any other writer.
  files->write(kCniConfDir + "/" + name,
               json{{"name", owner}, {"cniVersion", "0.3.1"}, {"plugins", json::array({{{"type", owner}}})}}.dump(2) + "\n",
               0644);
}

void KubeCluster::static_pods_changed(const KubeNode& node, const KubeFiles& files) {
  if (node.name != setup_.api_node || !nodes_.states().count(setup_.api_node)) return;
  const bool api = exists(files, "/etc/kubernetes/manifests/kube-apiserver.yaml");
  const bool etcd = exists(files, "/etc/kubernetes/manifests/etcd.yaml");
  if (api == apiserver_pod_ && etcd == etcd_.pod()) return;
  const bool was_up = api_up();
  if (api != apiserver_pod_)
    engine_.log("kube", api ? "static-pod-started" : "static-pod-stopped", {{"node", node.name}, {"pod", "kube-apiserver-" + node.name}});
  if (etcd != etcd_.pod())
    engine_.log("kube", etcd ? "static-pod-started" : "static-pod-stopped", {{"node", node.name}, {"pod", "etcd-" + node.name}});
  apiserver_pod_ = api;
  if (const auto data = etcd_.set_pod(etcd)) {  // etcd restarts on data restored while it was away
    etcd_.data_replaced(node.name, *data);
    return;
  }
  if (api_up() && !was_up) controllers_.reconcile();
  changed();
}

}  // namespace drctl::sim
