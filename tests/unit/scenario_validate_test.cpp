// Drill scenarios are checked completely when they are read: every name they use is one the site
// or the runbooks have, and a typo is "file:line:col: … (did you mean …?)" at the typo.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "drill/scenario.hpp"
#include "support/fs_tree.hpp"
#include "support/homelab.hpp"

namespace fs = std::filesystem;

namespace {

/// A scenario against the homelab with `extra` lines (YAML) after its files; its path.
fs::path scenario_file(const support::TempDir& dir, const std::string& extra) {
  const fs::path hl = fs::absolute(support::homelab());
  const fs::path file = dir / "scenario.yaml";
  std::ofstream(file) << "name: typo\n"
                      << "site: " << (hl / "site.yaml").string() << "\n"
                      << "backup: " << (hl / "backup.yaml").string() << "\n"
                      << "rebuild: " << (hl / "rebuild.yaml").string() << "\n"
                      << extra;
  return file;
}

/// The one error line load_scenario gives for the scenario; "" when it loads.
std::string error_of(const fs::path& file) {
  try {
    drctl::drill::load_scenario(file.string());
  } catch (const drctl::InputError& e) {
    return e.what();
  }
  return "";
}

/// The line and column (1-based) where `needle` first is in the file, as "file:L:C".
std::string where(const fs::path& file, const std::string& needle) {
  std::ifstream in(file);
  std::string line;
  for (int n = 1; std::getline(in, line); ++n)
    if (auto col = line.find(needle); col != std::string::npos)
      return file.string() + ":" + std::to_string(n) + ":" + std::to_string(col + 1);
  FAIL("no " << needle << " in " << file);
  return "";
}

}  // namespace

TEST_CASE("scenario validate: every shipped scenario loads") {
  int count = 0;
  for (const auto& entry : fs::directory_iterator(support::homelab() / "drills")) {
    if (entry.path().extension() != ".yaml") continue;
    CAPTURE(entry.path());
    CHECK(error_of(entry.path()) == "");
    ++count;
  }
  CHECK(count >= 6);
}

