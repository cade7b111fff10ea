// Kubernetes state: every listable object of a cluster, read with kubectl on a host (local, over
// SSH or simulated: always through world::Host::run), normalised to what a restore re-creates,
// one deterministic JSON file per object; and the order in which to apply them back.
//
// Capture (capture_kube):
//   1. `kubectl version -o json`                   → serverVersion.gitVersion
//   2. `kubectl api-resources --verbs=list -o wide` → every listable resource (parse_api_resources)
//   3. for each resource not skipped or filtered out:
//      `kubectl get RESOURCE[.GROUP] [-A] -o json [-l SELECTOR]` (-A when namespaced)
// Every call names the kubeconfig (`--kubeconfig FILE`, never the ambient default) and, when
// given, the context (`--context NAME`).
//
// What is never captured: the table returned by kube_skip_rules() (and kept in kube.cpp), e.g.
// Events, Leases, Nodes, controller-owned Pods/ReplicaSets/Jobs, control-plane Endpoints,
// service-account tokens, kube-root-ca.crt, the system namespaces unless included by name.
//
// Normalisation (kube_normalise), for every object:
//   status; metadata.uid, resourceVersion, managedFields, creationTimestamp, generation,
//   selfLink, deletionTimestamp, deletionGracePeriodSeconds; the annotation
//   kubectl.kubernetes.io/last-applied-configuration; metadata.ownerReferences (they name uids of
//   the old cluster: the garbage collector deletes an object whose owners' uids do not exist, so a
//   restored object that kept them would be deleted right after the restore).
// and per kind:
//   Service                spec.clusterIP and spec.clusterIPs, unless "None" (headless stays
//                          headless); spec.healthCheckNodePort; spec.ports[].nodePort unless the
//                          Service is type NodePort. A LoadBalancer's node ports are an allocation
//                          detail (clients use the load-balancer IP), so Kubernetes reassigns them;
//                          a NodePort Service's port is its address for the outside (a firewall
//                          forward points at it), and on a rebuilt cluster the port is free again.
//   PersistentVolume       spec.claimRef.uid and .resourceVersion: the volume stays reserved for
//                          the claim of that namespace/name and binds to the restored claim.
//   PersistentVolumeClaim  annotations pv.kubernetes.io/bind-completed, .../bound-by-controller
//                          and volume.kubernetes.io/selected-node (a node of the old cluster).
//   Job                    the generated labels controller-uid and
//                          batch.kubernetes.io/controller-uid (selector, template, metadata)
//                          unless spec.manualSelector: the API server generates new ones and
//                          refuses a Job that brings an old one.
//
// Layout of the returned files (path → content):
//   NAMESPACE/RESOURCE/NAME.json   a namespaced object, e.g. website/deployments.apps/blog.json
//   _cluster/RESOURCE/NAME.json    a cluster-scoped one, e.g. _cluster/namespaces/website.json
//   cluster.json                   server version and the resources captured (with object counts)
// RESOURCE is the lower-case plural with its group ("ipaddresspools.metallb.io"; core:
// "configmaps"). Content is JSON with sorted keys, 2-space indent and a trailing newline, so an
// unchanged cluster gives the same bytes and deduplicates in the repository.
#pragma once
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "world/world.hpp"

namespace drctl::capture {

/// How to reach the cluster from the host.
struct KubeTarget {
  std::string kubeconfig;           // a path on the host; required (an empty path is refused)
  std::string context;              // empty: the kubeconfig's current-context
  std::string kubectl = "kubectl";  // the command; "sudo kubectl" when only root reads the kubeconfig
  world::Duration timeout = world::Duration(5 * 60000);  // for each kubectl call
};

/// What to capture. Namespaces compare exactly, kinds case-insensitively.
struct KubeFilter {
  /// Only these namespaces (empty: all). Naming kube-system, kube-public or kube-node-lease here
  /// is the only way to capture them.
  std::vector<std::string> include_namespaces;
  std::vector<std::string> exclude_namespaces;
  /// Only these resources (empty: all): plural, Kind, short name, plural.group or Kind.group.
  std::vector<std::string> include_kinds;
  std::vector<std::string> exclude_kinds;
  std::string selector;  // a label selector, passed to kubectl -l; empty: none
};

/// One row of `kubectl api-resources -o wide`.
struct KubeResource {
  std::string name;                      // plural, lower case: "ipaddresspools"
  std::vector<std::string> short_names;  // may be empty
  std::string group;                     // "" for the core group
  std::string version;                   // "v1beta1"; empty when kubectl printed only the group
  bool namespaced = false;
  std::string kind;                      // "IPAddressPool"
  std::vector<std::string> verbs;
  std::vector<std::string> categories;

