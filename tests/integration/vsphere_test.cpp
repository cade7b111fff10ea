// VsphereHypervisor against vcsim (tests/support/vcsim.hpp): capture → define on an empty vcsim
// → capture again gives the same VmSpecs; refusals before CreateVM (missing port group,
// datastore, an existing VM); login and TLS trust (wrong password, unpinned, pinned, changed
// certificate) in one line each, never with the password; power and destroy; disk bytes through
// the datastore endpoint; check(). The oracles are vcsim's own answers read without drctl's code
// (curl(1) speaking SOAP, openssl(1) for the certificate) and the shape main.go gives its VMs.
// Not here: a VM larger than its host. vcsim (govmomi 0.24.2) checks no capacity — it defines
// and powers on a VM of 4096 vCPUs with a 1 PB thick disk — so there is no refusal to compare
// with; on a real host that is CreateVM's or PowerOn's task error, which define/start throw.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <pugixml.hpp>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/vcsim.hpp"
#include "world/real/hypervisor_config.hpp"
#include "world/real/vsphere.hpp"

using namespace drctl::world;
using namespace drctl::world::real;
using support::Vcsim;
using support::VcsimOptions;

namespace {

/// The SHA-256 thumbprint of the certificate a server presents, as openssl(1) computes it.
std::string openssl_thumbprint(const std::string& host_port) {
  auto r = support::run({"sh", "-c", "openssl s_client -connect " + host_port +
                                         " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256"});
  support::expect_exit(r, 0);
  const auto eq = r.out.find('=');
  REQUIRE(eq != std::string::npos);
  std::string t = r.out.substr(eq + 1);
  t.erase(t.find_last_not_of("\r\n ") + 1);
  return t;  // "AB:CD:…"
}

HypervisorConfig config_for(const Vcsim& sim, const std::string& thumbprint) {
  HypervisorConfig c;
  c.kind = "vsphere";
  c.url = sim.url();
  c.user = sim.options().username;
  c.password = sim.options().password;
  c.thumbprint = thumbprint;
  c.networks = {"wan", "management"};
  c.timeout_seconds = 30;
  return c;
}

/// A hypervisor for `sim` with its certificate pinned (as `drctl hosts trust` would).
std::unique_ptr<VsphereHypervisor> connect(const Vcsim& sim) {
  return std::make_unique<VsphereHypervisor>(config_for(sim, openssl_thumbprint(sim.host_port())));
}

std::string describe(const VmSpec& s) {
  std::ostringstream o;
  o << s.name << " cpus=" << s.vcpus << " mem=" << s.memory_mb << " fw=" << s.firmware << " guest=" << s.guest_os
    << " cdrom=" << s.cdrom << " note=" << s.annotation << " boot=";
  for (const auto& b : s.boot_order) o << b << ",";
  for (const auto& d : s.disks) o << " disk[" << d.name << " " << d.size_gb << "G " << d.datastore << (d.thin ? " thin" : " thick") << "]";
  for (const auto& n : s.nics) o << " nic[" << n.network << " " << n.mac << " vlan" << n.vlan << " " << n.adapter << "]";
  return o.str();
}

/// vcsim's inventory read with curl(1) and the SOAP text written here — none of drctl's code:
/// every VM's name → "powerState numCPU memoryMB mac,mac,…".
std::map<std::string, std::string> independent_read(const Vcsim& sim) {
  support::TempDir dir("soap");
  const std::string jar = (dir / "cookies").string();
  auto soap = [&](const std::string& body) {
    const std::string env =
        "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body>" + body + "</soapenv:Body></soapenv:Envelope>";
    support::write_file(dir / "req.xml", env);
    auto r = support::run({"curl", "-sk", "-b", jar, "-c", jar, "-H", "Content-Type: text/xml", "-H", "SOAPAction: \"urn:vim25/7.0\"",
                           "--data-binary", "@" + (dir / "req.xml").string(), sim.url()});
    support::expect_exit(r, 0);
    return r.out;
  };
  soap("<Login xmlns=\"urn:vim25\"><_this type=\"SessionManager\">SessionManager</_this><userName>" + sim.options().username +
       "</userName><password>" + sim.options().password + "</password></Login>");
  pugi::xml_document view;
  view.load_string(soap("<CreateContainerView xmlns=\"urn:vim25\"><_this type=\"ViewManager\">ViewManager</_this>"
                        "<container type=\"Folder\">group-d1</container><type>VirtualMachine</type><recursive>true</recursive>"
                        "</CreateContainerView>").c_str());
  const std::string v = view.select_node("//*[local-name()='returnval']").node().text().get();
  pugi::xml_document doc;
  doc.load_string(soap("<RetrievePropertiesEx xmlns=\"urn:vim25\"><_this type=\"PropertyCollector\">propertyCollector</_this>"
                       "<specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet><pathSet>runtime.powerState</pathSet>"
                       "<pathSet>config</pathSet></propSet><objectSet><obj type=\"ContainerView\">" + v +
                       "</obj><skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><type>ContainerView</type><path>view</path>"
                       "<skip>false</skip></selectSet></objectSet></specSet><options/></RetrievePropertiesEx>").c_str());
  std::map<std::string, std::string> out;
  for (auto o : doc.select_nodes("//*[local-name()='objects']")) {
    std::string name, power, cpu, mem, macs;
    for (auto p : o.node().select_nodes("*[local-name()='propSet']")) {
      const std::string n = p.node().select_node("*[local-name()='name']").node().text().get();
      const pugi::xml_node val = p.node().select_node("*[local-name()='val']").node();
      if (n == "name") name = val.text().get();
      if (n == "runtime.powerState") power = val.text().get();
      if (n == "config") {
        cpu = val.select_node(".//*[local-name()='numCPU']").node().text().get();
        mem = val.select_node(".//*[local-name()='memoryMB']").node().text().get();
        for (auto m : val.select_nodes(".//*[local-name()='macAddress']")) macs += std::string(m.node().text().get()) + ",";
      }
    }
    out[name] = power + " " + cpu + " " + mem + " " + macs;
  }
  return out;
}

/// The same facts from a VmState, for comparison with independent_read.
std::string facts(const VmState& s) {
  std::string macs;
  for (const auto& n : s.spec.nics) macs += n.mac + ",";
  return std::string(s.running ? "poweredOn" : "poweredOff") + " " + std::to_string(s.spec.vcpus) + " " +
         std::to_string(s.spec.memory_mb) + " " + macs;
}

VmSpec small_vm(const std::string& name) {
  VmSpec s;
  s.name = name;
  s.vcpus = 2;
  s.memory_mb = 2048;
  s.disks = {{"root", 1, "", "", true}};
  s.nics = {{"management", "00:50:56:aa:bb:01", 0, "vmxnet3"}};
  s.boot_order = {"network", "disk"};
  return s;
}

}  // namespace

