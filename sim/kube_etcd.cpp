// etcd 3.5 on the simulated control plane: etcdctl (version, endpoint status/health, snapshot
// save/status/restore) with kubeadm's TLS, etcdutl, etcd --version, and a restored data dir
// replacing the store.
#include "sim/kube_etcd.hpp"
#include "base/text.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <ctime>

#include "sim/kube_etcd_files.hpp"
#include "sim/kube_pki.hpp"
#include "sim/kube_util.hpp"

namespace drctl::sim {

using namespace kube_util;
using text::sha256_hex;

namespace {

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

KubeEtcd::KubeEtcd(Engine& engine, const KubeSetup& setup, const KubeStore& store, const KubeNodes& nodes,
                   const KubeVersions& versions, const KubeWorld& world, std::function<void(const json& objects)> restart)
    : engine_(engine),
      setup_(setup),
      store_(store),
      nodes_(nodes),
      versions_(versions),
      world_(world),
      restart_(std::move(restart)) {}

std::string KubeEtcd::server_version(const Version& kubernetes) {
  // kubeadm's cmd/kubeadm/app/constants/constants.go, SupportedEtcdVersion at each minor's release
  // (the tag of registry.k8s.io/etcd kubeadm's static pod runs, without its "-0").
  if (kubernetes.before(1, 28)) return "3.5.7";
  if (kubernetes.before(1, 29)) return "3.5.9";
  if (kubernetes.before(1, 30)) return "3.5.10";
  if (kubernetes.before(1, 31)) return "3.5.12";
  return "3.5.15";
}

std::string KubeEtcd::server_version() const {
  if (!setup_.version.empty()) {
    try {
      return server_version(parse_version(setup_.version));
    } catch (const std::invalid_argument&) {  // init refuses what it cannot parse: not reached
    }
  }
  return server_version(versions_.kubernetes);
}

bool KubeEtcd::ships_etcdutl() const { return versions_.etcd_client.at_least(3, 5); }

bool KubeEtcd::up() const {
  auto it = nodes_.states().find(setup_.api_node);
  return running_ && pod_ && it != nodes_.states().end() && it->second.up;
}


std::optional<std::string> KubeEtcd::set_pod(bool running) {
  pod_ = running;
  if (!running || !pending_data_) return std::nullopt;
  std::optional<std::string> data = std::move(pending_data_);
  pending_data_.reset();
  return data;
}

void KubeEtcd::pod_from_init() {
  pod_ = true;
  pending_data_.reset();
}

void KubeEtcd::data_moved(const KubeNode& node, const std::string& dir, const KubeFiles& files) {
  const std::string data_dir = kEtcdDataDir;
  if (node.name != setup_.api_node || !(dir == data_dir || dir.starts_with(data_dir + "/"))) return;
  if (auto data = files.read(kEtcdDb)) data_replaced(node.name, *data);
}

void KubeEtcd::data_replaced(const std::string& node, const std::string& data) {
  json objs;
  try {
    if (!data.starts_with(kSnapshotMagic) || data.find("\n\n") == std::string::npos) throw std::runtime_error("foreign");
    objs = json::parse(data.substr(data.find("\n\n") + 2));
  } catch (const std::exception&) {
    engine_.log("kube", "etcd-data-unreadable", {{"node", node}, {"data_dir", kEtcdDataDir}});
    return;
  }
  if (!pod_) {  // the kubelet starts etcd on it when its manifest is back
    pending_data_ = data;
    engine_.log("kube", "etcd-data-replaced", {{"node", node}, {"data_dir", kEtcdDataDir}, {"keys", objs.size()}});
    return;
  }
  engine_.log("kube", "etcd-restarted", {{"node", node}, {"data_dir", kEtcdDataDir}, {"keys", objs.size()}});
  restart_(objs);
}

std::string KubeEtcd::snapshot_data() const {
  json objs = json::array();
  for (const auto& [key, obj] : store_.objects()) objs.push_back(obj);
  return std::string(kSnapshotMagic) + "\netcd-version: " + server_version() + "\nrevision: " + std::to_string(store_.revision()) +
         "\nkeys: " + std::to_string(store_.objects().size()) + "\n\n" + objs.dump();
}

namespace {

using ordered = nlohmann::ordered_json;

/// What the etcd-client releases print differently, each from its etcdctl (etcd-io/etcd at the
/// tag; 3.4.23 also compared with the real one in tests/integration/etcd_sim_compare_test.cpp).
struct Client {
  Version v;
  /// 3.2/3.3 run the v2 etcdctl unless ETCDCTL_API=3 (etcdctl/main.go); 3.4 made v3 the default.
  bool v2_default() const { return v.before(3, 4); }
  /// snapshot save/restore log through zap (clientv3/snapshot, 3.3 on; 3.5: etcdutl's console logger).
  bool zap_snapshot() const { return v.at_least(3, 3); }
  /// clientv3's retry interceptor logs a failed call (3.4 on).
  bool retry_log() const { return v.at_least(3, 4); }
  /// Status has raftAppliedIndex, dbSizeInUse, isLearner, errors (3.4 on).
  bool applied_index() const { return v.at_least(3, 4); }
  /// `endpoint health` has -w json|table (3.3 on: display.EndpointHealth).
  bool health_formats() const { return v.at_least(3, 3); }
  /// A healthy endpoint's line goes to stdout (3.2's fmt.Printf, 3.5's printer) or stderr (3.3/3.4's
  /// simplePrinter.EndpointHealth writes both lines to os.Stderr).
  bool healthy_on_stdout() const { return v.before(3, 3) || v.at_least(3, 5); }
  /// etcdctl's snapshot status/restore say "Deprecated: Use `etcdutl …` instead." (3.5).
  bool deprecated_snapshot() const { return v.at_least(3, 5); }
  /// `snapshot status` has the storage version column (etcdutl 3.5).
  bool status_version() const { return v.at_least(3, 5); }
  /// The caller prefix of clientv3's log lines.
  std::string clientv3() const { return v.at_least(3, 5) ? "v3@v" + v.text.substr(0, v.text.find_first_of("+-")) + "/" : "clientv3/"; }
};

/// etcd --version's Git SHA and Go of each release as the nodes install it: Ubuntu's and Debian's
/// builds say "Not provided" (they build with `go build`); 3.5 is upstream's release binary.
std::pair<std::string, std::string> build_of(const Version& v) {
  if (v.at_least(3, 5)) return {"bdbbde998", "go1.19.9"};
  const std::string none = "Not provided (use ./build instead of go build)";
  if (v.at_least(3, 4)) return {none, "go1.19.8"};   // Debian 12's etcd-server 3.4.23 (seen)
  if (v.at_least(3, 3)) return {none, "go1.18.1"};   // Ubuntu 22.04's golang-1.18
  return {none, "go1.13.8"};                          // Ubuntu 20.04's golang-1.13
}


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

/// Virtual time as zap's epoch encoder writes it (seconds since 1970 as a float).
double zap_epoch(Duration now) {
  constexpr double kStart = 1704067200.0;  // 2024-01-01T00:00:00Z, where virtual time starts
  return kStart + static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()) / 1000.0;
}

/// A log line of etcd's clients (zap JSON), at virtual time; `epoch`: the ts as a float.
std::string zap_json(Duration now, const char* level, const std::string& caller, const char* msg, const ordered& fields,
                     const char* logger = nullptr, bool epoch = false) {
  ordered line = {{"level", level}};
  if (epoch) line["ts"] = zap_epoch(now);
  else line["ts"] = sim_time(now).substr(0, 19) + ".000Z";
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

/// A log line of etcd 3.2's capnslog ("2024-01-01 00:00:05.000000 I | pkg: text").
std::string capnslog(Duration now, const std::string& pkg, const std::string& text) {
  std::string t = sim_time(now);  // 2024-01-01T00:00:05Z
  return t.substr(0, 10) + " " + t.substr(11, 8) + ".000000 I | " + pkg + ": " + text + "\n";
}

/// A duration as Go prints it ("2s", "1.5s", "800ms").
std::string go_text(Duration d) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  std::string s = std::to_string(ms / 1000);
  if (ms % 1000) {
    char frac[8];
    std::snprintf(frac, sizeof frac, "%03lld", static_cast<long long>(ms % 1000));
    std::string f = frac;
    while (!f.empty() && f.back() == '0') f.pop_back();
    s += "." + f;
  }
  return s + "s";
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

/// etcdctl v3's commands (ctlv3/ctl.go's rootCmd.AddCommand): one not among them is cobra's
/// "unknown command"; one among them the simulator does not model says so.
const std::set<std::string> kEtcdctlV3Commands = {
    "get", "put", "del", "txn", "compaction", "alarm", "defrag", "endpoint", "move-leader", "watch", "version",
    "lease", "member", "snapshot", "make-mirror", "migrate", "lock", "elect", "auth", "user", "role", "check",
    "help", "completion", "downgrade"};
/// The v2 etcdctl's commands (ctlv2/ctl.go's app.Commands).
const std::set<std::string> kEtcdctlV2Commands = {
    "backup", "cluster-health", "mk", "mkdir", "rm", "rmdir", "get", "ls", "set", "setdir", "update", "updatedir",
    "watch", "exec-watch", "member", "user", "role", "auth", "help", "h"};

}  // namespace

KubeResult KubeEtcd::etcdctl_v2(const std::vector<std::string>& argv) const {
  // urfave/cli as vendored by etcd 3.2/3.3: a name that is no command runs the default action,
  // help, whose ShowCommandHelp answers NewExitError("No help topic for '…'", 3) on stderr.
  std::size_t i = first_arg(argv, "etcdctl");
  for (; i < argv.size() && argv[i].starts_with("-"); ++i)
    if (argv[i] == "--version" || argv[i] == "-v")  // ctlv2's cli.VersionPrinter
      return {0, "etcdctl version: " + versions_.etcd_client.text + "\nAPI version: 2\n", ""};
  if (i >= argv.size()) return fail("sim: the v2 etcdctl's help is not modelled (ETCDCTL_API=3 selects the v3 one)\n", 2);
  if (!kEtcdctlV2Commands.count(argv[i])) return {3, "", "No help topic for '" + argv[i] + "'\n"};
  return fail("sim: the v2 etcdctl's " + argv[i] + " is not modelled (ETCDCTL_API=3 selects the v3 one)\n", 2);
}

std::string KubeEtcd::dial_error(const KubeNode& node, const std::string& endpoint, const std::string& cacert,
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
  const std::string dialing = "connection error: desc = \"transport: Error while dialing dial tcp " + target + ": ";
  if (host == "127.0.0.1" || host == "localhost" || host == "::1") {
    // Loopback: etcd on this very node (kubeadm's --listen-client-urls has https://127.0.0.1:2379).
    if (node.name != setup_.api_node || !up() || port != "2379") return dialing + "connect: connection refused\"";
  } else if (world_.dial) {
    // Any other address is dialled over the network from this node: etcd listens on the control
    // plane's address while it runs (SimWorld opens 2379 there), and a firewall or a wrong address
    // fails as the dial does.
    int port_number = 0;
    try {
      port_number = std::stoi(port);
    } catch (const std::exception&) {
      return "connection error: desc = \"transport: Error while dialing dial tcp: address " + target + ": invalid port\"";
    }
    const KubeDial d = world_.dial(node, host, port_number);
    switch (d.outcome) {
      case KubeDial::Outcome::connected:
        if (d.service != "etcd") return dialing + "connect: connection refused\"";
        break;
      case KubeDial::Outcome::refused: return dialing + "connect: connection refused\"";
      case KubeDial::Outcome::timeout: return dialing + "i/o timeout\"";
      case KubeDial::Outcome::unresolved:
        return "connection error: desc = \"transport: Error while dialing dial tcp: lookup " + host + ": no such host\"";
      case KubeDial::Outcome::unreachable: return dialing + "connect: no route to host\"";
    }
  } else {
    std::string serving;  // no network (the cluster on its own in unit tests): the node with this address
    for (const auto& [name, n] : nodes_.states())
      if (n.address == host) serving = name;
    if (serving.empty()) return dialing + "i/o timeout\"";
    if (serving != setup_.api_node || !up() || port != "2379") return dialing + "connect: connection refused\"";
  }
  // Without any TLS flags the simulator lets etcdctl in (its earlier scripts relied on it); with
  // them, kubeadm's rules: etcd's own CA, and a client certificate that CA signed.
  if (cacert.empty() && cert.empty() && key.empty()) return "";
  if (scheme == "http" || (scheme.empty() && cacert.empty() && cert.empty())) return "connection closed";
  const std::string ca = cacert.empty() ? "" : pem_text(files.read(cacert).value_or(""));
  if (ca != "drctl-sim etcd ca of CA " + setup_.ca)
    return "connection error: desc = \"transport: authentication handshake failed: x509: certificate signed by unknown "
           "authority\"";
  const std::string client = cert.empty() ? "" : pem_text(files.read(cert).value_or(""));
  bool signed_by_etcd = false;
  for (const char* role : {"healthcheck-client", "server", "peer", "apiserver-etcd-client"})
    if (client == "drctl-sim etcd " + std::string(role) + " of CA " + setup_.ca) signed_by_etcd = true;
  // etcd (--client-cert-auth) closes a handshake without a client certificate; etcdctl 3.4 (Go
  // 1.19's TLS 1.3) sees it on its next write (seen against the real one).
  if (cert.empty() && versions_.etcd_client.before(3, 5))
    return "write tcp " + std::string(host == "127.0.0.1" || host == "localhost" ? "127.0.0.1" : node.address) +
           ":43210->" + target + ": write: broken pipe";
  if (!signed_by_etcd || key.empty())
    return "connection error: desc = \"error reading server preface: remote error: tls: bad certificate\"";
  return "";
}

nlohmann::ordered_json KubeEtcd::endpoint_status() const {
  const std::uint64_t member = id_of("etcd member " + setup_.api_node + " " + setup_.ca);
  const auto size = static_cast<std::uint64_t>(snapshot_data().size());
  ordered st = {{"header",
                 {{"cluster_id", id_of("etcd cluster " + setup_.ca)},
                  {"member_id", member},
                  {"revision", store_.revision()},
                  {"raft_term", static_cast<std::uint64_t>(2)}}},
                {"version", server_version()},
                {"dbSize", size},
                {"leader", member},
                {"raftIndex", store_.revision() + 4},
                {"raftTerm", static_cast<std::uint64_t>(2)}};
  if (Client{versions_.etcd_client}.applied_index()) {  // errors and isLearner are omitted when empty
    st["raftAppliedIndex"] = store_.revision() + 4;
    st["dbSizeInUse"] = size;
  }
  return st;
}

KubeResult KubeEtcd::etcdctl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  const Client client{versions_.etcd_client};
  const auto env = world_.env ? world_.env(node) : std::map<std::string, std::string>{};
  const std::string api = env.count("ETCDCTL_API") ? env.at("ETCDCTL_API") : "";
  // etcdctl/main.go: 3.2/3.3 take "" or "2" as v2; 3.4 on take "" or "3" as v3; anything else is refused.
  if (api == "2" || (api.empty() && client.v2_default())) return etcdctl_v2(argv);
  if (!api.empty() && api != "3" && api != "2") return {1, "", "unsupported API version " + api + "\n"};

