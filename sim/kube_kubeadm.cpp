// kubeadm on the simulated cluster: init (preflight, the control plane and its files), join
// (flags or a JoinConfiguration), bootstrap tokens and reset; and the nodes kubeadm adds.
#include "sim/kube_kubeadm.hpp"
#include "sim/kube.hpp"  // kube_parse_yaml, kube_to_yaml

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <set>
#include <stdexcept>

#include "sim/kube_etcd_files.hpp"
#include "sim/kube_pki.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_pki;
using namespace kube_util;

namespace {

using namespace std::chrono_literals;

const std::string kStackHint = "To see the stack trace of this error execute with --v=5 or higher\n";

bool valid_token(const std::string& t) {
  if (t.size() != 23 || t[6] != '.') return false;
  for (std::size_t i = 0; i < t.size(); ++i)
    if (i != 6 && !(std::islower(static_cast<unsigned char>(t[i])) || std::isdigit(static_cast<unsigned char>(t[i]))))
      return false;
  return true;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (!text.empty() && pos <= text.size()) {
    const auto end = text.find(sep, pos);
    if (std::string item = text.substr(pos, end == std::string::npos ? std::string::npos : end - pos); !item.empty())
      out.push_back(item);
    if (end == std::string::npos) break;
    pos = end + 1;
  }
  return out;
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
                 KubeEtcd& etcd, const KubeVersions& versions, const KubeWorld& world, KubeAdmHooks hooks)
    : engine_(engine),
      setup_(setup),
      store_(store),
      nodes_(nodes),
      controllers_(controllers),
      etcd_(etcd),
      versions_(versions),
      world_(world),
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
  if (cmd == "version") {  // cmd/kubeadm/app/cmd/version.go: "kubeadm version: %#v\n" of version.Info
    const Version& v = versions_.kubernetes;
    if (rest.size() == 2 && rest[0] == "-o" && rest[1] == "short") return {0, "v" + v.text + "\n", ""};
    return {0,
            "kubeadm version: &version.Info{Major:\"" + std::to_string(v.major) + "\", Minor:\"" + std::to_string(v.minor) +
                "\", GitVersion:\"v" + v.text + "\", GitTreeState:\"clean\", Compiler:\"gc\", Platform:\"linux/amd64\"}\n",
            ""};
  }
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


// --- kubeadm's configuration file, as the pinned kubeadm reads it ---------------------------------

/// One document of a --config file: its apiVersion split as schema.ParseGroupVersion does, its kind.
struct ConfigDoc {
  std::string group, version, kind;
  json body;
  std::string api() const { return group.empty() ? version : group + "/" + version; }
  /// schema.GroupVersionKind's %v ("kubeadm.k8s.io/v1beta3, Kind=ClusterConfiguration").
  std::string gvk() const { return api() + ", Kind=" + kind; }
  /// Its %#v, as kubeadm's strict check prints it.
  std::string gvk_go() const {
    return "schema.GroupVersionKind{Group:\"" + group + "\", Version:\"" + version + "\", Kind:\"" + kind + "\"}";
  }
};

const std::set<std::string> kComponentConfigGroups = {"kubelet.config.k8s.io", "kubeproxy.config.k8s.io"};

/// The fields kubeadm's types have, for its strict decoding (cmd/kubeadm/app/apis/kubeadm/v1beta3
/// and v1beta4 types.go). An object maps each field to its own fields; "*" takes anything.
json kubeadm_schema(const std::string& version, const std::string& kind) {
  const bool b4 = version == "v1beta4";
  json endpoint = {{"advertiseAddress", nullptr}, {"bindPort", nullptr}};
  json registration = {{"name", nullptr}, {"criSocket", nullptr}, {"taints", "*"}, {"kubeletExtraArgs", "*"},
                       {"ignorePreflightErrors", nullptr}, {"imagePullPolicy", nullptr}};
  if (b4) registration["imagePullSerial"] = nullptr;
  json patches = {{"directory", nullptr}};
  json component = {{"extraArgs", "*"}, {"extraVolumes", "*"}};
  if (b4) component["extraEnvs"] = "*";
  if (kind == "InitConfiguration") {
    json token = {{"token", nullptr}, {"description", nullptr}, {"ttl", nullptr}, {"expires", nullptr}, {"usages", nullptr},
                  {"groups", nullptr}};
    json s = {{"apiVersion", nullptr}, {"kind", nullptr}, {"bootstrapTokens", json::array({token})},
              {"nodeRegistration", registration}, {"localAPIEndpoint", endpoint}, {"certificateKey", nullptr},
              {"skipPhases", nullptr}, {"patches", patches}};
    if (b4) s.update({{"timeouts", "*"}, {"dryRun", nullptr}});
    return s;
  }
  if (kind == "ClusterConfiguration") {
    json local = {{"imageRepository", nullptr}, {"imageTag", nullptr}, {"dataDir", nullptr}, {"extraArgs", "*"},
                  {"serverCertSANs", nullptr}, {"peerCertSANs", nullptr}};
    if (b4) local["extraEnvs"] = "*";
    json api_server = component;
    api_server["certSANs"] = nullptr;
    if (!b4) api_server["timeoutForControlPlane"] = nullptr;
    json dns = {{"imageRepository", nullptr}, {"imageTag", nullptr}};
    if (b4) dns["disabled"] = nullptr;
    json s = {{"apiVersion", nullptr}, {"kind", nullptr},
              {"etcd", {{"local", local}, {"external", {{"endpoints", nullptr}, {"caFile", nullptr}, {"certFile", nullptr}, {"keyFile", nullptr}}}}},
              {"networking", {{"serviceSubnet", nullptr}, {"podSubnet", nullptr}, {"dnsDomain", nullptr}}},
              {"kubernetesVersion", nullptr}, {"controlPlaneEndpoint", nullptr}, {"apiServer", api_server},
              {"controllerManager", component}, {"scheduler", component}, {"dns", dns}, {"certificatesDir", nullptr},
              {"imageRepository", nullptr}, {"featureGates", "*"}, {"clusterName", nullptr}};
    if (b4)
      s.update({{"proxy", {{"disabled", nullptr}}}, {"certificateValidityPeriod", nullptr},
                {"caCertificateValidityPeriod", nullptr}, {"encryptionAlgorithm", nullptr}});
    return s;
  }
  if (kind == "JoinConfiguration") {
    json discovery = {{"bootstrapToken", {{"token", nullptr}, {"apiServerEndpoint", nullptr}, {"caCertHashes", nullptr},
                                          {"unsafeSkipCAVerification", nullptr}}},
                      {"file", {{"kubeConfigPath", nullptr}}}, {"tlsBootstrapToken", nullptr}};
    if (!b4) discovery["timeout"] = nullptr;
    json s = {{"apiVersion", nullptr}, {"kind", nullptr}, {"nodeRegistration", registration}, {"caCertPath", nullptr},
              {"discovery", discovery}, {"controlPlane", {{"localAPIEndpoint", endpoint}, {"certificateKey", nullptr}}},
              {"skipPhases", nullptr}, {"patches", patches}};
    if (b4) s.update({{"timeouts", "*"}, {"dryRun", nullptr}});
    return s;
  }
  return nullptr;
}

/// The fields of `value` its schema does not have, as apimachinery's strict decoder names them
/// ("networking.podSubnett", "bootstrapTokens[0].tokn").
void unknown_fields(const json& value, const json& schema, const std::string& at, std::vector<std::string>& out) {
  if (schema.is_string() || schema.is_null()) return;  // "*" or a leaf
  if (schema.is_array()) {
    if (!value.is_array() || schema.empty()) return;
    for (std::size_t i = 0; i < value.size(); ++i) unknown_fields(value[i], schema[0], at + "[" + std::to_string(i) + "]", out);
    return;
  }
  if (!value.is_object()) return;
  for (const auto& [key, sub] : value.items()) {
    const std::string path = at.empty() ? key : at + "." + key;
    if (!schema.contains(key)) out.push_back(path);
    else unknown_fields(sub, schema[key], path, out);
  }
}

/// What the pinned kubeadm makes of a --config file: its documents (by GVK, as kubeadm sorts
/// them), the warnings it logs while reading them, and the error that stops it ("" when none).
struct ConfigRead {
  std::vector<ConfigDoc> docs;
  std::string warnings;  // klog lines for stderr
  std::string error;
  const ConfigDoc* find(const std::string& kind) const {
    for (const auto& d : docs)
      if (d.kind == kind) return &d;
    return nullptr;
  }
};

class ConfigReader {
 public:
  ConfigReader(const Version& kubeadm, Duration now) : kubeadm_(kubeadm), now_(now) {}

