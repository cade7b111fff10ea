#include <doctest/doctest.h>

#include <tuple>

#include "sim/ingress.hpp"
#include "sim/kube_util.hpp"

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

// The simulator's stand-in certificate, as the homelab's manifests carry it: a PEM block that is not DER.
const std::string kStandInCert = "-----BEGIN CERTIFICATE-----\nsimulated\n-----END CERTIFICATE-----\n";
const std::string kStandInKey = "-----BEGIN PRIVATE KEY-----\nsimulated\n-----END PRIVATE KEY-----\n";

// A real self-signed certificate for www.example.test and *.apps.example.test (openssl 3.0.19:
// req -x509 -newkey ec -subj /CN=www.example.test -addext subjectAltName=DNS:www.example.test,DNS:*.apps.example.test).
const std::string kRealCert =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBwTCCAWegAwIBAgIURdZr6o2wMaPZT9FfzkqfOB/FHRUwCgYIKoZIzj0EAwIw\n"
    "GzEZMBcGA1UEAwwQd3d3LmV4YW1wbGUudGVzdDAgFw0yNjEyMDIxMzM0MTZaGA8y\n"
    "MTI2MTEwODEzMzQxNlowGzEZMBcGA1UEAwwQd3d3LmV4YW1wbGUudGVzdDBZMBMG\n"
    "ByqGSM49AgEGCCqGSM49AwEHA0IABEOkbIIKED+mcMx2HdozBh55WbnAd+Reh7j2\n"
    "SViyQvZny70bObm0glPbnVURqSD7pcJoqC3dbpCzjVpPg7ObsNqjgYYwgYMwHQYD\n"
    "VR0OBBYEFD9TVWH66b+zR4XyslMzSm1n6XO/MB8GA1UdIwQYMBaAFD9TVWH66b+z\n"
    "R4XyslMzSm1n6XO/MA8GA1UdEwEB/wQFMAMBAf8wMAYDVR0RBCkwJ4IQd3d3LmV4\n"
    "YW1wbGUudGVzdIITKi5hcHBzLmV4YW1wbGUudGVzdDAKBggqhkjOPQQDAgNIADBF\n"
    "AiEAozV809uPO6xH65JdR7st9QZRMjadLudThOlC2CWx0u0CIEpjXpjpiPvNZfEg\n"
    "4E02aGDe312L3BCueWrfy9VNghoP\n"
    "-----END CERTIFICATE-----\n";
const std::string kRealKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZl/O5UDWd8fVm2g/\n"
    "wiArjdOziY74KJAEtm0fcVDwZ6GhRANCAARDpGyCChA/pnDMdh3aMwYeeVm5wHfk\n"
    "Xoe49klYskL2Z8u9Gzm5tIJT251VEakg+6XCaKgt3W6Qs41aT4Ozm7Da\n"
    "-----END PRIVATE KEY-----\n";
// Another key (of a certificate for CN=other), which does not match kRealCert.
const std::string kOtherKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVQfYpboe3BkYxExX\n"
    "vybA04FFEam26WtZqLE07awgarahRANCAAQqfxrE6XzkVD6B5UoaGd7Ph2hwzJ6d\n"
    "iPH9K1szSczaePLDQwJPLSvwhJZDvZicUUiwXTx/huv3sCsMFvPXqWGp\n"
    "-----END PRIVATE KEY-----\n";

json tls_secret(const std::string& ns, const std::string& name, const std::string& type = "kubernetes.io/tls",
                const std::string& cert = kStandInCert, const std::string& key = kStandInKey) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"namespace", ns}, {"name", name}}},
          {"type", type},
          {"data", {{"tls.crt", kube_util::base64(cert)}, {"tls.key", kube_util::base64(key)}}}};
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