  Args a = parse_args(argv, first_arg(argv, "etcdctl"), kEtcdValueFlags, kEtcdBoolFlags, {{"-w", "--write-out"}});
  if (!a.error.empty()) return fail("Error: " + a.error + "\n");
  const auto& pos = a.positional;
  const std::string cmd = pos.empty() ? "" : pos[0], sub = pos.size() > 1 ? pos[1] : "";
  if (!cmd.empty() && !kEtcdctlV3Commands.count(cmd))
    return fail("Error: unknown command \"" + cmd + "\" for \"etcdctl\"\nRun 'etcdctl --help' for usage.\n"
                "Error: unknown command \"" + cmd + "\" for \"etcdctl\"\n");
  const std::string output = a.get("--write-out", "simple");
  if (output != "simple" && output != "json" && output != "table" && output != "fields" && output != "protobuf")
    return {4, "", "Error: unsupported output format\n"};  // NewPrinter: ExitWithError(ExitBadFeature, …)
  if (cmd == "version")
    return {0, "etcdctl version: " + versions_.etcd_client.text + "\nAPI version: " + versions_.etcd_client.minor_text() + "\n", ""};
  if (cmd == "snapshot" && sub == "status") {
    KubeResult r = snapshot_status(pos, files, output, false);
    if (client.deprecated_snapshot()) r.err = "Deprecated: Use `etcdutl snapshot status` instead.\n\n" + r.err;
    return r;
  }
  if (cmd == "snapshot" && sub == "restore") return snapshot_restore(node, argv, files, client.deprecated_snapshot());
  const bool save = cmd == "snapshot" && sub == "save";
  const bool status = cmd == "endpoint" && (sub == "status" || sub == "health");
  if (!save && !status)
    return fail("sim: etcdctl supports version, endpoint status|health, snapshot save FILE, snapshot restore FILE "
                "--data-dir DIR, snapshot status FILE\n");
  if (save && pos.size() != 3) return fail("Error: snapshot save expects one argument\n", 128);

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
  const std::string v3 = client.clientv3();

