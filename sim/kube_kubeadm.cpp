// kubeadm on the simulated cluster: init (preflight, the control plane and its files), join
// (flags or a JoinConfiguration), bootstrap tokens and reset; and the nodes kubeadm adds.
#include "sim/kube_kubeadm.hpp"
#include "sim/kube.hpp"  // kube_parse_yaml, kube_to_yaml

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <ctime>

#include "sim/kube_etcd_files.hpp"
#include "sim/kube_pki.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_pki;
using namespace kube_util;

namespace {

using namespace std::chrono_literals;

const char* kKubeadmVersion = "v1.28.2";
const std::string kStackHint = "To see the stack trace of this error execute with --v=5 or higher\n";

bool valid_token(const std::string& t) {
  if (t.size() != 23 || t[6] != '.') return false;
  for (std::size_t i = 0; i < t.size(); ++i)
    if (i != 6 && !(std::islower(static_cast<unsigned char>(t[i])) || std::isdigit(static_cast<unsigned char>(t[i]))))
      return false;
  return true;
}

std::string with_port(const std::string& endpoint) {
  return endpoint.find(':') == std::string::npos ? endpoint + ":6443" : endpoint;
}

std::string kubeconfig(const std::string& endpoint, const std::string& ca, const std::string& user) {
  const std::string context = user + "@kubernetes";
  json config = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"clusters", json::array({{{"name", "kubernetes"},
                                 {"cluster",
                                  {{"certificate-authority-data", base64(ca_certificate(ca))},
                                   {"server", "https://" + endpoint}}}}})},
      {"contexts", json::array({{{"name", context}, {"context", {{"cluster", "kubernetes"}, {"user", user}}}}})},
      {"current-context", context},
      {"preferences", json::object()},
      {"users",
       json::array(
           {{{"name", user},
             {"user",
              {{"client-certificate-data", base64(pem("CERTIFICATE", "drctl-sim client " + user + " of CA " + ca))},
               {"client-key-data", base64(pem("RSA PRIVATE KEY", "drctl-sim key " + user + " of CA " + ca))}}}}})}};
  return kube_to_yaml(config);
}

}  // namespace

// --- kubeadm ---------------------------------------------------------------------------------

KubeAdm::KubeAdm(Engine& engine, KubeSetup& setup, KubeStore& store, KubeNodes& nodes, KubeControllers& controllers,
                 KubeEtcd& etcd, KubeAdmHooks hooks)
    : engine_(engine),
      setup_(setup),
      store_(store),
      nodes_(nodes),
      controllers_(controllers),
      etcd_(etcd),
      hooks_(std::move(hooks)) {}

KubeResult KubeAdm::run(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  std::size_t i = first_arg(argv, "kubeadm");
  if (i >= argv.size()) return fail("kubeadm: missing command (init, join, token, reset)\n");
  const std::string& cmd = argv[i];
  std::vector<std::string> rest(argv.begin() + static_cast<std::ptrdiff_t>(i) + 1, argv.end());
  if (cmd == "init") return init(node, rest, files);
  if (cmd == "join") return join(node, rest, files);
  if (cmd == "token") return token(node, rest, files);
  if (cmd == "reset") return reset(node, rest, files);
  if (cmd == "version")
    return {0, "kubeadm version: &version.Info{GitVersion:\"" + std::string(kKubeadmVersion) + "\"}\n", ""};
  return fail("unknown command \"" + cmd + "\" for \"kubeadm\"\n" + kStackHint);
}

namespace {

struct Preflight {
  std::vector<std::pair<std::string, std::string>> errors;  // check name, message
  std::set<std::string> ignored;
  bool ignore_all = false;

