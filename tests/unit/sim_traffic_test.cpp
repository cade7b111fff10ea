// Traffic follows state, and clients dial what they are given: kube-proxy's ports on a
// LoadBalancer's address once it has one, MetalLB's speakers announcing only for ready endpoints,
// the certificate ingress-nginx presents, kubectl dialling its kubeconfig's server, MetalLB's
// version and a pool outside the nodes' subnet through the homelab's own rebuild.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "actions/action.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "support/homelab.hpp"
#include "support/sim_lab.hpp"

using namespace drctl;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Outcome = sim::SimNetwork::Outcome;

using support::failures;
using support::homelab;
using support::homelab_with;
using support::result_of;

namespace {

fs::path fixtures() { return support::sim_fixtures(); }

const std::string kAdmin = "kubectl --kubeconfig /etc/kubernetes/admin.conf ";

/// The lab with a formed cluster: pfSense, the PXE server, a control plane and two workers.
struct Lab : support::SimLab {
  explicit Lab(std::uint64_t seed, const nlohmann::json& site = support::lab_site()) : SimLab(seed, site) {
    infra();
    for (const std::string n : {"k8s-master", "k8s-node1", "k8s-node2"}) start(n);
    engine().run_for(16min);
    for (const std::string n : {"k8s-master", "k8s-node1", "k8s-node2"})
      sh(n, "sudo apt-get install -y containerd kubelet kubeadm kubectl etcd-client && sudo systemctl start containerd "
            "&& sudo swapoff -a");
    w().host("k8s-master").put_file("/home/wizard/kubeadm.yaml", support::read_file(fixtures() / "k8s/kubeadm.yaml"), 0644);
    const std::string out = sh("k8s-master", "sudo kubeadm init --config /home/wizard/kubeadm.yaml");
    const std::string join = sh("k8s-master", "sudo kubeadm token create --print-join-command");
    REQUIRE(out.find("initialized successfully") != std::string::npos);
    pod_network();
    for (const std::string n : {"k8s-node1", "k8s-node2"}) sh(n, "sudo " + join.substr(0, join.find('\n')));
    engine().run_for(1min);
  }
  world::CommandResult run(const std::string& host, const std::string& script) {
    return w().host(host).run(support::command(script));
  }
  std::string sh(const std::string& host, const std::string& script) {
    auto r = run(host, script);
    REQUIRE_MESSAGE(r.ok(), std::string(host + ": " + script + "\n" + r.out + r.err));
    return r.out;
  }
  void apply(const std::string& manifest) {
    w().host("k8s-master").put_file("/home/wizard/m.yaml", manifest, 0644);
    sh("k8s-master", kAdmin + "apply -f /home/wizard/m.yaml");
  }
  void apply_file(const std::string& name) { apply(support::read_file(fixtures() / "k8s" / name)); }
  Outcome connect(const std::string& ip, int port) { return w().net().connect("drctl", ip, port, sim::Proto::tcp).outcome; }
};

// A LoadBalancer Service web/NAME on port 8080 for the pods labelled app=NAME.
std::string lb_service(const std::string& name, const std::string& policy = "Cluster") {
  return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\n  namespace: web\nspec:\n  type: LoadBalancer\n"
         "  externalTrafficPolicy: " + policy + "\n  selector: {app: " + name + "}\n  ports:\n  - {port: 8080, targetPort: 80}\n";
}

std::string deployment(const std::string& name, int replicas) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name + "\n  namespace: web\nspec:\n  replicas: " +
         std::to_string(replicas) + "\n  selector:\n    matchLabels: {app: " + name + "}\n  template:\n    metadata:\n"
         "      labels: {app: " + name + "}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.25\n"
         "        ports: [{containerPort: 80}]\n";
}

const std::string kWebNamespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n";

// The machine whose node runs a pod of app `name`.
std::string machine_of_pod(sim::SimWorld& w, const std::string& name) {
  for (const auto& p : w.kube().pods())
    if (p.ns == "web" && p.labels.value("app", "") == name && p.ready) return p.node;
  return "";
}


}  // namespace