  // 3.2/3.3's client dials with grpc.WithBlock() under --dial-timeout: an endpoint that does not
  // answer (or fails TLS) ends the command there, with no more than the deadline
  // (mustClientFromCmd: ExitWithError(ExitBadConnection, err); 3.3's snapshot save: ExitInterrupted).
  if (client.v.before(3, 4) && !(save && endpoints.size() != 1)) {
    bool any = false;
    std::string last;
    for (const auto& ep : endpoints) {
      const std::string why = dial_error(node, ep, a.get("--cacert"), a.get("--cert"), a.get("--key"), files);
      any = any || why.empty();
      if (!why.empty()) last = why;
    }
    if (!any) {
      engine_.log("kube", "etcd-unreachable", {{"node", node.name}, {"endpoint", a.get("--endpoints", "127.0.0.1:2379")}, {"reason", last}});
      wait(timeout("--dial-timeout", "2s"));
      return {save && client.v.at_least(3, 3) ? 5 : 2, "", "Error: context deadline exceeded\n"};
    }
  }

  if (save) {
    const std::string& path = pos[2];
    if (endpoints.size() != 1) {
      std::string list;
      for (const auto& e : endpoints) list += (list.empty() ? "" : " ") + e;
      return fail("Error: snapshot must be requested to one selected node, not multiple [" + list + "]\n", 5);
    }
    const std::string why = dial_error(node, endpoints[0], a.get("--cacert"), a.get("--cert"), a.get("--key"), files);
    const Duration now = engine_.now();
    const bool v34 = client.zap_snapshot() && !client.v.at_least(3, 5);  // 3.3/3.4: clientv3/snapshot's zap logger
    if (!why.empty()) {
      engine_.log("kube", "etcd-snapshot-failed", {{"node", node.name}, {"endpoint", endpoints[0]}, {"reason", why}});
      wait(timeout("--dial-timeout", "2s"));
      std::string err;
      if (v34) {  // 3.4 opens the .part file, then the stream fails (seen against the real one)
        err += zap_json(now, "info", "snapshot/v3_snapshot.go:119", "created temporary db file", {{"path", path + ".part"}},
                        nullptr, true);
        if (client.retry_log())
          err += zap_json(engine_.now(), "error", v3 + "retry_interceptor.go:129", "streamer failed to create ClientStream",
                          {{"error", "rpc error: code = DeadlineExceeded desc = latest balancer error: all SubConns are in "
                                     "TransientFailure"},
                           {"stacktrace", "go.etcd.io/etcd/clientv3.(*Client).streamClientInterceptor.func1\n\t"
                                          "go.etcd.io/etcd/clientv3/retry_interceptor.go:129"}});
      }
      return {5, "", err + "Error: context deadline exceeded\n"};  // ExitWithError(ExitInterrupted, …)
    }
    const std::string data = snapshot_data();
    files.write(path, data, 0600);
    engine_.log("kube", "etcd-snapshot-saved", {{"node", node.name}, {"file", path}, {"keys", store_.objects().size()}});
    std::string err;
    if (client.v.at_least(3, 5)) {
      err += zap_json(now, "info", "snapshot/v3_snapshot.go:65", "created temporary db file", {{"path", path + ".part"}});
      err += zap_json(now, "info", v3 + "maintenance.go:212", "opened snapshot stream; downloading", ordered::object(), "client");
      err += zap_json(now, "info", "snapshot/v3_snapshot.go:73", "fetching snapshot", {{"endpoint", endpoints[0]}});
      err += zap_json(now, "info", v3 + "maintenance.go:220", "completed snapshot read; closing", ordered::object(), "client");
      err += zap_json(now, "info", "snapshot/v3_snapshot.go:88", "fetched snapshot",
                      {{"endpoint", endpoints[0]}, {"size", human_size(data.size())}, {"took", "now"}});
      err += zap_json(now, "info", "snapshot/v3_snapshot.go:97", "saved", {{"path", path}});
    } else if (v34) {
      err += zap_json(now, "info", "snapshot/v3_snapshot.go:119", "created temporary db file", {{"path", path + ".part"}}, nullptr, true);
      if (client.retry_log())
        err += zap_json(now, "info", v3 + "maintenance.go:200", "opened snapshot stream; downloading", ordered::object());
      err += zap_json(now, "info", "snapshot/v3_snapshot.go:127", "fetching snapshot", {{"endpoint", endpoints[0]}}, nullptr, true);
      if (client.retry_log())
        err += zap_json(now, "info", v3 + "maintenance.go:208", "completed snapshot read; closing", ordered::object());
      err += zap_json(now, "info", "snapshot/v3_snapshot.go:142", "fetched snapshot",
                      {{"endpoint", endpoints[0]}, {"size", human_size(data.size())}, {"took", 0.004}}, nullptr, true);
      err += zap_json(now, "info", "snapshot/v3_snapshot.go:152", "saved", {{"path", path}}, nullptr, true);
    }
    return {0, "Snapshot saved at " + path + "\n", err};
  }