  /// How kubectl and the layout name the resource: "ipaddresspools.metallb.io", "configmaps".
  std::string qualified() const;
  /// "metallb.io/v1beta1", "v1".
  std::string api_version() const;
  bool has_verb(const std::string& verb) const;
  /// True when `pattern` names this resource: plural, Kind, a short name, plural.group or
  /// Kind.group, case-insensitively.
  bool matches(const std::string& pattern) const;
};

/// Parses the table of `kubectl api-resources -o wide` (columns NAME SHORTNAMES APIVERSION
/// NAMESPACED KIND VERBS [CATEGORIES]; also older kubectl's APIGROUP column and [verb verb] lists).
/// Blank cells are allowed where kubectl leaves them. Throws Failure when `table` is not that table.
std::vector<KubeResource> parse_api_resources(const std::string& table);

/// One row of the skip table: which objects are never captured, and why.
struct KubeSkipRule {
  std::string id;    // "events", "controller-owned", … (KubeCapture::skipped counts by it)
  std::string what;  // the objects
  std::string why;
};

/// The skip table, in the order the rules are tried (documentation and log lines use it).
const std::vector<KubeSkipRule>& kube_skip_rules();

/// What the object rules need to know about the rest of the cluster.
struct KubeFacts {
  /// "namespace/name" of every Service with a selector: the control plane writes their Endpoints.
  std::set<std::string> selector_services;
};

/// The id of the skip rule that leaves out a whole resource, or nullopt to list it.
std::optional<std::string> kube_skip_resource(const KubeResource& resource);

/// The id of the skip rule that leaves out `object` of `resource`, or nullopt to keep it.
/// Namespace filters are not rules of this table: see kube_namespaces_wanted.
std::optional<std::string> kube_skip_object(const KubeResource& resource, const nlohmann::json& object,
                                            const KubeFacts& facts);

/// True when every namespace `object` lives in or is tied to passes `filter`: its own namespace; for
/// a Namespace its name; for a PersistentVolume its claim's namespace; for an APIService or an
/// admission webhook configuration the namespaces of the Services it calls. The system namespaces
/// (kube-system, kube-public, kube-node-lease) pass only when include_namespaces names them.
bool kube_namespaces_wanted(const KubeResource& resource, const nlohmann::json& object, const KubeFilter& filter);

/// `object` reduced to what a restore re-creates (the rules at the top of this file).
nlohmann::json kube_normalise(const KubeResource& resource, nlohmann::json object);

/// The bytes of a captured file: sorted keys, 2-space indent, trailing newline.
std::string kube_json_bytes(const nlohmann::json& value);

/// Where `object` of `resource` goes: "NAMESPACE/RESOURCE/NAME.json" or "_cluster/RESOURCE/NAME.json".
/// Throws Failure for an object without a usable name.
std::string kube_object_path(const KubeResource& resource, const nlohmann::json& object);

struct KubeCapture {
  std::map<std::string, std::string> files;        // path → content, cluster.json included
  std::string server_version;                      // "v1.28.2"
  std::vector<KubeResource> resources;             // the resources listed, sorted by qualified()
  std::map<std::string, std::size_t> skipped;      // skip rule id ("namespace": the filter) → objects left out
  std::vector<std::string> skipped_resources;      // "events.events.k8s.io (events)": never listed, and the rule
  std::vector<std::string> warnings;               // e.g. an API group whose discovery failed
};

/// Captures the cluster `target` reaches from `host`. Throws InputError for an empty kubeconfig
/// path or an include_kinds entry that names no listable resource, and Failure when a kubectl call
/// fails (naming the call and kubectl's error line) or prints something that is not what was asked.
/// A discovery that kubectl reports as partial (an aggregated API down) is a warning, recorded in
/// cluster.json as "incompleteDiscovery", not a failure: the groups it did list are captured.
KubeCapture capture_kube(world::Host& host, const KubeTarget& target, const KubeFilter& filter = {});

/// One captured object, as the restore applies it.
struct KubeObject {
  std::string path;         // in the capture
  std::string api_version;  // "apps/v1"
  std::string kind;         // "Deployment"
  std::string ns;           // "" when cluster-scoped
  std::string name;
  std::string content;      // the file's JSON
};

/// A step of the restore: objects applied together. After a phase with `wait_established`, wait
/// until each of its CustomResourceDefinitions has the condition Established
/// (`kubectl wait --for=condition=Established crd/NAME`) before the next phase.
struct KubeRestorePhase {
  std::string name;  // "CustomResourceDefinitions", "Namespaces", …
  std::vector<KubeObject> objects;
  bool wait_established = false;
};

/// The captured objects of `files` (a capture's path → content; cluster.json and files not ending
/// in .json are ignored) in a safe apply order, as phases (empty ones left out):
///   CustomResourceDefinitions (then wait: Established) · Namespaces · StorageClasses ·
///   PriorityClasses · PersistentVolumes · PersistentVolumeClaims · Secrets · ConfigMaps ·
///   ServiceAccounts · Roles and ClusterRoles · RoleBindings and ClusterRoleBindings ·
///   other built-in objects (LimitRanges, ResourceQuotas, NetworkPolicies, PodDisruptionBudgets, …:
///   in place before pods start) · Services (and user-managed Endpoints/EndpointSlices) ·
///   workloads (Deployments, StatefulSets, DaemonSets, CronJobs, Jobs, bare ReplicaSets and Pods) ·
///   custom resources (kinds a captured CRD defines, or of a group Kubernetes does not serve itself) ·
///   IngressClasses and Ingresses ·
///   admission webhooks and APIServices — after everything else: a webhook or aggregated API whose
///   backend is not running yet (ingress-nginx's admission, MetalLB's) refuses what is applied after it.
/// Within a phase: by namespace (cluster-scoped first), then name, then kind. Reads objects by their
/// content (apiVersion, kind, metadata), so captures of the earlier NS/Kind/NAME.json layout work
/// too. Throws Failure naming the path of a .json file that is not a Kubernetes object.
std::vector<KubeRestorePhase> kube_restore_phases(const std::map<std::string, std::string>& files);

}  // namespace drctl::capture
