#include "runbook/set_var.hpp"

#include <vector>

#include "base/error.hpp"
#include "base/yaml_json.hpp"

namespace drctl::runbook {

void set_var(Runbook& rb, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError("--set " + assignment + ": expected KEY=VALUE");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json value = text;
  try {
    json parsed = yaml_to_json(parse_yaml(text, "--set " + key));
    if (!parsed.is_number_float() && !parsed.is_null()) value = parsed;
  } catch (const YamlSyntaxError&) {
  }
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  const json merged = rb.merged_vars();
  json top = merged.contains(parts[0]) ? merged[parts[0]] : json();
  json* at = &top;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (!at->is_object()) {
      if (!at->is_null()) throw InputError("--set " + key + ": " + parts[i - 1] + " is not a map");
      *at = json::object();
    }
    at = &(*at)[parts[i]];
  }
  *at = value;
  rb.vars[parts[0]] = top;
}


}  // namespace drctl::runbook
