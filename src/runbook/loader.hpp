// Reading site.yaml and runbook files into the model, keeping the position of everything so
// every error names file:line:col. Checks the shape of the files; references between things
// (actions, hosts, needs, templates) are checked by validate().
#pragma once
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <string>

#include "runbook/model.hpp"
#include "base/yaml_json.hpp"

namespace drctl::runbook {

/// Loads a runbook and the site it names (relative to the runbook's directory). Throws LoadError.
Runbook load_runbook(const std::string& path);

/// Loads a site file. Throws LoadError.
Site load_site(const std::string& path);

/// A yaml-cpp mark (0-based) as a Pos (1-based); line 0 when the mark is unset.
Pos pos_of(const std::string& file, const YAML::Mark& mark);

/// YAML as JSON: plain scalars that are null, true/false or integers get those types; everything
/// else (quoted scalars, block scalars, numbers with a fraction like 1.30) stays text as written.
using drctl::yaml_to_json;

/// Where the `occurrence`-th (0-based) `needle` after `start` is in `source`; `start` if not found.
/// Points an error at a template tag inside a YAML value that starts at `start`.
Pos locate(const std::string& source, const Pos& start, const std::string& needle, std::size_t occurrence);

}  // namespace drctl::runbook