// pkg/proxy/iptables/proxier.go (1.28): the LoadBalancer rules are written for
// svcInfo.LoadBalancerVIPStrings(), the Service's status.loadBalancer.ingress — nothing before it
// has one, and nothing on the node's own address.
TEST_CASE("sim traffic: kube-proxy opens a LoadBalancer's port on its address only once it has one") {
  Lab lab(61);
  lab.apply_file("metallb.yaml");
  lab.apply(kWebNamespace);
  lab.apply(deployment("shop", 1));
  lab.apply(lb_service("shop"));
  lab.engine().run_for(1min);
  // No pool yet: the Service is pending and no node accepts its port anywhere.
  CHECK_FALSE(lab.w().load_balancer_ips().contains("web/shop"));
  CHECK(lab.connect("10.0.20.12", 8080) == Outcome::refused);
  lab.apply_file("metallb-pool.yaml");
  lab.engine().run_for(30s);
  REQUIRE(lab.w().load_balancer_ips().at("web/shop") == "10.0.20.200");
  CHECK(lab.connect("10.0.20.200", 8080) == Outcome::connected);
  CHECK(lab.connect("10.0.20.12", 8080) == Outcome::refused);  // the rule matches the VIP, not the node's address
  CHECK(lab.connect("10.0.20.200", 8081) == Outcome::refused);
}

// speaker/layer2_controller.go ShouldAnnounce (MetalLB v0.13.12): activeEndpointExists, and for
// externalTrafficPolicy Local usableNodes — only a node with a ready endpoint.
TEST_CASE("sim traffic: MetalLB announces a VIP only while its Service has a ready endpoint, with Local on its node") {
  Lab lab(62);
  lab.apply_file("metallb.yaml");
  lab.apply_file("metallb-pool.yaml");
  lab.apply(kWebNamespace);
  lab.apply(lb_service("shop"));
  lab.engine().run_for(1min);
  const std::string vip = lab.w().load_balancer_ips().at("web/shop");
  CHECK(lab.w().vip_holder(vip).empty());  // an IP, but no endpoint: nobody answers ARP
  CHECK(lab.connect(vip, 8080) == Outcome::unreachable);
  lab.apply(deployment("shop", 1));
  lab.engine().run_for(30s);
  CHECK_FALSE(lab.w().vip_holder(vip).empty());
  CHECK(lab.connect(vip, 8080) == Outcome::connected);
  lab.apply(deployment("shop", 0));
  lab.engine().run_for(30s);
  CHECK(lab.w().vip_holder(vip).empty());
  CHECK(lab.connect(vip, 8080) == Outcome::unreachable);

  // Local: the speaker on the endpoint's node, whichever the hash would pick otherwise.
  lab.apply(deployment("local", 1));
  lab.apply(lb_service("local", "Local"));
  lab.engine().run_for(1min);
  const std::string local_vip = lab.w().load_balancer_ips().at("web/local");
  const std::string node = machine_of_pod(lab.w(), "local");
  REQUIRE_FALSE(node.empty());
  CHECK(lab.w().vip_holder(local_vip) == node);
  CHECK(lab.connect(local_vip, 8080) == Outcome::connected);
}

// ingress-nginx serves "Kubernetes Ingress Controller Fake Certificate" (DNS ingress.local) when no
// TLS Secret covers the host; a client checking the name sees it.
TEST_CASE("sim traffic: https through the VIP presents the Secret's certificate, or the fake one without it") {
  Lab lab(63);
  lab.apply_file("metallb.yaml");
  lab.apply_file("metallb-pool.yaml");
  lab.apply_file("ingress-nginx.yaml");
  lab.apply_file("blog.yaml");
  lab.engine().run_for(1min);
  auto fake = lab.w().network().http_get("https://10.0.20.200/", "www.viktorbarzin.me", 5s);
  CHECK(fake.status == 200);  // the handshake completes, and the request is routed
  CHECK(fake.tls_names == std::vector<std::string>{"ingress.local"});
  CHECK_FALSE(fake.tls_trusted);
  CHECK(fake.tls_verify_error.find("Kubernetes Ingress Controller Fake Certificate") != std::string::npos);
  auto strict = lab.w().http("drctl", "10.0.20.200", 443, true, "www.viktorbarzin.me", "/");
  CHECK(strict.status == 0);
  CHECK(strict.error.find("SSL certificate problem: self-signed certificate") == 0);

  lab.apply_file("blog-tls.yaml");
  lab.engine().run_for(10s);
  auto real = lab.w().network().http_get("https://10.0.20.200/", "www.viktorbarzin.me", 5s);
  CHECK(real.status == 200);
  CHECK(real.tls_names == std::vector<std::string>{"www.viktorbarzin.me"});
  CHECK(lab.w().http("drctl", "10.0.20.200", 443, true, "www.viktorbarzin.me", "/").status == 200);
}

