// Simulator II through the lab: nodes installed over PXE form a kubeadm cluster, MetalLB hands
// out the seed's VIPs and moves them when a node dies, the ingress routes by Host header, etcd
// snapshots round-trip, the NAS refuses what does not fit, and scheduled faults fire once.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/sim_lab.hpp"

using namespace drctl;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using support::command;
using support::lab_site;

fs::path fixtures() { return support::sim_fixtures(); }

const std::vector<std::string> kNodes = {"k8s-master", "k8s-node1", "k8s-node2"};
const std::string kAdmin = "kubectl --kubeconfig /etc/kubernetes/admin.conf ";

/// The lab with pfSense, the PXE server and three nodes installed and prepared for kubeadm.
struct Cluster : support::SimLab {
  explicit Cluster(std::uint64_t seed, const nlohmann::json& site = lab_site()) : SimLab(seed, site) {
    infra();
    for (const auto& n : kNodes) start(n);
    engine().run_for(16min);
    for (const auto& n : kNodes)
      sh(n, "sudo apt-get install -y containerd kubelet kubeadm kubectl etcd-client && sudo systemctl start containerd "
            "&& sudo swapoff -a");
  }
  world::CommandResult run(const std::string& host, const std::string& script) { return world->host(host).run(command(script)); }
  std::string sh(const std::string& host, const std::string& script) {
    auto r = run(host, script);
    REQUIRE_MESSAGE(r.ok(), std::string(host + ": " + script + "\n" + r.out + r.err));
    return r.out;
  }
  /// kubeadm init on the master with the fixture's config; the printed join command.
  std::string init(bool network = true) {
    const std::string config = support::read_file(fixtures() / "k8s/kubeadm.yaml");
    world->host("k8s-master").put_file("/home/wizard/kubeadm.yaml", config, 0644);
    const std::string out = sh("k8s-master", "sudo kubeadm init --config /home/wizard/kubeadm.yaml");
    if (network) pod_network();
    auto at = out.rfind("kubeadm join");
    REQUIRE(at != std::string::npos);
    std::string join = out.substr(at);
    std::string flat;
    for (std::size_t i = 0; i < join.size(); ++i) {
      if (join[i] == '\\' && i + 1 < join.size() && join[i + 1] == '\n') {
        ++i;
        continue;
      }
      if (join[i] == '\n') break;
      flat += join[i];
    }
    return flat;
  }
  void form() {
    const std::string join = init();
    for (const std::string n : {"k8s-node1", "k8s-node2"}) sh(n, "sudo " + join);
    engine().run_for(1min);
  }
  std::string apply(const std::string& manifest_text) {
    world->host("k8s-master").put_file("/home/wizard/m.yaml", manifest_text, 0644);
    return sh("k8s-master", kAdmin + "apply -f /home/wizard/m.yaml");
  }
  std::string apply_file(const std::string& name) { return apply(support::read_file(fixtures() / "k8s" / name)); }
  /// MetalLB with the seed's pool, the ingress controller and the blog.
  void services(const std::string& pool = "metallb-pool.yaml") {
    apply_file("metallb.yaml");
    apply_file(pool);
    apply_file("ingress-nginx.yaml");
    apply_file("blog.yaml");
    apply_file("blog-tls.yaml");
    engine().run_for(1min);
  }
};

std::string service(const std::string& ns, const std::string& name, const std::string& key, int port,
                    const std::string& protocol = "TCP", const std::string& ip = "10.0.20.201") {
  std::string out = "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: " + ns + "\n";
  if (!key.empty()) out += "  annotations:\n    metallb.universe.tf/allow-shared-ip: " + key + "\n";
  out += "spec:\n  type: LoadBalancer\n  loadBalancerIP: " + ip + "\n  externalTrafficPolicy: Cluster\n  selector: {app: " +
         name + "}\n  ports:\n  - {port: " + std::to_string(port) + ", protocol: " + protocol + "}\n";
  return out;
}

}  // namespace

