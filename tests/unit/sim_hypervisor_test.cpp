#include <doctest/doctest.h>

#include "sim/hypervisor.hpp"

using namespace drctl;

namespace {
world::VmSpec vm(const std::string& name, int vcpus, std::int64_t mem_mb, std::int64_t disk_gb = 20,
                 const std::string& net = "cluster") {
  world::VmSpec s;
  s.name = name;
  s.vcpus = vcpus;
  s.memory_mb = mem_mb;
  s.disks.push_back({"disk0", disk_gb, "", ""});
  s.nics.push_back({net, "00:50:56:00:00:01", 0, ""});
  return s;
}
}  // namespace

// vSphere Resource Management ("CPU Virtualization Basics", "Memory Overcommitment"): the VMs'
// vCPUs and configured memory may exceed the host's; ESXi shares the CPUs in time slices and
// reclaims memory. It is a warning in the event log, not a refusal.
TEST_CASE("sim hypervisor: vCPUs and memory overcommit with a warning, the VMs still defined and started") {
  sim::Engine e(1);
  sim::SimHypervisor h(e, {12, 80 * 1024, 500}, {"cluster", "management", "wan"});
  h.define(vm("k8s-master", 4, 16384));
  h.define(vm("k8s-node1", 6, 32768));
  CHECK(h.overcommitted().empty());
  CHECK(e.log_jsonl().find("overcommitted") == std::string::npos);
  h.define(vm("k8s-node2", 4, 40000));  // 14 vCPUs on 12 threads, 89152 MB on 81920
  CHECK(h.overcommitted() ==
        "the VMs have 14 vCPUs on the host's 12 logical CPUs (CPU overcommitted: they share it in time slices); the VMs "
        "are configured with 89152 MB of memory on the host's 81920 MB (memory overcommitted: ballooning, compression "
        "and swapping reclaim it under contention)");
  CHECK(e.log_jsonl().find("\"event\":\"overcommitted\"") != std::string::npos);
  for (const auto& v : {"k8s-master", "k8s-node1", "k8s-node2"}) h.start(v);
  CHECK(h.list().size() == 3);
  CHECK_THROWS_WITH(h.define(vm("lost", 1, 1024, 10, "dmz")),
                    "cannot define VM lost: its NIC is on port group 'dmz', which does not exist");
  h.power_off_host();
  for (const auto& v : h.list()) CHECK_FALSE(v.running);
}

// vSphere Virtual Machine Administration, "Virtual CPU Limitations": "A virtual machine cannot
// have more virtual CPUs than the number of logical cores on the host."
TEST_CASE("sim hypervisor: one VM with more vCPUs than the host's logical CPUs does not power on") {
  sim::Engine e(1);
  sim::SimHypervisor h(e, {12, 80 * 1024, 500}, {"cluster"});
  h.define(vm("wide", 16, 4096));
  CHECK_THROWS_WITH(h.start("wide"),
                    "cannot power on wide: Virtual machine has 16 virtual CPUs, but the host only supports 12. The number of "
                    "virtual CPUs may be limited by the guest OS selected for the virtual machine or by the licensing for "
                    "the host.");
  CHECK_FALSE(h.list()[0].running);
  h.define(vm("fits", 12, 4096));
  h.start("fits");
  CHECK(h.list()[0].running);
  CHECK(e.log_jsonl().find("power-on-refused") != std::string::npos);
}

// Thin disks overcommit the datastore; a thick disk takes its whole size at creation.
TEST_CASE("sim hypervisor: thick disks must fit the datastore's free space, thin ones need not") {
  sim::Engine e(1);
  sim::SimHypervisor h(e, {12, 80 * 1024, 500}, {"cluster"});
  h.define(vm("thin-a", 1, 1024, 400));
  h.define(vm("thin-b", 1, 1024, 400));  // 800 GB of thin disks on 500 GB
  world::VmSpec thick = vm("thick", 1, 1024, 480);
  thick.disks[0].thin = false;
  h.define(thick);  // thin disks take nothing yet
  world::VmSpec more = vm("more", 1, 1024, 40);
  more.disks[0].thin = false;
  CHECK_THROWS_WITH(h.define(more), "cannot define VM more: Insufficient disk space on datastore 'datastore1' (its thick "
                                    "disks need 40 GB, 20 of 500 GB are free)");
  more.disks[0].size_gb = 20;
  h.define(more);
  CHECK(h.list().size() == 4);
  CHECK(e.log_jsonl().find("define-refused") != std::string::npos);
}

TEST_CASE("sim hypervisor: an appliance VM needs its install image in the datastore") {
  sim::Engine e(1);
  sim::SimHypervisor h(e, {12, 80 * 1024, 500}, {"cluster", "management", "wan"});
  world::VmSpec pf = vm("pfsense", 2, 4096, 20, "wan");
  pf.cdrom = "pfSense-CE-2.7.2-RELEASE-amd64.iso";
  CHECK_THROWS_WITH(h.define(pf), "cannot define VM pfsense: its install image 'pfSense-CE-2.7.2-RELEASE-amd64.iso' is "
                                  "not in the datastore (which is empty)");
  h.add_datastore_file("pfSense-CE-2.7.2-RELEASE-amd64.iso");
  h.define(pf);
  CHECK(h.list().size() == 1);
}
