// MetalLB in layer 2 mode as the simulator reads it: the address pools (the legacy ConfigMap of
// v0.12 or the IPAddressPool/L2Advertisement objects of v0.13+), the controller that gives
// LoadBalancer Services their IPs with MetalLB's sharing rules and messages, and the speaker
// election that decides which node answers ARP for a VIP. Pure functions of the Kubernetes objects.
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sim/versions.hpp"

namespace drctl::sim {

/// One address pool. `ranges` as written: "10.0.20.200-10.0.20.220" or a CIDR.
struct MetalPool {
  std::string name;
  std::vector<std::string> ranges;
  bool auto_assign = true;
  bool announced = true;  // layer 2 announces it: an L2Advertisement selects it (legacy: protocol layer2)
};

/// The pools as configured, as the site's MetalLB `version` reads them: up to 0.12 only the legacy
/// ConfigMap metallb-system/config (data.config YAML: address-pools with name, protocol,
/// addresses, auto-assign); from 0.13 only IPAddressPool + L2Advertisement objects (a pool is
/// announced in L2 only when an L2Advertisement selects it; one listing no pools selects all).
/// What the version does not read is named in `errors` as ignored. What MetalLB itself refuses
/// (bad range, overlap, duplicate pool, missing protocol) rejects the whole ConfigMap, as MetalLB
/// keeps nothing it cannot parse, but only the one IPAddressPool, as its webhook does; a bgp pool
/// without peers is dropped. A pool outside the nodes' subnets is accepted, as MetalLB accepts it:
/// its addresses are assigned and simply unreachable (no node answers ARP for them).
struct MetalConfig {
  std::vector<MetalPool> pools;
  std::vector<std::string> errors;
};
MetalConfig read_metallb_config(const std::vector<nlohmann::json>& objects, const Version& metallb);

/// What the controller decided for one LoadBalancer Service.
struct MetalAssignment {
  std::string ns, name, ip;    // ip empty when pending
  std::string pending_reason;  // MetalLB's event: Failed to allocate IP for "ns/name": …
};

/// The controller: assigns IPs to the Services of type LoadBalancer in `services`, in order
/// (creation order). spec.loadBalancerIP or the loadBalancerIPs annotation requests an IP, the
/// address-pool annotation a pool (metallb.io/ or the deprecated metallb.universe.tf/ prefix);
/// otherwise the first free address of the first auto-assign pool. Services share an IP only when
/// both carry allow-shared-ip with the same key, their ports (port+protocol) do not overlap and
/// both have externalTrafficPolicy Cluster or the same selector; else the later one stays pending
/// with MetalLB's reason. `previous` ("ns/name" -> ip) is kept while it is still valid.
std::vector<MetalAssignment> assign_ips(const MetalConfig& config, const std::vector<nlohmann::json>& services,
                                        const std::map<std::string, std::string>& previous);

/// The node whose speaker answers ARP for `ip`: among `speaker_nodes` (nodes with a ready speaker
/// and, for externalTrafficPolicy Local, a ready endpoint of the Service — see announcing_nodes),
/// the first by sha256(node + "#" + ip), as speaker/layer2_controller.go's ShouldAnnounce sorts
/// them (v0.13.12). Empty when no node qualifies.
std::string announcing_node(const std::string& ip, const std::vector<std::string>& speaker_nodes);

/// A Service's ready endpoints, as the speaker sees them: the nodes they run on.
struct ServiceEndpoints {
  bool local = false;               // externalTrafficPolicy: Local
  std::vector<std::string> nodes;   // the node of each ready endpoint
};

/// The nodes eligible to announce a VIP the Services in `services` share (ShouldAnnounce,
/// v0.13.12): none when no Service has a ready endpoint (activeEndpointExists); for a Service
/// with externalTrafficPolicy Local only the speakers on a node with one of its ready endpoints
/// (usableNodes); otherwise every speaker node. The union over the Services, sorted.
std::vector<std::string> announcing_nodes(const std::vector<ServiceEndpoints>& services,
                                          const std::vector<std::string>& speaker_nodes);

}  // namespace drctl::sim
