#include "capture/etcd.hpp"

#include <cctype>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "capture/section_builder.hpp"
#include "base/error.hpp"
#include "store/restorer.hpp"
#include "base/shell.hpp"
#include "base/text.hpp"

namespace drctl::capture {

using json = nlohmann::json;
using world::Command;
using world::CommandResult;
using world::Duration;
using world::Host;

namespace {

constexpr const char* kDbName = "etcd.db";
constexpr const char* kInfoName = "etcd.json";
constexpr Duration kShort = std::chrono::seconds(30);  // housekeeping commands (mktemp, rm, mv, status)

/// A duration as Go's flags take it: "3s", "1500ms".
std::string go_duration(Duration d) {
  const auto ms = d.count();
  return ms % 1000 == 0 ? std::to_string(ms / 1000) + "s" : std::to_string(ms) + "ms";
}

using text::trim;

CommandResult run(Host& host, const std::string& script, Duration timeout) {
  Command c;
  c.script = script;
  c.timeout = timeout;
  return host.run(c);
}

/// The reason in etcdctl's stderr: the innermost gRPC description of its JSON log lines
/// ("transport: authentication handshake failed: x509: ..."), else its "Error: ..." line,
/// else the last line.
std::string etcdctl_reason(const std::string& err) {
  std::string grpc, error_line, last;
  std::istringstream lines(err);
  for (std::string line; std::getline(lines, line);) {
    line = trim(line);
    if (line.empty()) continue;
    last = line;
    if (line.starts_with("Error: ")) error_line = line.substr(7);
    if (!line.starts_with("{")) continue;
    json j = json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("error") || !j["error"].is_string()) continue;
    std::string e = j["error"].get<std::string>();
    if (auto at = e.rfind("desc = "); at != std::string::npos) e = e.substr(at + 7);
    while (!e.empty() && e.front() == '"') e.erase(0, 1);
    while (!e.empty() && e.back() == '"') e.pop_back();
    const std::string balancer = "latest balancer error: ";
    if (e.starts_with(balancer)) e.erase(0, balancer.size());
    grpc = e;
  }
  if (!grpc.empty()) return grpc;
  if (!error_line.empty()) return error_line;
  return last.empty() ? "no message" : last;
}

/// What an operator should look at for a reason etcdctl gave when talking to etcd at `e`.
std::string etcdctl_hint(const std::string& reason, const EtcdEndpoint& e) {
  auto has = [&](const char* s) { return reason.find(s) != std::string::npos; };
  if (has("signed by unknown authority"))
    return "the CA file " + e.cacert + " did not sign etcd's server certificate (kubeadm: /etc/kubernetes/pki/etcd/ca.crt)";
  if (has("certificate is valid for") || has("IP SANs") || has("cannot validate certificate"))
    return "etcd's server certificate does not name this address: use one it names";
  if (has("connection refused")) return "nothing listens there: is etcd running, and is the address right?";
  if (has("bad certificate") || has("broken pipe") || has("connection reset") || has("certificate required"))
    return "etcd refused the client certificate " + e.cert + " (it must be signed by the CA etcd trusts for clients)";
  if (has("connection closed") || has("does not look like a TLS handshake"))
    return "check the scheme: https:// for an etcd with TLS, http:// without";
  if (has("no such file or directory")) return "a certificate or key file named above does not exist on the host";
  if (has("context deadline exceeded")) return "no answer within the timeout: check the address and the certificates";
  return "";
}

/// "REASON; HINT" (a hint only for commands that talk to etcd at `e`), or why a command could
/// not run at all.
std::string etcdctl_failure(const CommandResult& r, const EtcdEndpoint* e, const std::string& tool = "etcdctl") {
  if (r.timed_out) return "no answer in time (the command was killed)";
  if (r.exit_code == 127) return tool + " is not installed on the host (Debian: etcd-client)";
  std::string reason = etcdctl_reason(r.err.empty() ? r.out : r.err);
  std::string hint = e ? etcdctl_hint(reason, *e) : "";
  return hint.empty() ? reason : reason + "; " + hint;
}

std::string etcdctl(const EtcdEndpoint& e, const std::string& endpoints, Duration command_timeout) {
  std::string s = "ETCDCTL_API=3 etcdctl --endpoints=" + shell_quote(endpoints);
  if (!e.cacert.empty()) s += " --cacert=" + shell_quote(e.cacert);
  if (!e.cert.empty()) s += " --cert=" + shell_quote(e.cert);
  if (!e.key.empty()) s += " --key=" + shell_quote(e.key);
  return s + " --dial-timeout=" + go_duration(e.dial_timeout) + " --command-timeout=" + go_duration(command_timeout);
}

/// `snapshot status` or `snapshot restore` by etcdutl where it exists (etcd 3.5+), else etcdctl.
std::string snapshot_tool(const std::string& args) {
  return "if command -v etcdutl >/dev/null 2>&1; then etcdutl snapshot " + args +
         "; else ETCDCTL_API=3 etcdctl snapshot " + args + "; fi";
}

/// Removes a host directory when the scope ends, also when unwinding.
class RemoveOnExit {
 public:
  RemoveOnExit(Host& host, std::string path) : host_(host), path_(std::move(path)) {}
  RemoveOnExit(const RemoveOnExit&) = delete;
  RemoveOnExit& operator=(const RemoveOnExit&) = delete;
  ~RemoveOnExit() {
    if (path_.empty()) return;
    try {
      run(host_, "rm -rf -- " + shell_quote(path_), kShort);
    } catch (...) {  // nothing better to do while unwinding; the name says drctl made it
    }
  }