TEST_CASE("sim cluster: kubeadm init needs a container runtime, and join needs a token that has not expired") {
  Cluster c(31);
  c.sh("k8s-master", "sudo systemctl stop containerd");
  const std::string config = support::read_file(fixtures() / "k8s/kubeadm.yaml");
  c.w().host("k8s-master").put_file("/home/wizard/kubeadm.yaml", config, 0644);
  auto refused = c.run("k8s-master", "sudo kubeadm init --config /home/wizard/kubeadm.yaml");
  CHECK(refused.exit_code != 0);
  CHECK_MESSAGE(refused.err.find("[ERROR CRI]") != std::string::npos, refused.err);
  c.sh("k8s-master", "sudo systemctl start containerd");
  const std::string join = c.init();
  c.engine().run_for(25h);  // the token lives 24 hours
  auto expired = c.run("k8s-node1", "sudo " + join);
  CHECK(expired.exit_code != 0);
  CHECK_MESSAGE((expired.err + expired.out).find("token") != std::string::npos, expired.err);
  const std::string fresh = c.sh("k8s-master", "sudo kubeadm token create --print-join-command");
  c.sh("k8s-node1", "sudo " + fresh.substr(0, fresh.find('\n')));
  c.engine().run_for(1min);
  CHECK(c.sh("k8s-master", kAdmin + "get nodes").find("k8s-node1") != std::string::npos);
}

TEST_CASE("sim cluster: no node is Ready before a pod network's installer writes /etc/cni/net.d, and none again once it is gone") {
  Cluster c(36);
  const std::string join = c.init(false);
  c.sh("k8s-node1", "sudo " + join);
  c.engine().run_for(3min);
  // The kubelet posts NotReady with containerd's reason (as `kubectl describe node` shows it on
  // Kubernetes 1.28 with containerd 1.6/1.7), and the node lifecycle controller's taint keeps pods off.
  const auto node = nlohmann::json::parse(c.sh("k8s-master", kAdmin + "get node k8s-node1 -o json"));
  CHECK(node["status"]["conditions"][0]["status"] == "False");
  CHECK(node["status"]["conditions"][0]["message"] ==
        "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin "
        "returns error: cni plugin not initialized");
  CHECK(node["spec"]["taints"].dump().find("node.kubernetes.io/not-ready") != std::string::npos);
  CHECK(c.run("k8s-master", kAdmin + "wait --for=condition=Ready nodes --all --timeout=1s").exit_code == 1);
  c.apply("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n");  // a workload waits: nothing schedules on a NotReady node
  c.apply("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: web}\nspec:\n  selector:\n    matchLabels: {app: web}\n"
          "  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - {name: web, image: nginx:1.25}\n");
  // Broken: the pod network's DaemonSet without its NoSchedule toleration lands nowhere.
  std::string manifest = support::read_file(fixtures() / "k8s/pod-network.yaml");
  const std::string toleration = "      tolerations:\n      - {operator: Exists, effect: NoSchedule}\n";
  REQUIRE(manifest.find(toleration) != std::string::npos);
  std::string intolerant = manifest;
  intolerant.erase(intolerant.find(toleration), toleration.size());
  c.apply(intolerant);
  c.engine().run_for(3min);
  CHECK(c.w().kube().nodes(true).empty());
  CHECK_FALSE(c.w().system("k8s-node1")->get_file("/etc/cni/net.d/10-flannel.conflist"));
  // Valid: with it, install-cni copies the configuration on both nodes and they turn Ready within
  // the kubelet's 5 s runtime check and 10 s status period after the pod started.
  c.apply(manifest);
  c.engine().run_for(1min);
  CHECK(c.w().kube().nodes(true) == std::vector<std::string>{"k8s-master", "k8s-node1"});
  CHECK(c.w().system("k8s-node1")->get_file("/etc/cni/net.d/10-flannel.conflist"));
  c.engine().run_for(30s);
  CHECK(c.sh("k8s-master", kAdmin + "get deployment web -n web -o jsonpath={.status.readyReplicas}") == "1");
  // The configuration removed from a node: NotReady again.
  c.w().system("k8s-node1")->remove_file("/etc/cni/net.d/10-flannel.conflist");
  c.engine().run_for(20s);
  CHECK(c.w().kube().nodes(true) == std::vector<std::string>{"k8s-master"});
}

