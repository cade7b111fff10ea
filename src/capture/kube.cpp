#include "capture/kube.hpp"

#include <algorithm>
#include <cctype>
#include <string_view>
#include <tuple>

#include "base/error.hpp"
#include "base/shell.hpp"
#include "base/text.hpp"

namespace drctl::capture {

using json = nlohmann::json;

namespace {

// --- small helpers ----------------------------------------------------------------------------

using text::lower;

using text::trim;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  for (char c : s) {
    if (c == sep) {
      if (!trim(part).empty()) out.push_back(trim(part));
      part.clear();
    } else {
      part += c;
    }
  }
  if (!trim(part).empty()) out.push_back(trim(part));
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
    start = end + 1;
  }
  return out;
}

/// A string member of a JSON object, "" when absent or not a string.
std::string text(const json& o, const char* key) {
  if (!o.is_object()) return "";
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : "";
}

/// A member of a JSON object, or null.
const json& member(const json& o, const char* key) {
  static const json null;
  if (!o.is_object()) return null;
  auto it = o.find(key);
  return it == o.end() ? null : *it;
}

const json& meta_of(const json& o) { return member(o, "metadata"); }
std::string ns_of(const json& o) { return text(meta_of(o), "namespace"); }
std::string name_of(const json& o) { return text(meta_of(o), "name"); }

std::optional<std::string> label(const json& o, const char* key) {
  const json& labels = member(meta_of(o), "labels");
  if (!labels.is_object() || !labels.contains(key) || !labels[key].is_string()) return std::nullopt;
  return labels[key].get<std::string>();
}

std::optional<std::string> annotation(const json& o, const char* key) {
  const json& a = member(meta_of(o), "annotations");
  if (!a.is_object() || !a.contains(key) || !a[key].is_string()) return std::nullopt;
  return a[key].get<std::string>();
}

bool controller_owned(const json& o) {
  const json& refs = member(meta_of(o), "ownerReferences");
  if (!refs.is_array()) return false;
  return std::any_of(refs.begin(), refs.end(), [](const json& r) { return member(r, "controller") == json(true); });
}

/// Erases `key` from the object `map` at `parent[field]`, and the map itself when that empties it.
void erase_in_map(json& parent, const char* field, const std::string& key) {
  if (!parent.is_object()) return;
  auto it = parent.find(field);
  if (it == parent.end() || !it->is_object()) return;
  it->erase(key);
  if (it->empty()) parent.erase(it);
}

bool is(const KubeResource& r, const char* group, const char* name) { return r.group == group && r.name == name; }

const std::set<std::string> kSystemNamespaces = {"kube-system", "kube-public", "kube-node-lease"};

// --- the skip table ---------------------------------------------------------------------------

struct Rule {
  const char* id;
  const char* what;
  const char* why;
  bool (*resource)(const KubeResource&);                                // leaves out a whole resource
  bool (*object)(const KubeResource&, const json&, const KubeFacts&);  // leaves out one object
};

