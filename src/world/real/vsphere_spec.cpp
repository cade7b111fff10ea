#include "world/real/vsphere_spec.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include "world/real/vsphere_soap.hpp"

namespace drctl::world::real::vsphere {
namespace {

// vSphere's virtual NIC types and VmSpec's adapter names.
const std::map<std::string, std::string>& adapter_names() {
  static const std::map<std::string, std::string> m{
      {"VirtualVmxnet3", "vmxnet3"}, {"VirtualE1000", "e1000"},     {"VirtualE1000e", "e1000e"},
      {"VirtualVmxnet2", "vmxnet2"}, {"VirtualVmxnet", "vmxnet"},   {"VirtualPCNet32", "pcnet32"},
      {"VirtualSriovEthernetCard", "sriov"}, {"VirtualVmxnet3Vrdma", "vmxnet3vrdma"}};
  return m;
}

std::string adapter_type(const std::string& adapter) {
  if (adapter.empty()) return "VirtualVmxnet3";  // vSphere's recommended NIC for current guests
  for (const auto& [type, name] : adapter_names())
    if (name == adapter) return type;
  std::string known;
  for (const auto& [type, name] : adapter_names()) known += (known.empty() ? "" : ", ") + name;
  throw std::runtime_error("vSphere has no NIC adapter '" + adapter + "' (it has " + known + ")");
}

std::string text(const pugi::xml_node& node, std::string_view name) { return child(node, name).text().get(); }

std::int64_t number(const pugi::xml_node& node, std::string_view name) {
  const std::string t = text(node, name);
  return t.empty() ? 0 : std::stoll(t);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The VM's devices of the given kinds, as nodes.
std::vector<pugi::xml_node> devices(const pugi::xml_node& config) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node d = child(config, "hardware").first_child(); d; d = d.next_sibling()) {
    std::string_view n = d.name();
    const auto colon = n.find(':');
    if (colon != std::string_view::npos) n = n.substr(colon + 1);
    if (n == "device") out.push_back(d);
  }
  return out;
}

std::vector<pugi::xml_node> disks_in_order(const pugi::xml_node& config) {
  std::vector<pugi::xml_node> disks;
  for (const auto& d : devices(config))
    if (xsi_type(d) == "VirtualDisk") disks.push_back(d);
  std::stable_sort(disks.begin(), disks.end(), [](const pugi::xml_node& a, const pugi::xml_node& b) {
    return std::make_tuple(number(a, "controllerKey"), number(a, "unitNumber")) <
           std::make_tuple(number(b, "controllerKey"), number(b, "unitNumber"));
  });
  return disks;
}

bool is_nic(const pugi::xml_node& d) { return adapter_names().count(xsi_type(d)) > 0; }

// "vm-1-disk0" from "[ds] vm-1/vm-1-disk0.vmdk".
std::string disk_name(const std::string& file) {
  std::string p = path_in_datastore(file);
  const auto slash = p.rfind('/');
  if (slash != std::string::npos) p = p.substr(slash + 1);
  if (p.size() > 5 && p.compare(p.size() - 5, 5, ".vmdk") == 0) p.resize(p.size() - 5);
  return p;
}

std::string element(std::string_view name, const std::string& value) {
  std::string n(name);
  return "<" + n + ">" + xml_escape(value) + "</" + n + ">";
}

std::string connectable() {
  return "<connectable><startConnected>true</startConnected><allowGuestControl>true</allowGuestControl>"
         "<connected>false</connected></connectable>";
}

std::string nic_backing(const PortGroup& pg) {
  if (pg.distributed)
    return "<backing xsi:type=\"VirtualEthernetCardDistributedVirtualPortBackingInfo\"><port>" +
           element("switchUuid", pg.switch_uuid) + element("portgroupKey", pg.key) + "</port></backing>";
  return "<backing xsi:type=\"VirtualEthernetCardNetworkBackingInfo\">" + element("deviceName", pg.name) +
         moref("network", "Network", pg.moref) + "</backing>";
}

constexpr int kScsiKey = -100;  // the new VM's SCSI controller (temporary key)
constexpr int kIdeKey = 200;    // vSphere gives every new VM IDE controllers 200 and 201

}  // namespace

std::string datastore_of(const std::string& path) {
  if (path.empty() || path[0] != '[') return "";
  const auto close = path.find(']');
  return close == std::string::npos ? "" : path.substr(1, close - 1);
}

std::string path_in_datastore(const std::string& path) {
  if (path.empty() || path[0] != '[') return path;
  const auto close = path.find(']');
  if (close == std::string::npos) return path;
  std::string rest = path.substr(close + 1);
  while (!rest.empty() && rest[0] == ' ') rest.erase(0, 1);
  return rest;
}

