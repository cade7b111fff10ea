// The versions of the software a site runs, as its `versions:` block pins them. The simulator
// behaves as those versions behave: each model reads the version it follows from here and
// accepts what that version accepts (sim/CONFORMANCE.md, "Versions"). A version the simulator
// does not model is refused when the site is read, naming the field and the versions it knows.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace drctl::sim {

/// One release: "1.28.2", "v1.28.2", "13.0-U6", "2.7.2".
struct Version {
  int major = 0, minor = 0, patch = 0;
  std::string text;  // as the site wrote it, without a leading "v"
  /// major.minor as numbers read ("1.28"; Ubuntu's 20.04 is "20.4").
  std::string minor_text() const { return std::to_string(major) + "." + std::to_string(minor); }
  bool at_least(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
  bool before(int ma, int mi) const { return !at_least(ma, mi); }
};

/// Reads "1.28.2", "v1.28", "13.0-U6" (patch from the text after '-U'); throws std::invalid_argument.
Version parse_version(const std::string& text);

struct SiteVersions {
  /// kubeadm, kubelet and kubectl as the nodes install them (pkgs.k8s.io), and the control plane
  /// kubeadm deploys by default; the API server serves what this minor serves.
  Version kubernetes;
  /// etcdctl/etcdutl of the nodes' etcd-client package (default: the one the nodes' Ubuntu ships).
  /// The etcd *server* is the one kubeadm deploys for the Kubernetes version (its static pod).
  Version etcd;
  Version metallb;   // the MetalLB release the site installs (0.12: legacy ConfigMap; 0.13+: CRDs)
  Version syslinux;  // pxelinux.0 and the .c32 modules the PXE server serves
  Version pfsense;   // pfSense CE
  Version truenas;   // TrueNAS CORE
  Version ubuntu;    // the nodes' Ubuntu release (its installer and its packages)
};

/// One component the `versions:` block may name: its key, its name in messages, the minors the
/// simulator models, and the default when the site does not pin it.
struct VersionedComponent {
  const char* key;
  const char* what;  // "Kubernetes", "etcd-client"
  std::vector<std::string> modelled;  // "1.28", "3.4" … (major.minor)
  const char* fallback;               // "" = derived (etcd: from ubuntu)
};
const std::vector<VersionedComponent>& versioned_components();

/// The etcd-client package a Ubuntu release ships ("20.04" → 3.2.26).
std::string ubuntu_etcd_client(const Version& ubuntu);

/// Reads a site's `versions:` (absent: every default). Throws SiteError naming the field
/// (`versions.kubernetes: 1.35.0 is not a version the simulator models (it models 1.27, …)`).
SiteVersions read_versions(const nlohmann::json& versions);

}  // namespace drctl::sim
