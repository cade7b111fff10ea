#include "world/real/ssh_pool.hpp"

#include <algorithm>

#include "world/real/ssh_connection.hpp"

namespace drctl::world::real {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds kWaitTurn{50};    // how often a caller waiting for a connection looks at cancel
constexpr milliseconds kProbeIdle{1000};  // an idle connection older than this is probed before use

}  // namespace

milliseconds time_left_until(Clock_::time_point deadline) {
  if (deadline == Clock_::time_point::max()) return milliseconds::max();
  return std::max(milliseconds::zero(), std::chrono::ceil<milliseconds>(deadline - Clock_::now()));
}

SshPool::Lease::Lease(SshPool& pool, std::unique_ptr<SshConnection> conn, bool reused)
    : pool_(&pool), conn_(std::move(conn)), reused_(reused) {}

SshPool::Lease::Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)), reused_(o.reused_) {}

SshPool::Lease::~Lease() {
  if (conn_) pool_->release(std::move(conn_));
}

SshPool::SshPool(const SshEndpoint& endpoint, const Cancel& cancel) : endpoint_(endpoint), cancel_(cancel) {}

SshPool::~SshPool() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (keepalive_.joinable()) keepalive_.join();
  idle_.clear();
}

int SshPool::connections_opened() const {
  std::lock_guard lock(mutex_);
  return opened_;
}

SshPool::Lease SshPool::acquire(Clock_::time_point deadline) {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (cancel_.requested()) throw SshCancelled{};
    while (!idle_.empty()) {
      std::unique_ptr<SshConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      if (Clock_::now() - conn->last_used >= kProbeIdle) {
        lock.unlock();
        conn->keepalive();  // notices a connection the peer closed while it sat here
        lock.lock();
      }
      if (conn->alive()) return Lease(*this, std::move(conn), true);
      --open_;
    }
    if (open_ < kMaxConnections) {
      ++open_;
      lock.unlock();
      try {
        const milliseconds budget = std::min<milliseconds>(endpoint_.connect_timeout, time_left_until(deadline));
        if (budget <= milliseconds::zero()) throw SshError("no time left to connect within the command's timeout");
        std::unique_ptr<SshConnection> conn = SshConnection::open(endpoint_, budget);
        lock.lock();
        ++opened_;
        return Lease(*this, std::move(conn), false);
      } catch (...) {
        if (!lock.owns_lock()) lock.lock();
        --open_;
        changed_.notify_all();
        throw;
      }
    }
    if (Clock_::now() >= deadline)
      throw SshError("all " + std::to_string(kMaxConnections) + " connections to the host were busy until the timeout");
    changed_.wait_for(lock, kWaitTurn);
  }
}

void SshPool::release(std::unique_ptr<SshConnection> conn) {
  std::lock_guard lock(mutex_);
  if (conn->alive() && !stop_) {
    conn->last_used = Clock_::now();
    idle_.push_back(std::move(conn));
    if (!keepalive_.joinable()) keepalive_ = std::thread([this] { keepalive_loop(); });
  } else {
    --open_;
  }
  changed_.notify_all();
}

void SshPool::keepalive_loop() {
  std::unique_lock lock(mutex_);
  const auto interval = std::chrono::duration_cast<milliseconds>(endpoint_.keepalive_interval);
  while (!stop_) {
    changed_.wait_for(lock, std::max(milliseconds(200), interval / 3));
    const auto now = Clock_::now();
    for (std::size_t i = 0; i < idle_.size() && !stop_;) {
      if (now - idle_[i]->last_used < interval) {
        ++i;
        continue;
      }
      std::unique_ptr<SshConnection> conn = std::move(idle_[i]);
      idle_.erase(idle_.begin() + static_cast<std::ptrdiff_t>(i));
      lock.unlock();
      const bool ok = conn->keepalive();
      if (ok) conn->last_used = Clock_::now();
      else conn.reset();
      lock.lock();
      if (ok) idle_.push_back(std::move(conn));
      else --open_;
      changed_.notify_all();
    }
  }
}

}  // namespace drctl::world::real
