#include "sim/kube_pki.hpp"

#include "base/text.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim::kube_pki {

using kube_util::base64;
using kube_util::unbase64;
using text::sha256_hex;

std::string pem(const std::string& label, const std::string& body) {
  return "-----BEGIN " + label + "-----\n" + base64(body) + "\n-----END " + label + "-----\n";
}

std::string ca_certificate(const std::string& ca) { return pem("CERTIFICATE", "drctl-sim cluster CA " + ca); }

std::string ca_of(const std::string& cert) {
  auto begin = cert.find('\n'), end = cert.find("\n-----END");
  if (begin == std::string::npos || end == std::string::npos || end <= begin) return "";
  auto raw = unbase64(cert.substr(begin + 1, end - begin - 1));
  const std::string prefix = "drctl-sim cluster CA ";
  return raw && raw->starts_with(prefix) ? raw->substr(prefix.size()) : "";
}

std::string ca_hash(const std::string& ca) { return "sha256:" + sha256_hex("drctl-sim CA public key " + ca); }

}  // namespace drctl::sim::kube_pki
