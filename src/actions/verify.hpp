// Verification actions: verify.vip (a VIP answers on its ports) and verify.ingress (each host
// through the ingress answers from its own backend).
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds verify.vip and verify.ingress to `registry`.
void add_verify_actions(Registry& registry);

}  // namespace drctl::actions
