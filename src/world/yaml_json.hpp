// YAML as JSON, the way Kubernetes and drctl read it: plain scalars become numbers, booleans and
// null where YAML 1.1 says so; quoted ones stay strings. Shared by the runbook loader and the
// simulator's kubectl.
#pragma once
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

namespace drctl {

nlohmann::json yaml_to_json(const YAML::Node& node);

}  // namespace drctl
