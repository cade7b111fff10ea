#include "world/real/vsphere.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <thread>

#include <pugixml.hpp>

#include "world/real/vsphere_soap.hpp"
#include "world/real/vsphere_spec.hpp"

namespace drctl::world::real {

using vsphere::child;
using vsphere::moref;
using vsphere::xml_escape;
using vsphere::xsi_type;

/// One object of a property collector answer: its type, id and the <val> of each path asked.
struct VsphereHypervisor::Object {
  std::string type, id;
  std::map<std::string, pugi::xml_node> props;
  std::string text(const std::string& path) const {
    auto it = props.find(path);
    return it == props.end() ? "" : it->second.text().get();
  }
};

/// The objects and the documents their nodes live in.
struct VsphereHypervisor::Retrieved {
  std::vector<std::unique_ptr<pugi::xml_document>> docs;
  std::vector<Object> objects;
};

namespace {

std::string sdk_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos || slash == url.size() - 1 ? url.substr(0, slash) + "/sdk" : url;
}

// The <returnval> of a response: Envelope/Body/<Method>Response/returnval.
pugi::xml_node returnval(const pugi::xml_document& doc) {
  return child(child(child(doc, "Envelope"), "Body").first_child(), "returnval");
}

std::string pin_of(const std::string& thumbprint) { return thumbprint.empty() ? "" : normalize_thumbprint(thumbprint); }

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out.empty() ? "none" : out;
}