  /// cmd/kubeadm/app/util/config: SplitYAMLDocuments, then documentMapToInitConfiguration
  /// (`init`) or documentMapToJoinConfiguration (`join`).
  ConfigRead read(const std::vector<json>& documents, bool init) const {
    ConfigRead r;
    std::set<std::string> kinds;
    std::vector<std::string> errors;
    for (const auto& d : documents) {
      const std::string api = d.is_object() ? d.value("apiVersion", "") : "", kind = d.is_object() ? d.value("kind", "") : "";
      if (api.empty() || kind.empty()) {
        errors.push_back("invalid configuration: kind and apiVersion is mandatory information that needs to be specified in all YAML documents");
        continue;
      }
      if (!kinds.insert(kind).second) {
        errors.push_back("invalid configuration: kind \"" + kind + "\" is specified twice in YAML file");
        continue;
      }
      ConfigDoc doc;
      const auto slash = api.find('/');
      doc.group = slash == std::string::npos ? "" : api.substr(0, slash);
      doc.version = slash == std::string::npos ? api : api.substr(slash + 1);
      doc.kind = kind;
      doc.body = d;
      r.docs.push_back(std::move(doc));
    }
    if (!errors.empty()) {  // errorsutil.NewAggregate: one message, or "[a, b]"
      if (errors.size() == 1) r.error = errors[0];
      else {
        r.error = "[";
        for (std::size_t i = 0; i < errors.size(); ++i) r.error += (i ? ", " : "") + errors[i];
        r.error += "]";
      }
      return r;
    }
    std::sort(r.docs.begin(), r.docs.end(), [](const ConfigDoc& a, const ConfigDoc& b) {
      return a.api() + ", Kind=" + a.kind < b.api() + ", Kind=" + b.kind;
    });
    bool found = false;
    for (const auto& doc : r.docs) {
      const bool ours = init ? (doc.kind == "InitConfiguration" || doc.kind == "ClusterConfiguration") : doc.kind == "JoinConfiguration";
      if (!init && !ours) continue;  // join looks at its JoinConfiguration only
      if (std::string e = supported(doc, r.warnings); !e.empty()) {
        r.error = e;
        return r;
      }
      strict(doc, r.warnings);
      if (ours) {
        if (!registered(doc)) {  // runtime.DecodeInto with the kubeadm scheme's universal decoder
          r.error = "no kind \"" + doc.kind + "\" is registered for version \"" + doc.api() +
                    "\" in scheme \"k8s.io/kubernetes/cmd/kubeadm/app/apis/kubeadm/scheme/scheme.go:31\"";
          return r;
        }
        found = true;
        continue;
      }
      if (!kComponentConfigGroups.count(doc.group))
        r.warnings += klog("initconfiguration.go:" + std::string(kubeadm_.before(1, 29) ? "325" : "333"),
                           "[config] WARNING: Ignored YAML document with GroupVersionKind " + doc.gvk());
    }
    if (!found)
      r.error = init ? "no InitConfiguration or ClusterConfiguration kind was found in the YAML file"
                     : "no JoinConfiguration found in the supplied config";
    return r;
  }