const Rule kRules[] = {
    {"not-listable", "Bindings, TokenReviews, SubjectAccessReviews and other resources without the list verb",
     "requests, not state: `kubectl api-resources --verbs=list` does not return them", nullptr, nullptr},
    {"not-creatable", "resources without the create verb: ComponentStatuses, metrics.k8s.io NodeMetrics and PodMetrics",
     "computed on every read by the API server or an aggregated API; there is nothing to restore",
     [](const KubeResource& r) { return !r.has_verb("create"); }, nullptr},
    {"events", "Events (core and events.k8s.io)", "a log of what happened, not state; they expire after an hour",
     [](const KubeResource& r) { return is(r, "", "events") || is(r, "events.k8s.io", "events"); }, nullptr},
    {"leases", "Leases (coordination.k8s.io)",
     "leader elections and node heartbeats of running processes, taken again when they start",
     [](const KubeResource& r) { return is(r, "coordination.k8s.io", "leases"); }, nullptr},
    {"nodes", "Nodes", "machines register themselves when their kubelet joins",
     [](const KubeResource& r) { return is(r, "", "nodes"); }, nullptr},
    {"node-storage-state", "CSINodes and VolumeAttachments (storage.k8s.io)",
     "driver and attach state of the old machines; the kubelets and the attach/detach controller rebuild them",
     [](const KubeResource& r) { return is(r, "storage.k8s.io", "csinodes") || is(r, "storage.k8s.io", "volumeattachments"); },
     nullptr},
    {"csr", "CertificateSigningRequests", "the old kubelets' certificate requests; new nodes make their own",
     [](const KubeResource& r) { return is(r, "certificates.k8s.io", "certificatesigningrequests"); }, nullptr},
    {"ip-addresses", "IPAddresses (networking.k8s.io)",
     "the allocation records of the old ClusterIPs, which are not restored either",
     [](const KubeResource& r) { return is(r, "networking.k8s.io", "ipaddresses"); }, nullptr},
    {"controller-owned",
     "Pods, ReplicaSets, Jobs and ControllerRevisions owned by a controller (an ownerReference with controller: true)",
     "their Deployment, StatefulSet, DaemonSet, CronJob or Job creates them again", nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       return (is(r, "", "pods") || is(r, "apps", "replicasets") || is(r, "batch", "jobs") ||
               is(r, "apps", "controllerrevisions")) &&
              controller_owned(o);
     }},
    {"control-plane-endpoints",
     "Endpoints the control plane writes: default/kubernetes, those of a Service with a selector, those labelled "
     "endpoints.kubernetes.io/managed-by",
     "the API server and the endpoints controller rewrite them from what runs; Endpoints of a Service without a "
     "selector (an address outside the cluster) are kept",
     nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts& facts) {
       if (!is(r, "", "endpoints")) return false;
       return (ns_of(o) == "default" && name_of(o) == "kubernetes") ||
              label(o, "endpoints.kubernetes.io/managed-by").has_value() ||
              facts.selector_services.count(ns_of(o) + "/" + name_of(o)) > 0;
     }},
    {"control-plane-endpointslices",
     "EndpointSlices of default/kubernetes and those managed by endpointslice-controller.k8s.io or "
     "endpointslicemirroring-controller.k8s.io",
     "the API server and the EndpointSlice controllers rewrite them from Services, Endpoints and what runs", nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       if (!is(r, "discovery.k8s.io", "endpointslices")) return false;
       const auto by = label(o, "endpointslice.kubernetes.io/managed-by").value_or("");
       return (ns_of(o) == "default" && label(o, "kubernetes.io/service-name") == std::optional<std::string>("kubernetes")) ||
              by == "endpointslice-controller.k8s.io" || by == "endpointslicemirroring-controller.k8s.io";
     }},
    {"kubernetes-service", "the Service default/kubernetes", "the API server creates it with the new cluster's service address",
     nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       return is(r, "", "services") && ns_of(o) == "default" && name_of(o) == "kubernetes";
     }},
    {"root-ca-configmap", "ConfigMaps named kube-root-ca.crt",
     "published into every namespace by the control plane; the rebuilt cluster has its own CA", nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       return is(r, "", "configmaps") && name_of(o) == "kube-root-ca.crt";
     }},
    {"service-account-token", "Secrets of type kubernetes.io/service-account-token",
     "tokens signed with the old cluster's service-account key, worthless to the new one", nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       return is(r, "", "secrets") && text(o, "type") == "kubernetes.io/service-account-token";
     }},
    {"default-rbac", "Roles, ClusterRoles and their bindings labelled kubernetes.io/bootstrapping=rbac-defaults",
     "the API server re-creates and reconciles its default RBAC at start; an old copy could take away permissions a "
     "newer version adds",
     nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       return r.group == "rbac.authorization.k8s.io" &&
              label(o, "kubernetes.io/bootstrapping") == std::optional<std::string>("rbac-defaults");
     }},
    {"system-priority-class", "the PriorityClasses system-node-critical and system-cluster-critical",
     "built into the API server", nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       return is(r, "scheduling.k8s.io", "priorityclasses") &&
              (name_of(o) == "system-node-critical" || name_of(o) == "system-cluster-critical");
     }},
    {"default-flow-control",
     "FlowSchemas and PriorityLevelConfigurations annotated apf.kubernetes.io/autoupdate-spec=true",
     "the API server keeps its suggested and mandatory flow control up to date itself", nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       return r.group == "flowcontrol.apiserver.k8s.io" &&
              annotation(o, "apf.kubernetes.io/autoupdate-spec") == std::optional<std::string>("true");
     }},
    {"local-apiservice", "APIServices labelled kube-aggregator.kubernetes.io/automanaged",
     "the API server registers its own group versions", nullptr,
     [](const KubeResource& r, const json& o, const KubeFacts&) {
       return is(r, "apiregistration.k8s.io", "apiservices") && label(o, "kube-aggregator.kubernetes.io/automanaged");
     }},
    {"namespace",
     "objects in kube-system, kube-public and kube-node-lease (unless include_namespaces names them) or in a "
     "namespace the filter leaves out, with the cluster-scoped objects tied to such a namespace: the Namespace "
     "itself, PersistentVolumes claimed from it, APIServices and admission webhooks whose Service is in it",
     "kubeadm and the add-ons' installers set up the system namespaces; an APIService or a webhook pointing at a "
     "Service that is not restored breaks discovery or admission for everything",
     nullptr, nullptr},  // applied by kube_namespaces_wanted
};

