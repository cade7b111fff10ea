// The simulated Kubernetes cluster: kubeadm (init, join, tokens, reset), the API object store,
// kubectl, the scheduler and controllers (Deployments, StatefulSets, DaemonSets, PVC binding),
// node readiness, Service endpoints and etcdctl snapshots. A pure model: SimWorld calls the
// command functions when a machine runs `kubeadm`, `kubectl` or `etcdctl`, passing what that
// machine offers and access to its files. Messages follow the versions the site pins: kubeadm,
// kubelet and kubectl of its Kubernetes release, etcdctl/etcdutl of its etcd-client package, and
// the etcd server kubeadm deploys for that Kubernetes (KubeVersions).
//
// etcd restore (a choice the real tools leave to the operator): `etcdctl snapshot restore FILE
// --data-dir DIR` (or etcdutl's) writes DIR/member/snap/db and DIR/member/wal. When DIR is
// /var/lib/etcd on the control-plane node — restored there, or moved there with `mv` — the static
// etcd pod is taken to restart on it: the store is replaced and the API is up again (at once when
// etcd's manifest is in /etc/kubernetes/manifests, else when it is put back). On another node,
// `kubeadm init --ignore-preflight-errors=DirAvailable--var-lib-etcd` starts the new control plane
// from that data, as the real rebuild procedure does.
//
// The control plane's static pods follow their manifests as the kubelet does: moving
// kube-apiserver.yaml (or etcd.yaml) out of /etc/kubernetes/manifests stops that pod, and kubectl
// (or etcdctl) is refused until it is back. The API server keeps what a real one adds to objects:
// metadata.uid, resourceVersion (etcd's revision), creationTimestamp (virtual time from
// 2024-01-01T00:00:00Z), generation, managedFields (kubectl shows them only with
// --show-managed-fields); and serves what its controllers make: each namespace's `default`
// ServiceAccount and kube-root-ca.crt ConfigMap, Deployments' ReplicaSets, Services' Endpoints and
// EndpointSlices, the default ClusterRoles, the system PriorityClasses, APIServices and
// ComponentStatuses.
//
// The class composes one piece per concept, each with its own header: KubeSetup (what kubeadm
// init decided), KubeStore (the objects and the revision), KubeNodes (node state, Node objects),
// KubeControllers (pods, scheduler, workload status, endpoints), KubeEtcd (etcdctl/etcdutl and
// etcd's own state), and the front ends KubeAdm (kubeadm) and KubeCtl (kubectl). What spans them
// (the API server's view, node power timing, the static pods) stays here.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "sim/engine.hpp"
#include "sim/kube_controllers.hpp"
#include "sim/kube_etcd.hpp"
#include "sim/kube_kubeadm.hpp"
#include "sim/kube_kubectl.hpp"
#include "sim/kube_nodes.hpp"
#include "sim/kube_setup.hpp"
#include "sim/kube_store.hpp"
#include "sim/kube_types.hpp"

namespace drctl::sim {

class KubeCluster {
 public:
  /// `world` dials addresses over the site's network and gives a command's environment; without
  /// it every registered node's address answers and commands see no environment.
  explicit KubeCluster(Engine& engine, KubeVersions versions = {}, KubeWorld world = {});
  // The pieces hold references to one another inside the cluster: it stays where it was made.
  KubeCluster(const KubeCluster&) = delete;
  KubeCluster& operator=(const KubeCluster&) = delete;

