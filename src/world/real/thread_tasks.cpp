#include "world/real/thread_tasks.hpp"

namespace drctl::world::real {

void ThreadTasks::run(const std::function<void()>& main) {
  main();
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void ThreadTasks::start(const std::string&, std::function<void()> fn) {
  std::lock_guard lock(mutex_);
  threads_.emplace_back(std::move(fn));
}

void ThreadTasks::wait(Duration poll) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, poll, [this] { return notified_; });
  notified_ = false;
}

void ThreadTasks::notify() {
  {
    std::lock_guard lock(mutex_);
    notified_ = true;
  }
  cv_.notify_all();
}

}  // namespace drctl::world::real
