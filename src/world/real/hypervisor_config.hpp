// What a site says about its hypervisor (`hypervisor:` in site.yaml), for the real providers:
// where it is, how to trust it, how to log in, and the names of what it holds.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "world/world.hpp"

namespace drctl::world::real {

struct HypervisorConfig {
  std::string kind;        // "vsphere" or "libvirt"
  std::string url;         // vsphere: https://HOST[:PORT][/sdk]; libvirt: a connection URI (qemu+ssh://…, test:///…)
  std::string datacenter;  // vsphere: the datacenter's name ("" when the server has exactly one)
  std::string cluster;     // vsphere: the cluster whose resource pool new VMs go into ("" for none)
  std::string host;        // vsphere: the ESXi host new VMs go on ("" when cluster or a single host decides)
  std::string datastore;   // vsphere: datastore of new disks; libvirt: storage pool ("" for the only/default one)
  std::string thumbprint;  // SHA-256 of the server's certificate (DER), hex with or without colons: pinned
  std::string ca_file;     // a CA bundle to verify the certificate with instead of the system's CAs
  std::string user;        // vsphere: the login (administrator@vsphere.local, root for ESXi)
  std::string password;    // from the site's secrets file (`credentials: secrets.NAME`): never in any output
  std::vector<std::string> networks;  // port groups / libvirt networks the site's VMs use: check() finds each
  int timeout_seconds = 60;  // connect and per-request limit (a task waits for as long as it runs)
};

/// The provider the config names; throws std::invalid_argument for an unknown kind.
std::unique_ptr<Hypervisor> make_hypervisor(const HypervisorConfig& config);

/// The SHA-256 thumbprint of the certificate the TLS server at `url` (https://HOST[:PORT]/…)
/// presents, as upper-case hex pairs joined by colons (AB:CD:…, as vSphere shows it). Verifies
/// nothing: it is what an operator compares before pinning. Throws std::runtime_error when no TLS
/// server answers.
std::string tls_thumbprint(const std::string& url, int timeout_seconds);

/// "AB:CD:…" from a thumbprint written with or without colons, any case, optionally prefixed
/// "sha256:" or "SHA256:"; throws std::invalid_argument unless it is 32 bytes of hex.
std::string normalize_thumbprint(const std::string& text);

}  // namespace drctl::world::real
