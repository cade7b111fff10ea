// The cluster wired into the simulated site: kubeadm, kubectl and etcdctl on the machines
// (kubectl dials the server of the kubeconfig it uses), the nodes' state from their machines,
// MetalLB's addresses and announcements (only while a Service has ready endpoints) and the VIPs'
// failover, kube-proxy's ports on a LoadBalancer's address once it has one, and HTTP(S) through
// the ingress on a VIP with the certificate ingress-nginx would present.
#include "sim/sim_world.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <sstream>

#include "sim/sim_machine.hpp"

namespace drctl::sim {

using json = nlohmann::json;
using world::Duration;

namespace {

// The value of `--flag VALUE` or `--flag=VALUE` in a command line; "" when absent.
std::string flag_value(const std::vector<std::string>& argv, const std::string& flag) {
  for (std::size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == flag && i + 1 < argv.size()) return argv[i + 1];
    if (argv[i].starts_with(flag + "=")) return argv[i].substr(flag.size() + 1);
  }
  return "";
}

// The server kubectl would dial (client-go's loading rules: --kubeconfig, else the first file of
// KUBECONFIG, else ~/.kube/config; the cluster of --context or current-context), as
// "https://host:port"; "" when the kubeconfig does not name one (kubectl then reports that itself).
std::string kubeconfig_server(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
                              const std::function<std::optional<std::string>(const std::string&)>& read) {
  std::string path = flag_value(argv, "--kubeconfig");
  if (path.empty()) {
    if (auto e = env.find("KUBECONFIG"); e != env.end() && !e->second.empty())
      path = e->second.substr(0, e->second.find(':'));
    else if (auto h = env.find("HOME"); h != env.end())
      path = h->second + "/.kube/config";
  }
  const auto text = path.empty() ? std::nullopt : read(path);
  if (!text) return "";
  std::string context = flag_value(argv, "--context");
  // kubectl runs again and again with the same kubeconfig: each thread keeps the answers (a pure
  // function of the text and the context).
  thread_local std::map<std::pair<std::string, std::string>, std::string> answered;
  auto key = std::make_pair(*text, context);
  if (auto hit = answered.find(key); hit != answered.end()) return hit->second;
  if (answered.size() >= 64) answered.clear();
  std::string server;
  try {
    const YAML::Node cfg = YAML::Load(*text);
    if (context.empty() && cfg["current-context"]) context = cfg["current-context"].as<std::string>();
    std::string cluster;
    for (const auto& c : cfg["contexts"])
      if (c["name"] && c["name"].as<std::string>() == context && c["context"] && c["context"]["cluster"])
        cluster = c["context"]["cluster"].as<std::string>();
    for (const auto& c : cfg["clusters"])
      if (server.empty() && c["name"] && c["name"].as<std::string>() == cluster && c["cluster"] && c["cluster"]["server"])
        server = c["cluster"]["server"].as<std::string>();
  } catch (const YAML::Exception&) {
  }
  answered.emplace(std::move(key), server);
  return server;
}

// "https://10.0.20.11:6443/" -> host "10.0.20.11", port 6443 (443 for https, 80 for http when absent).
bool split_server(const std::string& url, std::string& host, int& port) {
  std::string rest = url;
  port = 443;
  if (rest.starts_with("https://")) rest = rest.substr(8);
  else if (rest.starts_with("http://")) rest = rest.substr(7), port = 80;
  rest = rest.substr(0, rest.find('/'));
  std::string port_text;
  if (rest.starts_with("[")) {
    const auto close = rest.find(']');
    if (close == std::string::npos) return false;
    host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') port_text = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    host = rest.substr(0, colon);
    if (colon != std::string::npos) port_text = rest.substr(colon + 1);
  }
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), ::isdigit)) return false;
    port = std::stoi(port_text);
  }
  return !host.empty();
}

