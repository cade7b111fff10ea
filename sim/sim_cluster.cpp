// The cluster wired into the simulated site: kubeadm, kubectl and etcdctl on the machines,
// the nodes' state from their machines, MetalLB's addresses and the VIPs' failover, kube-proxy
// ports, and HTTP through the ingress on a VIP.
#include "sim/sim_world.hpp"

#include <algorithm>
#include <sstream>

#include "sim/sim_machine.hpp"

namespace drctl::sim {

using json = nlohmann::json;
using world::Duration;

KubeNode SimWorld::kube_node(const std::string& machine_name) {
  KubeNode node;
  SimHost* sys = machine_name == site_.controller().name ? controller_.get() : system(machine_name);
  node.name = machine_name;
  if (!sys) return node;
  if (auto h = sys->get_file("/etc/hostname")) {
    node.name = *h;
    while (!node.name.empty() && (node.name.back() == '\n' || node.name.back() == ' ')) node.name.pop_back();
  }
  const auto addresses = net_.addresses(machine_name);
  if (!addresses.empty()) node.address = addresses.front();
  node.container_runtime = (sys->installed("containerd") && sys->service_active("containerd")) ||
                           (sys->installed("docker.io") && sys->service_active("docker.io"));
  node.kubelet = sys->installed("kubelet");
  node.swap_on = sys->swap_on();
  return node;
}

std::string SimWorld::machine_of_node(const std::string& node) const {
  for (const auto& [name, m] : machines_) {
    if (!m->system) continue;
    auto h = m->system->get_file("/etc/hostname");
    if (h && (*h == node + "\n" || *h == node)) return name;
  }
  return "";
}

void SimWorld::wire_kube(SimHost& host, const std::string& machine_name) {
  SimHost* h = &host;
  const KubeFiles files{[h](const std::string& path) { return h->get_file(path); },
                        [h](const std::string& path, const std::string& content, unsigned mode) { h->put_file(path, content, mode); },
                        [h](const std::string& path) { h->remove_file(path); }};
  auto missing = [](const std::string& tool) { return SimHost::Result{127, "", "sh: 1: " + tool + ": not found\n"}; };
  host.add_command(
      "kubeadm",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("kubeadm")) return missing("kubeadm");
        auto r = kube_.kubeadm(kube_node(machine_name), argv, files);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("kubeadm"); });
  // etcd-client is etcd 3.5's: etcdctl and etcdutl. An etcd binary comes only with etcd-server
  // (kubeadm runs etcd from its image).
  host.add_command(
      "etcdctl",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("etcd-client")) return missing("etcdctl");
        auto r = kube_.etcdctl(kube_node(machine_name), argv, files);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("etcd-client"); });
  host.add_command(
      "etcdutl",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("etcd-client")) return missing("etcdutl");
        auto r = kube_.etcdutl(kube_node(machine_name), argv, files);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("etcd-client"); });
  host.add_command(
      "etcd",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("etcd-server")) return missing("etcd");
        auto r = kube_.etcd(argv);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("etcd-server"); });
  host.add_command(
      "kubectl",
      [=, this](const std::vector<std::string>& argv, const std::string& stdin_data) {
        if (!h->installed("kubectl")) return missing("kubectl");
        if (kube_.api_up()) {  // kubectl talks to the API server over the network
          const std::string api = machine_of_node(kube_.api_node());
          const auto addresses = api.empty() ? std::vector<std::string>{} : net_.addresses(api);
          if (!addresses.empty()) {
            auto reach = net_.connect(machine_name, addresses.front(), 6443, Proto::tcp);
            if (reach.outcome != SimNetwork::Outcome::connected)
              return SimHost::Result{1, "", "Unable to connect to the server: dial tcp " + addresses.front() + ":6443: " + reach.reason + "\n"};
          }
        }
        auto r = kube_.kubectl(argv, stdin_data, h->command_env(), files);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("kubectl"); });
  // The kubelet watches its static pod manifests; etcd's data dir moved into place is restored data.
  host.on_file_event([=, this](const std::string& op, const std::string& path, const std::string& to) {
    const std::string manifests = "/etc/kubernetes/manifests";
    auto in_manifests = [&](const std::string& p) { return p == manifests || p.starts_with(manifests + "/"); };
    if (in_manifests(path) || (op == "move" && in_manifests(to))) kube_.static_pods_changed(kube_node(machine_name), files);
    if (op == "move") kube_.etcd_data_moved(kube_node(machine_name), to, files);
  });
}

