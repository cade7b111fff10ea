// The simulated cluster's controllers and kubelets: PVC binding, Deployments/ReplicaSets,
// StatefulSets and DaemonSets, the scheduler, pod IPs and readiness, workload status, and
// Service endpoints.
#include "sim/kube_controllers.hpp"
#include "sim/kube.hpp"  // kube_quantity
#include "base/text.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <ctime>

#include "base/ipv4.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_util;
using text::sha256_hex;

namespace {

using namespace std::chrono_literals;

bool tolerates(const json& pod_spec, const std::string& key) {
  if (!pod_spec.contains("tolerations") || !pod_spec["tolerations"].is_array()) return false;
  for (const auto& t : pod_spec["tolerations"]) {
    std::string tkey = t.value("key", ""), op = t.value("operator", "Equal"), effect = t.value("effect", "");
    bool key_ok = tkey == key || (tkey.empty() && op == "Exists");
    if (key_ok && (effect.empty() || effect == "NoSchedule")) return true;
  }
  return false;
}

}  // namespace

KubeControllers::KubeControllers(Engine& engine, const KubeSetup& setup, KubeStore& store, const KubeNodes& nodes,
                                 std::function<bool()> api_up, std::function<void()> changed,
                                 std::function<void(const KubePodState&)> started)
    : engine_(engine),
      setup_(setup),
      store_(store),
      nodes_(nodes),
      api_up_(std::move(api_up)),
      changed_(std::move(changed)),
      started_(std::move(started)) {}

void KubeControllers::reconcile() {
  if (!api_up_()) return;
  reconcile_volumes();
  // Pods whose owner or node is gone go with them.
  for (auto it = pods_.begin(); it != pods_.end();) {
    const KubePodState& p = it->second;
    bool owner = p.owner_kind.empty() ? store_.objects().count({"Pod", p.ns, p.name}) > 0
                                      : store_.objects().count({p.owner_kind, p.ns, p.owner_name}) > 0;
    bool node = p.node.empty() || nodes_.states().count(p.node);
    if (owner && node) {
      ++it;
      continue;
    }
    engine_.log("kube", "pod-deleted",
                {{"pod", p.ns + "/" + p.name}, {"reason", owner ? "node removed" : "owner deleted"}});
    it = pods_.erase(it);
  }
  for (const char* kind : {"Deployment", "StatefulSet", "DaemonSet", "Pod"}) {
    std::vector<json> objs;
    for (const auto& [key, obj] : store_.objects())
      if (std::get<0>(key) == kind) objs.push_back(obj);
    for (const auto& obj : objs) reconcile_workload(kind, obj);
  }
  std::vector<KubePodState> pending;
  for (const auto& [key, p] : pods_)
    if (p.node.empty()) pending.push_back(p);
  for (auto& p : pending) schedule(std::move(p));
}

