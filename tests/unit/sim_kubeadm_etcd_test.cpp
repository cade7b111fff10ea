// kubeadm and etcd as the site's pinned versions behave (issue 17): the kubeadm.k8s.io versions
// each kubeadm reads and its messages for what it does not, strict decoding as warnings, flags
// beside --config, the control-plane versions it deploys; the endpoints kubeadm dials (join,
// JoinConfiguration, token create, the kubelet's TLS bootstrap, init's wait for the API server)
// over the network rather than compared as text; etcdctl and etcdutl as each etcd-client release
// prints them, the v2 etcdctl of 3.2/3.3, and drctl's own etcd capture on the homelab's 3.2.26.
// Each rule: a broken input and a valid one. Oracles: kubeadm's and etcdctl's source at the tag
// (cited beside each rule in /work/notes/conf/kadm.md) and, for 3.4.23, the real etcdctl's text
// (tests/fixtures/etcd/3.4.23, and tests/integration/etcd_sim_compare_test.cpp).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "capture/etcd.hpp"
#include "store/repository.hpp"
#include "support/sim_lab.hpp"
#include "sim/kube.hpp"
#include "support/kube_machine.hpp"

using namespace drctl;
using namespace drctl::sim;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

using Machine = support::KubeMachine;
using support::join_args;

Machine machine(const std::string& name, const std::string& address) { return support::kube_machine(name, address); }

std::string init_config(const std::string& api, const std::string& version = "v1.28.2", const std::string& extra = "") {
  return "apiVersion: " + api +
         "\nkind: InitConfiguration\nlocalAPIEndpoint:\n  advertiseAddress: 10.0.20.10\n---\napiVersion: " + api +
         "\nkind: ClusterConfiguration\nkubernetesVersion: " + version +
         "\ncontrolPlaneEndpoint: 10.0.20.10:6443\nnetworking:\n  podSubnet: 10.244.0.0/16\n" + extra;
}

KubeVersions pinned(const std::string& kubernetes, const std::string& etcd = "3.5.9") {
  return {parse_version(kubernetes), parse_version(etcd)};
}

/// A network the test draws by hand: who answers at which address (see the dial tests).
struct FakeNet {
  std::map<std::string, KubeDial::Outcome> at;  // "ip:port" -> outcome ("kube-apiserver" answers when connected)
  std::map<std::string, std::string> names;     // name -> ip
  std::map<std::string, std::string> env;       // every command's environment
  KubeWorld world() {
    KubeWorld w;
    w.dial = [this](const KubeNode&, const std::string& host, int port) {
      KubeDial d;
      d.address = names.count(host) ? names[host] : host;
      if (!names.count(host) && host.find_first_not_of("0123456789.") != std::string::npos) {
        d.outcome = KubeDial::Outcome::unresolved;
        d.address.clear();
        return d;
      }
      auto it = at.find(d.address + ":" + std::to_string(port));
      d.outcome = it == at.end() ? KubeDial::Outcome::refused : it->second;
      if (d.connected()) d.service = port == 2379 ? "etcd" : "kube-apiserver";
      d.reason = "drawn by the test";
      return d;
    };
    w.env = [this](const KubeNode&) { return env; };
    return w;
  }
};

KubeResult init(KubeCluster& kube, Machine& m, const std::string& config) {
  m.files["/root/kubeadm.yaml"] = config;
  return kube.kubeadm(m.node, {"kubeadm", "init", "--config", "/root/kubeadm.yaml"}, m.io());
}

}  // namespace

// --- kubeadm's configuration API per version ---------------------------------------------------

TEST_CASE("sim kubeadm: 1.28 reads kubeadm.k8s.io/v1beta3 and its scheme has no v1beta4, 1.31 reads both and calls v1beta3 deprecated") {
  Engine e(1);
  {
    KubeCluster kube(e, pinned("1.28.2"));
    Machine cp = machine("k8s-master", "10.0.20.10");
    auto v4 = init(kube, cp, init_config("kubeadm.k8s.io/v1beta4"));
    CHECK(v4.code == 1);
    CHECK(has(v4.err, "no kind \"ClusterConfiguration\" is registered for version \"kubeadm.k8s.io/v1beta4\" in scheme "
                      "\"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31\"\n"));
    CHECK_FALSE(kube.api_up());
    auto v3 = init(kube, cp, init_config("kubeadm.k8s.io/v1beta3"));
    CHECK_MESSAGE(v3.code == 0, v3.err);
    CHECK_FALSE(has(v3.err, "deprecated"));
  }
  {
    KubeCluster kube(e, pinned("1.31.1"));
    Machine cp = machine("k8s-master", "10.0.20.10");
    auto v4 = init(kube, cp, init_config("kubeadm.k8s.io/v1beta4", "v1.31.1"));
    CHECK_MESSAGE(v4.code == 0, v4.err);
    CHECK(v4.err.empty());
  }
  {
    KubeCluster kube(e, pinned("1.31.1"));
    Machine cp = machine("k8s-master", "10.0.20.10");
    auto v3 = init(kube, cp, init_config("kubeadm.k8s.io/v1beta3", "v1.31.1"));
    CHECK_MESSAGE(v3.code == 0, v3.err);
    CHECK(has(v3.err, "] your configuration file uses a deprecated API spec: \"kubeadm.k8s.io/v1beta3\" (kind: "
                      "\"ClusterConfiguration\"). Please use 'kubeadm config migrate --old-config old.yaml --new-config "
                      "new.yaml', which will write the new, similar spec using a newer API version.\n"));
  }
}