// --- running kubectl --------------------------------------------------------------------------

/// kubectl on the host, always with the target's kubeconfig (and context).
class Kubectl {
 public:
  Kubectl(world::Host& host, const KubeTarget& target) : host_(host), target_(target) {}

  /// The script for `kubectl ARGS`.
  std::string script(const std::string& args) const {
    std::string s = target_.kubectl + " --kubeconfig " + shell_quote(target_.kubeconfig);
    if (!target_.context.empty()) s += " --context " + shell_quote(target_.context);
    return s + " " + args;
  }

  /// Runs `kubectl ARGS`; throws Failure when it was killed (timeout, cancel).
  world::CommandResult run(const std::string& args, const std::string& what) const {
    world::Command c;
    c.script = script(args);
    c.timeout = target_.timeout;
    auto r = host_.run(c);
    if (r.timed_out)
      throw Failure("kubectl " + what + " on " + host_.name() + " timed out after " +
                    std::to_string(target_.timeout.count() / 1000) + " s");
    if (r.cancelled) throw Failure("kubectl " + what + " on " + host_.name() + " was cancelled");
    return r;
  }

  /// The error for a failed call: what was asked, where, and kubectl's error line.
  Failure failure(const std::string& what, const world::CommandResult& r) const {
    return Failure("kubectl " + what + " on " + host_.name() + " failed (exit " + std::to_string(r.exit_code) +
                   "): " + error_line(r.err));
  }

  /// Runs `kubectl ARGS` and parses its JSON output; throws Failure when it fails or prints no JSON object.
  json json_of(const std::string& args, const std::string& what) const {
    auto r = run(args, what);
    if (!r.ok()) throw failure(what, r);
    json j = json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.is_object())  // never quote the output: it may hold secrets
      throw Failure("kubectl " + what + " on " + host_.name() + " printed no JSON object (" +
                    std::to_string(r.out.size()) + " bytes of output)");
    return j;
  }

  const std::string& host_name() const { return host_.name(); }

  /// kubectl's message: its last "error: …" line (after klog noise), else its last line.
  static std::string error_line(const std::string& err) {
    std::string last;
    for (const auto& line : lines_of(err)) {
      const std::string t = trim(line);
      if (t.empty()) continue;
      if (t.rfind("error:", 0) == 0 || t.rfind("Error from server", 0) == 0) return t;
      last = t;
    }
    return last.empty() ? "(no message on stderr)" : last;
  }

 private:
  world::Host& host_;
  const KubeTarget& target_;
};

bool has_header(const std::string& table) {
  for (const auto& line : lines_of(table))
    if (!trim(line).empty()) return trim(line).rfind("NAME ", 0) == 0;
  return false;
}

bool matches_any(const KubeResource& r, const std::vector<std::string>& patterns) {
  return std::any_of(patterns.begin(), patterns.end(), [&](const std::string& p) { return r.matches(p); });
}

/// The namespaces an object lives in or is tied to (see kube_namespaces_wanted).
std::vector<std::string> tied_namespaces(const KubeResource& r, const json& o) {
  if (r.namespaced) return {ns_of(o)};
  if (is(r, "", "namespaces")) return {name_of(o)};
  const json& spec = member(o, "spec");
  if (is(r, "", "persistentvolumes")) {
    const std::string ns = text(member(spec, "claimRef"), "namespace");
    return ns.empty() ? std::vector<std::string>{} : std::vector<std::string>{ns};
  }
  if (is(r, "apiregistration.k8s.io", "apiservices")) {
    const std::string ns = text(member(spec, "service"), "namespace");
    return ns.empty() ? std::vector<std::string>{} : std::vector<std::string>{ns};
  }
  if (r.group == "admissionregistration.k8s.io") {
    std::vector<std::string> out;
    const json& hooks = member(o, "webhooks");
    if (hooks.is_array())
      for (const auto& h : hooks)
        if (auto ns = text(member(member(h, "clientConfig"), "service"), "namespace"); !ns.empty()) out.push_back(ns);
    return out;
  }
  return {};
}

