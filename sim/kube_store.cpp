// The simulated API server's object store: what put adds to an object (uid, resourceVersion,
// generation, managedFields), ClusterIPs, starting the API from etcd's objects, and what the
// API serves beside the stored objects (generated).
#include "sim/kube.hpp"
#include "base/text.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <ctime>

#include "base/ipv4.hpp"
#include "sim/kube_pki.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_pki;
using namespace kube_util;
using text::sha256_hex;

void KubeCluster::start_api(const json& restored_objects) {
  store_.clear();
  pods_.clear();
  api_running_ = true;
  api_started_ = engine_.now();
  if (restored_objects.empty()) {
    for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"})
      put({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}, "kube-apiserver");
    put({{"apiVersion", "v1"},
         {"kind", "Service"},
         {"metadata", {{"name", "kubernetes"}, {"namespace", "default"},
                       {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
         {"spec",
          {{"ports", json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}})},
           {"sessionAffinity", "None"},
           {"type", "ClusterIP"}}}},
        "kube-apiserver");
  } else {
    // etcd's data as it was: uids, resourceVersions and creation times included.
    for (const auto& obj : restored_objects) {
      store_[{obj.value("kind", ""), str(obj, "/metadata/namespace"_json_pointer), str(obj, "/metadata/name"_json_pointer)}] = obj;
      try {
        revision_ = std::max<std::uint64_t>(revision_, std::stoull(str(obj, "/metadata/resourceVersion"_json_pointer)));
      } catch (const std::exception&) {
      }
    }
    ++revision_;
  }
  reconcile();
  changed();
}


namespace {

/// Kinds whose spec changes bump metadata.generation (custom resources too).
bool has_generation(const std::string& kind) {
  static const std::set<std::string> kinds = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                                              "Ingress", "NetworkPolicy", "PodDisruptionBudget", "CustomResourceDefinition",
                                              "HorizontalPodAutoscaler", "IngressClass", "PriorityLevelConfiguration",
                                              "FlowSchema", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"};
  return kinds.count(kind) > 0;
}

/// managedFields' fieldsV1 for the fields an object sets (maps of labels, annotations, selectors
/// and data with their "." entry, as the API server writes them).
json fields_v1(const json& value, const std::string& key = "") {
  json out = json::object();
  if (!value.is_object()) return out;
  static const std::set<std::string> maps = {"labels", "annotations", "matchLabels", "selector", "data", "stringData",
                                             "nodeSelector", "binaryData", "capacity", "requests", "limits"};
  if (maps.count(key)) out["."] = json::object();
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (key.empty() && (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "status")) continue;
    if (key == "metadata" && (it.key() == "name" || it.key() == "namespace" || it.key() == "uid" ||
                              it.key() == "resourceVersion" || it.key() == "creationTimestamp" ||
                              it.key() == "generation" || it.key() == "managedFields"))
      continue;
    out["f:" + it.key()] = fields_v1(it.value(), it.key());
  }
  return out;
}

}  // namespace

std::string KubeCluster::uid_of(const std::string& kind, const std::string& ns, const std::string& name) const {
  auto it = store_.find({kind, ns, name});
  if (it != store_.end()) return str(it->second, "/metadata/uid"_json_pointer);
  return "";
}

