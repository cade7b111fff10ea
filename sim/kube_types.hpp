// What the simulated cluster's commands take and give: the machine running them, its files, the
// command's result, and the kinds the API server serves. Shared by KubeCluster and its command pieces (kubeadm, kubectl, etcd).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

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
