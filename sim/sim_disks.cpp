// A machine's disks as images (sim/disk_image.hpp): disk 0 holds its system, TrueNAS's disk 1 its
// pool. Reading one serializes what is there now; writing one into a powered-off VM replaces what
// the disk holds, and the VM's next boot from disk brings that system up — an appliance as its
// install makes it with the image's files on top, its units as the image enables them.
#include <algorithm>

#include "sim/disk_image.hpp"
#include "sim/host_paths.hpp"
#include "sim/sim_machine.hpp"
#include "sim/sim_world.hpp"

namespace drctl::sim {

std::string SimWorld::read_disk_image(const std::string& vm, std::size_t disk) {
  Machine& m = machine(vm);
  if (auto it = m.written.find(disk); it != m.written.end()) return it->second;  // not booted yet: as written
  if (!m.system) return "";
  const bool nas = m.model && m.model->appliance == "truenas";
  const std::string pool_dir = nas && nas_ ? "/mnt/" + nas_->pool() : "";
  DiskImage image;
  if (disk == 0) {
    image.content = DiskImage::Content::system;
    image.system = m.model && !m.model->appliance.empty() ? m.model->appliance : "installed";
    image.os = m.system->os();
    image.swap = m.system->swap_on();
    image.packages = m.system->packages();
    // The units it starts at boot: those of its install (or its image) and those enabled since,
    // which Debian's packages do as they install (so: every unit running now).
    const std::vector<std::string> boot =
        m.boot_units ? *m.boot_units
        : m.model && m.model->kind == MachineModel::Kind::appliance ? appliance_image(m.model->appliance).units
                                                                    : std::vector<std::string>{"ssh"};
    image.services.insert(boot.begin(), boot.end());
    for (const auto& unit : m.system->services()) image.services.insert(unit);
  } else if (disk == 1 && nas && nas_) {
    image.content = DiskImage::Content::pool;
    image.pool = nas_->state();
  } else {
    return "";  // nothing the simulator keeps on this disk
  }
  const bool pool = image.content == DiskImage::Content::pool;
  for (const auto& dir : m.system->directories())
    if (pool_dir.empty() || under(dir, pool_dir) == pool) image.dirs.insert(dir);
  m.system->for_each_file([&](const std::string& path, const std::string& content, unsigned mode) {
    if (pool_dir.empty() || under(path, pool_dir) == pool) image.files[path] = DiskImage::File{content, mode};
  });
  if (pool && image.dirs.empty()) image.dirs.insert(pool_dir);
  return encode_disk_image(image);
}

void SimWorld::write_disk_image(const std::string& vm, std::size_t disk, std::string image) {
  Machine& m = machine(vm);
  engine_.log(vm, "disk-replaced", {{"disk", disk}, {"bytes", image.size()}});
  if (disk == 0) {  // its system is whatever the image holds now
    if (m.system) kube_.remove_node(kube_node(vm).name);
    m.system.reset();
    m.boot_units.reset();
    m.on_disk = !image.empty();
    if (vm == pf_machine_) {
      pf_config_.reset();
      pf_dhcp_.reset();
      pf_machine_.clear();
    }
  }
  if (disk == 1 && m.model && m.model->appliance == "truenas" && nas_) {
    nas_.reset();  // the pool was on that disk
    if (m.system) {
      std::vector<std::string> gone;
      m.system->for_each_file([&](const std::string& path, const std::string&, unsigned) {
        if (under(path, "/mnt")) gone.push_back(path);
      });
      for (const auto& path : gone) m.system->remove_file(path);
    }
  }
  if (image.empty() && disk == 0)
    m.written.erase(disk);
  else
    m.written[disk] = std::move(image);
}

std::string SimWorld::import_pool(Machine& m, SimHost& system) {
  auto it = m.written.find(1);
  if (it == m.written.end()) return "";
  const std::string bytes = std::move(it->second);
  m.written.erase(it);
  if (bytes.empty()) return "";  // an empty data disk: the pool starts empty
  DiskImage image;
  try {
    image = decode_disk_image(bytes);
  } catch (const std::invalid_argument& e) {
    return "TrueNAS cannot import its pool from disk 1: " + std::string(e.what());
  }
  if (image.content != DiskImage::Content::pool) return "TrueNAS cannot import its pool from disk 1: it holds a system, not a ZFS pool";
  if (image.pool.pool != m.model->pool)
    return "TrueNAS's disk 1 holds the pool '" + image.pool.pool + "', not the site's '" + m.model->pool + "'";
  nas_ = std::make_unique<NasStorage>(engine_, image.pool);
  for (const auto& dir : image.dirs) system.make_dir(dir);
  for (const auto& [path, f] : image.files) system.load_file(path, f.content, f.mode);
  engine_.log(m.name, "pool-imported", {{"pool", image.pool.pool}, {"datasets", image.pool.datasets.size()},
                                       {"shares", image.pool.shares.size()}, {"files", image.files.size()}});
  return "";
}

void SimWorld::boot_from_image(Machine& m, std::uint64_t gen, std::size_t index) {
  const std::string bytes = std::move(m.written.at(0));
  m.written.erase(0);
  DiskImage image;
  try {
    image = decode_disk_image(bytes);
  } catch (const std::invalid_argument& e) {
    m.on_disk = false;
    return halt(m, "the boot from disk 0 stopped: the disk holds no system the firmware can boot (" + std::string(e.what()) + ")");
  }
  if (image.content != DiskImage::Content::system) {
    m.on_disk = false;
    return halt(m, "the boot from disk 0 stopped: the disk holds a ZFS pool's data, not a system");
  }
  const std::string want = m.model && !m.model->appliance.empty() ? m.model->appliance : "installed";
  if (image.system != want) {
    m.on_disk = false;
    return halt(m, "the boot from disk 0 stopped: the disk holds a " + image.system + " system, but " + m.name +
                       " is the site's " + want + (want == "installed" ? " machine" : " appliance"));
  }
  std::unique_ptr<SimHost> sys;
  if (want == "installed") {
    sys = std::make_unique<SimHost>(engine_, m.name);
    sys->set_available_packages(mirror_packages());
    wire_services(*sys, m.name);
    wire_kube(*sys, m.name);
  } else {
    std::string why;
    sys = appliance_system(m, want, &why);
    if (!sys) return halt(m, why);
  }
  // The image's system on top of what the install brings.
  sys->set_os(image.os);
  sys->set_swap(image.swap);
  for (const auto& p : image.packages) sys->install_package(p);
  for (const auto& dir : image.dirs) sys->make_dir(dir);
  for (const auto& [path, f] : image.files) sys->load_file(path, f.content, f.mode);
  m.boot_units = std::vector<std::string>(image.services.begin(), image.services.end());
  m.system = std::move(sys);
  m.on_disk = true;
  engine_.log(m.name, "disk-image-booted", {{"system", image.system}, {"files", image.files.size()}, {"bytes", bytes.size()}});
  (void)index;
  boot_system(m, gen);
}

}  // namespace drctl::sim
