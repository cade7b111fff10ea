// The service manager of a simulated GNU/Linux system: units, the configuration each read when it
// (re)started, `systemctl` and `exportfs`.
#include "sim/services.hpp"

#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "sim/dnsmasq.hpp"

namespace drctl::sim {

namespace {

std::string with_suffix(const std::string& unit) { return unit + ".service"; }

/// systemd's answer when a job's unit has no unit file (bus error NoSuchUnit: exit 5).
SimHost::Result not_found(const std::string& verb, const std::string& unit) {
  const std::string why = verb == "stop" ? " not loaded." : " not found.";
  return {5, "", "Failed to " + verb + " " + with_suffix(unit) + ": Unit " + with_suffix(unit) + why + "\n"};
}

/// A start job whose ExecStart (or the init script's start) exited non-zero.
SimHost::Result job_failed(const std::string& unit) {
  const std::string u = with_suffix(unit);
  return {1, "",
          "Job for " + u + " failed because the control process exited with error code.\nSee \"systemctl status " + u +
              "\" and \"journalctl -xeu " + u + "\" for details.\n"};
}

}  // namespace

const UnitDef& unit_def(const std::string& unit) {
  // Debian 12's packages: tftpd-hpa has only an init script whose usage line offers no reload, so
  // its generated unit has no ExecReload; nfs-server.service reloads with `exportfs -r`; nginx
  // and ssh have ExecReload (nginx -s reload, kill -HUP).
  static const std::map<std::string, UnitDef> units = {
      {"tftpd-hpa", {{kTftpDefaults}, false}},
      {"nfs-kernel-server", {{kExports}, true}},
      {"nginx", {{"/etc/nginx/nginx.conf", kNginxSite}, true}},
      {"ssh", {{}, true}},
      // dnsmasq.service: ExecReload=/bin/kill -HUP $MAINPID; on SIGHUP dnsmasq re-reads /etc/hosts,
      // /etc/ethers and its hosts files, not its configuration (dnsmasq(8), NOTES).
      {"dnsmasq", {{kDnsmasqConf, kDnsmasqDrctlConf}, true, false}},
  };
  static const UnitDef none;
  auto it = units.find(unit);
  return it == units.end() ? none : it->second;
}

std::string unit_name(const std::string& name) {
  std::string unit = name;
  if (unit.size() > 8 && unit.compare(unit.size() - 8, 8, ".service") == 0) unit.resize(unit.size() - 8);
  if (unit == "sshd") return "ssh";                             // ssh.service: Alias=sshd.service
  if (unit == "nfs-server") return "nfs-kernel-server";         // nfs-kernel-server.service -> nfs-server.service
  return unit;
}

std::string clock_text(world::Duration t) {
  const long long s = t.count() / 1000;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

std::string sourced_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string line, value;
  while (std::getline(in, line)) {  // the last assignment wins, as when the shell sources it
    if (line.rfind(key + "=", 0) != 0) continue;
    value = line.substr(key.size() + 1);
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front())
      value = value.substr(1, value.size() - 2);
  }
  return value;
}

std::string tftp_directory(const std::optional<std::string>& defaults) {
  const std::string dir = sourced_value(defaults.value_or(""), "TFTP_DIRECTORY");
  return dir.empty() ? "/srv/tftp" : dir;
}

std::string nginx_root(const std::optional<std::string>& site) {
  std::istringstream in(site.value_or(""));
  std::string word;
  while (in >> word)
    if (word == "root" && in >> word) return word.back() == ';' ? word.substr(0, word.size() - 1) : word;
  return "/var/www/html";
}

ServiceManager::ServiceManager(Engine& engine, SimHost& host) : engine_(engine), host_(host) {}

const ConfigRead* ServiceManager::read(const std::string& unit) const {
  auto it = reads_.find(unit_name(unit));
  return it == reads_.end() ? nullptr : &it->second;
}

std::optional<std::string> ServiceManager::served(const std::string& unit, const std::string& path) const {
  const ConfigRead* r = read(unit);
  if (!r) return host_.get_file(path);
  auto it = r->files.find(path);
  return it == r->files.end() ? host_.get_file(path) : it->second;
}

