#include "world/real/libvirt_hypervisor.hpp"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "world/real/libvirt_xml.hpp"

namespace drctl::world::real {

namespace lx = libvirt;

namespace {

// libvirt's handles, freed when they go out of scope.
struct DomainFree { void operator()(virDomainPtr p) const { virDomainFree(p); } };
struct PoolFree { void operator()(virStoragePoolPtr p) const { virStoragePoolFree(p); } };
struct VolFree { void operator()(virStorageVolPtr p) const { virStorageVolFree(p); } };
struct NetFree { void operator()(virNetworkPtr p) const { virNetworkFree(p); } };
struct StreamFree { void operator()(virStreamPtr p) const { virStreamFree(p); } };
using Domain = std::unique_ptr<virDomain, DomainFree>;
using Pool = std::unique_ptr<virStoragePool, PoolFree>;
using Vol = std::unique_ptr<virStorageVol, VolFree>;
using Stream = std::unique_ptr<virStream, StreamFree>;

/// A string libvirt allocated, freed here.
std::string take(char* s) {
  if (!s) return "";
  std::string out = s;
  std::free(s);
  return out;
}

/// libvirt prints every error to stderr unless told otherwise; drctl reports them itself.
void silence_libvirt() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
  });
}

std::string one_line(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string joined(const std::vector<std::string>& names) {
  if (names.empty()) return "none";
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

/// Answers libvirt's authentication questions (a remote host's SASL or SSH login) from the site.
int answer_auth(virConnectCredentialPtr cred, unsigned int ncred, void* cbdata) {
  const auto* config = static_cast<const HypervisorConfig*>(cbdata);
  for (unsigned int i = 0; i < ncred; ++i) {
    const std::string* answer = nullptr;
    if (cred[i].type == VIR_CRED_AUTHNAME && !config->user.empty()) answer = &config->user;
    if ((cred[i].type == VIR_CRED_PASSPHRASE || cred[i].type == VIR_CRED_NOECHOPROMPT) && !config->password.empty())
      answer = &config->password;
    if (!answer) return -1;  // nothing to say: libvirt fails the login with its own message
    cred[i].result = strdup(answer->c_str());
    cred[i].resultlen = static_cast<unsigned int>(answer->size());
  }
  return 0;
}

std::vector<std::string> network_names(virConnectPtr c) {
  virNetworkPtr* nets = nullptr;
  int n = virConnectListAllNetworks(c, &nets, 0);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(virNetworkGetName(nets[i]));
    virNetworkFree(nets[i]);
  }
  std::free(nets);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> pool_names(virConnectPtr c) {
  virStoragePoolPtr* pools = nullptr;
  int n = virConnectListAllStoragePools(c, &pools, 0);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(virStoragePoolGetName(pools[i]));
    virStoragePoolFree(pools[i]);
  }
  std::free(pools);
  std::sort(out.begin(), out.end());
  return out;
}

/// Pool types whose volumes are files, which take a format (qcow2, raw).
bool file_pool(virStoragePoolPtr pool) {
  pugi::xml_document doc;
  doc.load_string(take(virStoragePoolGetXMLDesc(pool, 0)).c_str());
  std::string type = doc.child("pool").attribute("type").value();
  return type == "dir" || type == "fs" || type == "netfs" || type == "gluster" || type == "vstorage";
}

/// The <target><format type> of a volume ("" when it has none).
std::string volume_format(virStorageVolPtr vol) {
  pugi::xml_document doc;
  doc.load_string(take(virStorageVolGetXMLDesc(vol, 0)).c_str());
  return doc.child("volume").child("target").child("format").attribute("type").value();
}

/// The volume a disk source names, or nullptr (libvirt's error cleared: "not found" is an answer).
Vol find_volume(virConnectPtr c, const lx::DiskSource& src) {
  Vol vol;
  if (!src.volume.empty()) {
    if (Pool pool{virStoragePoolLookupByName(c, src.pool.c_str())}) vol.reset(virStorageVolLookupByName(pool.get(), src.volume.c_str()));
  } else if (!src.file.empty()) {
    vol.reset(virStorageVolLookupByPath(c, src.file.c_str()));
  }
  if (!vol) virResetLastError();
  return vol;
}

std::optional<lx::VolumeInfo> describe_volume(virConnectPtr c, const lx::DiskSource& src) {
  Vol vol = find_volume(c, src);
  if (!vol) return std::nullopt;
  lx::VolumeInfo info;
  info.name = virStorageVolGetName(vol.get());
  info.path = take(virStorageVolGetPath(vol.get()));
  if (Pool pool{virStoragePoolLookupByVolume(vol.get())}) info.pool = virStoragePoolGetName(pool.get());
  virStorageVolInfo vi{};
  if (virStorageVolGetInfo(vol.get(), &vi) == 0) {
    info.capacity = static_cast<std::int64_t>(vi.capacity);
    info.allocation = static_cast<std::int64_t>(vi.allocation);
  }
  pugi::xml_document doc;
  doc.load_string(take(virStorageVolGetXMLDesc(vol.get(), 0)).c_str());
  if (std::string backing = doc.child("volume").child("backingStore").child_value("path"); !backing.empty()) {
    lx::DiskSource b;
    b.file = backing;
    Vol base = find_volume(c, b);
    info.backing = base ? virStorageVolGetName(base.get()) : backing;
  }
  virResetLastError();
  return info;
}

/// The virtualisation type new domains get: kvm where the host has it, else qemu, else what the
/// driver offers (the test driver's "test").
std::string domain_type(virConnectPtr c) {
  pugi::xml_document doc;
  doc.load_string(take(virConnectGetCapabilities(c)).c_str());
  std::vector<std::string> types;
  for (pugi::xml_node guest : doc.child("capabilities").children("guest"))
    for (pugi::xml_node d : guest.child("arch").children("domain")) types.push_back(d.attribute("type").value());
  for (const char* preferred : {"kvm", "qemu"})
    if (std::find(types.begin(), types.end(), preferred) != types.end()) return preferred;
  return types.empty() ? "kvm" : types.front();
}

}  // namespace

