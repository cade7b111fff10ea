#include "world/vm_spec.hpp"

#include <algorithm>
#include <cctype>

namespace drctl::world {

using json = nlohmann::json;

std::int64_t parse_size_mb(const json& value, const std::string& default_unit) {
  const std::string text = value.is_number_integer() ? std::to_string(value.get<std::int64_t>()) + default_unit
                           : value.is_string()       ? value.get<std::string>()
                                                     : value.dump();
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  std::string unit = text.substr(digits);
  if (!unit.empty() && (unit.substr(1) == "B" || unit.substr(1) == "iB")) unit.resize(1);
  if (digits == 0 || digits > 12 || (unit != "M" && unit != "G" && unit != "T"))
    throw std::invalid_argument("'" + text + "' is not a size (like 512M, 8G, 2T)");
  const std::int64_t n = std::stoll(text.substr(0, digits));
  return unit == "M" ? n : unit == "G" ? n * 1024 : n * 1024 * 1024;
}

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& message) {
  throw std::invalid_argument("vm." + field + ": " + message);
}

std::string text(const json& obj, const std::string& key, const std::string& field) {
  if (!obj.contains(key)) return "";
  if (!obj[key].is_string()) bad(field, "expected a string, got " + obj[key].dump());
  return obj[key].get<std::string>();
}

std::int64_t size(const json& obj, const std::string& key, const std::string& field, std::int64_t fallback,
                  const std::string& unit) {
  if (!obj.contains(key)) return fallback;
  try {
    return parse_size_mb(obj[key], unit);
  } catch (const std::invalid_argument& e) {
    bad(field, e.what());
  }
}

bool is_mac(const std::string& mac) {
  if (mac.size() != 17) return false;
  for (std::size_t i = 0; i < mac.size(); ++i)
    if (i % 3 == 2 ? mac[i] != ':' : !std::isxdigit(static_cast<unsigned char>(mac[i]))) return false;
  return true;
}

}  // namespace

VmSpec vm_spec_from_json(const std::string& name, const json& vm) {
  if (!vm.is_object()) throw std::invalid_argument("vm: expected a map (vcpus, memory, disks, nics, boot, cdrom)");
  VmSpec spec;
  spec.name = name;
  if (vm.contains("vcpus")) {
    if (!vm["vcpus"].is_number_integer() || vm["vcpus"].get<int>() < 1) bad("vcpus", "expected a positive whole number");
    spec.vcpus = vm["vcpus"].get<int>();
  }
  spec.memory_mb = size(vm, "memory", "memory", 1024, "M");
  if (vm.contains("disks")) {
    if (!vm["disks"].is_array()) bad("disks", "expected a list");
    for (std::size_t i = 0; i < vm["disks"].size(); ++i) {
      const json& d = vm["disks"][i];
      const std::string field = "disks[" + std::to_string(i) + "]";
      if (!d.is_object()) bad(field, "expected a map (name, size, image)");
      std::string disk_name = text(d, "name", field + ".name");
      spec.disks.push_back({disk_name.empty() ? "disk" + std::to_string(i) : disk_name,
                            size(d, "size", field + ".size", 0, "G") / 1024, text(d, "image", field + ".image")});
    }
  }
  if (!vm.contains("nics") || !vm["nics"].is_array() || vm["nics"].empty()) bad("nics", "a VM needs at least one NIC");
  for (std::size_t i = 0; i < vm["nics"].size(); ++i) {
    const json& n = vm["nics"][i];
    const std::string field = "nics[" + std::to_string(i) + "]";
    if (!n.is_object()) bad(field, "expected a map (network, mac)");
    std::string network = text(n, "network", field + ".network"), mac = text(n, "mac", field + ".mac");
    if (network.empty()) bad(field + ".network", "missing");
    std::transform(mac.begin(), mac.end(), mac.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!is_mac(mac)) bad(field + ".mac", "'" + mac + "' is not a MAC address like 00:50:56:aa:00:01");
    spec.nics.push_back({network, mac});
  }
  spec.cdrom = text(vm, "cdrom", "cdrom");
  if (vm.contains("boot")) {
    if (!vm["boot"].is_array()) bad("boot", "expected a list of disk, network, cdrom");
    for (const auto& dev : vm["boot"]) {
      if (!dev.is_string() || (dev != "disk" && dev != "network" && dev != "cdrom"))
        bad("boot", dev.dump() + " is not disk, network or cdrom");
      spec.boot_order.push_back(dev.get<std::string>());
    }
  } else {
    spec.boot_order = spec.cdrom.empty() ? std::vector<std::string>{"disk", "network"} : std::vector<std::string>{"disk", "cdrom"};
  }
  return spec;
}

}  // namespace drctl::world