// kubectl dials the server of the kubeconfig it uses (client-go's loading rules); a wrong one
// fails as kubectl 1.28 reports it (cmd/util/helpers.go StandardErrorMessage).
TEST_CASE("sim traffic: kubectl connects to its kubeconfig's server and fails as kubectl does when nothing answers") {
  Lab lab(64);
  const std::string admin = *lab.w().host("k8s-master").get_file("/etc/kubernetes/admin.conf");
  const std::string good = "https://10.0.20.11:6443";
  REQUIRE(admin.find(good) != std::string::npos);
  auto with_server = [&](const std::string& server) {
    std::string conf = admin;
    conf.replace(conf.find(good), good.size(), server);
    return conf;
  };
  auto& master = lab.w().host("k8s-master");
  master.put_file("/home/wizard/no-host.conf", with_server("https://10.0.20.99:6443"), 0600);
  master.put_file("/home/wizard/no-apiserver.conf", with_server("https://10.0.20.12:6443"), 0600);
  auto r = lab.run("k8s-master", "kubectl --kubeconfig /home/wizard/no-host.conf get nodes");
  CHECK(r.exit_code == 1);
  CHECK(r.err == "Unable to connect to the server: dial tcp 10.0.20.99:6443: connect: no route to host\n");
  r = lab.run("k8s-master", "KUBECONFIG=/home/wizard/no-apiserver.conf kubectl get nodes");
  CHECK(r.exit_code == 1);
  CHECK(r.err == "The connection to the server 10.0.20.12:6443 was refused - did you specify the right host or port?\n");
  // --context picks the cluster: a context naming no cluster leaves kubectl its own error.
  CHECK(lab.run("k8s-master", "kubectl --kubeconfig /home/wizard/no-host.conf --context nowhere get nodes").err ==
        "error: context was not found for specified context: nowhere\n");
  // The kubeconfig kubeadm wrote reaches the API server, from a worker too.
  master.put_file("/home/wizard/good.conf", admin, 0600);
  CHECK(lab.run("k8s-master", "kubectl --kubeconfig=/home/wizard/good.conf get nodes").ok());
  lab.w().host("k8s-node1").put_file("/home/wizard/good.conf", admin, 0600);
  CHECK(lab.run("k8s-node1", "kubectl --kubeconfig /home/wizard/good.conf get nodes").ok());
  // Something else answering there is no API server: etcd's certificate on 2379 is not one the
  // cluster CA signed. A server that is no URL fails before any dial.
  master.put_file("/home/wizard/etcd.conf", with_server("https://10.0.20.11:2379"), 0600);
  CHECK(lab.run("k8s-master", "kubectl --kubeconfig /home/wizard/etcd.conf get nodes").err ==
        "Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority\n");
  master.put_file("/home/wizard/bad-port.conf", with_server("https://10.0.20.11:64x"), 0600);
  CHECK(lab.run("k8s-master", "kubectl --kubeconfig /home/wizard/bad-port.conf get nodes").err ==
        "Unable to connect to the server: parse \"https://10.0.20.11:64x\": invalid port \":64x\" after host\n");
  // Without a flag or KUBECONFIG, kubectl reads ~/.kube/config: sshd set HOME for wizard's session.
  CHECK(lab.run("k8s-master", "echo $HOME $USER").out == "/home/wizard wizard\n");
  master.put_file("/home/wizard/.kube/config", with_server("https://10.0.20.12:6443"), 0600);
  CHECK(lab.run("k8s-master", "kubectl get nodes").err ==
        "The connection to the server 10.0.20.12:6443 was refused - did you specify the right host or port?\n");
  master.put_file("/home/wizard/.kube/config", admin, 0600);
  CHECK(lab.run("k8s-master", "kubectl get nodes").ok());
}