// --- restore order ----------------------------------------------------------------------------

struct PhaseDef {
  const char* name;
  bool wait_established;
};

enum Phase : std::size_t {
  kCrds, kNamespaces, kStorageClasses, kPriorityClasses, kPvs, kPvcs, kSecrets, kConfigMaps, kServiceAccounts, kRoles,
  kRoleBindings, kOtherBuiltIn, kServices, kWorkloads, kCustom, kIngresses, kAdmission, kPhaseCount
};

const PhaseDef kPhaseDefs[kPhaseCount] = {
    {"CustomResourceDefinitions", true},
    {"Namespaces", false},
    {"StorageClasses", false},
    {"PriorityClasses", false},
    {"PersistentVolumes", false},
    {"PersistentVolumeClaims", false},
    {"Secrets", false},
    {"ConfigMaps", false},
    {"ServiceAccounts", false},
    {"Roles and ClusterRoles", false},
    {"RoleBindings and ClusterRoleBindings", false},
    {"Other built-in objects", false},
    {"Services", false},
    {"Workloads", false},
    {"Custom resources", false},
    {"IngressClasses and Ingresses", false},
    {"Admission webhooks and APIServices", false},
};

/// The groups Kubernetes serves itself (everything else is a custom resource or an aggregated API).
const std::set<std::string> kBuiltInGroups = {
    "", "apps", "batch", "autoscaling", "policy", "extensions", "networking.k8s.io", "rbac.authorization.k8s.io",
    "storage.k8s.io", "scheduling.k8s.io", "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "certificates.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "flowcontrol.apiserver.k8s.io", "resource.k8s.io", "storagemigration.k8s.io", "internal.apiserver.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io"};

Phase built_in_phase(const std::string& group, const std::string& kind) {
  static const std::map<std::pair<std::string, std::string>, Phase> kByKind = {
      {{"apiextensions.k8s.io", "CustomResourceDefinition"}, kCrds},
      {{"", "Namespace"}, kNamespaces},
      {{"storage.k8s.io", "StorageClass"}, kStorageClasses},
      {{"scheduling.k8s.io", "PriorityClass"}, kPriorityClasses},
      {{"", "PersistentVolume"}, kPvs},
      {{"", "PersistentVolumeClaim"}, kPvcs},
      {{"", "Secret"}, kSecrets},
      {{"", "ConfigMap"}, kConfigMaps},
      {{"", "ServiceAccount"}, kServiceAccounts},
      {{"rbac.authorization.k8s.io", "Role"}, kRoles},
      {{"rbac.authorization.k8s.io", "ClusterRole"}, kRoles},
      {{"rbac.authorization.k8s.io", "RoleBinding"}, kRoleBindings},
      {{"rbac.authorization.k8s.io", "ClusterRoleBinding"}, kRoleBindings},
      {{"", "Service"}, kServices},
      {{"", "Endpoints"}, kServices},
      {{"discovery.k8s.io", "EndpointSlice"}, kServices},
      {{"apps", "Deployment"}, kWorkloads},
      {{"apps", "StatefulSet"}, kWorkloads},
      {{"apps", "DaemonSet"}, kWorkloads},
      {{"apps", "ReplicaSet"}, kWorkloads},
      {{"", "ReplicationController"}, kWorkloads},
      {{"", "Pod"}, kWorkloads},
      {{"batch", "CronJob"}, kWorkloads},
      {{"batch", "Job"}, kWorkloads},
      {{"networking.k8s.io", "IngressClass"}, kIngresses},
      {{"networking.k8s.io", "Ingress"}, kIngresses},
      {{"extensions", "Ingress"}, kIngresses},
      {{"apiregistration.k8s.io", "APIService"}, kAdmission},
  };
  if (auto it = kByKind.find({group, kind}); it != kByKind.end()) return it->second;
  if (group == "admissionregistration.k8s.io") return kAdmission;  // webhooks, admission policies and their bindings
  return kOtherBuiltIn;
}

}  // namespace

// --- KubeResource -----------------------------------------------------------------------------

std::string KubeResource::qualified() const { return group.empty() ? name : name + "." + group; }

std::string KubeResource::api_version() const {
  if (group.empty()) return version;
  return version.empty() ? group : group + "/" + version;
}

