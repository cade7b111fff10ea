// The simulated cluster's PKI: the certificates and keys kubeadm writes are PEM files whose
// body names what they are ("drctl-sim cluster CA x"), so the cluster can tell which CA issued
// a kubeconfig or an etcd client certificate without real cryptography.
#pragma once
#include <string>

namespace drctl::sim::kube_pki {

/// A PEM block labelled `label` ("CERTIFICATE", "RSA PRIVATE KEY") holding `body`.
std::string pem(const std::string& label, const std::string& body);
/// The certificate of the cluster CA named `ca` (/etc/kubernetes/pki/ca.crt, kubeconfigs).
std::string ca_certificate(const std::string& ca);
/// The CA a PEM certificate written by ca_certificate names ("" if none).
std::string ca_of(const std::string& cert);
/// The CA's public key hash as `kubeadm join --discovery-token-ca-cert-hash` takes it ("sha256:…").
std::string ca_hash(const std::string& ca);

}  // namespace drctl::sim::kube_pki