TEST_CASE("sim kubeadm: an API version kubeadm once knew is an error naming the kubeadm to migrate with, in each release's words") {
  Engine e(1);
  KubeCluster k128(e, pinned("1.28.2"));
  Machine cp = machine("k8s-master", "10.0.20.10");
  auto old = init(k128, cp, init_config("kubeadm.k8s.io/v1beta2"));
  CHECK(old.code == 1);
  CHECK(has(old.err, "your configuration file uses an old API spec: \"kubeadm.k8s.io/v1beta2\". Please use kubeadm v1.22 "
                     "instead and run 'kubeadm config migrate --old-config old.yaml --new-config new.yaml'"));
  KubeCluster k131(e, pinned("1.31.1"));
  auto old31 = init(k131, cp, init_config("kubeadm.k8s.io/v1beta1", "v1.31.1"));
  CHECK(old31.code == 1);
  CHECK(has(old31.err, "uses an old API spec: \"kubeadm.k8s.io/v1beta1\" (kind: \"ClusterConfiguration\"). Please use kubeadm v1.15"));
  // An apiVersion of no kubeadm at all is no silent skip: the kind is kubeadm's, the decoder refuses it.
  auto typo = init(k128, cp, init_config("kubeadm.k8s.io/v1"));
  CHECK(typo.code == 1);
  CHECK(has(typo.err, "no kind \"ClusterConfiguration\" is registered for version \"kubeadm.k8s.io/v1\""));
  CHECK_MESSAGE(init(k128, cp, init_config("kubeadm.k8s.io/v1beta3")).code == 0, "the valid file");
}

TEST_CASE("sim kubeadm: an unknown kind is ignored with kubeadm's warning, a kind given twice or a document without apiVersion is an error") {
  Engine e(1);
  KubeCluster kube(e, pinned("1.28.2"));
  Machine cp = machine("k8s-master", "10.0.20.10");
  auto twice = init(kube, cp, init_config("kubeadm.k8s.io/v1beta3") + "---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\n");
  CHECK(twice.code == 1);
  CHECK(has(twice.err, "invalid configuration: kind \"ClusterConfiguration\" is specified twice in YAML file\n"));
  auto bare = init(kube, cp, init_config("kubeadm.k8s.io/v1beta3") + "---\nkind: KubeletConfiguration\ncgroupDriver: systemd\n");
  CHECK(bare.code == 1);
  CHECK(has(bare.err, "invalid configuration: kind and apiVersion is mandatory information that needs to be specified in all YAML documents\n"));
  auto none = init(kube, cp, "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\n");
  CHECK(none.code == 1);
  CHECK(has(none.err, "no InitConfiguration or ClusterConfiguration kind was found in the YAML file\n"));

  auto other = init(kube, cp,
                    init_config("kubeadm.k8s.io/v1beta3") +
                        "---\napiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterStatus\n---\napiVersion: kubelet.config.k8s.io/v1beta1\n"
                        "kind: KubeletConfiguration\ncgroupDriver: systemd\n");
  CHECK_MESSAGE(other.code == 0, other.err);
  CHECK(has(other.err, "] unknown configuration schema.GroupVersionKind{Group:\"kubeadm.k8s.io\", Version:\"v1beta3\", Kind:\"ClusterStatus\"}\n"));
  CHECK(has(other.err, "] [config] WARNING: Ignored YAML document with GroupVersionKind kubeadm.k8s.io/v1beta3, Kind=ClusterStatus\n"));
  CHECK_FALSE(has(other.err, "KubeletConfiguration"));  // a component config kubeadm knows
  CHECK(other.err.rfind("W0101 00:00:00.000000    4242 initconfiguration.go:", 0) == 0);  // klog's line
}

TEST_CASE("sim kubeadm: an unknown field is a strict-decoding warning and the field is not read, a known one is read") {
  Engine e(1);
  KubeCluster kube(e, pinned("1.28.2"));
  Machine cp = machine("k8s-master", "10.0.20.10");
  std::string config = init_config("kubeadm.k8s.io/v1beta3");
  config.replace(config.find("controlPlaneEndpoint: 10.0.20.10:6443"), 37, "controlPlaneEndPoint: 10.0.20.99:6443");
  config += "  dnsDomian: lab.local\n";
  auto r = init(kube, cp, config);
  CHECK_MESSAGE(r.code == 0, r.err);
  CHECK(has(r.err, "] error unmarshaling configuration schema.GroupVersionKind{Group:\"kubeadm.k8s.io\", Version:\"v1beta3\", "
                   "Kind:\"ClusterConfiguration\"}: strict decoding error: unknown field \"controlPlaneEndPoint\", unknown "
                   "field \"networking.dnsDomian\"\n"));
  // Not read: the endpoint is the advertise address, as without the field.
  CHECK(has(cp.files.at("/etc/kubernetes/admin.conf"), "server: https://10.0.20.10:6443\n"));

  KubeCluster good(e, pinned("1.28.2"));
  Machine cp2 = machine("k8s-master", "10.0.20.10");
  auto ok = init(good, cp2, init_config("kubeadm.k8s.io/v1beta3", "v1.28.2", "  dnsDomain: lab.local\n"));
  CHECK_MESSAGE(ok.code == 0, ok.err);
  CHECK(ok.err.empty());
}