  explicit Preflight(const std::string& ignore_list) {
    std::size_t pos = 0;
    while (pos <= ignore_list.size() && !ignore_list.empty()) {
      auto comma = ignore_list.find(',', pos);
      std::string item = ignore_list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      std::transform(item.begin(), item.end(), item.begin(), ::tolower);
      if (item == "all") ignore_all = true;
      ignored.insert(item);
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  void check(bool failed, const std::string& name, const std::string& message) {
    if (failed) errors.emplace_back(name, message);
  }
  /// The fatal errors (ignored ones print as warnings into `out`), or "" when none is fatal.
  std::string fatal(std::string& out) const {
    std::string lines;
    for (const auto& [name, message] : errors) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (ignore_all || ignored.count(lower))
        out += "\t[WARNING " + name + "]: " + message + "\n";
      else
        lines += "\t[ERROR " + name + "]: " + message + "\n";
    }
    if (lines.empty()) return "";
    return "error execution phase preflight: [preflight] Some fatal errors occurred:\n" + lines +
           "[preflight] If you know what you are doing, you can make a check non-fatal with "
           "`--ignore-preflight-errors=...`\n" +
           kStackHint;
  }
};

void node_checks(Preflight& p, const KubeNode& node) {
  p.check(!node.container_runtime, "CRI",
          "container runtime is not running: output: time=\"\" level=fatal msg=\"validate service connection: "
          "validate CRI v1 runtime API for endpoint \\\"unix:///var/run/containerd/containerd.sock\\\": rpc error: "
          "code = Unavailable desc = connection error: desc = \\\"transport: Error while dialing: dial unix "
          "/var/run/containerd/containerd.sock: connect: no such file or directory\\\"\"\n, error: exit status 1");
  p.check(node.swap_on, "Swap", "running with swap on is not supported. Please disable swap");
  p.check(!node.kubelet, "KubeletVersion",
          "couldn't get kubelet version: cannot execute 'kubelet --version': exec: \"kubelet\": executable file not "
          "found in $PATH");
}


/// The documents of `kubeadm … --config PATH` into `docs`; nullopt when read, else the failure:
/// a flag of `flags` or an argument of `args` beside --config, an unreadable file, bad YAML.
std::optional<KubeResult> config_documents(const Args& a, const std::vector<std::string>& flags,
                                           const std::vector<std::string>& args, const KubeFiles& files,
                                           std::vector<json>& docs) {
  std::vector<std::string> mixed;
  for (const auto& f : flags)
    if (a.has(f)) mixed.push_back(f.substr(2));
  mixed.insert(mixed.end(), args.begin(), args.end());
  if (!mixed.empty()) {
    std::string list;
    for (const auto& m : mixed) list += (list.empty() ? "" : " ") + m;
    return fail("can not mix '--config' with arguments [" + list + "]\n" + kStackHint);
  }
  const std::string path = a.get("--config");
  auto text = files.read(path);
  if (!text)
    return fail("unable to read config from \"" + path + "\" : open " + path + ": no such file or directory\n" +
                kStackHint);
  try {
    docs = kube_parse_yaml(*text);
  } catch (const std::exception& e) {
    return fail("error converting YAML to JSON in \"" + path + "\": " + e.what() + "\n" + kStackHint);
  }
  return std::nullopt;
}

const std::vector<std::string> kManifests = {"kube-apiserver.yaml", "kube-controller-manager.yaml",
                                             "kube-scheduler.yaml", "etcd.yaml"};

}  // namespace

KubeResult KubeAdm::init(const KubeNode& machine, const std::vector<std::string>& argv, const KubeFiles& files) {
  KubeNode node = machine;  // named by --node-name or nodeRegistration.name, else the hostname
  Args a = parse_args(argv, 0,
                      {"--config", "--pod-network-cidr", "--service-cidr", "--control-plane-endpoint",
                       "--kubernetes-version", "--apiserver-advertise-address", "--ignore-preflight-errors",
                       "--cri-socket", "--node-name", "--token", "--token-ttl"},
                      {"--upload-certs", "--skip-token-print"});
  if (!a.error.empty()) return fail(a.error + "\n" + kStackHint);
  std::string pod_subnet = a.get("--pod-network-cidr"), service_subnet = a.get("--service-cidr", "10.96.0.0/12");
  std::string endpoint = a.get("--control-plane-endpoint"), version = a.get("--kubernetes-version", kKubeadmVersion);
  std::string advertise = a.get("--apiserver-advertise-address", node.address), token = a.get("--token");
  node.name = a.get("--node-name", node.name);
  std::string ttl_text = a.get("--token-ttl", "24h0m0s");

  if (a.has("--config")) {
    std::vector<json> docs;
    if (auto refused = config_documents(a, {"--pod-network-cidr", "--service-cidr", "--control-plane-endpoint",
                                            "--kubernetes-version", "--apiserver-advertise-address", "--token",
                                            "--token-ttl"},
                                        {}, files, docs))
      return *refused;
    for (const auto& d : docs) {
      std::string api = d.value("apiVersion", ""), kind = d.value("kind", "");
      if (api == "kubeadm.k8s.io/v1beta1" || api == "kubeadm.k8s.io/v1beta2")
        return fail("your configuration file uses an old API spec: \"" + api +
                    "\". Please use kubeadm v1.22 instead and run 'kubeadm config migrate --old-config old.yaml "
                    "--new-config new.yaml', which will write the new, similar spec using a newer API version.\n" +
                    kStackHint);
      if (api != "kubeadm.k8s.io/v1beta3" && api != "kubeadm.k8s.io/v1beta4") continue;
      if (kind == "ClusterConfiguration") {
        pod_subnet = str(d, "/networking/podSubnet"_json_pointer);
        if (auto s = str(d, "/networking/serviceSubnet"_json_pointer); !s.empty()) service_subnet = s;
        endpoint = str(d, "/controlPlaneEndpoint"_json_pointer);
        if (auto v = str(d, "/kubernetesVersion"_json_pointer); !v.empty()) version = v;
      } else if (kind == "InitConfiguration") {
        if (auto ad = str(d, "/localAPIEndpoint/advertiseAddress"_json_pointer); !ad.empty()) advertise = ad;
        if (auto n = str(d, "/nodeRegistration/name"_json_pointer); !n.empty()) node.name = n;
        if (d.contains("bootstrapTokens") && d["bootstrapTokens"].is_array() && !d["bootstrapTokens"].empty()) {
          token = d["bootstrapTokens"][0].value("token", "");
          ttl_text = d["bootstrapTokens"][0].value("ttl", ttl_text);
        }
      }
    }
  }
  if (!pod_subnet.empty() && !cluster_subnet(pod_subnet))
    return fail("networking.podSubnet: Invalid value: \"" + pod_subnet + "\": couldn't parse subnet\n" + kStackHint);
  if (!cluster_subnet(service_subnet))
    return fail("networking.serviceSubnet: Invalid value: \"" + service_subnet + "\": couldn't parse subnet\n" +
                kStackHint);
  if (!token.empty() && !valid_token(token))
    return fail("bootstrapTokens[0].token: Invalid value: \"" + token + "\": the bootstrap token is invalid\n" +
                kStackHint);
  auto ttl = go_duration(ttl_text);
  if (!ttl)
    return fail("invalid argument \"" + ttl_text + "\" for \"--token-ttl\" flag: time: invalid duration \"" + ttl_text +
                "\"\n");
  if (!version.starts_with("v")) version = "v" + version;
  {
    int major = 0, minor = 0;
    if (std::sscanf(version.c_str(), "v%d.%d", &major, &minor) != 2)
      return fail("couldn't parse Kubernetes version \"" + version + "\"\n" + kStackHint);
    if (major != 1 || minor < 27)
      return fail(
          "this version of kubeadm only supports deploying clusters with the control plane version >= 1.27.0. "
          "Current version: " +
          version + "\n" + kStackHint);
  }

  KubeResult r;
  r.out = "[init] Using Kubernetes version: " + version + "\n[preflight] Running pre-flight checks\n";
  Preflight p(a.get("--ignore-preflight-errors"));
  const bool control_plane_here = exists(files, "/etc/kubernetes/manifests/kube-apiserver.yaml");
  p.check(control_plane_here, "Port-6443", "Port 6443 is in use");
  p.check(control_plane_here, "Port-10259", "Port 10259 is in use");
  p.check(control_plane_here, "Port-10257", "Port 10257 is in use");
  for (const auto& m : kManifests) {
    const std::string path = "/etc/kubernetes/manifests/" + m;
    p.check(exists(files, path), "FileAvailable--etc-kubernetes-manifests-" + m, path + " already exists");
  }
  node_checks(p, node);
  p.check(exists(files, "/etc/kubernetes/kubelet.conf"), "Port-10250", "Port 10250 is in use");
  p.check(control_plane_here, "Port-2379", "Port 2379 is in use");
  p.check(control_plane_here, "Port-2380", "Port 2380 is in use");
  auto etcd_data = files.read(kEtcdDb);
  p.check(etcd_data.has_value(), "DirAvailable--var-lib-etcd", "/var/lib/etcd is not empty");
  if (std::string err = p.fatal(r.out); !err.empty()) {
    engine_.log("kube", "kubeadm-failed", {{"node", node.name}, {"phase", "preflight"}});
    r.code = 1;
    r.err = err;
    return r;
  }
  if (!setup_.api_node.empty() && setup_.api_node != node.name && nodes_.states().count(setup_.api_node))
    return fail("sim: the simulator models one cluster, and " + setup_.api_node + " already runs its control plane\n");

  json restored = json::array();
  if (etcd_data) {
    if (!etcd_data->starts_with(kSnapshotMagic))
      return fail("sim: " + std::string(kEtcdDb) + " is not etcd data this simulator wrote\n");
    restored = json::parse(etcd_data->substr(etcd_data->find("\n\n") + 2));
  }
  auto existing_ca = files.read("/etc/kubernetes/pki/ca.crt");
  std::string ca = existing_ca ? ca_of(*existing_ca) : "";
  if (ca.empty()) ca = random_chars(engine_.rng(), 16);
  if (ca != setup_.ca) {
    nodes_.states().clear();
    controllers_.clear_pod_hosts();
  }
  setup_.ca = ca;
  setup_.api_node = node.name;
  hooks_.apiserver_manifest_written();
  etcd_.pod_from_init();
  setup_.endpoint = with_port(endpoint.empty() ? advertise : endpoint);
  setup_.version = version;
  setup_.pod_subnet = pod_subnet.empty() ? "10.244.0.0/16" : pod_subnet;
  setup_.service_subnet = service_subnet;
  tokens_.clear();
  if (token.empty()) token = random_chars(engine_.rng(), 6) + "." + random_chars(engine_.rng(), 16);
  tokens_[token] = ttl->count() == 0 ? Duration::max() : engine_.now() + *ttl;
  write_node_files(node, files, true);
  engine_.log(
      "kube", "control-plane-initialized",
      {{"node", node.name}, {"endpoint", setup_.endpoint}, {"version", setup_.version}, {"restored_objects", restored.size()}});
  add_node(node, true);
  hooks_.start_api(restored);

  r.out +=
      "[certs] Using certificateDir folder \"/etc/kubernetes/pki\"\n"
      "[kubeconfig] Writing \"admin.conf\" kubeconfig file\n"
      "[etcd] Creating static Pod manifest for local etcd in \"/etc/kubernetes/manifests\"\n"
      "[control-plane] Creating static Pod manifest for \"kube-apiserver\"\n"
      "[bootstrap-token] Using token: " +
      token +
      "\n"
      "\nYour Kubernetes control-plane has initialized successfully!\n\n"
      "To start using your cluster, you need to run the following as a regular user:\n\n"
      "  mkdir -p $HOME/.kube\n"
      "  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n"
      "  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n"
      "Then you can join any number of worker nodes by running the following on each as root:\n\n" +
      join_command(token, " \\\n\t") + "\n";
  return r;
}

std::string KubeAdm::join_command(const std::string& token, const std::string& break_before_hash) const {
  return "kubeadm join " + setup_.endpoint + " --token " + token + break_before_hash + "--discovery-token-ca-cert-hash " +
         ca_hash(setup_.ca);
}

void KubeAdm::write_node_files(const KubeNode& node, const KubeFiles& files, bool control_plane) const {
  files.write("/etc/kubernetes/pki/ca.crt", ca_certificate(setup_.ca), 0644);
  files.write("/etc/kubernetes/kubelet.conf", kubeconfig(setup_.endpoint, setup_.ca, "system:node:" + node.name), 0600);
  if (!control_plane) return;
  files.write("/etc/kubernetes/pki/ca.key", pem("RSA PRIVATE KEY", "drctl-sim CA key " + setup_.ca), 0600);
  for (const char* f : {"ca", "server", "peer", "healthcheck-client"}) {
    std::string base = std::string("/etc/kubernetes/pki/etcd/") + f;
    files.write(base + ".crt", pem("CERTIFICATE", "drctl-sim etcd " + std::string(f) + " of CA " + setup_.ca), 0644);
    files.write(base + ".key", pem("RSA PRIVATE KEY", "drctl-sim etcd " + std::string(f) + " key of CA " + setup_.ca), 0600);
  }
  // The API server's client certificate for etcd, signed by etcd's CA.
  files.write("/etc/kubernetes/pki/apiserver-etcd-client.crt",
              pem("CERTIFICATE", "drctl-sim etcd apiserver-etcd-client of CA " + setup_.ca), 0644);
  files.write("/etc/kubernetes/pki/apiserver-etcd-client.key",
              pem("RSA PRIVATE KEY", "drctl-sim etcd apiserver-etcd-client key of CA " + setup_.ca), 0600);
  files.write("/etc/kubernetes/admin.conf", kubeconfig(setup_.endpoint, setup_.ca, "kubernetes-admin"), 0600);
  for (const auto& m : kManifests)
    files.write("/etc/kubernetes/manifests/" + m, "# static pod " + m + " (drctl simulator)\n", 0600);
}

void KubeAdm::add_node(const KubeNode& node, bool control_plane) {
  const std::uint64_t gen = nodes_.register_node(node.name, node.address, control_plane, engine_.now());
  const std::string name = node.name;
  engine_.log("kube", "node-registered", {{"node", name}, {"control_plane", control_plane}});
  engine_.background(engine_.now() + engine_.rng().between(5s, 15s), [this, name, gen] {
    auto it = nodes_.states().find(name);
    if (it == nodes_.states().end() || it->second.generation != gen || !it->second.up) return;
    it->second.ready = true;
    it->second.since = engine_.now();
    engine_.log("kube", "node-ready", {{"node", name}});
    controllers_.reconcile();
    hooks_.changed();
  });
  hooks_.changed();
}

KubeResult KubeAdm::join(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, 0,
                      {"--config", "--token", "--discovery-token", "--discovery-token-ca-cert-hash",
                       "--ignore-preflight-errors", "--cri-socket", "--node-name"},
                      {"--discovery-token-unsafe-skip-ca-verification", "--control-plane"});
  if (!a.error.empty()) return fail(a.error + "\n" + kStackHint);
  if (a.has("--control-plane")) return fail("sim: joining further control-plane nodes is not modelled\n");
  std::string token = a.get("--token", a.get("--discovery-token"));
  std::string hash = a.get("--discovery-token-ca-cert-hash");
  std::string endpoint_arg = a.positional.size() == 1 ? a.positional[0] : "";
  std::string node_name = a.get("--node-name", node.name);
  bool skip_ca = a.has("--discovery-token-unsafe-skip-ca-verification");
  if (a.has("--config")) {  // a JoinConfiguration: the token stays off the command line
    const std::string path = a.get("--config");
    std::vector<json> docs;
    if (auto refused = config_documents(a, {"--token", "--discovery-token", "--discovery-token-ca-cert-hash", "--node-name",
                                            "--discovery-token-unsafe-skip-ca-verification"},
                                        a.positional, files, docs))
      return *refused;
    bool found = false;
    for (const auto& d : docs) {
      const std::string api = d.value("apiVersion", "");
      if (d.value("kind", "") != "JoinConfiguration" || (api != "kubeadm.k8s.io/v1beta3" && api != "kubeadm.k8s.io/v1beta4"))
        continue;
      found = true;
      endpoint_arg = str(d, "/discovery/bootstrapToken/apiServerEndpoint"_json_pointer);
      token = str(d, "/discovery/bootstrapToken/token"_json_pointer);
      const json hashes = d.value("/discovery/bootstrapToken/caCertHashes"_json_pointer, json::array());
      hash = hashes.is_array() && !hashes.empty() && hashes[0].is_string() ? hashes[0].get<std::string>() : "";
      skip_ca = d.value("/discovery/bootstrapToken/unsafeSkipCAVerification"_json_pointer, false);
      if (auto n = str(d, "/nodeRegistration/name"_json_pointer); !n.empty()) node_name = n;
    }
    if (!found)
      return fail("no JoinConfiguration (kubeadm.k8s.io/v1beta3 or v1beta4) in \"" + path + "\"\n" + kStackHint);
  }
  if (endpoint_arg.empty())
    return fail(
        "discovery.bootstrapToken.apiServerEndpoint: Invalid value: \"\": the API server endpoint is required "
        "(kubeadm join ENDPOINT --token T --discovery-token-ca-cert-hash sha256:H)\n" +
        kStackHint);
  const std::string endpoint = with_port(endpoint_arg);
  if (!valid_token(token))
    return fail("discovery.bootstrapToken.token: Invalid value: \"" + token + "\": the bootstrap token \"" + token +
                "\" was not of the form \"^([a-z0-9]{6})\\.([a-z0-9]{16})$\"\n" + kStackHint);
  if (hash.empty() && !skip_ca)
    return fail(
        "discovery.bootstrapToken: Invalid value: \"\": using token-based discovery without caCertHashes can be "
        "unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass "
        "--discovery-token-unsafe-skip-ca-verification flag to continue\n" +
        kStackHint);

