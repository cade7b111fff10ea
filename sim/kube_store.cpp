// The simulated API server's object store: what put adds to an object (uid, resourceVersion,
// generation, managedFields), ClusterIPs, and etcd's objects loaded as they were.
#include "sim/kube_store.hpp"
#include "sim/kube.hpp"  // kube_builtin_kind
#include "base/text.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <ctime>

#include "base/ipv4.hpp"
#include "sim/kube_pki.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_util;

KubeStore::KubeStore(Engine& engine, const KubeSetup& setup) : engine_(engine), setup_(setup) {}

void KubeStore::load(const json& objects) {
  for (const auto& obj : objects) {
    objects_[{obj.value("kind", ""), str(obj, "/metadata/namespace"_json_pointer), str(obj, "/metadata/name"_json_pointer)}] = obj;
    try {
      revision_ = std::max<std::uint64_t>(revision_, std::stoull(str(obj, "/metadata/resourceVersion"_json_pointer)));
    } catch (const std::exception&) {
    }
  }
  ++revision_;
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

std::string KubeStore::uid_of(const std::string& kind, const std::string& ns, const std::string& name) const {
  auto it = objects_.find({kind, ns, name});
  if (it != objects_.end()) return str(it->second, "/metadata/uid"_json_pointer);
  return "";
}

void KubeStore::put(json obj, const std::string& manager) {
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
  auto old = objects_.find({kind, ns, name});
  json& meta = obj["metadata"];
  const std::string now = sim_time(engine_.now());
  if (old != objects_.end() && old->second.contains("metadata")) {
    const json& before = old->second["metadata"];
    for (const char* k : {"uid", "creationTimestamp", "generation", "managedFields"})
      if (before.contains(k)) meta[k] = before[k];
    if (before.contains("generation") && spec_of(old->second) != spec_of(obj))
      meta["generation"] = before["generation"].get<std::int64_t>() + 1;
  } else {
    meta["uid"] = sim_uuid(setup_.ca + "/" + kind + "/" + ns + "/" + name + "/" + std::to_string(revision_ + 1));
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
  objects_[{kind, ns, name}] = std::move(obj);
}

void KubeStore::erase(const KubeKey& key) {
  if (objects_.erase(key)) ++revision_;
  if (std::get<0>(key) != "Namespace") return;
  for (auto it = objects_.begin(); it != objects_.end();)
    it = std::get<1>(it->first) == std::get<2>(key) ? objects_.erase(it) : std::next(it);
}

std::string KubeStore::allocate_cluster_ip() const {
  auto cidr = cluster_subnet(setup_.service_subnet);
  std::set<std::string> used;
  for (const auto& [key, obj] : objects_)
    if (std::get<0>(key) == "Service") used.insert(str(obj, "/spec/clusterIP"_json_pointer));
  const std::uint32_t size = cidr->second >= 32 ? 1u : (1u << (32 - cidr->second));
  for (std::uint32_t host = 1; host + 1 < size; ++host) {
    std::string ip = format_ipv4(cidr->first + host);
    if (!used.count(ip)) return ip;
  }
  return "";
}

}  // namespace drctl::sim