  /// The kubeadm.k8s.io versions this kubeadm decodes: v1beta3 (1.22 on); v1beta4 from 1.31.
  bool registered(const ConfigDoc& d) const {
    if (d.group != "kubeadm.k8s.io") return false;
    return d.version == "v1beta3" || (d.version == "v1beta4" && kubeadm_.at_least(1, 31));
  }

 private:
  /// cmd/kubeadm/app/util/config/common.go validateSupportedVersion: the versions kubeadm once
  /// knew are an error naming the kubeadm to migrate with; 1.31 warns that v1beta3 is deprecated.
  std::string supported(const ConfigDoc& d, std::string& warnings) const {
    static const std::map<std::string, std::string> old = {
        {"kubeadm.k8s.io/v1alpha1", "v1.11"}, {"kubeadm.k8s.io/v1alpha2", "v1.12"}, {"kubeadm.k8s.io/v1alpha3", "v1.14"},
        {"kubeadm.k8s.io/v1beta1", "v1.15"}, {"kubeadm.k8s.io/v1beta2", "v1.22"}};
    const bool with_kind = kubeadm_.at_least(1, 31);  // 1.31 names the kind in both messages
    const std::string what = "\"" + d.api() + "\"" + (with_kind ? " (kind: \"" + d.kind + "\")" : "");
    if (auto it = old.find(d.api()); it != old.end())
      return "your configuration file uses an old API spec: " + what + ". Please use kubeadm " + it->second +
             " instead and run 'kubeadm config migrate --old-config old.yaml --new-config new.yaml', which will write "
             "the new, similar spec using a newer API version.";
    if (with_kind && d.api() == "kubeadm.k8s.io/v1beta3")
      warnings += klog("common.go:128", "your configuration file uses a deprecated API spec: " + what +
                                            ". Please use 'kubeadm config migrate --old-config old.yaml --new-config "
                                            "new.yaml', which will write the new, similar spec using a newer API version.");
    return "";
  }

  /// cmd/kubeadm/app/util/config/strict VerifyUnmarshalStrict: an unknown kind or field is a
  /// warning (klog) for init and join — the field is then ignored — not an error.
  void strict(const ConfigDoc& d, std::string& warnings) const {
    const std::string caller = "initconfiguration.go:" + std::string(kubeadm_.before(1, 29) ? "306" : "314");
    const bool component = (d.group == "kubelet.config.k8s.io" && d.version == "v1beta1" && d.kind == "KubeletConfiguration") ||
                           (d.group == "kubeproxy.config.k8s.io" && d.version == "v1alpha1" && d.kind == "KubeProxyConfiguration");
    if (component) return;  // their fields are the kubelet's and kube-proxy's: not modelled
    const json schema = registered(d) ? kubeadm_schema(d.version, d.kind) : json();
    if (schema.is_null()) {
      warnings += klog(caller, "unknown configuration " + d.gvk_go());
      return;
    }
    std::vector<std::string> unknown;
    unknown_fields(d.body, schema, "", unknown);
    if (unknown.empty()) return;
    std::string list;
    for (const auto& f : unknown) list += (list.empty() ? "" : ", ") + std::string("unknown field \"") + f + "\"";
    warnings += klog(caller, "error unmarshaling configuration " + d.gvk_go() + ": strict decoding error: " + list);
  }

  /// A klog warning line ("W0101 00:00:05.000000    4242 file.go:12] msg").
  std::string klog(const std::string& caller, const std::string& msg) const {
    const std::string t = sim_time(now_);  // 2024-01-01T00:00:05Z
    return "W" + t.substr(5, 2) + t.substr(8, 2) + " " + t.substr(11, 8) + ".000000    4242 " + caller + "] " + msg + "\n";
  }

