// Kubernetes actions, run over the step's host: kubeadm.init, kubeadm.join, kube.apply,
// kube.restore (a snapshot's objects applied in a safe order), and the cluster's add-ons
// metallb.install, metallb.pools (CRDs or the legacy ConfigMap) and ingress.install.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds the Kubernetes actions to `registry`.
void add_kube_actions(Registry& registry);

}  // namespace drctl::actions
