#include "drill/scenario.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>

#include "actions/action.hpp"
#include "base/duration.hpp"
#include "base/error.hpp"
#include "base/ipv4.hpp"
#include "base/suggest.hpp"
#include "base/yaml_json.hpp"
#include "runbook/loader.hpp"
#include "runbook/set_var.hpp"
#include "runbook/validate.hpp"
#include "sim/nas.hpp"
#include "sim/scenario.hpp"
#include "sim/sim_machine.hpp"
#include "sim/site_model.hpp"

namespace drctl::drill {

namespace fs = std::filesystem;
using json = nlohmann::json;
using runbook::LoadError;
using runbook::Pos;

namespace {

const std::vector<std::string> kScenarioKeys = {"name",     "site",   "backup", "rebuild",      "data",        "backup_age",
                                                "disaster", "faults", "expect", "rebuild_vars", "backup_vars", "after_rebuild"};
const std::vector<std::string> kDataKeys = {"files", "size", "writes_after_backup", "sizes", "backups", "backup_every",
                                            "changes_between_backups"};
const std::vector<std::string> kExpectKeys = {"max_rto", "fail_at", "reason"};
const std::vector<std::string> kAfterRebuildKeys = {"kill_vip_holder"};

/// The scenario's YAML with its positions: every error points at the value (or key) at fault.
struct Doc {
  std::string file;  // as given: errors name the file as the operator wrote it
  YAML::Node root;
  Pos at(const YAML::Node& node) const { return runbook::pos_of(file, node.Mark()); }
  [[noreturn]] void fail(const YAML::Node& node, const std::string& message) const { throw LoadError(at(node), message); }
};

/// The key node of `key` in `map` (for an error about the key itself); the map when absent.
YAML::Node key_node(const YAML::Node& map, const std::string& key) {
  for (auto it = map.begin(); it != map.end(); ++it)
    if (it->first.Scalar() == key) return it->first;
  return map;
}

void check_keys(const Doc& doc, const YAML::Node& map, const std::vector<std::string>& known, const std::string& where) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.IsScalar() ? it->first.Scalar() : "";
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string hint = did_you_mean(key, known);
    if (hint.empty()) {
      hint = " (known:";
      for (const auto& k : known) hint += " " + k;
      hint += ")";
    }
    doc.fail(it->first, where + "unknown key '" + key + "'" + hint);
  }
}

void require_map(const Doc& doc, const YAML::Node& node, const std::string& what) {
  if (!node.IsMap()) doc.fail(node, what);
}

std::string text_of(const YAML::Node& node) { return node.IsScalar() ? node.Scalar() : yaml_to_json(node).dump(); }

world::Duration duration_at(const Doc& doc, const YAML::Node& node, const std::string& field) {
  const auto d = duration_value(yaml_to_json(node));
  if (!d) doc.fail(node, field + ": '" + text_of(node) + "' is not a duration (" + std::string(kDurationExamples) + ")");
  return *d;
}

/// A count (0 or more) of `data:`.
long long count_at(const Doc& doc, const YAML::Node& node, const std::string& field) {
  const json v = yaml_to_json(node);
  if (!v.is_number_integer() || v.get<long long>() < 0 || v.get<long long>() > (1LL << 30))
    doc.fail(node, field + ": '" + text_of(node) + "' is not a count (a whole number, 0 or more)");
  return v.get<long long>();
}

/// Loads a file the scenario names; a problem inside it is reported as that file's LoadError.
fs::path named_file(const Doc& doc, const YAML::Node& node, const std::string& key, const fs::path& dir) {
  if (!node.IsDefined() || !node.IsScalar()) doc.fail(node.IsDefined() ? node : doc.root, key + ": must name a file");
  fs::path file = (dir / node.Scalar()).lexically_normal();
  if (!fs::exists(file)) doc.fail(node, key + ": " + file.string() + " does not exist");
  return file;
}

/// What the scenario may name in the site: its machines, VMs, NAS pools and datasets, VIPs.
struct SiteFacts {
  sim::SiteModel model;
  runbook::Site site;
  std::vector<std::string> machines, vms, datasets;  // datasets as the NAS names them: tank, tank/mail
};

