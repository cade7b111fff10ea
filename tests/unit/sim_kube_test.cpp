#include <doctest/doctest.h>

#include <sstream>

#include "sim/kube.hpp"
#include "support/kube_machine.hpp"

using namespace drctl::sim;
using namespace std::chrono_literals;

namespace {

using Machine = support::KubeMachine;
using support::join_args;

Machine machine(const std::string& name, const std::string& address) { return support::kube_machine(name, address); }

const char* kInitConfig = R"(apiVersion: kubeadm.k8s.io/v1beta3
kind: InitConfiguration
localAPIEndpoint:
  advertiseAddress: 10.0.20.10
---
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
kubernetesVersion: v1.28.2
controlPlaneEndpoint: 10.0.20.10:6443
networking:
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
)";

const char* kWeb = R"(apiVersion: v1
kind: Namespace
metadata:
  name: web
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
)";

/// A control plane (cp) and two workers, joined and Ready.
struct Lab {
  Engine engine{7};
  KubeCluster kube{engine};
  Machine cp = machine("k8s-master", "10.0.20.10");
  Machine w1 = machine("k8s-node1", "10.0.20.11");
  Machine w2 = machine("k8s-node2", "10.0.20.12");
  std::string join_output;

  Lab() {
    cp.files["/root/kubeadm.yaml"] = kInitConfig;
    auto init = kube.kubeadm(cp.node, {"kubeadm", "init", "--config", "/root/kubeadm.yaml"}, cp.io());
    REQUIRE_MESSAGE(init.code == 0, init.err);
    join_output = init.out;
    for (Machine* w : {&w1, &w2}) {
      auto joined = kube.kubeadm(w->node, join_args(init.out), w->io());
      REQUIRE_MESSAGE(joined.code == 0, joined.err);
    }
    engine.run_for(20s);
  }
  KubeResult kubectl(const std::vector<std::string>& args, const std::string& stdin_data = "") {
    std::vector<std::string> argv = {"kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"};
    argv.insert(argv.end(), args.begin(), args.end());
    return kube.kubectl(argv, stdin_data, {}, cp.io());
  }
};

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("sim kube: kubeadm's preflight refuses a node without a container runtime or kubelet, or with swap on") {
  Engine e(1);
  KubeCluster kube(e);
  Machine m = machine("k8s-master", "10.0.20.10");
  m.node.container_runtime = false;
  m.node.swap_on = true;
  m.node.kubelet = false;
  auto r = kube.kubeadm(m.node, {"init", "--pod-network-cidr=10.244.0.0/16"}, m.io());
  CHECK(r.code == 1);
  CHECK(has(r.err, "error execution phase preflight: [preflight] Some fatal errors occurred:\n"));
  CHECK(has(r.err, "\t[ERROR CRI]: container runtime is not running"));
  CHECK(has(r.err, "\t[ERROR Swap]: running with swap on is not supported. Please disable swap\n"));
  CHECK(has(r.err, "\t[ERROR KubeletVersion]: couldn't get kubelet version"));
  CHECK_FALSE(kube.api_up());
  CHECK(m.files.empty());

  // Only swap left: one error; ignoring it lets init through with a warning.
  m.node.container_runtime = m.node.kubelet = true;
  r = kube.kubeadm(m.node, {"init"}, m.io());
  CHECK(r.code == 1);
  CHECK_FALSE(has(r.err, "[ERROR CRI]"));
  r = kube.kubeadm(m.node, {"init", "--ignore-preflight-errors=Swap"}, m.io());
  CHECK(r.code == 0);
  CHECK(has(r.out, "[WARNING Swap]"));
  CHECK(kube.api_up());
}