bool ServiceManager::stale(const std::string& unit, const std::string& path) const {
  const ConfigRead* r = read(unit);
  if (!r) return false;
  auto it = r->files.find(path);
  return it != r->files.end() && it->second != host_.get_file(path);
}

void ServiceManager::reread(const std::string& unit, const std::string& how) {
  ConfigRead r{engine_.now(), how, {}};
  for (const auto& path : unit_def(unit).config) r.files[path] = host_.get_file(path);
  reads_[unit] = std::move(r);
  if (!unit_def(unit).config.empty()) engine_.log(host_.name(), "config-read", {{"unit", unit}, {"how", how}});
}

void ServiceManager::started(const std::string& unit) { reread(unit_name(unit), "started"); }

std::string ServiceManager::start_refusal(const std::string& unit) {
  if (unit == "dnsmasq") {  // dnsmasq checks its whole configuration at start and exits 1 on a bad line
    try {
      read_dnsmasq([this](const std::string& path) { return host_.get_file(path); });
    } catch (const std::invalid_argument& e) {
      return std::string("dnsmasq: ") + e.what();
    }
    return "";
  }
  if (unit != "tftpd-hpa") return "";
  // Debian's init script: "Ensure server directories exist" before start-stop-daemon.
  const auto defaults = host_.get_file(kTftpDefaults);
  const std::string dir = tftp_directory(defaults);
  if (!host_.is_dir(dir)) return dir + " missing, aborting.";
  // The script passes `--user $TFTP_USERNAME --address $TFTP_ADDRESS` unquoted: an empty value
  // makes the option take the next word, and in.tftpd exits 66 (Debian 12's in.tftpd 5.2, run as
  // `in.tftpd --listen --user tftp --address --secure /tftpboot`).
  for (const char* key : {"TFTP_USERNAME", "TFTP_ADDRESS"})
    if (sourced_value(defaults.value_or(""), key).empty())
      return std::string("in.tftpd exited with status 66: ") + key + " is empty in " + kTftpDefaults +
             " (its option takes the next word as its value)";
  return "";
}

bool ServiceManager::start(const std::string& unit, std::string* why) {
  if (std::string refused = start_refusal(unit); !refused.empty()) {
    if (why) *why = refused;
    engine_.log(host_.name(), "service-failed", {{"unit", unit}, {"reason", refused}});
    return false;
  }
  host_.set_service(unit, true);
  return true;
}

void ServiceManager::booted(const std::vector<std::string>& units) {
  for (const auto& unit : host_.services()) started(unit);
  for (const auto& unit : units)
    if (host_.installed(unit) && !host_.service_active(unit)) start(unit, nullptr);
}

SimHost::Result ServiceManager::unit_verb(const std::string& verb, const std::string& unit) {
  if (!host_.installed(unit) && verb == "enable")  // not a job: systemctl looks for the unit file itself
    return {1, "", "Failed to enable unit: Unit file " + with_suffix(unit) + " does not exist.\n"};
  if (!host_.installed(unit)) return not_found(verb, unit);
  const bool active = host_.service_active(unit);
  const bool reloads = unit_def(unit).reloads;
  if (verb == "enable") {
    enabled_.insert(unit);
    return {};
  }
  if (verb == "stop") {
    host_.set_service(unit, false);
    return {};
  }
  if (verb == "reload") {
    if (!reloads)
      return {3, "", "Failed to reload " + with_suffix(unit) + ": Job type reload is not applicable for unit " + with_suffix(unit) + ".\n"};
    if (!active) return {1, "", with_suffix(unit) + " is not active, cannot reload.\n"};
    if (unit_def(unit).reload_rereads) reread(unit, "reloaded");
    return {};
  }
  if ((verb == "try-restart" || verb == "try-reload-or-restart") && !active) return {};
  if ((verb == "reload-or-restart" || verb == "try-reload-or-restart") && reloads && active) {
    if (unit_def(unit).reload_rereads) reread(unit, "reloaded");
    return {};
  }
  if (verb != "start" && active) host_.set_service(unit, false);  // restart: stop, then start
  if (verb == "start" && active) return {};
  std::string why;
  return start(unit, &why) ? SimHost::Result{} : job_failed(unit);
}