SiteFacts site_facts(const Doc& doc, const YAML::Node& node, const fs::path& file) {
  SiteFacts f;
  f.site = runbook::load_site(file.string());
  try {
    f.model = sim::read_site(f.site.world_json());
  } catch (const sim::SiteError& e) {
    doc.fail(node, "site: " + file.string() + ": " + e.what());
  }
  for (const auto& m : f.model.machines) {
    f.machines.push_back(m.name);
    if (m.vm) f.vms.push_back(m.name);
    if (m.kind == sim::MachineModel::Kind::appliance && m.appliance == "truenas") {
      f.datasets.push_back(m.pool);
      for (const auto& d : f.site.vars.value("datasets", json::array()))
        if (d.is_object() && d.contains("name")) f.datasets.push_back(m.pool + "/" + d.value("name", ""));
    }
  }
  return f;
}

/// The `n`-th fault's node, and its `field` when that is one of its keys.
YAML::Node fault_node(const YAML::Node& faults, std::size_t n, const std::string& field) {
  if (!faults.IsSequence() || n >= faults.size()) return faults;
  const YAML::Node f = faults[n];
  if (!field.empty() && f.IsMap()) {
    if (f[field]) return f[field];
    return key_node(f, field);
  }
  return f;
}

/// The units a fault may stop on `m`: an appliance's own, or what an installed system can have
/// (the mirror's packages, ssh, the control plane's static kube-apiserver).
std::vector<std::string> units_of(const sim::MachineModel& m) {
  if (m.kind == sim::MachineModel::Kind::appliance) return sim::appliance_image(m.appliance).units;
  std::vector<std::string> out(sim::mirror_packages().begin(), sim::mirror_packages().end());
  out.push_back("ssh");
  out.push_back("kube-apiserver");
  return out;
}

/// The faults as the simulator reads them (kinds, keys, times), then their targets against the
/// site: what SimWorld::schedule_faults would refuse only after the site was brought up, and
/// what its apply would skip or throw on in the middle of the rebuild.
void check_faults(const Doc& doc, const YAML::Node& node, const SiteFacts& site) {
  const json faults = yaml_to_json(node);
  std::vector<sim::FaultSpec> specs;
  try {
    specs = sim::read_faults(faults);
  } catch (const std::invalid_argument& e) {
    // "faults[2].action: …": point at that fault's field.
    std::smatch m;
    const std::string what = e.what();
    if (std::regex_search(what, m, std::regex(R"(^faults\[(\d+)\](?:\.(\w+))?)")))
      doc.fail(fault_node(node, std::stoul(m[1]), m[2]), what);
    doc.fail(node, what);
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const sim::FaultSpec& f = specs[i];
    const YAML::Node target = fault_node(node, i, "target");
    const std::string field = f.where + ".target: ";
    if (f.action == "fill_disk") {
      if (std::find(site.datasets.begin(), site.datasets.end(), f.target) == site.datasets.end())
        doc.fail(target, field + "'" + f.target + "' is not a dataset of the site's NAS" +
                             (site.datasets.empty() ? std::string(" (it has none)") : did_you_mean(f.target, site.datasets)));
      continue;
    }
    if (f.target.empty()) continue;  // host_power_*, slow_installer
    const auto split = f.target.find_first_of("/:");
    const std::string machine = f.target.substr(0, split);
    const bool vm_only = f.action == "power_off" || f.action == "power_on";
    const auto& names = vm_only ? site.vms : site.machines;
    if (std::find(names.begin(), names.end(), machine) == names.end())
      doc.fail(target, field + "'" + machine + "' is not " + (vm_only ? "a VM" : "a host") + " of the site" +
                           did_you_mean(machine, names));
    if (f.action == "stop_service" || f.action == "start_service") {
      const std::string unit = f.target.substr(split + 1);
      const sim::MachineModel* m = site.model.machine(machine);
      if (m->kind == sim::MachineModel::Kind::physical) continue;  // what runs there is the site's own
      const auto units = units_of(*m);
      if (std::find(units.begin(), units.end(), unit) == units.end())
        doc.fail(target, field + machine + " has no unit '" + unit + "'" + did_you_mean(unit, units));
    }
  }
  // An `on:` that names a machine by a near miss never fires: the drill would pass without it.
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (!specs[i].on) continue;
    const YAML::Node on = fault_node(node, i, "on");
    for (const auto& [key, value] : specs[i].on->items()) {
      if (!value.is_string()) continue;
      const std::string name = value.get<std::string>();
      const bool vm_key = key == "vm";
      const auto& names = vm_key ? site.vms : site.machines;
      if (std::find(names.begin(), names.end(), name) != names.end()) continue;
      // `component` also names the simulator's parts (hypervisor, nas, faults): only a near
      // miss of a machine is a typo there.
      if (key == "component" && !closest(name, names)) continue;
      if (!vm_key && key != "component") continue;
      doc.fail(on.IsMap() && on[key] ? on[key] : on, specs[i].where + ".on." + key + ": '" + name + "' is not " +
                                                          (vm_key ? "a VM" : "a host") + " of the site" + did_you_mean(name, names));
    }
  }
}