TEST_CASE("sim kube: init writes admin.conf and prints a join command that joins workers, which become Ready") {
  Lab lab;
  CHECK(lab.kube.api_node() == "k8s-master");
  CHECK(has(lab.cp.files.at("/etc/kubernetes/admin.conf"), "server: https://10.0.20.10:6443\n"));
  CHECK(has(lab.join_output, "kubeadm join 10.0.20.10:6443 --token "));
  CHECK(lab.kube.nodes(true) == std::vector<std::string>{"k8s-master", "k8s-node1", "k8s-node2"});
  auto nodes = lab.kubectl({"get", "nodes"});
  CHECK(has(nodes.out, "k8s-master"));
  CHECK(has(nodes.out, "control-plane"));
  CHECK(has(nodes.out, "Ready"));

  // Again on the same machines: kubeadm's "already" errors.
  auto again = lab.kube.kubeadm(lab.w1.node, join_args(lab.join_output), lab.w1.io());
  CHECK(again.code == 1);
  CHECK(has(again.err,
            "[ERROR FileAvailable--etc-kubernetes-kubelet.conf]: /etc/kubernetes/kubelet.conf already exists"));
  auto reinit = lab.kube.kubeadm(lab.cp.node, {"init"}, lab.cp.io());
  CHECK(reinit.code == 1);
  CHECK(has(reinit.err, "[ERROR Port-6443]: Port 6443 is in use"));

  // A wrong CA hash is refused.
  Machine w3 = machine("k8s-node3", "10.0.20.13");
  auto args = join_args(lab.join_output);
  args.back() = "sha256:" + std::string(64, '0');
  auto wrong = lab.kube.kubeadm(w3.node, args, w3.io());
  CHECK(wrong.code == 1);
  CHECK(has(wrong.err, "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys"));
}

TEST_CASE("sim kube: a join token expires after 24 h, and token create --print-join-command makes a working one") {
  Lab lab;
  lab.engine.run_for(25h);
  Machine w3 = machine("k8s-node3", "10.0.20.13");
  auto expired = lab.kube.kubeadm(w3.node, join_args(lab.join_output), w3.io());
  CHECK(expired.code == 1);
  CHECK(has(expired.err,
            "error execution phase preflight: couldn't validate the identity of the API Server: could "
            "not find a JWS signature in the cluster-info ConfigMap for token ID \""));
  CHECK(has(lab.engine.log_jsonl(), "expired token"));

  auto fresh = lab.kube.kubeadm(lab.cp.node, {"kubeadm", "token", "create", "--print-join-command"}, lab.cp.io());
  REQUIRE(fresh.code == 0);
  CHECK(join_args(fresh.out) != join_args(lab.join_output));
  CHECK(fresh.out.find('\n') == fresh.out.size() - 1);  // one line, unlike init's
  auto joined = lab.kube.kubeadm(w3.node, join_args(fresh.out), w3.io());
  CHECK_MESSAGE(joined.code == 0, joined.err);
  CHECK(has(joined.out, "This node has joined the cluster"));

  // A worker has no admin.conf to create tokens with.
  auto denied = lab.kube.kubeadm(lab.w1.node, {"token", "create"}, lab.w1.io());
  CHECK(denied.code == 1);
  CHECK(has(denied.err, "open /etc/kubernetes/admin.conf: no such file or directory"));
}

