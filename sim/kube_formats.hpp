// What kubectl prints and reads besides objects themselves: -o jsonpath, its tables and ages (the
// YAML in and out and resource quantities are declared in kube.hpp).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/engine.hpp"

namespace drctl::sim::kube_formats {

/// `{.status.loadBalancer.ingress[0].ip}` (kubectl's -o jsonpath, fields, [n] and [*] only).
std::string jsonpath(const nlohmann::json& root, const std::string& expr);
/// Rows as kubectl's columns: each column as wide as its widest cell, three spaces apart.
std::string table(const std::vector<std::vector<std::string>>& rows);
/// An age as kubectl's AGE column shows it ("90s", "5m", "3h", "2d").
std::string age(Duration d);

}  // namespace drctl::sim::kube_formats
