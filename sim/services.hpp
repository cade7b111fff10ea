// The service manager of a simulated GNU/Linux system: systemd's `systemctl` and the NFS server's
// `exportfs`. Real daemons read their configuration when they start (tftpd-hpa is handed its
// directory on the command line, the NFS server's table is filled by `exportfs -r`, nginx and
// sshd re-read theirs on reload), so the manager keeps, per unit, the configuration files as
// they were when the unit last read them; the site serves what that copy says, not what is on
// disk now. What each daemon reads and when is cited in sim/CONFORMANCE.md ("Services").
#pragma once
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/engine.hpp"
#include "sim/host.hpp"

namespace drctl::sim {

/// A daemon as its Debian package installs it.
struct UnitDef {
  std::vector<std::string> config;  // the files it reads when it starts
  bool reloads = false;             // the unit has ExecReload: `systemctl reload` re-reads `config`
  bool reload_rereads = true;       // false: its reload (dnsmasq's SIGHUP) leaves `config` as read at start
};
/// What the simulator knows of `unit` (tftpd-hpa, nfs-kernel-server, nginx, ssh, …); a unit it
/// does not know reads no files and has no reload.
const UnitDef& unit_def(const std::string& unit);
/// The unit a name stands for: ".service" dropped and Debian's aliases resolved (sshd -> ssh,
/// nfs-server -> nfs-kernel-server).
std::string unit_name(const std::string& name);
/// Virtual time as the services' messages show it: "00:12:34" since the simulation started.
std::string clock_text(world::Duration t);

// What the daemons take from their files.
inline const std::string kTftpDefaults = "/etc/default/tftpd-hpa";
inline const std::string kExports = "/etc/exports";
inline const std::string kNginxSite = "/etc/nginx/sites-enabled/default";
/// The value of KEY=… in a file the shell sources (/etc/default/*), quotes removed; "" if unset.
std::string sourced_value(const std::string& text, const std::string& key);
/// The directory tftpd-hpa serves, from /etc/default/tftpd-hpa (Debian's default /srv/tftp).
std::string tftp_directory(const std::optional<std::string>& defaults);
/// The directory nginx serves, from its site file's `root` (Debian's default /var/www/html).
std::string nginx_root(const std::optional<std::string>& site);

/// The configuration a unit read: the files as they were then (nullopt: absent), and when.
struct ConfigRead {
  world::Duration at{0};
  std::string how;  // "started", "reloaded", "exportfs -r"
  std::map<std::string, std::optional<std::string>> files;
};

class ServiceManager {
 public:
  ServiceManager(Engine& engine, SimHost& host);
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  SimHost& host() { return host_; }
  /// What `unit` read when it last (re)started or reloaded; nullptr when it never has.
  const ConfigRead* read(const std::string& unit) const;
  /// `path` as `unit` read it: what the daemon serves from.
  std::optional<std::string> served(const std::string& unit, const std::string& path) const;
  /// True when `path` on disk differs from what `unit` read (a restart or reload would change it).
  bool stale(const std::string& unit, const std::string& path) const;

  /// Call whenever a unit becomes active, however it got there (systemctl, boot, a fault's undo):
  /// it reads its configuration.
  void started(const std::string& unit);
  /// Starts a unit as systemd would, refusing what its start script refuses (tftpd-hpa without
  /// its directory); false with the reason when it does not start.
  bool start(const std::string& unit, std::string* why);
  /// The system booted: every unit in `units` that is installed starts, and every unit already
  /// running reads its configuration again (a reboot restarts it).
  void booted(const std::vector<std::string>& units);

  /// `systemctl VERB [UNIT…]` with systemd's messages and exit codes (start, stop, restart, reload,
  /// reload-or-restart, try-restart, try-reload-or-restart, enable [--now], is-active, status).
  SimHost::Result systemctl(const std::vector<std::string>& argv);
  /// `exportfs` with -r and/or -a (re-read /etc/exports into the NFS server's table), -v, or
  /// nothing (print the table).
  SimHost::Result exportfs(const std::vector<std::string>& argv);

 private:
  void reread(const std::string& unit, const std::string& how);
  /// Why `unit`'s start script would refuse to start it now ("" when it starts).
  std::string start_refusal(const std::string& unit);
  SimHost::Result unit_verb(const std::string& verb, const std::string& unit);
  SimHost::Result status(const std::string& unit) const;

  Engine& engine_;
  SimHost& host_;
  std::map<std::string, ConfigRead> reads_;
  std::set<std::string> enabled_;
};

/// `systemctl` on a host without a ServiceManager (a bare SimHost in a test): the same verbs and
/// messages; nothing tracks what the units read.
SimHost::Result systemctl(Engine& engine, SimHost& host, const std::vector<std::string>& argv);

}  // namespace drctl::sim
