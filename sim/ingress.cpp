#include "sim/ingress.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/text.hpp"
#include "sim/kube_util.hpp"

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

// A certificate as the controller read it from a Secret.
struct SecretCertificate {
  std::vector<std::string> names;
  bool self_signed = false;
  std::string error;  // why the controller refused the Secret ("" when it took it)
};

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (!e) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// A real PEM X.509 certificate and its key, as ssl.CreateSSLCert reads them: the DNS names
// (subjectAltName, and the common name, which the controller's verifyHostname also accepts).
SecretCertificate read_x509(const std::string& cert_pem, const std::string& key_pem) {
  SecretCertificate out;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) {
    out.error = "unexpected error creating SSL Cert: " + openssl_error();
    return out;
  }
  if (auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type == GEN_DNS)
        out.names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(n->d.dNSName)), ASN1_STRING_length(n->d.dNSName));
    }
    GENERAL_NAMES_free(sans);
  }
  char cn[256] = "";
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn) > 0 &&
      std::find(out.names.begin(), out.names.end(), cn) == out.names.end())
    out.names.emplace_back(cn);
  out.self_signed = X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())) == 0;
  std::unique_ptr<BIO, decltype(&BIO_free)> kbio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr),
                                                          EVP_PKEY_free);
  if (!key || X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    out.error = "unexpected error creating SSL Cert: tls: private key does not match public key";
  }
  return out;
}

std::vector<std::string> split_names(const std::string& text) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const auto comma = text.find(',', at);
    const std::string part = text::trim(text.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

// The certificate a Secret holds, as the controller's store reads it (getPemCertificate): it
// needs tls.crt and tls.key; `listed` are the hosts tls entries naming the Secret list.
SecretCertificate read_secret_certificate(const json& secret, const std::string& key,
                                          const std::vector<std::string>& listed) {
  SecretCertificate out;
  const json& data = member(secret, "data");
  const auto crt = kube_util::unbase64(str(data, "tls.crt"));
  const auto tls_key = kube_util::unbase64(str(data, "tls.key"));
  if (!member(data, "tls.crt").is_string() || !member(data, "tls.key").is_string() || !crt || !tls_key) {
    out.error = "secret \"" + key + "\" contains no keypair or CA certificate";
    return out;
  }
  const std::string begin = "-----BEGIN CERTIFICATE-----";
  const auto at = crt->find(begin);
  if (at == std::string::npos) {
    out.error = "unexpected error creating SSL Cert: no valid PEM formatted block found";
    return out;
  }
  const auto end = crt->find("-----END CERTIFICATE-----", at);
  const std::string body = crt->substr(at + begin.size(), end == std::string::npos ? std::string::npos : end - at - begin.size());
  std::string b64;
  for (char c : body)
    if (!std::isspace(static_cast<unsigned char>(c))) b64 += c;
  const auto der = kube_util::unbase64(b64);
  const bool real = der && der->size() > 2 && static_cast<unsigned char>((*der)[0]) == 0x30;  // a DER SEQUENCE
  if (real) return read_x509(*crt, *tls_key);
  // The simulator's stand-in for a certificate.
  const json& annotations = member(member(secret, "metadata"), "annotations");
  out.names = split_names(str(annotations, "cert-manager.io/alt-names"));
  if (const std::string cn = str(annotations, "cert-manager.io/common-name");
      !cn.empty() && std::find(out.names.begin(), out.names.end(), cn) == out.names.end())
    out.names.push_back(cn);
  if (out.names.empty()) out.names = listed;
  return out;
}

// Go's VerifyHostname for DNS names: exact (case-insensitive) or a "*." wildcard over one label.
bool certificate_covers(const std::vector<std::string>& names, const std::string& host) {
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) {
    return lower(n) == host || wildcard_matches(lower(n), host);
  });
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "no names" : out;
}