void KubeControllers::reconcile_volumes() {
  std::vector<KubeKey> claims;
  for (const auto& [key, obj] : store_.objects())
    if (std::get<0>(key) == "PersistentVolumeClaim" && str(obj, "/status/phase"_json_pointer) != "Bound")
      claims.push_back(key);
  for (const auto& key : claims) {
    json& pvc = store_.objects()[key];
    const json spec = spec_of(pvc);
    auto request = kube_quantity(str(pvc, "/spec/resources/requests/storage"_json_pointer));
    const std::string cls = spec.value("storageClassName", "");
    const std::string wanted = spec.value("volumeName", "");
    std::optional<KubeKey> best;
    long double best_size = 0;
    for (const auto& [pv_key, pv] : store_.objects()) {
      if (std::get<0>(pv_key) != "PersistentVolume" || str(pv, "/status/phase"_json_pointer) == "Bound") continue;
      const json pv_spec = spec_of(pv);
      if (!wanted.empty() && wanted != std::get<2>(pv_key)) continue;
      if (pv_spec.contains("claimRef") && (pv_spec["claimRef"].value("name", "") != std::get<2>(key) ||
                                           pv_spec["claimRef"].value("namespace", "") != std::get<1>(key)))
        continue;
      if (pv_spec.value("storageClassName", "") != cls) continue;
      auto size = kube_quantity(str(pv, "/spec/capacity/storage"_json_pointer));
      if (!size || (request && *size < *request)) continue;
      bool modes = true;
      if (spec.contains("accessModes"))
        for (const auto& m : spec["accessModes"])
          if (!pv_spec.contains("accessModes") ||
              std::find(pv_spec["accessModes"].begin(), pv_spec["accessModes"].end(), m) ==
                  pv_spec["accessModes"].end())
            modes = false;
      if (!modes) continue;
      if (!best || *size < best_size) {
        best = pv_key;
        best_size = *size;
      }
    }
    if (!best) {
      pvc["status"]["phase"] = "Pending";
      continue;
    }
    json& pv = store_.objects()[*best];
    pv["spec"]["claimRef"] = {
        {"kind", "PersistentVolumeClaim"}, {"namespace", std::get<1>(key)}, {"name", std::get<2>(key)}};
    pv["status"]["phase"] = "Bound";
    pvc["spec"]["volumeName"] = std::get<2>(*best);
    pvc["status"]["phase"] = "Bound";
    pvc["status"]["capacity"]["storage"] = str(pv, "/spec/capacity/storage"_json_pointer);
    pv["metadata"]["resourceVersion"] = std::to_string(store_.next_revision());
    pvc["metadata"]["resourceVersion"] = std::to_string(store_.next_revision());
    engine_.log("kube", "pvc-bound", {{"pvc", std::get<1>(key) + "/" + std::get<2>(key)}, {"pv", std::get<2>(*best)}});
  }
  for (auto& [key, obj] : store_.objects())
    if (std::get<0>(key) == "PersistentVolume" && !obj.contains("/status/phase"_json_pointer)) {
      obj["status"]["phase"] = "Available";
      obj["metadata"]["resourceVersion"] = std::to_string(store_.next_revision());
    }
}

void KubeControllers::reconcile_workload(const std::string& kind, const json& obj) {
  const std::string ns = str(obj, "/metadata/namespace"_json_pointer), name = str(obj, "/metadata/name"_json_pointer);
  json tmpl =
      kind == "Pod" ? obj : (obj.contains("/spec/template"_json_pointer) ? obj["spec"]["template"] : json::object());
  std::vector<std::string> owned;  // names of this workload's pods
  for (const auto& [key, p] : pods_)
    if (p.ns == ns &&
        ((kind == "Pod" && p.owner_kind.empty() && p.name == name) || (p.owner_kind == kind && p.owner_name == name)))
      owned.push_back(p.name);
  auto make = [&](const std::string& pod_name, const std::string& node) {
    KubePodState p;
    p.ns = ns;
    p.name = pod_name;
    p.node = node;
    p.owner_kind = kind == "Pod" ? "" : kind;
    p.owner_name = kind == "Pod" ? "" : name;
    p.labels = labels_of(tmpl);
    p.spec = spec_of(tmpl);
    p.uid = next_uid_++;
    p.revision = store_.revision();
    p.created = engine_.now();
    return p;
  };
  if (kind == "Pod") {
    if (owned.empty()) schedule(make(name, ""));
  } else if (kind == "Deployment") {
    const std::string hash = sha256_hex(tmpl.dump()).substr(0, 10);
    int current = 0;
    for (const auto& pod_name : owned) {
      const KubePodState& p = pods_.at({ns, pod_name});
      if (p.labels.value("pod-template-hash", "") != hash) {
        engine_.log("kube", "pod-deleted", {{"pod", ns + "/" + pod_name}, {"reason", "rollout"}});
        pods_.erase({ns, pod_name});
      } else if (++current > replicas_of(obj)) {
        engine_.log("kube", "pod-deleted", {{"pod", ns + "/" + pod_name}, {"reason", "scaled down"}});
        pods_.erase({ns, pod_name});
      }
    }
    for (; current < replicas_of(obj); ++current) {
      KubePodState p = make(name + "-" + hash + "-" + random_chars(engine_.rng(), 5), "");
      p.labels["pod-template-hash"] = hash;
      schedule(std::move(p));
    }
  } else if (kind == "StatefulSet") {
    const int replicas = replicas_of(obj);
    for (const auto& pod_name : owned) {
      auto ordinal = pod_name.substr(name.size() + 1);
      if (std::stoi(ordinal) >= replicas) pods_.erase({ns, pod_name});
    }
    json claims =
        obj.contains("/spec/volumeClaimTemplates"_json_pointer) ? obj["spec"]["volumeClaimTemplates"] : json::array();
    for (int i = 0; i < replicas; ++i) {
      const std::string pod_name = name + "-" + std::to_string(i);
      auto it = pods_.find({ns, pod_name});
      if (it != pods_.end()) {
        if (!it->second.ready) break;  // OrderedReady: the next one waits for this one
        continue;
      }
      KubePodState p = make(pod_name, "");
      for (const auto& c : claims) {
        const std::string claim = c["metadata"].value("name", "") + "-" + pod_name;
        if (!store_.objects().count({"PersistentVolumeClaim", ns, claim})) {
          json pvc = c;
          pvc["apiVersion"] = "v1";
          pvc["kind"] = "PersistentVolumeClaim";
          pvc["metadata"]["name"] = claim;
          pvc["metadata"]["namespace"] = ns;
          store_.put(pvc, "kube-controller-manager");
          reconcile_volumes();
        }
        p.spec["volumes"].push_back(
            {{"name", c["metadata"].value("name", "")}, {"persistentVolumeClaim", {{"claimName", claim}}}});
      }
      schedule(std::move(p));
      break;
    }
  } else if (kind == "DaemonSet") {
    for (const auto& node : eligible_nodes(spec_of(tmpl))) {
      bool has = std::any_of(owned.begin(), owned.end(), [&](const std::string& n) {
        return pods_.at({ns, n}).node == node;
      });
      if (!has) schedule(make(name + "-" + random_chars(engine_.rng(), 5), node));
    }
  }
}

