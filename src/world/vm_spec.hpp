// A VmSpec from the `vm:` map of a site's host — the one reading shared by the actions that create
// VMs and by the simulator that builds the site.
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "world/world.hpp"

namespace drctl::world {

/// "80G", "512M", "2T", or a plain number of `default_unit`s ("M", "G" or "T") → megabytes.
/// Throws std::invalid_argument naming the value.
std::int64_t parse_size_mb(const nlohmann::json& value, const std::string& default_unit = "M");

/// Reads `vm:` — vcpus, memory, disks [{name, size, image}], nics [{network, mac}], boot, cdrom.
/// Throws std::invalid_argument("vm.FIELD: message") for anything malformed.
VmSpec vm_spec_from_json(const std::string& name, const nlohmann::json& vm);

}  // namespace drctl::world