TEST_CASE("sim kubeadm: --config beside a flag is refused naming the flags as pflag visits them, the allowed ones pass") {
  Engine e(1);
  KubeCluster kube(e, pinned("1.28.2"));
  Machine cp = machine("k8s-master", "10.0.20.10");
  cp.files["/root/kubeadm.yaml"] = init_config("kubeadm.k8s.io/v1beta3");
  auto mixed = kube.kubeadm(cp.node, {"init", "--config", "/root/kubeadm.yaml", "--service-cidr", "10.96.0.0/12",
                                      "--pod-network-cidr", "10.244.0.0/16"}, cp.io());
  CHECK(mixed.code == 1);
  CHECK(has(mixed.err, "can not mix '--config' with arguments [pod-network-cidr service-cidr]\n"));
  auto allowed = kube.kubeadm(cp.node, {"init", "--config", "/root/kubeadm.yaml", "--ignore-preflight-errors=Swap",
                                        "--node-name", "k8s-master", "--skip-token-print"}, cp.io());
  CHECK_MESSAGE(allowed.code == 0, allowed.err);
}

TEST_CASE("sim kubeadm: kubernetesVersion outside kubeadm's skew: older than its minor - 1 is refused, newer only warns") {
  Engine e(1);
  for (const auto& [version, code, says] :
       std::vector<std::tuple<std::string, int, std::string>>{
           {"v1.26.5", 1, "this version of kubeadm only supports deploying clusters with the control plane version >= 1.27.0. "
                          "Current version: v1.26.5\n"},
           {"\"1.28\"", 1, "version \"1.28\" doesn't match patterns for neither semantic version nor labels"},
           // unquoted, YAML's 1.28 is a number: the decoder refuses it before any version check
           {"1.28", 1, "json: cannot unmarshal number into Go struct field ClusterConfiguration.kubernetesVersion of type string"},
           {"v1.29.0", 0, "\t[WARNING KubernetesVersion]: Kubernetes version is greater than kubeadm version. Please consider "
                          "to upgrade kubeadm. Kubernetes version: 1.29.0. Kubeadm version: 1.28.x\n"},
           {"v1.27.4", 0, "[init] Using Kubernetes version: v1.27.4\n"}}) {
    CAPTURE(version);
    KubeCluster kube(e, pinned("1.28.2"));
    Machine cp = machine("k8s-master", "10.0.20.10");
    auto r = init(kube, cp, init_config("kubeadm.k8s.io/v1beta3", version));
    CHECK(r.code == code);
    CHECK_MESSAGE(has(r.out + r.err, says), std::string(r.out + r.err));
  }
}

TEST_CASE("sim kubeadm: a bootstrap token or ttl that YAML reads as a number is the decoder's error") {
  Engine e(1);
  // BootstrapTokenString and metav1.Duration unmarshal a JSON string: an all-digit token is a YAML
  // number (123456.1234567890123456 a float), and so is `ttl: 0`.
  for (const auto& [tokens, code] : std::vector<std::pair<std::string, int>>{
           {"bootstrapTokens: [{token: 123456.1234567890123456}]\n", 1},
           {"bootstrapTokens: [{token: abcdef.0123456789abcdef, ttl: 0}]\n", 1},
           {"bootstrapTokens: [{token: \"123456.1234567890123456\", ttl: 24h0m0s}]\n", 0}}) {
    CAPTURE(tokens);
    KubeCluster kube(e, pinned("1.28.2"));
    Machine cp = machine("k8s-master", "10.0.20.10");
    std::string config = init_config("kubeadm.k8s.io/v1beta3");
    config.insert(config.find("---"), tokens);
    auto r = init(kube, cp, config);
    CHECK(r.code == code);
    if (code) CHECK_MESSAGE(has(r.err, "json: cannot unmarshal number into Go value of type string\n"), r.err);
  }
}

TEST_CASE("sim kubeadm: kubeadm version is the release the site pins") {
  Engine e(1);
  KubeCluster kube(e, pinned("1.30.4"));
  Machine cp = machine("k8s-master", "10.0.20.10");
  auto v = kube.kubeadm(cp.node, {"kubeadm", "version", "-o", "short"}, cp.io());
  CHECK(v.out == "v1.30.4\n");
  CHECK(has(kube.kubeadm(cp.node, {"version"}, cp.io()).out, "Major:\"1\", Minor:\"30\", GitVersion:\"v1.30.4\""));
  // Its default control plane is its own release, and etcd the one it deploys for it.
  REQUIRE(kube.kubeadm(cp.node, {"init"}, cp.io()).code == 0);
  auto st = kube.etcdctl(cp.node, {"etcdctl", "endpoint", "status", "-w", "json"}, cp.io());
  CHECK(has(st.out, "\"version\":\"3.5.12\""));
}