  // endpoint status / health
  KubeResult r;
  ordered list = ordered::array();
  std::vector<std::vector<std::string>> rows;
  const bool health = sub == "health";
  for (const auto& ep : endpoints) {
    const std::string why = dial_error(node, ep, a.get("--cacert"), a.get("--cert"), a.get("--key"), files);
    std::string target = ep.find("://") == std::string::npos ? ep : ep.substr(ep.find("://") + 3);
    if (!why.empty()) {
      engine_.log("kube", "etcd-unreachable", {{"node", node.name}, {"endpoint", ep}, {"reason", why}});
      const Duration waited = timeout("--command-timeout", "5s");
      wait(waited);
      r.code = 1;
      if (client.v.at_least(3, 5)) {
        r.err += zap_json(engine_.now(), "warn", v3 + "retry_interceptor.go:62", "retrying of unary invoker failed",
                          {{"target", "etcd-endpoints://0xc0001f4000/" + target},
                           {"attempt", 0},
                           {"error", "rpc error: code = DeadlineExceeded desc = latest balancer error: " + why}},
                          "etcd-client");
      } else if (client.retry_log()) {  // 3.4: the status call names its endpoint; health's balancer has given up
        r.err += zap_json(engine_.now(), "warn", v3 + "retry_interceptor.go:62", "retrying of unary invoker failed",
                          {{"target", health ? "endpoint://client-" + sim_uuid("etcdctl " + node.name + " " + ep) + "/" + target
                                             : "passthrough:///" + ep},
                           {"attempt", 0},
                           {"error", "rpc error: code = DeadlineExceeded desc = latest balancer error: " +
                                         (health ? std::string("all SubConns are in TransientFailure") : why)}});
      }
      if (!health) {
        r.err += "Failed to get the status of endpoint " + ep + " (context deadline exceeded)\n";
      } else {
        const std::string line = ep + " is unhealthy: failed to commit proposal: context deadline exceeded";
        if (!(client.health_formats() && output != "simple"))
          r.err += line + (client.v.at_least(3, 3) && client.v.before(3, 4) ? "" : "\n");  // 3.3's printer has no newline
        list.push_back({{"endpoint", ep}, {"health", false}, {"took", go_text(waited)}, {"error", "context deadline exceeded"}});
        rows.push_back({ep, "false", go_text(waited), "context deadline exceeded"});
      }
      continue;
    }
    if (health) {
      list.push_back({{"endpoint", ep}, {"health", true}, {"took", "8.123ms"}});
      rows.push_back({ep, "true", "8.123ms", ""});
      continue;
    }
    const ordered st = endpoint_status();
    list.push_back({{"Endpoint", ep}, {"Status", st}});
    const auto member = st["header"]["member_id"].get<std::uint64_t>();
    const std::string size = human_size(st["dbSize"].get<std::uint64_t>());
    const std::string index = std::to_string(st["raftIndex"].get<std::uint64_t>());
    if (client.applied_index())
      rows.push_back({ep, hex_id(member), server_version(), size, "true", "false", "2", index,
                      std::to_string(st["raftAppliedIndex"].get<std::uint64_t>()), ""});
    else
      rows.push_back({ep, hex_id(member), server_version(), size, "true", "2", index});
  }
  if (health) {
    if (client.health_formats() && output == "json") {
      r.out = list.dump() + "\n";
    } else if (client.health_formats() && output == "table") {
      r.out = etcd_table({"ENDPOINT", "HEALTH", "TOOK", "ERROR"}, rows);
    } else {
      for (const auto& row : rows) {
        if (row[1] != "true") continue;  // the unhealthy ones went to stderr above
        const std::string line = row[0] + " is healthy: successfully committed proposal: took = " + row[2] + "\n";
        (client.healthy_on_stdout() ? r.out : r.err) += line;
      }
    }
    if (r.code != 0) r.err += "Error: unhealthy cluster\n";
    return r;
  }
  if (output == "json") {
    r.out = list.dump() + "\n";
  } else if (output == "table") {
    r.out = client.applied_index()
                ? etcd_table({"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX",
                              "RAFT APPLIED INDEX", "ERRORS"},
                             rows)
                : etcd_table({"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "RAFT TERM", "RAFT INDEX"}, rows);
  } else {
    for (const auto& row : rows) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) line += (i ? ", " : "") + row[i];
      r.out += line + "\n";
    }
  }
  return r;
}

KubeResult KubeEtcd::etcdutl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  if (!ships_etcdutl())  // etcdutl came with etcd 3.5; the older etcd-client packages have none
    return {127, "", "sh: 1: etcdutl: not found\n"};
  Args a = parse_args(argv, first_arg(argv, "etcdutl"), kEtcdValueFlags, kEtcdBoolFlags, {{"-w", "--write-out"}});
  if (!a.error.empty()) return fail("Error: " + a.error + "\n");
  const auto& pos = a.positional;
  const std::string cmd = pos.empty() ? "" : pos[0], sub = pos.size() > 1 ? pos[1] : "";
  if (cmd == "version")
    return {0, "etcdutl version: " + versions_.etcd_client.text + "\nAPI version: " + versions_.etcd_client.minor_text() + "\n", ""};
  if (cmd == "snapshot" && sub == "status") return snapshot_status(pos, files, a.get("--write-out", "simple"), true);
  if (cmd == "snapshot" && sub == "restore") return snapshot_restore(node, argv, files, false);
  return fail("sim: etcdutl supports version, snapshot status FILE, snapshot restore FILE --data-dir DIR\n");
}