std::string serialize(const pugi::xml_node& node) {
  // The node may use prefixes declared on its ancestors (vCenter declares xsi on the envelope):
  // a copy carries every namespace declaration in scope, so the text stands on its own.
  pugi::xml_document doc;
  pugi::xml_node copy = doc.append_copy(node);
  for (pugi::xml_node up = node.parent(); up; up = up.parent())
    for (pugi::xml_attribute a = up.first_attribute(); a; a = a.next_attribute()) {
      const std::string_view name = a.name();
      if ((name == "xmlns" || name.substr(0, 6) == "xmlns:") && !copy.attribute(a.name()))
        copy.append_attribute(a.name()) = a.value();
    }
  std::ostringstream out;
  copy.print(out, "", pugi::format_raw | pugi::format_no_declaration);
  return out.str();
}

std::vector<std::string> disk_files(const pugi::xml_node& config) {
  std::vector<std::string> out;
  for (const auto& d : disks_in_order(config)) out.push_back(text(child(d, "backing"), "fileName"));
  return out;
}

VmSpec spec_from_config(const pugi::xml_node& config, const std::vector<PortGroup>& networks) {
  VmSpec spec;
  spec.name = text(config, "name");
  const pugi::xml_node hw = child(config, "hardware");
  spec.vcpus = static_cast<int>(number(hw, "numCPU"));
  spec.memory_mb = number(hw, "memoryMB");
  spec.guest_os = text(config, "guestId");
  spec.annotation = text(config, "annotation");
  spec.firmware = text(config, "firmware").empty() ? "bios" : text(config, "firmware");

  for (const auto& d : disks_in_order(config)) {
    VmSpec::Disk disk;
    const pugi::xml_node backing = child(d, "backing");
    const std::string file = text(backing, "fileName");
    disk.name = disk_name(file);
    disk.datastore = datastore_of(file);
    const std::int64_t bytes = number(d, "capacityInBytes") ? number(d, "capacityInBytes") : number(d, "capacityInKB") * 1024;
    const std::int64_t gb = std::int64_t(1) << 30;
    disk.size_gb = (bytes + gb - 1) / gb;
    disk.thin = text(backing, "thinProvisioned") == "true";
    spec.disks.push_back(disk);
  }
  for (const auto& d : devices(config)) {
    if (!is_nic(d)) continue;
    VmSpec::Nic nic;
    nic.adapter = adapter_names().at(xsi_type(d));
    nic.mac = lower(text(d, "macAddress"));
    const pugi::xml_node backing = child(d, "backing");
    if (xsi_type(backing) == "VirtualEthernetCardDistributedVirtualPortBackingInfo") {
      const std::string key = text(child(backing, "port"), "portgroupKey");
      for (const auto& pg : networks)
        if (pg.distributed && pg.key == key) nic.network = pg.name, nic.vlan = pg.vlan;
      if (nic.network.empty()) nic.network = key;  // a port group we cannot read: keep its key
    } else {
      nic.network = text(backing, "deviceName");
      for (const auto& pg : networks)
        if (!pg.distributed && pg.name == nic.network) nic.vlan = pg.vlan;
    }
    spec.nics.push_back(nic);
  }
  for (const auto& d : devices(config))
    if (xsi_type(d) == "VirtualCdrom" && xsi_type(child(d, "backing")) == "VirtualCdromIsoBackingInfo") {
      spec.cdrom = text(child(d, "backing"), "fileName");
      break;
    }
  for (pugi::xml_node b = child(child(config, "bootOptions"), "bootOrder"); b; b = b.next_sibling()) {
    if (b.type() != pugi::node_element) continue;
    const std::string type = xsi_type(b);
    std::string kind = type == "VirtualMachineBootOptionsBootableCdromDevice"      ? "cdrom"
                       : type == "VirtualMachineBootOptionsBootableDiskDevice"     ? "disk"
                       : type == "VirtualMachineBootOptionsBootableEthernetDevice" ? "network"
                                                                                   : "";
    if (!kind.empty() && (spec.boot_order.empty() || spec.boot_order.back() != kind)) spec.boot_order.push_back(kind);
  }
  return spec;
}