// --- endpoints dialled -------------------------------------------------------------------------

TEST_CASE("sim kubeadm: join dials its endpoint: nothing there fails with the network's reason, another address of the API server joins when its certificate names it") {
  Engine e(3);
  FakeNet net;
  net.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;   // the control plane
  net.at["10.0.20.100:6443"] = KubeDial::Outcome::connected;  // a VIP forwarding to it
  net.at["10.0.20.99:6443"] = KubeDial::Outcome::unreachable;
  net.at["10.0.20.98:6443"] = KubeDial::Outcome::timeout;
  net.names["api.lab"] = "10.0.20.100";
  KubeCluster kube(e, pinned("1.28.2"), net.world());
  Machine cp = machine("k8s-master", "10.0.20.10");
  auto r = init(kube, cp,
                init_config("kubeadm.k8s.io/v1beta3") + "apiServer:\n  certSANs: [api.lab, 10.0.20.100]\n");
  REQUIRE_MESSAGE(r.code == 0, r.err);
  auto args = join_args(r.out);
  REQUIRE(args[2] == "10.0.20.10:6443");
  auto with_endpoint = [&](const std::string& endpoint) {
    auto a = args;
    a[2] = endpoint;
    return a;
  };
  const std::string discovery = "error execution phase preflight: couldn't validate the identity of the API Server: Get \"https://";
  Machine w = machine("k8s-node1", "10.0.20.11");
  auto refused = kube.kubeadm(w.node, with_endpoint("10.0.20.12:6443"), w.io());
  CHECK(refused.code == 1);
  CHECK(has(refused.err, discovery + "10.0.20.12:6443/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s\": "
                                     "dial tcp 10.0.20.12:6443: connect: connection refused\n"));
  CHECK(has(kube.kubeadm(w.node, with_endpoint("10.0.20.99:6443"), w.io()).err, "dial tcp 10.0.20.99:6443: connect: no route to host"));
  CHECK(has(kube.kubeadm(w.node, with_endpoint("10.0.20.98"), w.io()).err, "dial tcp 10.0.20.98:6443: i/o timeout"));
  CHECK(has(kube.kubeadm(w.node, with_endpoint("nowhere.lab:6443"), w.io()).err,
            "dial tcp: lookup nowhere.lab on 127.0.0.53:53: no such host"));
  CHECK(has(e.log_jsonl(), "\"event\":\"api-unreachable\""));
  CHECK(w.files.empty());  // nothing written: discovery comes first

  auto by_name = kube.kubeadm(w.node, with_endpoint("api.lab:6443"), w.io());
  CHECK_MESSAGE(by_name.code == 0, by_name.err);
  Machine w2 = machine("k8s-node2", "10.0.20.12");
  auto by_vip = kube.kubeadm(w2.node, with_endpoint("10.0.20.100:6443"), w2.io());
  CHECK_MESSAGE(by_vip.code == 0, by_vip.err);
  // The kubelet talks to the control-plane endpoint init was given, whatever address joined.
  CHECK(has(w2.files.at("/etc/kubernetes/kubelet.conf"), "server: https://10.0.20.10:6443\n"));
}

TEST_CASE("sim kubeadm: an address of the API server its certificate does not name fails verification, unless the CA is not pinned") {
  Engine e(3);
  FakeNet net;
  net.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;
  net.at["10.0.20.100:6443"] = KubeDial::Outcome::connected;
  KubeCluster kube(e, pinned("1.28.2"), net.world());
  Machine cp = machine("k8s-master", "10.0.20.10");
  auto r = init(kube, cp, init_config("kubeadm.k8s.io/v1beta3"));
  REQUIRE(r.code == 0);
  auto args = join_args(r.out);
  args[2] = "10.0.20.100:6443";
  Machine w = machine("k8s-node1", "10.0.20.11");
  auto unnamed = kube.kubeadm(w.node, args, w.io());
  CHECK(unnamed.code == 1);
  CHECK(has(unnamed.err, "cluster-info?timeout=10s\": tls: failed to verify certificate: x509: certificate is valid for "
                         "10.96.0.1, 10.0.20.10, not 10.0.20.100\n"));
  // Without a pinned CA there is no verified fetch: the kubelet then bootstraps against 10.0.20.10.
  std::vector<std::string> unpinned = {"kubeadm", "join", "10.0.20.100:6443", "--token", args[4],
                                       "--discovery-token-unsafe-skip-ca-verification"};
  auto joined = kube.kubeadm(w.node, unpinned, w.io());
  CHECK_MESSAGE(joined.code == 0, joined.err);
}

