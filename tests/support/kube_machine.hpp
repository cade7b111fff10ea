// A machine as SimWorld offers it to the simulated cluster (sim/kube.hpp): the node it runs and
// its files in memory, and what the tests read from kubeadm's output. For the tests that drive
// KubeCluster without a SimWorld. Header-only.
#pragma once
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

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
            [this](const std::string& p) { files.erase(p); },
            [this](const std::string& dir) {
              std::vector<std::string> names;
              for (const auto& [path, content] : files)
                if (path.starts_with(dir + "/") && path.find('/', dir.size() + 1) == std::string::npos)
                  names.push_back(path.substr(dir.size() + 1));
              return names;
            }};
  }
};

/// A running machine with kubeadm's prerequisites met, at `address`.
inline KubeMachine kube_machine(const std::string& name, const std::string& address) {
  return {{name, address, true, true, false}, {}};
}

/// The arguments of the `kubeadm join` command kubeadm printed.
inline std::vector<std::string> join_args(const std::string& out) {
  std::istringstream in(out.substr(out.find("kubeadm join")));
  std::vector<std::string> args;
  for (std::string word; in >> word;)
    if (word != "\\") args.push_back(word);
  return args;
}

}  // namespace support