  /// `kubeadm init [--config FILE] [--pod-network-cidr C] [--service-cidr C]
  /// [--control-plane-endpoint E] [--kubernetes-version V] [--ignore-preflight-errors=L]`,
  /// `kubeadm join ENDPOINT --token T --discovery-token-ca-cert-hash sha256:H`,
  /// `kubeadm token create [--print-join-command] [--ttl D]`, `kubeadm token list`,
  /// `kubeadm reset -f`, `kubeadm version`, as the pinned kubeadm: its configuration API versions,
  /// strict-decoding warnings, version skew. The endpoints it is given are dialled from `node` over
  /// the network (join's discovery, the kubelet's TLS bootstrap, init's wait for the API server,
  /// token create's kubeconfig server). Preflight errors as kubeadm prints them; exit 1.
  KubeResult kubeadm(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files);
  /// kubectl: apply -f FILE|-, get (-o json|yaml|name|jsonpath|wide, -l, -A, --show-managed-fields),
  /// delete, wait, create secret tls / namespace, rollout status, version [-o json|yaml] [--client],
  /// api-resources [-o wide|name] [--verbs=…] [--namespaced=…] [--api-group=…] [--no-headers].
  /// Needs --kubeconfig FILE (or KUBECONFIG in `env`) naming a kubeconfig this cluster issued;
  /// --context must name one of its contexts. From an actor, `wait` and `rollout status` wait in
  /// virtual time up to --timeout.
  KubeResult kubectl(const std::vector<std::string>& argv, const std::string& stdin_data,
                     const std::map<std::string, std::string>& env, const KubeFiles& files);
  /// etcdctl of the pinned etcd-client (3.2/3.3: the v2 etcdctl unless ETCDCTL_API=3 is in the
  /// command's environment): version, endpoint status|health [-w json|table|simple], snapshot save FILE |
  /// restore FILE --data-dir DIR | status FILE [-w …], with --endpoints (127.0.0.1, localhost or
  /// the control plane's address, port 2379, https), --cacert/--cert/--key (when given they must
  /// be kubeadm's etcd CA and a client certificate it signed, with its key), --dial-timeout and
  /// --command-timeout (a refused connection costs the command timeout in virtual time). See the
  /// file-top comment for what a restore replaces.
  KubeResult etcdctl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files);
  /// etcdutl (etcd-client 3.5 only): version, snapshot status FILE [-w …], snapshot restore FILE --data-dir DIR.
  KubeResult etcdutl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files);
  /// etcd --version (a machine with an etcd binary: the etcd-server package).
  KubeResult etcd(const std::vector<std::string>& argv) const;
  /// Whether the pinned etcd-client package installs etcdutl (3.5 on): a machine has the command
  /// only then.
  bool etcdutl_shipped() const { return etcd_.ships_etcdutl(); }
  /// The versions the cluster follows.
  const KubeVersions& versions() const { return versions_; }
  /// A directory moved to `dir` on `node` (`mv`): when it is etcd's data dir on the control plane,
  /// etcd restarts on the data now there (see the file-top comment).
  void etcd_data_moved(const KubeNode& node, const std::string& dir, const KubeFiles& files);
  /// The files in /etc/kubernetes/manifests of `node` changed: the kubelet starts or stops the
  /// control plane's static pods (kube-apiserver, etcd) to match.
  void static_pods_changed(const KubeNode& node, const KubeFiles& files);

  /// The files in /etc/cni/net.d of node `node` changed: containerd loads a pod network's
  /// configuration from there, and the kubelet reports the node Ready only while one is loaded.
  void pod_network_changed(const std::string& node);

  /// Power and health from the lead: a stopped node becomes NotReady after the node-monitor
  /// grace period (40 s); its pods are not ready then, and Deployment pods are replaced on other
  /// nodes 5 min later. A node back up is Ready again and its pods get ready anew.
  void set_node_up(const std::string& node, bool up);
  /// Wipes the control plane (the disaster): objects and pods gone, the API down until an init
  /// or an etcd restore. The nodes' kubelets keep their configuration.
  void wipe();
  /// A node whose machine was destroyed (disk and all): gone from the cluster with its pods;
  /// the control plane's node takes the cluster's state with it.
  void remove_node(const std::string& node);

  /// An API server is running (initialised, not wiped, its node up, its and etcd's manifests in place).
  bool api_up() const;
  /// etcd is running on the control-plane node.
  bool etcd_up() const;
  /// The kinds the API server serves now, built-in ones first (CRDs: each served version).
  std::vector<KubeKind> served_kinds() const;
  /// The control-plane node's name ("" if none).
  std::string api_node() const;
  /// Every object of a kind (e.g. "Service"; "Pod" and "Node" included), sorted by namespace/name.
  std::vector<nlohmann::json> objects(const std::string& kind) const;
  std::optional<nlohmann::json> object(const std::string& kind, const std::string& ns, const std::string& name) const;
  using Pod = KubePod;
  std::vector<Pod> pods() const;
  using Endpoint = KubeEndpoint;
  /// Ready endpoints of a Service for a service port, resolving targetPort (number or name).
  std::vector<Endpoint> endpoints(const std::string& ns, const std::string& service, int port) const;
  /// The same, for a service port given by its name.
  std::vector<Endpoint> endpoints(const std::string& ns, const std::string& service,
                                  const std::string& port_name) const;
  std::vector<std::string> nodes(bool ready_only) const;
  /// Called after every change of objects, pods or node readiness.
  void on_change(std::function<void()> fn);
  /// Sets status.loadBalancer.ingress of a Service ("" clears it).
  void set_load_balancer_ip(const std::string& ns, const std::string& service, const std::string& ip);

  /// The kind serving `api_version`/`kind` now (CRDs included), if any.
  std::optional<KubeKind> find_kind(const std::string& api_version, const std::string& kind) const;

 private:
  using NodeState = KubeNodeState;
  using PodState = KubePodState;

  // the API server over the pieces (kube_cluster.cpp, kube_served.cpp)
  void start_api(const nlohmann::json& restored_objects);
  void changed();
  // the kubelets' view of the pod network (kube_cluster.cpp)
  bool has_pod_network(const std::string& node) const;
  void kubelet_started(const std::string& node);
  void post_network_state(const std::string& node);
  void pod_started(const PodState& pod);
  /// What the controllers and the API server itself serve of `kind` (not in etcd's store here).
  std::vector<nlohmann::json> generated(const std::string& kind) const;

  // The pieces, each owning its state; built in this order, each given what it reads and writes.
  Engine& engine_;
  KubeVersions versions_;
  KubeWorld world_;
  std::vector<std::function<void()>> observers_;
  KubeSetup setup_;
  KubeStore store_;
  KubeNodes nodes_;
  KubeControllers controllers_;
  KubeEtcd etcd_;
  KubeAdm kubeadm_;
  KubeCtl kubectl_;
  bool apiserver_pod_ = true;  // its manifest is in place on the control plane
  Duration api_started_{0};
};

/// Multi-document YAML (a `kind: List` expands to its items) as JSON; throws std::runtime_error
/// naming the line on a syntax error.
std::vector<nlohmann::json> kube_parse_yaml(const std::string& text);
/// JSON as YAML, the way `kubectl get -o yaml` prints it.
std::string kube_to_yaml(const nlohmann::json& value);
/// Whether the API server serves `kind` itself (not from a CustomResourceDefinition).
bool kube_builtin_kind(const std::string& kind);
/// A resource quantity ("10Gi", "500M", "1") in bytes/units; nullopt if malformed.
std::optional<long double> kube_quantity(const std::string& text);

}  // namespace drctl::sim
