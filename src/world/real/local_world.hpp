// The real World of a run on this machine: the steady clock, the host's network and the
// local host (under "local" and any alias a site gives it).
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "world/real/local_host.hpp"
#include "world/real/socket_network.hpp"
#include "world/real/steady_clock.hpp"
#include "world/real/thread_tasks.hpp"
#include "world/world.hpp"

namespace drctl::world::real {

/// This machine as a World; it has no hypervisor. Register aliases before the run starts:
/// host() may then be called from several threads.
class LocalWorld : public World {
 public:
  LocalWorld();

  /// The local host for "local" or a registered alias; std::out_of_range otherwise.
  Host& host(const std::string& name) override;
  /// Steady time; sleeps end early on cancel.
  Clock& clock() override { return clock_; }
  /// The host's own network stack.
  Network& network() override { return network_; }
  /// This machine's stack for itself; another host's through curl run there (HostNetwork).
  Network& network_from(const std::string& host) override;
  /// Always nullptr: a run on this machine manages no VMs.
  Hypervisor* hypervisor() override { return nullptr; }
  Tasks& tasks() override { return tasks_; }

  /// Makes `name` (e.g. a site host with `connection: local`) another name of the local host.
  void add_local_alias(const std::string& name);

  void tag_commands(const std::string& tag) override { local_.set_tag(tag); }
  int kill_tagged(const std::string& tag) override { return kill_tagged_processes(tag); }

 private:
  SteadyClock clock_;
  SocketNetwork network_;
  LocalHost local_;
  ThreadTasks tasks_;
  std::set<std::string> aliases_;
  std::mutex networks_mutex_;
  std::map<std::string, std::unique_ptr<Network>> networks_;  // host -> its view, made on first use
};

}  // namespace drctl::world::real
