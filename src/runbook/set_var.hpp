// `drctl run --set KEY=VALUE`: one var of a runbook changed from the command line.
#pragma once
#include <string>

#include "runbook/model.hpp"

namespace drctl::runbook {

/// Applies "KEY=VALUE" to `rb.vars`. VALUE is read as YAML (true, 3, [a, b]; a version like 0.12
/// stays text); a dotted KEY ("metallb.pool") changes one field of a map var and keeps the
/// rest of it, as the site and runbook merged it. Throws InputError for a malformed assignment.
void set_var(Runbook& rb, const std::string& assignment);

}  // namespace drctl::runbook
