// vSphere (vCenter or a standalone ESXi host) as the site's Hypervisor, through the vSphere
// Web Services API (SOAP over HTTPS, vsphere_soap.hpp) — there is no C++ SDK in Debian. VMs are
// read through the property collector over a container view of the datacenter's vmFolder and
// created with CreateVM_Task (vsphere_spec.hpp maps VmSpec to and from vSphere's XML).
//
// Threads: drctl runs steps side by side, so every call holds one mutex — one HTTPS session,
// one request at a time. vSphere tasks are quick to start; the waits are on the server.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "world/real/hypervisor_config.hpp"
#include "world/world.hpp"

namespace pugi {
class xml_document;
class xml_node;
}

namespace drctl::world::real {

namespace vsphere {
class Soap;
struct PortGroup;
}

class VsphereHypervisor : public Hypervisor {
 public:
  /// Remembers the config; connects and logs in on first use and keeps the session cookie.
  explicit VsphereHypervisor(HypervisorConfig config);
  /// Logs out (best effort).
  ~VsphereHypervisor() override;
  VsphereHypervisor(const VsphereHypervisor&) = delete;
  VsphereHypervisor& operator=(const VsphereHypervisor&) = delete;

  /// Every VM of the datacenter (templates too), with its config as `raw`.
  std::vector<VmState> list() override;
  /// Creates the VM; refuses before CreateVM_Task when it exists or a port group or datastore it
  /// names does not.
  void define(const VmSpec& spec) override;
  void start(const std::string& name) override;    // a VM already on stays on
  void stop(const std::string& name) override;     // hard power off; a VM already off stays off
  void reset(const std::string& name);             // hard reset of a running VM
  void destroy(const std::string& name) override;  // powers off first when on
  std::string check() override;
  /// The disk's data file (the "-flat.vmdk" of the descriptor/flat pair) via the datastore's
  /// /folder HTTP endpoint.
  std::int64_t read_disk(const std::string& vm, std::size_t disk, const ByteSink& sink) override;
  void write_disk(const std::string& vm, std::size_t disk, const ByteSource& source, std::int64_t size) override;

 private:
  struct Object;
  struct Retrieved;
  struct Datacenter {
    std::string name, id, vm_folder, host_folder, datastore_folder, network_folder;
  };

  void connect();
  void login();
  std::unique_ptr<pugi::xml_document> call(const std::string& body);
  Retrieved retrieve_view(const std::string& folder, const std::vector<std::pair<std::string, std::vector<std::string>>>& props);
  Retrieved retrieve_object(const std::string& type, const std::string& id, const std::vector<std::string>& paths);
  std::string wait_task(const std::string& task_id, const std::string& what);
  std::vector<vsphere::PortGroup> networks();
  std::vector<std::string> datastores();
  std::string find_vm(const std::string& name, std::string* power_state = nullptr);
  std::string vm_task(const std::string& method, const std::string& vm_id, const std::string& what);
  std::string disk_url(const std::string& vm, std::size_t disk, bool for_write);
  void pick_pool(std::string& pool, std::string& host);

  HypervisorConfig config_;
  std::mutex mutex_;
  std::unique_ptr<vsphere::Soap> soap_;
  bool logged_in_ = false;
  std::string property_collector_, view_manager_, session_manager_, root_folder_;
  std::string about_;  // "vCenter 6.5.0 (vpx)"
  Datacenter dc_;
};

}  // namespace drctl::world::real
