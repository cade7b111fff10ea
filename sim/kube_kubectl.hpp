// kubectl on the simulated cluster, a front end: it reads through the cluster's API (objects,
// kinds, whether the API answers), writes to the store, and reads pods and nodes for its tables
// and waits.
#pragma once
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/engine.hpp"
#include "sim/kube_controllers.hpp"
#include "sim/kube_nodes.hpp"
#include "sim/kube_setup.hpp"
#include "sim/kube_store.hpp"
#include "sim/kube_types.hpp"

namespace drctl::sim {

class KubeCluster;

class KubeCtl {
 public:
  /// `api` is the cluster kubectl talks to (its public interface); `changed` is called after
  /// kubectl changed objects. Every reference outlives kubectl.
  KubeCtl(Engine& engine, const KubeSetup& setup, KubeStore& store, KubeNodes& nodes, KubeControllers& controllers,
          const KubeCluster& api, std::function<void()> changed);

  /// `kubectl ARGV`: see KubeCluster::kubectl.
  KubeResult run(const std::vector<std::string>& argv, const std::string& stdin_data,
                 const std::map<std::string, std::string>& env, const KubeFiles& files);

 private:
  struct Kubectl;
  std::optional<KubeResult> check_kubeconfig(const std::string& path, bool from_flag, const std::string& context,
                                             const KubeFiles& files) const;
  KubeResult apply(Kubectl& k, const KubeFiles& files, const std::string& stdin_data);
  KubeResult get(Kubectl& k, const KubeFiles& files, const std::string& stdin_data);
  KubeResult get_files(Kubectl& k, const KubeFiles& files, const std::string& stdin_data);
  KubeResult version(Kubectl& k, std::optional<KubeResult> refused) const;
  KubeResult api_resources(Kubectl& k) const;
  KubeResult remove(Kubectl& k, const KubeFiles& files, const std::string& stdin_data);
  KubeResult wait(Kubectl& k);
  KubeResult create(Kubectl& k, const KubeFiles& files);
  KubeResult rollout(Kubectl& k);
  std::vector<nlohmann::json> listed(const KubeKind& kind, const std::string& ns, bool all_ns) const;
  /// Whether `condition` holds for `obj` of `kind` now (pods/nodes Ready, deployments Available).
  bool condition_met(const KubeKind& kind, const nlohmann::json& obj, const std::string& condition) const;
  /// Polls `check` every second of virtual time up to `timeout` when called from an actor.
  bool await(Duration timeout, const std::function<bool()>& check);
  /// The kind a resource name means now (kube_kinds::kind_by_resource on this store).
  std::optional<KubeKind> kind_by_resource(const std::string& name) const;

  Engine& engine_;
  const KubeSetup& setup_;
  KubeStore& store_;
  KubeNodes& nodes_;
  KubeControllers& controllers_;
  const KubeCluster& api_;
  std::function<void()> changed_;
};

}  // namespace drctl::sim
