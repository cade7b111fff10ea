#include "world/real/steady_clock.hpp"

#include <algorithm>
#include <thread>

namespace drctl::world::real {

bool SteadyClock::sleep(Duration d) {
  const auto end = Clock_::now() + d;
  while (Clock_::now() < end) {
    if (cancel_.requested()) return false;
    auto left = std::chrono::duration_cast<Duration>(end - Clock_::now());
    std::this_thread::sleep_for(std::clamp(left, Duration(0), Duration(50)));
  }
  return !cancel_.requested();
}

}  // namespace drctl::world::real