 private:
  Host& host_;
  std::string path_;
};

/// A fresh directory under `base` on the host (mode 0700), for the db on its way.
std::string make_work_dir(Host& host, const std::string& base) {
  CommandResult r = run(host, "umask 077 && mktemp -d " + shell_quote(base + "/drctl-etcd.XXXXXX"), kShort);
  std::string dir = trim(r.out);
  if (!r.ok() || dir.empty() || dir.find("drctl-etcd.") == std::string::npos)
    throw Failure("cannot make a temporary directory under " + base + " on " + host.name() + ": " +
                  trim(r.err.empty() ? r.out : r.err));
  return dir;
}

/// Size and `snapshot status` of a db file on the host.
struct DbStatus {
  std::uint64_t size = 0, revision = 0, total_keys = 0;
};

DbStatus db_status(Host& host, const std::string& path, Duration timeout) {
  CommandResult r = run(host, "wc -c < " + shell_quote(path) + " && " + snapshot_tool("status " + shell_quote(path) + " -w json"), timeout);
  if (!r.ok())
    throw Failure("the etcd snapshot " + path + " on " + host.name() + " is not readable: " +
                  etcdctl_failure(r, nullptr, "etcdutl/etcdctl"));
  std::istringstream out(r.out);
  std::string size_line, json_text;
  std::getline(out, size_line);
  std::getline(out, json_text, '\0');
  json j = json::parse(json_text, nullptr, false);
  DbStatus s;
  try {
    s.size = std::stoull(trim(size_line));
    s.revision = j.at("revision").get<std::uint64_t>();
    s.total_keys = j.at("totalKey").get<std::uint64_t>();
  } catch (const std::exception&) {
    throw Failure("unexpected output of `snapshot status` for " + path + " on " + host.name() + ": " + trim(r.out));
  }
  return s;
}

/// Now, as ISO 8601 UTC to the second and as nanoseconds since the epoch.
std::pair<std::string, std::int64_t> now_utc() {
  auto now = std::chrono::system_clock::now();
  std::int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ns / 1000000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return {buf, ns};
}

/// The endpoint that answered first and its server version, from `endpoint status -w json`.
std::pair<std::string, std::string> answering_endpoint(Host& host, const EtcdEndpoint& e) {
  const Duration command_timeout = e.dial_timeout * 2;
  CommandResult r = run(host, etcdctl(e, e.endpoints, command_timeout) + " endpoint status -w json",
                        command_timeout + std::chrono::seconds(10));
  json status = json::parse(r.out, nullptr, false);
  if (status.is_array())
    for (const auto& entry : status) {
      if (!entry.is_object() || !entry.contains("Status") || !entry["Status"].is_object()) continue;
      std::string version = entry["Status"].value("version", "");
      if (!version.empty()) return {entry.value("Endpoint", e.endpoints), version};
    }
  throw Failure("cannot reach etcd at " + e.endpoints + " from " + host.name() + " (dial timeout " +
                go_duration(e.dial_timeout) + "): " + etcdctl_failure(r, &e));
}

}  // namespace

