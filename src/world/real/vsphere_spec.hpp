// VmSpec <-> vSphere XML: a VM's VirtualMachineConfigInfo (as the property collector returns it)
// read into a VmSpec, and a VmSpec written as the VirtualMachineConfigSpec of CreateVM_Task.
// Pure functions over XML text, so the mapping is unit-tested on fixtures captured from vcsim.
//
// The rules a round trip relies on:
// - A disk's name is its vmdk file's base name: "[ds] web/root.vmdk" is the disk "root" on
//   datastore "ds"; define writes disk "root" of VM "web" as "[ds] web/root.vmdk" (a disk without
//   a name gets "<vm>_<index>"). Disks are listed in controller (bus) then unit order.
// - cdrom is the ISO's datastore path as vSphere writes it, "[ds] iso/x.iso"; define attaches
//   exactly that path (a path without "[ds]" is taken on the default datastore).
// - boot_order keeps the kinds in order with repeats folded ("network", "disk", "cdrom"): vSphere
//   lists each bootable NIC and disk; define names the first disk and the first NIC.
#pragma once
#include <string>
#include <vector>

#include <pugixml.hpp>

#include "world/world.hpp"

namespace drctl::world::real::vsphere {

/// A network VMs can be attached to: a standard port group (a Network object) or a distributed
/// port group (with its switch's UUID and key, as a NIC's backing names it).
struct PortGroup {
  std::string name;
  std::string moref;        // Network / DistributedVirtualPortgroup object id
  bool distributed = false;
  std::string key;          // the distributed port group's key
  std::string switch_uuid;  // its switch's UUID
  int vlan = 0;             // its VLAN id when the port config says one (0: none or unknown)
};

/// The VmSpec of a VM from its `config` value (VirtualMachineConfigInfo) and the datacenter's
/// networks (to name a NIC's distributed port group and VLAN).
VmSpec spec_from_config(const pugi::xml_node& config, const std::vector<PortGroup>& networks);

/// What define has resolved before writing the spec: each NIC's port group, each disk's datastore.
struct CreatePlan {
  std::vector<PortGroup> nics;          // one per spec.nics, in order
  std::vector<std::string> datastores;  // one per spec.disks, in order
  std::string vm_datastore;             // where the VM's own files go (the first disk's, else the default)
};

/// The <config> argument of CreateVM_Task (a VirtualMachineConfigSpec, elements in the WSDL's
/// order: vSphere's deserializer insists on it). Devices get negative temporary keys.
std::string create_spec_xml(const VmSpec& spec, const CreatePlan& plan);

/// A VirtualMachineConfigSpec for ReconfigVM_Task setting the boot order, naming the devices by
/// the keys the server gave them (read from the created VM's `config`); "" when the spec has none.
std::string boot_spec_xml(const VmSpec& spec, const pugi::xml_node& config);

/// The backing file ("[ds] vm/disk.vmdk") of each VirtualDisk, in the order of VmSpec's disks.
std::vector<std::string> disk_files(const pugi::xml_node& config);

/// A node serialized as XML text, without an XML declaration.
std::string serialize(const pugi::xml_node& node);

/// The datastore name of "[ds] path" ("" when the path has none).
std::string datastore_of(const std::string& path);
/// The path after "[ds] ".
std::string path_in_datastore(const std::string& path);

}  // namespace drctl::world::real::vsphere