void KubeCluster::put(json obj, const std::string& manager) {
  const std::string kind = obj.value("kind", "");
  const std::string ns = str(obj, "/metadata/namespace"_json_pointer), name = str(obj, "/metadata/name"_json_pointer);
  if (kind == "Service" && !obj.contains("/spec/clusterIP"_json_pointer) &&
      str(obj, "/spec/type"_json_pointer) != "ExternalName") {
    obj["spec"]["clusterIP"] = allocate_cluster_ip();
    obj["spec"]["clusterIPs"] = json::array({obj["spec"]["clusterIP"]});
  }
  if (kind == "Namespace") {  // what the API server adds to every namespace
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    if (!obj.contains("/spec/finalizers"_json_pointer)) obj["spec"]["finalizers"] = json::array({"kubernetes"});
    obj["status"]["phase"] = "Active";
  }
  if (kind == "CustomResourceDefinition") {  // the apiextensions controller accepts its names and serves it at once
    const std::string now_text = sim_time(engine_.now());
    json stored = json::array();
    for (const auto& v : spec_of(obj).value("versions", json::array()))
      if (v.is_object() && v.value("storage", false)) stored.push_back(v.value("name", ""));
    obj["status"] = {{"acceptedNames", spec_of(obj).value("names", json::object())},
                     {"conditions",
                      {{{"lastTransitionTime", now_text}, {"message", "no conflicts found"}, {"reason", "NoConflicts"},
                        {"status", "True"}, {"type", "NamesAccepted"}},
                       {{"lastTransitionTime", now_text}, {"message", "the initial names have been accepted"},
                        {"reason", "InitialNamesAccepted"}, {"status", "True"}, {"type", "Established"}}}},
                     {"storedVersions", stored}};
  }
  auto old = store_.find({kind, ns, name});
  json& meta = obj["metadata"];
  const std::string now = sim_time(engine_.now());
  if (old != store_.end() && old->second.contains("metadata")) {
    const json& before = old->second["metadata"];
    for (const char* k : {"uid", "creationTimestamp", "generation", "managedFields"})
      if (before.contains(k)) meta[k] = before[k];
    if (before.contains("generation") && spec_of(old->second) != spec_of(obj))
      meta["generation"] = before["generation"].get<std::int64_t>() + 1;
  } else {
    meta["uid"] = sim_uuid(ca_ + "/" + kind + "/" + ns + "/" + name + "/" + std::to_string(revision_ + 1));
    meta["creationTimestamp"] = now;
    if (has_generation(kind) || !kube_builtin_kind(kind)) meta["generation"] = 1;  // custom resources have one too
  }
  if (!manager.empty()) {
    json entry = {{"apiVersion", obj.value("apiVersion", "v1")},
                  {"fieldsType", "FieldsV1"},
                  {"fieldsV1", fields_v1(obj)},
                  {"manager", manager},
                  {"operation", "Update"},
                  {"time", now}};
    json fields = json::array();
    for (const auto& e : meta.value("managedFields", json::array()))
      if (e.value("manager", "") != manager || e.contains("subresource")) fields.push_back(e);
    fields.push_back(std::move(entry));
    meta["managedFields"] = std::move(fields);
  }
  ++revision_;
  meta["resourceVersion"] = std::to_string(revision_);
  store_[{kind, ns, name}] = std::move(obj);
}

void KubeCluster::erase(const Key& key) {
  if (store_.erase(key)) ++revision_;
  if (std::get<0>(key) != "Namespace") return;
  for (auto it = store_.begin(); it != store_.end();)
    it = std::get<1>(it->first) == std::get<2>(key) ? store_.erase(it) : std::next(it);
}

std::string KubeCluster::allocate_cluster_ip() {
  auto cidr = cluster_subnet(service_subnet_);
  std::set<std::string> used;
  for (const auto& [key, obj] : store_)
    if (std::get<0>(key) == "Service") used.insert(str(obj, "/spec/clusterIP"_json_pointer));
  const std::uint32_t size = cidr->second >= 32 ? 1u : (1u << (32 - cidr->second));
  for (std::uint32_t host = 1; host + 1 < size; ++host) {
    std::string ip = format_ipv4(cidr->first + host);
    if (!used.count(ip)) return ip;
  }
  return "";
}

void KubeCluster::changed() {
  for (const auto& fn : observers_) fn();
}

void KubeCluster::on_change(std::function<void()> fn) { observers_.push_back(std::move(fn)); }


std::vector<json> KubeCluster::objects(const std::string& kind) const {
  std::vector<json> out;
  if (kind == "Pod") {
    for (const auto& [key, p] : pods_) out.push_back(pod_json(p));
    return out;
  }
  if (kind == "Node") {
    for (const auto& [name, n] : nodes_) out.push_back(node_json(name, n));
    return out;
  }
  for (const auto& [key, obj] : store_)
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
    auto it = pods_.find({ns, name});
    return it == pods_.end() ? std::nullopt : std::optional(pod_json(it->second));
  }
  if (kind == "Node") {
    auto it = nodes_.find(name);
    return it == nodes_.end() ? std::nullopt : std::optional(node_json(name, it->second));
  }
  auto it = store_.find({kind, ns, name});
  if (it != store_.end()) return it->second;
  for (auto& o : generated(kind))
    if (str(o, "/metadata/namespace"_json_pointer) == ns && str(o, "/metadata/name"_json_pointer) == name) return o;
  return std::nullopt;
}

