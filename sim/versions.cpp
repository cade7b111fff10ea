#include "sim/versions.hpp"

#include <cctype>
#include <stdexcept>

#include "sim/site_model.hpp"

namespace drctl::sim {

using json = nlohmann::json;

Version parse_version(const std::string& text) {
  Version v;
  v.text = text.starts_with("v") ? text.substr(1) : text;
  const std::string& t = v.text;
  std::size_t at = 0;
  auto number = [&](int& out) {
    const std::size_t start = at;
    while (at < t.size() && std::isdigit(static_cast<unsigned char>(t[at]))) ++at;
    if (at == start || at - start > 6) throw std::invalid_argument("'" + text + "' is not a version like 1.28.2");
    out = std::stoi(t.substr(start, at - start));
  };
  number(v.major);
  if (at >= t.size() || t[at] != '.') throw std::invalid_argument("'" + text + "' is not a version like 1.28.2");
  ++at;
  number(v.minor);
  if (at < t.size() && t[at] == '.') {
    ++at;
    number(v.patch);
  } else if (t.compare(at, 2, "-U") == 0) {  // TrueNAS: 13.0-U6
    at += 2;
    number(v.patch);
  }
  // What follows (a pre-release "-rc.1", Debian's "+dfsg-6", "-RELEASE") does not change the model.
  if (at < t.size() && t[at] != '-' && t[at] != '+')
    throw std::invalid_argument("'" + text + "' is not a version like 1.28.2");
  return v;
}

const std::vector<VersionedComponent>& versioned_components() {
  static const std::vector<VersionedComponent> all = {
      // Only 1.28: the API server's type tables (sim/kube_schema_types.cpp) are 1.28's, and
      // another minor's fields would be refused or accepted wrongly. kubeadm's and etcd's
      // per-version rules reach 1.27-1.31 (sim_kubeadm_etcd_test) for when the tables do.
      {"kubernetes", "Kubernetes", {"1.28"}, "1.28.2"},
      {"metallb", "MetalLB", {"0.12", "0.13", "0.14"}, "0.13.12"},
      {"syslinux", "syslinux", {"6.04"}, "6.04"},  // the parser follows 6.04's readconfig.c (Debian 12's pxelinux)
      {"pfsense", "pfSense CE", {"2.6", "2.7"}, "2.7.2"},
      {"truenas", "TrueNAS CORE", {"13.0"}, "13.0-U6"},
      {"ubuntu", "Ubuntu", {"20.04", "22.04"}, "20.04"},
      // After ubuntu: its default is the etcd-client that Ubuntu release ships.
      {"etcd", "etcd-client", {"3.2", "3.3", "3.4", "3.5"}, ""},
  };
  return all;
}

std::string ubuntu_etcd_client(const Version& ubuntu) {
  // packages.ubuntu.com: focal's etcd-client is 3.2.26+dfsg-6ubuntu0.2, jammy's 3.3.25+dfsg-7ubuntu0.22.04.2.
  return ubuntu.at_least(22, 4) ? "3.3.25" : "3.2.26";
}

namespace {

Version modelled(const VersionedComponent& c, const std::string& text) {
  const std::string field = std::string("versions.") + c.key;
  Version v;
  try {
    v = parse_version(text);
  } catch (const std::invalid_argument& e) {
    throw SiteError(field + ": " + e.what());
  }
  for (const auto& m : c.modelled) {
    const Version known = parse_version(m);  // "20.04" is 20.4, as "6.04" is 6.4
    if (known.major == v.major && known.minor == v.minor) return v;
  }
  std::string known;
  for (const auto& m : c.modelled) known += (known.empty() ? "" : ", ") + m;
  throw SiteError(field + ": the simulator does not model " + c.what + " " + text + " (it models " + known + ")");
}

}  // namespace

SiteVersions read_versions(const json& versions) {
  if (!versions.is_null() && !versions.is_object()) throw SiteError("versions: expected a map of software to its version");
  auto given = [&](const VersionedComponent& c) -> std::string {
    if (versions.is_null() || !versions.contains(c.key) || versions[c.key].is_null()) return c.fallback;
    const json& v = versions[c.key];
    if (v.is_string()) return v.get<std::string>();  // the site loader keeps YAML's 6.04 as written
    // A number has lost how it was written (1.30 is 1.3): only text says which release.
    throw SiteError(std::string("versions.") + c.key + ": expected a version as text (\"1.28.2\"), got " + v.dump());
  };
  if (versions.is_object())
    for (const auto& [key, value] : versions.items()) {
      bool known = false;
      for (const auto& c : versioned_components()) known = known || key == c.key;
      if (!known) {
        std::string keys;
        for (const auto& c : versioned_components()) keys += (keys.empty() ? "" : ", ") + std::string(c.key);
        throw SiteError("versions." + key + ": not a versioned component (known: " + keys + ")");
      }
    }
  SiteVersions out;
  for (const auto& c : versioned_components()) {
    const std::string key = c.key;
    std::string text = given(c);
    if (key == "etcd" && text.empty()) text = ubuntu_etcd_client(out.ubuntu);
    const Version v = modelled(c, text);
    if (key == "kubernetes") out.kubernetes = v;
    else if (key == "etcd") out.etcd = v;
    else if (key == "metallb") out.metallb = v;
    else if (key == "syslinux") out.syslinux = v;
    else if (key == "pfsense") out.pfsense = v;
    else if (key == "truenas") out.truenas = v;
    else if (key == "ubuntu") out.ubuntu = v;
  }
  return out;
}

}  // namespace drctl::sim
