// The kinds catalogue of the simulated API server (see kube_kinds.hpp) and the cluster's
// lookups in it: the kinds served now, by apiVersion/kind and by kubectl's resource names.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <tuple>

#include "base/text.hpp"
#include "sim/kube.hpp"
#include "sim/kube_kinds.hpp"
#include "sim/kube_util.hpp"
#include "sim/kube_validation.hpp"

namespace drctl::sim {

using namespace kube_util;
using text::lower;

namespace kube_kinds {

namespace {

const std::vector<std::string> kNoCollection = {"create", "delete", "get", "list", "patch", "update", "watch"};
const std::vector<std::string> kCreateOnly = {"create"};

}  // namespace

/// What Kubernetes 1.28's API server serves itself. Namespace comes first (`create namespace`), and
/// the core group before the others (`events` is core's, `events.events.k8s.io` the other).
const std::vector<KubeKind>& builtin_kinds() {
  static const std::vector<KubeKind> kinds = {
      {"", "v1", "Namespace", "namespaces", false, {"ns"}, kNoCollection, {}},
      {"", "v1", "Pod", "pods", true, {"po"}, {}, {"all"}},
      {"", "v1", "Node", "nodes", false, {"no"}, {}, {}},
      {"", "v1", "Service", "services", true, {"svc"}, kNoCollection, {"all"}},
      {"", "v1", "Secret", "secrets", true, {}, {}, {}},
      {"", "v1", "ConfigMap", "configmaps", true, {"cm"}, {}, {}},
      {"", "v1", "ServiceAccount", "serviceaccounts", true, {"sa"}, {}, {}},
      {"", "v1", "PersistentVolume", "persistentvolumes", false, {"pv"}, {}, {}},
      {"", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, {"pvc"}, {}, {}},
      {"", "v1", "Binding", "bindings", true, {}, kCreateOnly, {}},
      {"", "v1", "ComponentStatus", "componentstatuses", false, {"cs"}, {"get", "list"}, {}},
      {"", "v1", "Endpoints", "endpoints", true, {"ep"}, {}, {}},
      {"", "v1", "Event", "events", true, {"ev"}, {}, {}},
      {"", "v1", "LimitRange", "limitranges", true, {"limits"}, {}, {}},
      {"", "v1", "PodTemplate", "podtemplates", true, {}, {}, {}},
      {"", "v1", "ReplicationController", "replicationcontrollers", true, {"rc"}, {}, {"all"}},
      {"", "v1", "ResourceQuota", "resourcequotas", true, {"quota"}, {}, {}},
      {"apps", "v1", "Deployment", "deployments", true, {"deploy"}, {}, {"all"}},
      {"apps", "v1", "StatefulSet", "statefulsets", true, {"sts"}, {}, {"all"}},
      {"apps", "v1", "DaemonSet", "daemonsets", true, {"ds"}, {}, {"all"}},
      {"apps", "v1", "ReplicaSet", "replicasets", true, {"rs"}, {}, {"all"}},
      {"apps", "v1", "ControllerRevision", "controllerrevisions", true, {}, {}, {}},
      {"batch", "v1", "Job", "jobs", true, {}, {}, {"all"}},
      {"batch", "v1", "CronJob", "cronjobs", true, {"cj"}, {}, {"all"}},
      {"autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, {"hpa"}, {}, {"all"}},
      {"networking.k8s.io", "v1", "Ingress", "ingresses", true, {"ing"}, {}, {}},
      {"networking.k8s.io", "v1", "IngressClass", "ingressclasses", false, {}, {}, {}},
      {"networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, {"netpol"}, {}, {}},
      {"rbac.authorization.k8s.io", "v1", "Role", "roles", true, {}, {}, {}},
      {"rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, {}, {}, {}},
      {"rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, {}, {}, {}},
      {"rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false, {}, {}, {}},
      {"storage.k8s.io", "v1", "StorageClass", "storageclasses", false, {"sc"}, {}, {}},
      {"storage.k8s.io", "v1", "CSIDriver", "csidrivers", false, {}, {}, {}},
      {"storage.k8s.io", "v1", "CSINode", "csinodes", false, {}, {}, {}},
      {"storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", true, {}, {}, {}},
      {"storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", false, {}, {}, {}},
      {"policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, {"pdb"}, {}, {}},
      {"apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, {"crd", "crds"}, {},
       {"api-extensions"}},
      {"apiregistration.k8s.io", "v1", "APIService", "apiservices", false, {}, {}, {"api-extensions"}},
      {"admissionregistration.k8s.io", "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false, {},
       {}, {"api-extensions"}},
      {"admissionregistration.k8s.io", "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false, {},
       {}, {"api-extensions"}},
      {"authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", false, {}, kCreateOnly, {}},
      {"authentication.k8s.io", "v1", "TokenReview", "tokenreviews", false, {}, kCreateOnly, {}},
      {"authorization.k8s.io", "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", true, {}, kCreateOnly, {}},
      {"authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false, {}, kCreateOnly, {}},
      {"authorization.k8s.io", "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false, {}, kCreateOnly, {}},
      {"authorization.k8s.io", "v1", "SubjectAccessReview", "subjectaccessreviews", false, {}, kCreateOnly, {}},
      {"certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", false, {"csr"}, {}, {}},
      {"coordination.k8s.io", "v1", "Lease", "leases", true, {}, {}, {}},
      {"discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, {}, {}, {}},
      {"events.k8s.io", "v1", "Event", "events", true, {"ev"}, {}, {}},
      {"flowcontrol.apiserver.k8s.io", "v1beta3", "FlowSchema", "flowschemas", false, {}, {}, {}},
      {"flowcontrol.apiserver.k8s.io", "v1beta3", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, {},
       {}, {}},
      {"node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", false, {}, {}, {}},
      {"scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, {"pc"}, {}, {}},
  };
  return kinds;
}

const std::vector<std::string> kAllVerbs = {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"};
const std::vector<std::string>& verbs_of(const KubeKind& k) { return k.verbs.empty() ? kAllVerbs : k.verbs; }

/// Kubernetes' version priority: v1 > v1beta2 > v1beta1 > v1alpha1 > anything else (by name).
std::tuple<int, int, int, std::string> version_priority(const std::string& v) {
  int major = 0, minor = 0, stability = 0;
  char kind[8] = {0};
  if (std::sscanf(v.c_str(), "v%d%7[a-z]%d", &major, kind, &minor) >= 1) {
    const std::string k = kind;
    stability = k.empty() ? 3 : k == "beta" ? 2 : k == "alpha" ? 1 : 0;
    if (stability == 0) major = minor = 0;
  }
  return {stability, major, minor, v};
}

/// The kinds a CustomResourceDefinition adds, one per served version.
std::vector<KubeKind> crd_kinds(const json& crd) {
  std::vector<KubeKind> out;
  const json spec = spec_of(crd);
  if (!spec.contains("names") || !spec.contains("versions")) return out;
  for (const auto& v : spec["versions"]) {
    if (!v.value("served", true)) continue;
    KubeKind k{spec.value("group", ""),
               v.value("name", ""),
               spec["names"].value("kind", ""),
               spec["names"].value("plural", ""),
               spec.value("scope", "Namespaced") == "Namespaced",
               {},
               {},
               {}};
    if (spec["names"].contains("shortNames") && spec["names"]["shortNames"].is_array())
      for (const auto& s : spec["names"]["shortNames"])
        if (s.is_string()) k.short_names.push_back(s.get<std::string>());
    if (spec["names"].contains("categories") && spec["names"]["categories"].is_array())
      for (const auto& c : spec["names"]["categories"])
        if (c.is_string()) k.categories.push_back(c.get<std::string>());
    out.push_back(k);
  }
  return out;
}


}  // namespace kube_kinds

using namespace kube_kinds;

std::string KubeKind::singular() const {
  std::string s = lower(kind);
  return group.empty() ? s : s + "." + group;
}

bool kube_builtin_kind(const std::string& kind) {
  static const std::set<std::string> names = [] {
    std::set<std::string> out;
    for (const auto& k : builtin_kinds()) out.insert(k.kind);
    return out;
  }();
  return names.count(kind) > 0;
}

std::vector<KubeKind> KubeCluster::served_kinds() const {
  std::vector<KubeKind> all = builtin_kinds();
  for (const auto& [key, crd] : store_.objects())
    if (std::get<0>(key) == "CustomResourceDefinition")
      for (auto& k : crd_kinds(crd)) all.push_back(std::move(k));
  return all;
}

namespace {

/// The group versions a minor serves beside builtin_kinds()' (which are 1.28's preferred ones), and
/// the minors builtin kinds are served at: (group, version, kind, plural, namespaced, first minor,
/// last minor). From the Kubernetes deprecated API migration guide
/// (kubernetes.io/docs/reference/using-api/deprecation-guide/) and the release notes: a version
/// whose last minor is past is "no matches for kind" to kubectl.
struct ServedRange {
  const char* group;
  const char* version;
  const char* kind;
  const char* plural;
  bool namespaced;
  int first, last;
};
const std::vector<ServedRange>& served_ranges() {
  static const std::vector<ServedRange> ranges = {
      // removed in 1.22
      {"extensions", "v1beta1", "Ingress", "ingresses", true, 1, 21},
      {"networking.k8s.io", "v1beta1", "Ingress", "ingresses", true, 14, 21},
      {"networking.k8s.io", "v1beta1", "IngressClass", "ingressclasses", false, 18, 21},
      {"apiextensions.k8s.io", "v1beta1", "CustomResourceDefinition", "customresourcedefinitions", false, 7, 21},
      {"admissionregistration.k8s.io", "v1beta1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false, 9, 21},
      {"admissionregistration.k8s.io", "v1beta1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false, 9, 21},
      {"rbac.authorization.k8s.io", "v1beta1", "ClusterRole", "clusterroles", false, 6, 21},
      {"rbac.authorization.k8s.io", "v1beta1", "ClusterRoleBinding", "clusterrolebindings", false, 6, 21},
      {"rbac.authorization.k8s.io", "v1beta1", "Role", "roles", true, 6, 21},
      {"rbac.authorization.k8s.io", "v1beta1", "RoleBinding", "rolebindings", true, 6, 21},
      // removed in 1.25
      {"batch", "v1beta1", "CronJob", "cronjobs", true, 8, 24},
      {"policy", "v1beta1", "PodDisruptionBudget", "poddisruptionbudgets", true, 5, 24},
      {"policy", "v1beta1", "PodSecurityPolicy", "podsecuritypolicies", false, 10, 24},
      {"discovery.k8s.io", "v1beta1", "EndpointSlice", "endpointslices", true, 17, 24},
      {"events.k8s.io", "v1beta1", "Event", "events", true, 8, 24},
      {"autoscaling", "v2beta1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, 8, 24},
      // removed in 1.26
      {"autoscaling", "v2beta2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, 12, 25},
      {"flowcontrol.apiserver.k8s.io", "v1beta1", "FlowSchema", "flowschemas", false, 20, 25},
      {"flowcontrol.apiserver.k8s.io", "v1beta1", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, 20, 25},
      // removed in 1.27
      {"storage.k8s.io", "v1beta1", "CSIStorageCapacity", "csistoragecapacities", true, 21, 26},
      // removed in 1.29
      {"flowcontrol.apiserver.k8s.io", "v1beta2", "FlowSchema", "flowschemas", false, 23, 28},
      {"flowcontrol.apiserver.k8s.io", "v1beta2", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, 23, 28},
      // removed in 1.32 (v1beta3 came in 1.26)
      {"flowcontrol.apiserver.k8s.io", "v1beta3", "FlowSchema", "flowschemas", false, 26, 31},
      {"flowcontrol.apiserver.k8s.io", "v1beta3", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, 26, 31},
      // served beside the preferred version
      {"autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, 1, 99},
      // new: SelfSubjectReview GA in 1.28, flow control v1 in 1.29, ValidatingAdmissionPolicy v1 in 1.30
      {"authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", false, 28, 99},
      {"flowcontrol.apiserver.k8s.io", "v1", "FlowSchema", "flowschemas", false, 29, 99},
      {"flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, 29, 99},
      {"admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", false, 30, 99},
      {"admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", false, 30, 99},
  };
  return ranges;
}

}  // namespace

std::optional<KubeKind> KubeCluster::find_kind(const std::string& api_version, const std::string& kind) const {
  const int minor = kube_validation::minor_of(setup_.version);
  const ServedRange* range = nullptr;
  for (const auto& r : served_ranges())
    if (r.kind == kind && (std::string(r.group).empty() ? std::string(r.version) : std::string(r.group) + "/" + r.version) == api_version)
      range = &r;
  if (range && (minor < range->first || minor > range->last)) return std::nullopt;
  for (const auto& k : served_kinds())
    if (k.kind == kind && k.api_version() == api_version) return k;
  if (range) {  // served at this minor, though not the version discovery prefers
    for (const auto& k : builtin_kinds())
      if (k.kind == kind && k.group == range->group) {
        KubeKind out = k;
        out.version = range->version;
        return out;
      }
    return KubeKind{range->group, range->version, range->kind, range->plural, range->namespaced, {}, {}, {}};
  }
  return std::nullopt;
}

std::optional<KubeKind> kube_kinds::kind_by_resource(const KubeStore& store, const std::string& name) {
  std::vector<KubeKind> all = builtin_kinds();
  for (const auto& [key, crd] : store.objects())
    if (std::get<0>(key) == "CustomResourceDefinition") {
      auto ks = crd_kinds(crd);
      if (ks.empty()) continue;
      // the preferred version, as discovery lists it
      all.push_back(*std::max_element(ks.begin(), ks.end(), [](const KubeKind& a, const KubeKind& b) {
        return version_priority(a.version) < version_priority(b.version);
      }));
    }
  const std::string n = lower(name);
  for (const auto& k : all) {
    std::vector<std::string> names = {k.plural, lower(k.kind), k.resource(), k.singular(), k.plural + "." + k.version + "." + k.group};
    names.insert(names.end(), k.short_names.begin(), k.short_names.end());
    if (std::find(names.begin(), names.end(), n) != names.end()) return k;
  }
  return std::nullopt;
}

}  // namespace drctl::sim
