// What `kubeadm init` decided for the simulated cluster, read by every piece of it: the cluster
// CA (the seed of uids, certificates and kubeconfigs), the version, the subnets, the API endpoint
// and the control-plane node.
#pragma once
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

namespace drctl::sim {

/// The cluster's settings from `kubeadm init`; kubeadm writes them, the other pieces read them.
struct KubeSetup {
  std::string api_node;        // the control-plane node's name ("" if none)
  std::string endpoint;        // host:port of the API server
  std::string ca;              // the cluster CA's id
  std::string version;         // "v1.28.2"
  std::string pod_subnet;      // "10.244.0.0/16"
  std::string service_subnet;  // "10.96.0.0/12"
  /// The API server certificate's subject alternative names (kubeadm's certs phase): DNS names
  /// and IP addresses a client may dial it by.
  std::vector<std::string> apiserver_dns, apiserver_ips;
};

/// An API object's key in the store: kind, namespace ("" for cluster-scoped), name.
using KubeKey = std::tuple<std::string, std::string, std::string>;

}  // namespace drctl::sim