std::optional<EtcdVersion> parse_etcd_version(std::string_view text) {
  std::string t(text);
  // In tool output, the value of the first "... version: X" line (etcd --version says "etcd Version: 3.4.23").
  std::istringstream lines(t);
  for (std::string line; std::getline(lines, line);) {
    std::string lower = line;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto at = lower.find("version:"); at != std::string::npos && lower.find("api version") == std::string::npos) {
      t = trim(line.substr(at + 8));
      break;
    }
  }
  t = trim(t);
  if (t.starts_with('v') || t.starts_with('V')) t.erase(0, 1);
  // MAJOR.MINOR[.PATCH], digits only; the patch may be left out ("3.4" reads as 3.4.0).
  EtcdVersion v;
  int* fields[] = {&v.major, &v.minor, &v.patch};
  std::size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    if (i > 0) {
      if (at >= t.size() || t[at] != '.') {
        if (i == 2) break;
        return std::nullopt;
      }
      ++at;
    }
    std::size_t start = at;
    while (at < t.size() && std::isdigit(static_cast<unsigned char>(t[at]))) ++at;
    if (at == start || at - start > 6) return std::nullopt;
    *fields[i] = std::stoi(t.substr(start, at - start));
  }
  while (at < t.size() && !std::isspace(static_cast<unsigned char>(t[at]))) ++at;  // "-rc.1", "+git"
  v.text = t.substr(0, at);
  return v;
}

std::string EtcdSnapshotInfo::to_json() const {
  json j = {{"etcd_version", etcd_version}, {"taken_at", taken_at}, {"host", host},         {"endpoint", endpoint},
            {"size", size},                 {"sha256", sha256},     {"revision", revision}, {"total_keys", total_keys}};
  return j.dump(2) + "\n";
}

EtcdSnapshotInfo EtcdSnapshotInfo::from_json(const std::string& text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("etcd_version") || !j["etcd_version"].is_string())
    throw InputError(what + " is not an etcd snapshot's etcd.json (it needs a string \"etcd_version\")");
  EtcdSnapshotInfo info;
  try {
    info.etcd_version = j["etcd_version"].get<std::string>();
    info.taken_at = j.value("taken_at", "");
    info.host = j.value("host", "");
    info.endpoint = j.value("endpoint", "");
    info.size = j.value("size", std::uint64_t{0});
    info.sha256 = j.value("sha256", "");
    info.revision = j.value("revision", std::uint64_t{0});
    info.total_keys = j.value("total_keys", std::uint64_t{0});
  } catch (const json::exception& e) {
    throw InputError(what + " has a field of the wrong type: " + e.what());
  }
  return info;
}

// ---- saving -------------------------------------------------------------------------------------------------

EtcdFiles etcd_snapshot_files(Host& host, const EtcdEndpoint& endpoint, store::Repository& repo, Progress& progress,
                              const EtcdSaveOptions& options) {
  auto [chosen, server_version] = answering_endpoint(host, endpoint);
  if (!parse_etcd_version(server_version))
    throw Failure("etcd at " + chosen + " reports the version \"" + server_version + "\", which drctl cannot read");
  const auto [taken_at, taken_ns] = now_utc();

  const std::string dir = make_work_dir(host, options.work_dir);
  RemoveOnExit cleanup(host, dir);
  const std::string db = dir + "/" + kDbName;
  CommandResult saved = run(host, etcdctl(endpoint, chosen, options.timeout) + " snapshot save " + shell_quote(db),
                            options.timeout + std::chrono::seconds(30));
  if (!saved.ok())
    throw Failure("etcdctl snapshot save from " + chosen + " on " + host.name() + " failed: " +
                  etcdctl_failure(saved, &endpoint));
  const DbStatus status = db_status(host, db, options.timeout);

  FileWriter writer(repo, progress);
  Command cat;
  cat.script = "cat -- " + shell_quote(db);
  cat.timeout = options.timeout;
  CommandResult streamed = host.run_stream(cat, [&](const char* data, std::size_t size) { writer.write(data, size); });
  if (!streamed.ok())
    throw Failure("cannot read " + db + " back from " + host.name() + ": " +
                  (streamed.timed_out ? "timed out" : trim(streamed.err)));
  if (writer.size() != status.size)
    throw Failure("received " + std::to_string(writer.size()) + " bytes of " + db + " from " + host.name() +
                  ", but the file has " + std::to_string(status.size));

  EtcdFiles files;
  files.info.etcd_version = parse_etcd_version(server_version)->text;
  files.info.taken_at = taken_at;
  files.info.host = host.name();
  files.info.endpoint = chosen;
  files.info.size = status.size;
  files.info.revision = status.revision;
  files.info.total_keys = status.total_keys;
  files.db = writer.finish(kDbName, 0600, taken_ns, &files.info.sha256);
  files.meta = file_node(repo, progress, kInfoName, files.info.to_json(), 0600, taken_ns);
  return files;
}

