#include "world/real/libvirt_xml.hpp"

#include <pugixml.hpp>

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <stdexcept>

namespace drctl::world::real::libvirt {

namespace {

constexpr const char* kLibosinfoNs = "http://libosinfo.org/xmlns/libvirt/domain/1.0";
constexpr std::int64_t kGiB = 1024LL * 1024 * 1024;

pugi::xml_document parse(const std::string& xml, const char* what) {
  pugi::xml_document doc;
  pugi::xml_parse_result r = doc.load_string(xml.c_str());
  if (!r) throw std::runtime_error(std::string("libvirt: cannot parse the ") + what + " XML: " + r.description());
  return doc;
}

std::string to_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Bytes of `value` in libvirt's `unit` (formatdomain: b, KB = 1000, k/KiB = 1024, …; KiB by default).
std::int64_t to_bytes(std::int64_t value, std::string unit) {
  if (unit.empty()) unit = "KiB";
  static const std::map<std::string, std::int64_t> units = {
      {"b", 1},          {"bytes", 1},
      {"kb", 1000},      {"k", 1024},          {"kib", 1024},
      {"mb", 1000000},   {"m", 1048576},       {"mib", 1048576},
      {"gb", 1000000000}, {"g", kGiB},         {"gib", kGiB},
      {"tb", 1000000000000}, {"t", kGiB * 1024}, {"tib", kGiB * 1024}};
  auto it = units.find(to_lower(unit));
  if (it == units.end()) throw std::runtime_error("libvirt: unknown unit '" + unit + "' in the domain XML");
  return value * it->second;
}

/// The position a target device name (vda, sdb, hdc, xvdaa) stands for, as libvirt counts them.
long target_index(const std::string& dev) {
  std::size_t i = 0;
  for (const char* prefix : {"xvd", "ubd", "vd", "sd", "hd"})
    if (dev.rfind(prefix, 0) == 0) {
      i = std::string(prefix).size();
      break;
    }
  long index = 0;
  for (; i < dev.size() && std::islower(static_cast<unsigned char>(dev[i])); ++i) index = index * 26 + (dev[i] - 'a' + 1);
  return index;
}

DiskSource source_of(const pugi::xml_node& disk) {
  pugi::xml_node s = disk.child("source");
  DiskSource d;
  d.pool = s.attribute("pool").value();
  d.volume = s.attribute("volume").value();
  d.file = s.attribute("file").as_string(s.attribute("dev").value());
  return d;
}

bool has_source(const DiskSource& d) { return !d.volume.empty() || !d.file.empty(); }

/// The device='disk' elements in target order (document order among equals).
std::vector<pugi::xml_node> disk_nodes(const pugi::xml_node& devices) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node d : devices.children("disk"))
    if (std::string(d.attribute("device").as_string("disk")) == "disk") out.push_back(d);
  std::stable_sort(out.begin(), out.end(), [](const pugi::xml_node& a, const pugi::xml_node& b) {
    return target_index(a.child("target").attribute("dev").value()) < target_index(b.child("target").attribute("dev").value());
  });
  return out;
}

std::optional<DiskSource> cdrom_of(const pugi::xml_node& devices) {
  for (pugi::xml_node d : devices.children("disk"))
    if (std::string(d.attribute("device").value()) == "cdrom" && has_source(source_of(d))) return source_of(d);
  return std::nullopt;
}

std::string boot_kind(const std::string& dev) {
  if (dev == "hd") return "disk";
  if (dev == "network" || dev == "cdrom") return dev;
  return "";  // fd: nothing a VmSpec names
}

std::vector<std::string> boot_order(const pugi::xml_node& domain) {
  std::vector<std::string> out;
  for (pugi::xml_node b : domain.child("os").children("boot")) {
    std::string kind = boot_kind(b.attribute("dev").value());
    if (!kind.empty() && std::find(out.begin(), out.end(), kind) == out.end()) out.push_back(kind);
  }
  if (!out.empty()) return out;
  // Per-device <boot order=N/> (libvirt allows one style or the other, not both).
  std::vector<std::pair<int, std::string>> ordered;
  pugi::xml_node devices = domain.child("devices");
  for (pugi::xml_node d : devices.children("disk"))
    if (pugi::xml_node b = d.child("boot"))
      ordered.emplace_back(b.attribute("order").as_int(), std::string(d.attribute("device").as_string("disk")) == "cdrom" ? "cdrom" : "disk");
  for (pugi::xml_node n : devices.children("interface"))
    if (pugi::xml_node b = n.child("boot")) ordered.emplace_back(b.attribute("order").as_int(), "network");
  std::stable_sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [order, kind] : ordered)
    if (std::find(out.begin(), out.end(), kind) == out.end()) out.push_back(kind);
  return out;
}