// MetalLB does not check a pool against the nodes' subnets: it assigns from it, and the VIP is
// unreachable. The drill fails where reality does: at verify-vip, naming the address.
TEST_CASE("sim traffic: a MetalLB pool outside the nodes' subnet is assigned, and verify-vip names the unreachable VIP") {
  support::TempDir t("traffic-pool");
  sim::SimWorld world(runbook::load_site((homelab() / "site.yaml").string()).world_json(), 4);
  auto run = support::rebuild_homelab(world, t.path() / "state", homelab(),
                     {{"metallb", {{"version", "0.13.12"}, {"pool", "10.0.30.200-10.0.30.220"}}}, {"ingress_vip", "10.0.30.200"}});
  CHECK_FALSE(run.ok());
  CHECK(world.load_balancer_ips().at("ingress-nginx/ingress-nginx-controller") == "10.0.30.200");
  const auto* vip = result_of(run, "verify-vip");
  REQUIRE(vip);
  CHECK(vip->status == runbook::Status::Failed);
  CHECK_MESSAGE(vip->error.find("10.0.30.200 does not answer on 80, 443, 993") != std::string::npos, vip->error);
}

// The runbook renders MetalLB's configuration for the version the site pins; 0.12 reads the
// legacy ConfigMap (and the simulator runs 0.12), a variable cannot make it render another.
TEST_CASE("sim traffic: the homelab's MetalLB pool follows the site's pinned version") {
  support::TempDir t("traffic-legacy");
  const fs::path dir = homelab_with(t.path() / "homelab", "metallb: 0.13.12", "metallb: 0.12.1");
  sim::SimWorld world(runbook::load_site((dir / "site.yaml").string()).world_json(), 2);
  auto run = support::rebuild_homelab(world, t.path() / "state", dir);
  std::string errors;
  for (const auto& r : run.results)
    if (!r.error.empty()) errors += r.id + ": " + r.error + "\n";
  REQUIRE_MESSAGE(run.ok(), errors);
  bool configmap = false;
  for (const auto& o : world.kube().objects("ConfigMap"))
    configmap = configmap || (o["metadata"].value("name", "") == "config" && o["metadata"].value("namespace", "") == "metallb-system");
  CHECK(configmap);
  CHECK(world.kube().objects("IPAddressPool").empty());
  CHECK(world.http("drctl", "10.0.20.200", 80, false, "hackmd.viktorbarzin.me", "/").status == 200);

  // On the homelab as it is (0.13.12), asking for 0.12's ConfigMap is refused, naming both.
  support::TempDir t2("traffic-mismatch");
  sim::SimWorld current(runbook::load_site((homelab() / "site.yaml").string()).world_json(), 2);
  runbook::Runbook rb = runbook::load_runbook((homelab() / "rebuild.yaml").string());
  for (auto& step : rb.steps)
    if (step.id == "metallb-pool") step.with["version"] = "0.12.1";
  runbook::validate(rb, actions::Registry::builtin());
  runbook::ExecOptions options;
  options.state_dir = t2.path() / "state";
  runbook::Observer quiet;
  auto mismatch = runbook::execute(rb, actions::Registry::builtin(), current, options, quiet);
  const auto* pool = result_of(mismatch, "metallb-pool");
  REQUIRE(pool);
  CHECK(pool->status == runbook::Status::Failed);
  CHECK_MESSAGE(pool->error.find("version: 0.12.1 is not the MetalLB the site runs (versions.metallb: 0.13.12)") !=
                    std::string::npos,
                pool->error);
}
