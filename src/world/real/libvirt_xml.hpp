// VmSpec <-> libvirt XML (domain and storage volume), with no connection: what the domain XML
// says and what a VmSpec becomes are pure functions, so the mapping is tested apart from libvirt.
// The volumes a domain's disks point at are looked up through a callback the caller supplies
// (LibvirtHypervisor asks the connection).
//
// The mapping, decided here once (README-level detail for operators is in libvirt_hypervisor.hpp):
// - a disk's volume is named VM-DISK.qcow2 (thin) or VM-DISK.img (thick), so the VmSpec's disk
//   name survives a round trip; a volume named otherwise keeps its whole name as the disk's name;
// - thin = the volume's allocation is below its capacity (sparse or qcow2 as created);
// - cdrom: "VOLUME" for a volume in the site's pool, "POOL/VOLUME" for one in another pool, an
//   absolute path for a file in no pool;
// - guest_os: the libosinfo id virt-install writes in <metadata>;
// - boot order: <os><boot dev=…> (hd → disk, network, cdrom), else the per-device <boot order=…>.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "world/world.hpp"

namespace drctl::world::real::libvirt {

/// Where a domain's disk points (<source pool= volume=> or <source file=>).
struct DiskSource {
  std::string pool, volume;  // a pool's volume
  std::string file;          // or a path
};

/// A storage volume as the connection describes it.
struct VolumeInfo {
  std::string pool;  // the pool holding it ("" for a file in no pool)
  std::string name;  // the volume's name (a file's base name when in no pool)
  std::string path;
  std::int64_t capacity = 0, allocation = 0;  // bytes
  std::string backing;  // the volume name of its backing image ("" when none)
};

/// Finds the volume a disk source names; nullopt when libvirt knows none.
using VolumeResolver = std::function<std::optional<VolumeInfo>(const DiskSource&)>;

/// A domain's disks and CD-ROM as they appear in its XML, in target order.
struct DomainDisks {
  std::vector<DiskSource> disks;       // device='disk'
  std::optional<DiskSource> cdrom;     // the first device='cdrom' with a source
};

/// The VmSpec a domain's XML describes. `site_pool` is the pool a bare cdrom name refers to.
/// Throws std::runtime_error when the XML does not parse.
VmSpec spec_from_domain(const std::string& xml, const VolumeResolver& resolve, const std::string& site_pool);

/// The disks and CD-ROM of a domain's XML.
DomainDisks domain_disks(const std::string& xml);

/// The domain's <name> and <uuid>.
std::pair<std::string, std::string> domain_name_uuid(const std::string& xml);

/// What define() decided for one disk.
struct DiskPlan {
  std::string pool, volume;
  std::string format;  // qcow2 or raw
};

/// The domain XML for `spec` of virtualisation type `domain_type` (kvm, qemu, test): disks on
/// `disks` (one per spec disk), the CD-ROM at `cdrom` when set, NICs on their networks with their
/// MACs (adapter default virtio), boot order, firmware, description and libosinfo metadata.
std::string domain_xml(const VmSpec& spec, const std::string& domain_type, const std::vector<DiskPlan>& disks,
                       const std::optional<DiskSource>& cdrom);

/// The XML of a new volume: `capacity` bytes, allocation 0 when thin else all of it, in `format`
/// ("" for a pool that takes no format), backed by `backing_path` (in `backing_format`) when set.
std::string volume_xml(const std::string& name, std::int64_t capacity, bool thin, const std::string& format,
                       const std::string& backing_path = "", const std::string& backing_format = "");

/// VM-DISK.qcow2 for qcow2, VM-DISK.img otherwise.
std::string volume_name(const std::string& vm, const std::string& disk, const std::string& format);

/// The VmSpec disk name of volume `volume` of VM `vm` (the inverse of volume_name; a volume named
/// otherwise keeps its whole name).
std::string disk_name(const std::string& vm, const std::string& volume);

/// Where a VmSpec's cdrom text points ("/path", "POOL/VOLUME", or "VOLUME" in `site_pool`).
DiskSource cdrom_source(const std::string& cdrom, const std::string& site_pool);

/// "10 GiB" style: bytes rounded up to whole GiB.
std::int64_t gib_rounded_up(std::int64_t bytes);

}  // namespace drctl::world::real::libvirt