std::vector<json> KubeCluster::generated(const std::string& kind) const {
  std::vector<json> out;
  if (!api_running_) return out;
  auto meta_from = [&](const std::string& seed, const std::string& ns, const std::string& name, Duration created,
                       const std::string& rv) {
    json m = {{"name", name},
              {"uid", sim_uuid(ca_ + "/" + seed)},
              {"resourceVersion", rv},
              {"creationTimestamp", sim_time(created)}};
    if (!ns.empty()) m["namespace"] = ns;
    return m;
  };
  if (kind == "ServiceAccount" || kind == "ConfigMap") {
    for (const auto& [key, ns] : store_) {
      if (std::get<0>(key) != "Namespace") continue;
      const std::string name = std::get<2>(key), uid = str(ns, "/metadata/uid"_json_pointer);
      const std::string created = str(ns, "/metadata/creationTimestamp"_json_pointer);
      const std::string rv = str(ns, "/metadata/resourceVersion"_json_pointer);
      json m = {{"name", kind == "ServiceAccount" ? "default" : "kube-root-ca.crt"},
                {"namespace", name},
                {"uid", sim_uuid(uid + "/" + kind)},
                {"resourceVersion", rv},
                {"creationTimestamp", created}};
      if (kind == "ServiceAccount") {
        out.push_back({{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", m}});
      } else {
        m["annotations"] = {{"kubernetes.io/description",
                             "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                             "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                             "guaranteed across distributions of Kubernetes clusters."}};
        out.push_back({{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata", m},
                       {"data", {{"ca.crt", ca_certificate(ca_)}}}});
      }
    }
    return out;
  }
  if (kind == "ReplicaSet") {
    for (const auto& [key, d] : store_) {
      if (std::get<0>(key) != "Deployment") continue;
      const std::string ns = std::get<1>(key), name = std::get<2>(key);
      const json tmpl = d.contains("/spec/template"_json_pointer) ? d["spec"]["template"] : json::object();
      const std::string hash = sha256_hex(tmpl.dump()).substr(0, 10);
      const std::string duid = str(d, "/metadata/uid"_json_pointer);
      json m = {{"name", name + "-" + hash},
                {"namespace", ns},
                {"uid", sim_uuid(duid + "/replicaset/" + hash)},
                {"resourceVersion", str(d, "/metadata/resourceVersion"_json_pointer)},
                {"creationTimestamp", str(d, "/metadata/creationTimestamp"_json_pointer)},
                {"generation", 1},
                {"labels", labels_of(tmpl)},
                {"annotations",
                 {{"deployment.kubernetes.io/desired-replicas", std::to_string(replicas_of(d))},
                  {"deployment.kubernetes.io/max-replicas", std::to_string(replicas_of(d) + (replicas_of(d) + 3) / 4)},
                  {"deployment.kubernetes.io/revision", "1"}}},
                {"ownerReferences",
                 {{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", name}, {"uid", duid}, {"controller", true},
                   {"blockOwnerDeletion", true}}}}};
      m["labels"]["pod-template-hash"] = hash;
      json spec = {{"replicas", replicas_of(d)}, {"template", tmpl}};
      spec["selector"] = spec_of(d).value("selector", json::object());
      spec["selector"]["matchLabels"]["pod-template-hash"] = hash;
      spec["template"]["metadata"]["labels"]["pod-template-hash"] = hash;
      json status = workload_status("Deployment", d);
      status.erase("observedGeneration");
      status["observedGeneration"] = 1;
      out.push_back({{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"metadata", m}, {"spec", spec}, {"status", status}});
    }
    return out;
  }
  if (kind == "Endpoints" || kind == "EndpointSlice") {
    for (const auto& [key, svc] : store_) {
      if (std::get<0>(key) != "Service") continue;
      const std::string ns = std::get<1>(key), name = std::get<2>(key);
      const json spec = spec_of(svc);
      const std::string suid = str(svc, "/metadata/uid"_json_pointer);
      const bool api = ns == "default" && name == "kubernetes";
      if (!api && (!spec.contains("selector") || !spec["selector"].is_object() || spec["selector"].empty())) continue;
      struct Address {
        std::string ip, node, pod, uid;
        bool ready;
      };
      std::vector<Address> addresses;
      json ports = json::array();
      if (api) {
        auto n = nodes_.find(api_node_);
        addresses.push_back({n == nodes_.end() ? "" : n->second.address, "", "", "", true});
        ports.push_back({{"name", "https"}, {"port", 6443}, {"protocol", "TCP"}});
      } else {
        const PodState* first = nullptr;
        for (const auto& [pk, p] : pods_) {
          if (p.ns != ns || p.ip.empty() || !matches(spec["selector"], p.labels)) continue;
          if (!first) first = &p;
          addresses.push_back({p.ip, p.node, p.name, sim_uuid(ca_ + "/pod/" + std::to_string(p.uid)), p.ready});
        }
        for (const auto& sp : spec.value("ports", json::array())) {
          if (!sp.is_object()) continue;
          json target = sp.contains("targetPort") ? sp["targetPort"] : sp.value("port", json(0));
          int port = target.is_number_integer() ? target.get<int>() : 0;
          if (target.is_string() && first && first->spec.contains("containers") && first->spec["containers"].is_array())
            for (const auto& c : first->spec["containers"])
              if (c.is_object() && c.contains("ports") && c["ports"].is_array())
                for (const auto& cp : c["ports"])
                  if (cp.is_object() && cp.value("name", "") == target.get<std::string>())
                    port = cp.value("containerPort", 0);
          json p = {{"port", port}, {"protocol", sp.value("protocol", "TCP")}};
          if (sp.contains("name")) p["name"] = sp["name"];
          ports.push_back(p);
        }
      }
      json labels = labels_of(svc);
      if (kind == "Endpoints") {
        json m = {{"name", name},
                  {"namespace", ns},
                  {"uid", sim_uuid(suid + "/endpoints")},
                  {"resourceVersion", std::to_string(revision_)},
                  {"creationTimestamp", str(svc, "/metadata/creationTimestamp"_json_pointer)}};
        if (api) labels = {{"endpointslice.kubernetes.io/skip-mirror", "true"}};
        if (!labels.empty()) m["labels"] = labels;
        json ready = json::array(), unready = json::array();
        for (const auto& a : addresses) {
          json e = {{"ip", a.ip}};
          if (!a.node.empty()) e["nodeName"] = a.node;
          if (!a.pod.empty()) e["targetRef"] = {{"kind", "Pod"}, {"name", a.pod}, {"namespace", ns}, {"uid", a.uid}};
          (a.ready ? ready : unready).push_back(e);
        }
        json o = {{"apiVersion", "v1"}, {"kind", "Endpoints"}, {"metadata", m}};
        if (!addresses.empty()) {
          json subset = {{"ports", ports}};
          if (!ready.empty()) subset["addresses"] = ready;
          if (!unready.empty()) subset["notReadyAddresses"] = unready;
          o["subsets"] = json::array({subset});
        }
        out.push_back(o);
      } else {
        const std::string h = sha256_hex(suid + "/endpointslice");
        std::string suffix;
        for (int i = 0; i < 5; ++i) suffix += "bcdfghjklmnpqrstvwxz2456789"[std::stoi(h.substr(2 * i, 2), nullptr, 16) % 27];
        json m = {{"name", api ? name : name + "-" + suffix},
                  {"namespace", ns},
                  {"uid", sim_uuid(suid + "/endpointslice")},
                  {"resourceVersion", std::to_string(revision_)},
                  {"creationTimestamp", str(svc, "/metadata/creationTimestamp"_json_pointer)}};
        labels["kubernetes.io/service-name"] = name;
        if (!api) {
          labels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io";
          m["generateName"] = name + "-";
          m["ownerReferences"] = {{{"apiVersion", "v1"}, {"kind", "Service"}, {"name", name}, {"uid", suid},
                                   {"controller", true}, {"blockOwnerDeletion", true}}};
        }
        m["labels"] = labels;
        json endpoints = json::array();
        for (const auto& a : addresses) {
          json e = {{"addresses", {a.ip}},
                    {"conditions", {{"ready", a.ready}, {"serving", a.ready}, {"terminating", false}}}};
          if (!a.node.empty()) e["nodeName"] = a.node;
          if (!a.pod.empty()) e["targetRef"] = {{"kind", "Pod"}, {"name", a.pod}, {"namespace", ns}, {"uid", a.uid}};
          endpoints.push_back(e);
        }
        out.push_back({{"apiVersion", "discovery.k8s.io/v1"},
                       {"kind", "EndpointSlice"},
                       {"metadata", m},
                       {"addressType", "IPv4"},
                       {"endpoints", endpoints},
                       {"ports", ports}});
      }
    }
    return out;
  }
  const std::string rv = "1";
  if (kind == "ClusterRole" || kind == "ClusterRoleBinding") {
    const json labels = {{"kubernetes.io/bootstrapping", "rbac-defaults"}};
    const json annotations = {{"rbac.authorization.kubernetes.io/autoupdate", "true"}};
    if (kind == "ClusterRoleBinding") {
      json m = meta_from("ClusterRoleBinding/cluster-admin", "", "cluster-admin", api_started_, rv);
      m["labels"] = labels;
      m["annotations"] = annotations;
      out.push_back({{"apiVersion", "rbac.authorization.k8s.io/v1"},
                     {"kind", "ClusterRoleBinding"},
                     {"metadata", m},
                     {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "cluster-admin"}}},
                     {"subjects", {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Group"}, {"name", "system:masters"}}}}});
      return out;
    }
    for (const char* name : {"admin", "cluster-admin", "edit", "view"}) {
      json m = meta_from(std::string("ClusterRole/") + name, "", name, api_started_, rv);
      m["labels"] = labels;
      m["annotations"] = annotations;
      json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"}, {"kind", "ClusterRole"}, {"metadata", m}};
      if (std::string(name) == "cluster-admin") {
        role["rules"] = {{{"apiGroups", {"*"}}, {"resources", {"*"}}, {"verbs", {"*"}}},
                         {{"nonResourceURLs", {"*"}}, {"verbs", {"*"}}}};
      } else {
        role["aggregationRule"] = {{"clusterRoleSelectors",
                                    {{{"matchLabels", {{"rbac.authorization.k8s.io/aggregate-to-" + std::string(name), "true"}}}}}}};
        role["rules"] = json::array();
      }
      out.push_back(role);
    }
    return out;
  }
  if (kind == "PriorityClass") {
    for (const auto& [name, value] : {std::pair{"system-cluster-critical", 2000000000}, std::pair{"system-node-critical", 2000001000}}) {
      out.push_back({{"apiVersion", "scheduling.k8s.io/v1"},
                     {"kind", "PriorityClass"},
                     {"metadata", meta_from(std::string("PriorityClass/") + name, "", name, api_started_, rv)},
                     {"value", value},
                     {"description", "Used for system critical pods that must run in the cluster, but can be moved to "
                                     "another node if necessary."},
                     {"globalDefault", false},
                     {"preemptionPolicy", "PreemptLowerPriority"}});
    }
    if (out.size() == 2)
      out[1]["description"] = "Used for system critical pods that must not be moved from their current node.";
    return out;
  }
  if (kind == "APIService") {
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& k : served_kinds()) {
      if (!seen.insert({k.group, k.version}).second) continue;
      const bool crd = !kube_builtin_kind(k.kind);
      const std::string name = k.version + "." + k.group;
      json m = meta_from("APIService/" + name, "", name, api_started_, rv);
      m["labels"] = {{"kube-aggregator.kubernetes.io/automanaged", crd ? "true" : "onstart"}};
      out.push_back({{"apiVersion", "apiregistration.k8s.io/v1"},
                     {"kind", "APIService"},
                     {"metadata", m},
                     {"spec",
                      {{"group", k.group},
                       {"version", k.version},
                       {"groupPriorityMinimum", crd ? 1000 : 18000},
                       {"versionPriority", crd ? 100 : 15}}},
                     {"status",
                      {{"conditions", json::array({{{"type", "Available"}, {"status", "True"}, {"reason", "Local"},
                                                     {"message", "Local APIServices are always available"}}})}}}});
    }
    std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
      return a["metadata"]["name"].get<std::string>() < b["metadata"]["name"].get<std::string>();
    });
    return out;
  }
  if (kind == "ComponentStatus" && api_up()) {
    for (const char* name : {"controller-manager", "etcd-0", "scheduler"})
      out.push_back({{"apiVersion", "v1"},
                     {"kind", "ComponentStatus"},
                     {"metadata", {{"name", name}}},
                     {"conditions", {{{"type", "Healthy"}, {"status", "True"}, {"message", "ok"}}}}});
    return out;
  }
  return out;
}


void KubeCluster::set_load_balancer_ip(const std::string& ns, const std::string& service, const std::string& ip) {
  auto it = store_.find({"Service", ns, service});
  if (it == store_.end()) return;
  json ingress = ip.empty() ? json::array() : json::array({{{"ip", ip}}});
  if (it->second.contains("/status/loadBalancer/ingress"_json_pointer) &&
      it->second["status"]["loadBalancer"]["ingress"] == ingress)
    return;
  it->second["status"]["loadBalancer"]["ingress"] = ingress;
  it->second["metadata"]["resourceVersion"] = std::to_string(++revision_);
  engine_.log("kube", "load-balancer-ip", {{"service", ns + "/" + service}, {"ip", ip}});
  changed();
}


}  // namespace drctl::sim