TEST_CASE("sim kubeadm: the kubelet's TLS bootstrap dials the control-plane endpoint, and init waits for it through admin.conf") {
  Engine e(3);
  FakeNet net;
  net.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;
  net.at["10.0.20.100:6443"] = KubeDial::Outcome::connected;  // the VIP kubeadm init is given
  KubeCluster kube(e, pinned("1.28.2"), net.world());
  Machine cp = machine("k8s-master", "10.0.20.10");
  std::string config = init_config("kubeadm.k8s.io/v1beta3");
  config.replace(config.find("controlPlaneEndpoint: 10.0.20.10:6443"), 37, "controlPlaneEndpoint: 10.0.20.100:6443");
  auto r = init(kube, cp, config);
  REQUIRE_MESSAGE(r.code == 0, r.err);
  auto args = join_args(r.out);
  REQUIRE(args[2] == "10.0.20.100:6443");
  net.at.erase("10.0.20.100:6443");  // the VIP goes away: discovery through the node's own address still works
  args[2] = "10.0.20.10:6443";
  Machine w = machine("k8s-node1", "10.0.20.11");
  auto stuck = kube.kubeadm(w.node, args, w.io());
  CHECK(stuck.code == 1);
  CHECK(has(stuck.out, "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap...\n"));
  CHECK(has(stuck.err, "error execution phase kubelet-start: timed out waiting for the condition\n"));
  CHECK(has(e.log_jsonl(), "\"for\":\"kubelet TLS bootstrap\""));
  // What it wrote stays: joining again needs a `kubeadm reset`, as with the real one.
  auto again = kube.kubeadm(w.node, args, w.io());
  CHECK(has(again.err, "[ERROR FileAvailable--etc-kubernetes-pki-ca.crt]: /etc/kubernetes/pki/ca.crt already exists"));
  net.at["10.0.20.100:6443"] = KubeDial::Outcome::connected;
  REQUIRE(kube.kubeadm(w.node, {"reset", "-f"}, w.io()).code == 0);
  CHECK_FALSE(w.files.count("/etc/kubernetes/bootstrap-kubelet.conf"));
  auto joined = kube.kubeadm(w.node, args, w.io());
  CHECK_MESSAGE(joined.code == 0, joined.err);

  // init with an endpoint nothing answers: the control plane starts, kubeadm gives up waiting for it.
  Engine e2(4);
  FakeNet none;
  none.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;
  KubeCluster lone(e2, pinned("1.28.2"), none.world());
  Machine cp2 = machine("k8s-master", "10.0.20.10");
  auto waited = init(lone, cp2, config);
  CHECK(waited.code == 1);
  CHECK(has(waited.out, "[kubelet-check] Initial timeout of 40s passed.\n"));
  CHECK(has(waited.err, "error execution phase wait-control-plane: couldn't initialize a Kubernetes cluster\n"));
  CHECK_FALSE(has(waited.out, "kubeadm join"));
}

TEST_CASE("sim kubeadm: token create dials the server of its kubeconfig and prints it in the join command") {
  Engine e(3);
  FakeNet net;
  net.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;
  net.names["k8s-master"] = "10.0.20.10";
  KubeCluster kube(e, pinned("1.28.2"), net.world());
  Machine cp = machine("k8s-master", "10.0.20.10");
  REQUIRE(init(kube, cp, init_config("kubeadm.k8s.io/v1beta3")).code == 0);
  std::string& admin = cp.files.at("/etc/kubernetes/admin.conf");
  admin.replace(admin.find("https://10.0.20.10:6443"), 23, "https://10.0.20.12:6443");
  auto refused = kube.kubeadm(cp.node, {"token", "create", "--print-join-command"}, cp.io());
  CHECK(refused.code == 1);
  CHECK(has(refused.err, ": unable to create secret: Post \"https://10.0.20.12:6443/api/v1/namespaces/kube-system/secrets?timeout=10s\": "
                         "dial tcp 10.0.20.12:6443: connect: connection refused\n"));
  CHECK(refused.err.rfind("failed to create or update bootstrap token with name bootstrap-token-", 0) == 0);
  admin.replace(admin.find("https://10.0.20.12:6443"), 23, "https://k8s-master:6443");  // the node's name is in the certificate
  auto ok = kube.kubeadm(cp.node, {"token", "create", "--print-join-command"}, cp.io());
  REQUIRE_MESSAGE(ok.code == 0, ok.err);
  CHECK(ok.out.rfind("kubeadm join k8s-master:6443 --token ", 0) == 0);
  Machine w = machine("k8s-node1", "10.0.20.11");
  auto joined = kube.kubeadm(w.node, join_args(ok.out), w.io());
  CHECK_MESSAGE(joined.code == 0, joined.err);
}