  const Version& kubeadm_;
  Duration now_;
};

/// cmd/kubeadm/app/cmd/util ValidateMixedArguments: with --config, only these flags (and any
/// --skip-*) may be given; the others are named, sorted as pflag visits them.
const std::set<std::string> kMixableFlags = {"--config", "--ignore-preflight-errors", "--dry-run", "--kubeconfig",
                                             "--node-name", "--upload-certs", "--print-join-command", "--rootfs",
                                             "--v", "--log-file", "--yes"};

std::optional<KubeResult> mixed_arguments(const Args& a) {
  if (!a.has("--config")) return std::nullopt;
  std::set<std::string> mixed;
  for (const auto& [flag, value] : a.flags)
    if (!kMixableFlags.count(flag) && !flag.starts_with("--skip-")) mixed.insert(flag.substr(2));
  if (mixed.empty()) return std::nullopt;
  std::string list;
  for (const auto& m : mixed) list += (list.empty() ? "" : " ") + m;
  return fail("can not mix '--config' with arguments [" + list + "]\n" + kStackHint);
}

/// The documents of `kubeadm … --config PATH`, or why they cannot be read (`init`: "unable to
/// read config from", join: "unable to read config file").
std::optional<KubeResult> config_documents(const Args& a, const KubeFiles& files, bool init, std::vector<json>& docs) {
  const std::string path = a.get("--config");
  auto text = files.read(path);
  if (!text)
    return fail((init ? "unable to read config from \"" + path + "\" : open " : "unable to read config file \"" + path + "\": open ") +
                path + ": no such file or directory\n" + kStackHint);
  try {
    docs = kube_parse_yaml(*text);
  } catch (const std::exception& e) {
    return fail("error converting YAML to JSON in \"" + path + "\": " + e.what() + "\n" + kStackHint);
  }
  return std::nullopt;
}

/// host and port of "host:port" (the port 6443 when none is given).
std::pair<std::string, int> host_port(const std::string& endpoint) {
  const std::string e = with_port(endpoint);
  const auto colon = e.rfind(':');
  int port = 0;
  try {
    port = std::stoi(e.substr(colon + 1));
  } catch (const std::exception&) {
    port = 0;
  }
  return {e.substr(0, colon), port};
}

bool is_ip(const std::string& host) {
  unsigned a, b, c, d;
  char rest;
  return std::sscanf(host.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &rest) == 4 && a < 256 && b < 256 && c < 256 && d < 256;
}

/// The first address of a service subnet (the `kubernetes` Service's ClusterIP: 10.96.0.1).
std::string first_service_ip(const std::string& subnet) {
  unsigned a, b, c, d;
  if (std::sscanf(subnet.c_str(), "%u.%u.%u.%u", &a, &b, &c, &d) != 4) return "";
  return std::to_string(a) + "." + std::to_string(b) + "." + std::to_string(c) + "." + std::to_string(d + 1);
}

const std::vector<std::string> kManifests = {"kube-apiserver.yaml", "kube-controller-manager.yaml",
                                             "kube-scheduler.yaml", "etcd.yaml"};

using namespace std::chrono_literals;
/// How long kubeadm keeps trying: token discovery (JoinConfiguration discovery.timeout, 5m0s), the
/// kubelet's TLS bootstrap, and init's wait for the API server (4m0s).
const Duration kDiscoveryTimeout = 5min;
const Duration kTLSBootstrapTimeout = 5min;
const Duration kWaitControlPlane = 4min;
/// What kubeadm init and join wait for when nothing goes wrong (sim/CONFORMANCE.md, "Time"): the
/// control plane's static pods healthy ("[apiclient] All control plane components are healthy after
/// 24.0–28.0 seconds", kubernetes/kubernetes#117984's logs of 1.27), then the upload-config,
/// bootstrap-token and addon phases (2–4 s to the end of init in the same logs).
const Duration kHealthyMin = 24s, kHealthyMax = 28s, kFinishMin = 2s, kFinishMax = 4s;

/// The compressed sizes of the images kubeadm 1.28 pulls, as `crictl images` lists them on a
/// kubeadm v1.28.3 node with containerd 1.6.24 (sim/CONFORMANCE.md, "Time"); 1.28's patch
/// releases differ by a few percent.
std::int64_t image_bytes(const std::string& component) {
  static const std::map<std::string, std::int64_t> sizes = {
      {"kube-apiserver", 34'700'000}, {"kube-controller-manager", 33'400'000}, {"kube-scheduler", 18'800'000},
      {"kube-proxy", 24'600'000},     {"etcd", 103'000'000},                   {"coredns", 16'200'000},
      {"pause", 322'000}};
  return sizes.at(component);
}

}  // namespace

std::string KubeAdm::reach_api(const KubeNode& node, const std::string& endpoint, const std::string& what) {
  const auto [host, port] = host_port(endpoint);
  KubeDial d;
  if (world_.dial) {
    d = world_.dial(node, host, port);
  } else {  // no network: the API server answers on its node's address and its endpoint
    d.address = host;
    const auto api = nodes_.states().find(setup_.api_node);
    const bool its = with_port(endpoint) == setup_.endpoint ||
                     (api != nodes_.states().end() && api->second.address == host && port == 6443);
    d.outcome = its ? KubeDial::Outcome::connected : KubeDial::Outcome::refused;
    if (its) d.service = "kube-apiserver";
  }
  const std::string target = d.address + ":" + std::to_string(port);
  std::string why;
  switch (d.outcome) {
    case KubeDial::Outcome::connected:
      if (d.service != "kube-apiserver") why = "tls: first record does not look like a TLS handshake";
      else if (!hooks_.api_up()) why = "dial tcp " + target + ": connect: connection refused";  // its port closed
      break;
    case KubeDial::Outcome::refused: why = "dial tcp " + target + ": connect: connection refused"; break;
    case KubeDial::Outcome::timeout: why = "dial tcp " + target + ": i/o timeout"; break;
    case KubeDial::Outcome::unreachable: why = "dial tcp " + target + ": connect: no route to host"; break;
    case KubeDial::Outcome::unresolved: why = "dial tcp: lookup " + host + " on 127.0.0.53:53: no such host"; break;
  }
  if (!why.empty()) {
    engine_.log("kube", "api-unreachable",
                {{"node", node.name}, {"endpoint", with_port(endpoint)}, {"for", what}, {"reason", d.reason.empty() ? why : d.reason}});
    return why;
  }
  // The API server's certificate must name the host dialled (Go's crypto/x509 VerifyHostname).
  const auto& names = is_ip(host) ? setup_.apiserver_ips : setup_.apiserver_dns;
  if (std::find(names.begin(), names.end(), host) != names.end()) return "";
  std::string valid;
  for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
  why = "tls: failed to verify certificate: x509: certificate is valid for " + valid + ", not " + host;
  engine_.log("kube", "api-unreachable", {{"node", node.name}, {"endpoint", with_port(endpoint)}, {"for", what}, {"reason", why}});
  return why;
}

KubeResult KubeAdm::init(const KubeNode& machine, const std::vector<std::string>& argv, const KubeFiles& files) {
  KubeNode node = machine;  // named by --node-name or nodeRegistration.name, else the hostname
  const std::string own_version = "v" + versions_.kubernetes.text;
  Args a = parse_args(argv, 0,
                      {"--config", "--pod-network-cidr", "--service-cidr", "--control-plane-endpoint",
                       "--kubernetes-version", "--apiserver-advertise-address", "--ignore-preflight-errors",
                       "--cri-socket", "--node-name", "--token", "--token-ttl", "--apiserver-cert-extra-sans"},
                      {"--upload-certs", "--skip-token-print"});
  if (!a.error.empty()) return fail(a.error + "\n" + kStackHint);
  if (auto mixed = mixed_arguments(a)) return *mixed;
  std::string pod_subnet = a.get("--pod-network-cidr"), service_subnet = a.get("--service-cidr", "10.96.0.0/12");
  std::string endpoint = a.get("--control-plane-endpoint"), version = a.get("--kubernetes-version", own_version);
  std::string advertise = a.get("--apiserver-advertise-address", node.address), token = a.get("--token");
  node.name = a.get("--node-name", node.name);
  std::string ttl_text = a.get("--token-ttl", "24h0m0s");
  std::vector<std::string> extra_sans;
  for (const auto& s : split(a.get("--apiserver-cert-extra-sans"), ',')) extra_sans.push_back(s);

  std::string warnings;
  if (a.has("--config")) {
    std::vector<json> docs;
    if (auto refused = config_documents(a, files, true, docs)) return *refused;
    const ConfigRead cfg = ConfigReader(versions_.kubernetes, engine_.now()).read(docs, true);
    warnings = cfg.warnings;
    if (!cfg.error.empty()) return {1, "", warnings + cfg.error + "\n" + kStackHint};
    if (const ConfigDoc* d = cfg.find("ClusterConfiguration")) {
      // kubeadm decodes YAML as JSON into Go structs: an unquoted `kubernetesVersion: 1.28` is a
      // number, which a string field does not take (encoding/json's UnmarshalTypeError).
      for (const char* field : {"/kubernetesVersion", "/controlPlaneEndpoint", "/networking/podSubnet", "/networking/serviceSubnet"}) {
        const json::json_pointer at(field);
        if (!d->body.contains(at) || d->body[at].is_string() || d->body[at].is_null()) continue;
        std::string go_field = std::string(field).substr(1);
        std::replace(go_field.begin(), go_field.end(), '/', '.');
        const json& v = d->body[at];
        const std::string kind = v.is_number() ? "number" : v.is_boolean() ? "bool" : v.is_array() ? "array" : "object";
        return fail("json: cannot unmarshal " + kind + " into Go struct field ClusterConfiguration." + go_field +
                    " of type string\n" + kStackHint);
      }
      pod_subnet = str(d->body, "/networking/podSubnet"_json_pointer);
      if (auto s = str(d->body, "/networking/serviceSubnet"_json_pointer); !s.empty()) service_subnet = s;
      endpoint = str(d->body, "/controlPlaneEndpoint"_json_pointer);
      if (auto v = str(d->body, "/kubernetesVersion"_json_pointer); !v.empty()) version = v;
      if (d->body.contains("/apiServer/certSANs"_json_pointer) && d->body["apiServer"]["certSANs"].is_array())
        for (const auto& s : d->body["apiServer"]["certSANs"])
          if (s.is_string()) extra_sans.push_back(s.get<std::string>());
    }
    if (const ConfigDoc* d = cfg.find("InitConfiguration")) {
      if (auto ad = str(d->body, "/localAPIEndpoint/advertiseAddress"_json_pointer); !ad.empty()) advertise = ad;
      if (auto n = str(d->body, "/nodeRegistration/name"_json_pointer); !n.empty()) node.name = n;
      if (d->body.contains("bootstrapTokens") && d->body["bootstrapTokens"].is_array() && !d->body["bootstrapTokens"].empty()) {
        const json& first = d->body["bootstrapTokens"][0];
        // kubeadm decodes into Go structs: a token or ttl that YAML read as a number is refused
        // (an all-digit token is a YAML float; `ttl: 0` an int).
        for (const char* field : {"token", "ttl"})
          if (first.is_object() && first.contains(field) && !first[field].is_string() && !first[field].is_null())
            return fail(std::string("json: cannot unmarshal number into Go value of type string\n") + kStackHint);
        // (BootstrapTokenString's and metav1.Duration's UnmarshalJSON decode a plain string: Go
        // names no field then.)
        if (!first.is_object())
          return fail("json: cannot unmarshal " + std::string(first.is_array() ? "array" : first.is_string() ? "string" : "number") +
                      " into Go struct field InitConfiguration.bootstrapTokens of type v1beta3.BootstrapToken\n" + kStackHint);
        token = first.value("token", "");
        ttl_text = first.value("ttl", ttl_text);
      }
    }
  }
  if (!pod_subnet.empty() && !cluster_subnet(pod_subnet))
    return fail(warnings + "networking.podSubnet: Invalid value: \"" + pod_subnet + "\": couldn't parse subnet\n" + kStackHint);
  if (!cluster_subnet(service_subnet))
    return fail(warnings + "networking.serviceSubnet: Invalid value: \"" + service_subnet + "\": couldn't parse subnet\n" +
                kStackHint);
  if (!token.empty() && !valid_token(token))
    return fail(warnings + "bootstrapTokens[0].token: Invalid value: \"" + token + "\": the bootstrap token is invalid\n" +
                kStackHint);
  auto ttl = go_duration(ttl_text);
  if (!ttl)
    return fail(warnings + "invalid argument \"" + ttl_text + "\" for \"--token-ttl\" flag: time: invalid duration \"" +
                ttl_text + "\"\n");
  // NormalizeKubernetesVersion (cmd/kubeadm/app/util/config/common.go): a semantic version, at
  // least MinimumControlPlaneVersion (this kubeadm's minor - 1, .0).
  Version wanted;
  try {
    wanted = parse_version(version);
    if (std::count(wanted.text.begin(), wanted.text.end(), '.') < 2) throw std::invalid_argument("no patch");
  } catch (const std::invalid_argument&) {
    return fail(warnings + "version \"" + version +
                "\" doesn't match patterns for neither semantic version nor labels (stable, latest, ...)\n" + kStackHint);
  }
  version = "v" + wanted.text;
  const Version& kubeadm = versions_.kubernetes;
  if (wanted.major != kubeadm.major || wanted.before(kubeadm.major, kubeadm.minor - 1))
    return fail(warnings + "this version of kubeadm only supports deploying clusters with the control plane version >= " +
                std::to_string(kubeadm.major) + "." + std::to_string(kubeadm.minor - 1) + ".0. Current version: " + version +
                "\n" + kStackHint);

  KubeResult r;
  r.err = warnings;
  r.out = "[init] Using Kubernetes version: " + version + "\n[preflight] Running pre-flight checks\n";
  Preflight p(a.get("--ignore-preflight-errors"));
  // KubernetesVersionCheck (cmd/kubeadm/app/preflight/checks.go) only warns.
  if (wanted.at_least(kubeadm.major, kubeadm.minor + 1))
    r.out += "\t[WARNING KubernetesVersion]: Kubernetes version is greater than kubeadm version. Please consider to "
             "upgrade kubeadm. Kubernetes version: " + wanted.text + ". Kubeadm version: " + std::to_string(kubeadm.major) +
             "." + std::to_string(kubeadm.minor) + ".x\n";
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
    r.err += err;
    return r;
  }
  if (!setup_.api_node.empty() && setup_.api_node != node.name && nodes_.states().count(setup_.api_node))
    return fail("sim: the simulator models one cluster, and " + setup_.api_node + " already runs its control plane\n");
  // [preflight] Pulling images required for setting up a Kubernetes cluster: at the speed of the
  // node's way to the registry.
  if (engine_.in_actor() && world_.download) {
    std::int64_t bytes = 0;
    for (const char* c : {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "etcd", "coredns", "pause"})
      bytes += image_bytes(c);
    engine_.sleep(world_.download(node, bytes, "kubeadm init's images"));
  }

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
  // The certs phase (cmd/kubeadm/app/phases/certs, GetAPIServerAltNames): the node's name, the
  // kubernetes Service's names and first address, the advertise address, the control-plane
  // endpoint's host and apiServer.certSANs.
  setup_.apiserver_dns = {node.name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                          "kubernetes.default.svc.cluster.local"};
  setup_.apiserver_ips = {first_service_ip(service_subnet), advertise};
  std::vector<std::string> sans = extra_sans;
  if (!endpoint.empty()) sans.push_back(host_port(endpoint).first);
  for (const auto& s : sans) {
    auto& list = is_ip(s) ? setup_.apiserver_ips : setup_.apiserver_dns;
    if (std::find(list.begin(), list.end(), s) == list.end()) list.push_back(s);
  }
  tokens_.clear();
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
      "[wait-control-plane] Waiting for the kubelet to boot up the control plane as static Pods from directory "
      "\"/etc/kubernetes/manifests\". This can take up to 4m0s\n";
  // kubeadm waits for the API server through admin.conf, whose server is the control-plane endpoint.
  const Duration healthy = engine_.in_actor() ? engine_.rng().between(kHealthyMin, kHealthyMax) : Duration(0);
  if (const std::string why = reach_api(machine, setup_.endpoint, "wait-control-plane"); !why.empty()) {
    if (engine_.in_actor()) engine_.sleep(kWaitControlPlane);
    engine_.log("kube", "kubeadm-failed", {{"node", node.name}, {"phase", "wait-control-plane"}, {"reason", why}});
    r.code = 1;
    r.out += "[kubelet-check] Initial timeout of 40s passed.\n";
    r.err += "error execution phase wait-control-plane: couldn't initialize a Kubernetes cluster\n" + kStackHint;
    return r;
  }
  if (engine_.in_actor()) engine_.sleep(healthy + engine_.rng().between(kFinishMin, kFinishMax));
  r.out += "[apiclient] All control plane components are healthy after " + std::to_string(healthy.count() / 1000) + "." +
           std::to_string(healthy.count() % 1000 / 100) + " seconds\n";
  if (token.empty()) token = random_chars(engine_.rng(), 6) + "." + random_chars(engine_.rng(), 16);
  tokens_[token] = ttl->count() == 0 ? Duration::max() : engine_.now() + *ttl;
  r.out +=
      "[bootstrap-token] Using token: " + token +
      "\n"
      "\nYour Kubernetes control-plane has initialized successfully!\n\n"
      "To start using your cluster, you need to run the following as a regular user:\n\n"
      "  mkdir -p $HOME/.kube\n"
      "  sudo cp -i /etc/kubernetes/admin.conf $HOME/.kube/config\n"
      "  sudo chown $(id -u):$(id -g) $HOME/.kube/config\n\n"
      "Then you can join any number of worker nodes by running the following on each as root:\n\n" +
      join_command(setup_.endpoint, token, " \\\n\t") + "\n";
  return r;
}

std::string KubeAdm::join_command(const std::string& endpoint, const std::string& token,
                                  const std::string& break_before_hash) const {
  return "kubeadm join " + endpoint + " --token " + token + break_before_hash + "--discovery-token-ca-cert-hash " +
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
  // The static pods, each naming its image as kubeadm's manifests do (the simulator reads only that
  // they exist; drctl's etcd restore reads etcd's image tag: the etcd that serves the data).
  for (const auto& m : kManifests) {
    const std::string component = m.substr(0, m.size() - 5);
    const std::string image = component == "etcd" ? "registry.k8s.io/etcd:" + etcd_.server_version() + "-0"
                                                  : "registry.k8s.io/" + component + ":" + setup_.version;
    files.write("/etc/kubernetes/manifests/" + m,
                "# static pod " + m + " (drctl simulator)\napiVersion: v1\nkind: Pod\nmetadata:\n  name: " + component +
                    "\n  namespace: kube-system\nspec:\n  containers:\n  - name: " + component + "\n    image: " + image + "\n",
                0600);
  }
}

void KubeAdm::add_node(const KubeNode& node, bool control_plane) {
  const std::uint64_t gen = nodes_.register_node(node.name, node.address, control_plane, engine_.now());
  const std::string name = node.name;
  engine_.log("kube", "node-registered", {{"node", name}, {"control_plane", control_plane}});
  // A joined node's kubelet pulls its pause and kube-proxy images (init pulled them on the control
  // plane), then posts the node's status; Ready follows once the node has a pod network (KubeCluster).
  const Duration pull = !control_plane && world_.download
                            ? world_.download(node, image_bytes("kube-proxy") + image_bytes("pause"), "kube-proxy and pause images")
                            : Duration(0);
  engine_.background(engine_.now() + pull, [this, name, gen] {
    auto it = nodes_.states().find(name);
    if (it == nodes_.states().end() || it->second.generation != gen || !it->second.up) return;
    if (hooks_.kubelet_started) hooks_.kubelet_started(name);
  });
  hooks_.changed();
}

KubeResult KubeAdm::join(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, 0,
                      {"--config", "--token", "--discovery-token", "--discovery-token-ca-cert-hash",
                       "--ignore-preflight-errors", "--cri-socket", "--node-name"},
                      {"--discovery-token-unsafe-skip-ca-verification", "--control-plane"});
  if (!a.error.empty()) return fail(a.error + "\n" + kStackHint);
  if (auto mixed = mixed_arguments(a)) return *mixed;
  if (a.has("--control-plane")) return fail("sim: joining further control-plane nodes is not modelled\n");
  std::string token = a.get("--token", a.get("--discovery-token"));
  std::string hash = a.get("--discovery-token-ca-cert-hash");
  std::string endpoint_arg = a.positional.empty() ? "" : a.positional[0];
  std::string node_name = a.get("--node-name", node.name);
  bool skip_ca = a.has("--discovery-token-unsafe-skip-ca-verification");
  std::string warnings;
  if (a.has("--config")) {  // a JoinConfiguration: the token stays off the command line; an ENDPOINT beside it is not read
    std::vector<json> docs;
    if (auto refused = config_documents(a, files, false, docs)) return *refused;
    const ConfigRead cfg = ConfigReader(versions_.kubernetes, engine_.now()).read(docs, false);
    warnings = cfg.warnings;
    if (!cfg.error.empty()) return {1, "", warnings + cfg.error + "\n" + kStackHint};
    const json& d = cfg.find("JoinConfiguration")->body;
    endpoint_arg = str(d, "/discovery/bootstrapToken/apiServerEndpoint"_json_pointer);
    token = str(d, "/discovery/bootstrapToken/token"_json_pointer);
    const json hashes = d.value("/discovery/bootstrapToken/caCertHashes"_json_pointer, json::array());
    hash = hashes.is_array() && !hashes.empty() && hashes[0].is_string() ? hashes[0].get<std::string>() : "";
    skip_ca = d.value("/discovery/bootstrapToken/unsafeSkipCAVerification"_json_pointer, false);
    if (auto n = str(d, "/nodeRegistration/name"_json_pointer); !n.empty()) node_name = n;
  }
  if (endpoint_arg.empty())
    return fail(warnings +
                "discovery.bootstrapToken.apiServerEndpoint: Invalid value: \"\": the API server endpoint is required "
                "(kubeadm join ENDPOINT --token T --discovery-token-ca-cert-hash sha256:H)\n" +
                kStackHint);
  const std::string endpoint = with_port(endpoint_arg);
  if (!valid_token(token))
    return fail(warnings + "discovery.bootstrapToken.token: Invalid value: \"" + token + "\": the bootstrap token \"" + token +
                "\" was not of the form \"^([a-z0-9]{6})\\.([a-z0-9]{16})$\"\n" + kStackHint);
  if (hash.empty() && !skip_ca)
    return fail(warnings +
                "discovery.bootstrapToken: Invalid value: \"\": using token-based discovery without caCertHashes can be "
                "unsafe. Set unsafeSkipCAVerification as true in your kubeadm config file or pass "
                "--discovery-token-unsafe-skip-ca-verification flag to continue\n" +
                kStackHint);