/// Each key of `node` must be one `declared` (the runbook's merged vars) has, and so on into maps
/// that are maps in both: a scenario's vars change the runbook's, they do not invent new ones.
void check_vars(const Doc& doc, const YAML::Node& node, const json& declared, const std::string& field,
                const std::string& runbook_file, std::vector<std::string> prefix = {}) {
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::vector<std::string> path = prefix;
    path.push_back(it->first.Scalar());
    if (const std::string why = runbook::undeclared_var(declared, path); !why.empty())
      doc.fail(it->first, field + ": " + why + " (" + runbook_file + ")");
    const json* at = &declared;
    for (const auto& p : path) at = &(*at)[p];
    if (it->second.IsMap() && at->is_object()) check_vars(doc, it->second, declared, field, runbook_file, path);
  }
}

/// The runbook as the drill will run it (vars applied as run_drill applies them), validated.
void check_runbook(const Doc& doc, const YAML::Node& vars_node, const fs::path& file, const std::string& field) {
  runbook::Runbook rb = runbook::load_runbook(file.string());
  if (vars_node.IsDefined()) {
    require_map(doc, vars_node, field + ": a map of vars");
    check_vars(doc, vars_node, rb.merged_vars(), field, file.string());
  }
  rb.vars["repo_dir"] = "/nonexistent/drill-repository";  // the drill's scratch repository
  rb.vars["restore"] = field == "rebuild_vars";
  const json given = vars_node.IsDefined() ? yaml_to_json(vars_node) : json::object();
  for (const auto& [k, v] : given.items()) rb.vars[k] = v;
  runbook::validate(rb, actions::Registry::builtin());
}

/// `disaster: all` or a list of the site's VMs.
std::vector<std::string> disaster_vms(const Doc& doc, const YAML::Node& node, const SiteFacts& site) {
  std::vector<std::string> out;
  if (node.IsScalar() && node.Scalar() == "all") return out;
  if (!node.IsSequence()) doc.fail(node, "disaster: 'all' or a list of the site's VMs, not '" + text_of(node) + "'");
  if (node.size() == 0) doc.fail(node, "disaster: an empty list loses nothing; write 'all' or name the VMs lost");
  for (const auto& vm : node) {
    const std::string name = vm.IsScalar() ? vm.Scalar() : text_of(vm);
    if (!vm.IsScalar() || std::find(site.vms.begin(), site.vms.end(), name) == site.vms.end())
      doc.fail(vm, "disaster: '" + name + "' is not a VM of the site" + did_you_mean(name, site.vms));
    out.push_back(name);
  }
  return out;
}

/// Whether `ip` is in the site's MetalLB pool (`vars.metallb.pool`: "A-B", a CIDR, or a list of them).
bool in_vip_pool(const json& pool, std::uint32_t ip) {
  if (pool.is_array()) return std::any_of(pool.begin(), pool.end(), [&](const json& p) { return in_vip_pool(p, ip); });
  if (!pool.is_string()) return false;
  const std::string text = pool.get<std::string>();
  if (const auto dash = text.find('-'); dash != std::string::npos) {
    const auto lo = parse_ipv4(text.substr(0, dash)), hi = parse_ipv4(text.substr(dash + 1));
    return lo && hi && *lo <= ip && ip <= *hi;
  }
  const auto net = parse_ipv4_cidr(text);
  return net && net->contains(ip);
}