KubeResult KubeEtcd::etcd(const std::vector<std::string>& argv) const {
  const std::size_t i = first_arg(argv, "etcd");
  if (i < argv.size() && argv.size() == i + 1 && argv[i] == "--version") {
    const auto [sha, go] = build_of(versions_.etcd_client);  // etcd-server comes from etcd-client's source package
    return {0, "etcd Version: " + versions_.etcd_client.text + "\nGit SHA: " + sha + "\nGo Version: " + go +
                   "\nGo OS/Arch: linux/amd64\n",
            ""};
  }
  return fail("sim: etcd: only `etcd --version` is modelled (the cluster's etcd runs as kubeadm's static pod)\n");
}

KubeResult KubeEtcd::snapshot_status(const std::vector<std::string>& pos, const KubeFiles& files,
                                     const std::string& output, bool etcdutl) const {
  const Client client{versions_.etcd_client};
  if (pos.size() != 3) return fail("Error: snapshot status requires exactly one argument\n");
  if (output != "simple" && output != "json" && output != "table" && output != "fields" && output != "protobuf")
    return {4, "", "Error: unsupported output format\n"};
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
  // etcdutl 3.5 (and etcdctl 3.5, which calls it) adds the storage version a 3.5 member writes.
  const bool with_version = client.status_version() || etcdutl;
  const std::string version = "3.5.0";
  ordered j = {{"hash", hash}, {"revision", revision}, {"totalKey", keys}, {"totalSize", size}};
  std::vector<std::string> row = {hex_id(hash), std::to_string(revision), std::to_string(keys), human_size(size)};
  std::vector<std::string> head = {"HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"};
  if (with_version) {
    j["version"] = version;
    row.push_back(version);
    head.push_back("VERSION");
  }
  if (output == "json") return {0, j.dump() + "\n", ""};
  if (output == "table") return {0, etcd_table(head, {row}), ""};
  std::string line;
  for (std::size_t i = 0; i < row.size(); ++i) line += (i ? ", " : "") + row[i];
  return {0, line + "\n", ""};
}

