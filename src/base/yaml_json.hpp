// YAML as drctl reads it: within limits, so that no file (a runbook, a site, a drill, secrets, a
// --set value) can make drctl hang or swell, and as JSON the way Kubernetes reads it: plain
// scalars become numbers, booleans and null where YAML 1.1 says so; quoted ones stay strings.
// Shared by the runbook loader, the drill runner, the CLI and the simulator's kubectl.
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.hpp"

namespace drctl {

/// The largest YAML file drctl reads (runbooks/README.md, "Limits"); larger ones are refused
/// before parsing.
inline constexpr std::uintmax_t kMaxYamlFileBytes = 8u << 20;

/// The most nodes a YAML document may hold with every alias expanded (each use of an alias
/// counts the nodes it repeats): what any walk over the document visits at most.
inline constexpr std::size_t kMaxYamlNodes = 1'000'000;

/// The deepest nesting of maps and lists, aliases expanded, that a document may have: what any
/// walk over it recurses at most. (yaml-cpp refuses text nested a few hundred levels deep.)
inline constexpr int kMaxYamlDepth = 2000;

/// Bad YAML, or YAML beyond the limits: "FILE:LINE:COL: message" ("FILE: message" for the file
/// as a whole, line 0). Exit code 2, like every InputError.
struct YamlError : InputError {
  YamlError(const std::string& file, int line, int col, const std::string& message);
  std::string file;
  int line = 0, col = 0;  // 1-based; 0: the file as a whole
  std::string message;
};

/// Text that is not YAML (a syntax error); other YamlErrors are limits.
struct YamlSyntaxError : YamlError {
  using YamlError::YamlError;
};

/// The first document of `text`, refused unless, with every alias expanded, it holds at most
/// `max_nodes` nodes nested at most kMaxYamlDepth deep, and no alias is inside the node it names.
/// `file` names the text in errors. Throws YamlSyntaxError, or YamlError at the alias (or node)
/// that crossed a limit.
YAML::Node parse_yaml(const std::string& text, const std::string& file, std::size_t max_nodes = kMaxYamlNodes);

/// The text of a YAML file of at most kMaxYamlFileBytes; YamlError naming the file when it is
/// larger (nothing is read then) or cannot be read.
std::string read_yaml_file(const std::string& file);

/// read_yaml_file, then parse_yaml: the first document of a YAML file, within the limits.
YAML::Node load_yaml_file(const std::string& file, std::size_t max_nodes = kMaxYamlNodes);

/// `node` as JSON. Visits at most `max_nodes` nodes and kMaxYamlDepth levels (a node graph
/// built elsewhere may share or even loop); throws YamlError at the node past either.
nlohmann::json yaml_to_json(const YAML::Node& node, std::size_t max_nodes = kMaxYamlNodes);

}  // namespace drctl
