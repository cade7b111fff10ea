// `drctl run --set KEY=VALUE`: one var of a runbook changed from the command line.
#pragma once
#include <string>
#include <vector>

#include "runbook/model.hpp"

namespace drctl::runbook {

/// "metallb.pool" as its parts {"metallb", "pool"}.
std::vector<std::string> var_path(const std::string& dotted);

/// Why the var at `path` is not one `vars` declares, "" when it is: "the runbook and its site
/// declare no var 'restor' (did you mean 'restore'?)", "metallb has no key 'versoin' (…)",
/// "datasets is not a map". `vars` is what templates see (Runbook::merged_vars()).
std::string undeclared_var(const json& vars, const std::vector<std::string>& path);

/// Applies "KEY=VALUE" to `rb.vars`. VALUE is read as YAML (true, 3, [a, b]; a version like 0.12
/// stays text); a dotted KEY ("metallb.pool") changes one field of a map var and keeps the
/// rest of it, as the site and runbook merged it. KEY must be a var (or a key of a map var) the
/// runbook or its site declares unless `add` (`--set-new`): a typo is not a new var. Throws
/// InputError for a malformed assignment or an undeclared KEY.
void set_var(Runbook& rb, const std::string& assignment, bool add = false);

}  // namespace drctl::runbook