void check_data(const Doc& doc, const YAML::Node& data, const SiteFacts& site, Scenario& s) {
  require_map(doc, data, "data: a map (files, size, writes_after_backup, sizes, backups, backup_every, changes_between_backups)");
  check_keys(doc, data, kDataKeys, "data: ");
  if (data["files"]) s.files_per_dataset = static_cast<int>(count_at(doc, data["files"], "data.files"));
  if (data["size"]) s.file_size = static_cast<std::size_t>(count_at(doc, data["size"], "data.size"));
  if (data["writes_after_backup"])
    s.writes_after_backup = static_cast<int>(count_at(doc, data["writes_after_backup"], "data.writes_after_backup"));
  // Several nightly backups: the later ones are incremental, and the rebuild restores the last.
  if (data["backups"]) {
    const long long n = count_at(doc, data["backups"], "data.backups");
    if (n < 1 || n > 100) doc.fail(data["backups"], "data.backups: " + std::to_string(n) + " is not between 1 and 100");
    s.backups = static_cast<int>(n);
  }
  for (const char* key : {"backup_every", "changes_between_backups"})
    if (data[key] && s.backups < 2)
      doc.fail(key_node(data, key), std::string("data.") + key + ": only with data.backups of 2 or more (it is " +
                                        std::to_string(s.backups) + ")");
  if (data["backup_every"]) {
    s.backup_every = duration_at(doc, data["backup_every"], "data.backup_every");
    if (s.backup_every <= world::Duration::zero())
      doc.fail(data["backup_every"], "data.backup_every: '" + text_of(data["backup_every"]) + "' must be longer than 0");
  }
  if (data["changes_between_backups"]) {
    const long long n = count_at(doc, data["changes_between_backups"], "data.changes_between_backups");
    if (n > 1000) doc.fail(data["changes_between_backups"], "data.changes_between_backups: " + std::to_string(n) + " is over 1000");
    s.changes_between_backups = static_cast<int>(n);
  }
  if (!data["sizes"]) return;
  // The datasets' real sizes: the drill's files are a sample that stands for them.
  const YAML::Node sizes = data["sizes"];
  require_map(doc, sizes, "data.sizes: a map of dataset to its size (mail: 18G)");
  std::vector<std::string> known;
  for (const auto& d : site.site.vars.value("datasets", json::array())) known.push_back(d.value("name", ""));
  for (auto it = sizes.begin(); it != sizes.end(); ++it) {
    const std::string ds = it->first.Scalar();
    if (std::find(known.begin(), known.end(), ds) == known.end())
      doc.fail(it->first, "data.sizes." + ds + ": the site declares no dataset '" + ds + "'" +
                              (known.empty() ? std::string(" (it declares none)") : did_you_mean(ds, known)));
    const json v = yaml_to_json(it->second);
    const auto bytes = v.is_string() ? sim::parse_zfs_size(v.get<std::string>()) : std::nullopt;
    if (!bytes || *bytes <= 0)
      doc.fail(it->second, "data.sizes." + ds + ": '" + text_of(it->second) + "' is not a size like 18G, 200M or 1.5T");
    s.data_sizes[ds] = *bytes;
  }
}

