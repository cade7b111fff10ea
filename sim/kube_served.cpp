// What the simulated API server serves beside the stored objects, as a real one does: each
// namespace's default ServiceAccount and kube-root-ca.crt, Deployments' ReplicaSets, Services'
// Endpoints and EndpointSlices, the default ClusterRoles, the system PriorityClasses,
// APIServices and ComponentStatuses.
#include "sim/kube.hpp"

#include <algorithm>
#include <set>

#include "base/text.hpp"
#include "sim/kube_pki.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_pki;
using namespace kube_util;
using text::sha256_hex;

std::vector<json> KubeCluster::generated(const std::string& kind) const {
  std::vector<json> out;
  if (!etcd_.started()) return out;
  auto meta_from = [&](const std::string& seed, const std::string& ns, const std::string& name, Duration created,
                       const std::string& rv) {
    json m = {{"name", name},
              {"uid", sim_uuid(setup_.ca + "/" + seed)},
              {"resourceVersion", rv},
              {"creationTimestamp", sim_time(created)}};
    if (!ns.empty()) m["namespace"] = ns;
    return m;
  };
  if (kind == "ServiceAccount" || kind == "ConfigMap") {
    for (const auto& [key, ns] : store_.objects()) {
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
                       {"data", {{"ca.crt", ca_certificate(setup_.ca)}}}});
      }
    }
    return out;
  }
  if (kind == "ReplicaSet") {
    for (const auto& [key, d] : store_.objects()) {
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
      json status = controllers_.workload_status("Deployment", d);
      status.erase("observedGeneration");
      status["observedGeneration"] = 1;
      out.push_back({{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"metadata", m}, {"spec", spec}, {"status", status}});
    }
    return out;
  }
  if (kind == "Endpoints" || kind == "EndpointSlice") {
    for (const auto& [key, svc] : store_.objects()) {
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
        auto n = nodes_.states().find(setup_.api_node);
        addresses.push_back({n == nodes_.states().end() ? "" : n->second.address, "", "", "", true});
        ports.push_back({{"name", "https"}, {"port", 6443}, {"protocol", "TCP"}});
      } else {
        const PodState* first = nullptr;
        for (const auto& [pk, p] : controllers_.pod_states()) {
          if (p.ns != ns || p.ip.empty() || !matches(spec["selector"], p.labels)) continue;
          if (!first) first = &p;
          addresses.push_back({p.ip, p.node, p.name, sim_uuid(setup_.ca + "/pod/" + std::to_string(p.uid)), p.ready});
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
                  {"resourceVersion", std::to_string(store_.revision())},
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
                  {"resourceVersion", std::to_string(store_.revision())},
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

}  // namespace drctl::sim
