#include <doctest/doctest.h>

#include <tuple>

#include "sim/ingress.hpp"

using namespace drctl::sim;
using nlohmann::json;

namespace {

// The seed's blog Ingress, as in the blog post (no pathType, no ingress class).
json seed_blog_ingress() {
  return json::parse(R"({
    "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
    "metadata": {"namespace": "website", "name": "blog"},
    "spec": {
      "rules": [{"host": "www.viktorbarzin.me",
                 "http": {"paths": [{"path": "/", "backend": {"service": {"name": "blog", "port": {"number": 80}}}}]}}],
      "tls": [{"hosts": ["www.viktorbarzin.me"], "secretName": "tls-secret"}]}})");
}

json service(const std::string& ns, const std::string& name, int port = 80) {
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"spec", {{"ports", {{{"name", "http"}, {"port", port}}}}}}};
}

json tls_secret(const std::string& ns, const std::string& name, const std::string& type = "kubernetes.io/tls") {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"type", type},
          {"data", {{"tls.crt", "Y2VydA=="}, {"tls.key", "a2V5"}}}};
}

// An Ingress for `host` with (path, pathType, service) entries.
json ingress(const std::string& ns, const std::string& name, const std::string& host,
             const std::vector<std::tuple<std::string, std::string, std::string>>& paths) {
  json ing = {{"apiVersion", "networking.k8s.io/v1"},
              {"kind", "Ingress"},
              {"metadata", {{"namespace", ns}, {"name", name}}},
              {"spec", {{"ingressClassName", "nginx"}, {"rules", {{{"host", host}}}}}}};
  for (const auto& [path, type, svc] : paths)
    ing["spec"]["rules"][0]["http"]["paths"].push_back(
        {{"path", path}, {"pathType", type}, {"backend", {{"service", {{"name", svc}, {"port", {{"number", 80}}}}}}}});
  return ing;
}

// Every Service has two ready pods, named after it; "empty" has none.
std::vector<std::string> pods(const std::string& ns, const std::string& svc, const json& port) {
  if (svc == "empty" || port != json{{"number", 80}}) return {};
  return {ns + "-" + svc + "-b", ns + "-" + svc + "-a"};
}

const std::vector<json> kSecrets = {tls_secret("website", "tls-secret")};

}  // namespace

TEST_CASE("sim ingress: the seed's blog Ingress routes www.viktorbarzin.me / to the blog over http and https") {
  const std::vector<json> ingresses = {seed_blog_ingress()};
  const std::vector<json> services = {service("website", "blog")};
  for (bool https : {false, true}) {
    IngressRoute r = route_request(ingresses, services, kSecrets, pods, "nginx", https, "www.viktorbarzin.me", "/");
    CHECK(r.status == 200);
    CHECK(r.ingress == "website/blog");
    CHECK(r.service == "website/blog");
    CHECK(r.endpoint == "website-blog-a");  // the first ready pod by name
    CHECK(r.reason.empty());
  }
  // Case, a port in the Host header and deeper paths do not matter.
  IngressRoute r = route_request(ingresses, services, kSecrets, pods, "nginx", false, "WWW.ViktorBarzin.me:443",
                                 "/posts/2020/infra?x=1");
  CHECK(r.status == 200);
}

TEST_CASE("sim ingress: an unknown host gets the default backend's 404") {
  IngressRoute r = route_request({seed_blog_ingress()}, {service("website", "blog")}, kSecrets, pods, "nginx", false,
                                 "mail.viktorbarzin.me", "/");
  CHECK(r.status == 404);
  CHECK(r.ingress.empty());
  CHECK(r.reason == "no Ingress rule for host mail.viktorbarzin.me path /");
}

TEST_CASE("sim ingress: a missing Service, port or endpoint fails the request with 503 and the cause") {
  IngressRoute r = route_request({seed_blog_ingress()}, {service("other", "blog")}, kSecrets, pods, "nginx", false,
                                 "www.viktorbarzin.me", "/");
  CHECK(r.status == 503);
  CHECK(r.ingress == "website/blog");
  CHECK(r.reason == "Service website/blog does not exist");

  r = route_request({seed_blog_ingress()}, {service("website", "blog", 8080)}, kSecrets, pods, "nginx", false,
                    "www.viktorbarzin.me", "/");
  CHECK(r.status == 503);
  CHECK(r.reason == "Service website/blog has no port {\"number\":80}");

  r = route_request({ingress("website", "x", "x.example.com", {{"/", "Prefix", "empty"}})},
                    {service("website", "empty")}, kSecrets, pods, "nginx", false, "x.example.com", "/");
  CHECK(r.status == 503);
  CHECK(r.reason == "Service website/empty has no ready endpoint");
}

