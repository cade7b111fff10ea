// vSphere's XML and VmSpec (world/real/vsphere_spec.hpp) and SOAP faults (vsphere_soap.hpp),
// on answers captured from vcsim (tests/fixtures/vsphere: vms.xml and networks.xml are
// RetrievePropertiesEx answers for main.go's VMs 1..3 and port groups wan, management:10,
// cluster; login_fault.xml a wrong password; task_error.xml a failed task) and on the
// RestrictedVersion fault of a free ESXi licence, written from the API reference.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <pugixml.hpp>

#include "world/real/vsphere_soap.hpp"
#include "world/real/vsphere_spec.hpp"

using namespace drctl::world;
using namespace drctl::world::real::vsphere;

namespace {

std::filesystem::path fixtures() { return std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures/vsphere"; }

std::unique_ptr<pugi::xml_document> load(const std::string& name) {
  auto doc = std::make_unique<pugi::xml_document>();
  REQUIRE(doc->load_file((fixtures() / name).c_str()));
  return doc;
}

// The distributed port groups as the fixture lists them, read with XPath here.
std::vector<PortGroup> port_groups(const pugi::xml_document& doc) {
  std::string uuid = doc.select_node("//*[local-name()='propSet'][*[local-name()='name']='uuid']/*[local-name()='val']").node().text().get();
  std::vector<PortGroup> out;
  for (auto o : doc.select_nodes("//*[local-name()='objects'][*[local-name()='obj']/@type='DistributedVirtualPortgroup']")) {
    PortGroup pg;
    pg.distributed = true;
    pg.name = o.node().select_node("*[local-name()='propSet'][*[local-name()='name']='name']/*[local-name()='val']").node().text().get();
    pg.key = o.node().select_node(".//*[local-name()='val']/*[local-name()='key']").node().text().get();
    pg.switch_uuid = uuid;
    pg.vlan = o.node().select_node(".//*[local-name()='vlan']/*[local-name()='vlanId']").node().text().as_int();
    out.push_back(pg);
  }
  return out;
}

pugi::xml_node config_of(const pugi::xml_document& doc, const std::string& vm) {
  for (auto o : doc.select_nodes("//*[local-name()='objects']")) {
    auto cfg = o.node().select_node("*[local-name()='propSet'][*[local-name()='name']='config']/*[local-name()='val']").node();
    if (std::string(cfg.select_node("*[local-name()='name']").node().text().get()) == vm) return cfg;
  }
  return {};
}

}  // namespace

TEST_CASE("vsphere spec: a VM's config from vcsim maps to its VmSpec") {
  auto vms = load("vms.xml");
  auto nets = load("networks.xml");
  const auto pgs = port_groups(*nets);
  REQUIRE(pgs.size() == 4);  // the switch's uplinks and wan, management, cluster

  const VmSpec s = spec_from_config(config_of(*vms, "vm-1"), pgs);
  CHECK(s.name == "vm-1");
  CHECK(s.vcpus == 2);
  CHECK(s.memory_mb == 1024);
  CHECK(s.firmware == "efi");
  CHECK(s.guest_os == "ubuntu64Guest");
  CHECK(s.annotation == "test VM 1\nsecond line");
  REQUIRE(s.disks.size() == 2);
  CHECK(s.disks[0].name == "vm-1-disk0");
  CHECK(s.disks[0].datastore == "LocalDS_0");
  CHECK(s.disks[0].size_gb == 2);
  CHECK_FALSE(s.disks[0].thin);
  CHECK(s.disks[1].name == "vm-1-disk1");
  CHECK(s.disks[1].size_gb == 3);
  CHECK(s.disks[1].thin);
  REQUIRE(s.nics.size() == 2);
  CHECK(s.nics[0].adapter == "e1000");
  CHECK(s.nics[0].network == "wan");
  CHECK(s.nics[0].mac == "00:50:56:00:01:00");
  CHECK(s.nics[0].vlan == 0);
  CHECK(s.nics[1].adapter == "e1000e");
  CHECK(s.nics[1].network == "management");
  CHECK(s.nics[1].vlan == 10);
  CHECK(s.boot_order == std::vector<std::string>{"network", "disk"});  // two NICs then two disks, folded
  CHECK(s.cdrom.empty());

  const VmSpec s3 = spec_from_config(config_of(*vms, "vm-3"), pgs);
  CHECK(s3.cdrom == "[LocalDS_0] iso/installer.iso");
  CHECK(s3.firmware == "efi");
  CHECK(s3.boot_order == std::vector<std::string>{"disk", "network"});
  CHECK(spec_from_config(config_of(*vms, "vm-2"), pgs).firmware == "bios");
  CHECK(s3.nics.at(0).adapter == "vmxnet3");
}

TEST_CASE("vsphere spec: a port group the networks do not list keeps its key") {
  auto vms = load("vms.xml");
  const VmSpec s = spec_from_config(config_of(*vms, "vm-1"), {});
  CHECK(s.nics.at(0).network.rfind("dvportgroup-", 0) == 0);
}

TEST_CASE("vsphere spec: CreateVM's config lists the VM's devices in the order vSphere's schema wants") {
  VmSpec s;
  s.name = "web";
  s.vcpus = 4;
  s.memory_mb = 4096;
  s.disks = {{"root", 20, "", "", true}, {"", 5, "", "ssd", false}};
  s.nics = {{"wan", "00:50:56:AB:CD:EF", 0, "e1000"}, {"VM Network", "", 0, ""}};
  s.cdrom = "iso/netinst.iso";
  s.firmware = "efi";
  s.annotation = "a & b <c>";
  CreatePlan plan;
  PortGroup dv{"wan", "dvportgroup-25", true, "dvportgroup-25", "uuid-1", 0};
  PortGroup std_net{"VM Network", "network-7", false, "", "", 0};
  plan.nics = {dv, std_net};
  plan.datastores = {"LocalDS_0", "ssd"};
  plan.vm_datastore = "LocalDS_0";
  const std::string xml = "<x xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">" + create_spec_xml(s, plan) + "</x>";
  pugi::xml_document doc;
  REQUIRE(doc.load_string(xml.c_str()));
  const pugi::xml_node config = doc.child("x").child("config");
  std::vector<std::string> order;
  for (auto c : config.children()) order.push_back(c.name());
  // VirtualMachineConfigSpec's elements, as the WSDL (and govmomi's types.go) order them.
  const std::vector<std::string> wsdl{"name", "guestId", "annotation", "files", "numCPUs", "memoryMB", "deviceChange", "firmware"};
  std::size_t at = 0;
  for (const auto& name : order) {
    while (at < wsdl.size() && wsdl[at] != name) ++at;
    CHECK_MESSAGE(at < wsdl.size(), "element out of order: " << name);
  }
  CHECK(std::string(config.child("annotation").text().get()) == "a & b <c>");
  CHECK(std::string(config.child("guestId").text().get()) == "otherGuest64");
  CHECK(std::string(config.child("files").child("vmPathName").text().get()) == "[LocalDS_0]");
  auto files = doc.select_nodes("//fileName");
  REQUIRE(files.size() == 3);
  CHECK(std::string(files[0].node().text().get()) == "[LocalDS_0] web/root.vmdk");
  CHECK(std::string(files[1].node().text().get()) == "[ssd] web/web_1.vmdk");
  CHECK(std::string(files[2].node().text().get()) == "[LocalDS_0] iso/netinst.iso");
  CHECK(std::string(doc.select_node("//macAddress").node().text().get()) == "00:50:56:ab:cd:ef");
  CHECK(std::string(doc.select_node("//portgroupKey").node().text().get()) == "dvportgroup-25");
  CHECK(std::string(doc.select_node("//deviceName").node().text().get()) == "VM Network");
  CHECK(doc.select_nodes("//device[@xsi:type='VirtualVmxnet3']").size() == 1);  // the default adapter
  CHECK(std::string(doc.select_node("//device[@xsi:type='VirtualDisk'][1]/capacityInKB").node().text().get()) == "20971520");
  // VirtualDevice's own order: key, backing, connectable, controllerKey, unitNumber, then the subtype's.
  std::vector<std::string> disk;
  for (auto c : doc.select_node("//device[@xsi:type='VirtualDisk']").node().children()) disk.push_back(c.name());
  CHECK(disk == std::vector<std::string>{"key", "backing", "controllerKey", "unitNumber", "capacityInKB"});

  s.nics[0].adapter = "rtl8139";
  CHECK_THROWS_WITH_AS(create_spec_xml(s, plan), doctest::Contains("no NIC adapter 'rtl8139'"), std::runtime_error);
}

TEST_CASE("vsphere spec: the boot order names the created VM's first disk and NIC by their keys") {
  auto vms = load("vms.xml");
  VmSpec s;
  s.name = "vm-1";
  s.boot_order = {"cdrom", "network", "disk"};
  pugi::xml_document doc;
  const std::string xml = "<x xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">" +
                          boot_spec_xml(s, config_of(*vms, "vm-1")) + "</x>";
  REQUIRE(doc.load_string(xml.c_str()));
  auto items = doc.select_nodes("//bootOrder");
  REQUIRE(items.size() == 3);
  CHECK(std::string(items[0].node().attribute("xsi:type").value()) == "VirtualMachineBootOptionsBootableCdromDevice");
  CHECK(std::string(items[1].node().child("deviceKey").text().get()) == "1440703602");  // the E1000 in the fixture
  CHECK(std::string(items[2].node().child("deviceKey").text().get()) == "1697971134");  // disk0 (unit 0)
  s.boot_order = {"floppy"};
  CHECK_THROWS_WITH_AS(boot_spec_xml(s, config_of(*vms, "vm-1")), doctest::Contains("unknown boot device 'floppy'"),
                       std::runtime_error);
}

TEST_CASE("vsphere spec: a VM's raw config stands on its own as XML") {
  // vCenter declares xsi on the envelope only: the serialized <val> must carry it.
  const char* envelope =
      "<soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\" "
      "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><soapenv:Body><R xmlns=\"urn:vim25\"><val "
      "xsi:type=\"VirtualMachineConfigInfo\"><name>a</name></val></R></soapenv:Body></soapenv:Envelope>";
  pugi::xml_document doc;
  REQUIRE(doc.load_string(envelope));
  const std::string raw = serialize(doc.select_node("//*[local-name()='val']").node());
  pugi::xml_document again;
  REQUIRE(again.load_string(raw.c_str()));
  CHECK(std::string(again.first_child().attribute("xmlns:xsi").value()) == "http://www.w3.org/2001/XMLSchema-instance");
  CHECK(std::string(again.first_child().attribute("xmlns").value()) == "urn:vim25");
  CHECK(xsi_type(again.first_child()) == "VirtualMachineConfigInfo");
}

TEST_CASE("vsphere soap: faults give the server's message, a free ESXi licence says what it means") {
  bool found = false;
  auto login = load("login_fault.xml");
  Fault f = parse_fault(*login, &found);
  CHECK(found);
  CHECK(f.type == "InvalidLogin");
  CHECK(fault_line(f) == "Login failure");

  auto restricted = load("restricted_version_fault.xml");
  f = parse_fault(*restricted, &found);
  CHECK(found);
  CHECK(f.type == "RestrictedVersion");
  CHECK(fault_line(f) ==
        "the ESXi host's licence does not allow changes through the API (free ESXi): "
        "Current license or ESXi version prohibits execution of the requested operation.");

  auto ok = load("vms.xml");
  parse_fault(*ok, &found);
  CHECK_FALSE(found);

  // A task's error (TaskInfo.error, a LocalizedMethodFault) names its fault by xsi:type too.
  auto task = load("task_error.xml");
  CHECK(xsi_type(task->select_node("//*[local-name()='error']/*[local-name()='fault']").node()) == "InvalidPowerState");
}

TEST_CASE("vsphere spec: datastore paths") {
  CHECK(datastore_of("[LocalDS_0] vm/a.vmdk") == "LocalDS_0");
  CHECK(path_in_datastore("[LocalDS_0] vm/a.vmdk") == "vm/a.vmdk");
  CHECK(datastore_of("vm/a.vmdk").empty());
  CHECK(path_in_datastore("[ds]") == "");
}