namespace {

/// Where the password of `uri`'s userinfo (scheme://user:PASSWORD@host/…) starts and ends.
std::pair<std::size_t, std::size_t> password_span(const std::string& uri) {
  std::size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return {0, 0};
  std::size_t start = scheme + 3;
  std::size_t end = std::min(uri.find_first_of("/?#", start), uri.size());
  std::size_t at = uri.rfind('@', end);
  if (at == std::string::npos || at < start) return {0, 0};
  std::size_t colon = uri.find(':', start);
  if (colon == std::string::npos || colon > at) return {0, 0};
  return {colon + 1, at};
}

std::string uri_password(const std::string& uri) {
  auto [from, to] = password_span(uri);
  return uri.substr(from, to - from);
}

}  // namespace

std::string redact_uri(const std::string& uri) {
  auto [from, to] = password_span(uri);
  return from == to ? uri : uri.substr(0, from) + "***" + uri.substr(to);
}

struct LibvirtHypervisor::Connection {
  virConnectPtr c = nullptr;
  std::string domain_type;
  ~Connection() {
    if (c) virConnectClose(c);
  }
};

LibvirtHypervisor::LibvirtHypervisor(HypervisorConfig config) : config_(std::move(config)) { silence_libvirt(); }

LibvirtHypervisor::~LibvirtHypervisor() = default;

std::string LibvirtHypervisor::scrub(std::string line) const {
  // The URI may carry a password, and so may whatever libvirt echoes of it or of the login.
  for (const std::string& secret : {uri_password(config_.url), config_.password})
    for (std::size_t p; !secret.empty() && (p = line.find(secret)) != std::string::npos;) line.replace(p, secret.size(), "***");
  return one_line(line);
}

void LibvirtHypervisor::fail(const std::string& what) {
  const char* msg = virGetLastErrorMessage();
  std::string line = "libvirt: " + what + ": " + (msg ? msg : "unknown error");
  virResetLastError();
  throw std::runtime_error(scrub(line));
}

LibvirtHypervisor::Connection& LibvirtHypervisor::connection() {
  // A remote connection that died (the host rebooted, SSH dropped) is opened again; the test
  // driver's never dies.
  if (conn_ && virConnectIsAlive(conn_->c) == 0) conn_.reset();
  if (conn_) return *conn_;
  int credtypes[] = {VIR_CRED_AUTHNAME, VIR_CRED_PASSPHRASE, VIR_CRED_NOECHOPROMPT};
  virConnectAuth auth{credtypes, sizeof credtypes / sizeof credtypes[0], answer_auth, &config_};
  auto conn = std::make_unique<Connection>();
  conn->c = virConnectOpenAuth(config_.url.c_str(), &auth, 0);
  if (!conn->c) fail("cannot connect to " + redact_uri(config_.url));
  conn->domain_type = domain_type(conn->c);
  conn_ = std::move(conn);
  return *conn_;
}

