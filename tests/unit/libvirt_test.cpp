// LibvirtHypervisor against libvirt's test driver (test:///FIXTURE: a node held in the
// connection, no daemon). The oracle is libvirt itself: virsh (libvirt-clients) reading the same
// fixture on its own connection, and, for what drctl defines, a second capture.
#include <doctest/doctest.h>
#include <pugixml.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <sstream>

#include "support/run.hpp"
#include "world/real/libvirt_hypervisor.hpp"
#include "world/real/libvirt_xml.hpp"

using namespace drctl;
using drctl::world::VmSpec;
using drctl::world::VmState;
using drctl::world::real::HypervisorConfig;
using drctl::world::real::LibvirtHypervisor;

namespace {

std::string fixture_uri(const std::string& name) {
  auto path = std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures/libvirt" / name;
  return "test://" + std::filesystem::canonical(path).string();
}

HypervisorConfig config(const std::string& fixture) {
  HypervisorConfig c;
  c.kind = "libvirt";
  c.url = fixture_uri(fixture);
  return c;
}

/// virsh on its own connection to the fixture; its stdout.
std::string virsh(const std::string& fixture, std::vector<std::string> args) {
  std::vector<std::string> argv = {"virsh", "-q", "-c", fixture_uri(fixture)};
  argv.insert(argv.end(), args.begin(), args.end());
  support::RunResult r = support::run(argv);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  return r.out;
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

/// Everything a VmSpec says, one field a line, so a failed comparison shows the difference.
std::string describe(const VmSpec& s) {
  std::ostringstream o;
  o << "name " << s.name << "\nvcpus " << s.vcpus << "\nmemory_mb " << s.memory_mb << "\n";
  for (const auto& d : s.disks)
    o << "disk " << d.name << " " << d.size_gb << "G pool=" << d.datastore << " thin=" << d.thin << " image=" << d.image << "\n";
  for (const auto& n : s.nics) o << "nic " << n.network << " " << n.mac << " vlan=" << n.vlan << " " << n.adapter << "\n";
  o << "boot";
  for (const auto& b : s.boot_order) o << " " << b;
  o << "\ncdrom " << s.cdrom << "\nfirmware " << s.firmware << "\nguest_os " << s.guest_os << "\nannotation " << s.annotation << "\n";
  return o.str();
}

const VmState& find(const std::vector<VmState>& vms, const std::string& name) {
  for (const auto& v : vms)
    if (v.spec.name == name) return v;
  FAIL("no VM " << name);
  throw std::logic_error("unreachable");
}

bool listed(LibvirtHypervisor& h, const std::string& name) {
  for (const auto& v : h.list())
    if (v.spec.name == name) return true;
  return false;
}

/// The message `fn` throws ("" when it does not throw).
std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

VmSpec small_vm(const std::string& name, const std::string& network) {
  VmSpec s;
  s.name = name;
  s.vcpus = 1;
  s.memory_mb = 1024;
  s.disks.push_back({"disk0", 10, "", "", true});
  s.nics.push_back({network, "52:54:00:12:34:56", 0, ""});
  s.boot_order = {"network", "disk"};
  return s;
}

}  // namespace

TEST_CASE("libvirt: capture of the site fixture agrees with virsh on names, uuids, CPUs, memory, NICs, disks") {
  LibvirtHypervisor h(config("site.xml"));
  std::vector<VmState> vms = h.list();
  std::vector<std::string> names = words(virsh("site.xml", {"list", "--all", "--name"}));
  REQUIRE(vms.size() == names.size());
  REQUIRE(names.size() == 3);
  for (const std::string& name : names) {
    CAPTURE(name);
    const VmState& vm = find(vms, name);
    pugi::xml_document expected;
    REQUIRE(expected.load_string(virsh("site.xml", {"dumpxml", "--inactive", name}).c_str()));
    pugi::xml_node d = expected.child("domain");
    // raw is the domain XML: the same domain virsh shows.
    pugi::xml_document raw;
    REQUIRE(raw.load_string(vm.raw.c_str()));
    CHECK(std::string(raw.child("domain").child_value("name")) == d.child_value("name"));
    CHECK(std::string(raw.child("domain").child_value("uuid")) == d.child_value("uuid"));
    CHECK(vm.spec.vcpus == d.child("vcpu").text().as_int());
    CHECK(d.child("memory").attribute("unit").value() == std::string("KiB"));
    CHECK(vm.spec.memory_mb * 1024 == d.child("memory").text().as_llong());
    std::vector<std::pair<std::string, std::string>> nics;
    for (pugi::xml_node n : d.child("devices").children("interface"))
      nics.emplace_back(n.child("source").attribute("network").value(), n.child("mac").attribute("address").value());
    REQUIRE(vm.spec.nics.size() == nics.size());
    for (std::size_t i = 0; i < nics.size(); ++i) {
      CHECK(vm.spec.nics[i].network == nics[i].first);
      CHECK(vm.spec.nics[i].mac == nics[i].second);
    }
    // Disks: the volumes virsh reports (domblklist gives the sources in target order).
    std::vector<std::string> volumes;
    for (pugi::xml_node disk : d.child("devices").children("disk"))
      if (std::string(disk.attribute("device").value()) == "disk") {
        pugi::xml_node s = disk.child("source");
        volumes.push_back(s.attribute("volume") ? s.attribute("volume").value() : s.attribute("file").value());
      }
    REQUIRE(vm.spec.disks.size() == volumes.size());
    for (std::size_t i = 0; i < volumes.size(); ++i) {
      std::vector<std::string> info =
          words(virsh("site.xml", volumes[i][0] == '/' ? std::vector<std::string>{"vol-info", "--bytes", volumes[i]}
                                                       : std::vector<std::string>{"vol-info", "--bytes", "--pool", "default", volumes[i]}));
      // "Name: N Type: file Capacity: C bytes Allocation: A bytes"
      std::map<std::string, std::string> field;
      for (std::size_t w = 0; w + 1 < info.size(); ++w) field[info[w]] = info[w + 1];
      std::int64_t capacity = std::stoll(field["Capacity:"]), allocation = std::stoll(field["Allocation:"]);
      CHECK(vm.spec.disks[i].size_gb * (1LL << 30) == capacity);
      CHECK(vm.spec.disks[i].thin == (allocation < capacity));
      CHECK(vm.spec.disks[i].datastore == "default");
    }
    CHECK(vm.running == (words(virsh("site.xml", {"domstate", name})) == std::vector<std::string>{"running"}));
  }
  // What the fixture wrote in the ways virt-install and hand-edited XML write it.
  const VmSpec& pf = find(vms, "pfsense").spec;
  CHECK(pf.firmware == "efi");
  CHECK(pf.guest_os == "http://freebsd.org/freebsd/14.0");
  CHECK(pf.annotation == "pfSense firewall: wan, management (VLAN 10), cluster");
  CHECK(pf.boot_order == std::vector<std::string>{"disk", "cdrom"});
  CHECK(pf.cdrom == "pfSense-CE-2.7.2-RELEASE-amd64.iso");
  CHECK(pf.nics[1].vlan == 10);
  CHECK(pf.nics[0].vlan == 0);
  CHECK(pf.nics[2].adapter == "e1000e");
  CHECK(pf.disks[0].name == "disk0");
  const VmSpec& nas = find(vms, "truenas").spec;
  CHECK(nas.firmware == "bios");
  CHECK(nas.boot_order == std::vector<std::string>{"network", "disk"});
  CHECK(nas.disks[0].name == "disk0");
  CHECK(nas.disks[1].name == "data");
  CHECK_FALSE(nas.disks[1].thin);
  CHECK(nas.nics[0].adapter == "e1000");
  CHECK(find(vms, "k8s-node1").spec.boot_order == std::vector<std::string>{"network", "disk"});
}

TEST_CASE("libvirt: the captured VMs defined on an empty node capture again as the same VmSpecs") {
  LibvirtHypervisor site(config("site.xml"));
  std::vector<VmState> captured = site.list();
  REQUIRE(captured.size() == 3);

  LibvirtHypervisor empty(config("empty.xml"));
  REQUIRE(empty.list().empty());
  for (const VmState& vm : captured) empty.define(vm.spec);
  std::vector<VmState> again = empty.list();
  REQUIRE(again.size() == captured.size());
  for (std::size_t i = 0; i < captured.size(); ++i) {
    CHECK(describe(again[i].spec) == describe(captured[i].spec));
    CHECK_FALSE(again[i].running);  // defined, not started
    CHECK(world::real::libvirt::domain_name_uuid(again[i].raw).first == captured[i].spec.name);
  }
  // A second round from the copy changes nothing either.
  LibvirtHypervisor third(config("empty.xml"));
  for (const VmState& vm : again) third.define(vm.spec);
  std::vector<VmState> thrice = third.list();
  REQUIRE(thrice.size() == again.size());
  for (std::size_t i = 0; i < again.size(); ++i) CHECK(describe(thrice[i].spec) == describe(again[i].spec));
}

TEST_CASE("libvirt: define refuses a missing network, pool or install image and an existing VM, creating nothing") {
  LibvirtHypervisor h(config("empty.xml"));
  VmSpec lost = small_vm("lost", "dmz");
  CHECK_THROWS_WITH(h.define(lost), "libvirt: cannot define VM lost: its NIC 52:54:00:12:34:56 is on network 'dmz', which "
                                    "does not exist (networks: cluster, management, wan)");
  VmSpec elsewhere = small_vm("lost", "cluster");
  elsewhere.disks[0].datastore = "fast";
  CHECK_THROWS_WITH(h.define(elsewhere), "libvirt: cannot define VM lost: its disk disk0 is in pool 'fast', which does "
                                         "not exist (pools: default)");
  VmSpec no_iso = small_vm("lost", "cluster");
  no_iso.cdrom = "missing.iso";
  CHECK_THROWS_WITH(h.define(no_iso), "libvirt: cannot define VM lost: its install image 'missing.iso' is not in pool default");
  CHECK(h.list().empty());
  // Nothing was created by the refusals: the same VM, put right, defines (its volume was free).
  h.define(small_vm("lost", "cluster"));
  CHECK(listed(h, "lost"));
  CHECK_THROWS_WITH(h.define(small_vm("lost", "cluster")), "libvirt: cannot define VM lost: a domain of that name exists");
}

TEST_CASE("libvirt: a disk that starts from an image is a qcow2 volume backed by it, captured with its image") {
  LibvirtHypervisor h(config("empty.xml"));
  VmSpec node = small_vm("node", "cluster");
  node.disks[0].image = "debian-12-generic-amd64.qcow2";
  node.disks[0].size_gb = 40;
  node.disks[0].thin = false;  // an overlay allocates as the guest writes, whatever the spec said
  h.define(node);
  const VmSpec got = find(h.list(), "node").spec;
  REQUIRE(got.disks.size() == 1);
  CHECK(got.disks[0].image == "debian-12-generic-amd64.qcow2");
  CHECK(got.disks[0].size_gb == 40);
  CHECK(got.disks[0].thin);
  VmSpec missing = small_vm("other", "cluster");
  missing.disks[0].image = "debian-11.qcow2";
  CHECK_THROWS_WITH(h.define(missing), "libvirt: cannot define VM other: its disk disk0 starts from image 'debian-11.qcow2', "
                                       "which is not in pool default");
}

TEST_CASE("libvirt: a thick disk beyond the pool's free space is refused with libvirt's message") {
  // The test driver's pool holds 100 GiB and counts allocations; it refuses memory or vCPUs
  // beyond the node's nothing.
  LibvirtHypervisor h(config("empty.xml"));
  VmSpec big = small_vm("big", "cluster");
  big.disks[0].size_gb = 500;
  big.disks[0].thin = false;
  std::string what = error_of([&] { h.define(big); });
  CAPTURE(what);
  CHECK(what.rfind("libvirt: cannot define VM big: cannot create its volume in pool default: ", 0) == 0);
  CHECK(what.find("Not enough free space") != std::string::npos);
  CHECK(what.find('\n') == std::string::npos);
  CHECK(h.list().empty());
  big.disks[0].thin = true;  // sparse: nothing allocated yet, so it fits
  h.define(big);
  CHECK(listed(h, "big"));
}

TEST_CASE("libvirt: start, stop and destroy show in list, and destroy deletes the VM's own volumes") {
  LibvirtHypervisor h(config("site.xml"));
  auto running = [&](const std::string& name) { return find(h.list(), name).running; };
  CHECK(running("pfsense"));
  h.stop("pfsense");
  CHECK_FALSE(running("pfsense"));
  CHECK_THROWS_WITH(h.stop("pfsense"), doctest::Contains("libvirt: cannot power off VM pfsense: "));
  h.start("pfsense");
  CHECK(running("pfsense"));

  VmSpec pf = find(h.list(), "pfsense").spec;
  CHECK_THROWS_WITH(h.define(pf), "libvirt: cannot define VM pfsense: a domain of that name exists");
  h.destroy("pfsense");  // running: powered off first
  CHECK_FALSE(listed(h, "pfsense"));
  CHECK_THROWS_WITH(h.start("pfsense"), doctest::Contains("libvirt: cannot start VM pfsense: "));
  // Its disk volume went with it (define would refuse an existing one), its install image stayed.
  h.define(pf);
  CHECK(describe(find(h.list(), "pfsense").spec) == describe(pf));
}

TEST_CASE("libvirt: define refuses a disk volume that exists") {
  LibvirtHypervisor h(config("site.xml"));
  VmSpec copy = find(h.list(), "truenas").spec;
  h.destroy("truenas");
  VmSpec collide = small_vm("k8s", "cluster");
  collide.disks[0].name = "node1-disk0";  // volume k8s-node1-disk0.qcow2: k8s-node1's disk
  CHECK_THROWS_WITH(h.define(collide), "libvirt: cannot define VM k8s: its disk's volume default/k8s-node1-disk0.qcow2 exists");
  h.define(copy);
  CHECK(listed(h, "truenas"));
}

TEST_CASE("libvirt: the test driver refuses disk downloads and uploads, in one line with libvirt's message") {
  LibvirtHypervisor h(config("site.xml"));
  std::string got;
  CHECK_THROWS_WITH(h.read_disk("truenas", 0, [&](const char* p, std::size_t n) { got.append(p, n); }),
                    "libvirt: cannot read disk 0 of VM truenas: this function is not supported by the connection driver: "
                    "virStorageVolDownload");
  CHECK(got.empty());
  std::string data(4096, 'x');
  std::size_t at = 0;
  auto source = [&](char* buf, std::size_t size) {
    std::size_t n = std::min(size, data.size() - at);
    std::copy_n(data.data() + at, n, buf);
    at += n;
    return n;
  };
  CHECK_THROWS_WITH(h.write_disk("truenas", 0, source, 4096),
                    "libvirt: cannot write disk 0 of VM truenas: this function is not supported by the connection driver: "
                    "virStorageVolUpload");
  CHECK_THROWS_WITH(h.write_disk("pfsense", 0, source, 4096),
                    "libvirt: cannot write disk 0 of VM pfsense: it is running (power it off first)");
  CHECK_THROWS_WITH(h.read_disk("truenas", 2, [](const char*, std::size_t) {}), "libvirt: VM truenas has 2 disks, no disk 2");
}

TEST_CASE("libvirt: check names the version, driver, pool and networks, or what is missing") {
  HypervisorConfig c = config("site.xml");
  c.networks = {"wan", "management", "cluster"};
  // "Using library: libvirt 9.0.0" as virsh reports it.
  std::string version;
  std::vector<std::string> v = words(virsh("site.xml", {"version"}));
  for (std::size_t i = 0; i + 3 < v.size(); ++i)
    if (v[i] == "Using" && v[i + 1] == "library:") version = v[i + 3];
  REQUIRE_FALSE(version.empty());
  CHECK(LibvirtHypervisor(c).check() == "libvirt " + version + " (TEST driver) at " + c.url +
                                            ": pool default, networks wan, management, cluster");
  c.networks = {"wan", "storage"};
  CHECK_THROWS_WITH(LibvirtHypervisor(c).check(),
                    ("libvirt: " + c.url + " has no network storage (networks: cluster, management, wan)").c_str());
  c.networks = {};
  c.datastore = "fast";
  CHECK_THROWS_WITH(LibvirtHypervisor(c).check(), ("libvirt: " + c.url + " has no storage pool 'fast' (pools: default)").c_str());
}

TEST_CASE("libvirt: a connection that fails says why in one line without the password") {
  // Port 1 on loopback: nothing listens, so libvirt's remote driver is refused at once.
  HypervisorConfig c;
  c.kind = "libvirt";
  c.url = "test+tcp://root:s3cret-pw@127.0.0.1:1/default";
  c.user = "root";
  c.password = "hunter2-pw";
  LibvirtHypervisor h(c);
  std::string what = error_of([&] { h.list(); });
  CAPTURE(what);
  CHECK(what.rfind("libvirt: cannot connect to test+tcp://root:***@127.0.0.1:1/default: ", 0) == 0);
  CHECK(what.find("127.0.0.1") != std::string::npos);
  CHECK(what.find("s3cret") == std::string::npos);
  CHECK(what.find("hunter2") == std::string::npos);
  CHECK(what.find('\n') == std::string::npos);
  CHECK(world::real::redact_uri("qemu+ssh://admin:pa:ss@kvm1:22/system?keyfile=/k") == "qemu+ssh://admin:***@kvm1:22/system?keyfile=/k");
  CHECK(world::real::redact_uri("qemu+ssh://admin@kvm1/system") == "qemu+ssh://admin@kvm1/system");
  CHECK(world::real::redact_uri("test:///tmp/a@b:c.xml") == "test:///tmp/a@b:c.xml");
}