std::vector<std::string> KubeControllers::eligible_nodes(const json& pod_spec) const {
  std::vector<std::string> out;
  for (const auto& [name, n] : nodes_.states()) {
    // A node that is not Ready carries the not-ready taint (NoSchedule): only pods tolerating it
    // (a pod network's DaemonSet) land there, and only while its kubelet runs.
    if (!n.up || !(n.ready || (n.kubelet && tolerates(pod_spec, "node.kubernetes.io/not-ready")))) continue;
    if (n.control_plane && !tolerates(pod_spec, "node-role.kubernetes.io/control-plane") &&
        !tolerates(pod_spec, "node-role.kubernetes.io/master"))
      continue;
    if (pod_spec.contains("nodeSelector") && pod_spec["nodeSelector"].is_object()) {
      json labels = nodes_.node_json(name, n)["metadata"]["labels"];
      bool ok = true;
      for (auto it = pod_spec["nodeSelector"].begin(); it != pod_spec["nodeSelector"].end(); ++it)
        if (!labels.contains(it.key()) || labels[it.key()] != it.value()) ok = false;
      if (!ok) continue;
    }
    out.push_back(name);
  }
  return out;
}

bool KubeControllers::claims_bound(const KubePodState& pod) const {
  if (!pod.spec.contains("volumes") || !pod.spec["volumes"].is_array()) return true;
  for (const auto& v : pod.spec["volumes"]) {
    if (!v.contains("persistentVolumeClaim")) continue;
    auto it = store_.objects().find({"PersistentVolumeClaim", pod.ns, v["persistentVolumeClaim"].value("claimName", "")});
    if (it == store_.objects().end() || str(it->second, "/status/phase"_json_pointer) != "Bound") return false;
  }
  return true;
}

