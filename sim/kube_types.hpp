// What the simulated cluster's commands take and give: the machine running them, its files, and
// the command's result. Shared by KubeCluster and its command pieces (kubeadm, kubectl, etcd).
#pragma once
#include <functional>
#include <optional>
#include <string>

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

}  // namespace drctl::sim
