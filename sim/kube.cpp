#include "sim/kube.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <ctime>

#include "sim/dhcp.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_util;

namespace {

using namespace std::chrono_literals;

const char* kKubeadmVersion = "v1.28.2";
const char* kEtcdVersion = "3.5.9";
const char* kSnapshotMagic = "drctl-sim etcd snapshot";
const char* kEtcdDb = "/var/lib/etcd/member/snap/db";
const char* kEtcdWal = "/var/lib/etcd/member/wal/0000000000000000-0000000000000000.wal";
const char* kEtcdDataDir = "/var/lib/etcd";
const std::string kStackHint = "To see the stack trace of this error execute with --v=5 or higher\n";
const Duration kNodeMonitorGrace = 40s;
const Duration kEvictionTimeout = 300s;

std::string random_chars(Rng& rng, int n) {
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s;
  for (int i = 0; i < n; ++i) s += alphabet[rng.range(0, alphabet.size() - 1)];
  return s;
}

bool valid_token(const std::string& t) {
  if (t.size() != 23 || t[6] != '.') return false;
  for (std::size_t i = 0; i < t.size(); ++i)
    if (i != 6 && !(std::islower(static_cast<unsigned char>(t[i])) || std::isdigit(static_cast<unsigned char>(t[i]))))
      return false;
  return true;
}

KubeResult fail(const std::string& err, int code = 1) { return {code, "", err}; }

std::string pem(const std::string& label, const std::string& body) {
  return "-----BEGIN " + label + "-----\n" + base64(body) + "\n-----END " + label + "-----\n";
}

std::string ca_certificate(const std::string& ca) { return pem("CERTIFICATE", "drctl-sim cluster CA " + ca); }

/// The CA a PEM certificate written by ca_certificate names ("" if none).
std::string ca_of(const std::string& cert) {
  auto begin = cert.find('\n'), end = cert.find("\n-----END");
  if (begin == std::string::npos || end == std::string::npos || end <= begin) return "";
  auto raw = unbase64(cert.substr(begin + 1, end - begin - 1));
  const std::string prefix = "drctl-sim cluster CA ";
  return raw && raw->starts_with(prefix) ? raw->substr(prefix.size()) : "";
}

std::string ca_hash(const std::string& ca) { return "sha256:" + sha256_hex("drctl-sim CA public key " + ca); }

/// "10.244.0.0/16" → (network, prefix length); nullopt if not a CIDR.
std::optional<std::pair<std::uint32_t, int>> parse_cidr(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return std::nullopt;
  try {
    std::uint32_t ip = parse_ipv4(cidr.substr(0, slash));
    std::string len = cidr.substr(slash + 1);
    if (len.empty() || len.size() > 2 || !std::all_of(len.begin(), len.end(), ::isdigit)) return std::nullopt;
    int bits = std::stoi(len);
    if (bits > 32) return std::nullopt;
    return std::pair(ip, bits);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
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

bool tolerates(const json& pod_spec, const std::string& key) {
  if (!pod_spec.contains("tolerations") || !pod_spec["tolerations"].is_array()) return false;
  for (const auto& t : pod_spec["tolerations"]) {
    std::string tkey = t.value("key", ""), op = t.value("operator", "Equal"), effect = t.value("effect", "");
    bool key_ok = tkey == key || (tkey.empty() && op == "Exists");
    if (key_ok && (effect.empty() || effect == "NoSchedule")) return true;
  }
  return false;
}

std::string human_size(std::size_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000 && u < 3) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  else
    std::snprintf(buf, sizeof buf, v < 10 ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

}  // namespace

KubeCluster::KubeCluster(Engine& engine) : engine_(engine) {}

// --- kubeadm ---------------------------------------------------------------------------------

KubeResult KubeCluster::kubeadm(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
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

bool exists(const KubeFiles& files, const std::string& path) { return files.read && files.read(path).has_value(); }

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

KubeResult KubeCluster::init(const KubeNode& machine, const std::vector<std::string>& argv, const KubeFiles& files) {
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
  if (!pod_subnet.empty() && !parse_cidr(pod_subnet))
    return fail("networking.podSubnet: Invalid value: \"" + pod_subnet + "\": couldn't parse subnet\n" + kStackHint);
  if (!parse_cidr(service_subnet))
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
  if (!api_node_.empty() && api_node_ != node.name && nodes_.count(api_node_))
    return fail("sim: the simulator models one cluster, and " + api_node_ + " already runs its control plane\n");

  json restored = json::array();
  if (etcd_data) {
    if (!etcd_data->starts_with(kSnapshotMagic))
      return fail("sim: " + std::string(kEtcdDb) + " is not etcd data this simulator wrote\n");
    restored = json::parse(etcd_data->substr(etcd_data->find("\n\n") + 2));
  }
  auto existing_ca = files.read("/etc/kubernetes/pki/ca.crt");
  std::string ca = existing_ca ? ca_of(*existing_ca) : "";
  if (ca.empty()) ca = random_chars(engine_.rng(), 16);
  if (ca != ca_) {
    nodes_.clear();
    next_pod_host_.clear();
  }
  ca_ = ca;
  api_node_ = node.name;
  apiserver_pod_ = etcd_pod_ = true;
  pending_etcd_data_.reset();
  endpoint_ = with_port(endpoint.empty() ? advertise : endpoint);
  version_ = version;
  pod_subnet_ = pod_subnet.empty() ? "10.244.0.0/16" : pod_subnet;
  service_subnet_ = service_subnet;
  tokens_.clear();
  if (token.empty()) token = random_chars(engine_.rng(), 6) + "." + random_chars(engine_.rng(), 16);
  tokens_[token] = ttl->count() == 0 ? Duration::max() : engine_.now() + *ttl;
  write_node_files(node, files, true);
  engine_.log(
      "kube", "control-plane-initialized",
      {{"node", node.name}, {"endpoint", endpoint_}, {"version", version_}, {"restored_objects", restored.size()}});
  add_node(node, true);
  start_api(restored);

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

std::string KubeCluster::join_command(const std::string& token, const std::string& break_before_hash) const {
  return "kubeadm join " + endpoint_ + " --token " + token + break_before_hash + "--discovery-token-ca-cert-hash " +
         ca_hash(ca_);
}

void KubeCluster::write_node_files(const KubeNode& node, const KubeFiles& files, bool control_plane) const {
  files.write("/etc/kubernetes/pki/ca.crt", ca_certificate(ca_), 0644);
  files.write("/etc/kubernetes/kubelet.conf", kubeconfig(endpoint_, ca_, "system:node:" + node.name), 0600);
  if (!control_plane) return;
  files.write("/etc/kubernetes/pki/ca.key", pem("RSA PRIVATE KEY", "drctl-sim CA key " + ca_), 0600);
  for (const char* f : {"ca", "server", "peer", "healthcheck-client"}) {
    std::string base = std::string("/etc/kubernetes/pki/etcd/") + f;
    files.write(base + ".crt", pem("CERTIFICATE", "drctl-sim etcd " + std::string(f) + " of CA " + ca_), 0644);
    files.write(base + ".key", pem("RSA PRIVATE KEY", "drctl-sim etcd " + std::string(f) + " key of CA " + ca_), 0600);
  }
  // The API server's client certificate for etcd, signed by etcd's CA.
  files.write("/etc/kubernetes/pki/apiserver-etcd-client.crt",
              pem("CERTIFICATE", "drctl-sim etcd apiserver-etcd-client of CA " + ca_), 0644);
  files.write("/etc/kubernetes/pki/apiserver-etcd-client.key",
              pem("RSA PRIVATE KEY", "drctl-sim etcd apiserver-etcd-client key of CA " + ca_), 0600);
  files.write("/etc/kubernetes/admin.conf", kubeconfig(endpoint_, ca_, "kubernetes-admin"), 0600);
  for (const auto& m : kManifests)
    files.write("/etc/kubernetes/manifests/" + m, "# static pod " + m + " (drctl simulator)\n", 0600);
}

void KubeCluster::add_node(const KubeNode& node, bool control_plane) {
  NodeState& n = nodes_[node.name];
  if (n.ca != ca_ || n.address.empty()) {
    int index = 0;
    for (const auto& [name, other] : nodes_)
      if (name != node.name) index = std::max(index, other.index + 1);
    n.index = index;
  }
  n.address = node.address;
  n.ca = ca_;
  n.control_plane = control_plane;
  n.up = true;
  n.ready = false;
  n.since = engine_.now();
  n.registered = engine_.now();
  const std::uint64_t gen = ++n.generation;
  const std::string name = node.name;
  engine_.log("kube", "node-registered", {{"node", name}, {"control_plane", control_plane}});
  engine_.background(engine_.now() + engine_.rng().between(5s, 15s), [this, name, gen] {
    auto it = nodes_.find(name);
    if (it == nodes_.end() || it->second.generation != gen || !it->second.up) return;
    it->second.ready = true;
    it->second.since = engine_.now();
    engine_.log("kube", "node-ready", {{"node", name}});
    reconcile();
    changed();
  });
  changed();
}

KubeResult KubeCluster::join(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
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
  if (!api_up() || endpoint != endpoint_)
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
  if (!hash.empty() && hash != ca_hash(ca_))
    return refuse("CA hash mismatch",
                  "error execution phase preflight: couldn't validate the identity of the API Server: cluster CA found "
                  "in cluster-info ConfigMap is invalid: none of the public keys \"" +
                      ca_hash(ca_) + "\" are pinned\n" + kStackHint);
  const std::string name = node_name;
  if (auto n = nodes_.find(name); n != nodes_.end() && n->second.ready)
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

KubeResult KubeCluster::token(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, 0, {"--ttl", "--kubeconfig", "--description"}, {"--print-join-command"});
  if (!a.error.empty()) return fail(a.error + "\n" + kStackHint);
  const std::string sub = a.positional.empty() ? "" : a.positional[0];
  if (sub != "create" && sub != "list") return fail("sim: kubeadm token supports create and list\n");
  const std::string kc = a.get("--kubeconfig", "/etc/kubernetes/admin.conf");
  auto conf = files.read(kc);
  if (!conf) return fail("failed to load admin kubeconfig: open " + kc + ": no such file or directory\n" + kStackHint);
  if (!api_up() || conf->find("server: https://" + endpoint_ + "\n") == std::string::npos)
    return fail("failed to create or update bootstrap token: Get \"https://" + endpoint_ +
                "/api/v1/namespaces/kube-system/secrets\": dial tcp " + endpoint_ + ": connect: connection refused\n" +
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

std::string KubeCluster::new_token(Duration ttl) {
  std::string t = random_chars(engine_.rng(), 6) + "." + random_chars(engine_.rng(), 16);
  tokens_[t] = ttl.count() == 0 ? Duration::max() : engine_.now() + ttl;
  return t;
}

KubeResult KubeCluster::reset(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, 0, {"--cri-socket", "--ignore-preflight-errors"}, {"-f", "--force"});
  if (!a.error.empty()) return fail(a.error + "\n" + kStackHint);
  std::string out = "[reset] Reading configuration from the cluster...\n";
  if (!a.has("-f") && !a.has("--force"))
    return {1,
            out +
                "[reset] WARNING: Changes made to this host by 'kubeadm init' or 'kubeadm join' will be reverted.\n"
                "[reset] Are you sure you want to proceed? [y/N]: ",
            "error execution phase preflight: aborted reset operation\n" + std::string(kStackHint)};
  if (node.name == api_node_) {
    api_running_ = false;
    api_node_.clear();
    store_.clear();
    pods_.clear();
    tokens_.clear();
    engine_.log("kube", "control-plane-reset", {{"node", node.name}});
  }
  if (nodes_.erase(node.name)) engine_.log("kube", "node-reset", {{"node", node.name}});
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
  reconcile();
  changed();
  out +=
      "[reset] Stopping the kubelet service\n"
      "[reset] Unmounting mounted directories in \"/var/lib/kubelet\"\n"
      "[reset] Deleting contents of directories: [/etc/kubernetes/manifests /var/lib/kubelet /etc/kubernetes/pki]\n"
      "[reset] Deleting files: [/etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf]\n";
  return {0, out, ""};
}

// --- the store and the controllers -----------------------------------------------------------

void KubeCluster::start_api(const json& restored_objects) {
  store_.clear();
  pods_.clear();
  api_running_ = true;
  api_started_ = engine_.now();
  if (restored_objects.empty()) {
    for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"})
      put({{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}}, "kube-apiserver");
    put({{"apiVersion", "v1"},
         {"kind", "Service"},
         {"metadata", {{"name", "kubernetes"}, {"namespace", "default"},
                       {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
         {"spec",
          {{"ports", json::array({{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}})},
           {"sessionAffinity", "None"},
           {"type", "ClusterIP"}}}},
        "kube-apiserver");
  } else {
    // etcd's data as it was: uids, resourceVersions and creation times included.
    for (const auto& obj : restored_objects) {
      store_[{obj.value("kind", ""), str(obj, "/metadata/namespace"_json_pointer), str(obj, "/metadata/name"_json_pointer)}] = obj;
      try {
        revision_ = std::max<std::uint64_t>(revision_, std::stoull(str(obj, "/metadata/resourceVersion"_json_pointer)));
      } catch (const std::exception&) {
      }
    }
    ++revision_;
  }
  reconcile();
  changed();
}

namespace {

/// Kinds whose spec changes bump metadata.generation (custom resources too).
bool has_generation(const std::string& kind) {
  static const std::set<std::string> kinds = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob",
                                              "Ingress", "NetworkPolicy", "PodDisruptionBudget", "CustomResourceDefinition",
                                              "HorizontalPodAutoscaler", "IngressClass", "PriorityLevelConfiguration",
                                              "FlowSchema", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"};
  return kinds.count(kind) > 0;
}

/// managedFields' fieldsV1 for the fields an object sets (maps of labels, annotations, selectors
/// and data with their "." entry, as the API server writes them).
json fields_v1(const json& value, const std::string& key = "") {
  json out = json::object();
  if (!value.is_object()) return out;
  static const std::set<std::string> maps = {"labels", "annotations", "matchLabels", "selector", "data", "stringData",
                                             "nodeSelector", "binaryData", "capacity", "requests", "limits"};
  if (maps.count(key)) out["."] = json::object();
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (key.empty() && (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "status")) continue;
    if (key == "metadata" && (it.key() == "name" || it.key() == "namespace" || it.key() == "uid" ||
                              it.key() == "resourceVersion" || it.key() == "creationTimestamp" ||
                              it.key() == "generation" || it.key() == "managedFields"))
      continue;
    out["f:" + it.key()] = fields_v1(it.value(), it.key());
  }
  return out;
}

}  // namespace

std::string KubeCluster::uid_of(const std::string& kind, const std::string& ns, const std::string& name) const {
  auto it = store_.find({kind, ns, name});
  if (it != store_.end()) return str(it->second, "/metadata/uid"_json_pointer);
  return "";
}

void KubeCluster::put(json obj, const std::string& manager) {
  const std::string kind = obj.value("kind", "");
  const std::string ns = str(obj, "/metadata/namespace"_json_pointer), name = str(obj, "/metadata/name"_json_pointer);
  if (kind == "Service" && !obj.contains("/spec/clusterIP"_json_pointer) &&
      str(obj, "/spec/type"_json_pointer) != "ExternalName") {
    obj["spec"]["clusterIP"] = allocate_cluster_ip();
    obj["spec"]["clusterIPs"] = json::array({obj["spec"]["clusterIP"]});
  }
  if (kind == "Namespace") {  // what the API server adds to every namespace
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
    if (!obj.contains("/spec/finalizers"_json_pointer)) obj["spec"]["finalizers"] = json::array({"kubernetes"});
    obj["status"]["phase"] = "Active";
  }
  if (kind == "CustomResourceDefinition") {  // the apiextensions controller accepts its names and serves it at once
    const std::string now_text = sim_time(engine_.now());
    json stored = json::array();
    for (const auto& v : spec_of(obj).value("versions", json::array()))
      if (v.is_object() && v.value("storage", false)) stored.push_back(v.value("name", ""));
    obj["status"] = {{"acceptedNames", spec_of(obj).value("names", json::object())},
                     {"conditions",
                      {{{"lastTransitionTime", now_text}, {"message", "no conflicts found"}, {"reason", "NoConflicts"},
                        {"status", "True"}, {"type", "NamesAccepted"}},
                       {{"lastTransitionTime", now_text}, {"message", "the initial names have been accepted"},
                        {"reason", "InitialNamesAccepted"}, {"status", "True"}, {"type", "Established"}}}},
                     {"storedVersions", stored}};
  }
  auto old = store_.find({kind, ns, name});
  json& meta = obj["metadata"];
  const std::string now = sim_time(engine_.now());
  if (old != store_.end() && old->second.contains("metadata")) {
    const json& before = old->second["metadata"];
    for (const char* k : {"uid", "creationTimestamp", "generation", "managedFields"})
      if (before.contains(k)) meta[k] = before[k];
    if (before.contains("generation") && spec_of(old->second) != spec_of(obj))
      meta["generation"] = before["generation"].get<std::int64_t>() + 1;
  } else {
    meta["uid"] = sim_uuid(ca_ + "/" + kind + "/" + ns + "/" + name + "/" + std::to_string(revision_ + 1));
    meta["creationTimestamp"] = now;
    if (has_generation(kind) || !kube_builtin_kind(kind)) meta["generation"] = 1;  // custom resources have one too
  }
  if (!manager.empty()) {
    json entry = {{"apiVersion", obj.value("apiVersion", "v1")},
                  {"fieldsType", "FieldsV1"},
                  {"fieldsV1", fields_v1(obj)},
                  {"manager", manager},
                  {"operation", "Update"},
                  {"time", now}};
    json fields = json::array();
    for (const auto& e : meta.value("managedFields", json::array()))
      if (e.value("manager", "") != manager || e.contains("subresource")) fields.push_back(e);
    fields.push_back(std::move(entry));
    meta["managedFields"] = std::move(fields);
  }
  ++revision_;
  meta["resourceVersion"] = std::to_string(revision_);
  store_[{kind, ns, name}] = std::move(obj);
}

void KubeCluster::erase(const Key& key) {
  if (store_.erase(key)) ++revision_;
  if (std::get<0>(key) != "Namespace") return;
  for (auto it = store_.begin(); it != store_.end();)
    it = std::get<1>(it->first) == std::get<2>(key) ? store_.erase(it) : std::next(it);
}

std::string KubeCluster::allocate_cluster_ip() {
  auto cidr = parse_cidr(service_subnet_);
  std::set<std::string> used;
  for (const auto& [key, obj] : store_)
    if (std::get<0>(key) == "Service") used.insert(str(obj, "/spec/clusterIP"_json_pointer));
  const std::uint32_t size = cidr->second >= 32 ? 1u : (1u << (32 - cidr->second));
  for (std::uint32_t host = 1; host + 1 < size; ++host) {
    std::string ip = format_ipv4(cidr->first + host);
    if (!used.count(ip)) return ip;
  }
  return "";
}

void KubeCluster::changed() {
  for (const auto& fn : observers_) fn();
}

void KubeCluster::on_change(std::function<void()> fn) { observers_.push_back(std::move(fn)); }

void KubeCluster::reconcile() {
  if (!api_up()) return;
  reconcile_volumes();
  // Pods whose owner or node is gone go with them.
  for (auto it = pods_.begin(); it != pods_.end();) {
    const PodState& p = it->second;
    bool owner = p.owner_kind.empty() ? store_.count({"Pod", p.ns, p.name}) > 0
                                      : store_.count({p.owner_kind, p.ns, p.owner_name}) > 0;
    bool node = p.node.empty() || nodes_.count(p.node);
    if (owner && node) {
      ++it;
      continue;
    }
    engine_.log("kube", "pod-deleted",
                {{"pod", p.ns + "/" + p.name}, {"reason", owner ? "node removed" : "owner deleted"}});
    it = pods_.erase(it);
  }
  for (const char* kind : {"Deployment", "StatefulSet", "DaemonSet", "Pod"}) {
    std::vector<json> objs;
    for (const auto& [key, obj] : store_)
      if (std::get<0>(key) == kind) objs.push_back(obj);
    for (const auto& obj : objs) reconcile_workload(kind, obj);
  }
  std::vector<PodState> pending;
  for (const auto& [key, p] : pods_)
    if (p.node.empty()) pending.push_back(p);
  for (auto& p : pending) schedule(std::move(p));
}

void KubeCluster::reconcile_volumes() {
  std::vector<Key> claims;
  for (const auto& [key, obj] : store_)
    if (std::get<0>(key) == "PersistentVolumeClaim" && str(obj, "/status/phase"_json_pointer) != "Bound")
      claims.push_back(key);
  for (const auto& key : claims) {
    json& pvc = store_[key];
    const json spec = spec_of(pvc);
    auto request = kube_quantity(str(pvc, "/spec/resources/requests/storage"_json_pointer));
    const std::string cls = spec.value("storageClassName", "");
    const std::string wanted = spec.value("volumeName", "");
    std::optional<Key> best;
    long double best_size = 0;
    for (const auto& [pv_key, pv] : store_) {
      if (std::get<0>(pv_key) != "PersistentVolume" || str(pv, "/status/phase"_json_pointer) == "Bound") continue;
      const json pv_spec = spec_of(pv);
      if (!wanted.empty() && wanted != std::get<2>(pv_key)) continue;
      if (pv_spec.contains("claimRef") && (pv_spec["claimRef"].value("name", "") != std::get<2>(key) ||
                                           pv_spec["claimRef"].value("namespace", "") != std::get<1>(key)))
        continue;
      if (pv_spec.value("storageClassName", "") != cls) continue;
      auto size = kube_quantity(str(pv, "/spec/capacity/storage"_json_pointer));
      if (!size || (request && *size < *request)) continue;
      bool modes = true;
      if (spec.contains("accessModes"))
        for (const auto& m : spec["accessModes"])
          if (!pv_spec.contains("accessModes") ||
              std::find(pv_spec["accessModes"].begin(), pv_spec["accessModes"].end(), m) ==
                  pv_spec["accessModes"].end())
            modes = false;
      if (!modes) continue;
      if (!best || *size < best_size) {
        best = pv_key;
        best_size = *size;
      }
    }
    if (!best) {
      pvc["status"]["phase"] = "Pending";
      continue;
    }
    json& pv = store_[*best];
    pv["spec"]["claimRef"] = {
        {"kind", "PersistentVolumeClaim"}, {"namespace", std::get<1>(key)}, {"name", std::get<2>(key)}};
    pv["status"]["phase"] = "Bound";
    pvc["spec"]["volumeName"] = std::get<2>(*best);
    pvc["status"]["phase"] = "Bound";
    pvc["status"]["capacity"]["storage"] = str(pv, "/spec/capacity/storage"_json_pointer);
    pv["metadata"]["resourceVersion"] = std::to_string(++revision_);
    pvc["metadata"]["resourceVersion"] = std::to_string(++revision_);
    engine_.log("kube", "pvc-bound", {{"pvc", std::get<1>(key) + "/" + std::get<2>(key)}, {"pv", std::get<2>(*best)}});
  }
  for (auto& [key, obj] : store_)
    if (std::get<0>(key) == "PersistentVolume" && !obj.contains("/status/phase"_json_pointer)) {
      obj["status"]["phase"] = "Available";
      obj["metadata"]["resourceVersion"] = std::to_string(++revision_);
    }
}

void KubeCluster::reconcile_workload(const std::string& kind, const json& obj) {
  const std::string ns = str(obj, "/metadata/namespace"_json_pointer), name = str(obj, "/metadata/name"_json_pointer);
  json tmpl =
      kind == "Pod" ? obj : (obj.contains("/spec/template"_json_pointer) ? obj["spec"]["template"] : json::object());
  std::vector<std::string> owned;  // names of this workload's pods
  for (const auto& [key, p] : pods_)
    if (p.ns == ns &&
        ((kind == "Pod" && p.owner_kind.empty() && p.name == name) || (p.owner_kind == kind && p.owner_name == name)))
      owned.push_back(p.name);
  auto make = [&](const std::string& pod_name, const std::string& node) {
    PodState p;
    p.ns = ns;
    p.name = pod_name;
    p.node = node;
    p.owner_kind = kind == "Pod" ? "" : kind;
    p.owner_name = kind == "Pod" ? "" : name;
    p.labels = labels_of(tmpl);
    p.spec = spec_of(tmpl);
    p.uid = next_uid_++;
    p.revision = revision_;
    p.created = engine_.now();
    return p;
  };
  if (kind == "Pod") {
    if (owned.empty()) schedule(make(name, ""));
  } else if (kind == "Deployment") {
    const std::string hash = sha256_hex(tmpl.dump()).substr(0, 10);
    int current = 0;
    for (const auto& pod_name : owned) {
      const PodState& p = pods_.at({ns, pod_name});
      if (p.labels.value("pod-template-hash", "") != hash) {
        engine_.log("kube", "pod-deleted", {{"pod", ns + "/" + pod_name}, {"reason", "rollout"}});
        pods_.erase({ns, pod_name});
      } else if (++current > replicas_of(obj)) {
        engine_.log("kube", "pod-deleted", {{"pod", ns + "/" + pod_name}, {"reason", "scaled down"}});
        pods_.erase({ns, pod_name});
      }
    }
    for (; current < replicas_of(obj); ++current) {
      PodState p = make(name + "-" + hash + "-" + random_chars(engine_.rng(), 5), "");
      p.labels["pod-template-hash"] = hash;
      schedule(std::move(p));
    }
  } else if (kind == "StatefulSet") {
    const int replicas = replicas_of(obj);
    for (const auto& pod_name : owned) {
      auto ordinal = pod_name.substr(name.size() + 1);
      if (std::stoi(ordinal) >= replicas) pods_.erase({ns, pod_name});
    }
    json claims =
        obj.contains("/spec/volumeClaimTemplates"_json_pointer) ? obj["spec"]["volumeClaimTemplates"] : json::array();
    for (int i = 0; i < replicas; ++i) {
      const std::string pod_name = name + "-" + std::to_string(i);
      auto it = pods_.find({ns, pod_name});
      if (it != pods_.end()) {
        if (!it->second.ready) break;  // OrderedReady: the next one waits for this one
        continue;
      }
      PodState p = make(pod_name, "");
      for (const auto& c : claims) {
        const std::string claim = c["metadata"].value("name", "") + "-" + pod_name;
        if (!store_.count({"PersistentVolumeClaim", ns, claim})) {
          json pvc = c;
          pvc["apiVersion"] = "v1";
          pvc["kind"] = "PersistentVolumeClaim";
          pvc["metadata"]["name"] = claim;
          pvc["metadata"]["namespace"] = ns;
          put(pvc, "kube-controller-manager");
          reconcile_volumes();
        }
        p.spec["volumes"].push_back(
            {{"name", c["metadata"].value("name", "")}, {"persistentVolumeClaim", {{"claimName", claim}}}});
      }
      schedule(std::move(p));
      break;
    }
  } else if (kind == "DaemonSet") {
    for (const auto& node : eligible_nodes(spec_of(tmpl))) {
      bool has = std::any_of(owned.begin(), owned.end(), [&](const std::string& n) {
        return pods_.at({ns, n}).node == node;
      });
      if (!has) schedule(make(name + "-" + random_chars(engine_.rng(), 5), node));
    }
  }
}

std::vector<std::string> KubeCluster::eligible_nodes(const json& pod_spec) const {
  std::vector<std::string> out;
  for (const auto& [name, n] : nodes_) {
    if (!n.ready || !n.up) continue;
    if (n.control_plane && !tolerates(pod_spec, "node-role.kubernetes.io/control-plane") &&
        !tolerates(pod_spec, "node-role.kubernetes.io/master"))
      continue;
    if (pod_spec.contains("nodeSelector") && pod_spec["nodeSelector"].is_object()) {
      json labels = node_json(name, n)["metadata"]["labels"];
      bool ok = true;
      for (auto it = pod_spec["nodeSelector"].begin(); it != pod_spec["nodeSelector"].end(); ++it)
        if (!labels.contains(it.key()) || labels[it.key()] != it.value()) ok = false;
      if (!ok) continue;
    }
    out.push_back(name);
  }
  return out;
}

bool KubeCluster::claims_bound(const PodState& pod) const {
  if (!pod.spec.contains("volumes") || !pod.spec["volumes"].is_array()) return true;
  for (const auto& v : pod.spec["volumes"]) {
    if (!v.contains("persistentVolumeClaim")) continue;
    auto it = store_.find({"PersistentVolumeClaim", pod.ns, v["persistentVolumeClaim"].value("claimName", "")});
    if (it == store_.end() || str(it->second, "/status/phase"_json_pointer) != "Bound") return false;
  }
  return true;
}

void KubeCluster::schedule(PodState pod) {
  const bool fresh = !pods_.count({pod.ns, pod.name});
  std::string reason;
  if (!claims_bound(pod)) {
    reason = "pod has unbound immediate PersistentVolumeClaims";
    pod.node.clear();
  } else if (pod.node.empty()) {
    auto candidates = eligible_nodes(pod.spec);
    if (candidates.empty()) {
      reason = "0/" + std::to_string(nodes_.size()) + " nodes are available";
    } else {
      // Spread a workload's pods: the node with the fewest of them, then by name.
      auto count = [&](const std::string& node) {
        return std::count_if(pods_.begin(), pods_.end(), [&](const auto& kv) {
          const PodState& p = kv.second;
          return p.node == node && p.ns == pod.ns && p.owner_kind == pod.owner_kind && p.owner_name == pod.owner_name &&
                 !pod.owner_kind.empty();
        });
      };
      pod.node = *std::min_element(candidates.begin(), candidates.end(),
                                   [&](const std::string& x, const std::string& y) { return count(x) < count(y); });
    }
  }
  if (pod.node.empty()) {
    if (fresh) engine_.log("kube", "pod-pending", {{"pod", pod.ns + "/" + pod.name}, {"reason", reason}});
    pods_[{pod.ns, pod.name}] = std::move(pod);
    return;
  }
  pod.ip = next_pod_ip(pod.node);
  pod.ready = false;
  engine_.log("kube", "pod-scheduled", {{"pod", pod.ns + "/" + pod.name}, {"node", pod.node}, {"ip", pod.ip}});
  const std::pair<std::string, std::string> key{pod.ns, pod.name};
  const std::uint64_t uid = pod.uid;
  pods_[key] = std::move(pod);
  engine_.background(engine_.now() + engine_.rng().between(2s, 10s), [this, key, uid] {
    auto it = pods_.find(key);
    if (it == pods_.end() || it->second.uid != uid || it->second.ready) return;
    auto n = nodes_.find(it->second.node);
    if (n == nodes_.end() || !n->second.ready) return;
    it->second.ready = true;
    engine_.log("kube", "pod-ready", {{"pod", key.first + "/" + key.second}, {"node", it->second.node}});
    reconcile();
    changed();
  });
}

std::string KubeCluster::next_pod_ip(const std::string& node) {
  auto cidr = parse_cidr(pod_subnet_);
  const std::uint32_t base = cidr->first + (static_cast<std::uint32_t>(nodes_.at(node).index) << 8);
  std::set<std::string> used;
  for (const auto& [key, p] : pods_) used.insert(p.ip);
  int& host = next_pod_host_[node];
  for (int tries = 0; tries < 253; ++tries) {
    host = host >= 254 || host < 2 ? 2 : host + 1;
    std::string ip = format_ipv4(base + static_cast<std::uint32_t>(host));
    if (!used.count(ip)) return ip;
  }
  return "";
}

// --- power, the disaster, queries ------------------------------------------------------------

void KubeCluster::set_node_up(const std::string& name, bool up) {
  auto it = nodes_.find(name);
  if (it == nodes_.end()) return;
  NodeState& n = it->second;
  if (n.up == up) return;
  n.up = up;
  const std::uint64_t gen = ++n.generation;
  if (up) {
    n.ready = true;
    n.since = engine_.now();
    engine_.log("kube", "node-ready", {{"node", name}});
    std::vector<PodState> restarted;
    for (auto& [key, p] : pods_)
      if (p.node == name) restarted.push_back(p);
    for (auto& p : restarted) {  // the machine rebooted: its pods start again
      p.node = name;
      p.uid = next_uid_++;
      schedule(std::move(p));
    }
    reconcile();
    changed();
    return;
  }
  engine_.log("kube", "node-down", {{"node", name}});
  changed();
  engine_.background(engine_.now() + kNodeMonitorGrace, [this, name, gen] {
    auto it = nodes_.find(name);
    if (it == nodes_.end() || it->second.generation != gen) return;
    it->second.ready = false;
    it->second.since = engine_.now();
    for (auto& [key, p] : pods_)
      if (p.node == name) p.ready = false;
    engine_.log("kube", "node-not-ready", {{"node", name}});
    changed();
    engine_.background(engine_.now() + kEvictionTimeout, [this, name, gen] {
      auto it = nodes_.find(name);
      if (it == nodes_.end() || it->second.generation != gen || !api_up()) return;
      for (auto p = pods_.begin(); p != pods_.end();) {
        bool evict = p->second.node == name && (p->second.owner_kind == "Deployment" || p->second.owner_kind.empty());
        if (evict) engine_.log("kube", "pod-evicted", {{"pod", p->second.ns + "/" + p->second.name}, {"node", name}});
        p = evict ? pods_.erase(p) : std::next(p);
      }
      reconcile();
      changed();
    });
  });
}

void KubeCluster::wipe() {
  store_.clear();
  pods_.clear();
  tokens_.clear();
  api_running_ = false;
  engine_.log("kube", "control-plane-wiped", {{"node", api_node_}});
  changed();
}

void KubeCluster::remove_node(const std::string& name) {
  if (!nodes_.count(name)) return;
  if (name == api_node_) {  // its etcd went with it
    api_running_ = false;
    api_node_.clear();
    store_.clear();
    tokens_.clear();
    pods_.clear();
  }
  nodes_.erase(name);
  for (auto it = pods_.begin(); it != pods_.end();) it = it->second.node == name ? pods_.erase(it) : std::next(it);
  engine_.log("kube", "node-gone", {{"node", name}});
  changed();
}

bool KubeCluster::api_up() const { return etcd_up() && apiserver_pod_; }

std::string KubeCluster::api_node() const { return api_node_; }

json KubeCluster::pod_json(const PodState& p) const {
  json meta = {{"name", p.name},
               {"namespace", p.ns},
               {"labels", p.labels},
               {"uid", sim_uuid(ca_ + "/pod/" + std::to_string(p.uid))},
               {"resourceVersion", std::to_string(p.revision)},
               {"creationTimestamp", sim_time(p.created)}};
  if (!p.owner_kind.empty()) {
    std::string kind = p.owner_kind, name = p.owner_name, uid = uid_of(p.owner_kind, p.ns, p.owner_name);
    if (p.owner_kind == "Deployment") {  // a Deployment's pods belong to its ReplicaSet
      kind = "ReplicaSet";
      name = p.owner_name + "-" + p.labels.value("pod-template-hash", "");
      uid = sim_uuid(uid + "/replicaset/" + p.labels.value("pod-template-hash", ""));
    }
    if (p.owner_kind != "StatefulSet") meta["generateName"] = name + "-";
    meta["ownerReferences"] = {{{"apiVersion", "apps/v1"},
                                {"kind", kind},
                                {"name", name},
                                {"uid", uid},
                                {"controller", true},
                                {"blockOwnerDeletion", true}}};
  }
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", meta},
              {"spec", p.spec},
              {"status",
               {{"phase", p.node.empty() ? "Pending" : "Running"},
                {"conditions", {{{"type", "Ready"}, {"status", p.ready ? "True" : "False"}}}}}}};
  if (!p.node.empty()) pod["spec"]["nodeName"] = p.node;
  if (!p.ip.empty()) pod["status"]["podIP"] = p.ip;
  if (!p.ip.empty()) pod["status"]["podIPs"] = {{{"ip", p.ip}}};
  if (!p.node.empty())
    if (auto n = nodes_.find(p.node); n != nodes_.end()) pod["status"]["hostIP"] = n->second.address;
  return pod;
}

json KubeCluster::node_json(const std::string& name, const NodeState& n) const {
  json labels = {{"beta.kubernetes.io/arch", "amd64"},
                 {"beta.kubernetes.io/os", "linux"},
                 {"kubernetes.io/arch", "amd64"},
                 {"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"}};
  if (n.control_plane) {
    labels["node-role.kubernetes.io/control-plane"] = "";
    labels["node.kubernetes.io/exclude-from-external-load-balancers"] = "";
  }
  auto cidr = parse_cidr(pod_subnet_);
  json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata",
                {{"name", name},
                 {"labels", labels},
                 {"annotations",
                  {{"kubeadm.alpha.kubernetes.io/cri-socket", "unix:///var/run/containerd/containerd.sock"},
                   {"node.alpha.kubernetes.io/ttl", "0"},
                   {"volumes.kubernetes.io/controller-managed-attach-detach", "true"}}},
                 {"uid", sim_uuid(n.ca + "/node/" + name)},
                 {"resourceVersion", std::to_string(revision_)},
                 {"creationTimestamp", sim_time(n.registered)}}},
               {"spec", json::object()},
               {"status",
                {{"addresses", {{{"type", "InternalIP"}, {"address", n.address}}, {{"type", "Hostname"}, {"address", name}}}},
                 {"conditions", {{{"type", "Ready"}, {"status", n.ready ? "True" : "Unknown"}}}},
                 {"nodeInfo", {{"kubeletVersion", version_}, {"kubeProxyVersion", version_},
                               {"containerRuntimeVersion", "containerd://1.7.2"}, {"operatingSystem", "linux"},
                               {"architecture", "amd64"}}}}}};
  if (cidr) {
    node["spec"]["podCIDR"] = format_ipv4(cidr->first + (static_cast<std::uint32_t>(n.index) << 8)) + "/24";
    node["spec"]["podCIDRs"] = {node["spec"]["podCIDR"]};
  }
  if (n.control_plane)
    node["spec"]["taints"] = {{{"key", "node-role.kubernetes.io/control-plane"}, {"effect", "NoSchedule"}}};
  return node;
}

json KubeCluster::workload_status(const std::string& kind, const json& obj) const {
  const std::string ns = str(obj, "/metadata/namespace"_json_pointer), name = str(obj, "/metadata/name"_json_pointer);
  int total = 0, ready = 0;
  for (const auto& [key, p] : pods_)
    if (p.ns == ns && p.owner_kind == kind && p.owner_name == name) {
      ++total;
      ready += p.ready ? 1 : 0;
    }
  json status;
  if (kind == "DaemonSet")
    status = {{"desiredNumberScheduled", eligible_nodes(spec_of(spec_of(obj).value("template", json::object()))).size()},
              {"currentNumberScheduled", total},
              {"numberReady", ready}};
  else
    status = {{"replicas", total}, {"readyReplicas", ready}, {"availableReplicas", ready}};
  if (obj.contains("/metadata/generation"_json_pointer)) status["observedGeneration"] = obj["metadata"]["generation"];
  return status;
}

std::vector<json> KubeCluster::objects(const std::string& kind) const {
  std::vector<json> out;
  if (kind == "Pod") {
    for (const auto& [key, p] : pods_) out.push_back(pod_json(p));
    return out;
  }
  if (kind == "Node") {
    for (const auto& [name, n] : nodes_) out.push_back(node_json(name, n));
    return out;
  }
  for (const auto& [key, obj] : store_)
    if (std::get<0>(key) == kind) out.push_back(obj);
  std::vector<json> made = generated(kind);
  if (made.empty()) return out;
  auto where = [](const json& o) {
    return std::pair(str(o, "/metadata/namespace"_json_pointer), str(o, "/metadata/name"_json_pointer));
  };
  std::set<std::pair<std::string, std::string>> stored;
  for (const auto& o : out) stored.insert(where(o));
  for (auto& o : made)
    if (!stored.count(where(o))) out.push_back(std::move(o));
  std::stable_sort(out.begin(), out.end(), [&](const json& a, const json& b) { return where(a) < where(b); });
  return out;
}

std::optional<json> KubeCluster::object(const std::string& kind, const std::string& ns, const std::string& name) const {
  if (kind == "Pod") {
    auto it = pods_.find({ns, name});
    return it == pods_.end() ? std::nullopt : std::optional(pod_json(it->second));
  }
  if (kind == "Node") {
    auto it = nodes_.find(name);
    return it == nodes_.end() ? std::nullopt : std::optional(node_json(name, it->second));
  }
  auto it = store_.find({kind, ns, name});
  if (it != store_.end()) return it->second;
  for (auto& o : generated(kind))
    if (str(o, "/metadata/namespace"_json_pointer) == ns && str(o, "/metadata/name"_json_pointer) == name) return o;
  return std::nullopt;
}

std::vector<json> KubeCluster::generated(const std::string& kind) const {
  std::vector<json> out;
  if (!api_running_) return out;
  auto meta_from = [&](const std::string& seed, const std::string& ns, const std::string& name, Duration created,
                       const std::string& rv) {
    json m = {{"name", name},
              {"uid", sim_uuid(ca_ + "/" + seed)},
              {"resourceVersion", rv},
              {"creationTimestamp", sim_time(created)}};
    if (!ns.empty()) m["namespace"] = ns;
    return m;
  };
  if (kind == "ServiceAccount" || kind == "ConfigMap") {
    for (const auto& [key, ns] : store_) {
      if (std::get<0>(key) != "Namespace") continue;
      const std::string name = std::get<2>(key), uid = str(ns, "/metadata/uid"_json_pointer);
      const std::string created = str(ns, "/metadata/creationTimestamp"_json_pointer);
      const std::string rv = str(ns, "/metadata/resourceVersion"_json_pointer);
      json m = {{"name", kind == "ServiceAccount" ? "default" : "kube-root-ca.crt"},
                {"namespace", name},
                {"uid", sim_uuid(uid + "/" + kind)},
                {"resourceVersion", rv},
                {"creationTimestamp", created}};
      if (kind == "ServiceAccount") {
        out.push_back({{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", m}});
      } else {
        m["annotations"] = {{"kubernetes.io/description",
                             "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
                             "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
                             "guaranteed across distributions of Kubernetes clusters."}};
        out.push_back({{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata", m},
                       {"data", {{"ca.crt", ca_certificate(ca_)}}}});
      }
    }
    return out;
  }
  if (kind == "ReplicaSet") {
    for (const auto& [key, d] : store_) {
      if (std::get<0>(key) != "Deployment") continue;
      const std::string ns = std::get<1>(key), name = std::get<2>(key);
      const json tmpl = d.contains("/spec/template"_json_pointer) ? d["spec"]["template"] : json::object();
      const std::string hash = sha256_hex(tmpl.dump()).substr(0, 10);
      const std::string duid = str(d, "/metadata/uid"_json_pointer);
      json m = {{"name", name + "-" + hash},
                {"namespace", ns},
                {"uid", sim_uuid(duid + "/replicaset/" + hash)},
                {"resourceVersion", str(d, "/metadata/resourceVersion"_json_pointer)},
                {"creationTimestamp", str(d, "/metadata/creationTimestamp"_json_pointer)},
                {"generation", 1},
                {"labels", labels_of(tmpl)},
                {"annotations",
                 {{"deployment.kubernetes.io/desired-replicas", std::to_string(replicas_of(d))},
                  {"deployment.kubernetes.io/max-replicas", std::to_string(replicas_of(d) + (replicas_of(d) + 3) / 4)},
                  {"deployment.kubernetes.io/revision", "1"}}},
                {"ownerReferences",
                 {{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", name}, {"uid", duid}, {"controller", true},
                   {"blockOwnerDeletion", true}}}}};
      m["labels"]["pod-template-hash"] = hash;
      json spec = {{"replicas", replicas_of(d)}, {"template", tmpl}};
      spec["selector"] = spec_of(d).value("selector", json::object());
      spec["selector"]["matchLabels"]["pod-template-hash"] = hash;
      spec["template"]["metadata"]["labels"]["pod-template-hash"] = hash;
      json status = workload_status("Deployment", d);
      status.erase("observedGeneration");
      status["observedGeneration"] = 1;
      out.push_back({{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"metadata", m}, {"spec", spec}, {"status", status}});
    }
    return out;
  }
  if (kind == "Endpoints" || kind == "EndpointSlice") {
    for (const auto& [key, svc] : store_) {
      if (std::get<0>(key) != "Service") continue;
      const std::string ns = std::get<1>(key), name = std::get<2>(key);
      const json spec = spec_of(svc);
      const std::string suid = str(svc, "/metadata/uid"_json_pointer);
      const bool api = ns == "default" && name == "kubernetes";
      if (!api && (!spec.contains("selector") || !spec["selector"].is_object() || spec["selector"].empty())) continue;
      struct Address {
        std::string ip, node, pod, uid;
        bool ready;
      };
      std::vector<Address> addresses;
      json ports = json::array();
      if (api) {
        auto n = nodes_.find(api_node_);
        addresses.push_back({n == nodes_.end() ? "" : n->second.address, "", "", "", true});
        ports.push_back({{"name", "https"}, {"port", 6443}, {"protocol", "TCP"}});
      } else {
        const PodState* first = nullptr;
        for (const auto& [pk, p] : pods_) {
          if (p.ns != ns || p.ip.empty() || !matches(spec["selector"], p.labels)) continue;
          if (!first) first = &p;
          addresses.push_back({p.ip, p.node, p.name, sim_uuid(ca_ + "/pod/" + std::to_string(p.uid)), p.ready});
        }
        for (const auto& sp : spec.value("ports", json::array())) {
          if (!sp.is_object()) continue;
          json target = sp.contains("targetPort") ? sp["targetPort"] : sp.value("port", json(0));
          int port = target.is_number_integer() ? target.get<int>() : 0;
          if (target.is_string() && first && first->spec.contains("containers") && first->spec["containers"].is_array())
            for (const auto& c : first->spec["containers"])
              if (c.is_object() && c.contains("ports") && c["ports"].is_array())
                for (const auto& cp : c["ports"])
                  if (cp.is_object() && cp.value("name", "") == target.get<std::string>())
                    port = cp.value("containerPort", 0);
          json p = {{"port", port}, {"protocol", sp.value("protocol", "TCP")}};
          if (sp.contains("name")) p["name"] = sp["name"];
          ports.push_back(p);
        }
      }
      json labels = labels_of(svc);
      if (kind == "Endpoints") {
        json m = {{"name", name},
                  {"namespace", ns},
                  {"uid", sim_uuid(suid + "/endpoints")},
                  {"resourceVersion", std::to_string(revision_)},
                  {"creationTimestamp", str(svc, "/metadata/creationTimestamp"_json_pointer)}};
        if (api) labels = {{"endpointslice.kubernetes.io/skip-mirror", "true"}};
        if (!labels.empty()) m["labels"] = labels;
        json ready = json::array(), unready = json::array();
        for (const auto& a : addresses) {
          json e = {{"ip", a.ip}};
          if (!a.node.empty()) e["nodeName"] = a.node;
          if (!a.pod.empty()) e["targetRef"] = {{"kind", "Pod"}, {"name", a.pod}, {"namespace", ns}, {"uid", a.uid}};
          (a.ready ? ready : unready).push_back(e);
        }
        json o = {{"apiVersion", "v1"}, {"kind", "Endpoints"}, {"metadata", m}};
        if (!addresses.empty()) {
          json subset = {{"ports", ports}};
          if (!ready.empty()) subset["addresses"] = ready;
          if (!unready.empty()) subset["notReadyAddresses"] = unready;
          o["subsets"] = json::array({subset});
        }
        out.push_back(o);
      } else {
        const std::string h = sha256_hex(suid + "/endpointslice");
        std::string suffix;
        for (int i = 0; i < 5; ++i) suffix += "bcdfghjklmnpqrstvwxz2456789"[std::stoi(h.substr(2 * i, 2), nullptr, 16) % 27];
        json m = {{"name", api ? name : name + "-" + suffix},
                  {"namespace", ns},
                  {"uid", sim_uuid(suid + "/endpointslice")},
                  {"resourceVersion", std::to_string(revision_)},
                  {"creationTimestamp", str(svc, "/metadata/creationTimestamp"_json_pointer)}};
        labels["kubernetes.io/service-name"] = name;
        if (!api) {
          labels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io";
          m["generateName"] = name + "-";
          m["ownerReferences"] = {{{"apiVersion", "v1"}, {"kind", "Service"}, {"name", name}, {"uid", suid},
                                   {"controller", true}, {"blockOwnerDeletion", true}}};
        }
        m["labels"] = labels;
        json endpoints = json::array();
        for (const auto& a : addresses) {
          json e = {{"addresses", {a.ip}},
                    {"conditions", {{"ready", a.ready}, {"serving", a.ready}, {"terminating", false}}}};
          if (!a.node.empty()) e["nodeName"] = a.node;
          if (!a.pod.empty()) e["targetRef"] = {{"kind", "Pod"}, {"name", a.pod}, {"namespace", ns}, {"uid", a.uid}};
          endpoints.push_back(e);
        }
        out.push_back({{"apiVersion", "discovery.k8s.io/v1"},
                       {"kind", "EndpointSlice"},
                       {"metadata", m},
                       {"addressType", "IPv4"},
                       {"endpoints", endpoints},
                       {"ports", ports}});
      }
    }
    return out;
  }
  const std::string rv = "1";
  if (kind == "ClusterRole" || kind == "ClusterRoleBinding") {
    const json labels = {{"kubernetes.io/bootstrapping", "rbac-defaults"}};
    const json annotations = {{"rbac.authorization.kubernetes.io/autoupdate", "true"}};
    if (kind == "ClusterRoleBinding") {
      json m = meta_from("ClusterRoleBinding/cluster-admin", "", "cluster-admin", api_started_, rv);
      m["labels"] = labels;
      m["annotations"] = annotations;
      out.push_back({{"apiVersion", "rbac.authorization.k8s.io/v1"},
                     {"kind", "ClusterRoleBinding"},
                     {"metadata", m},
                     {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", "cluster-admin"}}},
                     {"subjects", {{{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Group"}, {"name", "system:masters"}}}}});
      return out;
    }
    for (const char* name : {"admin", "cluster-admin", "edit", "view"}) {
      json m = meta_from(std::string("ClusterRole/") + name, "", name, api_started_, rv);
      m["labels"] = labels;
      m["annotations"] = annotations;
      json role = {{"apiVersion", "rbac.authorization.k8s.io/v1"}, {"kind", "ClusterRole"}, {"metadata", m}};
      if (std::string(name) == "cluster-admin") {
        role["rules"] = {{{"apiGroups", {"*"}}, {"resources", {"*"}}, {"verbs", {"*"}}},
                         {{"nonResourceURLs", {"*"}}, {"verbs", {"*"}}}};
      } else {
        role["aggregationRule"] = {{"clusterRoleSelectors",
                                    {{{"matchLabels", {{"rbac.authorization.k8s.io/aggregate-to-" + std::string(name), "true"}}}}}}};
        role["rules"] = json::array();
      }
      out.push_back(role);
    }
    return out;
  }
  if (kind == "PriorityClass") {
    for (const auto& [name, value] : {std::pair{"system-cluster-critical", 2000000000}, std::pair{"system-node-critical", 2000001000}}) {
      out.push_back({{"apiVersion", "scheduling.k8s.io/v1"},
                     {"kind", "PriorityClass"},
                     {"metadata", meta_from(std::string("PriorityClass/") + name, "", name, api_started_, rv)},
                     {"value", value},
                     {"description", "Used for system critical pods that must run in the cluster, but can be moved to "
                                     "another node if necessary."},
                     {"globalDefault", false},
                     {"preemptionPolicy", "PreemptLowerPriority"}});
    }
    if (out.size() == 2)
      out[1]["description"] = "Used for system critical pods that must not be moved from their current node.";
    return out;
  }
  if (kind == "APIService") {
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& k : served_kinds()) {
      if (!seen.insert({k.group, k.version}).second) continue;
      const bool crd = !kube_builtin_kind(k.kind);
      const std::string name = k.version + "." + k.group;
      json m = meta_from("APIService/" + name, "", name, api_started_, rv);
      m["labels"] = {{"kube-aggregator.kubernetes.io/automanaged", crd ? "true" : "onstart"}};
      out.push_back({{"apiVersion", "apiregistration.k8s.io/v1"},
                     {"kind", "APIService"},
                     {"metadata", m},
                     {"spec",
                      {{"group", k.group},
                       {"version", k.version},
                       {"groupPriorityMinimum", crd ? 1000 : 18000},
                       {"versionPriority", crd ? 100 : 15}}},
                     {"status",
                      {{"conditions", json::array({{{"type", "Available"}, {"status", "True"}, {"reason", "Local"},
                                                     {"message", "Local APIServices are always available"}}})}}}});
    }
    std::sort(out.begin(), out.end(), [](const json& a, const json& b) {
      return a["metadata"]["name"].get<std::string>() < b["metadata"]["name"].get<std::string>();
    });
    return out;
  }
  if (kind == "ComponentStatus" && api_up()) {
    for (const char* name : {"controller-manager", "etcd-0", "scheduler"})
      out.push_back({{"apiVersion", "v1"},
                     {"kind", "ComponentStatus"},
                     {"metadata", {{"name", name}}},
                     {"conditions", {{{"type", "Healthy"}, {"status", "True"}, {"message", "ok"}}}}});
    return out;
  }
  return out;
}

std::vector<KubeCluster::Pod> KubeCluster::pods() const {
  std::vector<Pod> out;
  for (const auto& [key, p] : pods_)
    out.push_back(
        {p.ns, p.name, p.node, p.ip, p.labels, p.ready, p.owner_kind.empty() ? "" : p.owner_kind + "/" + p.owner_name});
  return out;
}

std::vector<std::string> KubeCluster::nodes(bool ready_only) const {
  std::vector<std::string> out;
  for (const auto& [name, n] : nodes_)
    if (!ready_only || n.ready) out.push_back(name);
  return out;
}

std::vector<KubeCluster::Endpoint> KubeCluster::endpoints_for(const std::string& ns, const std::string& service,
                                                              const std::function<bool(const json&)>& is_port) const {
  std::vector<Endpoint> out;
  auto svc = store_.find({"Service", ns, service});
  if (svc == store_.end() || !api_up()) return out;
  const json spec = spec_of(svc->second);
  if (!spec.contains("selector") || !spec.contains("ports")) return out;
  for (const auto& sp : spec["ports"]) {
    if (!is_port(sp)) continue;
    const json target = sp.contains("targetPort") ? sp["targetPort"] : sp["port"];
    if (!target.is_number_integer() && !target.is_string()) continue;
    for (const auto& [key, p] : pods_) {
      if (p.ns != ns || !p.ready || p.ip.empty() || !matches(spec["selector"], p.labels)) continue;
      int port = target.is_number_integer() ? target.get<int>() : 0;
      if (target.is_string() && p.spec.contains("containers") &&
          p.spec["containers"].is_array()) {  // a named container port
        for (const auto& c : p.spec["containers"])
          for (const auto& cp :
               c.is_object() && c.contains("ports") && c["ports"].is_array() ? c["ports"] : json::array())
            if (cp.is_object() && cp.contains("name") && cp["name"] == target && cp.contains("containerPort") &&
                cp["containerPort"].is_number_integer())
              port = cp["containerPort"].get<int>();
      }
      if (port != 0) out.push_back({p.name, p.node, p.ip, port});
    }
  }
  return out;
}

std::vector<KubeCluster::Endpoint> KubeCluster::endpoints(const std::string& ns, const std::string& service,
                                                          int port) const {
  return endpoints_for(ns, service,
                       [&](const json& sp) { return sp.is_object() && sp.contains("port") && sp["port"] == port; });
}

std::vector<KubeCluster::Endpoint> KubeCluster::endpoints(const std::string& ns, const std::string& service,
                                                          const std::string& port_name) const {
  return endpoints_for(
      ns, service, [&](const json& sp) { return sp.is_object() && sp.contains("name") && sp["name"] == port_name; });
}

void KubeCluster::set_load_balancer_ip(const std::string& ns, const std::string& service, const std::string& ip) {
  auto it = store_.find({"Service", ns, service});
  if (it == store_.end()) return;
  json ingress = ip.empty() ? json::array() : json::array({{{"ip", ip}}});
  if (it->second.contains("/status/loadBalancer/ingress"_json_pointer) &&
      it->second["status"]["loadBalancer"]["ingress"] == ingress)
    return;
  it->second["status"]["loadBalancer"]["ingress"] = ingress;
  it->second["metadata"]["resourceVersion"] = std::to_string(++revision_);
  engine_.log("kube", "load-balancer-ip", {{"service", ns + "/" + service}, {"ip", ip}});
  changed();
}

// --- etcd ------------------------------------------------------------------------------------

bool KubeCluster::etcd_up() const {
  auto it = nodes_.find(api_node_);
  return api_running_ && etcd_pod_ && it != nodes_.end() && it->second.up;
}

void KubeCluster::static_pods_changed(const KubeNode& node, const KubeFiles& files) {
  if (node.name != api_node_ || !nodes_.count(api_node_)) return;
  const bool api = exists(files, "/etc/kubernetes/manifests/kube-apiserver.yaml");
  const bool etcd = exists(files, "/etc/kubernetes/manifests/etcd.yaml");
  if (api == apiserver_pod_ && etcd == etcd_pod_) return;
  const bool was_up = api_up();
  if (api != apiserver_pod_)
    engine_.log("kube", api ? "static-pod-started" : "static-pod-stopped", {{"node", node.name}, {"pod", "kube-apiserver-" + node.name}});
  if (etcd != etcd_pod_)
    engine_.log("kube", etcd ? "static-pod-started" : "static-pod-stopped", {{"node", node.name}, {"pod", "etcd-" + node.name}});
  apiserver_pod_ = api;
  etcd_pod_ = etcd;
  if (etcd && pending_etcd_data_) {
    const std::string data = *pending_etcd_data_;
    pending_etcd_data_.reset();
    etcd_data_replaced(node.name, data);
    return;
  }
  if (api_up() && !was_up) reconcile();
  changed();
}

void KubeCluster::etcd_data_moved(const KubeNode& node, const std::string& dir, const KubeFiles& files) {
  const std::string data_dir = kEtcdDataDir;
  if (node.name != api_node_ || !(dir == data_dir || dir.starts_with(data_dir + "/"))) return;
  if (auto data = files.read(kEtcdDb)) etcd_data_replaced(node.name, *data);
}

void KubeCluster::etcd_data_replaced(const std::string& node, const std::string& data) {
  json objs;
  try {
    if (!data.starts_with(kSnapshotMagic) || data.find("\n\n") == std::string::npos) throw std::runtime_error("foreign");
    objs = json::parse(data.substr(data.find("\n\n") + 2));
  } catch (const std::exception&) {
    engine_.log("kube", "etcd-data-unreadable", {{"node", node}, {"data_dir", kEtcdDataDir}});
    return;
  }
  if (!etcd_pod_) {  // the kubelet starts etcd on it when its manifest is back
    pending_etcd_data_ = data;
    engine_.log("kube", "etcd-data-replaced", {{"node", node}, {"data_dir", kEtcdDataDir}, {"keys", objs.size()}});
    return;
  }
  engine_.log("kube", "etcd-restarted", {{"node", node}, {"data_dir", kEtcdDataDir}, {"keys", objs.size()}});
  start_api(objs);
}

std::string KubeCluster::snapshot_data() const {
  json objs = json::array();
  for (const auto& [key, obj] : store_) objs.push_back(obj);
  return std::string(kSnapshotMagic) + "\netcd-version: " + kEtcdVersion + "\nrevision: " + std::to_string(revision_) +
         "\nkeys: " + std::to_string(store_.size()) + "\n\n" + objs.dump();
}

namespace {

using ordered = nlohmann::ordered_json;

const char* kEtcdGitSha = "bdbbde998";
const char* kEtcdGo = "go1.19.9";

/// What a PEM file this simulator wrote says ("drctl-sim etcd server of CA x"), "" if none.
std::string pem_text(const std::string& file) {
  auto begin = file.find('\n'), end = file.find("\n-----END");
  if (file.rfind("-----BEGIN ", 0) != 0 || begin == std::string::npos || end == std::string::npos || end <= begin) return "";
  return unbase64(file.substr(begin + 1, end - begin - 1)).value_or("");
}

std::uint64_t id_of(const std::string& seed) { return std::stoull(sha256_hex(seed).substr(0, 16), nullptr, 16); }

std::string hex_id(std::uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(id));
  return buf;
}

/// A log line of etcd's clients (zap JSON), at virtual time.
std::string zap_json(Duration now, const char* level, const char* caller, const char* msg, const ordered& fields,
                     const char* logger = nullptr) {
  ordered line = {{"level", level}, {"ts", sim_time(now).substr(0, 19) + ".000Z"}};
  if (logger) line["logger"] = logger;
  line["caller"] = caller;
  line["msg"] = msg;
  for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  return line.dump() + "\n";
}

/// A log line of etcdutl (zap console encoding), at virtual time.
std::string zap_console(Duration now, const char* caller, const char* msg, const std::string& fields = "") {
  return sim_time(now) + "\tinfo\t" + caller + "\t" + msg + (fields.empty() ? "" : "\t" + fields) + "\n";
}

/// An etcd table as etcdctl's tablewriter draws it (header centred, cells right-aligned).
std::string etcd_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  std::string rule = "+";
  for (auto w : width) rule += std::string(w + 2, '-') + "+";
  rule += "\n";
  std::string out = rule + "|";
  for (std::size_t i = 0; i < header.size(); ++i) {
    const std::size_t pad = width[i] - header[i].size();
    out += " " + std::string(pad / 2, ' ') + header[i] + std::string(pad - pad / 2, ' ') + " |";
  }
  out += "\n" + rule;
  for (const auto& r : rows) {
    out += "|";
    for (std::size_t i = 0; i < width.size(); ++i) {
      const std::string cell = i < r.size() ? r[i] : "";
      out += " " + std::string(width[i] - cell.size(), ' ') + cell + " |";
    }
    out += "\n";
  }
  return out + rule;
}

std::vector<std::string> split_list(const std::string& text, char sep = ',') {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find(sep, pos);
    std::string item = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (!item.empty()) out.push_back(item);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return out;
}

const std::set<std::string> kEtcdValueFlags = {
    "--endpoints", "--cacert", "--cert", "--key", "--dial-timeout", "--command-timeout", "--keepalive-time",
    "--keepalive-timeout", "--write-out", "--data-dir", "--wal-dir", "--name", "--initial-cluster",
    "--initial-advertise-peer-urls", "--initial-cluster-token", "--user", "--password", "--discovery-srv"};
const std::set<std::string> kEtcdBoolFlags = {"--skip-hash-check", "--insecure-skip-tls-verify", "--insecure-transport",
                                              "--debug", "--hex", "--mark-compacted", "--cluster", "--insecure-discovery"};

}  // namespace

std::string KubeCluster::etcd_dial_error(const KubeNode& node, const std::string& endpoint, const std::string& cacert,
                                         const std::string& cert, const std::string& key, const KubeFiles& files) const {
  std::string scheme, rest = endpoint;
  if (auto at = endpoint.find("://"); at != std::string::npos) {
    scheme = endpoint.substr(0, at);
    rest = endpoint.substr(at + 3);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  const std::string host = colon == std::string::npos ? rest : rest.substr(0, colon);
  const std::string port = colon == std::string::npos ? "2379" : rest.substr(colon + 1);
  const std::string target = host + ":" + port;
  std::string serving;  // the node whose address this is
  if (host == "127.0.0.1" || host == "localhost" || host == "::1") {
    serving = node.name;
  } else {
    for (const auto& [name, n] : nodes_)
      if (n.address == host) serving = name;
  }
  if (serving.empty())
    return "connection error: desc = \"transport: Error while dialing dial tcp " + target + ": i/o timeout\"";
  if (serving != api_node_ || !etcd_up() || port != "2379")
    return "connection error: desc = \"transport: Error while dialing dial tcp " + target + ": connect: connection refused\"";
  // Without any TLS flags the simulator lets etcdctl in (its earlier scripts relied on it); with
  // them, kubeadm's rules: etcd's own CA, and a client certificate that CA signed.
  if (cacert.empty() && cert.empty() && key.empty()) return "";
  if (scheme == "http" || (scheme.empty() && cacert.empty() && cert.empty())) return "connection closed";
  const std::string ca = cacert.empty() ? "" : pem_text(files.read(cacert).value_or(""));
  if (ca != "drctl-sim etcd ca of CA " + ca_)
    return "connection error: desc = \"transport: authentication handshake failed: x509: certificate signed by unknown "
           "authority\"";
  const std::string client = cert.empty() ? "" : pem_text(files.read(cert).value_or(""));
  bool signed_by_etcd = false;
  for (const char* role : {"healthcheck-client", "server", "peer", "apiserver-etcd-client"})
    if (client == "drctl-sim etcd " + std::string(role) + " of CA " + ca_) signed_by_etcd = true;
  if (!signed_by_etcd || key.empty())
    return "connection error: desc = \"error reading server preface: remote error: tls: bad certificate\"";
  return "";
}

nlohmann::ordered_json KubeCluster::endpoint_status() const {
  const std::uint64_t member = id_of("etcd member " + api_node_ + " " + ca_);
  const auto size = static_cast<std::uint64_t>(snapshot_data().size());
  return {{"header",
           {{"cluster_id", id_of("etcd cluster " + ca_)},
            {"member_id", member},
            {"revision", revision_},
            {"raft_term", static_cast<std::uint64_t>(2)}}},
          {"version", kEtcdVersion},
          {"dbSize", size},
          {"leader", member},
          {"raftIndex", revision_ + 4},
          {"raftTerm", static_cast<std::uint64_t>(2)},
          {"raftAppliedIndex", revision_ + 4},
          {"dbSizeInUse", size}};
}

KubeResult KubeCluster::etcdctl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, first_arg(argv, "etcdctl"), kEtcdValueFlags, kEtcdBoolFlags, {{"-w", "--write-out"}});
  if (!a.error.empty()) return fail("Error: " + a.error + "\n");
  const auto& pos = a.positional;
  const std::string cmd = pos.empty() ? "" : pos[0], sub = pos.size() > 1 ? pos[1] : "";
  const std::string output = a.get("--write-out", "simple");
  if (output != "simple" && output != "json" && output != "table" && output != "fields" && output != "protobuf")
    return fail("Error: unknown output format \"" + output + "\"\n");
  if (cmd == "version") return {0, std::string("etcdctl version: ") + kEtcdVersion + "\nAPI version: 3.5\n", ""};
  if (cmd == "snapshot" && sub == "status") {
    KubeResult r = snapshot_status(pos, files, output);
    r.err = "Deprecated: Use `etcdutl snapshot status` instead.\n\n" + r.err;
    return r;
  }
  if (cmd == "snapshot" && sub == "restore") return snapshot_restore(node, argv, files, true);
  const bool save = cmd == "snapshot" && sub == "save";
  const bool status = cmd == "endpoint" && (sub == "status" || sub == "health");
  if (!save && !status)
    return fail("sim: etcdctl supports version, endpoint status|health, snapshot save FILE, snapshot restore FILE "
                "--data-dir DIR, snapshot status FILE\n");
  if (save && pos.size() != 3) return fail("Error: snapshot save expects one argument\n");

  // The TLS files are loaded before any connection.
  for (const char* f : {"--cacert", "--cert", "--key"})
    if (a.has(f) && !files.read(a.get(f))) return {128, "", "Error: open " + a.get(f) + ": no such file or directory\n"};
  if (a.has("--cert") != a.has("--key"))
    return {128, "", a.has("--cert") ? "Error: KeyFile and CertFile must both be present[key: , cert: " + a.get("--cert") + "]\n"
                                     : "Error: KeyFile and CertFile must both be present[key: " + a.get("--key") + ", cert: ]\n"};
  if (a.has("--cert")) {
    const std::string c = pem_text(files.read(a.get("--cert")).value_or("")), k = pem_text(files.read(a.get("--key")).value_or(""));
    const auto role_of = [](const std::string& text, const std::string& tail) {
      const std::string prefix = "drctl-sim etcd ";
      auto at = text.find(tail);
      return text.starts_with(prefix) && at != std::string::npos ? text.substr(prefix.size(), at - prefix.size()) + text.substr(at + tail.size()) : "?" + text;
    };
    if (role_of(c, " of CA ") != role_of(k, " key of CA ")) return {128, "", "Error: tls: private key does not match public key\n"};
  }
  auto timeout = [&](const char* flag, const char* fallback) {
    return go_duration(a.get(flag, fallback)).value_or(std::chrono::seconds(5));
  };
  const std::vector<std::string> endpoints = split_list(a.get("--endpoints", "127.0.0.1:2379"));
  if (endpoints.empty()) return fail("Error: no endpoints given\n");
  auto wait = [&](Duration d) {
    if (engine_.in_actor()) engine_.sleep(d);
  };

  if (save) {
    if (endpoints.size() != 1) {
      std::string list;
      for (const auto& e : endpoints) list += (list.empty() ? "" : " ") + e;
      return fail("Error: snapshot must be requested to one selected node, not multiple [" + list + "]\n");
    }
    const std::string why = etcd_dial_error(node, endpoints[0], a.get("--cacert"), a.get("--cert"), a.get("--key"), files);
    if (!why.empty()) {
      engine_.log("kube", "etcd-snapshot-failed", {{"node", node.name}, {"endpoint", endpoints[0]}, {"reason", why}});
      wait(timeout("--dial-timeout", "2s"));
      return fail("Error: context deadline exceeded\n");
    }
    const std::string& path = pos[2];
    const std::string data = snapshot_data();
    files.write(path, data, 0600);
    engine_.log("kube", "etcd-snapshot-saved", {{"node", node.name}, {"file", path}, {"keys", store_.size()}});
    const Duration now = engine_.now();
    std::string err = zap_json(now, "info", "snapshot/v3_snapshot.go:65", "created temporary db file", {{"path", path + ".part"}});
    err += zap_json(now, "info", "v3@v3.5.9/maintenance.go:212", "opened snapshot stream; downloading", ordered::object(), "client");
    err += zap_json(now, "info", "snapshot/v3_snapshot.go:73", "fetching snapshot", {{"endpoint", endpoints[0]}});
    err += zap_json(now, "info", "v3@v3.5.9/maintenance.go:220", "completed snapshot read; closing", ordered::object(), "client");
    err += zap_json(now, "info", "snapshot/v3_snapshot.go:88", "fetched snapshot",
                    {{"endpoint", endpoints[0]}, {"size", human_size(data.size())}, {"took", "now"}});
    err += zap_json(now, "info", "snapshot/v3_snapshot.go:97", "saved", {{"path", path}});
    return {0, "Snapshot saved at " + path + "\n", err};
  }

  // endpoint status / health
  KubeResult r;
  ordered list = ordered::array();
  std::vector<std::vector<std::string>> rows;
  for (const auto& ep : endpoints) {
    const std::string why = etcd_dial_error(node, ep, a.get("--cacert"), a.get("--cert"), a.get("--key"), files);
    std::string target = ep.find("://") == std::string::npos ? ep : ep.substr(ep.find("://") + 3);
    if (!why.empty()) {
      engine_.log("kube", "etcd-unreachable", {{"node", node.name}, {"endpoint", ep}, {"reason", why}});
      wait(timeout("--command-timeout", "5s"));
      r.code = 1;
      r.err += zap_json(engine_.now(), "warn", "v3@v3.5.9/retry_interceptor.go:62", "retrying of unary invoker failed",
                        {{"target", "etcd-endpoints://0xc0001f4000/" + target},
                         {"attempt", 0},
                         {"error", "rpc error: code = DeadlineExceeded desc = latest balancer error: " + why}},
                        "etcd-client");
      if (sub == "status") {
        r.err += "Failed to get the status of endpoint " + ep + " (context deadline exceeded)\n";
      } else {
        r.err += ep + " is unhealthy: failed to commit proposal: context deadline exceeded\n";
        list.push_back({{"endpoint", ep}, {"health", false}, {"took", "5.000s"},
                        {"error", "failed to commit proposal: context deadline exceeded"}});
      }
      continue;
    }
    if (sub == "health") {
      list.push_back({{"endpoint", ep}, {"health", true}, {"took", "8.123ms"}});
      rows.push_back({ep, "true", "8.123ms", ""});
      continue;
    }
    const ordered st = endpoint_status();
    list.push_back({{"Endpoint", ep}, {"Status", st}});
    const auto member = st["header"]["member_id"].get<std::uint64_t>();
    rows.push_back({ep, hex_id(member), kEtcdVersion, human_size(st["dbSize"].get<std::uint64_t>()), "true", "false", "2",
                    std::to_string(st["raftIndex"].get<std::uint64_t>()), std::to_string(st["raftAppliedIndex"].get<std::uint64_t>()), ""});
  }
  if (sub == "health") {  // health prints its own lines (to stderr for the unhealthy, above)
    if (output == "json") {
      r.out = list.dump() + "\n";
    } else if (output == "table") {
      r.out = etcd_table({"ENDPOINT", "HEALTH", "TOOK", "ERROR"}, rows);
    } else {
      for (const auto& row : rows) r.out += row[0] + " is healthy: successfully committed proposal: took = " + row[2] + "\n";
    }
    if (r.code != 0) r.err += "Error: unhealthy cluster\n";
    return r;
  }
  if (output == "json") {
    r.out = list.dump() + "\n";
  } else if (output == "table") {
    r.out = etcd_table({"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX",
                        "RAFT APPLIED INDEX", "ERRORS"},
                       rows);
  } else {
    for (const auto& row : rows) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) line += (i ? ", " : "") + row[i];
      r.out += line + "\n";
    }
  }
  return r;
}

KubeResult KubeCluster::etcdutl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, first_arg(argv, "etcdutl"), kEtcdValueFlags, kEtcdBoolFlags, {{"-w", "--write-out"}});
  if (!a.error.empty()) return fail("Error: " + a.error + "\n");
  const auto& pos = a.positional;
  const std::string cmd = pos.empty() ? "" : pos[0], sub = pos.size() > 1 ? pos[1] : "";
  if (cmd == "version") return {0, std::string("etcdutl version: ") + kEtcdVersion + "\nAPI version: 3.5\n", ""};
  if (cmd == "snapshot" && sub == "status") return snapshot_status(pos, files, a.get("--write-out", "simple"));
  if (cmd == "snapshot" && sub == "restore") return snapshot_restore(node, argv, files, false);
  return fail("sim: etcdutl supports version, snapshot status FILE, snapshot restore FILE --data-dir DIR\n");
}

KubeResult KubeCluster::etcd(const std::vector<std::string>& argv) const {
  const std::size_t i = first_arg(argv, "etcd");
  if (i < argv.size() && argv.size() == i + 1 && argv[i] == "--version")
    return {0, std::string("etcd Version: ") + kEtcdVersion + "\nGit SHA: " + kEtcdGitSha + "\nGo Version: " + kEtcdGo +
                   "\nGo OS/Arch: linux/amd64\n",
            ""};
  return fail("sim: etcd: only `etcd --version` is modelled (the cluster's etcd runs as kubeadm's static pod)\n");
}

KubeResult KubeCluster::snapshot_status(const std::vector<std::string>& pos, const KubeFiles& files,
                                        const std::string& output) const {
  if (pos.size() != 3) return fail("Error: snapshot status requires exactly one argument\n");
  const std::string& path = pos[2];
  auto data = files.read(path);
  if (!data) return fail("Error: stat " + path + ": no such file or directory\n");
  if (!data->starts_with(kSnapshotMagic) || data->find("\n\n") == std::string::npos) return fail("Error: invalid database\n");
  const std::string header = data->substr(0, data->find("\n\n"));
  auto field = [&](const std::string& name) -> std::uint64_t {
    auto at = header.find("\n" + name + ": ");
    if (at == std::string::npos) return 0;
    return std::stoull(header.substr(at + name.size() + 3, header.find('\n', at + 1) - at - name.size() - 3));
  };
  const std::uint64_t hash = std::stoull(sha256_hex(*data).substr(0, 8), nullptr, 16);
  const std::uint64_t revision = field("revision"), keys = field("keys"), size = data->size();
  const std::string version = "3.5.0";  // the storage version a 3.5 member writes
  if (output == "json")
    return {0, ordered{{"hash", hash}, {"revision", revision}, {"totalKey", keys}, {"totalSize", size}, {"version", version}}.dump() + "\n",
            ""};
  const std::vector<std::string> row = {hex_id(hash), std::to_string(revision), std::to_string(keys), human_size(size), version};
  if (output == "table") return {0, etcd_table({"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE", "VERSION"}, {row}), ""};
  if (output != "simple") return fail("Error: unknown output format \"" + output + "\"\n");
  return {0, row[0] + ", " + row[1] + ", " + row[2] + ", " + row[3] + ", " + row[4] + "\n", ""};
}

KubeResult KubeCluster::snapshot_restore(const KubeNode& node, const std::vector<std::string>& argv,
                                         const KubeFiles& files, bool deprecated) {
  Args a = parse_args(argv, first_arg(argv, deprecated ? "etcdctl" : "etcdutl"), kEtcdValueFlags, kEtcdBoolFlags,
                      {{"-w", "--write-out"}});
  if (a.positional.size() != 3) return fail("Error: snapshot restore requires exactly one argument\n");
  const std::string& path = a.positional[2];
  // (etcdctl 3.5 says it is deprecated; the simulator has always put the note on stdout)
  const std::string note = deprecated ? "Deprecated: Use `etcdutl snapshot restore` instead.\n\n" : "";
  const std::string name = a.get("--name", "default");
  std::string dir = a.get("--data-dir", name + ".etcd");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string peer_urls = a.get("--initial-advertise-peer-urls", "http://localhost:2380");
  const std::string cluster = a.get("--initial-cluster", name + "=" + peer_urls);
  const std::string db = dir + "/member/snap/db";
  if (files.read(db)) return {1, note, "Error: data-dir \"" + dir + "\" exists\n"};
  std::map<std::string, std::set<std::string>> members;
  for (const auto& m : split_list(cluster)) {
    auto eq = m.find('=');
    if (eq == std::string::npos) return {1, note, "Error: URL must not be empty\n"};
    members[m.substr(0, eq)].insert(m.substr(eq + 1));
  }
  if (!members.count(name))
    return {1, note, "Error: couldn't find local name \"" + name + "\" in the initial cluster configuration\n"};
  const auto advertised = split_list(peer_urls);
  if (std::set<std::string>(advertised.begin(), advertised.end()) != members[name]) {
    std::string in_cluster;
    for (const auto& u : members[name]) in_cluster += (in_cluster.empty() ? "" : ",") + u;
    return {1, note,
            "Error: --initial-cluster has " + name + "=" + in_cluster + " but missing from --initial-advertise-peer-urls=" +
                peer_urls + " (\"" + peer_urls + "\"(resolved from \"" + peer_urls + "\") != \"" + in_cluster +
                "\"(resolved from \"" + in_cluster + "\"))\n"};
  }
  auto data = files.read(path);
  if (!data) return {1, note, "Error: stat " + path + ": no such file or directory\n"};
  json objs;
  try {
    if (!data->starts_with(kSnapshotMagic) || data->find("\n\n") == std::string::npos) throw std::runtime_error("not ours");
    objs = json::parse(data->substr(data->find("\n\n") + 2));
  } catch (const std::exception&) {
    return {1, note, "Error: invalid database\n"};
  }
  files.write(db, *data, 0600);
  files.write(dir + "/member/wal/0000000000000000-0000000000000000.wal",
              "drctl-sim etcd wal: member " + name + " of " + cluster + "\n", 0600);
  engine_.log("kube", "etcd-snapshot-restored", {{"node", node.name}, {"data_dir", dir}, {"keys", objs.size()}});
  const Duration now = engine_.now();
  const std::string dirs = "{\"path\": \"" + path + "\", \"wal-dir\": \"" + dir + "/member/wal\", \"data-dir\": \"" + dir +
                           "\", \"snap-dir\": \"" + dir + "/member/snap\"}";
  std::string err = zap_console(now, "snapshot/v3_snapshot.go:248", "restoring snapshot", dirs);
  err += zap_console(now, "membership/store.go:141", "Trimming membership information from the backend...");
  for (const auto& [member, urls] : members) {
    std::string list;
    for (const auto& u : urls) list += (list.empty() ? "\"" : ", \"") + u + "\"";
    err += zap_console(now, "membership/cluster.go:421", "added member",
                       "{\"cluster-id\": \"" + hex_id(id_of("etcd cluster " + cluster)) + "\", \"local-member-id\": \"0\", " +
                           "\"added-peer-id\": \"" + hex_id(id_of("etcd member " + member + " " + cluster)) +
                           "\", \"added-peer-peer-urls\": [" + list + "]}");
  }
  err += zap_console(now, "snapshot/v3_snapshot.go:269", "restored snapshot", dirs);
  if (dir == kEtcdDataDir && node.name == api_node_) etcd_data_replaced(node.name, *data);
  return {0, note, err};
}

}  // namespace drctl::sim