TEST_CASE("vsphere: every VM captured from vcsim and defined on an empty one captures again the same") {
  VcsimOptions with_vms;
  with_vms.vms = 6;
  Vcsim source(with_vms);
  Vcsim target;
  auto from = connect(source);
  auto to = connect(target);

  const auto captured = from->list();
  REQUIRE(captured.size() == 6);
  // The capture agrees with vcsim's own answer, read without drctl's code.
  const auto seen = independent_read(source);
  REQUIRE(seen.size() == captured.size());
  for (const auto& vm : captured) CHECK_MESSAGE(seen.at(vm.spec.name) == facts(vm), vm.spec.name);
  // ... and with the shapes main.go gives its VMs (vm-2: an ISO, boot from CD first; VLAN 10).
  const auto vm2 = std::find_if(captured.begin(), captured.end(), [](const VmState& s) { return s.spec.name == "vm-2"; });
  REQUIRE(vm2 != captured.end());
  CHECK(vm2->spec.cdrom == "[LocalDS_0] iso/installer.iso");
  CHECK(vm2->spec.boot_order == std::vector<std::string>{"cdrom", "disk", "network"});
  CHECK(vm2->raw.find("VirtualMachineConfigInfo") != std::string::npos);
  bool vlan10 = false, efi = false, thick = false;
  for (const auto& vm : captured) {
    for (const auto& n : vm.spec.nics) vlan10 |= n.network == "management" && n.vlan == 10;
    efi |= vm.spec.firmware == "efi";
    for (const auto& d : vm.spec.disks) thick |= !d.thin;
  }
  CHECK(vlan10);
  CHECK(efi);
  CHECK(thick);

  for (const auto& vm : captured) {
    to->define(vm.spec);
    if (vm.running) to->start(vm.spec.name);
  }
  const auto again = to->list();
  REQUIRE(again.size() == captured.size());
  for (std::size_t i = 0; i < captured.size(); ++i) {
    CHECK(describe(again[i].spec) == describe(captured[i].spec));
    CHECK(again[i].running == captured[i].running);
  }
  const auto seen_again = independent_read(target);
  for (const auto& vm : again) CHECK_MESSAGE(seen_again.at(vm.spec.name) == facts(vm), vm.spec.name);
}