TEST_CASE("sim ingress: a missing TLS secret fails https with the reason while http still routes") {
  const std::vector<json> ingresses = {seed_blog_ingress()};
  const std::vector<json> services = {service("website", "blog")};
  IngressRoute r = route_request(ingresses, services, {}, pods, "nginx", true, "www.viktorbarzin.me", "/");
  CHECK(r.status == 0);
  CHECK(r.ingress == "website/blog");
  CHECK(r.reason == "TLS: secret website/tls-secret is missing: the controller serves its default certificate");
  CHECK(route_request(ingresses, services, {}, pods, "nginx", false, "www.viktorbarzin.me", "/").status == 200);

  // The secret must be in the Ingress's namespace and of the TLS type.
  r = route_request(ingresses, services, {tls_secret("default", "tls-secret")}, pods, "nginx", true,
                    "www.viktorbarzin.me", "/");
  CHECK(r.reason.find("secret website/tls-secret is missing") != std::string::npos);
  r = route_request(ingresses, services, {tls_secret("website", "tls-secret", "Opaque")}, pods, "nginx", true,
                    "www.viktorbarzin.me", "/");
  CHECK(r.status == 0);
  CHECK(r.reason.find("is of type 'Opaque', not kubernetes.io/tls") != std::string::npos);

  // A host no tls section lists gets the default certificate too.
  r = route_request({ingress("website", "x", "x.example.com", {{"/", "Prefix", "blog"}})}, services, kSecrets, pods,
                    "nginx", true, "x.example.com", "/");
  CHECK(r.status == 0);
  CHECK(r.reason == "TLS: no tls section covers host x.example.com: the controller serves its default certificate");
}

TEST_CASE("sim ingress: the longest prefix wins, by path element") {
  const std::vector<json> ingresses = {
      ingress("web", "site", "example.com", {{"/", "Prefix", "root"}, {"/api", "Prefix", "api"}}),
      ingress("web", "v2", "example.com", {{"/api/v2/", "Prefix", "api-v2"}})};  // merged into the same host
  const std::vector<json> services = {service("web", "root"), service("web", "api"), service("web", "api-v2")};
  auto to = [&](const std::string& path) {
    return route_request(ingresses, services, {}, pods, "nginx", false, "example.com", path).service;
  };
  CHECK(to("/") == "web/root");
  CHECK(to("/about") == "web/root");
  CHECK(to("/api") == "web/api");
  CHECK(to("/api/users") == "web/api");
  CHECK(to("/apiary") == "web/root");  // "/api" is not a path-element prefix of "/apiary"
  CHECK(to("/api/v2") == "web/api-v2");
  CHECK(to("/api/v2/users") == "web/api-v2");
  CHECK(route_request(ingresses, services, {}, pods, "nginx", false, "example.com", "/api/v2").ingress == "web/v2");
}

TEST_CASE("sim ingress: Exact matches only its path and beats a prefix") {
  const std::vector<json> ingresses = {
      ingress("web", "site", "example.com",
              {{"/", "Prefix", "root"}, {"/login", "Prefix", "app"}, {"/login", "Exact", "auth"}})};
  const std::vector<json> services = {service("web", "auth"), service("web", "root"), service("web", "app")};
  auto to = [&](const std::string& path) {
    return route_request(ingresses, services, {}, pods, "nginx", false, "example.com", path).service;
  };
  CHECK(to("/login") == "web/auth");
  CHECK(to("/login/") == "web/app");
  CHECK(to("/login/reset") == "web/app");

  const std::vector<json> exact_only = {ingress("web", "site", "example.com", {{"/health", "Exact", "root"}})};
  IngressRoute r = route_request(exact_only, services, {}, pods, "nginx", false, "example.com", "/health/x");
  CHECK(r.status == 404);
  CHECK(r.reason == "no Ingress rule for host example.com path /health/x");
}

TEST_CASE("sim ingress: exact hosts before wildcards before rules without host") {
  json catch_all = ingress("web", "fallback", "", {{"/", "Prefix", "fallback"}});
  catch_all["spec"]["rules"][0].erase("host");
  const std::vector<json> ingresses = {catch_all, ingress("web", "wild", "*.example.com", {{"/", "Prefix", "wild"}}),
                                       ingress("web", "www", "www.example.com", {{"/", "Prefix", "www"}})};
  const std::vector<json> services = {service("web", "fallback"), service("web", "wild"), service("web", "www")};
  auto to = [&](const std::string& host) {
    return route_request(ingresses, services, {}, pods, "nginx", false, host, "/").service;
  };
  CHECK(to("www.example.com") == "web/www");
  CHECK(to("blog.example.com") == "web/wild");
  CHECK(to("a.b.example.com") == "web/fallback");  // a wildcard covers one label only
  CHECK(to("example.org") == "web/fallback");
}

TEST_CASE("sim ingress: only Ingresses of the controller's class count") {
  json other = ingress("web", "other", "example.com", {{"/", "Prefix", "root"}});
  other["spec"]["ingressClassName"] = "traefik";
  json annotated = ingress("web", "annotated", "example.com", {{"/", "Prefix", "root"}});
  annotated["spec"].erase("ingressClassName");
  annotated["metadata"]["annotations"] = {{"kubernetes.io/ingress.class", "nginx"}};
  const std::vector<json> services = {service("web", "root"), service("website", "blog")};

  CHECK(route_request({other}, services, {}, pods, "nginx", false, "example.com", "/").status == 404);
  CHECK(route_request({other, annotated}, services, {}, pods, "nginx", false, "example.com", "/").ingress ==
        "web/annotated");
  // Without a class, an Ingress is served only by the default class.
  CHECK(route_request({seed_blog_ingress()}, services, kSecrets, pods, "nginx", false, "www.viktorbarzin.me", "/",
                      /*class_is_default=*/false)
            .status == 404);
}