void KubeControllers::schedule(KubePodState pod) {
  const bool fresh = !pods_.count({pod.ns, pod.name});
  std::string reason;
  if (!claims_bound(pod)) {
    reason = "pod has unbound immediate PersistentVolumeClaims";
    pod.node.clear();
  } else if (pod.node.empty()) {
    auto candidates = eligible_nodes(pod.spec);
    if (candidates.empty()) {
      reason = "0/" + std::to_string(nodes_.states().size()) + " nodes are available";
    } else {
      // Spread a workload's pods: the node with the fewest of them, then by name.
      auto count = [&](const std::string& node) {
        return std::count_if(pods_.begin(), pods_.end(), [&](const auto& kv) {
          const KubePodState& p = kv.second;
          return p.node == node && p.ns == pod.ns && p.owner_kind == pod.owner_kind && p.owner_name == pod.owner_name &&
                 !pod.owner_kind.empty();
        });
      };
      pod.node = *std::min_element(candidates.begin(), candidates.end(),
                                   [&](const std::string& x, const std::string& y) { return count(x) < count(y); });
    }
  }
  if (pod.node.empty()) {
    if (fresh) engine_.log("kube", "pod-pending", {{"pod", pod.ns + "/" + pod.name}, {"reason", reason}});
    pods_[{pod.ns, pod.name}] = std::move(pod);
    return;
  }
  pod.ip = next_pod_ip(pod.node);
  pod.ready = false;
  engine_.log("kube", "pod-scheduled", {{"pod", pod.ns + "/" + pod.name}, {"node", pod.node}, {"ip", pod.ip}});
  const std::pair<std::string, std::string> key{pod.ns, pod.name};
  const std::uint64_t uid = pod.uid;
  pods_[key] = std::move(pod);
  start_later(key, uid);
}

void KubeControllers::start_later(const std::pair<std::string, std::string>& key, std::uint64_t uid) {
  engine_.background(engine_.now() + engine_.rng().between(2s, 10s), [this, key, uid] {
    auto it = pods_.find(key);
    if (it == pods_.end() || it->second.uid != uid || it->second.ready) return;
    auto n = nodes_.states().find(it->second.node);
    if (n == nodes_.states().end() || !can_start(it->second, n->second)) return;
    it->second.ready = true;
    engine_.log("kube", "pod-ready", {{"pod", key.first + "/" + key.second}, {"node", it->second.node}});
    if (started_) started_(it->second);
    reconcile();
    changed_();
  });
}

bool KubeControllers::can_start(const KubePodState& pod, const KubeNodeState& node) {
  // Without a pod network the runtime cannot give a pod its own network namespace: only a pod on
  // the host's network starts (the pod network's own installer is one).
  return node.up && (node.ready || (node.kubelet && pod.spec.value("hostNetwork", false)));
}

void KubeControllers::node_ready(const std::string& node) {
  for (const auto& [key, p] : pods_)
    if (p.node == node && !p.ready) start_later(key, p.uid);
}

std::string KubeControllers::next_pod_ip(const std::string& node) {
  auto cidr = cluster_subnet(setup_.pod_subnet);
  const std::uint32_t base = cidr->first + (static_cast<std::uint32_t>(nodes_.states().at(node).index) << 8);
  std::set<std::string> used;
  for (const auto& [key, p] : pods_) used.insert(p.ip);
  int& host = next_pod_host_[node];
  for (int tries = 0; tries < 253; ++tries) {
    host = host >= 254 || host < 2 ? 2 : host + 1;
    std::string ip = format_ipv4(base + static_cast<std::uint32_t>(host));
    if (!used.count(ip)) return ip;
  }
  return "";
}


json KubeControllers::pod_json(const KubePodState& p) const {
  json meta = {{"name", p.name},
               {"namespace", p.ns},
               {"labels", p.labels},
               {"uid", sim_uuid(setup_.ca + "/pod/" + std::to_string(p.uid))},
               {"resourceVersion", std::to_string(p.revision)},
               {"creationTimestamp", sim_time(p.created)}};
  if (!p.owner_kind.empty()) {
    std::string kind = p.owner_kind, name = p.owner_name, uid = store_.uid_of(p.owner_kind, p.ns, p.owner_name);
    if (p.owner_kind == "Deployment") {  // a Deployment's pods belong to its ReplicaSet
      kind = "ReplicaSet";
      name = p.owner_name + "-" + p.labels.value("pod-template-hash", "");
      uid = sim_uuid(uid + "/replicaset/" + p.labels.value("pod-template-hash", ""));
    }
    if (p.owner_kind != "StatefulSet") meta["generateName"] = name + "-";
    meta["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                                {"kind", kind},
                                {"name", name},
                                {"uid", uid},
                                {"controller", true},
                                {"blockOwnerDeletion", true}}};
  }
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", meta},
              {"spec", p.spec},
              {"status",
               {{"phase", p.node.empty() ? "Pending" : "Running"},
                {"conditions", {{{"type", "Ready"}, {"status", p.ready ? "True" : "False"}}}}}}};
  if (!p.node.empty()) pod["spec"]["nodeName"] = p.node;
  if (!p.ip.empty()) pod["status"]["podIP"] = p.ip;
  if (!p.ip.empty()) pod["status"]["podIPs"] = {{{"ip", p.ip}}};
  if (!p.node.empty())
    if (auto n = nodes_.states().find(p.node); n != nodes_.states().end()) pod["status"]["hostIP"] = n->second.address;
  return pod;
}