TEST_CASE("sim kubeadm: on the lab, join dials over the simulated network: a worker's address refuses, nobody's has no route, the master's name joins") {
  support::SimLab lab(5);
  lab.infra();
  for (const std::string n : {"k8s-master", "k8s-node1"}) lab.start(n);
  lab.engine().run_for(16min);
  auto sh = [&](const std::string& host, const std::string& script) { return lab.world->host(host).run(support::command(script)); };
  for (const std::string n : {"k8s-master", "k8s-node1"})
    REQUIRE(sh(n, "sudo apt-get install -y containerd kubelet kubeadm kubectl && sudo systemctl start containerd && sudo swapoff -a").ok());
  lab.world->host("k8s-master").put_file("/home/wizard/kubeadm.yaml", support::read_file(support::sim_fixtures() / "k8s/kubeadm.yaml"), 0644);
  auto init = sh("k8s-master", "sudo kubeadm init --config /home/wizard/kubeadm.yaml");
  REQUIRE_MESSAGE(init.ok(), init.err);
  lab.pod_network();
  auto args = join_args(init.out);
  std::string rest;
  for (std::size_t i = 3; i < args.size(); ++i) rest += " " + args[i];
  auto refused = sh("k8s-node1", "sudo kubeadm join 10.0.20.13:6443" + rest);  // an address no machine has yet
  CHECK(refused.exit_code == 1);
  CHECK_MESSAGE(has(refused.err, "dial tcp 10.0.20.13:6443: connect: no route to host"), refused.err);
  auto worker = sh("k8s-node1", "sudo kubeadm join 10.0.20.12:6443" + rest);  // k8s-node1 itself: nothing listens on 6443
  CHECK(worker.exit_code == 1);
  CHECK_MESSAGE(has(worker.err, "dial tcp 10.0.20.12:6443: connect: connection refused"), worker.err);
  CHECK(has(lab.events("network", "connect-failed"), "\"to\":\"10.0.20.12:6443/tcp\""));
  lab.world->host("k8s-node1").put_file("/etc/hosts", "127.0.0.1 localhost\n10.0.20.11 k8s-master\n", 0644);
  auto named = sh("k8s-node1", "sudo kubeadm join k8s-master:6443" + rest);
  CHECK_MESSAGE(named.ok(), named.err);
  lab.engine().run_for(1min);
  CHECK(lab.world->kube().nodes(true).size() == 2);
}

// --- etcd per etcd-client release --------------------------------------------------------------

TEST_CASE("sim etcd: etcd-client 3.2 and 3.3 run the v2 etcdctl unless ETCDCTL_API=3, 3.4 on the v3 one") {
  Engine e(2);
  for (const std::string release : {"3.2.26", "3.3.25"}) {
    CAPTURE(release);
    FakeNet net;
    net.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;
    KubeCluster kube(e, pinned("1.28.2", release), net.world());
    Machine cp = machine("k8s-master", "10.0.20.10");
    REQUIRE(init(kube, cp, init_config("kubeadm.k8s.io/v1beta3")).code == 0);
    auto v2 = kube.etcdctl(cp.node, {"etcdctl", "snapshot", "save", "/root/etcd.db"}, cp.io());
    CHECK(v2.code == 3);
    CHECK(v2.err == "No help topic for 'snapshot'\n");
    CHECK_FALSE(cp.files.count("/root/etcd.db"));
    CHECK(kube.etcdctl(cp.node, {"etcdctl", "--version"}, cp.io()).out == "etcdctl version: " + release + "\nAPI version: 2\n");
    net.env["ETCDCTL_API"] = "3";
    auto v3 = kube.etcdctl(cp.node, {"etcdctl", "snapshot", "save", "/root/etcd.db"}, cp.io());
    CHECK_MESSAGE(v3.code == 0, v3.err);
    CHECK(v3.out == "Snapshot saved at /root/etcd.db\n");
    CHECK(kube.etcdctl(cp.node, {"etcdctl", "version"}, cp.io()).out ==
          "etcdctl version: " + release + "\nAPI version: " + release.substr(0, 3) + "\n");
    net.env["ETCDCTL_API"] = "4";
    CHECK(kube.etcdctl(cp.node, {"etcdctl", "version"}, cp.io()).err == "unsupported API version 4\n");
  }
  FakeNet net;
  KubeCluster k34(e, pinned("1.28.2", "3.4.23"), net.world());
  Machine m = machine("k8s-master", "10.0.20.10");
  CHECK(k34.etcdctl(m.node, {"etcdctl", "version"}, m.io()).out == "etcdctl version: 3.4.23\nAPI version: 3.4\n");
}

TEST_CASE("sim etcd: etcdutl comes with etcd-client 3.5 only, and etcd --version is etcd-client's release") {
  Engine e(2);
  KubeCluster k32(e, pinned("1.28.2", "3.2.26"));
  Machine m = machine("k8s-master", "10.0.20.10");
  CHECK_FALSE(k32.etcdutl_shipped());
  CHECK(k32.etcdutl(m.node, {"etcdutl", "version"}, m.io()).code == 127);
  CHECK(has(k32.etcd({"etcd", "--version"}).out, "etcd Version: 3.2.26\nGit SHA: Not provided (use ./build instead of go build)\n"));
  KubeCluster k35(e, pinned("1.28.2", "3.5.9"));
  CHECK(k35.etcdutl_shipped());
  CHECK(k35.etcdutl(m.node, {"etcdutl", "version"}, m.io()).out == "etcdutl version: 3.5.9\nAPI version: 3.5\n");
}

