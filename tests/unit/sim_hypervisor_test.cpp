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

TEST_CASE("sim hypervisor: a VM beyond capacity fails with the numbers") {
  sim::Engine e(1);
  sim::SimHypervisor h(e, {12, 80 * 1024, 500}, {"cluster", "management", "wan"});
  h.define(vm("k8s-master", 4, 16384));
  h.define(vm("k8s-node1", 6, 32768));
  CHECK_THROWS_WITH(h.define(vm("k8s-node2", 4, 8192)),
                    "cannot define VM k8s-node2: it needs 4 vCPUs, but only 2 of the host's 12 threads are free");
  CHECK_THROWS_WITH(h.define(vm("big", 2, 40000)),
                    "cannot define VM big: it needs 40000 MB of memory, but only 32768 of the host's 81920 MB are free");
  CHECK_THROWS_WITH(h.define(vm("disk", 1, 1024, 480)),
                    "cannot define VM disk: it needs 480 GB of datastore, but only 460 of 500 GB are free");
  CHECK_THROWS_WITH(h.define(vm("lost", 1, 1024, 10, "dmz")),
                    "cannot define VM lost: its NIC is on port group 'dmz', which does not exist");
  CHECK(h.list().size() == 2);
  h.destroy("k8s-node1");
  h.define(vm("k8s-node2", 4, 8192));  // fits again
  h.start("k8s-node2");
  CHECK(h.list().back().running);
  h.power_off_host();
  for (const auto& v : h.list()) CHECK_FALSE(v.running);
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