// What kubectl prints when its dial fails (staging/src/k8s.io/kubectl/pkg/cmd/util/helpers.go,
// StandardErrorMessage, 1.28: a refused connection names the server; anything else is Go's dial error).
std::string dial_error(const std::string& server_host_port, const std::string& dialled, SimNetwork::Outcome outcome) {
  switch (outcome) {
    case SimNetwork::Outcome::refused:
      return "The connection to the server " + server_host_port + " was refused - did you specify the right host or port?\n";
    case SimNetwork::Outcome::timeout:
      return "Unable to connect to the server: dial tcp " + dialled + ": i/o timeout\n";
    default:
      return "Unable to connect to the server: dial tcp " + dialled + ": connect: no route to host\n";
  }
}

}  // namespace

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
                        [h](const std::string& path) { h->remove_file(path); },
                        [h](const std::string& dir) { return h->list_dir(dir); }};
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
      [h, this] { return h->installed("etcd-client") && kube_.etcdutl_shipped(); });
  host.add_command(
      "etcd",
      [=, this](const std::vector<std::string>& argv, const std::string&) {
        if (!h->installed("etcd-server")) return missing("etcd");
        auto r = kube_.etcd(argv);
        return SimHost::Result{r.code, r.out, r.err};
      },
      [h] { return h->installed("etcd-server"); });
  // kubectl connects to the server its kubeconfig names, over the network: why not, or nullopt.
  auto dial = [this, machine_name, h](const std::vector<std::string>& argv,
                                      const KubeFiles& kube_files) -> std::optional<std::string> {
    const std::string server = kubeconfig_server(argv, h->command_env(), kube_files.read);
    std::string host_name;
    int port = 0;
    if (server.empty()) return std::nullopt;  // kubectl says itself what is missing
    if (!split_server(server, host_name, port)) {
      // client-go parses the server as a URL first (Go's net/url error).
      const auto colon = server.rfind(':');
      return "Unable to connect to the server: parse \"" + server + "\": invalid port \"" +
             (colon == std::string::npos ? std::string() : server.substr(colon)) + "\" after host\n";
    }
    std::vector<std::string> ips = is_ip_address(host_name) ? std::vector<std::string>{host_name} : resolve_name(host_name);
    const std::string host_port = (host_name.find(':') != std::string::npos ? "[" + host_name + "]" : host_name) + ":" +
                                  std::to_string(port);
    if (ips.empty()) return "Unable to connect to the server: dial tcp: lookup " + host_name + ": no such host\n";
    const std::string ip = ips.front();
    auto reach = net_.connect(machine_name, ip, port, Proto::tcp);
    if (reach.outcome == SimNetwork::Outcome::connected) {
      if (reach.service == "kube-apiserver") return std::nullopt;
      // Something else answers there (the ingress on a VIP, etcd on 2379): its certificate is not
      // one the kubeconfig's cluster CA signed, and Go's TLS client says so.
      return "Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown "
             "authority\n";
    }
    return dial_error(host_port, (ip.find(':') != std::string::npos ? "[" + ip + "]" : ip) + ":" + std::to_string(port),
                      reach.outcome);
  };
  host.add_command(
      "kubectl",
      [=, this](const std::vector<std::string>& argv, const std::string& stdin_data) {
        if (!h->installed("kubectl")) return missing("kubectl");
        const bool client_only = std::find(argv.begin(), argv.end(), "--client") != argv.end();
        if (!client_only)
          if (auto refused = dial(argv, files)) {
            // `kubectl version` still prints its own version before the server's error.
            std::string out;
            if (std::find(argv.begin(), argv.end(), "version") != argv.end()) {
              std::vector<std::string> client = argv;
              client.push_back("--client");
              out = kube_.kubectl(client, stdin_data, h->command_env(), files).out;
            }
            return SimHost::Result{1, out, *refused};
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
    const std::string cni = "/etc/cni/net.d";
    auto in_cni = [&](const std::string& p) { return p == cni || p.starts_with(cni + "/"); };
    if (in_cni(path) || (op == "move" && in_cni(to))) kube_.pod_network_changed(kube_node(machine_name).name);
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

  // The API server's port on the control-plane node: open while its static pod runs.
  if (const std::string api = kube_.api_node().empty() ? "" : machine_of_node(kube_.api_node()); !api.empty()) {
    if (kube_.api_up() && !apiserver_stopped_)
      net_.listen(api, 6443, Proto::tcp, "kube-apiserver");
    else
      net_.unlisten(api, 6443, Proto::tcp);
    // etcd's client port (kubeadm: --listen-client-urls=https://127.0.0.1:2379,https://NODE-IP:2379).
    if (kube_.etcd_up())
      net_.listen(api, 2379, Proto::tcp, "etcd");
    else
      net_.unlisten(api, 2379, Proto::tcp);
  }

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
    const MetalConfig config = read_metallb_config(objects, site_.versions.metallb);
    for (const auto& error : config.errors)
      if (pending_.emplace("config: " + error, error).second) engine_.log("metallb", "config-error", {{"error", error}});
    std::vector<json> services;
    for (auto& svc : kube_.objects("Service"))
      if (svc["spec"].value("type", "") == "LoadBalancer") services.push_back(std::move(svc));
    // What each Service's status says now (a restored object may carry an old one): the
    // controller writes its own decision there whenever they differ.
    std::map<std::string, std::string> status;
    for (const auto& svc : services) {
      const json* ingress = svc.contains("status") && svc["status"].contains("loadBalancer")
                                ? &svc["status"]["loadBalancer"]
                                : nullptr;
      std::string ip;
      if (ingress && ingress->contains("ingress") && (*ingress)["ingress"].is_array() && !(*ingress)["ingress"].empty())
        ip = (*ingress)["ingress"][0].value("ip", "");
      status[svc["metadata"].value("namespace", "") + "/" + svc["metadata"].value("name", "")] = ip;
    }
    std::map<std::string, std::string> ips;
    for (const auto& a : assign_ips(config, services, lb_ips_)) {
      const std::string key = a.ns + "/" + a.name;
      if (a.ip.empty()) {
        if (pending_[key] != a.pending_reason) engine_.log("metallb", "pending", {{"service", key}, {"reason", a.pending_reason}});
        pending_[key] = a.pending_reason;
        if (!status[key].empty()) kube_.set_load_balancer_ip(a.ns, a.name, "");
        continue;
      }
      pending_.erase(key);
      ips[key] = a.ip;
      if (lb_ips_[key] != a.ip) engine_.log("metallb", "ip-assigned", {{"service", key}, {"ip", a.ip}});
      if (status[key] != a.ip) kube_.set_load_balancer_ip(a.ns, a.name, a.ip);
    }
    lb_ips_ = std::move(ips);
  }
  // Announcements: one speaker node per VIP, among those eligible for the Services on it (ready
  // endpoints; with Local, on their nodes); when the holder is gone, the others notice after a
  // few seconds (memberlist), then one of them takes over.
  const std::vector<json> all_services = kube_.objects("Service");
  std::map<std::string, std::vector<ServiceEndpoints>> vips;  // VIP -> the endpoints of the Services on it
  for (const auto& svc : all_services) {
    const json& meta = svc["metadata"];
    const std::string ns = meta.value("namespace", ""), name = meta.value("name", "");
    auto ip = lb_ips_.find(ns + "/" + name);
    if (ip == lb_ips_.end()) continue;
    ServiceEndpoints eps;
    eps.local = svc["spec"].value("externalTrafficPolicy", "") == "Local";
    for (const auto& port : svc["spec"].value("ports", json::array()))
      for (const auto& e : kube_.endpoints(ns, name, port.value("port", 0))) eps.nodes.push_back(e.node);
    vips[ip->second].push_back(std::move(eps));
  }
  for (const auto& [ip, holder] : std::map<std::string, std::string>(vip_holder_))
    if (!vips.contains(ip)) move_vip(ip, "");
  for (const auto& [ip, services] : vips) {
    const std::string want = machine_of_node(announcing_node(ip, announcing_nodes(services, speakers)));
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
  // kube-proxy writes a LoadBalancer Service's rules for the addresses in its
  // status.loadBalancer.ingress (proxier.go: svcInfo.LoadBalancerVIPStrings()), on every node:
  // no address, no port. HTTP on 80/443 of such an address is the ingress.
  std::set<SimNetwork::Bound> bound;
  for (const auto& svc : all_services) {
    if (svc["spec"].value("type", "") != "LoadBalancer") continue;
    const json* ingress = svc.contains("status") ? &svc["status"] : nullptr;
    if (!ingress || !ingress->contains("loadBalancer") || !(*ingress)["loadBalancer"].contains("ingress")) continue;
    for (const auto& address : (*ingress)["loadBalancer"]["ingress"]) {
      const std::string ip = address.value("ip", "");
      if (ip.empty()) continue;
      for (const auto& port : svc["spec"].value("ports", json::array()))
        bound.insert({ip, port.value("port", 0), port.value("protocol", "TCP") == "UDP" ? Proto::udp : Proto::tcp});
    }
  }
  for (const auto& node : kube_.nodes(false)) {
    const std::string machine = machine_of_node(node);
    if (machine.empty()) continue;
    net_.set_bound(machine, "kube-proxy", bound);
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
            if (https) {  // the certificate ingress-nginx presents for the host (sim/ingress.hpp)
              out.tls_names = r.certificate.names;
              out.tls_trusted = !r.certificate.self_signed;
              if (r.certificate.self_signed)
                out.tls_verify_error = r.certificate.fake ? std::string("self-signed certificate (ingress-nginx's \"") +
                                                                kFakeCertificateName + "\": " + r.certificate.why + ")"
                                                          : "self-signed certificate";
            }
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
  if (!controller_ready) return IngressRoute{503, "", "", "", "no ready ingress-nginx controller pod", {}};
  auto r = route_request(kube_.objects("Ingress"), kube_.objects("Service"), kube_.objects("Secret"), resolve, "nginx",
                         https, host, path);
  json event = {{"host", host}, {"path", path}, {"https", https}, {"status", r.status}, {"endpoint", r.endpoint},
                {"reason", r.reason}};
  if (https) event["certificate"] = r.certificate.fake ? "fake: " + r.certificate.why : r.certificate.secret;
  engine_.log("ingress", "request", event);
  return r;
}

SimWorld::HttpResult SimWorld::http(const std::string& from, const std::string& ip, int port, bool https,
                                    const std::string& host, const std::string& path) {
  auto reach = net_.connect(from, ip, port, Proto::tcp);
  if (reach.outcome != SimNetwork::Outcome::connected) return {0, "", reach.reason};
  auto r = route(https, host, path);
  if (r.status == 0) return {0, "", r.reason};
  // A client that verifies the certificate (curl without -k) stops at the handshake.
  if (https && r.certificate.fake)
    return {0, "", std::string("SSL certificate problem: self-signed certificate (ingress-nginx served its \"") +
                       kFakeCertificateName + "\": " + r.certificate.why + ")"};
  if (https && r.certificate.self_signed) return {0, "", "SSL certificate problem: self-signed certificate"};
  return {r.status, r.status == 200 ? "served by " + r.endpoint + "\n" : r.reason + "\n", r.status == 200 ? "" : r.reason};
}

}  // namespace drctl::sim
