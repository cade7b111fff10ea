// The connections of one SSH host: opened lazily, kept for the next step, one per caller at a
// time (a libssh session must not be used by two threads at once), kept alive while idle.
#pragma once
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "world/real/ssh_config.hpp"
#include "world/world.hpp"

namespace drctl::world::real {

class SshConnection;

/// Thrown by SshPool::acquire() when Cancel was requested while waiting.
struct SshCancelled {};

/// Sequential callers reuse one connection; callers side by side each get one, up to
/// kMaxConnections (beyond that they wait for one). Idle connections get an SSH keepalive every
/// keepalive_interval, so firewalls keep their state and a dead one is dropped before use.
class SshPool {
 public:
  /// Connections to the same host at once, at most.
  static constexpr int kMaxConnections = 8;

  /// A connection taken from the pool; it goes back (or away, when dead) on destruction.
  class Lease {
   public:
    Lease(SshPool& pool, std::unique_ptr<SshConnection> conn, bool reused);
    Lease(Lease&& o) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    SshConnection& conn() { return *conn_; }
    /// True when the connection had been used before (and may have died since).
    bool reused() const { return reused_; }

   private:
    SshPool* pool_;
    std::unique_ptr<SshConnection> conn_;
    bool reused_;
  };

  /// The pool for `endpoint` (both must outlive it); waits for a connection end early on `cancel`.
  SshPool(const SshEndpoint& endpoint, const Cancel& cancel);
  /// Stops the keepalive thread and closes every idle connection.
  ~SshPool();
  SshPool(const SshPool&) = delete;
  SshPool& operator=(const SshPool&) = delete;

  /// An idle connection that is still alive, else a new one (opened within the endpoint's
  /// connect timeout and what is left until `deadline`). Throws SshCancelled on cancel, SshError
  /// when it cannot connect or every connection stayed busy until `deadline`.
  Lease acquire(Clock_::time_point deadline);
  /// SSH connections opened so far.
  int connections_opened() const;

 private:
  void release(std::unique_ptr<SshConnection> conn);
  void keepalive_loop();

  const SshEndpoint& endpoint_;
  const Cancel& cancel_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a connection came back, or stop_
  std::vector<std::unique_ptr<SshConnection>> idle_;
  int open_ = 0;    // connections that exist: idle or in use
  int opened_ = 0;  // connections ever opened
  bool stop_ = false;
  std::thread keepalive_;
};

/// How long until `deadline`, never negative; milliseconds::max() for time_point::max().
std::chrono::milliseconds time_left_until(Clock_::time_point deadline);

}  // namespace drctl::world::real