std::string SimWorld::vip_holder(const std::string& ip) const {
  auto it = vip_holder_.find(ip);
  return it == vip_holder_.end() ? "" : it->second;
}

void SimWorld::move_vip(const std::string& ip, const std::string& to) {
  const std::string from = vip_holder(ip);
  if (from == to) return;
  auto nic_for = [this](const std::string& machine, const std::string& address) -> std::string {
    auto it = machines_.find(machine);
    if (it == machines_.end()) return "";
    for (std::size_t i = 0; i < it->second->spec.nics.size(); ++i)
      if (const NetworkModel* n = site_.network(it->second->spec.nics[i].network))
        if (Cidr::parse(n->cidr).contains(IpAddress::parse(address))) return nic_id(i);
    return "";
  };
  if (!from.empty())
    if (const std::string nic = nic_for(from, ip); !nic.empty()) net_.remove_address(from, nic, ip);
  if (to.empty()) {
    vip_holder_.erase(ip);
  } else if (const std::string nic = nic_for(to, ip); !nic.empty()) {
    net_.add_address(to, nic, ip);
    vip_holder_[ip] = to;
  }
  engine_.log("metallb", "vip-announced", {{"ip", ip}, {"from", from}, {"to", to}});
}

void SimWorld::reconcile_cluster() {
  static thread_local bool busy = false;  // setting a Service's status is itself a change
  if (busy) return;
  busy = true;
  struct Done {
    bool& b;
    ~Done() { b = false; }
  } done{busy};

  // The API server's port on the control-plane node.
  if (kube_.api_up() && !apiserver_stopped_)
    if (const std::string api = machine_of_node(kube_.api_node()); !api.empty()) net_.listen(api, 6443, Proto::tcp, "kube-apiserver");

  // MetalLB: the controller assigns, the speakers (on running machines) announce.
  bool controller_ready = false;
  std::vector<std::string> speakers;
  for (const auto& pod : kube_.pods()) {
    if (pod.ns != "metallb-system" || !pod.ready) continue;
    const std::string component = pod.labels.value("component", "");
    if (component == "controller") controller_ready = true;
    const std::string machine = machine_of_node(pod.node);
    if (component == "speaker" && !machine.empty() && state(machine) == "up") speakers.push_back(pod.node);
  }
  std::sort(speakers.begin(), speakers.end());
  speakers.erase(std::unique(speakers.begin(), speakers.end()), speakers.end());
  if (controller_ready) {
    std::vector<json> objects = kube_.objects("ConfigMap");
    for (const char* kind : {"IPAddressPool", "L2Advertisement"})
      for (auto& o : kube_.objects(kind)) objects.push_back(std::move(o));
    std::vector<std::string> cidrs;
    for (const auto& node : kube_.nodes(false)) {
      auto it = machines_.find(machine_of_node(node));
      if (it == machines_.end()) continue;
      for (const auto& nic : it->second->spec.nics)
        if (const NetworkModel* n = site_.network(nic.network)) cidrs.push_back(n->cidr);
    }
    const MetalConfig config = read_metallb_config(objects, cidrs);
    for (const auto& error : config.errors)
      if (pending_.emplace("config: " + error, error).second) engine_.log("metallb", "config-error", {{"error", error}});
    std::vector<json> services;
    for (auto& svc : kube_.objects("Service"))
      if (svc["spec"].value("type", "") == "LoadBalancer") services.push_back(std::move(svc));
    std::map<std::string, std::string> ips;
    for (const auto& a : assign_ips(config, services, lb_ips_)) {
      const std::string key = a.ns + "/" + a.name;
      if (a.ip.empty()) {
        if (pending_[key] != a.pending_reason) engine_.log("metallb", "pending", {{"service", key}, {"reason", a.pending_reason}});
        pending_[key] = a.pending_reason;
        if (lb_ips_.contains(key)) kube_.set_load_balancer_ip(a.ns, a.name, "");
        continue;
      }
      pending_.erase(key);
      ips[key] = a.ip;
      if (lb_ips_[key] != a.ip) {
        kube_.set_load_balancer_ip(a.ns, a.name, a.ip);
        engine_.log("metallb", "ip-assigned", {{"service", key}, {"ip", a.ip}});
      }
    }
    lb_ips_ = std::move(ips);
  }
  // Announcements: one speaker node per VIP; when the holder is gone, the others notice after a
  // few seconds (memberlist), then one of them takes over.
  std::set<std::string> vips;
  for (const auto& [svc, ip] : lb_ips_) vips.insert(ip);
  for (const auto& [ip, holder] : std::map<std::string, std::string>(vip_holder_))
    if (!vips.contains(ip)) move_vip(ip, "");
  for (const auto& ip : vips) {
    const std::string want = machine_of_node(announcing_node(ip, speakers));
    const std::string now = vip_holder(ip);
    if (want == now) continue;
    if (!now.empty() && state(now) != "up") {
      auto moving = vip_moving_.find(ip);
      if (moving == vip_moving_.end()) {
        const Duration when = engine_.now() + engine_.rng().between(Duration(2000), Duration(8000));
        vip_moving_[ip] = when;
        engine_.log("metallb", "vip-failover-started", {{"ip", ip}, {"from", now}});
        engine_.background(when, [this] { reconcile_cluster(); });
        move_vip(ip, "");
        vip_holder_[ip] = now;  // still the holder as far as the others know, until they notice
        continue;
      }
      if (engine_.now() < moving->second) continue;
      vip_moving_.erase(moving);
    }
    move_vip(ip, want);
  }
  // kube-proxy: every running node answers on the LoadBalancer ports; HTTP on 80 is the ingress.
  for (const auto& node : kube_.nodes(false)) {
    const std::string machine = machine_of_node(node);
    if (machine.empty()) continue;
    for (const auto& svc : kube_.objects("Service")) {
      if (svc["spec"].value("type", "") != "LoadBalancer" || !svc["spec"].contains("ports")) continue;
      for (const auto& port : svc["spec"]["ports"])
        net_.listen(machine, port.value("port", 0), port.value("protocol", "TCP") == "UDP" ? Proto::udp : Proto::tcp,
                    "kube-proxy");
    }
    for (const bool https : {false, true})
      view_->serve_http(
          machine, https ? 443 : 80,
          [this, https](const std::string& host_header, const std::string& path) {
            const std::string host = host_header.substr(0, host_header.find(':'));
            auto r = route(https, host, path);
            world::HttpResponse out;
            out.status = r.status;
            out.body = r.status == 200 ? "served by " + r.endpoint + "\n" : r.reason + "\n";
            if (r.status == 0) out.error = r.reason;
            // The Ingress's own certificate (the simulator does not mint keys: the Secret stands for it).
            if (https && r.status != 0) out.tls_names = {host}, out.tls_trusted = true;
            return out;
          },
          https);
  }
}