TEST_CASE("sim kube: a Namespace, Deployment and Service get Ready pods on the workers and endpoints") {
  Lab lab;
  auto r = lab.kubectl({"apply", "-f", "-"}, kWeb);
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(r.out == "namespace/web created\ndeployment.apps/web created\nservice/web created\n");
  CHECK(lab.kube.endpoints("web", "web", 80).empty());  // scheduled, not ready yet

  lab.engine.run_for(11s);
  auto pods = lab.kube.pods();
  REQUIRE(pods.size() == 2);
  std::set<std::string> nodes;
  for (const auto& p : pods) {
    CHECK(p.ready);
    CHECK(p.owner == "Deployment/web");
    nodes.insert(p.node);
    auto node = lab.kube.object("Node", "", p.node);
    std::string cidr = (*node)["spec"]["podCIDR"];  // the pod's IP is in its node's /24
    CHECK(p.ip.substr(0, p.ip.rfind('.')) == cidr.substr(0, cidr.rfind('.')));
  }
  CHECK(nodes == std::set<std::string>{"k8s-node1", "k8s-node2"});  // the control plane is tainted
  auto eps = lab.kube.endpoints("web", "web", 80);
  REQUIRE(eps.size() == 2);
  CHECK(eps[0].port == 8080);  // targetPort "http" names the container port
  CHECK(lab.kube.endpoints("web", "web", "http").size() == 2);
  CHECK(lab.kube.endpoints("web", "web", 443).empty());

  auto again = lab.kubectl({"apply", "-f", "-"}, kWeb);
  CHECK(again.out == "namespace/web unchanged\ndeployment.apps/web unchanged\nservice/web unchanged\n");
  std::string scaled = kWeb;
  scaled.replace(scaled.find("replicas: 2"), 11, "replicas: 3");
  CHECK(has(lab.kubectl({"apply", "-f", "-"}, scaled).out, "deployment.apps/web configured\n"));
  CHECK(lab.kube.pods().size() == 3);
  CHECK(has(lab.kubectl({"get", "svc", "web", "-n", "web", "-o", "jsonpath={.spec.clusterIP}"}).out, "10.96."));
  CHECK(has(lab.kubectl({"get", "deploy", "-n", "web"}).out, "web"));
  CHECK(has(lab.engine.log_jsonl(), "\"event\":\"pod-scheduled\""));
}

TEST_CASE("sim kube: apply into a missing namespace fails like the API server") {
  Lab lab;
  std::string no_ns = kWeb;
  no_ns = no_ns.substr(no_ns.find("---\n") + 4);  // without the Namespace
  auto r = lab.kubectl({"apply", "-f", "/srv/web.yaml"}, "");
  CHECK(r.code == 1);
  CHECK(r.err == "error: the path \"/srv/web.yaml\" does not exist\n");
  lab.cp.files["/srv/web.yaml"] = no_ns;
  r = lab.kubectl({"apply", "-f", "/srv/web.yaml"});
  CHECK(r.code == 1);
  CHECK(has(r.err,
            "Error from server (NotFound): error when creating \"/srv/web.yaml\": namespaces \"web\" not found\n"));
  CHECK(lab.kube.objects("Deployment").empty());
  CHECK(lab.kube.pods().empty());

  // A field of the wrong type is refused, and nothing of it stays.
  const std::string bad = R"(apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: default}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      tolerations: [{key: [not, a, string]}]
      containers: [{name: agent, image: agent}]
)";
  r = lab.kubectl({"apply", "-f", "-"}, bad);
  CHECK(r.code == 1);
  CHECK(has(r.err,
            "Error from server (BadRequest): error when creating \"STDIN\": DaemonSet in version \"v1\" cannot be "
            "handled as a DaemonSet"));
  CHECK(lab.kube.objects("DaemonSet").empty());
}

TEST_CASE("sim kube: a custom resource is unknown until its CRD is applied") {
  Lab lab;
  const std::string crd = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: ipaddresspools.metallb.io
spec:
  group: metallb.io
  names: {kind: IPAddressPool, plural: ipaddresspools, listKind: IPAddressPoolList}
  scope: Namespaced
  versions:
  - {name: v1beta1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
)";
  const std::string pool = R"(apiVersion: v1
kind: Namespace
metadata: {name: metallb-system}
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: default, namespace: metallb-system}
spec:
  addresses: [10.0.20.200-10.0.20.220]
)";
  auto r = lab.kubectl({"apply", "-f", "-"}, pool);
  CHECK(r.code == 1);
  CHECK(has(r.err,
            "error: resource mapping not found for name: \"default\" namespace: \"metallb-system\" from "
            "\"STDIN\": no matches for kind \"IPAddressPool\" in version \"metallb.io/v1beta1\"\nensure CRDs "
            "are installed first\n"));
  // In the same invocation as its CRD it still fails: kubectl maps every document first.
  r = lab.kubectl({"apply", "-f", "-"}, crd + "---\n" + pool);
  CHECK(r.code == 1);
  CHECK(has(r.out, "customresourcedefinition.apiextensions.k8s.io/ipaddresspools.metallb.io created\n"));
  r = lab.kubectl({"apply", "-f", "-"}, pool);
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(has(r.out, "ipaddresspool.metallb.io/default created\n"));
  REQUIRE(lab.kube.objects("IPAddressPool").size() == 1);
  CHECK(lab.kube.objects("IPAddressPool")[0]["spec"]["addresses"][0] == "10.0.20.200-10.0.20.220");
  CHECK(has(lab.kubectl({"get", "ipaddresspools", "-n", "metallb-system", "-o", "name"}).out,
            "ipaddresspool.metallb.io/default"));
}