void add_etcd_files(store::Repository& repo, store::Section& section, const EtcdFiles& files) {
  add_to_section(repo, section, {files.db, files.meta});
}

store::Section capture_etcd(Host& host, const EtcdEndpoint& endpoint, store::Repository& repo, const std::string& name,
                            Progress& progress, const EtcdSaveOptions& options) {
  EtcdFiles files = etcd_snapshot_files(host, endpoint, repo, progress, options);
  return make_section(repo, name, host.name() + ": etcd " + files.info.endpoint, {files.db, files.meta},
                      files.db.mtime_ns);
}

// ---- restoring ----------------------------------------------------------------------------------------------

EtcdSnapshotSource etcd_source_from_section(const store::Repository& repo, const store::Section& section,
                                            const std::string& description) {
  std::optional<std::string> meta = read_section_file(repo, section, kInfoName);
  std::optional<store::Node> db = store::find_node(repo, section.tree, kDbName);
  if (!meta || !db || db->type != store::NodeType::File)
    throw InputError(description + " holds no etcd snapshot (it needs the files etcd.db and etcd.json)");
  EtcdSnapshotSource source;
  source.description = description;
  source.info = EtcdSnapshotInfo::from_json(*meta, description + ": etcd.json");
  source.read = file_reader(repo, *db);
  return source;
}

EtcdSnapshotSource etcd_source_from_file(const std::string& path, const std::string& etcd_version) {
  auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
  if (!*in) throw InputError("cannot open the etcd snapshot " + path);
  EtcdSnapshotSource source;
  source.description = path;
  if (!etcd_version.empty()) {
    source.info.etcd_version = etcd_version;
  } else {
    const std::string meta_path = (std::filesystem::path(path).parent_path() / kInfoName).string();
    std::ifstream meta(meta_path, std::ios::binary);
    if (!meta)
      throw InputError("the etcd version of " + path + " is unknown: there is no " + meta_path +
                       " beside it; give the version of the etcd it was taken from");
    std::string text((std::istreambuf_iterator<char>(meta)), std::istreambuf_iterator<char>());
    source.info = EtcdSnapshotInfo::from_json(text, meta_path);
  }
  source.read = [in, path]() -> std::string {
    std::string piece(1 << 20, '\0');
    in->read(piece.data(), static_cast<std::streamsize>(piece.size()));
    if (in->bad()) throw Failure("cannot read the etcd snapshot " + path);
    piece.resize(static_cast<std::size_t>(in->gcount()));
    return piece;
  };
  return source;
}

