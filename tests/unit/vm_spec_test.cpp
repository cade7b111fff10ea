// VmSpec as sites and snapshots write it (vm:, vm/NAME.json), how two specs of one VM differ,
// and vm.create on a VM that already exists: left alone when it is the VM asked for, refused
// naming the differences when it is not.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "actions/action.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "support/sim_lab.hpp"
#include "world/vm_spec.hpp"

using namespace drctl;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

const json kFull = json::parse(R"({
  "vcpus": 2, "memory": "4G", "firmware": "efi", "guest_os": "freebsd13_64Guest", "annotation": "the firewall",
  "cdrom": "pfSense-CE-2.7.2-RELEASE-amd64.iso", "boot": ["disk", "cdrom"],
  "disks": [{"size": "20G", "datastore": "ssd", "thin": false}, {"name": "logs", "size": "2G"}],
  "nics": [{"network": "wan", "mac": "00:50:56:AA:01:01", "adapter": "vmxnet3"},
           {"network": "management", "mac": "00:50:56:aa:01:02", "vlan": 10}]})");

/// Runs `steps` (a runbook beside a copy of the lab's site in `dir`) on the lab's World, afresh.
runbook::RunSummary run_steps(support::SimLab& lab, const fs::path& dir, const std::string& steps) {
  if (!fs::exists(dir / "lab.yaml")) fs::copy_file(support::sim_fixtures() / "lab.yaml", dir / "lab.yaml");
  std::ofstream(dir / "rb.yaml") << "name: r\nsite: lab.yaml\nsteps:\n" << steps;
  runbook::Runbook rb = runbook::load_runbook((dir / "rb.yaml").string());
  runbook::validate(rb, actions::Registry::builtin());
  runbook::ExecOptions options;
  options.state_dir = dir / "state";
  fs::remove_all(options.state_dir);
  runbook::Observer quiet;
  return runbook::execute(rb, actions::Registry::builtin(), lab.w(), options, quiet);
}

}  // namespace

TEST_CASE("vm spec: every field a site gives survives writing and reading back") {
  const world::VmSpec spec = world::vm_spec_from_json("pfsense", kFull);
  CHECK(spec.memory_mb == 4096);
  CHECK(spec.firmware == "efi");
  CHECK(spec.disks.at(0).datastore == "ssd");
  CHECK_FALSE(spec.disks.at(0).thin);
  CHECK(spec.disks.at(1).thin);  // thin unless the site says otherwise
  CHECK(spec.disks.at(1).name == "logs");
  CHECK(spec.nics.at(0).mac == "00:50:56:aa:01:01");  // MACs are kept in lower case
  CHECK(spec.nics.at(0).adapter == "vmxnet3");
  CHECK(spec.nics.at(1).vlan == 10);
  const world::VmSpec back = world::vm_spec_from_json("pfsense", world::vm_spec_to_json(spec));
  CHECK(world::vm_spec_differences(spec, back).empty());
  CHECK(world::vm_spec_to_json(back) == world::vm_spec_to_json(spec));
  CHECK(back.annotation == "the firewall");
  CHECK(back.guest_os == "freebsd13_64Guest");
  CHECK(back.disks.at(1).name == "logs");
}