bool KubeResource::has_verb(const std::string& verb) const {
  return std::find(verbs.begin(), verbs.end(), verb) != verbs.end();
}

bool KubeResource::matches(const std::string& pattern) const {
  const std::string p = lower(trim(pattern));
  if (p.empty()) return false;
  if (p == lower(name) || p == lower(kind) || p == lower(qualified())) return true;
  if (!group.empty() && p == lower(kind + "." + group)) return true;
  return std::any_of(short_names.begin(), short_names.end(), [&](const std::string& s) { return p == lower(s); });
}

// --- discovery --------------------------------------------------------------------------------

std::vector<KubeResource> parse_api_resources(const std::string& table) {
  const auto lines = lines_of(table);
  std::size_t first = 0;
  while (first < lines.size() && trim(lines[first]).empty()) ++first;
  const std::string header = first < lines.size() ? lines[first] : "";

  // Column starts from the header: kubectl aligns every cell under its heading (blank cells included).
  std::vector<std::pair<std::string, std::size_t>> columns;
  for (std::size_t i = 0; i < header.size();) {
    if (header[i] == ' ' || header[i] == '\t') {
      ++i;
      continue;
    }
    std::size_t end = header.find_first_of(" \t", i);
    if (end == std::string::npos) end = header.size();
    columns.push_back({header.substr(i, end - i), i});
    i = end;
  }
  auto column = [&](const char* name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i].first == name) return i;
    return std::nullopt;
  };
  const auto c_name = column("NAME"), c_short = column("SHORTNAMES"), c_version = column("APIVERSION"),
             c_group = column("APIGROUP"), c_namespaced = column("NAMESPACED"), c_kind = column("KIND"),
             c_verbs = column("VERBS"), c_categories = column("CATEGORIES");
  if (!c_name || *c_name != 0 || !c_namespaced || !c_kind || !c_verbs || (!c_version && !c_group))
    throw Failure("not the table of `kubectl api-resources -o wide` (columns NAME, SHORTNAMES, APIVERSION, NAMESPACED, "
                  "KIND, VERBS); its first line is \"" + trim(header).substr(0, 100) + "\"");

  std::vector<KubeResource> out;
  for (std::size_t n = first + 1; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    if (trim(line).empty()) continue;
    auto cell = [&](std::optional<std::size_t> c) -> std::string {
      if (!c) return "";
      const std::size_t start = columns[*c].second;
      const std::size_t end = *c + 1 < columns.size() ? columns[*c + 1].second : std::string::npos;
      if (start >= line.size()) return "";
      return trim(line.substr(start, end == std::string::npos ? std::string::npos : end - start));
    };
    auto bad = [&](const std::string& why) {
      return Failure("kubectl api-resources, line " + std::to_string(n + 1) + ": " + why + ": \"" + trim(line) + "\"");
    };
    KubeResource r;
    r.name = cell(c_name);
    r.short_names = split(cell(c_short), ',');
    if (c_version) {
      const std::string gv = cell(c_version);
      const auto slash = gv.rfind('/');
      r.group = slash == std::string::npos ? "" : gv.substr(0, slash);
      r.version = slash == std::string::npos ? gv : gv.substr(slash + 1);
      if (r.version.empty()) throw bad("no API version");
    } else {
      r.group = cell(c_group);
    }
    const std::string namespaced = cell(c_namespaced);
    if (namespaced != "true" && namespaced != "false") throw bad("NAMESPACED is neither true nor false");
    r.namespaced = namespaced == "true";
    r.kind = cell(c_kind);
    std::string verbs = cell(c_verbs);  // "get,list" (kubectl ≥ 1.20) or "[get list]"
    if (!verbs.empty() && verbs.front() == '[') {
      if (verbs.back() != ']') throw bad("an unterminated [verb list]");
      verbs = verbs.substr(1, verbs.size() - 2);
      std::replace(verbs.begin(), verbs.end(), ' ', ',');
    }
    r.verbs = split(verbs, ',');
    r.categories = split(cell(c_categories), ',');
    if (r.name.empty() || r.name.find_first_of(" \t/") != std::string::npos) throw bad("no resource name");
    if (r.kind.empty() || r.kind.find_first_of(" \t") != std::string::npos) throw bad("no kind");
    out.push_back(std::move(r));
  }
  return out;
}

// --- skip rules -------------------------------------------------------------------------------