// ingress-nginx v1.9 controller.go createServers: a host without a usable Secret gets the
// default certificate ("Kubernetes Ingress Controller Fake Certificate", DNS name ingress.local —
// its e2e test default_ssl_certificate asserts both); the handshake completes and routing goes on.
TEST_CASE("sim ingress: without a usable TLS Secret https gets the fake certificate, naming why") {
  const std::vector<json> ingresses = {seed_blog_ingress()};
  const std::vector<json> services = {service("website", "blog")};
  IngressRoute r = route_request(ingresses, services, kSecrets, pods, "nginx", true, "www.viktorbarzin.me", "/");
  CHECK(r.status == 200);
  CHECK_FALSE(r.certificate.fake);
  CHECK(r.certificate.secret == "website/tls-secret");
  CHECK(r.certificate.names == std::vector<std::string>{"www.viktorbarzin.me"});  // a stand-in: the hosts it is listed for

  r = route_request(ingresses, services, {}, pods, "nginx", true, "www.viktorbarzin.me", "/");
  CHECK(r.status == 200);
  CHECK(r.certificate.fake);
  CHECK(r.certificate.names == std::vector<std::string>{"ingress.local"});
  CHECK(r.certificate.why ==
        "Error getting SSL certificate \"website/tls-secret\": local SSL certificate website/tls-secret was not found");
  CHECK(route_request(ingresses, services, {}, pods, "nginx", false, "www.viktorbarzin.me", "/").status == 200);

  // The Secret must be in the Ingress's namespace and hold tls.crt and tls.key; its type is not read.
  r = route_request(ingresses, services, {tls_secret("default", "tls-secret")}, pods, "nginx", true,
                    "www.viktorbarzin.me", "/");
  CHECK(r.certificate.fake);
  json no_key = tls_secret("website", "tls-secret");
  no_key["data"].erase("tls.key");
  r = route_request(ingresses, services, {no_key}, pods, "nginx", true, "www.viktorbarzin.me", "/");
  CHECK(r.certificate.why ==
        "Error getting SSL certificate \"website/tls-secret\": secret \"website/tls-secret\" contains no keypair or CA "
        "certificate");
  r = route_request(ingresses, services, {tls_secret("website", "tls-secret", "Opaque")}, pods, "nginx", true,
                    "www.viktorbarzin.me", "/");
  CHECK_FALSE(r.certificate.fake);
  r = route_request(ingresses, services, {tls_secret("website", "tls-secret", "kubernetes.io/tls", "not a certificate")},
                    pods, "nginx", true, "www.viktorbarzin.me", "/");
  CHECK(r.certificate.why == "Error getting SSL certificate \"website/tls-secret\": unexpected error creating SSL Cert: no "
                             "valid PEM formatted block found");

  // A host no Ingress with TLS lists gets the default certificate too.
  r = route_request({ingress("website", "x", "x.example.com", {{"/", "Prefix", "blog"}})}, services, kSecrets, pods,
                    "nginx", true, "x.example.com", "/");
  CHECK(r.status == 200);
  CHECK(r.certificate.fake);
  CHECK(r.certificate.why == "no Ingress with a rule for host x.example.com has a tls section");
  r = route_request(ingresses, services, kSecrets, pods, "nginx", true, "nobody.example.com", "/");
  CHECK(r.status == 404);
  CHECK(r.certificate.why == "no Ingress has a rule for host nobody.example.com (the default server)");
}

// ingress-nginx reads a real certificate's names (VerifyHostname, then the common name) and
// needs its key to match (tls.X509KeyPair in ssl.CreateSSLCert).
TEST_CASE("sim ingress: a Secret whose certificate does not cover the host gets the fake certificate") {
  const std::vector<json> services = {service("web", "site")};
  json ing = ingress("web", "site", "www.example.test", {{"/", "Prefix", "site"}});
  ing["spec"]["tls"] = json::array({{{"hosts", {"www.example.test"}}, {"secretName", "real"}}});
  const json good = tls_secret("web", "real", "kubernetes.io/tls", kRealCert, kRealKey);
  IngressRoute r = route_request({ing}, services, {good}, pods, "nginx", true, "www.example.test", "/");
  CHECK_FALSE(r.certificate.fake);
  CHECK(r.certificate.names == std::vector<std::string>{"www.example.test", "*.apps.example.test"});
  CHECK(r.certificate.self_signed);

  // The same Secret listed for a host its certificate is not for.
  json other = ingress("web", "site", "blog.example.test", {{"/", "Prefix", "site"}});
  other["spec"]["tls"] = json::array({{{"hosts", {"blog.example.test"}}, {"secretName", "real"}}});
  r = route_request({other}, services, {good}, pods, "nginx", true, "blog.example.test", "/");
  CHECK(r.certificate.fake);
  CHECK(r.certificate.why ==
        "SSL certificate \"web/real\" does not contain a Common Name or Subject Alternative Name for server "
        "\"blog.example.test\": x509: certificate is valid for www.example.test, *.apps.example.test, not "
        "blog.example.test");
  // A wildcard name covers one label; a tls entry not listing the host is used when its certificate covers it.
  json apps = ingress("web", "site", "shop.apps.example.test", {{"/", "Prefix", "site"}});
  apps["spec"]["tls"] = json::array({{{"hosts", {"www.example.test"}}, {"secretName", "real"}}});
  r = route_request({apps}, services, {good}, pods, "nginx", true, "shop.apps.example.test", "/");
  CHECK_FALSE(r.certificate.fake);
  CHECK(r.certificate.secret == "web/real");

  // A key that is not the certificate's.
  r = route_request({ing}, services, {tls_secret("web", "real", "kubernetes.io/tls", kRealCert, kOtherKey)}, pods,
                    "nginx", true, "www.example.test", "/");
  CHECK(r.certificate.fake);
  CHECK(r.certificate.why.find("tls: private key does not match public key") != std::string::npos);

  // A stand-in certificate for the names cert-manager would record on its Secret.
  json stand_in = tls_secret("web", "real");
  stand_in["metadata"]["annotations"] = {{"cert-manager.io/alt-names", "old.example.test"}};
  r = route_request({ing}, services, {stand_in}, pods, "nginx", true, "www.example.test", "/");
  CHECK(r.certificate.fake);
  CHECK(r.certificate.why.find("certificate is valid for old.example.test, not www.example.test") != std::string::npos);
  stand_in["metadata"]["annotations"]["cert-manager.io/alt-names"] = "old.example.test,www.example.test";
  r = route_request({ing}, services, {stand_in}, pods, "nginx", true, "www.example.test", "/");
  CHECK_FALSE(r.certificate.fake);
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
