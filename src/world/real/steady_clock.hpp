// The real clock: steady time, and sleeps that end early when the run is cancelled.
#pragma once
#include "world/world.hpp"

namespace drctl::world::real {

class SteadyClock : public Clock {
 public:
  explicit SteadyClock(const Cancel& cancel) : cancel_(cancel) {}
  Clock_::time_point now() override { return Clock_::now(); }
  std::chrono::system_clock::time_point calendar_now() override { return std::chrono::system_clock::now(); }
  bool sleep(Duration d) override;

 private:
  const Cancel& cancel_;
};

}  // namespace drctl::world::real
