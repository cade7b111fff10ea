// A drill's faults applied to the simulated site, and the invariants checked as it runs.
#include "sim/sim_world.hpp"

#include <algorithm>
#include <sstream>

#include "sim/sim_machine.hpp"

namespace drctl::sim {

using json = nlohmann::json;
using world::Duration;

void SimWorld::schedule_faults(std::vector<FaultSpec> faults) {
  for (const auto& f : faults) {
    std::string machine = f.target.substr(0, f.target.find_first_of("/:"));
    if (f.action == "fill_disk" || f.action == "slow_installer" || f.action.rfind("host_power", 0) == 0) continue;
    if (!site_.machine(machine)) throw SiteError(f.where + ".target: '" + machine + "' is not a host of the site");
  }
  faults_ = std::make_unique<FaultSchedule>(engine_, std::move(faults),
                                            [this](const FaultSpec& f, bool undo) { apply_fault(f, undo); });
  engine_.on_log([this](const json& e) {
    if (faults_) faults_->observe(e);
  });
  faults_->arm();
}

std::vector<std::string> SimWorld::faults_not_fired() const { return faults_ ? faults_->not_fired() : std::vector<std::string>{}; }

void SimWorld::apply_fault(const FaultSpec& f, bool undo) {
  const auto split = f.target.find_first_of("/:");
  const std::string machine = f.target.substr(0, split), rest = split == std::string::npos ? "" : f.target.substr(split + 1);
  auto in_hypervisor = [this](const std::string& vm) {
    for (const auto& v : hv_.list())
      if (v.spec.name == vm) return true;
    return false;
  };
  const std::string& a = f.action;
  if (a == "power_off" || a == "power_on") {
    if (!in_hypervisor(machine)) return engine_.log("faults", "fault-skipped", {{"where", f.where}, {"reason", "no VM " + machine}});
    ((a == "power_off") != undo) ? hv_.stop(machine) : hv_.start(machine);
  } else if (a == "host_power_off" || a == "host_power_on") {
    if ((a == "host_power_off") != undo) {
      powered_before_fault_.clear();
      for (const auto& v : hv_.list())
        if (v.running) powered_before_fault_.push_back(v.spec.name);
      hv_.power_off_host();
    } else {
      hv_.power_on_host();
      for (const auto& vm : powered_before_fault_) hv_.start(vm);  // their autostart
    }
  } else if (a == "link_down" || a == "link_up") {
    const std::string nic = rest.empty() ? (site_.machine(machine)->vm ? "nic0" : "eth0") : rest;
    net_.set_link(machine, nic, (a == "link_up") != undo);
  } else if (a == "loss") {
    net_.set_loss(machine, undo ? 0.0 : f.value);
  } else if (a == "isolate" || a == "unisolate") {
    net_.set_isolated(machine, (a == "isolate") != undo);
  } else if (a == "stop_service" || a == "start_service") {
    set_service(machine, rest, (a == "start_service") != undo);
  } else if (a == "delete_file") {
    if (SimHost* sys = system(machine)) sys->remove_file(rest);
  } else if (a == "fill_disk") {
    if (!nas_) return engine_.log("faults", "fault-skipped", {{"where", f.where}, {"reason", "no NAS is installed"}});
    nas_->fill(f.target);
  } else if (a == "slow_installer") {
    set_install_slowdown(undo ? 1.0 : f.value);
  }
}

std::vector<std::string> SimWorld::check_invariants(bool final) {
  static thread_local bool busy = false;  // logging a violation is an event too
  if (busy) return {};
  busy = true;
  struct Done {  // reset also when something below throws: later checks on this thread must run
    bool& b;
    ~Done() { b = false; }
  } done{busy};
  std::vector<std::string> out;
  // VMs beyond the host's threads or memory are no violation: ESXi overcommits both (the
  // hypervisor logs a warning; sim/CONFORMANCE.md, "Hypervisors").
  for (const auto& n : site_.networks) {
    std::map<std::string, std::set<std::string>> owners;
    for (const auto& [name, m] : machines_)
      for (std::size_t i = 0; i < m->spec.nics.size(); ++i)
        if (m->spec.nics[i].network == n.name && state(name) != "off")
          for (const auto& ip : net_.addresses_of(name, nic_id(i))) owners[ip].insert(name);
    for (const auto& [ip, who] : owners) {
      const bool vip = vip_holder_.contains(ip);
      if (who.size() > 1 && !vip) out.push_back("IP " + ip + " is on more than one machine on " + n.name);
      if (who.size() > 1 && vip) out.push_back("VIP " + ip + " is answered by more than one node");
    }
  }
  if (final) {
    for (const auto& [svc, ip] : lb_ips_)
      if (vip_holder(ip).empty() || state(vip_holder(ip)) != "up") out.push_back("VIP " + ip + " (" + svc + ") is answered by no node");
    for (const auto& ing : kube_.objects("Ingress"))
      for (const auto& rule : ing["spec"].value("rules", json::array())) {
        const std::string host = rule.value("host", "");
        if (host.empty()) continue;
        auto r = route(false, host, "/");
        if (r.status != 200) out.push_back("Ingress host " + host + " does not reach a ready pod: " + r.reason);
      }
  }
  for (const auto& v : out)
    if (violations_.insert(v).second) engine_.log("invariants", "violated", {{"what", v}});
  return out;
}

}  // namespace drctl::sim
