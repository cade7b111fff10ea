// The ingress controller (ingress-nginx) as the simulator reads it: which networking.k8s.io/v1
// Ingress serves a request by Host header and path, which Service and endpoint it reaches, and
// whether the TLS handshake for the host succeeds. A pure function of the Kubernetes objects.
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace drctl::sim {

/// The ready endpoints (pod names) of a Service port, as the cluster knows them.
using ResolveBackend = std::function<std::vector<std::string>(const std::string& ns, const std::string& service,
                                                              const nlohmann::json& port /* {number} or {name} */)>;

/// The certificate ingress-nginx presents for a host over HTTPS.
struct ServedCertificate {
  std::vector<std::string> names;  // the DNS names it is for (subjectAltName, else the common name)
  std::string secret;              // "ns/name" of the Secret it came from; "" for the default certificate
  bool fake = false;               // the controller's default: "Kubernetes Ingress Controller Fake Certificate"
  bool self_signed = false;        // its issuer is its subject (a client's chain verification fails)
  std::string why;                 // why the default certificate was served (the controller's log line)
};

/// The name and DNS name of ingress-nginx's default certificate (internal/net/ssl GetFakeSSLCert).
inline constexpr const char* kFakeCertificateName = "Kubernetes Ingress Controller Fake Certificate";
inline constexpr const char* kFakeCertificateHost = "ingress.local";

/// Where a request ended up.
struct IngressRoute {
  int status = 0;        // 200 routed to a backend, 404 no rule, 503 no backend or no ready endpoint
  std::string ingress;   // "ns/name" of the Ingress that matched (or whose tls section failed)
  std::string service;   // "ns/name"
  std::string endpoint;  // the pod chosen: the first ready one by name
  std::string reason;    // why not 200, e.g. "Service website/blog does not exist"
  ServedCertificate certificate;  // over HTTPS: what the handshake presented
};

/// ingress-nginx for one request. Only `ingresses` of `ingress_class` count: spec.ingressClassName
/// or the kubernetes.io/ingress.class annotation naming it, or neither when `class_is_default`
/// (the IngressClass is the cluster's default). The host picks the rules (exact host, then a
/// wildcard "*.domain", then rules without host); among their paths an Exact match wins, else the
/// longest matching Prefix / ImplementationSpecific path. `https`: the handshake always completes
/// (`certificate`), with the Secret's certificate when an Ingress with a rule for the host has a
/// tls entry for it (see served_certificate), else with the controller's fake certificate; the
/// request is then routed as over HTTP. `services` tell a missing backend Service (503); `resolve`
/// gives its endpoints.
IngressRoute route_request(const std::vector<nlohmann::json>& ingresses, const std::vector<nlohmann::json>& services,
                           const std::vector<nlohmann::json>& secrets, const ResolveBackend& resolve,
                           const std::string& ingress_class, bool https, const std::string& host,
                           const std::string& path, bool class_is_default = true);

/// The certificate ingress-nginx serves for `host` (createServers and extractTLSSecretName,
/// controller.go, v1.9): the first Ingress (of the class) with a rule for the host and a tls
/// section decides — the tls entry listing the host, else one whose certificate covers it; its
/// Secret (in the Ingress's namespace) must hold tls.crt and tls.key with a certificate that
/// covers the host, else the default (fake) certificate, with the reason in `why`. A tls.crt
/// that is a real PEM X.509 certificate is read for its names (and its key must match); the
/// simulator's stand-in (a PEM block that is not DER) is a certificate for the names in the
/// Secret's cert-manager.io/alt-names and cert-manager.io/common-name annotations, or, without
/// them, for the hosts the tls entries naming it list.
ServedCertificate served_certificate(const std::vector<nlohmann::json>& ingresses, const std::vector<nlohmann::json>& secrets,
                                     const std::string& ingress_class, const std::string& host,
                                     bool class_is_default = true);

}  // namespace drctl::sim
