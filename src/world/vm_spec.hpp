// A VmSpec from the `vm:` map of a site's host — the one reading shared by the actions that create
// VMs and by the simulator that builds the site.
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "world/world.hpp"

namespace drctl::world {

/// "80G", "512M", "2T", or a plain number of `default_unit`s ("M", "G" or "T") → megabytes.
/// Throws std::invalid_argument naming the value.
std::int64_t parse_size_mb(const nlohmann::json& value, const std::string& default_unit = "M");

/// Reads `vm:` — vcpus, memory, disks [{name, size, image, datastore, thin}], nics [{network,
/// mac, vlan, adapter}], boot, cdrom, firmware (bios|efi), guest_os, annotation.
/// Throws std::invalid_argument("vm.FIELD: message") for anything malformed.
VmSpec vm_spec_from_json(const std::string& name, const nlohmann::json& vm);

/// The spec as `vm:` reads it back (vm/NAME.json of a snapshot): every field, sizes as "NM"/"NG".
nlohmann::json vm_spec_to_json(const VmSpec& spec);

/// How the VM `have` (as the hypervisor reports it) differs from `want` (what a site or snapshot
/// asks for), one phrase each ("memory 8192 MB, not 4096 MB", "nics[0].mac …"); empty when it is
/// the same VM. Fields `want` leaves to the provider (an empty datastore, adapter, guest OS, a
/// VLAN of 0) are not compared, nor disk names (providers name disks their own way).
std::vector<std::string> vm_spec_differences(const VmSpec& want, const VmSpec& have);

}  // namespace drctl::world
