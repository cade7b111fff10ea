// What the simulated API server refuses an object with, as Kubernetes 1.28's does for a create or
// update from kubectl (fieldValidation=Strict): a body it cannot decode (BadRequest: a value of
// the wrong JSON type, fields the kind does not have, a custom resource's fields its CRD's schema
// prunes) and an object its validation rejects (Invalid: pkg/apis/*/validation for the built-in
// kinds, the CRD's openAPIV3Schema for custom resources). The messages are the API server's.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sim/kube_types.hpp"

namespace drctl::sim::kube_validation {

/// The API server's refusal: a Status of reason BadRequest or Invalid.
struct Refusal {
  std::string reason;               // "BadRequest" or "Invalid"
  std::string message;              // the Status message: `Service "blog" is invalid: spec.ports[0].port: ...`
  std::string kind, name;           // the details (Invalid): kubectl prints `The Service "blog" is invalid: `
  std::vector<std::string> causes;  // "spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive"
};

/// What the API server answers a write of `obj` (its namespace already set) as `kind`: nullopt
/// when it takes it. `old` is the object it replaces (an update), `crd` the
/// CustomResourceDefinition serving a custom resource (null for built-in kinds).
std::optional<Refusal> admit(const KubeKind& kind, const nlohmann::json& obj, const nlohmann::json* old,
                             const nlohmann::json* crd);

/// A Kubernetes minor version from "v1.28.2" (28 when it cannot tell).
int minor_of(const std::string& version);

}  // namespace drctl::sim::kube_validation