TEST_CASE("vm spec: malformed new fields are refused naming the field") {
  auto refused = [](const std::string& patch) {
    json vm = kFull;
    vm.merge_patch(json::parse(patch));
    try {
      world::vm_spec_from_json("pfsense", vm);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(refused(R"({"firmware": "uefi"})") == "vm.firmware: 'uefi' is not bios or efi");
  json bad_vlan = kFull;
  bad_vlan["nics"][1]["vlan"] = 5000;
  CHECK_THROWS_WITH_AS(world::vm_spec_from_json("pfsense", bad_vlan), "vm.nics[1].vlan: expected a VLAN id from 0 to 4094",
                       std::invalid_argument);
  json bad_thin = kFull;
  bad_thin["disks"][0]["thin"] = "yes";
  CHECK_THROWS_WITH_AS(world::vm_spec_from_json("pfsense", bad_thin), "vm.disks[0].thin: expected true or false",
                       std::invalid_argument);
}

TEST_CASE("vm spec: differences name each field, and what the provider chooses is not one") {
  const world::VmSpec want = world::vm_spec_from_json("pfsense", kFull);
  world::VmSpec have = want;
  have.disks[1].name = "Hard disk 2";  // providers name disks their own way
  have.guest_os = "otherGuest64";
  world::VmSpec want_default = want;
  want_default.guest_os.clear();        // the site leaves the guest OS to the provider
  want_default.nics[0].adapter.clear();
  have.nics[0].adapter = "e1000e";
  CHECK(world::vm_spec_differences(want_default, have).empty());

  have.memory_mb = 8192;
  have.nics[1].mac = "00:50:56:aa:01:09";
  have.disks[0].size_gb = 40;
  const auto diffs = world::vm_spec_differences(want, have);
  REQUIRE(diffs.size() == 5);
  CHECK(diffs[0] == "memory 8192 MB, not 4096 MB");
  CHECK(diffs[1] == "disks[0] size 40 GB, not 20 GB");
  CHECK(diffs[2] == "nics[0] adapter e1000e, not vmxnet3");
  CHECK(diffs[3] == "nics[1] mac 00:50:56:aa:01:09, not 00:50:56:aa:01:02");
  CHECK(diffs[4] == "guest OS otherGuest64, not freebsd13_64Guest");
}

TEST_CASE("vm.create: a VM that exists as asked is left alone, one that differs is refused with the differences") {
  support::SimLab lab(5);
  support::TempDir t("vm-create");
  auto run = [&](const std::string& with) {
    return run_steps(lab, t.path(), "  - id: create\n    uses: vm.create\n    on: k8s-node1\n" + with);
  };
  auto first = run("");
  REQUIRE(first.ok());
  CHECK(first.results.at(0).status == runbook::Status::Done);
  const auto defined = lab.w().hv().list();
  REQUIRE(defined.size() == 1);

  auto again = run("");
  REQUIRE(again.ok());
  CHECK(again.results.at(0).status == runbook::Status::Unchanged);

  const json site_vm = lab.site["hosts"]["k8s-node1"]["vm"];
  json bigger = site_vm;
  bigger["memory"] = "16G";
  auto refused = run("    with: {spec: " + bigger.dump() + "}\n");
  CHECK_FALSE(refused.ok());
  const std::string error = refused.results.at(0).error;
  CHECK(error.find("VM k8s-node1 exists on the hypervisor but is not the one the spec describes") != std::string::npos);
  CHECK(error.find("memory " + std::to_string(defined[0].spec.memory_mb) + " MB, not 16384 MB") != std::string::npos);
  // Nothing was changed on the hypervisor.
  REQUIRE(lab.w().hv().list().size() == 1);
  CHECK(lab.w().hv().list()[0].spec.memory_mb == defined[0].spec.memory_mb);
}

TEST_CASE("vm.create: disks the snapshot cannot give leave no VM behind, so a retry starts over") {
  support::SimLab lab(6);
  support::TempDir t("vm-create-disks");
  auto run = [&](const std::string& steps) { return run_steps(lab, t.path(), steps); };
  const std::string repo = (t.path() / "repo").string();
  REQUIRE(run("  - id: create\n    uses: vm.create\n    on: k8s-node1\n"
              "  - id: backup\n    uses: backup.snapshot\n    needs: create\n"
              "    with: {repo: " + repo + ", sources: [{section: vm, vms: true}]}\n").ok());
  lab.w().hv().destroy("k8s-node1");
  auto r = run("  - id: create\n    uses: vm.create\n    on: k8s-node1\n"
               "    with: {from_snapshot: true, disks: true, repo: " + repo + "}\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.results.at(0).error.find("has no disk images of VM k8s-node1") != std::string::npos);
  CHECK(r.results.at(0).error.find("the VM was removed again") != std::string::npos);
  CHECK(lab.w().hv().list().empty());
}

TEST_CASE("pxe.install: a VM whose boot order never reaches the network is refused at once") {
  support::SimLab lab(7);
  json vm = lab.site["hosts"]["k8s-node1"]["vm"];
  vm["boot"] = json::array({"disk"});
  lab.w().hv().define(world::vm_spec_from_json("k8s-node1", vm));
  support::TempDir t("pxe-install-boot");
  const auto start = lab.engine().now();
  auto r = run_steps(lab, t.path(), "  - id: install\n    uses: pxe.install\n    on: k8s-node1\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.results.at(0).error == "VM k8s-node1 never boots from the network (its boot order: disk): give its vm: boot [disk, network]");
  CHECK(lab.engine().now() - start < std::chrono::minutes(5));  // virtual time: it did not wait out the timeout
  CHECK_FALSE(lab.w().hv().list().at(0).running);
}