std::string LibvirtHypervisor::site_pool() {
  if (!config_.datastore.empty()) return config_.datastore;
  std::vector<std::string> pools = pool_names(connection().c);
  if (std::find(pools.begin(), pools.end(), "default") != pools.end()) return "default";
  if (pools.size() == 1) return pools.front();
  throw std::runtime_error("libvirt: the site names no storage pool (datastore:) and " + redact_uri(config_.url) +
                           " has no pool named default but " + (pools.empty() ? "none" : "several: " + joined(pools)));
}

std::vector<VmState> LibvirtHypervisor::list() {
  std::lock_guard lock(mutex_);
  virConnectPtr c = connection().c;
  virDomainPtr* doms = nullptr;
  int n = virConnectListAllDomains(c, &doms, 0);
  if (n < 0) fail("cannot list the domains");
  std::vector<Domain> domains;
  for (int i = 0; i < n; ++i) domains.emplace_back(doms[i]);
  std::free(doms);
  std::string pool = site_pool();
  std::vector<VmState> out;
  for (const Domain& d : domains) {
    VmState state;
    char* xml = virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE);
    if (!xml) fail(std::string("cannot read the definition of ") + virDomainGetName(d.get()));
    state.raw = take(xml);
    state.running = virDomainIsActive(d.get()) == 1;
    state.spec = lx::spec_from_domain(state.raw, [&](const lx::DiskSource& s) { return describe_volume(c, s); }, pool);
    out.push_back(std::move(state));
  }
  std::sort(out.begin(), out.end(), [](const VmState& a, const VmState& b) { return a.spec.name < b.spec.name; });
  return out;
}

void LibvirtHypervisor::define(const VmSpec& spec) {
  std::lock_guard lock(mutex_);
  Connection& conn = connection();
  virConnectPtr c = conn.c;
  const std::string refused = "libvirt: cannot define VM " + spec.name + ": ";
  if (Domain existing{virDomainLookupByName(c, spec.name.c_str())})
    throw std::runtime_error(refused + "a domain of that name exists");
  virResetLastError();

  // Everything is checked before anything is created, so a refusal leaves the host as it was.
  std::vector<std::string> networks = network_names(c);
  for (const VmSpec::Nic& nic : spec.nics)
    if (std::find(networks.begin(), networks.end(), nic.network) == networks.end())
      throw std::runtime_error(refused + "its NIC " + nic.mac + " is on network '" + nic.network +
                               "', which does not exist (networks: " + joined(networks) + ")");
  const std::string pool_default = site_pool();
  struct NewVolume {
    Pool pool;
    std::string xml;
  };
  std::vector<NewVolume> volumes;
  std::vector<lx::DiskPlan> plans;
  for (const VmSpec::Disk& disk : spec.disks) {
    lx::DiskPlan plan;
    plan.pool = disk.datastore.empty() ? pool_default : disk.datastore;
    Pool pool{virStoragePoolLookupByName(c, plan.pool.c_str())};
    if (!pool)
      throw std::runtime_error(refused + "its disk " + disk.name + " is in pool '" + plan.pool +
                               "', which does not exist (pools: " + joined(pool_names(c)) + ")");
    bool files = file_pool(pool.get());
    std::string backing_path, backing_format;
    if (!disk.image.empty()) {
      Vol image{virStorageVolLookupByName(pool.get(), disk.image.c_str())};
      if (!image)
        throw std::runtime_error(refused + "its disk " + disk.name + " starts from image '" + disk.image +
                                 "', which is not in pool " + plan.pool);
      backing_path = take(virStorageVolGetPath(image.get()));
      backing_format = volume_format(image.get());
    }
    // qcow2 where the pool holds files and the disk is thin or starts from an image; raw otherwise.
    plan.format = files && (disk.thin || !disk.image.empty()) ? "qcow2" : "raw";
    plan.volume = lx::volume_name(spec.name, disk.name, plan.format);
    if (Vol exists{virStorageVolLookupByName(pool.get(), plan.volume.c_str())})
      throw std::runtime_error(refused + "its disk's volume " + plan.pool + "/" + plan.volume + " exists");
    virResetLastError();
    std::string xml = lx::volume_xml(plan.volume, disk.size_gb * 1024LL * 1024 * 1024, disk.thin || !disk.image.empty(),
                                     files ? plan.format : "", backing_path, backing_format);
    volumes.push_back({std::move(pool), std::move(xml)});
    plans.push_back(plan);
  }
  std::optional<lx::DiskSource> cdrom;
  if (!spec.cdrom.empty()) {
    cdrom = lx::cdrom_source(spec.cdrom, pool_default);
    if (!cdrom->volume.empty() && !find_volume(c, *cdrom))
      throw std::runtime_error(refused + "its install image '" + spec.cdrom + "' is not in pool " + cdrom->pool);
  }

  std::vector<Vol> created;
  auto undo = [&] {
    for (Vol& v : created) virStorageVolDelete(v.get(), 0);
  };
  for (NewVolume& v : volumes) {
    Vol vol{virStorageVolCreateXML(v.pool.get(), v.xml.c_str(), 0)};
    if (!vol) {
      const char* msg = virGetLastErrorMessage();
      std::string why = msg ? msg : "unknown error";
      undo();
      throw std::runtime_error(scrub(refused + "cannot create its volume in pool " + virStoragePoolGetName(v.pool.get()) +
                                        ": " + why));
    }
    created.push_back(std::move(vol));
  }
  std::string xml = lx::domain_xml(spec, conn.domain_type, plans, cdrom);
  Domain dom{virDomainDefineXML(c, xml.c_str())};
  if (!dom) {
    const char* msg = virGetLastErrorMessage();
    std::string why = msg ? msg : "unknown error";
    undo();
    throw std::runtime_error(scrub(refused + why));
  }
}

