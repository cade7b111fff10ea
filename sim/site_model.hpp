// The site as the simulator builds it: read from the site file's JSON form (runbook::Site::to_json),
// checked field by field. The simulator knows no runbook; this is its own reading of the site.
#pragma once
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sim/hypervisor.hpp"
#include "sim/versions.hpp"

namespace drctl::sim {

/// A site the simulator cannot build: the message names the field ("hosts[3] 'pxe': vm.nics[0].network …").
struct SiteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// One network (a port group on a distributed switch, or the home LAN behind the border router).
struct NetworkModel {
  std::string name;
  std::string cidr;
  std::string gateway;   // what DHCP hands out there (informational; pfSense's config decides)
  std::string vswitch;   // the distributed switch carrying it ("" for networks outside the host)
  int vlan = 0;
  double bandwidth = 0;  // bytes per second (`bandwidth: 1Gbit`); 0: the default, 1 Gbit
};

/// One machine of the site.
struct MachineModel {
  enum class Kind { physical, installed, appliance };
  Kind kind = Kind::physical;
  std::string name, role, address, user;
  std::string appliance;  // "pfsense", "pxe-server", "truenas" for appliances
  std::optional<world::VmSpec> vm;
  // Physical machines: where they are plugged in and how they route.
  std::string network, gateway;
  std::map<std::string, std::string> extra_addresses;  // network -> address (the border router's IPv6)
  std::map<std::string, std::string> routes;           // cidr -> via
  struct Forward {
    std::string listen_ip, proto = "tcp", target_ip;
    int port = 0, target_port = 0;
  };
  std::vector<Forward> forwards;  // the border router's socat forwards
  struct Dhcp {
    std::string range_start, range_end;
    std::map<std::string, std::string> reserved;  // MAC -> IP
  };
  std::optional<Dhcp> dhcp;       // a physical DHCP server (the border router on the home LAN)
  bool local = false;             // `connection: local`: the machine drctl runs on
  std::string ssh_key;            // the public key drctl logs in with (host var, else the site's)
  std::string pool = "tank";      // a NAS appliance's ZFS pool (`pool: {name, size}`)
  std::int64_t pool_bytes = std::int64_t(4) << 40;
  double pool_throughput = 0;     // what the pool's disks read or write, bytes per second (`pool: {throughput: 200MB/s}`); 0: not a limit
};

struct SiteModel {
  std::string name;
  SiteVersions versions;  // the site's `versions:`, each unpinned one at its default
  HostCapacity capacity;
  std::map<std::string, std::string> port_groups;  // port group -> switch
  std::vector<std::string> datastore_files;        // install images already in the datastore
  std::vector<NetworkModel> networks;
  std::vector<MachineModel> machines;
  const NetworkModel* network(const std::string& name) const;
  const MachineModel* machine(const std::string& name) const;
  const MachineModel& controller() const;  // the machine drctl runs on
};

/// A data rate as a site writes it: "1Gbit", "100Mbit", "2.5Gbit/s" (bits per second, decimal
/// prefixes as NICs are rated) or "200MB/s", "1.5GB/s" (bytes per second), in bytes per second.
/// std::invalid_argument naming the text and the forms when it is none of them.
double parse_rate(const std::string& text);

/// Reads the site (JSON as runbook::Site::to_json produces it). Throws SiteError naming the field.
SiteModel read_site(const nlohmann::json& site);

}  // namespace drctl::sim