/// The libosinfo os id in <metadata>, whatever prefix the document gave its namespace.
std::string libosinfo_id(const pugi::xml_node& metadata) {
  for (pugi::xml_node entry : metadata.children()) {
    bool is_libosinfo = false;
    for (pugi::xml_attribute a : entry.attributes())
      if (std::string(a.name()).rfind("xmlns", 0) == 0 && std::string(a.value()) == kLibosinfoNs) is_libosinfo = true;
    if (!is_libosinfo) continue;
    for (pugi::xml_node os : entry.children()) {
      std::string name = os.name();
      if (name == "os" || (name.size() > 3 && name.compare(name.size() - 3, 3, ":os") == 0)) return os.attribute("id").value();
    }
  }
  return "";
}

std::string cdrom_text(const DiskSource& s, const std::optional<VolumeInfo>& vol, const std::string& site_pool) {
  if (!s.volume.empty()) return s.pool == site_pool ? s.volume : s.pool + "/" + s.volume;
  if (vol && !vol->pool.empty()) return vol->pool == site_pool ? vol->name : vol->pool + "/" + vol->name;
  return s.file;
}

std::string strip_extension(const std::string& volume) {
  for (const char* ext : {".qcow2", ".img", ".raw"}) {
    std::string e = ext;
    if (volume.size() > e.size() && volume.compare(volume.size() - e.size(), e.size(), e) == 0)
      return volume.substr(0, volume.size() - e.size());
  }
  return volume;
}