std::string create_spec_xml(const VmSpec& spec, const CreatePlan& plan) {
  std::string devs;
  if (!spec.disks.empty())
    devs += "<deviceChange><operation>add</operation><device xsi:type=\"ParaVirtualSCSIController\"><key>" +
            std::to_string(kScsiKey) + "</key><busNumber>0</busNumber><sharedBus>noSharing</sharedBus></device></deviceChange>";
  int unit = 0;
  for (std::size_t i = 0; i < spec.disks.size(); ++i) {
    const auto& disk = spec.disks[i];
    if (unit == 7) ++unit;  // the controller's own unit
    if (unit > 15) throw std::runtime_error("VM " + spec.name + " has more than 15 disks: one SCSI controller takes 15");
    const std::string name = disk.name.empty() ? spec.name + "_" + std::to_string(i) : disk.name;
    std::string file = "[" + plan.datastores[i] + "] " + spec.name + "/" + name + ".vmdk";
    if (!disk.image.empty()) file = datastore_of(disk.image).empty() ? "[" + plan.datastores[i] + "] " + disk.image : disk.image;
    devs += "<deviceChange><operation>add</operation>";
    if (disk.image.empty()) devs += "<fileOperation>create</fileOperation>";  // an image is attached as it is
    devs += "<device xsi:type=\"VirtualDisk\"><key>" + std::to_string(-200 - int(i)) + "</key>" +
            "<backing xsi:type=\"VirtualDiskFlatVer2BackingInfo\">" + element("fileName", file) +
            "<diskMode>persistent</diskMode>" + element("thinProvisioned", disk.thin ? "true" : "false") + "</backing>" +
            "<controllerKey>" + std::to_string(kScsiKey) + "</controllerKey><unitNumber>" + std::to_string(unit++) +
            "</unitNumber><capacityInKB>" + std::to_string(disk.size_gb * 1024 * 1024) + "</capacityInKB></device></deviceChange>";
  }
  for (std::size_t i = 0; i < spec.nics.size(); ++i) {
    const auto& nic = spec.nics[i];
    devs += "<deviceChange><operation>add</operation><device xsi:type=\"" + adapter_type(nic.adapter) + "\"><key>" +
            std::to_string(-300 - int(i)) + "</key>" + nic_backing(plan.nics[i]) + connectable() +
            element("addressType", nic.mac.empty() ? "generated" : "manual") +
            (nic.mac.empty() ? "" : element("macAddress", lower(nic.mac))) + "</device></deviceChange>";
  }
  if (!spec.cdrom.empty()) {
    const std::string iso = datastore_of(spec.cdrom).empty() ? "[" + plan.vm_datastore + "] " + spec.cdrom : spec.cdrom;
    devs += "<deviceChange><operation>add</operation><device xsi:type=\"VirtualCdrom\"><key>-400</key>"
            "<backing xsi:type=\"VirtualCdromIsoBackingInfo\">" +
            element("fileName", iso) + "</backing>" + connectable() + "<controllerKey>" + std::to_string(kIdeKey) +
            "</controllerKey><unitNumber>0</unitNumber></device></deviceChange>";
  }
  if (spec.firmware != "bios" && spec.firmware != "efi")
    throw std::runtime_error("VM " + spec.name + ": firmware '" + spec.firmware + "' is neither bios nor efi");
  return "<config>" + element("name", spec.name) + element("guestId", spec.guest_os.empty() ? "otherGuest64" : spec.guest_os) +
         (spec.annotation.empty() ? "" : element("annotation", spec.annotation)) + "<files>" +
         element("vmPathName", "[" + plan.vm_datastore + "]") + "</files>" + element("numCPUs", std::to_string(spec.vcpus)) +
         element("memoryMB", std::to_string(spec.memory_mb)) + devs + element("firmware", spec.firmware) + "</config>";
}

std::string boot_spec_xml(const VmSpec& spec, const pugi::xml_node& config) {
  if (spec.boot_order.empty()) return "";
  std::string first_disk, first_nic;
  const auto disks = disks_in_order(config);
  if (!disks.empty()) first_disk = text(disks.front(), "key");
  for (const auto& d : devices(config))
    if (is_nic(d) && first_nic.empty()) first_nic = text(d, "key");
  std::string order;
  for (const auto& kind : spec.boot_order) {
    if (kind == "cdrom") {
      order += "<bootOrder xsi:type=\"VirtualMachineBootOptionsBootableCdromDevice\"/>";
    } else if (kind == "disk") {
      if (first_disk.empty()) throw std::runtime_error("VM " + spec.name + " boots from disk but has none");
      order += "<bootOrder xsi:type=\"VirtualMachineBootOptionsBootableDiskDevice\">" + element("deviceKey", first_disk) + "</bootOrder>";
    } else if (kind == "network") {
      if (first_nic.empty()) throw std::runtime_error("VM " + spec.name + " boots from the network but has no NIC");
      order += "<bootOrder xsi:type=\"VirtualMachineBootOptionsBootableEthernetDevice\">" + element("deviceKey", first_nic) +
               "</bootOrder>";
    } else {
      throw std::runtime_error("VM " + spec.name + ": unknown boot device '" + kind + "' (cdrom, disk or network)");
    }
  }
  return "<spec><bootOptions>" + order + "</bootOptions></spec>";
}

}  // namespace drctl::world::real::vsphere