KubeResult KubeEtcd::snapshot_restore(const KubeNode& node, const std::vector<std::string>& argv,
                                         const KubeFiles& files, bool deprecated) {
  const Client client{versions_.etcd_client};
  Args a = parse_args(argv, first_arg(argv, argv.empty() || argv[0] != "etcdutl" ? "etcdctl" : "etcdutl"), kEtcdValueFlags,
                      kEtcdBoolFlags, {{"-w", "--write-out"}});
  if (a.positional.size() != 3) return fail("Error: snapshot restore requires exactly one argument\n");
  const std::string& path = a.positional[2];
  // etcdctl 3.5's restore says it is deprecated, on stderr, before anything else.
  const std::string note = deprecated ? "Deprecated: Use `etcdutl snapshot restore` instead.\n\n" : "";
  const std::string name = a.get("--name", "default");
  std::string dir = a.get("--data-dir", name + ".etcd");
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string peer_urls = a.get("--initial-advertise-peer-urls", "http://localhost:2380");
  const std::string cluster = a.get("--initial-cluster", name + "=" + peer_urls);
  const std::string db = dir + "/member/snap/db";
  if (files.read(db)) return {1, "", note + "Error: data-dir \"" + dir + "\" exists\n"};
  std::map<std::string, std::set<std::string>> members;
  for (const auto& m : split_list(cluster)) {
    auto eq = m.find('=');
    if (eq == std::string::npos) return {1, "", note + "Error: URL must not be empty\n"};
    members[m.substr(0, eq)].insert(m.substr(eq + 1));
  }
  if (!members.count(name))
    return {1, "", note + "Error: couldn't find local name \"" + name + "\" in the initial cluster configuration\n"};
  const auto advertised = split_list(peer_urls);
  if (std::set<std::string>(advertised.begin(), advertised.end()) != members[name]) {
    std::string in_cluster;
    for (const auto& u : members[name]) in_cluster += (in_cluster.empty() ? "" : ",") + u;
    return {1, "",
            note + "Error: --initial-cluster has " + name + "=" + in_cluster + " but missing from --initial-advertise-peer-urls=" +
                peer_urls + " (\"" + peer_urls + "\"(resolved from \"" + peer_urls + "\") != \"" + in_cluster +
                "\"(resolved from \"" + in_cluster + "\"))\n"};
  }
  auto data = files.read(path);
  if (!data) return {1, "", note + "Error: stat " + path + ": no such file or directory\n"};
  json objs;
  try {
    if (!data->starts_with(kSnapshotMagic) || data->find("\n\n") == std::string::npos) throw std::runtime_error("not ours");
    objs = json::parse(data->substr(data->find("\n\n") + 2));
  } catch (const std::exception&) {
    return {1, "", note + "Error: invalid database\n"};
  }
  files.write(db, *data, 0600);
  files.write(dir + "/member/wal/0000000000000000-0000000000000000.wal",
              "drctl-sim etcd wal: member " + name + " of " + cluster + "\n", 0600);
  engine_.log("kube", "etcd-snapshot-restored", {{"node", node.name}, {"data_dir", dir}, {"keys", objs.size()}});
  const Duration now = engine_.now();
  const std::string cluster_id = hex_id(id_of("etcd cluster " + cluster));
  std::string err = note;
  if (client.v.at_least(3, 5)) {  // etcdutl's console logger (etcdctl 3.5 calls etcdutl's code)
    const std::string dirs = "{\"path\": \"" + path + "\", \"wal-dir\": \"" + dir + "/member/wal\", \"data-dir\": \"" + dir +
                             "\", \"snap-dir\": \"" + dir + "/member/snap\"}";
    err += zap_console(now, "snapshot/v3_snapshot.go:248", "restoring snapshot", dirs);
    err += zap_console(now, "membership/store.go:141", "Trimming membership information from the backend...");
    for (const auto& [member, urls] : members) {
      std::string list;
      for (const auto& u : urls) list += (list.empty() ? "\"" : ", \"") + u + "\"";
      err += zap_console(now, "membership/cluster.go:421", "added member",
                         "{\"cluster-id\": \"" + cluster_id + "\", \"local-member-id\": \"0\", " + "\"added-peer-id\": \"" +
                             hex_id(id_of("etcd member " + member + " " + cluster)) + "\", \"added-peer-peer-urls\": [" + list + "]}");
    }
    err += zap_console(now, "snapshot/v3_snapshot.go:269", "restored snapshot", dirs);
  } else if (client.zap_snapshot()) {  // 3.3/3.4: clientv3/snapshot's production zap logger (seen on 3.4.23)
    const ordered dirs = {{"path", path}, {"wal-dir", dir + "/member/wal"}, {"data-dir", dir}, {"snap-dir", dir + "/member/snap"}};
    err += zap_json(now, "info", "snapshot/v3_snapshot.go:296", "restoring snapshot", dirs, nullptr, true);
    for (const auto& [member, urls] : members)
      err += zap_json(now, "info", "membership/cluster.go:392", "added member",
                      {{"cluster-id", cluster_id},
                       {"local-member-id", "0"},
                       {"added-peer-id", hex_id(id_of("etcd member " + member + " " + cluster))},
                       {"added-peer-peer-urls", std::vector<std::string>(urls.begin(), urls.end())}},
                      nullptr, true);
    err += zap_json(now, "info", "snapshot/v3_snapshot.go:309", "restored snapshot", dirs, nullptr, true);
  } else {  // 3.2: etcdserver/membership logs through capnslog
    for (const auto& [member, urls] : members) {
      std::string list;
      for (const auto& u : urls) list += (list.empty() ? "" : " ") + u;
      err += capnslog(now, "etcdserver/membership",
                      "added member " + hex_id(id_of("etcd member " + member + " " + cluster)) + " [" + list + "] to cluster " +
                          cluster_id);
    }
  }
  if (dir == kEtcdDataDir && node.name == setup_.api_node) data_replaced(node.name, *data);
  return {0, "", err};
}

}  // namespace drctl::sim