void check_expect(const Doc& doc, const YAML::Node& expect, const fs::path& rebuild, Scenario& s) {
  require_map(doc, expect, "expect: a map (max_rto, fail_at, reason)");
  check_keys(doc, expect, kExpectKeys, "expect: ");
  if (expect["max_rto"]) s.max_rto = duration_at(doc, expect["max_rto"], "expect.max_rto");
  if (expect["fail_at"]) {
    const YAML::Node at = expect["fail_at"];
    const runbook::Runbook rb = runbook::load_runbook(rebuild.string());
    std::vector<std::string> ids;
    for (const auto& step : rb.steps) ids.push_back(step.id);
    s.fail_at = at.IsScalar() ? at.Scalar() : text_of(at);
    const std::string step = s.fail_at.substr(0, s.fail_at.find('['));  // "install-nodes[k8s-node2]": one instance
    if (!at.IsScalar() || !rb.step(step))
      doc.fail(at, "expect.fail_at: the rebuild (" + rebuild.string() + ") has no step '" + step + "'" +
                       did_you_mean(step, ids));
  }
  if (expect["reason"]) {
    const YAML::Node reason = expect["reason"];
    if (s.fail_at.empty()) doc.fail(key_node(expect, "reason"), "expect.reason: only goes with expect.fail_at");
    s.reason = text_of(reason);
    try {
      std::regex(s.reason, std::regex::icase);
    } catch (const std::regex_error& e) {
      doc.fail(reason, "expect.reason: '" + s.reason + "' is not a regular expression (" + e.what() + ")");
    }
  }
}

void check_after_rebuild(const Doc& doc, const YAML::Node& after, const SiteFacts& site, Scenario& s) {
  require_map(doc, after, "after_rebuild: a map (kill_vip_holder)");
  check_keys(doc, after, kAfterRebuildKeys, "after_rebuild: ");
  const YAML::Node vip = after["kill_vip_holder"];
  if (!vip) return;
  s.kill_vip_holder = text_of(vip);
  const json pool = site.site.vars.contains("metallb") && site.site.vars["metallb"].is_object()
                        ? site.site.vars["metallb"].value("pool", json())
                        : json();
  const auto ip = parse_ipv4(s.kill_vip_holder);
  if (!ip || !in_vip_pool(pool, *ip))
    doc.fail(vip, "after_rebuild.kill_vip_holder: '" + s.kill_vip_holder + "' is not a VIP of the site" +
                      (pool.is_null() ? std::string(" (it declares no vars.metallb.pool)") : " (its pool is " + pool.dump() + ")"));
}

}  // namespace

Scenario load_scenario(const std::string& path) {
  Scenario s;
  s.file = fs::absolute(path).lexically_normal().string();
  if (!std::ifstream(path)) throw InputError(path + ": cannot read the scenario");
  // Within the limits of YAML drctl reads (size, aliases expanded): a YamlError is one line
  // "path:line:col: …" and exit 2.
  Doc doc{path, load_yaml_file(path)};
  const YAML::Node& root = doc.root;
  if (!root.IsMap()) doc.fail(root, "a scenario is a map (name, site, backup, rebuild, data, disaster, faults, expect)");
  check_keys(doc, root, kScenarioKeys, "");
  const fs::path dir = fs::path(s.file).parent_path();
  s.name = root["name"] ? text_of(root["name"]) : fs::path(path).stem().string();
  s.site = named_file(doc, root["site"], "site", dir);
  s.backup = named_file(doc, root["backup"], "backup", dir);
  s.rebuild = named_file(doc, root["rebuild"], "rebuild", dir);
  const SiteFacts site = site_facts(doc, root["site"], s.site);
  if (root["data"]) check_data(doc, root["data"], site, s);
  if (root["backup_age"]) s.backup_age = duration_at(doc, root["backup_age"], "backup_age");
  if (root["disaster"]) s.disaster = disaster_vms(doc, root["disaster"], site);
  if (root["faults"]) {
    check_faults(doc, root["faults"], site);
    s.faults = yaml_to_json(root["faults"]);
    if (s.faults.is_null()) s.faults = json::array();
  }
  check_runbook(doc, root["backup_vars"], s.backup, "backup_vars");
  check_runbook(doc, root["rebuild_vars"], s.rebuild, "rebuild_vars");
  if (root["backup_vars"]) s.backup_vars = yaml_to_json(root["backup_vars"]);
  if (root["rebuild_vars"]) s.rebuild_vars = yaml_to_json(root["rebuild_vars"]);
  if (root["after_rebuild"]) check_after_rebuild(doc, root["after_rebuild"], site, s);
  if (root["expect"]) check_expect(doc, root["expect"], s.rebuild, s);
  return s;
}

}  // namespace drctl::drill