const std::vector<KubeSkipRule>& kube_skip_rules() {
  static const std::vector<KubeSkipRule> rules = [] {
    std::vector<KubeSkipRule> out;
    for (const auto& r : kRules) out.push_back({r.id, r.what, r.why});
    return out;
  }();
  return rules;
}

std::optional<std::string> kube_skip_resource(const KubeResource& resource) {
  for (const auto& r : kRules)
    if (r.resource && r.resource(resource)) return std::string(r.id);
  return std::nullopt;
}

std::optional<std::string> kube_skip_object(const KubeResource& resource, const json& object, const KubeFacts& facts) {
  for (const auto& r : kRules)
    if (r.object && r.object(resource, object, facts)) return std::string(r.id);
  return std::nullopt;
}

bool kube_namespaces_wanted(const KubeResource& resource, const json& object, const KubeFilter& filter) {
  auto listed = [](const std::vector<std::string>& names, const std::string& ns) {
    return std::find(names.begin(), names.end(), ns) != names.end();
  };
  for (const auto& ns : tied_namespaces(resource, object)) {
    if (listed(filter.exclude_namespaces, ns)) return false;
    if (!filter.include_namespaces.empty() && !listed(filter.include_namespaces, ns)) return false;
    if (kSystemNamespaces.count(ns) && !listed(filter.include_namespaces, ns)) return false;
  }
  return true;
}

// --- normalisation ----------------------------------------------------------------------------

json kube_normalise(const KubeResource& resource, json o) {
  if (!o.is_object()) return o;
  o.erase("status");
  if (auto m = o.find("metadata"); m != o.end() && m->is_object()) {
    for (const char* k : {"uid", "resourceVersion", "managedFields", "creationTimestamp", "generation", "selfLink",
                          "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences"})
      m->erase(k);
    erase_in_map(*m, "annotations", "kubectl.kubernetes.io/last-applied-configuration");
  }
  auto spec = o.find("spec");
  const bool has_spec = spec != o.end() && spec->is_object();

  if (is(resource, "", "services") && has_spec) {
    if (text(*spec, "clusterIP") != "None") {  // headless stays headless
      spec->erase("clusterIP");
      spec->erase("clusterIPs");
    }
    spec->erase("healthCheckNodePort");
    if (text(*spec, "type") != "NodePort")
      if (auto ports = spec->find("ports"); ports != spec->end() && ports->is_array())
        for (auto& p : *ports)
          if (p.is_object()) p.erase("nodePort");
  }
  if (is(resource, "", "persistentvolumes") && has_spec)
    if (auto claim = spec->find("claimRef"); claim != spec->end() && claim->is_object()) {
      claim->erase("uid");
      claim->erase("resourceVersion");
    }
  if (is(resource, "", "persistentvolumeclaims"))
    if (auto m = o.find("metadata"); m != o.end())
      for (const char* a : {"pv.kubernetes.io/bind-completed", "pv.kubernetes.io/bound-by-controller",
                            "volume.kubernetes.io/selected-node"})
        erase_in_map(*m, "annotations", a);
  if (is(resource, "batch", "jobs") && has_spec && member(*spec, "manualSelector") != json(true)) {
    for (const char* l : {"controller-uid", "batch.kubernetes.io/controller-uid"}) {
      if (auto sel = spec->find("selector"); sel != spec->end() && sel->is_object()) {
        erase_in_map(*sel, "matchLabels", l);
        if (sel->empty()) spec->erase(sel);
      }
      if (auto t = spec->find("template"); t != spec->end() && t->is_object())
        if (auto tm = t->find("metadata"); tm != t->end()) erase_in_map(*tm, "labels", l);
      if (auto m = o.find("metadata"); m != o.end()) erase_in_map(*m, "labels", l);
    }
  }
  return o;
}

std::string kube_json_bytes(const json& value) {
  return value.dump(2) + "\n";  // nlohmann::json keeps object keys sorted
}

std::string kube_object_path(const KubeResource& resource, const json& object) {
  const std::string name = name_of(object);
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
    throw Failure("a " + resource.kind + " without a usable metadata.name (\"" + name + "\")");
  std::string ns = "_cluster";
  if (resource.namespaced) {
    ns = ns_of(object);
    if (ns.empty() || ns == "." || ns == ".." || ns.find('/') != std::string::npos)
      throw Failure("the " + resource.kind + " " + name + " has no usable metadata.namespace");
  }
  return ns + "/" + resource.qualified() + "/" + name + ".json";
}

