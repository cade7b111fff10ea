// Time as data moves (sim/CONFORMANCE.md, "Time"): a transfer takes its bytes ÷ the slowest
// segment of its path, or ÷ the pool's disk throughput when that is slower; a drill may declare
// that a directory's files are a sample of much more data (18G of mail), and then each sample
// byte weighs what it stands for, in storage and in time.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "sim/disk_image.hpp"
#include "sim/host_paths.hpp"
#include "sim/sim_machine.hpp"
#include "sim/sim_world.hpp"

namespace drctl::sim {

void SimWorld::declare_data_size(const std::string& machine, const std::string& dir, std::int64_t bytes) {
  SimHost* sys = system(machine);
  if (!sys) throw std::invalid_argument(machine + " has no running system holding " + dir);
  std::int64_t sample = 0;
  sys->for_each_file([&](const std::string& path, const std::string& content, unsigned) {
    if (under(path, dir)) sample += static_cast<std::int64_t>(content.size());
  });
  if (sample == 0) throw std::invalid_argument(machine + ":" + dir + " holds no files to stand for its declared size");
  if (bytes < sample)
    throw std::invalid_argument(machine + ":" + dir + ": the declared size (" + std::to_string(bytes) +
                                " bytes) is less than the files already there (" + std::to_string(sample) + " bytes)");
  // The storage holds the sample at its weight now; it grows (or shrinks) to the declared size.
  const double before = data_weight(machine, dir + "/");
  const auto held = static_cast<std::int64_t>(std::llround(static_cast<double>(sample) * before));
  std::string why;
  if (!sys->account(dir + "/", bytes - held, &why))
    throw std::invalid_argument(machine + ":" + dir + " cannot hold its declared size: " + why);
  data_weights_[machine][dir] = static_cast<double>(bytes) / static_cast<double>(sample);
  engine_.log(machine, "data-declared", {{"dir", dir}, {"bytes", bytes}, {"sample_bytes", sample}});
}

double SimWorld::data_weight(const std::string& machine, const std::string& path) const {
  auto m = data_weights_.find(machine);
  if (m == data_weights_.end()) return 1.0;
  const std::string* best = nullptr;
  double weight = 1.0;
  for (const auto& [dir, w] : m->second)
    if (under(path, dir) && (!best || dir.size() > best->size())) {
      best = &dir;
      weight = w;
    }
  return weight;
}

std::int64_t SimWorld::image_weight(const std::string& vm, const std::string& image) const {
  const auto size = static_cast<std::int64_t>(image.size());
  if (image.empty() || !data_weights_.contains(vm)) return size;
  std::int64_t extra = 0;
  try {
    for (const auto& [path, f] : decode_disk_image(image).files) {
      const auto n = static_cast<double>(f.content.size());
      extra += std::llround(n * data_weight(vm, path)) - static_cast<std::int64_t>(f.content.size());
    }
  } catch (const std::invalid_argument&) {
    // Not an image the simulator wrote: it weighs its bytes.
  }
  return size + extra;
}

world::Duration SimWorld::download_time(const std::string& machine, std::int64_t bytes, const std::string& what) {
  double slowest = 0;
  auto consider = [&](const std::string& network) {
    const double bw = net_.bandwidth(network);
    slowest = slowest == 0 ? bw : std::min(slowest, bw);
  };
  if (const MachineModel* m = site_.machine(machine); m && m->vm)
    for (const auto& nic : m->vm->nics) consider(nic.network);
  for (const auto& n : site_.networks)
    if (n.vswitch.empty()) consider(n.name);
  if (slowest == 0 || bytes <= 0) return world::Duration(0);
  const double seconds = static_cast<double>(bytes) / slowest;
  if (seconds >= 1)
    engine_.log(machine, "transfer",
                {{"what", what}, {"bytes", bytes}, {"seconds", std::round(seconds * 10) / 10}, {"limit", "the internet uplink"},
                 {"rate", slowest}});
  return world::Duration(std::llround(seconds * 1000));
}

void SimWorld::take_time(const std::string& what, const std::string& machine, std::int64_t bytes,
                         const std::vector<std::string>& segments, std::int64_t disk) {
  if (!engine_.in_actor() || (bytes <= 0 && disk <= 0)) return;
  const MachineModel* m = site_.machine(machine);
  const double pool = m && m->pool_throughput > 0 ? m->pool_throughput : 0;
  // This transfer's share of each network and of the pool, while it lasts.
  std::vector<std::string> keys;
  for (const auto& seg : segments) keys.push_back("net:" + seg);
  if (pool > 0 && disk > 0) keys.push_back("disk:" + machine);
  struct Share {
    std::map<std::string, int>& count;
    const std::vector<std::string>& keys;
    Share(std::map<std::string, int>& c, const std::vector<std::string>& k) : count(c), keys(k) {
      for (const auto& key : keys) ++count[key];
    }
    ~Share() {
      for (const auto& key : keys) --count[key];
    }
  } share(sharing_, keys);
  const world::Duration start = engine_.now();
  double net_left = static_cast<double>(std::max<std::int64_t>(bytes, 0));
  double disk_left = pool > 0 ? static_cast<double>(std::max<std::int64_t>(disk, 0)) : 0;
  std::string limit = "the network";
  double rate_seen = 0;
  constexpr double kQuantum = 5.0;  // seconds between looks at how many share the way
  while (net_left > 0.5 || disk_left > 0.5) {
    double net_rate = 0;
    for (const auto& seg : segments) {
      const double r = net_.bandwidth(seg) / sharing_["net:" + seg];
      net_rate = net_rate == 0 ? r : std::min(net_rate, r);
    }
    if (segments.empty()) net_rate = SimNetwork::kDefaultBandwidth;
    const double disk_rate = pool > 0 ? pool / sharing_["disk:" + machine] : 0;
    const double t_net = net_left > 0.5 ? net_left / net_rate : 0;
    const double t_disk = disk_left > 0.5 ? disk_left / disk_rate : 0;
    if (t_disk > t_net) limit = "the pool's disks", rate_seen = disk_rate;
    else limit = "the network", rate_seen = net_rate;
    const double step = std::min(std::max(t_net, t_disk), kQuantum);
    const world::Duration d(std::max<std::int64_t>(1, std::llround(step * 1000)));
    engine_.sleep(d);
    const double done = static_cast<double>(d.count()) / 1000.0;
    net_left = std::max(0.0, net_left - net_rate * done);
    disk_left = disk_rate > 0 ? std::max(0.0, disk_left - disk_rate * done) : 0;
  }
  const double seconds = static_cast<double>((engine_.now() - start).count()) / 1000.0;
  if (seconds >= 1)
    engine_.log(machine, "transfer",
                {{"what", what}, {"bytes", bytes}, {"disk_bytes", disk}, {"seconds", std::round(seconds * 10) / 10},
                 {"limit", limit}, {"rate", rate_seen}, {"started", start.count()}});
}

}  // namespace drctl::sim