TEST_CASE("sim etcd: endpoint status and snapshot status have the columns of the pinned etcdctl, the server is kubeadm's") {
  Engine e(2);
  for (const auto& [release, status_head, snap_head] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"3.2.26", "|        ENDPOINT        |        ID        | VERSION | DB SIZE | IS LEADER | RAFT TERM | RAFT INDEX |",
            "|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |"},
           {"3.4.23", "| IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |",
            "|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |\n"},
           {"3.5.9", "| IS LEADER | IS LEARNER | RAFT TERM | RAFT INDEX | RAFT APPLIED INDEX | ERRORS |",
            "| TOTAL KEYS | TOTAL SIZE | VERSION |"}}) {
    CAPTURE(release);
    FakeNet net;
    net.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;
    net.env["ETCDCTL_API"] = "3";
    KubeCluster kube(e, pinned("1.28.2", release), net.world());
    Machine cp = machine("k8s-master", "10.0.20.10");
    REQUIRE(init(kube, cp, init_config("kubeadm.k8s.io/v1beta3")).code == 0);
    auto table = kube.etcdctl(cp.node, {"etcdctl", "--endpoints=https://127.0.0.1:2379", "endpoint", "status", "-w", "table"}, cp.io());
    CHECK_MESSAGE(has(table.out, status_head), table.out);
    CHECK(has(table.out, "|   3.5.9 |"));  // kubeadm 1.28's etcd, whatever the client
    const auto st = nlohmann::json::parse(kube.etcdctl(cp.node, {"etcdctl", "endpoint", "status", "-w", "json"}, cp.io()).out);
    CHECK(st[0]["Status"].contains("raftAppliedIndex") == (release != "3.2.26"));
    REQUIRE(kube.etcdctl(cp.node, {"etcdctl", "snapshot", "save", "/root/s.db"}, cp.io()).code == 0);
    auto snap = kube.etcdctl(cp.node, {"etcdctl", "snapshot", "status", "/root/s.db", "-w", "table"}, cp.io());
    CHECK_MESSAGE(has(snap.out, snap_head), snap.out);
    CHECK(has(snap.err, "Deprecated: Use `etcdutl snapshot status` instead.") == (release == "3.5.9"));
    auto yaml = kube.etcdctl(cp.node, {"etcdctl", "snapshot", "status", "/root/s.db", "-w", "yaml"}, cp.io());
    CHECK(yaml.code == 4);
    CHECK(has(yaml.err, "Error: unsupported output format\n"));
  }
}

TEST_CASE("sim etcd: endpoint health goes to stderr with etcdctl 3.4, to stdout with 3.5, and a refused endpoint is unhealthy") {
  Engine e(2);
  for (const std::string release : {"3.4.23", "3.5.9"}) {
    CAPTURE(release);
    FakeNet net;
    net.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;
    KubeCluster kube(e, pinned("1.28.2", release), net.world());
    Machine cp = machine("k8s-master", "10.0.20.10");
    REQUIRE(init(kube, cp, init_config("kubeadm.k8s.io/v1beta3")).code == 0);
    auto ok = kube.etcdctl(cp.node, {"etcdctl", "--endpoints=https://127.0.0.1:2379", "endpoint", "health"}, cp.io());
    CHECK(ok.code == 0);
    const std::string line = "https://127.0.0.1:2379 is healthy: successfully committed proposal: took = ";
    CHECK(has(release == "3.4.23" ? ok.err : ok.out, line));
    auto down = kube.etcdctl(cp.node, {"etcdctl", "--endpoints=https://127.0.0.1:2380", "endpoint", "health"}, cp.io());
    CHECK(down.code == 1);
    CHECK(has(down.err, "https://127.0.0.1:2380 is unhealthy: failed to commit proposal: context deadline exceeded\n"));
    CHECK(has(down.err, "Error: unhealthy cluster\n"));
    auto save = kube.etcdctl(cp.node, {"etcdctl", "--endpoints=https://127.0.0.1:2380", "snapshot", "save", "/root/x.db"}, cp.io());
    CHECK(save.code == 5);  // ExitWithError(ExitInterrupted, …)
    CHECK(has(save.err, "Error: context deadline exceeded\n"));
  }
}