std::string base_name(const std::string& path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

std::int64_t gib_rounded_up(std::int64_t bytes) { return (bytes + kGiB - 1) / kGiB; }

std::string volume_name(const std::string& vm, const std::string& disk, const std::string& format) {
  return vm + "-" + disk + (format == "qcow2" ? ".qcow2" : ".img");
}

std::string disk_name(const std::string& vm, const std::string& volume) {
  std::string prefix = vm + "-";
  if (volume.size() > prefix.size() && volume.rfind(prefix, 0) == 0) {
    std::string rest = strip_extension(volume.substr(prefix.size()));
    if (!rest.empty()) return rest;
  }
  return volume;
}

DiskSource cdrom_source(const std::string& cdrom, const std::string& site_pool) {
  DiskSource s;
  if (cdrom.empty()) return s;
  if (cdrom[0] == '/') {
    s.file = cdrom;
  } else if (std::size_t slash = cdrom.find('/'); slash != std::string::npos) {
    s.pool = cdrom.substr(0, slash);
    s.volume = cdrom.substr(slash + 1);
  } else {
    s.pool = site_pool;
    s.volume = cdrom;
  }
  return s;
}

DomainDisks domain_disks(const std::string& xml) {
  pugi::xml_document doc = parse(xml, "domain");
  pugi::xml_node devices = doc.child("domain").child("devices");
  DomainDisks out;
  for (pugi::xml_node d : disk_nodes(devices)) out.disks.push_back(source_of(d));
  out.cdrom = cdrom_of(devices);
  return out;
}

std::pair<std::string, std::string> domain_name_uuid(const std::string& xml) {
  pugi::xml_document doc = parse(xml, "domain");
  pugi::xml_node d = doc.child("domain");
  return {d.child_value("name"), d.child_value("uuid")};
}

VmSpec spec_from_domain(const std::string& xml, const VolumeResolver& resolve, const std::string& site_pool) {
  pugi::xml_document doc = parse(xml, "domain");
  pugi::xml_node d = doc.child("domain");
  if (!d) throw std::runtime_error("libvirt: the domain XML has no <domain> element");
  VmSpec spec;
  spec.name = d.child_value("name");
  spec.vcpus = d.child("vcpu").text().as_int(1);
  pugi::xml_node mem = d.child("memory");
  spec.memory_mb = to_bytes(mem.text().as_llong(), mem.attribute("unit").value()) / (1024 * 1024);
  spec.annotation = d.child_value("description");
  spec.guest_os = libosinfo_id(d.child("metadata"));
  std::string firmware = d.child("os").attribute("firmware").value();
  // An explicit OVMF loader (<loader type='pflash'>) is EFI too, as older virt-install wrote it.
  std::string loader = d.child("os").child_value("loader");
  spec.firmware = firmware == "efi" || loader.find("OVMF") != std::string::npos ? "efi" : "bios";

  pugi::xml_node devices = d.child("devices");
  for (pugi::xml_node node : disk_nodes(devices)) {
    DiskSource src = source_of(node);
    std::optional<VolumeInfo> vol = resolve(src);
    VmSpec::Disk disk;
    if (vol) {
      disk.name = disk_name(spec.name, vol->name);
      disk.size_gb = gib_rounded_up(vol->capacity);
      disk.datastore = vol->pool;
      disk.thin = vol->allocation < vol->capacity;
      disk.image = vol->backing;
    } else {
      // A file libvirt has no volume for: its name, nothing more is known.
      disk.name = disk_name(spec.name, base_name(src.file.empty() ? src.volume : src.file));
      disk.size_gb = 0;
    }
    spec.disks.push_back(disk);
  }
  for (pugi::xml_node n : devices.children("interface")) {
    VmSpec::Nic nic;
    pugi::xml_node s = n.child("source");
    nic.network = s.attribute("network").as_string(s.attribute("bridge").value());
    nic.mac = to_lower(n.child("mac").attribute("address").value());
    nic.adapter = n.child("model").attribute("type").value();
    nic.vlan = n.child("vlan").child("tag").attribute("id").as_int(0);
    spec.nics.push_back(nic);
  }
  if (std::optional<DiskSource> cd = cdrom_of(devices)) spec.cdrom = cdrom_text(*cd, resolve(*cd), site_pool);
  spec.boot_order = boot_order(d);
  return spec;
}

std::string domain_xml(const VmSpec& spec, const std::string& domain_type, const std::vector<DiskPlan>& disks,
                       const std::optional<DiskSource>& cdrom) {
  pugi::xml_document doc;
  pugi::xml_node d = doc.append_child("domain");
  d.append_attribute("type") = domain_type.c_str();
  d.append_child("name").text() = spec.name.c_str();
  if (!spec.annotation.empty()) d.append_child("description").text() = spec.annotation.c_str();
  if (!spec.guest_os.empty()) {
    pugi::xml_node info = d.append_child("metadata").append_child("libosinfo:libosinfo");
    info.append_attribute("xmlns:libosinfo") = kLibosinfoNs;
    info.append_child("libosinfo:os").append_attribute("id") = spec.guest_os.c_str();
  }
  pugi::xml_node mem = d.append_child("memory");
  mem.append_attribute("unit") = "MiB";
  mem.text() = static_cast<long long>(spec.memory_mb);
  d.append_child("vcpu").text() = spec.vcpus;
  pugi::xml_node os = d.append_child("os");
  if (spec.firmware == "efi") os.append_attribute("firmware") = "efi";
  pugi::xml_node type = os.append_child("type");
  type.append_attribute("arch") = "x86_64";
  type.text() = "hvm";
  for (const std::string& b : spec.boot_order)
    os.append_child("boot").append_attribute("dev") = b == "disk" ? "hd" : b.c_str();
  // ACPI: without it a guest cannot be shut down gracefully and EFI guests do not boot.
  d.append_child("features").append_child("acpi");

  pugi::xml_node devices = d.append_child("devices");
  for (std::size_t i = 0; i < disks.size(); ++i) {
    pugi::xml_node disk = devices.append_child("disk");
    disk.append_attribute("type") = "volume";
    disk.append_attribute("device") = "disk";
    pugi::xml_node driver = disk.append_child("driver");
    driver.append_attribute("name") = "qemu";
    driver.append_attribute("type") = disks[i].format.c_str();
    pugi::xml_node src = disk.append_child("source");
    src.append_attribute("pool") = disks[i].pool.c_str();
    src.append_attribute("volume") = disks[i].volume.c_str();
    pugi::xml_node target = disk.append_child("target");
    target.append_attribute("dev") = ("vd" + std::string(1, static_cast<char>('a' + i))).c_str();
    target.append_attribute("bus") = "virtio";
  }
  if (cdrom) {
    pugi::xml_node disk = devices.append_child("disk");
    disk.append_attribute("type") = cdrom->file.empty() ? "volume" : "file";
    disk.append_attribute("device") = "cdrom";
    pugi::xml_node src = disk.append_child("source");
    if (cdrom->file.empty()) {
      src.append_attribute("pool") = cdrom->pool.c_str();
      src.append_attribute("volume") = cdrom->volume.c_str();
    } else {
      src.append_attribute("file") = cdrom->file.c_str();
    }
    pugi::xml_node target = disk.append_child("target");
    target.append_attribute("dev") = "sda";
    target.append_attribute("bus") = "sata";
    disk.append_child("readonly");
  }
  for (const VmSpec::Nic& nic : spec.nics) {
    pugi::xml_node n = devices.append_child("interface");
    n.append_attribute("type") = "network";
    if (!nic.mac.empty()) n.append_child("mac").append_attribute("address") = to_lower(nic.mac).c_str();
    n.append_child("source").append_attribute("network") = nic.network.c_str();
    n.append_child("model").append_attribute("type") = nic.adapter.empty() ? "virtio" : nic.adapter.c_str();
    if (nic.vlan != 0) n.append_child("vlan").append_child("tag").append_attribute("id") = nic.vlan;
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
  return out.str();
}

std::string volume_xml(const std::string& name, std::int64_t capacity, bool thin, const std::string& format,
                       const std::string& backing_path, const std::string& backing_format) {
  pugi::xml_document doc;
  pugi::xml_node v = doc.append_child("volume");
  v.append_child("name").text() = name.c_str();
  pugi::xml_node cap = v.append_child("capacity");
  cap.append_attribute("unit") = "bytes";
  cap.text() = static_cast<long long>(capacity);
  pugi::xml_node alloc = v.append_child("allocation");
  alloc.append_attribute("unit") = "bytes";
  alloc.text() = static_cast<long long>(thin ? 0 : capacity);
  if (!format.empty()) v.append_child("target").append_child("format").append_attribute("type") = format.c_str();
  if (!backing_path.empty()) {
    pugi::xml_node b = v.append_child("backingStore");
    b.append_child("path").text() = backing_path.c_str();
    if (!backing_format.empty()) b.append_child("format").append_attribute("type") = backing_format.c_str();
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
  return out.str();
}

}  // namespace drctl::world::real::libvirt
