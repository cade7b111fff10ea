// The real providers by the kind a site names.
#include <stdexcept>

#include "world/real/hypervisor_config.hpp"
#include "world/real/libvirt_hypervisor.hpp"
#include "world/real/vsphere.hpp"

namespace drctl::world::real {

std::unique_ptr<Hypervisor> make_hypervisor(const HypervisorConfig& config) {
  if (config.kind == "vsphere") return std::make_unique<VsphereHypervisor>(config);
  if (config.kind == "libvirt") return std::make_unique<LibvirtHypervisor>(config);
  throw std::invalid_argument("hypervisor kind '" + config.kind + "' is not vsphere or libvirt");
}

}  // namespace drctl::world::real
