// The homelab's VM steps and VM backup for real against vcsim, VMware's own vSphere simulator
// (tests/support/vcsim.hpp): `drctl run` defines and powers on the site's VMs, backup.yaml's
// `vms` source captures them (definitions, vSphere's own config, the appliances' disks), and the
// rebuild's VM steps bring them back into an EMPTY vcsim from that snapshot; a second run
// changes nothing. And `drctl hosts check` / `hosts trust` on a site with a vSphere hypervisor.
// Oracles: the site (what was asked), vcsim's own XML (the .raw it served), the bytes the test
// wrote into a disk, openssl's reading of the certificate.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <string>

#include "capture/section_reader.hpp"
#include "runbook/loader.hpp"
#include "store/repository.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/vcsim.hpp"
#include "world/real/vsphere.hpp"
#include "world/vm_spec.hpp"

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace support;
using namespace drctl;

fs::path homelab() { return fs::path(DRCTL_SOURCE_DIR) / "runbooks/homelab"; }

/// The SHA-256 thumbprint of the certificate vcsim serves, as openssl reads it ("AB:CD:…").
std::string openssl_thumbprint(const Vcsim& vc) {
  const RunResult r = run({"sh", "-c",
                           "openssl s_client -connect " + vc.host_port() +
                               " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  const auto eq = r.out.find('=');
  REQUIRE(eq != std::string::npos);
  std::string fp = r.out.substr(eq + 1);
  while (!fp.empty() && (fp.back() == '\n' || fp.back() == '\r')) fp.pop_back();
  return fp;
}

/// The site's `hypervisor:` block pointing at `vc` (pinned to its certificate).
std::string hypervisor_block(const Vcsim& vc, const std::string& thumbprint) {
  std::string block = "hypervisor:\n  kind: vsphere\n  url: " + vc.url() + "\n  datacenter: DC0\n  datastore: LocalDS_0\n"
                      "  user: " + vc.options().username + "\n  credentials: secrets.vcenter\n";
  if (!thumbprint.empty()) block += "  thumbprint: \"" + thumbprint + "\"\n";
  return block;
}

/// Points the site of the homelab copy at `vc`: its `hypervisor:` block replaced.
void move_to(const fs::path& copy, const Vcsim& vc) {
  std::string site = read_file(copy / "site.yaml");
  const auto from = site.find("\nhypervisor:\n"), until = site.find("\nnetworks:");
  REQUIRE(from != std::string::npos);
  REQUIRE(until != std::string::npos);
  site.replace(from + 1, until - from, hypervisor_block(vc, openssl_thumbprint(vc)));
  write_file(copy / "site.yaml", site);
}

/// A copy of the homelab whose hypervisor is `vc`, and whose backup.yaml keeps only its `vms`
/// source (the others need the site's machines, which vcsim's VMs do not run).
fs::path homelab_on(const fs::path& dir, const Vcsim& vc) {
  const fs::path to = dir / "homelab";
  fs::copy(homelab(), to, fs::copy_options::recursive);
  move_to(to, vc);
  write_file(to / "secrets.yaml", read_file(to / "secrets.yaml") + "vcenter: " + vc.options().password + "\n", 0600);
  std::string backup = read_file(to / "backup.yaml"), kept;
  std::istringstream lines(backup);
  for (std::string line; std::getline(lines, line);)
    if (line.find("- {section:") == std::string::npos || line.find("vms: true") != std::string::npos) kept += line + "\n";
  REQUIRE(kept.find("vms: true") != std::string::npos);
  write_file(to / "backup.yaml", kept);
  return to;
}


const std::vector<std::string> kVmSteps = {"create-firewall", "boot-firewall", "create-vcenter", "boot-vcenter",
                                           "create-pxe",      "boot-pxe",      "create-nas",     "boot-nas",
                                           "create-nodes"};

RunResult run_vm_steps(const fs::path& copy, const fs::path& state, const std::vector<std::string>& extra) {
  std::vector<std::string> args{"run", (copy / "rebuild.yaml").string(), "--state", state.string(), "--report",
                                (state / "report.json").string(), "--only"};
  args.insert(args.end(), kVmSteps.begin(), kVmSteps.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return support::drctl(args);
}

/// The site's VM definitions (what was asked), by name.
std::map<std::string, world::VmSpec> site_vms(const fs::path& copy) {
  std::map<std::string, world::VmSpec> out;
  const runbook::Site site = runbook::load_site((copy / "site.yaml").string());
  for (const auto& h : site.hosts)
    if (h.vars.contains("vm")) out[h.name] = world::vm_spec_from_json(h.name, h.vars["vm"]);
  return out;
}

/// The files of the latest snapshot's `vm` section.
std::map<std::string, std::string> vm_section(const fs::path& repo) {
  store::Repository r(repo);
  const store::Snapshot snap = r.find_snapshot("latest");
  const store::Section* vm = snap.section("vm");
  REQUIRE(vm);
  return capture::section_files(r, *vm);
}

world::real::HypervisorConfig config_of(const Vcsim& vc) {
  world::real::HypervisorConfig c;
  c.kind = "vsphere";
  c.url = vc.url();
  c.datacenter = "DC0";
  c.datastore = "LocalDS_0";
  c.user = vc.options().username;
  c.password = vc.options().password;
  c.thumbprint = openssl_thumbprint(vc);
  return c;
}

}  // namespace

TEST_CASE("vsphere for real: the homelab's VMs defined, backed up with their disks, and rebuilt into an empty vcsim") {
  TempDir t("vm-real");
  Vcsim first;
  const fs::path copy = homelab_on(t.path(), first);
  const fs::path repo = t.path() / "repo";

  // 1. A new site: the VM steps define every VM from the site and power the appliances on.
  const RunResult created = run_vm_steps(copy, t.path() / "state-new", {"--set", "repo_dir=" + repo.string()});
  REQUIRE_MESSAGE(created.exit_code == 0, created.describe());
  const auto asked = site_vms(copy);

  // Something on pfSense's disk the rebuild must bring back: bytes only this test knows.
  std::string disk(3 << 20, '\0');
  std::mt19937_64 rng(16);
  for (auto& c : disk) c = static_cast<char>(rng());
  {
    world::real::VsphereHypervisor hv(config_of(first));
    hv.stop("pfsense");  // a disk is written while its VM is off
    std::size_t at = 0;
    hv.write_disk("pfsense", 0, [&](char* buf, std::size_t size) {
      const std::size_t n = std::min(size, disk.size() - at);
      std::memcpy(buf, disk.data() + at, n);
      at += n;
      return n;
    }, static_cast<std::int64_t>(disk.size()));
    hv.start("pfsense");
  }

  // 2. backup.yaml's vms source, for real: every VM's definition, vSphere's own, the appliances' disks.
  const RunResult backed = support::drctl({"run", (copy / "backup.yaml").string(), "--state", (t.path() / "state-backup").string(),
                                  "--set", "repo_dir=" + repo.string()});
  REQUIRE_MESSAGE(backed.exit_code == 0, backed.describe());
  const auto files = vm_section(repo);
  for (const auto& [name, spec] : asked) {
    INFO(name);
    REQUIRE(files.count(name + ".json"));
    const world::VmSpec captured = world::vm_spec_from_json(name, json::parse(files.at(name + ".json")));
    CHECK(world::vm_spec_differences(spec, captured).empty());
    REQUIRE(files.count(name + ".raw"));
    for (const auto& nic : spec.nics) CHECK(files.at(name + ".raw").find(nic.mac) != std::string::npos);
  }
  REQUIRE(files.count("pfsense.disk0.img"));
  CHECK(files.at("pfsense.disk0.img") == disk);

  // The password appears nowhere the run wrote.
  for (const auto& out : {created.out + created.err, backed.out + backed.err,
                          read_file(t.path() / "state-new/journal.jsonl"), read_file(t.path() / "state-new/report.json")})
    CHECK(out.find(first.options().password) == std::string::npos);

  // A second backup of unchanged disks adds almost nothing.
  const RunResult again = support::drctl({"run", (copy / "backup.yaml").string(), "--state", (t.path() / "state-backup2").string(),
                                 "--set", "repo_dir=" + repo.string()});
  REQUIRE_MESSAGE(again.exit_code == 0, again.describe());
  {
    store::Repository r(repo);
    auto snaps = r.snapshots();
    REQUIRE(snaps.size() == 2);
    std::sort(snaps.begin(), snaps.end(), [](const auto& a, const auto& b) { return a.time < b.time; });
    CHECK(snaps[1].added_bytes < snaps[0].added_bytes / 20);
  }

  // 3. The disaster: an empty vcsim. The rebuild's VM steps bring every VM back from the snapshot.
  Vcsim second;
  move_to(copy, second);
  const RunResult rebuilt = run_vm_steps(copy, t.path() / "state-rebuild",
                                         {"--set", "repo_dir=" + repo.string(), "--set", "restore=true"});
  REQUIRE_MESSAGE(rebuilt.exit_code == 0, rebuilt.describe());
  {
    world::real::VsphereHypervisor hv(config_of(second));
    const auto vms = hv.list();
    CHECK(vms.size() == asked.size());
    for (const auto& vm : vms) {
      INFO(vm.spec.name);
      REQUIRE(files.count(vm.spec.name + ".json"));
      const world::VmSpec captured = world::vm_spec_from_json(vm.spec.name, json::parse(files.at(vm.spec.name + ".json")));
      CHECK(world::vm_spec_differences(captured, vm.spec).empty());
      for (const auto& nic : captured.nics) CHECK(vm.raw.find(nic.mac) != std::string::npos);  // vcsim's own word
    }
    std::string back;
    hv.read_disk("pfsense", 0, [&](const char* data, std::size_t size) { back.append(data, size); });
    CHECK(back == disk);
  }
  const json report = json::parse(read_file(t.path() / "state-rebuild/report.json"));
  for (const auto& step : report["steps"])
    if (std::find(kVmSteps.begin(), kVmSteps.end(), step.value("step", "")) != kVmSteps.end() &&
        step.value("step", "").rfind("boot-", 0) == 0)
      CHECK_MESSAGE(step.value("status", "") == "done", step.dump());

  // 4. A second run finds every VM as the snapshot has it and powered on: nothing to apply.
  const RunResult second_run = run_vm_steps(copy, t.path() / "state-rebuild2",
                                            {"--set", "repo_dir=" + repo.string(), "--set", "restore=true"});
  REQUIRE_MESSAGE(second_run.exit_code == 0, second_run.describe());
  const json report2 = json::parse(read_file(t.path() / "state-rebuild2/report.json"));
  for (const auto& step : report2["steps"])
    if (std::find(kVmSteps.begin(), kVmSteps.end(), step.value("step", "")) != kVmSteps.end())
      CHECK_MESSAGE(step.value("status", "") == "unchanged", step.dump());
}

TEST_CASE("vsphere for real: hosts check says ok or why not, and hosts trust pins the certificate in the site") {
  TempDir t("vm-check");
  Vcsim vc;
  const std::string thumbprint = openssl_thumbprint(vc);
  auto site_with = [&](const std::string& pin, const std::string& password) {
    write_file(t.path() / "secrets.yaml", "vcenter: " + password + "\n", 0600);
    std::string block = hypervisor_block(vc, pin);
    write_file(t.path() / "site.yaml", "name: vlab\nsecrets: secrets.yaml\n" + block +
                                           "hosts:\n  drctl: {connection: local}\n"
                                           "  fw:\n    address: 127.0.0.1\n    connection: local\n"
                                           "    vm: {nics: [{network: wan, mac: \"00:50:56:aa:01:01\"}]}\n");
    return (t.path() / "site.yaml").string();
  };

  // Not pinned: one line with the thumbprint, and how to pin it.
  RunResult r = support::drctl({"hosts", "check", site_with("", vc.options().password)});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("hypervisor     FAILED") != std::string::npos);
  CHECK(r.out.find(thumbprint) != std::string::npos);

  // hosts trust with the wrong thumbprint writes nothing; with the right one pins it.
  std::string wrong = thumbprint;
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  r = support::drctl({"hosts", "trust", vc.url(), "--fingerprint", wrong, "--site", site_with("", vc.options().password)});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(thumbprint) != std::string::npos);
  CHECK(read_file(t.path() / "site.yaml").find("thumbprint:") == std::string::npos);
  r = support::drctl({"hosts", "trust", vc.url(), "--fingerprint", thumbprint, "--site", (t.path() / "site.yaml").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(read_file(t.path() / "site.yaml").find("thumbprint: \"" + thumbprint + "\"") != std::string::npos);
  CHECK(read_file(t.path() / "site.yaml").find("name: vlab\nsecrets: secrets.yaml\nhypervisor:\n") == 0);

  r = support::drctl({"hosts", "check", (t.path() / "site.yaml").string()});
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(std::regex_search(r.out, std::regex("hypervisor +ok +.*DC0.*LocalDS_0.*wan")));

  // A wrong password: one line, without the password.
  write_file(t.path() / "secrets.yaml", "vcenter: not-the-Password-9\n", 0600);
  r = support::drctl({"hosts", "check", (t.path() / "site.yaml").string()});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("hypervisor     FAILED") != std::string::npos);
  CHECK(r.out.find("not-the-Password-9") == std::string::npos);
  CHECK(r.err.find("not-the-Password-9") == std::string::npos);
}
