#include "capture/vm_definitions.hpp"

#include <nlohmann/json.hpp>

namespace drctl::capture {

namespace {

using json = nlohmann::json;

json definition(const world::VmSpec& spec) {
  json nics = json::array(), disks = json::array();
  for (const auto& n : spec.nics) nics.push_back({{"network", n.network}, {"mac", n.mac}});
  for (const auto& d : spec.disks)
    disks.push_back({{"name", d.name}, {"size", std::to_string(d.size_gb) + "G"}, {"image", d.image}});
  return json{{"vcpus", spec.vcpus}, {"memory", std::to_string(spec.memory_mb) + "M"}, {"disks", disks},
              {"nics", nics},        {"boot", spec.boot_order},                         {"cdrom", spec.cdrom}};
}

}  // namespace

std::map<std::string, std::string> vm_definition_files(world::Hypervisor& hypervisor) {
  std::map<std::string, std::string> files;
  for (const auto& vm : hypervisor.list()) files[vm.spec.name + ".json"] = definition(vm.spec).dump(2) + "\n";
  return files;
}

}  // namespace drctl::capture
