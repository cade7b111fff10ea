// The kinds the simulated API server serves: Kubernetes 1.28's own and those each
// CustomResourceDefinition adds, with kubectl's names for them and their verbs.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "sim/kube.hpp"
#include "sim/kube_store.hpp"

namespace drctl::sim::kube_kinds {

/// What Kubernetes 1.28's API server serves itself, Namespace first and the core group before
/// the others.
const std::vector<KubeKind>& builtin_kinds();
/// The verbs of a kind as api-resources lists them (a kind without its own list has all).
const std::vector<std::string>& verbs_of(const KubeKind& k);
/// Kubernetes' version priority as a sort key: v1 > v1beta2 > v1beta1 > v1alpha1 > anything else.
std::tuple<int, int, int, std::string> version_priority(const std::string& v);
/// The kinds a CustomResourceDefinition adds, one per served version.
std::vector<KubeKind> crd_kinds(const nlohmann::json& crd);
/// The kind kubectl means by a resource name ("deploy", "deployments.apps", a CRD's plural; a
/// CRD by its preferred version), among those the store serves now.
std::optional<KubeKind> kind_by_resource(const KubeStore& store, const std::string& name);

}  // namespace drctl::sim::kube_kinds