TEST_CASE("sim cluster: MetalLB gives the seed's wireguard and ingress one shared VIP, and leaves bad sharing pending") {
  Cluster c(32);
  c.form();
  c.services();
  c.apply_file("wireguard.yaml");
  c.engine().run_for(30s);
  CHECK(c.w().load_balancer_ips().at("ingress-nginx/ingress-nginx-controller") == "10.0.20.200");
  CHECK(c.w().load_balancer_ips().at("wireguard/wireguard") == "10.0.20.200");
  // The same port on a shared IP, and another sharing key: both pending with MetalLB's reason.
  c.apply("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: extra\n");
  c.apply(service("extra", "web", "shared", 80, "TCP", "10.0.20.200"));
  c.apply(service("extra", "mail", "other", 993, "TCP", "10.0.20.200"));
  c.engine().run_for(10s);
  CHECK_FALSE(c.w().load_balancer_ips().contains("extra/web"));
  CHECK_FALSE(c.w().load_balancer_ips().contains("extra/mail"));
  const std::string pending = c.events("metallb", "pending");
  CHECK_MESSAGE(pending.find("port TCP/80 is already in use") != std::string::npos, pending);
  CHECK_MESSAGE(pending.find("can't change sharing key") != std::string::npos, pending);
}

TEST_CASE("sim cluster: a MetalLB pool outside the cluster's subnet is assigned, and its VIP answers nobody") {
  Cluster c(33);
  c.form();
  c.apply_file("metallb.yaml");
  c.apply("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: wrong\n  namespace: metallb-system\n"
          "spec:\n  addresses: [192.168.50.10-192.168.50.20]\n---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\n"
          "metadata:\n  name: wrong\n  namespace: metallb-system\n");
  c.apply_file("ingress-nginx.yaml");  // asks for 10.0.20.200, which no pool holds
  c.apply_file("blog.yaml");
  c.apply("apiVersion: v1\nkind: Service\nmetadata:\n  name: blog-lb\n  namespace: website\nspec:\n  type: LoadBalancer\n"
          "  selector: {app: blog}\n  ports:\n  - {port: 80, targetPort: 80}\n");
  c.engine().run_for(1min);
  CHECK(c.events("metallb", "config-error").empty());
  CHECK_FALSE(c.w().load_balancer_ips().contains("ingress-nginx/ingress-nginx-controller"));
  CHECK(c.events("metallb", "pending").find("[\\\"10.0.20.200\\\"] is not allowed in config") != std::string::npos);
  REQUIRE(c.w().load_balancer_ips().at("website/blog-lb") == "192.168.50.10");
  CHECK(c.w().vip_holder("192.168.50.10").empty());  // no node is on its subnet to answer ARP
  auto r = c.w().http("drctl", "192.168.50.10", 80, false, "www.viktorbarzin.me", "/");
  CHECK(r.status == 0);
  CHECK_FALSE(r.error.empty());
}

TEST_CASE("sim cluster: the VIP moves when its node dies, and the blog answers through it again within the failover time") {
  Cluster c(34);
  c.form();
  c.services();
  auto ok = c.w().http("drctl", "10.0.20.200", 80, false, "www.viktorbarzin.me", "/");
  CHECK_MESSAGE(ok.status == 200, ok.error);
  CHECK(ok.body.find("blog") != std::string::npos);
  const std::string holder = c.w().vip_holder("10.0.20.200");
  REQUIRE(!holder.empty());
  c.w().hv().stop(holder);
  auto during = c.w().http("drctl", "10.0.20.200", 80, false, "www.viktorbarzin.me", "/");
  CHECK(during.status == 0);  // nobody answers ARP for the VIP until a speaker takes over
  c.engine().run_for(10s);    // memberlist notices within 2–8 s
  const std::string next = c.w().vip_holder("10.0.20.200");
  CHECK(!next.empty());
  CHECK(next != holder);
  auto again = c.w().http("drctl", "10.0.20.200", 80, false, "www.viktorbarzin.me", "/");
  CHECK_MESSAGE(again.status == 200, again.error);
  CHECK(c.events("metallb", "vip-failover-started").find(holder) != std::string::npos);
}

