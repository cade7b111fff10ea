// The backup pipeline in the simulator: a snapshot is stamped with the simulated controller's name
// and the virtual clock, so the same seed makes the same snapshot (same id); the VM definitions
// section reads back, through vm.create's own parser, as the hypervisor defines the VMs.
#include <doctest/doctest.h>

#include <chrono>

#include "capture/backup.hpp"
#include "capture/section_reader.hpp"
#include "store/repository.hpp"
#include "support/sim_lab.hpp"
#include "world/vm_spec.hpp"

using namespace drctl;
using support::SimLab;
namespace fs = std::filesystem;

namespace {

/// The lab site with its controller (the `connection: local` host) renamed, so the stamp is
/// known to come from the site and not from a constant.
nlohmann::json lab_with_controller(const std::string& name) {
  nlohmann::json site = support::lab_site();
  REQUIRE(site["hosts"].contains("drctl"));
  REQUIRE(site["hosts"]["drctl"].value("connection", "") == "local");
  site["hosts"][name] = site["hosts"]["drctl"];
  site["hosts"].erase("drctl");
  return site;
}

struct Backed {
  store::Snapshot snap;
  std::vector<world::VmState> vms;
};

/// A backup of the lab's VM definitions at 90 virtual minutes, into a new repository in `dir`.
Backed backup_at_90_minutes(const fs::path& dir) {
  SimLab lab(7, lab_with_controller("ops-desk"));
  lab.define("pfsense");
  lab.define("truenas");
  lab.engine().run_for(std::chrono::minutes(90));
  store::Repository::init(dir, store::RepoConfig{});
  store::Repository repo(dir);
  capture::Backup backup(lab.w(), repo);
  capture::BackupSource vms;
  vms.kind = capture::BackupSource::Kind::Vms;
  vms.section = "vm";
  vms.origin = "hypervisor";
  capture::Progress progress;
  return {backup.run({vms}, {"drill"}, progress), lab.w().hv().list()};
}

}  // namespace

TEST_CASE("backup pipeline in the simulator: the controller's name, virtual time, the same snapshot for the same seed") {
  support::TempDir t("backup-sim");
  const Backed a = backup_at_90_minutes(t / "a");
  const Backed b = backup_at_90_minutes(t / "b");
  CHECK(a.snap.host == "ops-desk");
  CHECK(a.snap.time.rfind("2024-01-01T01:30:00", 0) == 0);  // 90 virtual minutes into the simulation's calendar
  CHECK(a.snap.id == b.snap.id);                            // a drill's backup is reproducible, manifest and all
}

TEST_CASE("backup pipeline in the simulator: the VM definitions read back as the hypervisor defines them") {
  support::TempDir t("backup-sim-vms");
  const Backed backed = backup_at_90_minutes(t / "repo");
  REQUIRE(backed.vms.size() == 2);
  store::Repository repo(t / "repo");
  const store::Section* section = backed.snap.section("vm");
  REQUIRE(section);
  const auto files = capture::section_files(repo, *section);
  CHECK(files.size() == backed.vms.size());
  for (const auto& vm : backed.vms) {
    INFO(vm.spec.name);
    REQUIRE(files.count(vm.spec.name + ".json"));
    const world::VmSpec back = world::vm_spec_from_json(vm.spec.name, nlohmann::json::parse(files.at(vm.spec.name + ".json")));
    CHECK(back.vcpus == vm.spec.vcpus);
    CHECK(back.memory_mb == vm.spec.memory_mb);
    CHECK(back.boot_order == vm.spec.boot_order);
    CHECK(back.cdrom == vm.spec.cdrom);
    REQUIRE(back.disks.size() == vm.spec.disks.size());
    for (std::size_t i = 0; i < back.disks.size(); ++i) {
      CHECK(back.disks[i].name == vm.spec.disks[i].name);
      CHECK(back.disks[i].size_gb == vm.spec.disks[i].size_gb);
      CHECK(back.disks[i].image == vm.spec.disks[i].image);
    }
    REQUIRE(back.nics.size() == vm.spec.nics.size());
    for (std::size_t i = 0; i < back.nics.size(); ++i) {
      CHECK(back.nics[i].network == vm.spec.nics[i].network);
      CHECK(back.nics[i].mac == vm.spec.nics[i].mac);
    }
  }
}
