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
      if (!d.is_object()) bad(field, "expected a map (name, size, image, datastore, thin)");
      std::string disk_name = text(d, "name", field + ".name");
      VmSpec::Disk disk{disk_name.empty() ? "disk" + std::to_string(i) : disk_name,
                        size(d, "size", field + ".size", 0, "G") / 1024, text(d, "image", field + ".image"),
                        text(d, "datastore", field + ".datastore")};
      if (d.contains("thin")) {
        if (!d["thin"].is_boolean()) bad(field + ".thin", "expected true or false");
        disk.thin = d["thin"].get<bool>();
      }
      spec.disks.push_back(disk);
    }
  }
  if (!vm.contains("nics") || !vm["nics"].is_array() || vm["nics"].empty()) bad("nics", "a VM needs at least one NIC");
  for (std::size_t i = 0; i < vm["nics"].size(); ++i) {
    const json& n = vm["nics"][i];
    const std::string field = "nics[" + std::to_string(i) + "]";
    if (!n.is_object()) bad(field, "expected a map (network, mac, vlan, adapter)");
    std::string network = text(n, "network", field + ".network"), mac = text(n, "mac", field + ".mac");
    if (network.empty()) bad(field + ".network", "missing");
    std::transform(mac.begin(), mac.end(), mac.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!is_mac(mac)) bad(field + ".mac", "'" + mac + "' is not a MAC address like 00:50:56:aa:00:01");
    VmSpec::Nic nic{network, mac, 0, text(n, "adapter", field + ".adapter")};
    if (n.contains("vlan")) {
      if (!n["vlan"].is_number_integer() || n["vlan"].get<int>() < 0 || n["vlan"].get<int>() > 4094)
        bad(field + ".vlan", "expected a VLAN id from 0 to 4094");
      nic.vlan = n["vlan"].get<int>();
    }
    spec.nics.push_back(nic);
  }
  spec.cdrom = text(vm, "cdrom", "cdrom");
  if (vm.contains("firmware")) {
    spec.firmware = text(vm, "firmware", "firmware");
    if (spec.firmware != "bios" && spec.firmware != "efi") bad("firmware", "'" + spec.firmware + "' is not bios or efi");
  }
  spec.guest_os = text(vm, "guest_os", "guest_os");
  spec.annotation = text(vm, "annotation", "annotation");
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

json vm_spec_to_json(const VmSpec& spec) {
  json nics = json::array(), disks = json::array();
  for (const auto& n : spec.nics) {
    json nic{{"network", n.network}, {"mac", n.mac}};
    if (n.vlan) nic["vlan"] = n.vlan;
    if (!n.adapter.empty()) nic["adapter"] = n.adapter;
    nics.push_back(nic);
  }
  for (const auto& d : spec.disks) {
    json disk{{"name", d.name}, {"size", std::to_string(d.size_gb) + "G"}, {"image", d.image}, {"thin", d.thin}};
    if (!d.datastore.empty()) disk["datastore"] = d.datastore;
    disks.push_back(disk);
  }
  json out{{"vcpus", spec.vcpus}, {"memory", std::to_string(spec.memory_mb) + "M"}, {"disks", disks},
           {"nics", nics},        {"boot", spec.boot_order},                         {"cdrom", spec.cdrom},
           {"firmware", spec.firmware}};
  if (!spec.guest_os.empty()) out["guest_os"] = spec.guest_os;
  if (!spec.annotation.empty()) out["annotation"] = spec.annotation;
  return out;
}

std::vector<std::string> vm_spec_differences(const VmSpec& want, const VmSpec& have) {
  std::vector<std::string> out;
  auto differ = [&out](const std::string& what, const std::string& h, const std::string& w) {
    if (h != w) out.push_back(what + " " + (h.empty() ? "none" : h) + ", not " + (w.empty() ? "none" : w));
  };
  differ("vCPUs", std::to_string(have.vcpus), std::to_string(want.vcpus));
  differ("memory", std::to_string(have.memory_mb) + " MB", std::to_string(want.memory_mb) + " MB");
  if (have.disks.size() != want.disks.size()) {
    out.push_back(std::to_string(have.disks.size()) + " disks, not " + std::to_string(want.disks.size()));
  } else {
    for (std::size_t i = 0; i < want.disks.size(); ++i) {
      const auto &w = want.disks[i], &h = have.disks[i];
      const std::string at = "disks[" + std::to_string(i) + "]";
      differ(at + " size", std::to_string(h.size_gb) + " GB", std::to_string(w.size_gb) + " GB");
      if (!w.datastore.empty()) differ(at + " datastore", h.datastore, w.datastore);
    }
  }
  if (have.nics.size() != want.nics.size()) {
    out.push_back(std::to_string(have.nics.size()) + " NICs, not " + std::to_string(want.nics.size()));
  } else {
    for (std::size_t i = 0; i < want.nics.size(); ++i) {
      const auto &w = want.nics[i], &h = have.nics[i];
      const std::string at = "nics[" + std::to_string(i) + "]";
      differ(at + " network", h.network, w.network);
      differ(at + " mac", h.mac, w.mac);
      if (!w.adapter.empty()) differ(at + " adapter", h.adapter, w.adapter);
      if (w.vlan) differ(at + " vlan", std::to_string(h.vlan), std::to_string(w.vlan));
    }
  }
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  differ("boot order", joined(have.boot_order), joined(want.boot_order));
  differ("firmware", have.firmware, want.firmware);
  if (!want.guest_os.empty()) differ("guest OS", have.guest_os, want.guest_os);
  return out;
}

}  // namespace drctl::world
