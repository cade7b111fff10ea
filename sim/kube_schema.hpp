// How the simulated API server decodes a request body into the kind's Go type, as Kubernetes
// 1.28's does with kubectl's fieldValidation=Strict: a JSON value of the wrong type fails the
// whole request ("json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port
// of type int32"), and fields the type does not have are each named ("unknown field
// \"spec.foo\""). The types' fields come from kube_schema_types.cpp (generated from release-1.28's
// OpenAPI document); they are parsed once.
#pragma once
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace drctl::sim::kube_schema {

/// What decoding a body found: the first error that stops it (Go's encoding/json reports the
/// first one), or else the unknown fields in the order the decoder meets them.
struct Decoded {
  std::string error;                 // "json: cannot unmarshal ..." / "illegal base64 data at input byte 4" / "quantities must ..."
  std::vector<std::string> unknown;  // "spec.rules[0].http.paths[0].backend.serviceName"
};

/// Whether the tables describe `api_version`/`kind` (a built-in kind of 1.28).
bool known(const std::string& api_version, const std::string& kind);
/// Decodes `obj` as the API server does for `api_version`/`kind` (known() must hold).
Decoded decode(const std::string& api_version, const std::string& kind, const nlohmann::json& obj);
/// The unknown fields of an ObjectMeta at "metadata" (custom resources decode their metadata so).
std::vector<std::string> unknown_in_metadata(const nlohmann::json& metadata);

/// The type tables (kube_schema_types.cpp).
extern const char* const kTypes;
extern const char* const kKinds;

}  // namespace drctl::sim::kube_schema
