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
                   std::function<void(const json& objects)> restart)
    : engine_(engine), setup_(setup), store_(store), nodes_(nodes), restart_(std::move(restart)) {}

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
  return std::string(kSnapshotMagic) + "\netcd-version: " + kEtcdVersion + "\nrevision: " + std::to_string(store_.revision()) +
         "\nkeys: " + std::to_string(store_.objects().size()) + "\n\n" + objs.dump();
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
  std::string serving;  // the node whose address this is
  if (host == "127.0.0.1" || host == "localhost" || host == "::1") {
    serving = node.name;
  } else {
    for (const auto& [name, n] : nodes_.states())
      if (n.address == host) serving = name;
  }
  if (serving.empty())
    return "connection error: desc = \"transport: Error while dialing dial tcp " + target + ": i/o timeout\"";
  if (serving != setup_.api_node || !up() || port != "2379")
    return "connection error: desc = \"transport: Error while dialing dial tcp " + target + ": connect: connection refused\"";
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
  if (!signed_by_etcd || key.empty())
    return "connection error: desc = \"error reading server preface: remote error: tls: bad certificate\"";
  return "";
}

nlohmann::ordered_json KubeEtcd::endpoint_status() const {
  const std::uint64_t member = id_of("etcd member " + setup_.api_node + " " + setup_.ca);
  const auto size = static_cast<std::uint64_t>(snapshot_data().size());
  return {{"header",
           {{"cluster_id", id_of("etcd cluster " + setup_.ca)},
            {"member_id", member},
            {"revision", store_.revision()},
            {"raft_term", static_cast<std::uint64_t>(2)}}},
          {"version", kEtcdVersion},
          {"dbSize", size},
          {"leader", member},
          {"raftIndex", store_.revision() + 4},
          {"raftTerm", static_cast<std::uint64_t>(2)},
          {"raftAppliedIndex", store_.revision() + 4},
          {"dbSizeInUse", size}};
}

KubeResult KubeEtcd::etcdctl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
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
    const std::string why = dial_error(node, endpoints[0], a.get("--cacert"), a.get("--cert"), a.get("--key"), files);
    if (!why.empty()) {
      engine_.log("kube", "etcd-snapshot-failed", {{"node", node.name}, {"endpoint", endpoints[0]}, {"reason", why}});
      wait(timeout("--dial-timeout", "2s"));
      return fail("Error: context deadline exceeded\n");
    }
    const std::string& path = pos[2];
    const std::string data = snapshot_data();
    files.write(path, data, 0600);
    engine_.log("kube", "etcd-snapshot-saved", {{"node", node.name}, {"file", path}, {"keys", store_.objects().size()}});
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
    const std::string why = dial_error(node, ep, a.get("--cacert"), a.get("--cert"), a.get("--key"), files);
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

KubeResult KubeEtcd::etcdutl(const KubeNode& node, const std::vector<std::string>& argv, const KubeFiles& files) {
  Args a = parse_args(argv, first_arg(argv, "etcdutl"), kEtcdValueFlags, kEtcdBoolFlags, {{"-w", "--write-out"}});
  if (!a.error.empty()) return fail("Error: " + a.error + "\n");
  const auto& pos = a.positional;
  const std::string cmd = pos.empty() ? "" : pos[0], sub = pos.size() > 1 ? pos[1] : "";
  if (cmd == "version") return {0, std::string("etcdutl version: ") + kEtcdVersion + "\nAPI version: 3.5\n", ""};
  if (cmd == "snapshot" && sub == "status") return snapshot_status(pos, files, a.get("--write-out", "simple"));
  if (cmd == "snapshot" && sub == "restore") return snapshot_restore(node, argv, files, false);
  return fail("sim: etcdutl supports version, snapshot status FILE, snapshot restore FILE --data-dir DIR\n");
}

KubeResult KubeEtcd::etcd(const std::vector<std::string>& argv) const {
  const std::size_t i = first_arg(argv, "etcd");
  if (i < argv.size() && argv.size() == i + 1 && argv[i] == "--version")
    return {0, std::string("etcd Version: ") + kEtcdVersion + "\nGit SHA: " + kEtcdGitSha + "\nGo Version: " + kEtcdGo +
                   "\nGo OS/Arch: linux/amd64\n",
            ""};
  return fail("sim: etcd: only `etcd --version` is modelled (the cluster's etcd runs as kubeadm's static pod)\n");
}

KubeResult KubeEtcd::snapshot_status(const std::vector<std::string>& pos, const KubeFiles& files,
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

KubeResult KubeEtcd::snapshot_restore(const KubeNode& node, const std::vector<std::string>& argv,
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
  if (dir == kEtcdDataDir && node.name == setup_.api_node) data_replaced(node.name, *data);
  return {0, note, err};
}


}  // namespace drctl::sim