  KubeResult r;
  r.out = "[preflight] Running pre-flight checks\n";
  Preflight p(a.get("--ignore-preflight-errors"));
  const bool joined = exists(files, "/etc/kubernetes/kubelet.conf");
  p.check(exists(files, "/etc/kubernetes/manifests/kube-apiserver.yaml"), "DirAvailable--etc-kubernetes-manifests",
          "/etc/kubernetes/manifests is not empty");
  p.check(joined, "FileAvailable--etc-kubernetes-kubelet.conf", "/etc/kubernetes/kubelet.conf already exists");
  node_checks(p, node);
  p.check(joined, "Port-10250", "Port 10250 is in use");
  p.check(exists(files, "/etc/kubernetes/pki/ca.crt"), "FileAvailable--etc-kubernetes-pki-ca.crt",
          "/etc/kubernetes/pki/ca.crt already exists");
  auto refuse = [&](const std::string& why, const std::string& err) {
    engine_.log("kube", "join-refused", {{"node", node.name}, {"reason", why}});
    r.code = 1;
    r.err = err;
    return r;
  };
  if (std::string err = p.fatal(r.out); !err.empty()) return refuse("preflight", err);
  if (!hooks_.api_up() || endpoint != setup_.endpoint)
    return refuse("API server unreachable",
                  "error execution phase preflight: couldn't validate the identity of the API Server: Get \"https://" +
                      endpoint + "/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s\": dial tcp " +
                      endpoint + ": connect: connection refused\n" + kStackHint);
  auto t = tokens_.find(token);
  if (t == tokens_.end() || engine_.now() >= t->second)
    return refuse(t == tokens_.end() ? "unknown token" : "expired token",
                  "error execution phase preflight: couldn't validate the identity of the API Server: could not find a "
                  "JWS signature in the cluster-info ConfigMap for token ID \"" +
                      token.substr(0, 6) + "\"\n" + kStackHint);
  if (!hash.empty() && hash != ca_hash(setup_.ca))
    return refuse("CA hash mismatch",
                  "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found "
                  "in cluster-info ConfigMap is invalid: none of the public keys \"" +
                      ca_hash(setup_.ca) + "\" are pinned\n" + kStackHint);
  const std::string name = node_name;
  if (auto n = nodes_.states().find(name); n != nodes_.states().end() && n->second.ready)
    return refuse("node name taken", "error execution phase kubelet-start: a Node with name \"" + name +
                                         "\" and status \"Ready\" already exists in the cluster. You must delete the "
                                         "existing Node or change the name of this new joining Node\n" +
                                         kStackHint);
  KubeNode joining = node;
  joining.name = name;
  write_node_files(joining, files, false);
  add_node(joining, false);
  r.out +=
      "[preflight] Reading configuration from the cluster...\n"
      "[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"\n"
      "[kubelet-start] Starting the kubelet\n"
      "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap...\n\n"
      "This node has joined the cluster:\n"
      "* Certificate signing request was sent to apiserver and a response was received.\n"
      "* The Kubelet was informed of the new secure connection details.\n\n"
      "Run 'kubectl get nodes' on the control-plane to see this node join the cluster.\n";
  return r;
}

