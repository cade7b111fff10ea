// A machine as SimWorld offers it to the simulated cluster (sim/kube.hpp): the node it runs and
// its files in memory. For the tests that drive KubeCluster without a SimWorld. Header-only.
#pragma once
#include <map>
#include <optional>
#include <string>

#include "sim/kube.hpp"

namespace support {

struct KubeMachine {
  drctl::sim::KubeNode node;
  std::map<std::string, std::string> files;
  /// Its files as the cluster reads and writes them.
  drctl::sim::KubeFiles io() {
    return {[this](const std::string& p) -> std::optional<std::string> {
              auto it = files.find(p);
              return it == files.end() ? std::nullopt : std::optional(it->second);
            },
            [this](const std::string& p, const std::string& c, unsigned) { files[p] = c; },
            [this](const std::string& p) { files.erase(p); }};
  }
};

/// A running machine with kubeadm's prerequisites met, at `address`.
inline KubeMachine kube_machine(const std::string& name, const std::string& address) {
  return {{name, address, true, true, false}, {}};
}

}  // namespace support