TEST_CASE("vsphere: define refuses a missing port group, a missing datastore and an existing VM before creating anything") {
  Vcsim sim;
  auto hv = connect(sim);
  VmSpec spec = small_vm("web");
  spec.nics.push_back({"storage", "00:50:56:aa:bb:02", 0, "e1000"});
  try {
    hv->define(spec);
    FAIL("define succeeded");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    CHECK(m.find("port group 'storage' does not exist") != std::string::npos);
    CHECK(m.find("wan, management, cluster") != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
  }
  spec = small_vm("web");
  spec.disks[0].datastore = "fast";
  try {
    hv->define(spec);
    FAIL("define succeeded");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("datastore 'fast' does not exist in vSphere datacenter DC0 (it has LocalDS_0)") !=
          std::string::npos);
  }
  CHECK(independent_read(sim).empty());  // nothing was created
  hv->define(small_vm("web"));
  CHECK_THROWS_WITH_AS(hv->define(small_vm("web")), doctest::Contains("VM web already exists"), std::runtime_error);
  CHECK(independent_read(sim).size() == 1);
}

TEST_CASE("vsphere: a wrong password fails in one line naming the user, never the password") {
  Vcsim sim;
  HypervisorConfig c = config_for(sim, openssl_thumbprint(sim.host_port()));
  c.password = "Wrong-Secret-42";
  VsphereHypervisor hv(c);
  try {
    hv.list();
    FAIL("login succeeded");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    CHECK(m == "vSphere at " + sim.url() + " refused the login for " + c.user + ": Login failure");
    CHECK(m.find("Wrong-Secret-42") == std::string::npos);
  }
}

TEST_CASE("vsphere: an unpinned self-signed certificate fails in one line with its thumbprint, a pinned one works") {
  Vcsim sim;
  const std::string thumbprint = openssl_thumbprint(sim.host_port());
  VsphereHypervisor unpinned(config_for(sim, ""));
  try {
    unpinned.list();
    FAIL("an untrusted certificate was accepted");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find(thumbprint) != std::string::npos);
    CHECK(m.find("drctl hosts trust " + sim.url() + " --fingerprint " + thumbprint) != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
    CHECK(m.find(sim.options().password) == std::string::npos);
  }
  CHECK(tls_thumbprint(sim.url(), 10) == thumbprint);
  // Pinned, written the way an operator might paste it: lower case, no colons.
  std::string loose = thumbprint;
  loose.erase(std::remove(loose.begin(), loose.end(), ':'), loose.end());
  std::transform(loose.begin(), loose.end(), loose.begin(), [](unsigned char ch) { return std::tolower(ch); });
  VsphereHypervisor pinned(config_for(sim, loose));
  CHECK(pinned.list().empty());
}

TEST_CASE("vsphere: a changed certificate fails in one line with both thumbprints") {
  support::TempDir dir("certs");
  Vcsim::make_certificate(dir / "a.pem", dir / "a.key");
  Vcsim::make_certificate(dir / "b.pem", dir / "b.key");
  auto first = std::make_unique<Vcsim>(VcsimOptions{.cert = (dir / "a.pem").string(), .key = (dir / "a.key").string()});
  const std::string port = first->host_port().substr(first->host_port().find(':') + 1);
  const std::string pinned = openssl_thumbprint(first->host_port());
  VsphereHypervisor hv(config_for(*first, pinned));
  CHECK(hv.list().empty());
  first.reset();
  Vcsim second(VcsimOptions{.cert = (dir / "b.pem").string(), .key = (dir / "b.key").string(), .listen = "127.0.0.1:" + port});
  const std::string now = openssl_thumbprint(second.host_port());
  REQUIRE(now != pinned);
  try {
    hv.list();
    FAIL("a changed certificate was accepted");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("changed") != std::string::npos);
    CHECK(m.find(pinned) != std::string::npos);
    CHECK(m.find(now) != std::string::npos);
    CHECK(m.find('\n') == std::string::npos);
  }
}

