// The Hypervisor of a libvirt/KVM host, through libvirt's C API: domains captured as VmSpecs
// (with their inactive domain XML as `raw`), defined from VmSpecs with their volumes created in
// the site's storage pool, started, powered off and destroyed; disks streamed with
// virStorageVolDownload/Upload.
//
// One connection for the object's life, opened on first use: libvirt's test driver keeps its
// whole state in the connection, and a remote host (qemu+ssh://) costs an SSH login per connect.
// A mutex serialises the calls: libvirt connections are thread-safe, but define (check, create
// volumes, define) must not interleave with another define of the same name.
//
// Decisions an operator should know (see also libvirt_xml.hpp for the XML mapping):
// - new disks are volumes VM-DISK.qcow2 (thin: qcow2, allocation 0) or VM-DISK.img (thick: raw,
//   fully allocated) in a directory-like pool; in a block pool (logical, disk, iscsi, rbd, zfs …)
//   raw with no format;
// - destroy() deletes the VM's disk volumes that drctl names (VM-*), as vSphere's Destroy_Task
//   deletes a VM's disks; a volume named otherwise (shared, imported by hand) and CD-ROM images
//   are kept;
// - define() refuses, before creating anything, a VM that exists, a missing network, pool or
//   CD-ROM image, and a disk volume that exists; libvirt itself refuses what its driver refuses
//   (the test driver: a volume beyond the pool's free space).
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "world/real/hypervisor_config.hpp"
#include "world/world.hpp"

namespace drctl::world::real {

/// `uri` with any password in its userinfo replaced by "***" (user:pw@host → user:***@host).
std::string redact_uri(const std::string& uri);

class LibvirtHypervisor : public world::Hypervisor {
 public:
  /// config.url is the connection URI, config.datastore the pool of new volumes ("" → the pool
  /// named "default", else the only pool), config.networks what check() must find. Connects on
  /// first use; config.user/password answer libvirt's authentication questions.
  explicit LibvirtHypervisor(HypervisorConfig config);
  ~LibvirtHypervisor() override;
  LibvirtHypervisor(const LibvirtHypervisor&) = delete;
  LibvirtHypervisor& operator=(const LibvirtHypervisor&) = delete;

  /// Every domain, defined or running, with its inactive XML (never the secure one) as raw.
  std::vector<VmState> list() override;
  void define(const VmSpec& spec) override;
  void start(const std::string& name) override;
  /// virDomainDestroy: a hard power-off.
  void stop(const std::string& name) override;
  /// Powers off if running, undefines (with its NVRAM) and deletes the volumes drctl named for it.
  void destroy(const std::string& name) override;
  /// "libvirt 9.0.0 (QEMU driver) at URI: pool P, networks a, b".
  std::string check() override;
  std::int64_t read_disk(const std::string& vm, std::size_t disk, const ByteSink& sink) override;
  void write_disk(const std::string& vm, std::size_t disk, const ByteSource& source, std::int64_t size) override;

 private:
  struct Connection;
  Connection& connection();  // opens it on first use; mutex_ held
  std::string site_pool();   // the pool new volumes go into; mutex_ held
  [[noreturn]] void fail(const std::string& what);  // throws with libvirt's last error
  std::string scrub(std::string line) const;         // one line, passwords replaced by ***

  HypervisorConfig config_;
  std::mutex mutex_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace drctl::world::real