IngressRoute SimWorld::route(bool https, const std::string& host, const std::string& path) {
  auto resolve = [this](const std::string& ns, const std::string& service, const json& port) {
    std::vector<std::string> pods;
    const auto eps = port.contains("name") ? kube_.endpoints(ns, service, port["name"].get<std::string>())
                                           : kube_.endpoints(ns, service, port.value("number", 0));
    for (const auto& e : eps)  // a pod on a machine that is down does not answer, whatever the API says
      if (state(machine_of_node(e.node)) == "up") pods.push_back(e.pod);
    return pods;
  };
  bool controller_ready = false;
  for (const auto& pod : kube_.pods())
    if (pod.ns == "ingress-nginx" && pod.ready) controller_ready = true;
  if (!controller_ready) return IngressRoute{503, "", "", "", "no ready ingress-nginx controller pod"};
  auto r = route_request(kube_.objects("Ingress"), kube_.objects("Service"), kube_.objects("Secret"), resolve, "nginx",
                         https, host, path);
  engine_.log("ingress", "request", {{"host", host}, {"path", path}, {"https", https}, {"status", r.status},
                                     {"endpoint", r.endpoint}, {"reason", r.reason}});
  return r;
}

SimWorld::HttpResult SimWorld::http(const std::string& from, const std::string& ip, int port, bool https,
                                    const std::string& host, const std::string& path) {
  auto reach = net_.connect(from, ip, port, Proto::tcp);
  if (reach.outcome != SimNetwork::Outcome::connected) return {0, "", reach.reason};
  auto r = route(https, host, path);
  if (r.status == 0) return {0, "", r.reason};
  return {r.status, r.status == 200 ? "served by " + r.endpoint + "\n" : r.reason + "\n", r.status == 200 ? "" : r.reason};
}

}  // namespace drctl::sim
