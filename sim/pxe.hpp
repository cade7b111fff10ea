// Network boot as firmware, pxelinux (syslinux 6) and the installer see it: after DHCP, which
// files they read over TFTP, NFS or HTTP, in what order, and where they stop — with the file
// and the cause in the message. Pure logic: the files come through a Fetch callback.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sim/kickstart.hpp"

namespace drctl::sim {

/// Where a file lives: TFTP (relative to the TFTP root of `server`), NFS (`server`:/abs/path) or HTTP.
struct Location {
  std::string scheme;  // "tftp", "nfs" or "http"
  std::string server;  // IP address or host name, as written
  int port = 0;        // http only; 0 = default
  std::string path;    // tftp: relative path without leading '/'; nfs/http: absolute path
  /// "tftp://S/path", "nfs:S:/path", "http://S[:port]/path".
  std::string str() const;
};

/// Parses "nfs:server:/path", "nfs://server/path", "http://server[:port]/path", "tftp://server/path".
/// Throws std::invalid_argument("cannot read location 'TEXT': …") otherwise.
Location parse_location(const std::string& text);

/// The result of reading one file from the network.
struct Fetched {
  bool ok = false;
  std::string content;
  std::string error;  // when !ok: why, e.g. "TFTP: file not found" or "no route to 10.0.10.5"
};
using Fetch = std::function<Fetched(const Location&)>;

/// One LABEL of a pxelinux menu.
struct BootEntry {
  std::string label;                 // quotes stripped
  std::string kernel;                // KERNEL or LINUX; empty for localboot
  std::vector<std::string> initrds;  // from INITRD and from initrd= in APPEND (comma-separated)
  std::string append;                // the whole APPEND line
  bool localboot = false;
  int line = 0;
};

/// A parsed pxelinux.cfg file.
struct PxeMenu {
  std::vector<BootEntry> entries;
  std::string default_directive;      // what DEFAULT names (a label, or a module like vesamenu.c32)
  std::string ui;                     // the module UI names (then DEFAULT names the default label)
  std::string menu_default;           // the last label marked MENU DEFAULT (the last one applies)
  std::vector<std::string> includes;  // MENU INCLUDE / INCLUDE paths
};

/// Parses a pxelinux.cfg file (keywords case-insensitive; `#` comments, also trailing after
/// whitespace; TEXT HELP … ENDTEXT skipped; MENU BEGIN/END, TIMEOUT, PROMPT … ignored).
PxeMenu parse_pxelinux(const std::string& text);

/// pxelinux's search order for a client: "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff" (lower case), then the
/// IP in upper-case hex dropping one digit at a time ("pxelinux.cfg/0A001414" … "pxelinux.cfg/0"),
/// then "pxelinux.cfg/default". Throws std::invalid_argument for a malformed MAC or IP.
std::vector<std::string> pxelinux_config_paths(const std::string& mac, const std::string& ip);

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
/// `hostname=` on the APPEND line is the fallback hostname. Never throws for what it reads.
PxeOutcome follow_pxe(const std::string& mac, const std::string& ip, const std::string& next_server,
                      const std::string& filename, const Fetch& fetch);

}  // namespace drctl::sim