TEST_CASE("sim etcd: an endpoint that is not loopback is dialled over the network") {
  Engine e(3);
  FakeNet net;
  net.at["10.0.20.10:6443"] = KubeDial::Outcome::connected;
  net.at["10.0.20.10:2379"] = KubeDial::Outcome::connected;
  net.at["10.0.20.30:2379"] = KubeDial::Outcome::timeout;  // a firewall that drops
  net.at["10.0.20.40:2379"] = KubeDial::Outcome::unreachable;
  KubeCluster kube(e, pinned("1.28.2", "3.4.23"), net.world());
  Machine cp = machine("k8s-master", "10.0.20.10");
  REQUIRE(init(kube, cp, init_config("kubeadm.k8s.io/v1beta3")).code == 0);
  auto status = [&](const std::string& endpoint) {
    return kube.etcdctl(cp.node, {"etcdctl", "--endpoints=" + endpoint, "endpoint", "status"}, cp.io());
  };
  CHECK(status("https://10.0.20.10:2379").code == 0);  // etcd answers on the node's address
  // Go's dial errors inside gRPC's, as etcdctl 3.4 logs them (etcd_sim_compare_test: the shape).
  for (const auto& [endpoint, says] : std::vector<std::pair<std::string, std::string>>{
           {"https://10.0.20.11:2379", "dial tcp 10.0.20.11:2379: connect: connection refused"},
           {"https://10.0.20.30:2379", "dial tcp 10.0.20.30:2379: i/o timeout"},
           {"https://10.0.20.40:2379", "dial tcp 10.0.20.40:2379: connect: no route to host"},
           {"https://etcd.lan:2379", "lookup etcd.lan: no such host"}}) {
    CAPTURE(endpoint);
    auto r = status(endpoint);
    CHECK(r.code == 1);
    CHECK_MESSAGE(has(r.err, says), r.err);
  }
}

TEST_CASE("sim etcd: drctl's etcd capture takes the homelab's snapshot with etcd-client 3.2.26, and its restore follows kubeadm's etcd image") {
  support::SimLab lab(6);
  lab.infra();
  lab.start("k8s-master");
  lab.engine().run_for(16min);
  auto sh = [&](const std::string& script) { return lab.world->host("k8s-master").run(support::command(script)); };
  REQUIRE(sh("sudo apt-get install -y containerd kubelet kubeadm kubectl etcd-client && sudo systemctl start containerd && sudo swapoff -a").ok());
  lab.world->host("k8s-master").put_file("/home/wizard/kubeadm.yaml", support::read_file(support::sim_fixtures() / "k8s/kubeadm.yaml"), 0644);
  REQUIRE(sh("sudo kubeadm init --config /home/wizard/kubeadm.yaml").ok());
  CHECK(lab.world->kube().versions().etcd_client.text == "3.2.26");  // the lab pins nothing: Ubuntu 20.04's
  CHECK(sh("command -v etcdutl").exit_code == 1);
  CHECK(sh("sudo etcdctl snapshot save /root/a.db").err == "No help topic for 'snapshot'\n");

  support::TempDir tmp{"sim-kadm-repo"};
  store::Repository::init(tmp / "repo", store::RepoConfig{});
  auto repo = std::make_unique<store::Repository>(tmp / "repo");
  capture::Progress progress;
  world::Host& cp = lab.world->host("k8s-master");
  const store::Section section = capture::capture_etcd(cp, capture::EtcdEndpoint{}, *repo, "kube", progress);
  repo->flush();
  auto source = capture::etcd_source_from_section(*repo, section, "section kube");
  CHECK(source.info.etcd_version == "3.5.9");  // the server kubeadm runs, as `endpoint status` reports it
  CHECK(source.info.total_keys >= 5);          // the namespaces and the kubernetes Service

  // The restore asks which etcd will serve the data: kubeadm's static pod names its image
  // (registry.k8s.io/etcd:3.5.9-0), which the node's etcdctl 3.2.26 does not match.
  capture::EtcdRestoreOptions o;
  o.data_dir = "/var/lib/etcd";
  o.name = "k8s-master";
  o.initial_advertise_peer_urls = "https://10.0.20.11:2380";
  o.replace_existing = true;
  REQUIRE(sh("kubectl --kubeconfig /etc/kubernetes/admin.conf create namespace after").ok());
  auto again = capture::etcd_source_from_section(*repo, section, "section kube");
  const auto restored = capture::etcd_snapshot_restore(cp, again, o);
  CHECK(restored.host_version == "3.5.9");
  CHECK(restored.host_version_from == "the etcd image of /etc/kubernetes/manifests/etcd.yaml");
  CHECK(restored.total_keys == source.info.total_keys);
  CHECK(lab.world->kube().api_up());
  CHECK_FALSE(lab.world->kube().object("Namespace", "", "after"));  // etcd's data as the snapshot had it
}

TEST_CASE("sim etcd: etcdctl version and etcd --version of 3.4.23 are the real ones' text") {
  const fs::path real = fs::path(__FILE__).parent_path().parent_path() / "fixtures/etcd/3.4.23";
  Engine e(2);
  KubeCluster kube(e, pinned("1.28.2", "3.4.23"));
  Machine m = machine("k8s-master", "10.0.20.10");
  CHECK(kube.etcdctl(m.node, {"etcdctl", "version"}, m.io()).out == support::read_file(real / "etcdctl-version.stdout"));
  CHECK(kube.etcd({"etcd", "--version"}).out == support::read_file(real / "etcd-version.stdout"));
  KubeCluster k35(e, pinned("1.28.2", "3.5.9"));  // not the real text of 3.4.23: the test can fail
  CHECK(k35.etcd({"etcd", "--version"}).out != support::read_file(real / "etcd-version.stdout"));
}
