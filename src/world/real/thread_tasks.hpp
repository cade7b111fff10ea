// Tasks as plain threads: how a real run executes its steps side by side.
#pragma once
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "world/world.hpp"

namespace drctl::world::real {

class ThreadTasks : public Tasks {
 public:
  void run(const std::function<void()>& main) override;
  void start(const std::string& name, std::function<void()> fn) override;
  void wait(Duration poll) override;
  void notify() override;

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool notified_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace drctl::world::real
