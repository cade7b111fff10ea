#include "world/real/local_world.hpp"

#include <stdexcept>

namespace drctl::world::real {

LocalWorld::LocalWorld() : clock_(cancel()), network_(cancel()), local_("local", cancel()) {}

Host& LocalWorld::host(const std::string& name) {
  if (name == local_.name() || aliases_.count(name) != 0) return local_;
  throw std::out_of_range("unknown host: " + name);
}

void LocalWorld::add_local_alias(const std::string& name) { aliases_.insert(name); }

}  // namespace drctl::world::real