// --- capture ----------------------------------------------------------------------------------

KubeCapture capture_kube(world::Host& host, const KubeTarget& target, const KubeFilter& filter) {
  if (trim(target.kubeconfig).empty())
    throw InputError("Kubernetes capture: no kubeconfig given; drctl never falls back to kubectl's default "
                     "(~/.kube/config or $KUBECONFIG): name the file, e.g. /etc/kubernetes/admin.conf");
  const Kubectl kubectl(host, target);
  KubeCapture out;

  const json version = kubectl.json_of("version -o json", "version");
  out.server_version = text(member(version, "serverVersion"), "gitVersion");
  if (out.server_version.empty())
    throw Failure("kubectl version on " + host.name() + " printed no serverVersion.gitVersion");

  // Discovery. kubectl exits 1 but prints the table when only some API groups failed (an
  // aggregated API whose server is down): the groups it listed are captured, the failure is kept.
  std::string incomplete;
  const auto discovery = kubectl.run("api-resources --verbs=list -o wide", "api-resources");
  if (!discovery.ok()) {
    const bool partial = discovery.exit_code == 1 &&
                         discovery.err.find("unable to retrieve the complete list of server APIs") != std::string::npos &&
                         has_header(discovery.out);
    if (!partial) throw kubectl.failure("api-resources", discovery);
    incomplete = Kubectl::error_line(discovery.err);
    out.warnings.push_back("kubectl api-resources on " + host.name() + " did not list every API group, those are not "
                           "captured: " + incomplete);
  }
  std::vector<KubeResource> discovered = parse_api_resources(discovery.out);
  std::sort(discovered.begin(), discovered.end(),
            [](const KubeResource& a, const KubeResource& b) { return a.qualified() < b.qualified(); });

  for (const auto& pattern : filter.include_kinds)
    if (std::none_of(discovered.begin(), discovered.end(), [&](const KubeResource& r) { return r.matches(pattern); }))
      throw InputError("include_kinds: \"" + pattern + "\" names no listable resource of the cluster (see kubectl "
                       "api-resources --verbs=list)");

  std::vector<KubeResource> selected;
  for (const auto& r : discovered) {
    if (auto rule = kube_skip_resource(r)) {
      out.skipped_resources.push_back(r.qualified() + " (" + *rule + ")");
      if (matches_any(r, filter.include_kinds))
        out.warnings.push_back("include_kinds names " + r.qualified() + ", which is never captured (" + *rule + ")");
      continue;
    }
    if (!filter.include_kinds.empty() && !matches_any(r, filter.include_kinds)) continue;
    if (matches_any(r, filter.exclude_kinds)) continue;
    selected.push_back(r);
  }

  std::map<std::string, json> lists;  // kubectl arguments → the list they printed
  auto list_of = [&](const KubeResource& r, bool with_selector) -> const json& {
    std::string args = "get " + r.qualified() + (r.namespaced ? " -A" : "") + " -o json";
    if (with_selector && !filter.selector.empty()) args += " -l " + shell_quote(filter.selector);
    auto it = lists.find(args);
    if (it != lists.end()) return it->second;
    json list = kubectl.json_of(args, "get " + r.qualified());
    if (!list.contains("items") || !list["items"].is_array())
      throw Failure("kubectl get " + r.qualified() + " on " + host.name() + " printed no list of items");
    return lists.emplace(args, std::move(list)).first->second;
  };

  // Which Endpoints the control plane writes depends on the Services (all of them: not only those
  // the label selector picks).
  KubeFacts facts;
  const auto endpoints = std::find_if(selected.begin(), selected.end(), [](const KubeResource& r) { return is(r, "", "endpoints"); });
  const auto services = std::find_if(discovered.begin(), discovered.end(), [](const KubeResource& r) { return is(r, "", "services"); });
  if (endpoints != selected.end() && services != discovered.end())
    for (const auto& svc : list_of(*services, false)["items"]) {
      const json& sel = member(member(svc, "spec"), "selector");
      if (sel.is_object() && !sel.empty()) facts.selector_services.insert(ns_of(svc) + "/" + name_of(svc));
    }

  json resources = json::array();
  for (const auto& r : selected) {
    std::size_t count = 0;
    for (json item : list_of(r, true)["items"]) {
      if (!item.is_object()) throw Failure("kubectl get " + r.qualified() + " on " + host.name() + " listed a non-object");
      if (auto rule = kube_skip_object(r, item, facts)) {
        ++out.skipped[*rule];
        continue;
      }
      if (!kube_namespaces_wanted(r, item, filter)) {
        ++out.skipped["namespace"];
        continue;
      }
      if (!item.contains("apiVersion")) {
        if (r.version.empty()) throw Failure("kubectl get " + r.qualified() + " printed an object without apiVersion");
        item["apiVersion"] = r.api_version();
      }
      if (!item.contains("kind")) item["kind"] = r.kind;
      const std::string path = kube_object_path(r, item);
      if (!out.files.emplace(path, kube_json_bytes(kube_normalise(r, std::move(item)))).second)
        throw Failure("kubectl get " + r.qualified() + " on " + host.name() + " listed " + path + " twice");
      ++count;
    }
    resources.push_back({{"resource", r.qualified()}, {"apiVersion", r.api_version()}, {"kind", r.kind},
                         {"namespaced", r.namespaced}, {"objects", count}});
    out.resources.push_back(r);
  }

  for (const auto& ns : filter.include_namespaces) {
    const bool seen = std::any_of(out.files.begin(), out.files.end(), [&](const auto& f) {
      return f.first.rfind(ns + "/", 0) == 0 || f.first == "_cluster/namespaces/" + ns + ".json";
    });
    if (!seen) out.warnings.push_back("include_namespaces: nothing was captured in namespace " + ns + " (does it exist?)");
  }

  json cluster = {{"format", "drctl.kube/1"}, {"serverVersion", out.server_version}, {"resources", resources}};
  if (!incomplete.empty()) cluster["incompleteDiscovery"] = incomplete;
  if (!filter.selector.empty()) cluster["selector"] = filter.selector;
  for (const auto& [key, values] : {std::pair{"includeNamespaces", &filter.include_namespaces},
                                    std::pair{"excludeNamespaces", &filter.exclude_namespaces},
                                    std::pair{"includeKinds", &filter.include_kinds},
                                    std::pair{"excludeKinds", &filter.exclude_kinds}})
    if (!values->empty()) cluster[key] = *values;
  out.files["cluster.json"] = kube_json_bytes(cluster);
  return out;
}

