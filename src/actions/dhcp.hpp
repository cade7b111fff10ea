// DHCP targets a site can have besides pfSense (whose DHCP lives in its config.xml, restored with
// the firewall): dhcp.render writes dnsmasq's configuration for the nodes' network boot.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds dhcp.render to `registry`.
void add_dhcp_actions(Registry& registry);

}  // namespace drctl::actions