  KubeResult r;
  r.err = warnings;
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
    r.err += err;
    return r;
  };
  if (std::string err = p.fatal(r.out); !err.empty()) return refuse("preflight", err);
  // Token discovery (cmd/kubeadm/app/discovery/token): cluster-info fetched from the endpoint as
  // given, from this node, retried until the discovery timeout.
  const std::string cluster_info =
      "error execution phase preflight: couldn't validate the identity of the API Server: Get \"https://" + endpoint +
      "/api/v1/namespaces/kube-public/configmaps/cluster-info?timeout=10s\": ";
  const auto [host, port] = host_port(endpoint);
  std::string why = reach_api(node, endpoint, "token discovery");
  const bool tls_only = why.starts_with("tls: failed to verify certificate");  // the insecure fetch got through
  if (!why.empty() && !tls_only) {
    if (engine_.in_actor()) engine_.sleep(kDiscoveryTimeout);
    return refuse("API server unreachable", cluster_info + why + "\n" + kStackHint);
  }
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
  // With the CA pinned, cluster-info is fetched again over verified TLS: the certificate must name the host.
  if (tls_only && !skip_ca) return refuse("API server certificate", cluster_info + why + "\n" + kStackHint);
  const std::string name = node_name;
  if (auto n = nodes_.states().find(name); n != nodes_.states().end() && n->second.ready)
    return refuse("node name taken", "error execution phase kubelet-start: a Node with name \"" + name +
                                         "\" and status \"Ready\" already exists in the cluster. You must delete the "
                                         "existing Node or change the name of this new joining Node\n" +
                                         kStackHint);
  r.out +=
      "[preflight] Reading configuration from the cluster...\n"
      "[kubelet-start] Writing kubelet configuration to file \"/var/lib/kubelet/config.yaml\"\n"
      "[kubelet-start] Starting the kubelet\n"
      "[kubelet-start] Waiting for the kubelet to perform the TLS Bootstrap...\n";
  // The kubelet bootstraps against the server in cluster-info's kubeconfig: the control-plane
  // endpoint init was given, which need not be the address this join used.
  if (const std::string boot = reach_api(node, setup_.endpoint, "kubelet TLS bootstrap"); !boot.empty()) {
    files.write("/etc/kubernetes/pki/ca.crt", ca_certificate(setup_.ca), 0644);
    files.write("/etc/kubernetes/bootstrap-kubelet.conf",
                "# bootstrap kubeconfig: server https://" + setup_.endpoint + " (drctl simulator)\n", 0600);
    if (engine_.in_actor()) engine_.sleep(kTLSBootstrapTimeout);
    return refuse("kubelet TLS bootstrap: " + boot, "error execution phase kubelet-start: timed out waiting for the condition\n" +
                                                        kStackHint);
  }
  KubeNode joining = node;
  joining.name = name;
  write_node_files(joining, files, false);
  add_node(joining, false);
  r.out +=
      "\nThis node has joined the cluster:\n"
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
  // The kubeconfig's server and CA, as client-go reads them.
  std::string server, ca;
  try {
    const auto docs = kube_parse_yaml(*conf);
    const json& cluster = docs.at(0).at("clusters").at(0).at("cluster");
    server = cluster.value("server", "");
    ca = ca_of(unbase64(cluster.value("certificate-authority-data", "")).value_or(""));
  } catch (const std::exception&) {
  }
  if (!server.starts_with("https://"))
    return fail("failed to load admin kubeconfig: invalid configuration: no server found for cluster \"kubernetes\"\n" +
                kStackHint);
  const std::string endpoint = server.substr(8);
  const std::string t = sub == "create" ? random_chars(engine_.rng(), 6) + "." + random_chars(engine_.rng(), 16) : "";
  std::string why = reach_api(node, endpoint, "kubeadm token " + sub);
  if (why.empty() && ca != setup_.ca) why = "tls: failed to verify certificate: x509: certificate signed by unknown authority";
  if (!why.empty()) {
    if (sub == "list")
      return fail("failed to list bootstrap tokens: Get \"https://" + endpoint +
                  "/api/v1/namespaces/kube-system/secrets?fieldSelector=type%3Dbootstrap.kubernetes.io%2Ftoken\": " + why +
                  "\n" + kStackHint);
    return fail("failed to create or update bootstrap token with name bootstrap-token-" + t.substr(0, 6) +
                ": unable to create secret: Post \"https://" + endpoint + "/api/v1/namespaces/kube-system/secrets?timeout=10s\": " +
                why + "\n" + kStackHint);
  }
  if (sub == "list") {
    std::string out = "TOKEN                     TTL         EXPIRES   USAGES                   DESCRIPTION\n";
    for (const auto& [tok, expiry] : tokens_) {
      if (engine_.now() >= expiry) continue;
      std::string ttl =
          expiry == Duration::max()
              ? "<forever>"
              : std::to_string(std::chrono::duration_cast<std::chrono::hours>(expiry - engine_.now()).count()) + "h";
      out += tok + "   " + ttl + "         -         authentication,signing   <none>\n";
    }
    return {0, out, ""};
  }
  auto ttl = go_duration(a.get("--ttl", "24h0m0s"));
  if (!ttl) return fail("invalid argument \"" + a.get("--ttl") + "\" for \"--ttl\" flag: time: invalid duration\n");
  tokens_[t] = ttl->count() == 0 ? Duration::max() : engine_.now() + *ttl;
  engine_.log("kube", "token-created", {{"node", node.name}, {"token_id", t.substr(0, 6)}});
  // cmd/kubeadm/app/cmd/util GetJoinWorkerCommand: the endpoint is the kubeconfig's server.
  return {0, (a.has("--print-join-command") ? join_command(endpoint, t, " ") + " " : t) + "\n", ""};
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
    for (const char* f : {"/etc/kubernetes/kubelet.conf", "/etc/kubernetes/admin.conf", "/etc/kubernetes/bootstrap-kubelet.conf",
                          "/etc/kubernetes/pki/ca.crt",
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
      "[reset] Deleting files: [/etc/kubernetes/admin.conf /etc/kubernetes/kubelet.conf /etc/kubernetes/bootstrap-kubelet.conf "
      "/etc/kubernetes/controller-manager.conf /etc/kubernetes/scheduler.conf]\n";
  return {0, out, ""};
}


}  // namespace drctl::sim