// --- restore order ----------------------------------------------------------------------------

std::vector<KubeRestorePhase> kube_restore_phases(const std::map<std::string, std::string>& files) {
  std::vector<std::pair<KubeObject, std::string>> objects;  // with its group
  std::set<std::pair<std::string, std::string>> crd_kinds;   // (group, Kind) a captured CRD defines
  for (const auto& [path, content] : files) {
    if (path == "cluster.json" || path.size() < 5 || path.compare(path.size() - 5, 5, ".json") != 0) continue;
    const json o = json::parse(content, nullptr, false);
    KubeObject obj{path, text(o, "apiVersion"), text(o, "kind"), ns_of(o), name_of(o), content};
    if (o.is_discarded() || !o.is_object() || obj.api_version.empty() || obj.kind.empty() || obj.name.empty())
      throw Failure("kube restore: " + path + " is not a Kubernetes object (JSON with apiVersion, kind, metadata.name)");
    const auto slash = obj.api_version.rfind('/');
    const std::string group = slash == std::string::npos ? "" : obj.api_version.substr(0, slash);
    if (group == "apiextensions.k8s.io" && obj.kind == "CustomResourceDefinition") {
      const json& spec = member(o, "spec");
      crd_kinds.insert({text(spec, "group"), text(member(spec, "names"), "kind")});
    }
    objects.push_back({std::move(obj), group});
  }

  std::vector<KubeRestorePhase> phases(kPhaseCount);
  for (std::size_t i = 0; i < kPhaseCount; ++i) {
    phases[i].name = kPhaseDefs[i].name;
    phases[i].wait_established = kPhaseDefs[i].wait_established;
  }
  for (auto& [obj, group] : objects) {
    const bool custom = crd_kinds.count({group, obj.kind}) || !kBuiltInGroups.count(group);
    phases[custom ? kCustom : built_in_phase(group, obj.kind)].objects.push_back(std::move(obj));
  }
  std::vector<KubeRestorePhase> out;
  for (auto& p : phases) {
    if (p.objects.empty()) continue;
    std::sort(p.objects.begin(), p.objects.end(), [](const KubeObject& a, const KubeObject& b) {
      return std::tie(a.ns, a.name, a.kind, a.path) < std::tie(b.ns, b.name, b.kind, b.path);
    });
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace drctl::capture
