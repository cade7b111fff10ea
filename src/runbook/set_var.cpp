#include "runbook/set_var.hpp"

#include <vector>

#include "base/error.hpp"
#include "base/suggest.hpp"
#include "base/yaml_json.hpp"

namespace drctl::runbook {

std::vector<std::string> var_path(const std::string& dotted) {
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const auto dot = dotted.find('.', start);
    parts.push_back(dotted.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

std::string undeclared_var(const json& vars, const std::vector<std::string>& path) {
  const json* at = &vars;
  std::string where;
  for (const auto& part : path) {
    if (!at->is_object()) return where + " is not a map";
    if (!at->contains(part)) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : at->items()) keys.push_back(k);
      return (where.empty() ? "the runbook and its site declare no var '" + part + "'" : where + " has no key '" + part + "'") +
             did_you_mean(part, keys);
    }
    at = &(*at)[part];
    where += (where.empty() ? "" : ".") + part;
  }
  return "";
}

void set_var(Runbook& rb, const std::string& assignment, bool add) {
  const std::string option = add ? "--set-new " : "--set ";
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(option + assignment + ": expected KEY=VALUE");
  const std::string key = assignment.substr(0, eq), text = assignment.substr(eq + 1);
  json value = text;
  try {
    json parsed = yaml_to_json(parse_yaml(text, option + key));
    if (!parsed.is_number_float() && !parsed.is_null()) value = parsed;
  } catch (const YamlSyntaxError&) {
  }
  const std::vector<std::string> parts = var_path(key);
  for (const auto& p : parts)
    if (p.empty()) throw InputError(option + key + ": an empty part in the dotted name");
  const json merged = rb.merged_vars();
  if (!add)
    if (const std::string why = undeclared_var(merged, parts); !why.empty())
      throw InputError("--set " + key + ": " + why + "; to add a var, use --set-new " + key + "=…");
  json top = merged.contains(parts[0]) ? merged[parts[0]] : json();
  json* at = &top;
  for (std::size_t i = 1; i < parts.size(); ++i) {
    if (!at->is_object()) {
      if (!at->is_null()) throw InputError(option + key + ": " + parts[i - 1] + " is not a map");
      *at = json::object();
    }
    at = &(*at)[parts[i]];
  }
  *at = value;
  rb.vars[parts[0]] = top;
}

}  // namespace drctl::runbook
