// Kubernetes actions: kubeadm.init, kubeadm.join and kube.apply, run over the step's host.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds kubeadm.init, kubeadm.join and kube.apply to `registry`.
void add_kube_actions(Registry& registry);

}  // namespace drctl::actions