ServedCertificate fake_certificate(const std::string& why) {
  ServedCertificate c;
  c.names = {kFakeCertificateHost};
  c.fake = true;
  c.self_signed = true;
  c.why = why;
  return c;
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

  if (https) route.certificate = served_certificate(ingresses, secrets, ingress_class, host, class_is_default);

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

ServedCertificate served_certificate(const std::vector<json>& ingresses, const std::vector<json>& secrets,
                                     const std::string& ingress_class, const std::string& host_header,
                                     bool class_is_default) {
  const std::string host = lower(host_header.substr(0, host_header.find(':')));
  std::vector<const json*> ours;
  for (const auto& ing : ingresses)
    if (str(ing, "kind") == "Ingress" && class_matches(ing, ingress_class, class_is_default)) ours.push_back(&ing);
  // The server the request reaches: its best host match among the rules (exact, wildcard, none).
  int best_host = -1;
  std::string server;
  for (const json* ing : ours)
    for (const auto& rule : member(member(*ing, "spec"), "rules"))
      if (const int m = host_match(str(rule, "host"), host); m > best_host) best_host = m, server = lower(str(rule, "host"));
  if (best_host <= 0) return fake_certificate("no Ingress has a rule for host " + host + " (the default server)");
  for (const json* ing : ours) {
    const json& spec = member(*ing, "spec");
    const json& rules = member(spec, "rules");
    if (!std::any_of(rules.begin(), rules.end(), [&](const json& r) { return lower(str(r, "host")) == server; })) continue;
    const json& tls = member(spec, "tls");
    if (!tls.is_array() || tls.empty()) continue;  // this Ingress has no TLS: a later one may
    const std::string ns = ns_of(*ing);
    auto listed_for = [&](const std::string& secret_name) {
      std::vector<std::string> hosts;
      for (const auto& t : tls)
        if (str(t, "secretName") == secret_name)
          for (const auto& h : member(t, "hosts"))
            if (h.is_string()) hosts.push_back(h.get<std::string>());
      return hosts;
    };
    auto certificate_of = [&](const std::string& secret_name) -> std::optional<SecretCertificate> {
      const json* s = find_object(secrets, ns, secret_name);
      if (!s) return std::nullopt;
      return read_secret_certificate(*s, ns + "/" + secret_name, listed_for(secret_name));
    };
    // extractTLSSecretName: the entry listing the host, else one whose certificate covers it.
    std::string secret_name;
    bool found = false;
    for (const auto& t : tls)
      for (const auto& h : member(t, "hosts"))
        if (!found && h.is_string() && lower(h.get<std::string>()) == server) secret_name = str(t, "secretName"), found = true;
    if (!found)
      for (const auto& t : tls) {
        const std::string name = str(t, "secretName");
        if (found || name.empty()) continue;
        auto c = certificate_of(name);
        if (c && c->error.empty() && certificate_covers(c->names, server)) secret_name = name, found = true;
      }
    if (!found)
      return fake_certificate("no tls entry of Ingress " + name_of(*ing) + " lists host " + server +
                              " or names a Secret whose certificate covers it");
    if (secret_name.empty())
      return fake_certificate("Host \"" + server + "\" is listed in the TLS section but secretName is empty");
    const std::string key = ns + "/" + secret_name;
    auto c = certificate_of(secret_name);
    if (!c) return fake_certificate("Error getting SSL certificate \"" + key + "\": local SSL certificate " + key + " was not found");
    if (!c->error.empty()) return fake_certificate("Error getting SSL certificate \"" + key + "\": " + c->error);
    if (!certificate_covers(c->names, server))
      return fake_certificate("SSL certificate \"" + key + "\" does not contain a Common Name or Subject Alternative Name for server \"" +
                              server + "\": x509: certificate is valid for " + join_names(c->names) + ", not " + server);
    ServedCertificate served;
    served.names = c->names;
    served.secret = key;
    served.self_signed = c->self_signed;
    return served;
  }
  return fake_certificate("no Ingress with a rule for host " + server + " has a tls section");
}

}  // namespace drctl::sim