json KubeControllers::workload_status(const std::string& kind, const json& obj) const {
  const std::string ns = str(obj, "/metadata/namespace"_json_pointer), name = str(obj, "/metadata/name"_json_pointer);
  int total = 0, ready = 0;
  for (const auto& [key, p] : pods_)
    if (p.ns == ns && p.owner_kind == kind && p.owner_name == name) {
      ++total;
      ready += p.ready ? 1 : 0;
    }
  json status;
  if (kind == "DaemonSet")
    status = {{"desiredNumberScheduled", eligible_nodes(spec_of(spec_of(obj).value("template", json::object()))).size()},
              {"currentNumberScheduled", total},
              {"numberReady", ready}};
  else
    status = {{"replicas", total}, {"readyReplicas", ready}, {"availableReplicas", ready}};
  if (obj.contains("/metadata/generation"_json_pointer)) status["observedGeneration"] = obj["metadata"]["generation"];
  return status;
}


std::vector<KubePod> KubeControllers::pods() const {
  std::vector<KubePod> out;
  for (const auto& [key, p] : pods_)
    out.push_back(
        {p.ns, p.name, p.node, p.ip, p.labels, p.ready, p.owner_kind.empty() ? "" : p.owner_kind + "/" + p.owner_name});
  return out;
}


std::vector<KubeEndpoint> KubeControllers::endpoints_for(const std::string& ns, const std::string& service,
                                                              const std::function<bool(const json&)>& is_port) const {
  std::vector<KubeEndpoint> out;
  auto svc = store_.objects().find({"Service", ns, service});
  if (svc == store_.objects().end() || !api_up_()) return out;
  const json spec = spec_of(svc->second);
  if (!spec.contains("selector") || !spec.contains("ports")) return out;
  for (const auto& sp : spec["ports"]) {
    if (!is_port(sp)) continue;
    const json target = sp.contains("targetPort") ? sp["targetPort"] : sp["port"];
    if (!target.is_number_integer() && !target.is_string()) continue;
    for (const auto& [key, p] : pods_) {
      if (p.ns != ns || !p.ready || p.ip.empty() || !matches(spec["selector"], p.labels)) continue;
      int port = target.is_number_integer() ? target.get<int>() : 0;
      if (target.is_string() && p.spec.contains("containers") &&
          p.spec["containers"].is_array()) {  // a named container port
        for (const auto& c : p.spec["containers"])
          for (const auto& cp :
               c.is_object() && c.contains("ports") && c["ports"].is_array() ? c["ports"] : json::array())
            if (cp.is_object() && cp.contains("name") && cp["name"] == target && cp.contains("containerPort") &&
                cp["containerPort"].is_number_integer())
              port = cp["containerPort"].get<int>();
      }
      if (port != 0) out.push_back({p.name, p.node, p.ip, port});
    }
  }
  return out;
}

std::vector<KubeEndpoint> KubeControllers::endpoints(const std::string& ns, const std::string& service,
                                                          int port) const {
  return endpoints_for(ns, service,
                       [&](const json& sp) { return sp.is_object() && sp.contains("port") && sp["port"] == port; });
}

std::vector<KubeEndpoint> KubeControllers::endpoints(const std::string& ns, const std::string& service,
                                                          const std::string& port_name) const {
  return endpoints_for(
      ns, service, [&](const json& sp) { return sp.is_object() && sp.contains("name") && sp["name"] == port_name; });
}


}  // namespace drctl::sim
