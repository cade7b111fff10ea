// Network boot as firmware, pxelinux (syslinux 6) and the installer see it: after DHCP, which
// files they read over TFTP, NFS or HTTP, in what order, and where they stop — with the file
// and the cause in the message. Pure logic: the files come through a Fetch callback; how a
// menu is read and which label boots is src/boot's (the same code the menu lint runs).
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "boot/location.hpp"
#include "boot/pxelinux.hpp"
#include "sim/kickstart.hpp"
#include "sim/versions.hpp"

namespace drctl::sim {

// The configuration side is src/boot's, shared with the menu lint; named here as the
// simulator's own for the code and tests that read menus through it.
using boot::BootEntry;
using boot::Location;
using boot::parse_location;
using boot::parse_pxelinux;
using boot::pxelinux_config_paths;
using boot::PxeMenu;

/// The result of reading one file from the network.
struct Fetched {
  bool ok = false;
  std::string content;
  std::string error;  // when !ok: why, e.g. "TFTP: file not found" or "no route to 10.0.10.5"
};
using Fetch = std::function<Fetched(const Location&)>;

/// What network boot came to.
struct PxeOutcome {
  bool ok = false;
  bool localboot = false;           // the chosen label boots the local disk (no install)
  std::string error;                // when !ok: the cause, naming the file/label/location
  std::string config_path;          // the pxelinux.cfg file used
  std::string label;                // the label booted
  std::optional<InstallPlan> plan;  // the installer's answers when it installs
  std::vector<std::string> trail;   // what was read, in order ("tftp://10.0.10.5/pxelinux.0", …), for the event log
};

/// Follows a network boot after DHCP gave `ip` with `next_server` and `filename`: the boot file
/// and ldlinux.c32 over TFTP, the first pxelinux.cfg file found, the label DEFAULT / MENU DEFAULT
/// chooses (a menu module must exist), its kernel and initrds, then the
/// installer's answers (`ks=` kickstart, or `autoinstall` with `ds=nocloud[-net];s=URL/`) parsed.
/// `hostname=` on the APPEND line is the fallback hostname. `ubuntu` is the release the PXE server's
/// installer is (the site's versions.ubuntu; unset: 20.04): 22.04 has no debian-installer, so a
/// `ks=` boot without autoinstall reaches an installer that does not read kickstart and waits at
/// its first screen. Never throws for what it reads.
PxeOutcome follow_pxe(const std::string& mac, const std::string& ip, const std::string& next_server,
                      const std::string& filename, const Fetch& fetch, const Version* ubuntu = nullptr);

}  // namespace drctl::sim
