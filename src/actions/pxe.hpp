// Network installs: pxe.render writes what a PXE server hands out (the pxelinux menu, one entry
// per node's MAC, the kickstart) and checks that DHCP sends the nodes to it; pxe.install boots a
// VM from the network and waits until SSH answers as the installed host.
#pragma once
#include "actions/action.hpp"

namespace drctl::actions {

/// Adds pxe.render and pxe.install to `registry`.
void add_pxe_actions(Registry& registry);

/// pxelinux's per-client file name for a MAC: "01-" (Ethernet) and the MAC in lower case with
/// dashes, e.g. 01-00-50-56-aa-00-01.
std::string pxelinux_config_name(const std::string& mac);

/// A node booted from the network, as the site describes it: its first NIC's MAC and network, its address.
struct BootNode {
  std::string name, mac, address, network;
};

/// The hosts the `nodes` input names; throws ActionError for a name that is not a site host or a
/// host without vm.nics[0].mac (`mac_for`: what the MAC is needed for, for the message).
std::vector<BootNode> boot_nodes(const Context& ctx, const std::string& mac_for);

}  // namespace drctl::actions