void LibvirtHypervisor::start(const std::string& name) {
  std::lock_guard lock(mutex_);
  Domain d{virDomainLookupByName(connection().c, name.c_str())};
  if (!d) fail("cannot start VM " + name);
  if (virDomainCreate(d.get()) < 0) fail("cannot start VM " + name);
}

void LibvirtHypervisor::stop(const std::string& name) {
  std::lock_guard lock(mutex_);
  Domain d{virDomainLookupByName(connection().c, name.c_str())};
  if (!d) fail("cannot power off VM " + name);
  if (virDomainDestroy(d.get()) < 0) fail("cannot power off VM " + name);
}

void LibvirtHypervisor::destroy(const std::string& name) {
  std::lock_guard lock(mutex_);
  virConnectPtr c = connection().c;
  Domain d{virDomainLookupByName(c, name.c_str())};
  if (!d) fail("cannot destroy VM " + name);
  if (virDomainIsActive(d.get()) == 1 && virDomainDestroy(d.get()) < 0) fail("cannot power off VM " + name);
  char* xml = virDomainGetXMLDesc(d.get(), VIR_DOMAIN_XML_INACTIVE);
  if (!xml) fail("cannot read the definition of " + name);
  lx::DomainDisks disks = lx::domain_disks(take(xml));
  // With its EFI variables (NVRAM): the QEMU driver refuses to undefine an EFI domain without.
  if (virDomainUndefineFlags(d.get(), VIR_DOMAIN_UNDEFINE_NVRAM) < 0) {
    virResetLastError();
    if (virDomainUndefine(d.get()) < 0) fail("cannot undefine VM " + name);
  }
  for (const lx::DiskSource& src : disks.disks) {
    Vol vol = find_volume(c, src);
    if (!vol || std::string(virStorageVolGetName(vol.get())).rfind(name + "-", 0) != 0) continue;
    if (virStorageVolDelete(vol.get(), 0) < 0) fail("VM " + name + " is undefined but its volume " + virStorageVolGetName(vol.get()) + " stays");
  }
}

std::string LibvirtHypervisor::check() {
  std::lock_guard lock(mutex_);
  virConnectPtr c = connection().c;
  unsigned long version = 0;
  if (virConnectGetLibVersion(c, &version) < 0) fail("cannot ask " + redact_uri(config_.url) + " its version");
  const char* type = virConnectGetType(c);
  std::string pool = site_pool();
  if (Pool p{virStoragePoolLookupByName(c, pool.c_str())}; !p)
    throw std::runtime_error("libvirt: " + redact_uri(config_.url) + " has no storage pool '" + pool + "' (pools: " +
                             joined(pool_names(c)) + ")");
  virResetLastError();
  std::vector<std::string> networks = network_names(c);
  std::vector<std::string> missing;
  for (const std::string& n : config_.networks)
    if (std::find(networks.begin(), networks.end(), n) == networks.end()) missing.push_back(n);
  if (!missing.empty())
    throw std::runtime_error("libvirt: " + redact_uri(config_.url) + " has no network " + joined(missing) +
                             " (networks: " + joined(networks) + ")");
  std::string out = "libvirt " + std::to_string(version / 1000000) + "." + std::to_string(version / 1000 % 1000) + "." +
                    std::to_string(version % 1000) + " (" + (type ? type : "?") + " driver) at " + redact_uri(config_.url) +
                    ": pool " + pool;
  if (!config_.networks.empty()) out += ", networks " + joined(config_.networks);
  return out;
}