KubeResult KubeAdm::token(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, 0, {"--ttl", "--kubeconfig", "--description"}, {"--print-join-command"});
  if (!a.error.empty()) return fail(a.error + "\n" + kStackHint);
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (sub != "create" && sub != "list") return fail("sim: kubeadm token supports create and list\n");
  const std::string kc = a.get("--kubeconfig", "/etc/kubernetes/admin.conf");
  auto conf = files.read(kc);
  if (!conf) return fail("failed to load admin kubeconfig: open " + kc + ": no such file or directory\n" + kStackHint);
  if (!hooks_.api_up() || conf->find("server: https://" + setup_.endpoint + "\n") == std::string::npos)
    return fail("failed to create or update bootstrap token: Get \"https://" + setup_.endpoint +
                "/api/v1/namespaces/kube-system/secrets\": dial tcp " + setup_.endpoint + ": connect: connection refused\n" +
                kStackHint);
  if (sub == "list") {
    std::string out = "TOKEN                     TTL         EXPIRES   USAGES                   DESCRIPTION\n";
    for (const auto& [t, expiry] : tokens_) {
      if (engine_.now() >= expiry) continue;
      std::string ttl =
          expiry == Duration::max()
              ? "<forever>"
              : std::to_string(std::chrono::duration_cast<std::chrono::hours>(expiry - engine_.now()).count()) + "h";
      out += t + "   " + ttl + "         -         authentication,signing   <none>\n";
    }
    return {0, out, ""};
  }
  auto ttl = go_duration(a.get("--ttl", "24h0m0s"));
  if (!ttl) return fail("invalid argument \"" + a.get("--ttl") + "\" for \"--ttl\" flag: time: invalid duration\n");
  const std::string t = new_token(*ttl);
  engine_.log("kube", "token-created", {{"node", node.name}, {"token_id", t.substr(0, 6)}});
  return {0, (a.has("--print-join-command") ? join_command(t, " ") + " " : t) + "\n", ""};
}

