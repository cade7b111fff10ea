// Verification actions: verify.vip (a VIP answers on its ports), verify.ingress (each host
// through the ingress answers from its own backend) and verify.data (a directory of a host holds
// a snapshot's section, hashed there).
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds verify.vip, verify.ingress and verify.data to `registry`.
void add_verify_actions(Registry& registry);

}  // namespace drctl::actions