namespace {

/// The volume of disk `index` of domain `d`, or a one-line reason.
Vol disk_volume(virConnectPtr c, virDomainPtr d, const std::string& vm, std::size_t index) {
  lx::DomainDisks disks = lx::domain_disks(take(virDomainGetXMLDesc(d, VIR_DOMAIN_XML_INACTIVE)));
  if (index >= disks.disks.size())
    throw std::runtime_error("libvirt: VM " + vm + " has " + std::to_string(disks.disks.size()) + " disks, no disk " +
                             std::to_string(index));
  Vol vol = find_volume(c, disks.disks[index]);
  if (!vol) {
    const lx::DiskSource& s = disks.disks[index];
    throw std::runtime_error("libvirt: disk " + std::to_string(index) + " of VM " + vm + " (" +
                             (s.file.empty() ? s.pool + "/" + s.volume : s.file) + ") is no storage volume libvirt knows");
  }
  return vol;
}

}  // namespace

std::int64_t LibvirtHypervisor::read_disk(const std::string& vm, std::size_t disk, const ByteSink& sink) {
  std::lock_guard lock(mutex_);
  virConnectPtr c = connection().c;
  Domain d{virDomainLookupByName(c, vm.c_str())};
  if (!d) fail("cannot read a disk of VM " + vm);
  Vol vol = disk_volume(c, d.get(), vm, disk);
  const std::string what = "cannot read disk " + std::to_string(disk) + " of VM " + vm;
  Stream st{virStreamNew(c, 0)};
  if (!st) fail(what);
  if (virStorageVolDownload(vol.get(), st.get(), 0, 0, 0) < 0) fail(what);
  std::vector<char> buf(1 << 20);
  std::int64_t total = 0;
  for (;;) {
    int n = virStreamRecv(st.get(), buf.data(), buf.size());
    if (n < 0) {
      virStreamAbort(st.get());
      fail(what);
    }
    if (n == 0) break;
    sink(buf.data(), static_cast<std::size_t>(n));
    total += n;
  }
  if (virStreamFinish(st.get()) < 0) fail(what);
  return total;
}

void LibvirtHypervisor::write_disk(const std::string& vm, std::size_t disk, const ByteSource& source, std::int64_t size) {
  std::lock_guard lock(mutex_);
  virConnectPtr c = connection().c;
  Domain d{virDomainLookupByName(c, vm.c_str())};
  const std::string what = "cannot write disk " + std::to_string(disk) + " of VM " + vm;
  if (!d) fail(what);
  if (virDomainIsActive(d.get()) == 1) throw std::runtime_error("libvirt: " + what + ": it is running (power it off first)");
  Vol vol = disk_volume(c, d.get(), vm, disk);
  Stream st{virStreamNew(c, 0)};
  if (!st) fail(what);
  if (virStorageVolUpload(vol.get(), st.get(), 0, static_cast<unsigned long long>(size), 0) < 0) fail(what);
  std::vector<char> buf(1 << 20);
  std::int64_t sent = 0;
  while (sent < size) {
    std::size_t want = static_cast<std::size_t>(std::min<std::int64_t>(size - sent, static_cast<std::int64_t>(buf.size())));
    std::size_t got = source(buf.data(), want);
    if (got == 0) {
      virStreamAbort(st.get());
      throw std::runtime_error("libvirt: " + what + ": the data ended after " + std::to_string(sent) + " of " +
                               std::to_string(size) + " bytes");
    }
    for (std::size_t off = 0; off < got;) {
      int n = virStreamSend(st.get(), buf.data() + off, got - off);
      if (n < 0) {
        virStreamAbort(st.get());
        fail(what);
      }
      off += static_cast<std::size_t>(n);
    }
    sent += static_cast<std::int64_t>(got);
  }
  if (virStreamFinish(st.get()) < 0) fail(what);
}

}  // namespace drctl::world::real
