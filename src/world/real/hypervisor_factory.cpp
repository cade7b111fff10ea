// The real providers by the kind a site names.
#include <stdexcept>

#include "world/real/hypervisor_config.hpp"

namespace drctl::world::real {

// Until the vSphere and libvirt providers land (issue 16 in progress), a real run refuses.
std::unique_ptr<Hypervisor> make_hypervisor(const HypervisorConfig& config) {
  throw std::invalid_argument("hypervisor kind '" + config.kind + "': this build of drctl cannot reach it yet");
}

std::string tls_thumbprint(const std::string& url, int) {
  throw std::runtime_error("cannot read the certificate of " + url + ": this build of drctl has no TLS client yet");
}

}  // namespace drctl::world::real