TEST_CASE("scenario validate: each kind of typo is one error at its place, with the name meant") {
  struct Case {
    std::string extra, at, expected;
  };
  const std::vector<Case> cases = {
      {"disaster: [k8s-master, k8s-nod1]\n", "k8s-nod1", "disaster: 'k8s-nod1' is not a VM of the site (did you mean 'k8s-node1'?)"},
      {"disaster: [border-router]\n", "border-router", "disaster: 'border-router' is not a VM of the site"},
      {"faults: [{action: power_off, target: k8s-nod2, at: 5m}]\n", "k8s-nod2",
       "faults[0].target: 'k8s-nod2' is not a VM of the site (did you mean 'k8s-node2'?)"},
      {"faults:\n  - {action: stop_service, target: pfsense/dhcpd, at: 1m}\n  - {action: powr_off, target: k8s-node2, at: 5m}\n",
       "powr_off", "faults[1].action: 'powr_off' is not a fault (did you mean 'power_off'?)"},
      {"faults: [{action: stop_service, target: pfsense/dhcp, at: 1m}]\n", "pfsense/dhcp",
       "faults[0].target: pfsense has no unit 'dhcp' (did you mean 'dhcpd'?)"},
      {"faults: [{action: link_down, target: pfsens, at: 1m}]\n", "pfsens",
       "faults[0].target: 'pfsens' is not a host of the site (did you mean 'pfsense'?)"},
      {"faults: [{action: fill_disk, target: tank/mial, at: 1m}]\n", "tank/mial",
       "faults[0].target: 'tank/mial' is not a dataset of the site's NAS (did you mean 'tank/mail'?)"},
      {"faults: [{action: power_off, target: k8s-node2, on: {component: k8s-nod2, event: install-started}}]\n", "k8s-nod2",
       "faults[0].on.component: 'k8s-nod2' is not a host of the site (did you mean 'k8s-node2'?)"},
      {"faults: [{action: power_off, target: k8s-node2, at: 5mins}]\n", "5mins", "faults[0].at: '5mins' is not a duration"},
      {"backup_age: an hour\n", "an hour", "backup_age: 'an hour' is not a duration"},
      {"expect: {max_rto: 45 min}\n", "45 min", "expect.max_rto: '45 min' is not a duration"},
      {"expect: {fail_at: datasts, reason: less}\n", "datasts", "has no step 'datasts' (did you mean 'datasets'?)"},
      {"expect: {fail_at: \"instal-nodes[k8s-node2]\"}\n", "\"instal-nodes", "has no step 'instal-nodes' (did you mean 'install-nodes'?)"},
      {"expect: {fail_at: datasets, reason: \"(unclosed\"}\n", "\"(unclosed", "expect.reason: '(unclosed' is not a regular expression"},
      {"expect: {max_rot: 45m}\n", "max_rot", "expect: unknown key 'max_rot' (did you mean 'max_rto'?)"},
      {"expct: {max_rto: 45m}\n", "expct", "unknown key 'expct' (did you mean 'expect'?)"},
      {"after_rebuild: {kill_vip_holder: 10.0.20.20}\n", "10.0.20.20", "after_rebuild.kill_vip_holder: '10.0.20.20' is not a VIP of the site"},
      {"rebuild_vars: {kube_form: etcd}\n", "kube_form",
       "rebuild_vars: the runbook and its site declare no var 'kube_form' (did you mean 'kube_from'?)"},
      {"rebuild_vars: {metallb: {pol: 10.0.20.200-10.0.20.210}}\n", "pol", "rebuild_vars: metallb has no key 'pol' (did you mean 'pool'?)"},
      {"backup_vars: {kube_exlude: []}\n", "kube_exlude",
       "backup_vars: the runbook and its site declare no var 'kube_exlude' (did you mean 'kube_exclude'?)"},
      {"data: {files: many}\n", "many", "data.files: 'many' is not a count"},
      {"data: {backups: 0}\n", "0}", "data.backups: 0 is not between 1 and 100"},
      {"data: {backups: 3, backup_every: nightly}\n", "nightly", "data.backup_every: 'nightly' is not a duration"},
      {"data: {backups: 3, backup_every: 0s}\n", "0s}", "data.backup_every: '0s' must be longer than 0"},
      {"data: {backup_every: 24h}\n", "backup_every", "data.backup_every: only with data.backups of 2 or more (it is 1)"},
      {"data: {backups: 1, changes_between_backups: 4}\n", "changes_between_backups",
       "data.changes_between_backups: only with data.backups of 2 or more (it is 1)"},
      {"data: {backups: 2, changes_between_backups: 5000}\n", "5000", "data.changes_between_backups: 5000 is over 1000"},
      {"data: {backup: 3}\n", "backup: 3", "data: unknown key 'backup' (did you mean 'backups'?)"},
      {"disaster: []\n", "[]", "disaster: an empty list loses nothing"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.extra);
    support::TempDir dir("scenario-typo");
    const fs::path file = scenario_file(dir, c.extra);
    const std::string error = error_of(file);
    CHECK_MESSAGE(error.rfind(where(file, c.at) + ": ", 0) == 0, error);
    CHECK_MESSAGE(error.find(c.expected) != std::string::npos, error);
    CHECK(error.find('\n') == std::string::npos);
  }
}

TEST_CASE("scenario validate: a scenario's own faults and names that exist load, with what it says") {
  support::TempDir dir("scenario-ok");
  const fs::path file = scenario_file(dir,
                                      "disaster: [k8s-node1, truenas]\n"
                                      "faults:\n"
                                      "  - {action: stop_service, target: pfsense/dhcpd, on: {component: hypervisor, vm: k8s-master, event: vm-powered-on}, duration: 5m}\n"
                                      "  - {action: fill_disk, target: tank/mail, at: 2m}\n"
                                      "rebuild_vars: {kube_from: etcd, metallb: {pool: 10.0.20.200-10.0.20.210}}\n"
                                      "after_rebuild: {kill_vip_holder: 10.0.20.200}\n"
                                      "expect: {fail_at: \"install-nodes[k8s-node2]\", reason: less than}\n"
                                      "data: {backups: 3, backup_every: 12h, changes_between_backups: 6}\n");
  const auto s = drctl::drill::load_scenario(file.string());
  CHECK(s.backups == 3);
  CHECK(s.backup_every == std::chrono::hours(12));
  CHECK(s.changes_between_backups == 6);
  CHECK(s.disaster == std::vector<std::string>{"k8s-node1", "truenas"});
  CHECK(s.faults.size() == 2);
  CHECK(s.rebuild_vars["kube_from"] == "etcd");
  CHECK(s.kill_vip_holder == "10.0.20.200");
  CHECK(s.fail_at == "install-nodes[k8s-node2]");
}
