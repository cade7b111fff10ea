#include "sim/ingress.hpp"

#include <algorithm>
#include <cctype>

#include "base/text.hpp"

namespace drctl::sim {

namespace {

using nlohmann::json;
using text::lower;

const json& member(const json& obj, const char* key) {
  static const json none;
  if (!obj.is_object()) return none;
  auto it = obj.find(key);
  return it == obj.end() ? none : *it;
}

std::string str(const json& obj, const char* key) {
  const json& v = member(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string ns_of(const json& obj) { return str(member(obj, "metadata"), "namespace"); }
std::string name_of(const json& obj) { return ns_of(obj) + "/" + str(member(obj, "metadata"), "name"); }

bool class_matches(const json& ingress, const std::string& ingress_class, bool class_is_default) {
  if (const std::string name = str(member(ingress, "spec"), "ingressClassName"); !name.empty())
    return name == ingress_class;
  const json& annotations = member(member(ingress, "metadata"), "annotations");
  if (const std::string name = str(annotations, "kubernetes.io/ingress.class"); !name.empty())
    return name == ingress_class;
  return class_is_default;
}

// "*.example.com" covers exactly one more label: "www.example.com", not "example.com" or "a.b.example.com".
bool wildcard_matches(const std::string& pattern, const std::string& host) {
  if (!pattern.starts_with("*.")) return false;
  const std::string suffix = pattern.substr(1);
  return host.size() > suffix.size() && host.ends_with(suffix) &&
         host.substr(0, host.size() - suffix.size()).find('.') == std::string::npos;
}

// How a rule's host matches the request: 2 exact, 1 wildcard, 0 a rule without host (the default server), -1 not.
int host_match(const std::string& rule_host, const std::string& host) {
  if (rule_host.empty()) return 0;
  if (lower(rule_host) == host) return 2;
  return wildcard_matches(lower(rule_host), host) ? 1 : -1;
}

// A path of a rule that the request's path matches, with how well: Exact beats any prefix, a longer prefix a shorter.
struct PathMatch {
  const json* ingress = nullptr;
  const json* backend = nullptr;
  bool exact = false;
  std::size_t length = 0;
  bool better_than(const PathMatch& o) const {
    if (!o.ingress) return true;
    if (exact != o.exact) return exact;
    return length > o.length;
  }
};

// Whether `rule_path` of `type` matches `path`. Prefix matches by path element ("/foo" matches "/foo"
// and "/foo/bar", not "/foobar"); ImplementationSpecific (and a missing type) is nginx's plain prefix.
bool path_matches(const std::string& type, const std::string& rule_path, const std::string& path) {
  if (type == "Exact") return path == rule_path;
  if (type == "Prefix") {
    std::string p = rule_path;
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p == "/" || path == p || path.starts_with(p + "/");
  }
  return path.starts_with(rule_path);
}

const json* find_object(const std::vector<json>& objects, const std::string& ns, const std::string& name) {
  for (const auto& o : objects)
    if (ns_of(o) == ns && str(member(o, "metadata"), "name") == name) return &o;
  return nullptr;
}

// Why the TLS handshake for `host` fails on the Ingresses of the class; "" when a valid secret covers it.
std::string tls_problem(const std::vector<const json*>& ingresses, const std::vector<json>& secrets,
                        const std::string& host, std::string& ingress_name) {
  const std::string fallback = ": the controller serves its default certificate";
  for (const json* ing : ingresses) {
    for (const auto& tls : member(member(*ing, "spec"), "tls")) {
      const json& hosts = member(tls, "hosts");
      const bool covers = std::any_of(hosts.begin(), hosts.end(), [&](const json& h) {
        return h.is_string() &&
               (lower(h.get<std::string>()) == host || wildcard_matches(lower(h.get<std::string>()), host));
      });
      if (!covers) continue;
      ingress_name = name_of(*ing);
      const std::string secret_name = str(tls, "secretName");
      if (secret_name.empty()) return "TLS: the tls section of Ingress " + ingress_name + " names no secret" + fallback;
      const std::string secret = ns_of(*ing) + "/" + secret_name;
      const json* s = find_object(secrets, ns_of(*ing), secret_name);
      if (!s) return "TLS: secret " + secret + " is missing" + fallback;
      if (str(*s, "type") != "kubernetes.io/tls")
        return "TLS: secret " + secret + " is of type '" + str(*s, "type") + "', not kubernetes.io/tls" + fallback;
      return "";
    }
  }
  return "TLS: no tls section covers host " + host + fallback;
}

// Whether the Service has the port the backend names ({number} or {name}).
bool has_port(const json& service, const json& port) {
  for (const auto& p : member(member(service, "spec"), "ports")) {
    if (member(port, "number").is_number() && member(p, "port") == port["number"]) return true;
    if (member(port, "name").is_string() && member(p, "name") == port["name"]) return true;
  }
  return false;
}

}  // namespace

IngressRoute route_request(const std::vector<json>& ingresses, const std::vector<json>& services,
                           const std::vector<json>& secrets, const ResolveBackend& resolve,
                           const std::string& ingress_class, bool https, const std::string& host_header,
                           const std::string& request_path, bool class_is_default) {
  IngressRoute route;
  const std::string host = lower(host_header.substr(0, host_header.find(':')));
  const std::string path = request_path.substr(0, request_path.find('?'));

  std::vector<const json*> ours;
  for (const auto& ing : ingresses)
    if (str(ing, "kind") == "Ingress" && class_matches(ing, ingress_class, class_is_default)) ours.push_back(&ing);

  if (https) {
    if (auto why = tls_problem(ours, secrets, host, route.ingress); !why.empty()) {
      route.reason = why;
      return route;
    }
  }

  // The server for the host: the rules of its best host match, merged over all Ingresses in order.
  int best_host = -1;
  for (const json* ing : ours)
    for (const auto& rule : member(member(*ing, "spec"), "rules"))
      best_host = std::max(best_host, host_match(str(rule, "host"), host));
  PathMatch best;
  for (const json* ing : ours) {
    for (const auto& rule : member(member(*ing, "spec"), "rules")) {
      if (best_host < 0 || host_match(str(rule, "host"), host) != best_host) continue;
      for (const auto& p : member(member(rule, "http"), "paths")) {
        const std::string rule_path = p.contains("path") ? str(p, "path") : "/";
        const std::string type = str(p, "pathType");
        if (!path_matches(type, rule_path, path)) continue;
        const PathMatch m{ing, &member(p, "backend"), type == "Exact", rule_path.size()};
        if (m.better_than(best)) best = m;
      }
    }
  }
  if (!best.ingress) {
    route.status = 404;
    route.reason = "no Ingress rule for host " + host + " path " + path;
    return route;
  }

  route.ingress = name_of(*best.ingress);
  const json& svc = member(*best.backend, "service");
  const std::string ns = ns_of(*best.ingress), svc_name = str(svc, "name");
  route.status = 503;
  if (svc_name.empty()) {
    route.reason = "the matching path of Ingress " + route.ingress + " has no service backend";
    return route;
  }
  route.service = ns + "/" + svc_name;
  const json* service = find_object(services, ns, svc_name);
  if (!service) {
    route.reason = "Service " + route.service + " does not exist";
    return route;
  }
  const json& port = member(svc, "port");
  if (!has_port(*service, port)) {
    route.reason = "Service " + route.service + " has no port " + port.dump();
    return route;
  }
  std::vector<std::string> endpoints = resolve(ns, svc_name, port);
  if (endpoints.empty()) {
    route.reason = "Service " + route.service + " has no ready endpoint";
    return route;
  }
  route.status = 200;
  route.endpoint = *std::min_element(endpoints.begin(), endpoints.end());
  return route;
}

}  // namespace drctl::sim