TEST_CASE("sim cluster: an Ingress to a missing Service and a TLS host without its Secret fail with the cause logged") {
  Cluster c(35);
  c.form();
  c.apply_file("metallb.yaml");
  c.apply_file("metallb-pool.yaml");
  c.apply_file("ingress-nginx.yaml");
  c.apply_file("blog.yaml");  // the TLS secret is not applied
  c.apply("apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: hackmd\n  namespace: website\nspec:\n"
          "  rules:\n  - host: hackmd.viktorbarzin.me\n    http:\n      paths:\n      - path: /\n        pathType: Prefix\n"
          "        backend:\n          service:\n            name: hackmd\n            port:\n              number: 80\n");
  c.engine().run_for(1min);
  auto missing = c.w().http("drctl", "10.0.20.200", 80, false, "hackmd.viktorbarzin.me", "/");
  CHECK(missing.status == 503);
  auto tls = c.w().http("drctl", "10.0.20.200", 443, true, "www.viktorbarzin.me", "/");
  CHECK(tls.status == 0);
  CHECK(c.w().http("drctl", "10.0.20.200", 80, false, "www.viktorbarzin.me", "/").status == 200);
  const std::string log = c.events("ingress", "request");
  CHECK_MESSAGE(log.find("website/hackmd does not exist") != std::string::npos, log);
  CHECK_MESSAGE(log.find("tls-secret") != std::string::npos, log);
  const auto broken = c.w().check_invariants(true);
  CHECK(std::any_of(broken.begin(), broken.end(), [](const std::string& v) { return v.find("hackmd") != std::string::npos; }));
}

TEST_CASE("sim cluster: etcdctl snapshot save, a wiped control plane, and restore bring back every object") {
  Cluster c(36);
  c.form();
  c.services();
  auto names = [&] {
    std::string out;
    for (const char* kind : {"Namespace", "Deployment", "Service", "Ingress", "Secret", "IPAddressPool"})
      for (const auto& o : c.w().kube().objects(kind))
        out += std::string(kind) + " " + o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "") + "\n";
    return out;
  };
  const std::string before = names();
  CHECK(before.find("Ingress website/blog") != std::string::npos);
  c.sh("k8s-master", "sudo ETCDCTL_API=3 etcdctl snapshot save /root/etcd.db");  // 3.2.26 runs the v2 etcdctl without it
  c.w().kube().wipe();
  CHECK(names().find("Ingress website/blog") == std::string::npos);
  c.sh("k8s-master", "sudo ETCDCTL_API=3 etcdctl snapshot restore /root/etcd.db --data-dir /var/lib/etcd");
  c.engine().run_for(1min);
  CHECK(names() == before);
}

TEST_CASE("sim cluster: a restore into a NAS dataset that is too small fails with no space, and only what fit is there") {
  Cluster c(37);
  c.start("truenas");
  c.engine().run_for(6min);
  c.sh("truenas", "zfs create -o quota=1M tank/mail");
  sim::SimHost* nas = c.w().system("truenas");
  for (int i = 0; i < 3; ++i) nas->put_file("/root/mail/msg" + std::to_string(i), std::string(600 * 1024, 'm'), 0644);
  c.sh("truenas", "tar -cf /root/mail.tar -C /root mail");
  auto r = c.run("truenas", "tar -xf /root/mail.tar -C /mnt/tank");
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("no space") != std::string::npos, r.err);
  int present = 0, failed = 0;
  for (int i = 0; i < 3; ++i) {
    const std::string f = "mail/msg" + std::to_string(i);
    const bool here = nas->get_file("/mnt/tank/" + f).has_value();
    const bool refused = r.err.find(f + ": Cannot write") != std::string::npos;
    CHECK(here != refused);  // every file is either restored or named as not restored
    present += here;
    failed += refused;
  }
  CHECK(present == 1);
  CHECK(failed == 2);
}