std::string KubeAdm::new_token(Duration ttl) {
  std::string t = random_chars(engine_.rng(), 6) + "." + random_chars(engine_.rng(), 16);
  tokens_[t] = ttl.count() == 0 ? Duration::max() : engine_.now() + ttl;
  return t;
}

KubeResult KubeAdm::reset(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, 0, {"--cri-socket", "--ignore-preflight-errors"}, {"-f", "--force"});
  if (!a.error.empty()) return fail(a.error + "\n" + kStackHint);
  std::string out = "[reset] Reading configuration from the cluster...\n";
  if (!a.has("-f") && !a.has("--force"))
    return {1,
            out +
                "[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted.\n"
                "[reset] Are you sure you want to proceed? [y/N]: ",
            "error execution phase preflight: aborted reset operation\n" + std::string(kStackHint)};
  if (node.name == setup_.api_node) {
    etcd_.stop();
    setup_.api_node.clear();
    store_.clear();
    controllers_.pod_states().clear();
    tokens_.clear();
    engine_.log("kube", "control-plane-reset", {{"node", node.name}});
  }
  if (nodes_.states().erase(node.name)) engine_.log("kube", "node-reset", {{"node", node.name}});
  if (files.remove) {
    for (const char* f : {"/etc/kubernetes/kubelet.conf", "/etc/kubernetes/admin.conf", "/etc/kubernetes/pki/ca.crt",
                          "/etc/kubernetes/pki/ca.key", kEtcdDb, kEtcdWal, "/etc/kubernetes/pki/apiserver-etcd-client.crt",
                          "/etc/kubernetes/pki/apiserver-etcd-client.key"})
      files.remove(f);
    for (const auto& m : kManifests) files.remove("/etc/kubernetes/manifests/" + m);
    for (const char* f : {"ca", "server", "peer", "healthcheck-client"}) {
      files.remove(std::string("/etc/kubernetes/pki/etcd/") + f + ".crt");
      files.remove(std::string("/etc/kubernetes/pki/etcd/") + f + ".key");
    }
  }
  controllers_.reconcile();
  hooks_.changed();
  out +=
      "[reset] Stopping the kubelet service\n"
      "[reset] Unmounting mounted directories in \"/var/lib/kubelet\"\n"
      "[reset] Deleting contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki]\n"
      "[reset] Deleting files: [/etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf]\n";
  return {0, out, ""};
}


}  // namespace drctl::sim
