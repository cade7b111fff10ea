// Sites and runbooks as loaded from YAML, with the position of everything for error messages.
#pragma once
#include <yaml-cpp/yaml.h>

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/duration.hpp"
#include "base/error.hpp"
#include "base/suggest.hpp"
#include "actions/generic.hpp"
#include "world/world.hpp"

namespace drctl::runbook {

using json = nlohmann::json;

/// Where something was written: file:line:col (1-based). Line 0: the file as a whole.
struct Pos {
  std::string file;
  int line = 0, col = 0;
  /// "file:line:col", or just "file" when there is no line.
  std::string str() const {
    if (line <= 0) return file;
    return file + ":" + std::to_string(line) + ":" + std::to_string(col);
  }
};

/// A bad site, runbook or scenario: one line "file:line:col: message". Exit code 2 (an InputError).
struct LoadError : InputError {
  LoadError(const Pos& pos, const std::string& message)
      : InputError(pos.str() + ": " + message), pos(pos), message(message) {}
  Pos pos;
  std::string message;
};

/// One machine of the site (an entry of `hosts:`).
struct SiteHost {
  std::string name;
  Pos pos;
  std::string address;              // IP or name; empty for connection: local; the name when not given for ssh
  std::string connection = "ssh";   // "local" or "ssh"
  std::string user;                 // ssh user
  int port = 22;                    // as templates see it; 22 when not given
  bool port_given = false;          // the site gave port: (else SSH takes the config's Port, then 22)
  std::string role;                 // free-form: "control-plane", "worker", "nas", …
  std::vector<std::string> groups;  // groups it belongs to
  json vars = json::object();       // everything else given for the host (mac, vlan, size, …)
  /// The host as templates see it: name, address, connection, user, port, role, groups, then its vars.
  json to_json() const;
};

/// What exists: hypervisor, networks, hosts and groups, and free-form vars (site.yaml).
struct Site {
  std::string file;  // absolute path of site.yaml
  Pos pos;
  std::string name;
  json hypervisor = json::object();  // free-form, validated by the actions that use it
  json networks = json::object();    // free-form list/map
  json versions = json::object();    // the software versions the site pins (the simulator follows them)
  json retention = json::object();   // what a scheduled backup keeps: counts, within, tags; verify_cycle and repack_small
  std::string rpo;                   // how old a source's newest backup may be ("26h"); "" = no target
  json kubernetes_schedule = json::object();  // {image, namespace, repository: {host, path}}: drctl as a CronJob
  json offsite = json::object();  // {to: sftp://…, ssh_config: absolute path}: where a scheduled run copies its repositories
  std::vector<SiteHost> hosts;
  std::map<std::string, std::vector<std::string>> groups;  // group -> host names
  json vars = json::object();
  /// The secrets file's values by name (templates see them as `secrets.NAME`; never shown).
  std::map<std::string, std::string> secrets;
  std::string secrets_file;  // absolute; "" when the site has none
  /// The host of that name; nullptr if none.
  const SiteHost* host(const std::string& name) const;
  /// Makes host() a lookup rather than a scan of `hosts`; the loader calls it once the hosts are
  /// read. Hosts added afterwards are found by scanning again.
  void index_hosts();
  /// The hosts `on: target` runs on: the host itself, or a group's members in order; empty if neither.
  std::vector<const SiteHost*> targets(const std::string& target) const;
  /// The site as templates see it (`site`): name, file, dir, hypervisor, networks, versions, hosts, groups,
  /// vars.
  json to_json() const;
  /// to_json() plus `secrets`: what a World is built from (the simulator installs the keys).
  json world_json() const;

  std::unordered_map<std::string, std::size_t> host_index;  // name -> position in `hosts` (index_hosts)
  std::size_t indexed_hosts = 0;                              // hosts.size() when indexed
};

/// One entry of a runbook's `steps:`.
struct Step {
  std::string id;
  Pos pos;                          // the step's map
  Pos id_pos;                       // its `id:` value
  std::optional<std::string> uses;  // an action name
  Pos uses_pos;
  std::optional<std::string> run;   // a shell command (template)
  Pos run_pos;
  YAML::Node with;                  // action inputs (templates), positions kept
  Pos with_pos;                     // the `with:` key
  std::vector<std::pair<std::string, Pos>> needs;
  std::optional<std::string> on;    // host or group
  Pos on_pos;
  YAML::Node for_each;              // a list, or a string that is exactly one {{name}} naming a list
  world::Duration timeout{0};       // zero: none
  int retries = 0;
  world::Duration retry_delay{1000};
  std::optional<std::string> when;  // template; the step is skipped when it renders to "", "false", "0" or "no"
  Pos when_pos;
  std::optional<world::Duration> estimate;  // for the plan's critical path when there is no timeout
};

/// A runbook file: steps forming a DAG, run against an optional site.
struct Runbook {
  std::string file;  // absolute path
  std::string name;  // the file name without extension when not given
  std::optional<Site> site;  // none: steps run on the local machine
  json vars = json::object();
  std::vector<Step> steps;
  std::string source;  // the file's text, to point errors at a template tag inside a value

  std::unordered_map<std::string, std::size_t> step_index;  // id -> position in `steps` (index_steps)
  std::size_t indexed_steps = 0;                              // steps.size() when indexed
  /// The step with that id (the first, if several have it); nullptr if none.
  const Step* step(const std::string& id) const;
  /// Makes step() a lookup rather than a scan of `steps`; the loader calls it once the steps are
  /// read. Steps added afterwards are found by scanning again.
  void index_steps();
  /// Site vars overridden by runbook vars (objects merge key by key): what templates see as `vars`.
  json merged_vars() const;
};

}  // namespace drctl::runbook