std::string escape_url(const std::string& s, bool keep_slash) {
  std::string out;
  static const char* hex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace

VsphereHypervisor::VsphereHypervisor(HypervisorConfig config) : config_(std::move(config)) {
  config_.url = sdk_url(config_.url);
}

VsphereHypervisor::~VsphereHypervisor() {
  if (!logged_in_) return;
  try {
    soap_->call("<Logout xmlns=\"urn:vim25\">" + moref("_this", "SessionManager", session_manager_) + "</Logout>");
  } catch (...) {  // the server may be gone already: nothing to clean up then
  }
}

void VsphereHypervisor::login() {
  try {
    soap_->call("<Login xmlns=\"urn:vim25\">" + moref("_this", "SessionManager", session_manager_) +
                "<userName>" + xml_escape(config_.user) + "</userName><password>" + xml_escape(config_.password) +
                "</password></Login>");
  } catch (const vsphere::SoapError& e) {
    throw std::runtime_error("vSphere at " + config_.url + " refused the login for " + config_.user + ": " + e.what());
  }
  logged_in_ = true;
}

void VsphereHypervisor::connect() {
  if (logged_in_) return;
  if (!soap_) soap_ = std::make_unique<vsphere::Soap>(config_.url, pin_of(config_.thumbprint), config_.ca_file, config_.timeout_seconds);
  auto content = soap_->call("<RetrieveServiceContent xmlns=\"urn:vim25\">" + moref("_this", "ServiceInstance", "ServiceInstance") +
                             "</RetrieveServiceContent>");
  const pugi::xml_node sc = returnval(*content);
  property_collector_ = child(sc, "propertyCollector").text().get();
  view_manager_ = child(sc, "viewManager").text().get();
  session_manager_ = child(sc, "sessionManager").text().get();
  root_folder_ = child(sc, "rootFolder").text().get();
  const pugi::xml_node about = child(sc, "about");
  const std::string api = child(about, "apiType").text().get();
  about_ = std::string(api == "VirtualCenter" ? "vCenter" : api == "HostAgent" ? "ESXi" : api) + " " +
           child(about, "version").text().get() + " (" + child(about, "productLineId").text().get() + ")";
  login();

  Retrieved dcs = retrieve_view(root_folder_, {{"Datacenter", {"name", "vmFolder", "hostFolder", "datastoreFolder", "networkFolder"}}});
  std::vector<std::string> names;
  for (const auto& o : dcs.objects) names.push_back(o.text("name"));
  const Object* found = nullptr;
  for (const auto& o : dcs.objects)
    if (config_.datacenter.empty() ? dcs.objects.size() == 1 : o.text("name") == config_.datacenter) found = &o;
  if (!found)
    throw std::runtime_error(
        config_.datacenter.empty()
            ? "vSphere at " + config_.url + " has " + std::to_string(names.size()) + " datacenters (" + join(names) +
                  "): name one with `datacenter:` under the site's hypervisor"
            : "vSphere at " + config_.url + " has no datacenter '" + config_.datacenter + "' (it has " + join(names) + ")");
  dc_ = {found->text("name"),         found->id,
         found->text("vmFolder"),     found->text("hostFolder"),
         found->text("datastoreFolder"), found->text("networkFolder")};
}

std::unique_ptr<pugi::xml_document> VsphereHypervisor::call(const std::string& body) {
  connect();
  try {
    return soap_->call(body);
  } catch (const vsphere::SoapError& e) {
    if (e.fault.type != "NotAuthenticated") throw;
    logged_in_ = false;  // the session expired (vCenter ends idle ones): log in again, once
    login();
    return soap_->call(body);
  }
}

VsphereHypervisor::Retrieved VsphereHypervisor::retrieve_view(
    const std::string& folder, const std::vector<std::pair<std::string, std::vector<std::string>>>& props) {
  std::string types, prop_sets;
  for (const auto& [type, paths] : props) {
    types += "<type>" + type + "</type>";
    prop_sets += "<propSet><type>" + type + "</type>";
    for (const auto& p : paths) prop_sets += "<pathSet>" + p + "</pathSet>";
    prop_sets += "</propSet>";
  }
  auto created = call("<CreateContainerView xmlns=\"urn:vim25\">" + moref("_this", "ViewManager", view_manager_) +
                      moref("container", "Folder", folder) + types + "<recursive>true</recursive></CreateContainerView>");
  const std::string view = returnval(*created).text().get();
  Retrieved out;
  std::string body = "<RetrievePropertiesEx xmlns=\"urn:vim25\">" + moref("_this", "PropertyCollector", property_collector_) +
                     "<specSet>" + prop_sets + "<objectSet>" + moref("obj", "ContainerView", view) +
                     "<skip>true</skip><selectSet xsi:type=\"TraversalSpec\"><type>ContainerView</type><path>view</path>"
                     "<skip>false</skip></selectSet></objectSet></specSet><options/></RetrievePropertiesEx>";
  try {
    for (;;) {
      auto doc = call(body);
      pugi::xml_node ret = returnval(*doc);
      for (pugi::xml_node o = ret.first_child(); o; o = o.next_sibling()) {
        if (std::string_view(o.name()).find("objects") == std::string_view::npos) continue;
        Object obj;
        obj.type = child(o, "obj").attribute("type").value();
        obj.id = child(o, "obj").text().get();
        for (pugi::xml_node p = o.first_child(); p; p = p.next_sibling())
          if (std::string_view(p.name()).find("propSet") != std::string_view::npos)
            obj.props[child(p, "name").text().get()] = child(p, "val");
        out.objects.push_back(std::move(obj));
      }
      const std::string token = child(ret, "token").text().get();
      out.docs.push_back(std::move(doc));
      if (token.empty()) break;
      body = "<ContinueRetrievePropertiesEx xmlns=\"urn:vim25\">" + moref("_this", "PropertyCollector", property_collector_) +
             "<token>" + xml_escape(token) + "</token></ContinueRetrievePropertiesEx>";
    }
  } catch (...) {
    try {  // the first error is the one to report; a view left behind ends with the session
      call("<DestroyView xmlns=\"urn:vim25\">" + moref("_this", "ContainerView", view) + "</DestroyView>");
    } catch (...) {
    }
    throw;
  }
  call("<DestroyView xmlns=\"urn:vim25\">" + moref("_this", "ContainerView", view) + "</DestroyView>");
  return out;
}

VsphereHypervisor::Retrieved VsphereHypervisor::retrieve_object(const std::string& type, const std::string& id,
                                                                const std::vector<std::string>& paths) {
  std::string set = "<propSet><type>" + type + "</type>";
  for (const auto& p : paths) set += "<pathSet>" + p + "</pathSet>";
  set += "</propSet>";
  auto doc = call("<RetrievePropertiesEx xmlns=\"urn:vim25\">" + moref("_this", "PropertyCollector", property_collector_) +
                  "<specSet>" + set + "<objectSet>" + moref("obj", type, id) +
                  "<skip>false</skip></objectSet></specSet><options/></RetrievePropertiesEx>");
  Retrieved out;
  pugi::xml_node o = child(returnval(*doc), "objects");
  if (o) {
    Object obj{type, id, {}};
    for (pugi::xml_node p = o.first_child(); p; p = p.next_sibling())
      if (std::string_view(p.name()).find("propSet") != std::string_view::npos)
        obj.props[child(p, "name").text().get()] = child(p, "val");
    out.objects.push_back(std::move(obj));
  }
  out.docs.push_back(std::move(doc));
  return out;
}

std::string VsphereHypervisor::wait_task(const std::string& task_id, const std::string& what) {
  auto pause = std::chrono::milliseconds(20);
  for (;;) {
    Retrieved r = retrieve_object("Task", task_id, {"info"});
    if (r.objects.empty()) throw std::runtime_error(what + ": vSphere lost its task " + task_id);
    const pugi::xml_node info = r.objects[0].props["info"];
    const std::string state = child(info, "state").text().get();
    if (state == "success") return child(info, "result").text().get();
    if (state == "error") {
      const pugi::xml_node error = child(info, "error");
      vsphere::Fault f{xsi_type(child(error, "fault")), child(error, "localizedMessage").text().get()};
      throw std::runtime_error(what + ": " + vsphere::fault_line(f));
    }
    std::this_thread::sleep_for(pause);  // a task takes from milliseconds (vcsim) to minutes
    pause = std::min(pause * 2, std::chrono::milliseconds(1000));
  }
}

std::vector<vsphere::PortGroup> VsphereHypervisor::networks() {
  Retrieved r = retrieve_view(dc_.network_folder, {{"Network", {"name"}},
                                                   {"DistributedVirtualPortgroup", {"name", "config"}},
                                                   {"DistributedVirtualSwitch", {"uuid"}}});
  std::map<std::string, std::string> switch_uuid;
  for (const auto& o : r.objects)
    if (o.props.count("uuid")) switch_uuid[o.id] = o.text("uuid");
  std::vector<vsphere::PortGroup> out;
  for (const auto& o : r.objects) {
    if (!o.props.count("name") || o.props.count("uuid")) continue;
    vsphere::PortGroup pg;
    pg.name = o.text("name");
    pg.moref = o.id;
    if (o.type == "DistributedVirtualPortgroup") {
      const pugi::xml_node config = o.props.at("config");
      pg.distributed = true;
      pg.key = child(config, "key").text().get();
      pg.switch_uuid = switch_uuid[child(config, "distributedVirtualSwitch").text().get()];
      const pugi::xml_node vlan = child(child(child(config, "defaultPortConfig"), "vlan"), "vlanId");
      // A trunk or private VLAN spec has no single id (its vlanId is a range or absent): 0.
      if (xsi_type(child(child(config, "defaultPortConfig"), "vlan")) == "VmwareDistributedVirtualSwitchVlanIdSpec")
        pg.vlan = vlan.text().as_int();
    }
    out.push_back(pg);
  }
  return out;
}

std::vector<std::string> VsphereHypervisor::datastores() {
  std::vector<std::string> out;
  for (const auto& o : retrieve_view(dc_.datastore_folder, {{"Datastore", {"name"}}}).objects) out.push_back(o.text("name"));
  return out;
}

std::string VsphereHypervisor::find_vm(const std::string& name, std::string* power_state) {
  Retrieved r = retrieve_view(dc_.vm_folder, {{"VirtualMachine", {"name", "runtime.powerState"}}});
  for (const auto& o : r.objects)
    if (o.text("name") == name) {
      if (power_state) *power_state = o.text("runtime.powerState");
      return o.id;
    }
  throw std::runtime_error("vSphere at " + config_.url + " has no VM " + name + " in datacenter " + dc_.name);
}

std::string VsphereHypervisor::vm_task(const std::string& method, const std::string& vm_id, const std::string& what) {
  auto doc = call("<" + method + " xmlns=\"urn:vim25\">" + moref("_this", "VirtualMachine", vm_id) + "</" + method + ">");
  return wait_task(returnval(*doc).text().get(), what);
}

std::vector<VmState> VsphereHypervisor::list() {
  std::lock_guard lock(mutex_);
  connect();
  const auto nets = networks();
  Retrieved r = retrieve_view(dc_.vm_folder, {{"VirtualMachine", {"name", "config", "runtime.powerState"}}});
  std::vector<VmState> out;
  for (const auto& o : r.objects) {
    VmState state;
    auto config = o.props.find("config");
    if (config != o.props.end() && config->second) {
      state.spec = vsphere::spec_from_config(config->second, nets);
      state.raw = vsphere::serialize(config->second);
    }
    state.spec.name = o.text("name");
    state.running = o.text("runtime.powerState") == "poweredOn";
    out.push_back(std::move(state));
  }
  std::sort(out.begin(), out.end(), [](const VmState& a, const VmState& b) { return a.spec.name < b.spec.name; });
  return out;
}

void VsphereHypervisor::pick_pool(std::string& pool, std::string& host) {
  Retrieved crs = retrieve_view(dc_.host_folder, {{"ComputeResource", {"name", "resourcePool", "host"}}});
  Retrieved hosts = retrieve_view(dc_.host_folder, {{"HostSystem", {"name"}}});
  std::vector<std::string> names;
  if (!config_.host.empty()) {
    for (const auto& h : hosts.objects) {
      names.push_back(h.text("name"));
      if (h.text("name") == config_.host) host = h.id;
    }
    if (host.empty())
      throw std::runtime_error("vSphere datacenter " + dc_.name + " has no host '" + config_.host + "' (it has " + join(names) + ")");
  }
  names.clear();
  for (const auto& cr : crs.objects) {
    names.push_back(cr.text("name"));
    bool holds_host = host.empty();
    for (pugi::xml_node h = cr.props.at("host").first_child(); h && !holds_host; h = h.next_sibling())
      holds_host = h.text().get() == host;
    const bool named = config_.cluster.empty() || cr.text("name") == config_.cluster;
    if (named && holds_host && pool.empty()) pool = cr.text("resourcePool");
  }
  if (pool.empty())
    throw std::runtime_error(config_.cluster.empty()
                                 ? "vSphere datacenter " + dc_.name + " has no host or cluster to put VMs on"
                                 : "vSphere datacenter " + dc_.name + " has no cluster '" + config_.cluster +
                                       "'" + (host.empty() ? "" : " holding host " + config_.host) + " (it has " + join(names) + ")");
}

void VsphereHypervisor::define(const VmSpec& spec) {
  std::lock_guard lock(mutex_);
  connect();
  const std::string where = "vSphere datacenter " + dc_.name;
  for (const auto& o : retrieve_view(dc_.vm_folder, {{"VirtualMachine", {"name"}}}).objects)
    if (o.text("name") == spec.name) throw std::runtime_error("VM " + spec.name + " already exists in " + where + ": not defined again");

  vsphere::CreatePlan plan;
  const auto nets = networks();
  for (const auto& nic : spec.nics) {
    const vsphere::PortGroup* found = nullptr;
    std::vector<std::string> names;
    for (const auto& pg : nets) {
      names.push_back(pg.name);
      if (pg.name == nic.network && !found) found = &pg;
    }
    if (!found)
      throw std::runtime_error("VM " + spec.name + ": port group '" + nic.network + "' does not exist in " + where +
                               " (it has " + join(names) + ")");
    plan.nics.push_back(*found);
  }
  const auto stores = datastores();
  auto datastore = [&](const std::string& wanted) {
    const std::string name = !wanted.empty() ? wanted : !config_.datastore.empty() ? config_.datastore
                                                      : stores.size() == 1          ? stores[0]
                                                                                    : "";
    if (name.empty())
      throw std::runtime_error("VM " + spec.name + ": " + where + " has several datastores (" + join(stores) +
                               "): name one with `datastore:` under the site's hypervisor");
    if (std::find(stores.begin(), stores.end(), name) == stores.end())
      throw std::runtime_error("VM " + spec.name + ": datastore '" + name + "' does not exist in " + where + " (it has " +
                               join(stores) + ")");
    return name;
  };
  for (const auto& disk : spec.disks) plan.datastores.push_back(datastore(disk.datastore));
  plan.vm_datastore = plan.datastores.empty() ? datastore("") : plan.datastores[0];
  if (!spec.cdrom.empty() && !vsphere::datastore_of(spec.cdrom).empty()) datastore(vsphere::datastore_of(spec.cdrom));
  std::string pool, host;
  pick_pool(pool, host);

  auto doc = call("<CreateVM_Task xmlns=\"urn:vim25\">" + moref("_this", "Folder", dc_.vm_folder) +
                  vsphere::create_spec_xml(spec, plan) + moref("pool", "ResourcePool", pool) +
                  (host.empty() ? "" : moref("host", "HostSystem", host)) + "</CreateVM_Task>");
  const std::string vm = wait_task(returnval(*doc).text().get(), "creating VM " + spec.name + " on " + where);
  if (spec.boot_order.empty()) return;
  // The boot order names devices by the keys vSphere gave them: known once the VM exists.
  Retrieved created = retrieve_object("VirtualMachine", vm, {"config"});
  if (created.objects.empty()) throw std::runtime_error("VM " + spec.name + " vanished right after it was created");
  const std::string boot = vsphere::boot_spec_xml(spec, created.objects[0].props["config"]);
  auto reconfig = call("<ReconfigVM_Task xmlns=\"urn:vim25\">" + moref("_this", "VirtualMachine", vm) + boot + "</ReconfigVM_Task>");
  wait_task(returnval(*reconfig).text().get(),
            "setting the boot order of VM " + spec.name);
}

void VsphereHypervisor::start(const std::string& name) {
  std::lock_guard lock(mutex_);
  connect();
  std::string power;
  const std::string id = find_vm(name, &power);
  if (power != "poweredOn") vm_task("PowerOnVM_Task", id, "powering on VM " + name);
}

void VsphereHypervisor::stop(const std::string& name) {
  std::lock_guard lock(mutex_);
  connect();
  std::string power;
  const std::string id = find_vm(name, &power);
  if (power != "poweredOff") vm_task("PowerOffVM_Task", id, "powering off VM " + name);
}

void VsphereHypervisor::reset(const std::string& name) {
  std::lock_guard lock(mutex_);
  connect();
  vm_task("ResetVM_Task", find_vm(name), "resetting VM " + name);
}

void VsphereHypervisor::destroy(const std::string& name) {
  std::lock_guard lock(mutex_);
  connect();
  std::string power;
  const std::string id = find_vm(name, &power);
  if (power != "poweredOff") vm_task("PowerOffVM_Task", id, "powering off VM " + name);
  vm_task("Destroy_Task", id, "destroying VM " + name);
}

std::string VsphereHypervisor::check() {
  std::lock_guard lock(mutex_);
  connect();
  const auto stores = datastores();
  std::string store = config_.datastore;
  if (store.empty() && stores.size() == 1) store = stores[0];
  if (store.empty())
    throw std::runtime_error("vSphere datacenter " + dc_.name + " has several datastores (" + join(stores) +
                             "): name one with `datastore:` under the site's hypervisor");
  if (std::find(stores.begin(), stores.end(), store) == stores.end())
    throw std::runtime_error("vSphere datacenter " + dc_.name + " has no datastore '" + store + "' (it has " + join(stores) + ")");
  std::vector<std::string> have;
  for (const auto& pg : networks()) have.push_back(pg.name);
  std::vector<std::string> missing;
  for (const auto& n : config_.networks)
    if (std::find(have.begin(), have.end(), n) == have.end()) missing.push_back(n);
  if (!missing.empty())
    throw std::runtime_error("vSphere datacenter " + dc_.name + " has no port group " + join(missing) + " (it has " + join(have) + ")");
  std::string line = about_ + " at " + config_.url + ": datacenter " + dc_.name + ", datastore " + store;
  if (!config_.networks.empty()) line += ", port groups " + join(config_.networks);
  return line;
}

std::string VsphereHypervisor::disk_url(const std::string& vm, std::size_t disk, bool for_write) {
  std::string power;
  const std::string id = find_vm(vm, &power);
  if (for_write && power != "poweredOff")
    throw std::runtime_error("VM " + vm + " is " + power + ": its disks are written only while it is off");
  Retrieved r = retrieve_object("VirtualMachine", id, {"config"});
  const auto files = r.objects.empty() ? std::vector<std::string>{} : vsphere::disk_files(r.objects[0].props["config"]);
  if (disk >= files.size())
    throw std::runtime_error("VM " + vm + " has " + std::to_string(files.size()) + " disks: there is no disk " + std::to_string(disk));
  // A vmdk is a small text descriptor beside its data file, "NAME-flat.vmdk" for the flat
  // (thin or thick) disks ESXi makes on VMFS and NFS: the data is what is copied. vcsim makes
  // the same pair (both empty at first). Other formats (sesparse, vSAN objects) are not handled.
  std::string path = vsphere::path_in_datastore(files[disk]);
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".vmdk") == 0) path.insert(path.size() - 5, "-flat");
  return "/folder/" + escape_url(path, true) + "?dcPath=" + escape_url(dc_.name, false) +
         "&dsName=" + escape_url(vsphere::datastore_of(files[disk]), false);
}

std::int64_t VsphereHypervisor::read_disk(const std::string& vm, std::size_t disk, const ByteSink& sink) {
  std::lock_guard lock(mutex_);
  connect();
  return soap_->get(disk_url(vm, disk, false), sink);
}

void VsphereHypervisor::write_disk(const std::string& vm, std::size_t disk, const ByteSource& source, std::int64_t size) {
  std::lock_guard lock(mutex_);
  connect();
  soap_->put(disk_url(vm, disk, true), source, size);
}

}  // namespace drctl::world::real