TEST_CASE("sim kube: a stopped node is NotReady after 40 s, its pods leave the endpoints and move after 5 min") {
  Lab lab;
  lab.kubectl({"apply", "-f", "-"}, kWeb);
  lab.engine.run_for(11s);
  REQUIRE(lab.kube.endpoints("web", "web", 80).size() == 2);
  int changes = 0;
  lab.kube.on_change([&] { ++changes; });

  lab.kube.set_node_up("k8s-node1", false);
  lab.engine.run_for(39s);
  CHECK(lab.kube.nodes(true).size() == 3);  // within the grace period
  lab.engine.run_for(2s);
  CHECK(lab.kube.nodes(true) == std::vector<std::string>{"k8s-master", "k8s-node2"});
  auto eps = lab.kube.endpoints("web", "web", 80);
  REQUIRE(eps.size() == 1);
  CHECK(eps[0].node == "k8s-node2");
  CHECK(has(lab.kubectl({"get", "nodes"}).out, "NotReady"));
  CHECK(changes >= 2);

  lab.engine.run_for(5min + 11s);  // evicted and replaced on the other worker
  eps = lab.kube.endpoints("web", "web", 80);
  REQUIRE(eps.size() == 2);
  CHECK(eps[0].node == "k8s-node2");
  CHECK(eps[1].node == "k8s-node2");
  CHECK(has(lab.engine.log_jsonl(), "\"event\":\"pod-evicted\""));

  lab.kube.set_node_up("k8s-node1", true);
  CHECK(lab.kube.nodes(true).size() == 3);
}