TEST_CASE("sim cluster: scheduled faults fire once each, at their time or at their event") {
  sim::SimWorld w(lab_site(), 38);
  w.schedule_faults(sim::read_faults(nlohmann::json::parse(R"([
    {"action": "stop_service", "target": "pfsense/dhcpd", "at": "5m", "duration": "5m"},
    {"action": "power_off", "target": "pxe", "on": {"component": "pxe", "event": "appliance-installed"}, "after": "10s"}
  ])")));
  for (const std::string vm : {"pfsense", "pxe"}) {
    w.hv().define(world::vm_spec_from_json(vm, lab_site()["hosts"][vm]["vm"]));
    w.hv().start(vm);
  }
  w.engine().run_for(20min);
  std::vector<nlohmann::json> fired;
  nlohmann::json installed;
  for (const auto& e : w.engine().events()) {
    if (e["component"] == "faults" && e["event"] == "fault") fired.push_back(e);
    if (e["component"] == "pxe" && e["event"] == "appliance-installed") installed = e;
  }
  REQUIRE(fired.size() == 2);
  std::sort(fired.begin(), fired.end(), [](const auto& a, const auto& b) { return a["action"] < b["action"]; });
  CHECK(fired[0]["action"] == "power_off");
  CHECK(fired[0]["trigger"] == "on");
  CHECK(fired[0]["t"] == installed["t"].get<std::int64_t>() + 10000);
  CHECK(fired[1]["action"] == "stop_service");
  CHECK(fired[1]["trigger"] == "at");
  CHECK(fired[1]["t"] == 5 * 60 * 1000);
  CHECK(w.state("pxe") == "off");
  CHECK(w.faults_not_fired().empty());
  CHECK(w.engine().log_jsonl().find("fault-undone") != std::string::npos);
}

TEST_CASE("sim cluster: an address on two machines of one VLAN breaks an invariant, logged once") {
  Cluster c(39);
  CHECK(c.w().check_invariants(false).empty());
  c.w().net().add_address("k8s-node2", "nic0", "10.0.20.12");  // k8s-node1's address
  const auto broken = c.w().check_invariants(false);
  REQUIRE(broken.size() == 1);
  CHECK(broken[0] == "IP 10.0.20.12 is on more than one machine on cluster");
  c.w().check_invariants(false);
  const std::string log = c.events("invariants", "violated");
  CHECK(std::count(log.begin(), log.end(), '\n') == 1);
}

TEST_CASE("sim cluster: the legacy MetalLB ConfigMap works too, and a stopped API server refuses kubectl until it is back") {
  nlohmann::json site = lab_site();
  site["versions"]["metallb"] = "0.12.1";  // the ConfigMap is read up to 0.12
  Cluster c(40, site);
  c.form();
  c.services("metallb-legacy.yaml");
  CHECK(c.w().load_balancer_ips().at("ingress-nginx/ingress-nginx-controller") == "10.0.20.200");
  CHECK(c.w().http("drctl", "10.0.20.200", 80, false, "www.viktorbarzin.me", "/").status == 200);
  c.w().set_service("k8s-master", "kube-apiserver", false);
  auto refused = c.run("k8s-master", kAdmin + "get nodes");
  CHECK(refused.exit_code != 0);
  CHECK_MESSAGE(refused.err.find("6443") != std::string::npos, refused.err);
  c.w().set_service("k8s-master", "kube-apiserver", true);
  CHECK(c.run("k8s-master", kAdmin + "get nodes").ok());
}

TEST_CASE("sim cluster: kubeadm join --config reads a JoinConfiguration, and refuses flags beside it") {
  Cluster c(3);
  const std::string join = c.init();  // kubeadm join ENDPOINT --token T --discovery-token-ca-cert-hash H
  std::istringstream words(join);
  std::string kubeadm, verb, endpoint, flag, token, flag2, hash;
  words >> kubeadm >> verb >> endpoint >> flag >> token >> flag2 >> hash;
  REQUIRE(flag == "--token");
  REQUIRE(flag2 == "--discovery-token-ca-cert-hash");
  const std::string config = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
                             "    apiServerEndpoint: \"" + endpoint + "\"\n    token: \"" + token +
                             "\"\n    caCertHashes:\n    - \"" + hash + "\"\n";
  c.world->host("k8s-node1").put_file("/root/join.yaml", config, 0600);
  auto mixed = c.run("k8s-node1", "sudo kubeadm join --config /root/join.yaml --token " + token);
  CHECK(mixed.exit_code == 1);
  CHECK(mixed.err.find("can not mix '--config' with arguments [token]") != std::string::npos);
  c.world->host("k8s-node1").put_file("/root/other.yaml", "apiVersion: v1\nkind: ConfigMap\n", 0600);
  auto none = c.run("k8s-node1", "sudo kubeadm join --config /root/other.yaml");
  CHECK(none.exit_code == 1);
  CHECK(none.err.find("no JoinConfiguration") != std::string::npos);
  auto wrong = config;
  wrong.replace(wrong.find(hash), hash.size(), "sha256:" + std::string(64, '0'));
  c.world->host("k8s-node1").put_file("/root/wrong.yaml", wrong, 0600);
  auto pinned = c.run("k8s-node1", "sudo kubeadm join --config /root/wrong.yaml");
  CHECK(pinned.exit_code == 1);
  CHECK(pinned.err.find("are pinned") != std::string::npos);
  c.sh("k8s-node1", "sudo kubeadm join --config /root/join.yaml");
  c.engine().run_for(1min);
  CHECK(c.sh("k8s-master", kAdmin + "get nodes").find("k8s-node1") != std::string::npos);
}
