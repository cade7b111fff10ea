#include "world/real/real_world.hpp"

#include <future>
#include <stdexcept>
#include <vector>

#include "world/real/known_hosts.hpp"

namespace drctl::world::real {

void RealWorld::add_ssh_host(const SshHostSpec& spec) {
  ssh_[spec.name] = std::make_unique<SshHost>(resolve_ssh_endpoint(spec), cancel());
}

Host& RealWorld::host(const std::string& name) {
  if (auto it = ssh_.find(name); it != ssh_.end()) return *it->second;
  return LocalWorld::host(name);
}

SshHost* RealWorld::ssh_host(const std::string& name) {
  auto it = ssh_.find(name);
  return it == ssh_.end() ? nullptr : it->second.get();
}

void RealWorld::expect_host_key(const std::string& host, const std::string& public_line) {
  SshHost* h = ssh_host(host);
  if (!h) throw std::runtime_error("host " + host + " is not reached over SSH: it has no known_hosts entry to make");
  real::expect_host_key(h->endpoint(), public_line);
}

void RealWorld::tag_commands(const std::string& tag) {
  LocalWorld::tag_commands(tag);
  for (auto& [name, host] : ssh_) host->set_tag(tag);
}

int RealWorld::kill_tagged(const std::string& tag) {
  std::vector<std::future<int>> remote;
  for (auto& [name, host] : ssh_)
    remote.push_back(std::async(std::launch::async, [h = host.get(), &tag] {
      try {
        return h->kill_tagged(tag);
      } catch (const std::exception&) {
        return 0;  // the host cannot be asked now; what runs there is left alone
      }
    }));
  int found = LocalWorld::kill_tagged(tag);
  for (auto& f : remote) found += f.get();
  return found;
}

}  // namespace drctl::world::real
