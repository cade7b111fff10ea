// What the simulated cluster's commands take and give: the machine running them, its files, the
// command's result, and the kinds the API server serves. Shared by KubeCluster and its command pieces (kubeadm, kubectl, etcd).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/versions.hpp"
#include "world/world.hpp"

namespace drctl::sim {

/// What a machine offers Kubernetes, from its simulated system (the lead fills it in).
struct KubeNode {
  std::string name;                // the machine's hostname
  std::string address;             // its IP on the cluster network
  bool container_runtime = false;  // containerd (or docker.io) installed and running
  bool kubelet = false;            // kubelet installed
  bool swap_on = false;            // swap enabled (kubeadm's preflight refuses it)
};

/// A machine's files, for reading --config / -f files and writing admin.conf, snapshots,
/// certificates. `remove` may be empty (then `kubeadm reset` leaves the files behind).
struct KubeFiles {
  std::function<std::optional<std::string>(const std::string& path)> read;
  std::function<void(const std::string& path, const std::string& content, unsigned mode)> write;
  std::function<void(const std::string& path)> remove;
  /// The names in a directory; unset or empty: none.
  std::function<std::vector<std::string>(const std::string& dir)> list;
};

/// The versions the cluster follows, as the site pins them (sim/versions.hpp).
struct KubeVersions {
  Version kubernetes = parse_version("1.28.2");   // kubeadm, kubelet and kubectl on the nodes
  Version etcd_client = parse_version("3.5.9");   // the nodes' etcd-client package (etcdctl, etcdutl)
};

/// A TCP connection a machine opened over the network to host:port, as the network answered it.
struct KubeDial {
  enum class Outcome { connected, refused, timeout, unreachable, unresolved };
  Outcome outcome = Outcome::unreachable;
  std::string address;  // the IP dialled (a name resolved), "" when it did not resolve
  std::string service;  // the listener that answered (connected): "kube-apiserver", …
  std::string reason;   // for anything but connected, naming the cause
  bool connected() const { return outcome == Outcome::connected; }
};

/// What the cluster asks of the world around it. Either may be empty: then every address of a
/// registered node answers for it, and commands see no environment.
struct KubeWorld {
  /// `from` (a node's machine) connects to host:port; `host` is an IP or a name it resolves.
  std::function<KubeDial(const KubeNode& from, const std::string& host, int port)> dial;
  /// The environment of the command running now on `node` (ETCDCTL_API, …).
  std::function<std::map<std::string, std::string>(const KubeNode& node)> env;
  /// How long `node` takes to fetch `bytes` from a registry on the internet (image pulls); unset: no time.
  std::function<world::Duration(const KubeNode& node, std::int64_t bytes, const std::string& what)> download;
  /// The files of the machine that is node `name` (a pod writing to a hostPath, the kubelet reading
  /// /etc/cni/net.d); unset: a node's pod network is taken as configured. The world reports writes
  /// under /etc/cni/net.d back through KubeCluster::pod_network_changed, whoever made them.
  std::function<std::optional<KubeFiles>(const std::string& name)> node_files;
};

/// A command's exit code and output.
struct KubeResult {
  int code = 0;
  std::string out, err;
};

/// A kind the API server serves: built in, or from a CustomResourceDefinition.
struct KubeKind {
  std::string group, version, kind, plural;
  bool namespaced = true;
  std::vector<std::string> short_names;
  std::vector<std::string> verbs;       // empty: create,delete,deletecollection,get,list,patch,update,watch
  std::vector<std::string> categories;  // "all", "api-extensions"
  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  /// "deployments.apps", "services": how kubectl names the resource in messages.
  std::string resource() const { return group.empty() ? plural : plural + "." + group; }
  /// "deployment.apps", "service": the prefix of `kubectl apply`'s lines.
  std::string singular() const;
};

}  // namespace drctl::sim