TEST_CASE("sim kube: etcdctl snapshot save, a wiped control plane and a restore bring back every object") {
  Lab lab;
  lab.kubectl({"apply", "-f", "-"}, kWeb);
  lab.engine.run_for(11s);
  const std::vector<std::string> kinds = {"Namespace", "Deployment", "Service"};
  std::map<std::string, std::vector<json>> before;
  for (const auto& k : kinds) before[k] = lab.kube.objects(k);
  REQUIRE(before["Deployment"].size() == 1);

  const std::vector<std::string> certs = {"--cacert=/etc/kubernetes/pki/etcd/ca.crt",
                                          "--cert=/etc/kubernetes/pki/etcd/server.crt",
                                          "--key=/etc/kubernetes/pki/etcd/server.key"};
  auto elsewhere = lab.kube.etcdctl(lab.w1.node, {"etcdctl", "snapshot", "save", "/backup/etcd.db"}, lab.w1.io());
  CHECK(elsewhere.err == "Error: context deadline exceeded\n");  // no etcd on a worker
  auto bad_cert =
      lab.kube.etcdctl(lab.cp.node, {"snapshot", "save", "/backup/etcd.db", "--cacert=/nope.crt"}, lab.cp.io());
  CHECK(bad_cert.err == "Error: open /nope.crt: no such file or directory\n");
  std::vector<std::string> save = {"etcdctl", "snapshot", "save", "/backup/etcd.db"};
  save.insert(save.end(), certs.begin(), certs.end());
  auto saved = lab.kube.etcdctl(lab.cp.node, save, lab.cp.io());
  REQUIRE_MESSAGE(saved.code == 0, saved.err);
  CHECK(saved.out == "Snapshot saved at /backup/etcd.db\n");
  CHECK(has(lab.cp.files.at("/backup/etcd.db"), "etcd-version: 3.5."));
  auto status = lab.kube.etcdctl(lab.cp.node, {"snapshot", "status", "/backup/etcd.db"}, lab.cp.io());
  const std::size_t keys = before["Namespace"].size() + before["Deployment"].size() + before["Service"].size();
  CHECK(has(status.out, ", " + std::to_string(keys) + ", "));  // hash, revision, keys, size

  lab.kube.wipe();
  CHECK_FALSE(lab.kube.api_up());
  CHECK(lab.kube.objects("Deployment").empty());
  CHECK(lab.kube.pods().empty());
  auto down = lab.kubectl({"get", "pods", "-A"});
  CHECK(down.err ==
        "The connection to the server 10.0.20.10:6443 was refused - did you specify the right host or port?\n");

  auto restored = lab.kube.etcdctl(
      lab.cp.node, {"etcdctl", "snapshot", "restore", "/backup/etcd.db", "--data-dir", "/var/lib/etcd"}, lab.cp.io());
  REQUIRE_MESSAGE(restored.code == 0, restored.err);
  CHECK(lab.kube.api_up());
  for (const auto& k : kinds) CHECK(lab.kube.objects(k) == before[k]);
  lab.engine.run_for(11s);
  CHECK(lab.kube.endpoints("web", "web", 80).size() == 2);
  auto twice = lab.kube.etcdctl(lab.cp.node, {"snapshot", "restore", "/backup/etcd.db", "--data-dir=/var/lib/etcd"},
                                lab.cp.io());
  // etcdctl 3.5 (the cluster's default etcd-client) says first, on stderr, that etcdutl restores now.
  CHECK(twice.err == "Deprecated: Use `etcdutl snapshot restore` instead.\n\nError: data-dir \"/var/lib/etcd\" exists\n");
}

TEST_CASE("sim kube: kubeadm init on a new machine starts from a restored etcd data dir") {
  Lab lab;
  lab.kubectl({"apply", "-f", "-"}, kWeb);
  std::vector<std::string> save = {"snapshot",
                                   "save",
                                   "/backup/etcd.db",
                                   "--cacert=/etc/kubernetes/pki/etcd/ca.crt",
                                   "--cert=/etc/kubernetes/pki/etcd/server.crt",
                                   "--key=/etc/kubernetes/pki/etcd/server.key"};
  REQUIRE(lab.kube.etcdctl(lab.cp.node, save, lab.cp.io()).code == 0);
  const auto deployments = lab.kube.objects("Deployment");
  REQUIRE(lab.kube.kubeadm(lab.cp.node, {"reset", "-f"}, lab.cp.io()).code == 0);
  CHECK_FALSE(lab.kube.api_up());

  Machine fresh = machine("k8s-master", "10.0.20.10");
  fresh.files["/backup/etcd.db"] = lab.cp.files.at("/backup/etcd.db");
  REQUIRE(
      lab.kube
          .etcdctl(fresh.node, {"snapshot", "restore", "/backup/etcd.db", "--data-dir", "/var/lib/etcd"}, fresh.io())
          .code == 0);
  auto refused = lab.kube.kubeadm(fresh.node, {"init"}, fresh.io());
  CHECK(has(refused.err, "[ERROR DirAvailable--var-lib-etcd]: /var/lib/etcd is not empty"));
  auto init =
      lab.kube.kubeadm(fresh.node, {"init", "--ignore-preflight-errors=DirAvailable--var-lib-etcd"}, fresh.io());
  REQUIRE_MESSAGE(init.code == 0, init.err);
  CHECK(lab.kube.objects("Deployment") == deployments);
}