SimHost::Result ServiceManager::status(const std::string& unit) const {
  if (!host_.installed(unit)) return {4, "", "Unit " + with_suffix(unit) + " could not be found.\n"};
  const bool active = host_.service_active(unit);
  std::string out = std::string(active ? "● " : "○ ") + with_suffix(unit) + "\n     Loaded: loaded\n     Active: ";
  const ConfigRead* r = read(unit);
  out += active ? "active (running)" + (r ? " since " + clock_text(r->at) : "") : std::string("inactive (dead)");
  return {active ? 0 : 3, out + "\n", ""};
}

SimHost::Result ServiceManager::systemctl(const std::vector<std::string>& argv) {
  static const std::set<std::string> kJobs = {"start", "stop", "restart", "reload", "reload-or-restart", "try-restart",
                                              "try-reload-or-restart", "enable"};
  std::string verb;
  std::vector<std::string> units;
  bool now = false, quiet = false;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--now") {
      now = true;
    } else if (a == "-q" || a == "--quiet") {
      quiet = true;
    } else if (a == "--no-pager" || a == "--no-block" || a == "--no-ask-password") {
      continue;
    } else if (a.size() > 1 && a[0] == '-') {
      return {1, "", "sim: " + host_.name() + ": systemctl: option '" + a + "' not modelled\n"};
    } else if (verb.empty()) {
      verb = a;
    } else {
      units.push_back(unit_name(a));
    }
  }
  const bool known = kJobs.contains(verb) || verb == "is-active" || verb == "status";
  if (!known) {
    engine_.log(host_.name(), "unknown-command", {{"command", "systemctl " + verb}});
    return {127, "", "sim: " + host_.name() + ": unknown command 'systemctl " + verb + "'\n"};
  }
  if (units.empty()) return {1, "", "Too few arguments.\n"};
  SimHost::Result all;
  for (const auto& unit : units) {
    SimHost::Result r;
    if (verb == "is-active") {
      const bool active = host_.service_active(unit);
      r = {active ? 0 : 3, quiet ? "" : active ? "active\n" : "inactive\n", ""};
    } else if (verb == "status") {
      r = status(unit);
    } else {
      r = unit_verb(verb, unit);
      if (verb == "enable" && now && r.code == 0) r = unit_verb("start", unit);
    }
    all.out += r.out;
    all.err += r.err;
    if (r.code != 0) all.code = r.code;
  }
  return all;
}

SimHost::Result ServiceManager::exportfs(const std::vector<std::string>& argv) {
  bool reexport = false, verbose = false;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.size() < 2 || a[0] != '-') return {1, "", "sim: " + host_.name() + ": exportfs: exporting a path by hand is not modelled\n"};
    for (std::size_t k = 1; k < a.size(); ++k) {
      if (a[k] == 'r' || a[k] == 'a') reexport = true;
      else if (a[k] == 'v') verbose = true;
      else return {1, "", "sim: " + host_.name() + ": exportfs: option '-" + std::string(1, a[k]) + "' not modelled\n"};
    }
  }
  if (reexport) {
    reread("nfs-kernel-server", "exportfs -r");
    if (!verbose) return {};
  }
  // The table as rpc.mountd has it: each exported directory with its clients.
  std::string out;
  std::istringstream table(served("nfs-kernel-server", kExports).value_or(""));
  std::string line;
  while (std::getline(table, line)) {
    std::istringstream words(line);
    std::string dir, client;
    if (!(words >> dir) || dir[0] == '#') continue;
    while (words >> client) out += (reexport ? "exporting " + client.substr(0, client.find('(')) + ":" + dir
                                              : dir + "\t" + client.substr(0, client.find('('))) + "\n";
  }
  return {0, out, ""};
}

SimHost::Result systemctl(Engine& engine, SimHost& host, const std::vector<std::string>& argv) {
  ServiceManager unmanaged(engine, host);
  return unmanaged.systemctl(argv);
}

}  // namespace drctl::sim
