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

/// Where a request ended up.
struct IngressRoute {
  int status = 0;        // 200 routed to a backend, 404 no rule, 503 no backend or no ready endpoint, 0 TLS failed
  std::string ingress;   // "ns/name" of the Ingress that matched (or whose tls section failed)
  std::string service;   // "ns/name"
  std::string endpoint;  // the pod chosen: the first ready one by name
  std::string reason;    // why not 200, e.g. "Service website/blog does not exist"
};

/// ingress-nginx for one request. Only `ingresses` of `ingress_class` count: spec.ingressClassName
/// or the kubernetes.io/ingress.class annotation naming it, or neither when `class_is_default`
/// (the IngressClass is the cluster's default). The host picks the rules (exact host, then a
/// wildcard "*.domain", then rules without host); among their paths an Exact match wins, else the
/// longest matching Prefix / ImplementationSpecific path. `https`: a tls section of those Ingresses
/// must list the host and name a Secret of type kubernetes.io/tls in its namespace (`secrets`),
/// else the controller serves its default certificate and a strict client's handshake fails
/// (status 0). `services` tell a missing backend Service (503); `resolve` gives its endpoints.
IngressRoute route_request(const std::vector<nlohmann::json>& ingresses, const std::vector<nlohmann::json>& services,
                           const std::vector<nlohmann::json>& secrets, const ResolveBackend& resolve,
                           const std::string& ingress_class, bool https, const std::string& host,
                           const std::string& path, bool class_is_default = true);

}  // namespace drctl::sim
