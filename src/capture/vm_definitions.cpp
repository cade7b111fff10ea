#include "capture/vm_definitions.hpp"

#include "world/vm_spec.hpp"

namespace drctl::capture {

std::map<std::string, std::string> vm_definition_files(const std::vector<world::VmState>& vms) {
  std::map<std::string, std::string> files;
  for (const auto& vm : vms) {
    files[vm.spec.name + ".json"] = world::vm_spec_to_json(vm.spec).dump(2) + "\n";
    if (!vm.raw.empty()) files[vm.spec.name + ".raw"] = vm.raw;
  }
  return files;
}

}  // namespace drctl::capture