namespace {

constexpr const char* kKubeadmEtcdManifest = "/etc/kubernetes/manifests/etcd.yaml";

/// The version of the etcd that will serve the restored data, and how it was learnt.
std::pair<EtcdVersion, std::string> host_etcd_version(Host& host, const EtcdRestoreOptions& o) {
  if (!o.etcd_version.empty()) {
    auto v = parse_etcd_version(o.etcd_version);
    if (!v) throw InputError("the etcd version \"" + o.etcd_version + "\" is not a version like 3.4.23");
    return {*v, "given"};
  }
  // A kubeadm control plane runs etcd from an image: its static pod names the release, which the
  // node's own etcd-client (Ubuntu 20.04's is 3.2.26) need not match. The manifest comes first,
  // then what the node's tools say (used when the manifest is missing or names no tag).
  const std::string manifest = kKubeadmEtcdManifest;
  CommandResult r = run(host,
                        "if [ -r " + manifest + " ]; then echo 'kubeadm etcd.yaml'; cat " + manifest +
                            "; echo; echo '-- drctl --'; elif [ -e " + manifest +
                            " ]; then echo 'kubeadm etcd.yaml unreadable'; echo '-- drctl --'; fi; "
                            "if command -v etcd >/dev/null 2>&1; then echo 'etcd --version'; etcd --version; "
                            "elif command -v etcdutl >/dev/null 2>&1; then echo 'etcdutl version'; etcdutl version; "
                            "elif command -v etcdctl >/dev/null 2>&1; then echo 'etcdctl version'; ETCDCTL_API=3 etcdctl version; "
                            "else echo none; fi",
                        kShort);
  std::string text = r.out, note;
  const std::string separator = "\n-- drctl --\n";
  if (const auto sep = text.find(separator); sep != std::string::npos) {
    const std::string head = text.substr(0, sep);
    text = text.substr(sep + separator.size());
    if (head.starts_with("kubeadm etcd.yaml unreadable")) {
      note = "; " + manifest + " is not readable (as root it names the etcd that serves the data)";
    } else {
      // `image: registry.k8s.io/etcd:3.5.9-0`: the tag without kubeadm's "-0" build suffix.
      std::istringstream lines(head);
      for (std::string line; std::getline(lines, line);) {
        const auto image = line.find("image:");
        const auto tag = line.find("etcd:", image == std::string::npos ? 0 : image);
        if (image == std::string::npos || tag == std::string::npos) continue;
        std::string version = trim(line.substr(tag + 5));
        version = version.substr(0, version.find('-'));
        if (auto v = parse_etcd_version(version)) return {*v, "the etcd image of " + manifest};
      }
      note = "; " + manifest + " names no etcd release";
    }
  }
  std::istringstream out(text);
  std::string from, rest;
  std::getline(out, from);
  std::getline(out, rest, '\0');
  if (from == "none")
    throw Failure("cannot tell which etcd will serve the restored data on " + host.name() +
                  ": it has no etcd, etcdutl or etcdctl" + note + "; give the etcd version (kubeadm: the etcd image's tag)");
  auto v = parse_etcd_version(rest);
  if (!r.ok() || !v)
    throw Failure("cannot read the etcd version on " + host.name() + " from `" + from + "`: " +
                  trim(r.err.empty() ? text : r.err));
  return {*v, from + note};
}

std::string strip_trailing_slashes(std::string s) {
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

}  // namespace

EtcdRestoreResult etcd_snapshot_restore(Host& host, EtcdSnapshotSource& source, const EtcdRestoreOptions& o) {
  const std::string data_dir = strip_trailing_slashes(o.data_dir);
  if (data_dir.empty() || data_dir.front() != '/' || data_dir == "/")
    throw InputError("the etcd data dir must be an absolute path other than /, not \"" + o.data_dir + "\"");
  if (o.name.empty()) throw InputError("the restored etcd member needs a name (--name; kubeadm: the node's name)");
  if (o.initial_advertise_peer_urls.empty())
    throw InputError("the restored etcd member needs its peer URL (--initial-advertise-peer-urls, e.g. https://IP:2380)");
  const std::string initial_cluster =
      o.initial_cluster.empty() ? o.name + "=" + o.initial_advertise_peer_urls : o.initial_cluster;

  EtcdRestoreResult result;
  result.data_dir = data_dir;
  auto snap = parse_etcd_version(source.info.etcd_version);
  if (!snap)
    throw InputError(source.description + " records no readable etcd version (\"" + source.info.etcd_version + "\")");
  auto [here, from] = host_etcd_version(host, o);
  result.snapshot_version = snap->text;
  result.host_version = here.text;
  result.host_version_from = from;
  if (snap->major_minor() != here.major_minor())
    throw InputError("refusing to restore " + source.description + ": it was taken from etcd " + snap->text +
                     " but the etcd on " + host.name() + " is " + here.text + " (" + from + "); etcd " +
                     snap->major_minor() + " and " + here.major_minor() +
                     " differ, and a snapshot is restored only by the major.minor version it came from: use etcd " +
                     snap->major_minor() + " on " + host.name() + ", or a snapshot taken from etcd " +
                     here.major_minor());

  CommandResult state = run(host,
                            "D=" + shell_quote(data_dir) +
                                "; if [ -L \"$D\" ] || { [ -e \"$D\" ] && [ ! -d \"$D\" ]; }; then echo other; "
                                "elif [ ! -e \"$D\" ]; then echo absent; "
                                "elif [ -z \"$(ls -A \"$D\")\" ]; then echo empty; else echo full; fi",
                            kShort);
  const std::string existing = trim(state.out);
  if (!state.ok() || (existing != "absent" && existing != "empty" && existing != "full" && existing != "other"))
    throw Failure("cannot look at " + data_dir + " on " + host.name() + ": " + trim(state.err));
  if (existing == "other")
    throw InputError(data_dir + " on " + host.name() + " exists and is not a directory; refusing to restore etcd there");
  if (existing == "full" && !o.replace_existing)
    throw InputError("the etcd data dir " + data_dir + " on " + host.name() +
                     " exists and is not empty; refusing to overwrite it (stop etcd and move it away, or ask to "
                     "replace it: it is then kept as " + data_dir + ".replaced-TIME)");

  const std::string dir = make_work_dir(host, o.work_dir);
  RemoveOnExit cleanup(host, dir);
  const std::string db = dir + "/" + kDbName;
  Command put;
  put.script = "cat > " + shell_quote(db);
  put.timeout = o.timeout;
  auto read = [&]() {
    std::string piece = source.read();
    result.bytes += piece.size();
    return piece;
  };
  CommandResult sent = host.run_stream(put, [](const char*, std::size_t) {}, read);
  if (!sent.ok())
    throw Failure("cannot put " + source.description + " on " + host.name() + " as " + db + ": " +
                  (sent.timed_out ? "timed out" : trim(sent.err)));
  if (source.info.size != 0 && result.bytes != source.info.size)
    throw Failure(source.description + " has " + std::to_string(result.bytes) + " bytes, but etcd.json records " +
                  std::to_string(source.info.size));
  const DbStatus status = db_status(host, db, o.timeout);
  result.revision = status.revision;
  result.total_keys = status.total_keys;

  const std::string fresh = data_dir + ".drctl-restore";
  RemoveOnExit cleanup_fresh(host, fresh);
  const std::string parent = std::filesystem::path(data_dir).parent_path().string();
  CommandResult restored =
      run(host,
          "mkdir -p -- " + shell_quote(parent) + " && rm -rf -- " + shell_quote(fresh) + " && " +
              snapshot_tool("restore " + shell_quote(db) + " --data-dir=" + shell_quote(fresh) + " --name=" + shell_quote(o.name) +
                            " --initial-cluster=" + shell_quote(initial_cluster) + " --initial-cluster-token=" +
                            shell_quote(o.initial_cluster_token) + " --initial-advertise-peer-urls=" +
                            shell_quote(o.initial_advertise_peer_urls)),
          o.timeout);
  if (!restored.ok())
    throw Failure("etcd snapshot restore of " + source.description + " into " + fresh + " on " + host.name() +
                  " failed: " + etcdctl_failure(restored, nullptr, "etcdutl/etcdctl"));

  std::string swap = "mv -- " + shell_quote(fresh) + " " + shell_quote(data_dir);
  if (existing == "empty") swap = "rmdir -- " + shell_quote(data_dir) + " && " + swap;
  if (existing == "full") {
    std::string stamp = now_utc().first;
    for (char& c : stamp)
      if (c == ':') c = '-';
    result.replaced_dir = data_dir + ".replaced-" + stamp;
    swap = "mv -- " + shell_quote(data_dir) + " " + shell_quote(result.replaced_dir) + " && " + swap;
  }
  CommandResult moved = run(host, swap, kShort);
  if (!moved.ok())
    throw Failure("cannot move the restored data into " + data_dir + " on " + host.name() + ": " + trim(moved.err));
  return result;
}

}  // namespace drctl::capture