TEST_CASE("sim kube: kubectl needs a kubeconfig this cluster issued") {
  Lab lab;
  const std::string refused =
      "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n";
  CHECK(lab.kube.kubectl({"kubectl", "get", "nodes"}, "", {}, lab.cp.io()).err == refused);
  CHECK(lab.kube.kubectl({"get", "nodes"}, "", {}, lab.w1.io()).code == 1);
  auto missing = lab.kube.kubectl({"get", "nodes", "--kubeconfig=/root/nope.conf"}, "", {}, lab.cp.io());
  CHECK(missing.err == "error: stat /root/nope.conf: no such file or directory\n");
  auto via_env = lab.kube.kubectl({"get", "nodes"}, "", {{"KUBECONFIG", "/etc/kubernetes/admin.conf"}}, lab.cp.io());
  CHECK_MESSAGE(via_env.code == 0, via_env.err);
  CHECK(has(via_env.out, "k8s-node2"));
  // A worker's kubelet.conf names this cluster too; a kubeconfig from another cluster does not.
  std::string other = lab.cp.files.at("/etc/kubernetes/admin.conf");
  other.replace(other.find("certificate-authority-data: ") + 28, 8, "AAAAAAAA");
  lab.cp.files["/root/other.conf"] = other;
  auto foreign = lab.kube.kubectl({"get", "nodes", "--kubeconfig", "/root/other.conf"}, "", {}, lab.cp.io());
  CHECK(has(foreign.err, "x509: certificate signed by unknown authority"));
}

TEST_CASE("sim kube: a pod with an unbound claim stays Pending until a fitting PersistentVolume exists") {
  Lab lab;
  const std::string app = R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: nfs
  resources: {requests: {storage: 5Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: default}
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: postgres}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
)";
  auto pv = [](const std::string& name, const std::string& size) {
    return "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: " + name +
           "}\nspec:\n  capacity: {storage: " + size +
           "}\n  accessModes: [ReadWriteOnce]\n  storageClassName: nfs\n  nfs: {server: 10.0.10.20, path: /mnt/data}\n";
  };
  REQUIRE(lab.kubectl({"apply", "-f", "-"}, app).code == 0);
  lab.engine.run_for(15s);
  REQUIRE(lab.kube.pods().size() == 1);
  CHECK(lab.kube.pods()[0].node.empty());
  CHECK(has(lab.kubectl({"get", "pods"}).out, "Pending"));
  lab.kubectl({"apply", "-f", "-"}, pv("small", "1Gi"));  // too small
  CHECK(lab.kube.pods()[0].node.empty());
  lab.kubectl({"apply", "-f", "-"}, pv("big", "10Gi"));
  CHECK((*lab.kube.object("PersistentVolumeClaim", "default", "data"))["spec"]["volumeName"] == "big");
  CHECK_FALSE(lab.kube.pods()[0].node.empty());
}

TEST_CASE("sim kube: kubectl wait waits in virtual time from an actor, and times out with kubectl's text") {
  Lab lab;
  lab.kubectl({"apply", "-f", "-"}, kWeb);
  auto now = lab.kubectl({"wait", "--for=condition=Ready", "pod", "-l", "app=web", "-n", "web", "--timeout=5s"});
  CHECK(now.code == 1);  // outside an actor: checked now, and nothing is ready yet
  CHECK(has(now.err, "error: timed out waiting for the condition on pods/web-"));
  KubeResult waited;
  lab.engine.spawn("runbook", [&] {
    waited = lab.kubectl({"wait", "--for=condition=Available", "deployment/web", "-n", "web", "--timeout=60s"});
  });
  lab.engine.run();
  CHECK_MESSAGE(waited.code == 0, waited.err);
  CHECK(waited.out == "deployment.apps/web condition met\n");
  CHECK(lab.kubectl({"rollout", "status", "deployment/web", "-n", "web"}).out ==
        "deployment \"web\" successfully rolled out\n");
}