TEST_CASE("vsphere: power on, power off and destroy show in list and in vcsim's own answer") {
  Vcsim sim;
  auto hv = connect(sim);
  hv->define(small_vm("db"));
  CHECK(independent_read(sim).at("db").rfind("poweredOff", 0) == 0);
  hv->start("db");
  CHECK(hv->list().at(0).running);
  CHECK(independent_read(sim).at("db").rfind("poweredOn", 0) == 0);
  hv->stop("db");
  CHECK_FALSE(hv->list().at(0).running);
  CHECK(independent_read(sim).at("db").rfind("poweredOff", 0) == 0);
  hv->start("db");
  hv->destroy("db");  // powers off first
  CHECK(hv->list().empty());
  CHECK(independent_read(sim).empty());
  CHECK_THROWS_WITH_AS(hv->start("db"), doctest::Contains("has no VM db"), std::runtime_error);
}

TEST_CASE("vsphere: write_disk then read_disk gives the same bytes, as the datastore serves them") {
  Vcsim sim;
  auto hv = connect(sim);
  VmSpec spec = small_vm("nas");
  spec.disks.push_back({"data", 2, "", "", false});
  hv->define(spec);
  const auto bytes = support::random_bytes(3 * 1024 * 1024 + 17, support::test_seed());
  const std::string data(bytes.begin(), bytes.end());
  std::size_t at = 0;
  hv->write_disk("nas", 1, [&](char* buf, std::size_t size) {
    const std::size_t n = std::min(size, data.size() - at);
    std::copy_n(data.data() + at, n, buf);
    at += n;
    return n;
  }, static_cast<std::int64_t>(data.size()));
  std::string back;
  const auto n = hv->read_disk("nas", 1, [&](const char* d, std::size_t size) { back.append(d, size); });
  CHECK(n == static_cast<std::int64_t>(data.size()));
  CHECK(back == data);
  // The bytes are the data file's, fetched with curl(1) from the datastore endpoint.
  support::TempDir dir("disk");
  auto r = support::run({"curl", "-skf", "-o", (dir / "flat").string(),
                         "https://" + sim.host_port() + "/folder/nas/data-flat.vmdk?dcPath=DC0&dsName=LocalDS_0"});
  support::expect_exit(r, 0);
  CHECK(support::read_file(dir / "flat") == data);
  // The other disk is still empty, and writing while the VM runs is refused.
  std::string first;
  CHECK(hv->read_disk("nas", 0, [&](const char* d, std::size_t size) { first.append(d, size); }) == 0);
  hv->start("nas");
  CHECK_THROWS_WITH_AS(hv->write_disk("nas", 0, [](char*, std::size_t) { return std::size_t(0); }, 0),
                       doctest::Contains("poweredOn"), std::runtime_error);
}

TEST_CASE("vsphere: check names the server, datacenter, datastore and port groups, or what is missing") {
  Vcsim sim;
  HypervisorConfig c = config_for(sim, openssl_thumbprint(sim.host_port()));
  const std::string line = VsphereHypervisor(c).check();
  CHECK(line == "vCenter 6.5.0 (vpx) at " + sim.url() + ": datacenter DC0, datastore LocalDS_0, port groups wan, management");
  c.networks.push_back("storage");
  CHECK_THROWS_WITH_AS(VsphereHypervisor(c).check(), doctest::Contains("has no port group storage"), std::runtime_error);
  c.networks.pop_back();
  c.datacenter = "DC9";
  CHECK_THROWS_WITH_AS(VsphereHypervisor(c).check(), doctest::Contains("no datacenter 'DC9' (it has DC0)"), std::runtime_error);
}

TEST_CASE("vsphere: creating and capturing 10 VMs on vcsim (timed)") {
  Vcsim sim;
  auto hv = connect(sim);
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i) {
    VmSpec s = small_vm("bench-" + std::to_string(i));
    s.nics[0].mac = "00:50:56:aa:cc:" + std::string(i < 10 ? "0" : "") + std::to_string(i);
    hv->define(s);
  }
  const auto t1 = std::chrono::steady_clock::now();
  const auto vms = hv->list();
  const auto t2 = std::chrono::steady_clock::now();
  CHECK(vms.size() == 10);
  CHECK(independent_read(sim).size() == 10);
  using ms = std::chrono::milliseconds;
  MESSAGE("vcsim: create 10 VMs " << std::chrono::duration_cast<ms>(t1 - t0).count() << " ms, capture them "
                                  << std::chrono::duration_cast<ms>(t2 - t1).count() << " ms");
}
