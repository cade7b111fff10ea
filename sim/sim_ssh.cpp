// SSH into the simulated site: whether drctl's login to a host succeeds now (the name resolved,
// port 22 reached, the host that answers, the key in authorized_keys), and the reasons ssh prints.
#include "sim/sim_world.hpp"

#include <algorithm>
#include <sstream>


namespace drctl::sim {

using json = nlohmann::json;
using world::Duration;

namespace {

bool same_key(const std::string& a, const std::string& b) {
  auto head = [](const std::string& k) {
    std::istringstream in(k);
    std::string type, body;
    in >> type >> body;
    return type + " " + body;
  };
  return head(a) == head(b) && !head(a).empty() && head(a) != " ";
}

}  // namespace

SimWorld::Login SimWorld::ssh_login(const std::string& host) {
  auto refused = [](std::string reason, std::string machine = "") {
    Login no;
    no.reason = std::move(reason);
    no.machine = std::move(machine);
    return no;
  };
  const MachineModel* model = site_.machine(host);
  if (!model) return refused("not a host of the site");
  const std::string address = model->address.empty() ? host : model->address;
  const auto ips = resolve_name(address);
  if (ips.empty()) return refused("Could not resolve hostname " + address);
  auto reach = net_.connect(site_.controller().name, ips.front(), 22, Proto::tcp);
  if (reach.outcome != SimNetwork::Outcome::connected)
    return refused("connect to " + ips.front() + " port 22: " + reach.reason);
  SimHost* sys = system(reach.node);
  if (!sys) return refused("connect to " + ips.front() + " port 22: the answering machine has no system");
  if (reach.node != host)
    return refused("the host key of " + ips.front() + " is not " + host + "'s: the address is answered by " + reach.node, reach.node);
  if (model->ssh_key.empty()) return refused("no SSH key to log in with (set ssh_key on the host or in the site's vars)");
  const std::string user = model->user.empty() ? "root" : model->user;
  const std::string home = user == "root" ? "/root" : "/home/" + user;
  const std::string keys_file = home + "/.ssh/authorized_keys";
  const auto keys = sys->get_file(keys_file);
  std::istringstream lines(keys.value_or(""));
  std::string line;
  while (std::getline(lines, line))
    if (same_key(line, model->ssh_key)) return {true, "", reach.node, user, home, reach.segments};
  return refused(user + "@" + ips.front() + ": Permission denied (publickey): the key is not in " + keys_file);
}

}  // namespace drctl::sim
