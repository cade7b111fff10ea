#include "world/real/local_world.hpp"

#include <stdexcept>

#include "world/real/host_network.hpp"

namespace drctl::world::real {

LocalWorld::LocalWorld() : clock_(cancel()), network_(cancel()), local_("local", cancel()) {}

Host& LocalWorld::host(const std::string& name) {
  if (name == local_.name() || aliases_.count(name) != 0) return local_;
  throw std::out_of_range("unknown host: " + name);
}

Network& LocalWorld::network_from(const std::string& name) {
  Host& h = host(name);  // throws for an unknown host
  if (&h == &local_) return network_;
  std::lock_guard lock(networks_mutex_);
  auto& view = networks_[name];
  if (!view) view = std::make_unique<HostNetwork>(h);
  return *view;
}

void LocalWorld::add_local_alias(const std::string& name) { aliases_.insert(name); }

}  // namespace drctl::world::real
