// etcd snapshots against a scripted Host: version parsing, the etcdctl commands drctl builds
// (quoting, timeouts, the endpoint that answered), how etcdctl's errors are explained, the
// temporary directory removed also on failure, and the restore's refusals and steps.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "capture/etcd.hpp"
#include "capture/section_builder.hpp"
#include "capture/tar_stream.hpp"
#include "base/error.hpp"
#include "support/fs_tree.hpp"

using namespace drctl;
using namespace drctl::capture;

namespace {

/// A host that answers commands by the first rule whose text occurs in the script, and
/// records every script (and its stdin).
class ScriptedHost : public world::Host {
 public:
  struct Rule {
    std::string contains;
    world::CommandResult result;
  };
  std::vector<Rule> rules;
  std::vector<std::string> scripts, stdins;

  const std::string& name() const override { return name_; }
  world::CommandResult run(const world::Command& c) override {
    scripts.push_back(c.script);
    stdins.push_back(c.stdin_data);
    for (const auto& rule : rules)
      if (c.script.find(rule.contains) != std::string::npos) return rule.result;
    world::CommandResult r;
    r.exit_code = 127;
    r.err = "sh: unexpected command";
    return r;
  }
  void put_file(const std::string&, const std::string&, unsigned) override {}
  std::optional<std::string> get_file(const std::string&) override { return std::nullopt; }

  void on(const std::string& contains, int exit_code, const std::string& out = "", const std::string& err = "") {
    world::CommandResult r;
    r.exit_code = exit_code;
    r.out = out;
    r.err = err;
    rules.push_back({contains, r});
  }
  /// The first recorded script containing `text`, or "".
  std::string script(const std::string& text) const {
    for (const auto& s : scripts)
      if (s.find(text) != std::string::npos) return s;
    return "";
  }
  bool ran(const std::string& text) const { return !script(text).empty(); }

 private:
  std::string name_ = "cp1";
};

const std::string kWork = "/var/tmp/drctl-etcd.Ab12Cd";

/// A control-plane node whose etcd answers and whose snapshot is `db`.
void healthy_etcd(ScriptedHost& host, const std::string& db, const std::string& status_out) {
  host.on("endpoint status", 0, status_out);
  host.on("mktemp -d", 0, kWork + "\n");
  host.on("snapshot save", 0, "", "{\"level\":\"info\",\"msg\":\"saved\"}\nSnapshot saved at " + kWork + "/etcd.db\n");
  host.on("wc -c", 0, std::to_string(db.size()) + "\n{\"hash\":1,\"revision\":7,\"totalKey\":50,\"totalSize\":1}\n");
  host.on("cat -- ", 0, db);
  host.on("rm -rf", 0);
}

const std::string kOneEndpoint =
    "[{\"Endpoint\":\"https://127.0.0.1:2379\",\"Status\":{\"header\":{\"revision\":7},\"version\":\"3.4.23\"}}]\n";

// What etcdctl 3.4.23 writes when the CA is not the one that signed etcd's certificate.
const std::string kUnknownAuthority =
    "{\"level\":\"warn\",\"ts\":\"2026-11-26T17:12:23.724Z\",\"caller\":\"clientv3/retry_interceptor.go:62\","
    "\"msg\":\"retrying of unary invoker failed\",\"target\":\"passthrough:///https://127.0.0.1:2379\",\"attempt\":0,"
    "\"error\":\"rpc error: code = DeadlineExceeded desc = latest balancer error: connection error: desc = "
    "\\\"transport: authentication handshake failed: x509: certificate signed by unknown authority\\\"\"}\n"
    "Failed to get the status of endpoint https://127.0.0.1:2379 (context deadline exceeded)\n";

struct Repo {
  support::TempDir tmp{"etcd-unit"};
  std::unique_ptr<store::Repository> repo;
  Progress progress;
  Repo() {
    store::Repository::init(tmp / "repo", store::RepoConfig{});
    repo = std::make_unique<store::Repository>(tmp / "repo");
  }
};

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  FAIL("no exception");
  return "";
}

}  // namespace

TEST_CASE("etcd: versions are read from plain text and from the tools' output") {
  auto v = parse_etcd_version("3.4.23");
  REQUIRE(v);
  CHECK(v->major == 3);
  CHECK(v->minor == 4);
  CHECK(v->patch == 23);
  CHECK(v->text == "3.4.23");
  CHECK(v->major_minor() == "3.4");
  CHECK(parse_etcd_version("v3.5.9")->text == "3.5.9");
  CHECK(parse_etcd_version(" 3.5.9\n")->major_minor() == "3.5");
  CHECK(parse_etcd_version("3.6.0-rc.1")->text == "3.6.0-rc.1");
  CHECK(parse_etcd_version("3.6.0-rc.1")->major_minor() == "3.6");
  CHECK(parse_etcd_version("3.4")->patch == 0);
  CHECK(parse_etcd_version("etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n")->text == "3.4.23");
  CHECK(parse_etcd_version("etcdctl version: 3.4.23\nAPI version: 3.4\n")->text == "3.4.23");
  CHECK(parse_etcd_version("etcdutl version: 3.5.9\nAPI version: 3.5\n")->text == "3.5.9");
  CHECK_FALSE(parse_etcd_version(""));
  CHECK_FALSE(parse_etcd_version("3"));
  CHECK_FALSE(parse_etcd_version("three.four"));
  CHECK_FALSE(parse_etcd_version("API version: 3.4"));
  CHECK_FALSE(parse_etcd_version("3..4"));
}

TEST_CASE("etcd: a snapshot streams from the host into a section with etcd.json beside it") {
  Repo r;
  ScriptedHost host;
  const std::string db = support::Rng(3).bytes(5 * support::MiB + 17);  // more than one chunk
  healthy_etcd(host, db, kOneEndpoint);
  EtcdEndpoint e;
  e.cacert = "/etc/my pki/ca.crt";  // quoted for the shell
  EtcdSaveOptions options;
  options.timeout = std::chrono::minutes(5);

  store::Section section = capture_etcd(host, e, *r.repo, "kube", r.progress, options);
  r.repo->flush();
  CHECK(section.name == "kube");
  CHECK(section.files == 2);
  CHECK(section.bytes > db.size());
  auto files = section_files(*r.repo, section);
  REQUIRE(files.size() == 2);
  CHECK(files["etcd.db"] == db);
  auto info = EtcdSnapshotInfo::from_json(files["etcd.json"], "etcd.json");
  CHECK(info.etcd_version == "3.4.23");
  CHECK(info.host == "cp1");
  CHECK(info.endpoint == "https://127.0.0.1:2379");
  CHECK(info.size == db.size());
  CHECK(info.revision == 7);
  CHECK(info.total_keys == 50);
  CHECK(info.sha256 == store::sha256(db).hex());
  CHECK(info.taken_at.size() == 20);

  const std::string status = host.script("endpoint status");
  CHECK(status.find("ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379") == 0);
  CHECK(status.find("--cacert='/etc/my pki/ca.crt'") != std::string::npos);
  CHECK(status.find("--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt") != std::string::npos);
  CHECK(status.find("--key=/etc/kubernetes/pki/etcd/healthcheck-client.key") != std::string::npos);
  CHECK(status.find("--dial-timeout=3s --command-timeout=6s") != std::string::npos);
  CHECK(host.script("mktemp").find("/var/tmp/drctl-etcd.XXXXXX") != std::string::npos);
  const std::string save = host.script("snapshot save");
  CHECK(save.find("--command-timeout=300s snapshot save " + kWork + "/etcd.db") != std::string::npos);
  CHECK(host.scripts.back() == "rm -rf -- " + kWork);
}

TEST_CASE("etcd: with several endpoints the snapshot is read from the first that answers") {
  Repo r;
  ScriptedHost host;
  healthy_etcd(host, "db",
               "[{\"Endpoint\":\"https://10.0.0.2:2379\",\"Status\":{\"version\":\"3.5.9\"}}]\n");
  host.rules.front().result.exit_code = 1;  // the first endpoint did not answer
  host.rules.front().result.err = "Failed to get the status of endpoint https://10.0.0.1:2379 (context deadline exceeded)\n";
  EtcdEndpoint e;
  e.endpoints = "https://10.0.0.1:2379,https://10.0.0.2:2379";
  EtcdFiles files = etcd_snapshot_files(host, e, *r.repo, r.progress);
  CHECK(files.info.endpoint == "https://10.0.0.2:2379");
  CHECK(files.info.etcd_version == "3.5.9");
  CHECK(host.script("endpoint status").find("--endpoints=https://10.0.0.1:2379,https://10.0.0.2:2379") !=
        std::string::npos);
  CHECK(host.script("snapshot save").find("--endpoints=https://10.0.0.2:2379") != std::string::npos);
}

TEST_CASE("etcd: a TLS mistake is reported with the endpoint, etcdctl's reason and what to check") {
  Repo r;
  ScriptedHost host;
  host.on("endpoint status", 1, "[]\n", kUnknownAuthority);
  EtcdEndpoint e;
  e.dial_timeout = std::chrono::milliseconds(1500);
  std::string m = message_of([&] { capture_etcd(host, e, *r.repo, "kube", r.progress); });
  CHECK(m == "cannot reach etcd at https://127.0.0.1:2379 from cp1 (dial timeout 1500ms): transport: authentication "
             "handshake failed: x509: certificate signed by unknown authority; the CA file "
             "/etc/kubernetes/pki/etcd/ca.crt did not sign etcd's server certificate (kubeadm: "
             "/etc/kubernetes/pki/etcd/ca.crt)");
  CHECK_FALSE(host.ran("mktemp"));  // nothing to clean up

  ScriptedHost refused;
  refused.on("endpoint status", 1, "[]\n",
             "{\"level\":\"warn\",\"error\":\"rpc error: code = DeadlineExceeded desc = latest balancer error: "
             "connection error: desc = \\\"transport: Error while dialing dial tcp 127.0.0.1:2379: connect: connection "
             "refused\\\"\"}\n");
  CHECK(message_of([&] { capture_etcd(refused, e, *r.repo, "kube", r.progress); })
            .ends_with("connect: connection refused; nothing listens there: is etcd running, and is the address right?"));

  ScriptedHost missing;
  missing.on("endpoint status", 127, "", "sh: 1: etcdctl: not found\n");
  CHECK(message_of([&] { capture_etcd(missing, e, *r.repo, "kube", r.progress); })
            .ends_with("etcdctl is not installed on the host (Debian: etcd-client)"));

  ScriptedHost no_key;
  no_key.on("endpoint status", 128, "", "Error: open /etc/kubernetes/pki/etcd/healthcheck-client.key: no such file or directory\n");
  CHECK(message_of([&] { capture_etcd(no_key, e, *r.repo, "kube", r.progress); })
            .find("open /etc/kubernetes/pki/etcd/healthcheck-client.key: no such file or directory; a certificate or "
                  "key file named above does not exist") != std::string::npos);
}

TEST_CASE("etcd: the temporary snapshot is removed when saving or reading it back fails") {
  Repo r;
  SUBCASE("save fails") {
    ScriptedHost host;
    host.on("endpoint status", 0, kOneEndpoint);
    host.on("mktemp -d", 0, kWork + "\n");
    host.on("snapshot save", 5, "", "Error: context deadline exceeded\n");
    host.on("rm -rf", 0);
    std::string m = message_of([&] { capture_etcd(host, EtcdEndpoint{}, *r.repo, "kube", r.progress); });
    CHECK(m.starts_with("etcdctl snapshot save from https://127.0.0.1:2379 on cp1 failed: context deadline exceeded"));
    CHECK(host.scripts.back() == "rm -rf -- " + kWork);
  }
  SUBCASE("fewer bytes come back than the file has") {
    ScriptedHost host;
    healthy_etcd(host, "0123456789", kOneEndpoint);
    host.rules[4].result.out = "01234";  // cat
    std::string m = message_of([&] { capture_etcd(host, EtcdEndpoint{}, *r.repo, "kube", r.progress); });
    CHECK(m == "received 5 bytes of " + kWork + "/etcd.db from cp1, but the file has 10");
    CHECK(host.scripts.back() == "rm -rf -- " + kWork);
  }
  SUBCASE("the file is not a snapshot") {
    ScriptedHost host;
    healthy_etcd(host, "db", kOneEndpoint);
    host.rules[3].result.exit_code = 1;  // wc + snapshot status
    host.rules[3].result.err = "Error: invalid database\n";
    std::string m = message_of([&] { capture_etcd(host, EtcdEndpoint{}, *r.repo, "kube", r.progress); });
    CHECK(m == "the etcd snapshot " + kWork + "/etcd.db on cp1 is not readable: invalid database");
    CHECK(host.scripts.back() == "rm -rf -- " + kWork);
  }
}

namespace {

/// A section holding a fake db recorded as taken from etcd `version`.
store::Section etcd_section(Repo& r, const std::string& db, const std::string& version) {
  EtcdSnapshotInfo info;
  info.etcd_version = version;
  info.size = db.size();
  store::Section s = make_section(*r.repo, "kube", "test",
                                  {file_node(*r.repo, r.progress, "etcd.db", db, 0600, 0),
                                   file_node(*r.repo, r.progress, "etcd.json", info.to_json(), 0600, 0)},
                                  0);
  r.repo->flush();
  return s;
}

EtcdRestoreOptions restore_options() {
  EtcdRestoreOptions o;
  o.data_dir = "/var/lib/etcd/";
  o.name = "cp1";
  o.initial_advertise_peer_urls = "https://10.0.30.11:2380";
  return o;
}

/// A node with etcd `version` whose data dir is in `state` (absent, empty, full).
void restore_host(ScriptedHost& host, const std::string& version, const std::string& state) {
  host.on("command -v etcd ", 0, "etcd --version\netcd Version: " + version + "\nGit SHA: x\n");
  host.on("ls -A", 0, state + "\n");
  host.on("mktemp -d", 0, kWork + "\n");
  host.on("cat > ", 0);
  host.on("wc -c", 0, "2\n{\"hash\":1,\"revision\":9,\"totalKey\":3,\"totalSize\":2}\n");
  host.on("snapshot restore", 0);
  host.on("mv -- ", 0);
  host.on("rm -rf -- ", 0);
}

}  // namespace

TEST_CASE("etcd: a restore puts the db on the host, restores beside the data dir and moves it into place") {
  Repo r;
  store::Section section = etcd_section(r, "db", "3.4.23");
  ScriptedHost host;
  restore_host(host, "3.4.23", "absent");
  EtcdSnapshotSource source = etcd_source_from_section(*r.repo, section, "section kube");
  EtcdRestoreResult result = etcd_snapshot_restore(host, source, restore_options());
  CHECK(result.data_dir == "/var/lib/etcd");
  CHECK(result.snapshot_version == "3.4.23");
  CHECK(result.host_version == "3.4.23");
  CHECK(result.host_version_from == "etcd --version");
  CHECK(result.bytes == 2);
  CHECK(result.revision == 9);
  CHECK(result.total_keys == 3);
  CHECK(result.replaced_dir.empty());

  REQUIRE(host.ran("cat > " + kWork + "/etcd.db"));
  for (std::size_t i = 0; i < host.scripts.size(); ++i)
    if (host.scripts[i].starts_with("cat > ")) CHECK(host.stdins[i] == "db");
  const std::string restore = host.script("snapshot restore");
  CHECK(restore.find("mkdir -p -- /var/lib && rm -rf -- /var/lib/etcd.drctl-restore && ") == 0);
  CHECK(restore.find("if command -v etcdutl >/dev/null 2>&1; then etcdutl snapshot restore " + kWork +
                     "/etcd.db --data-dir=/var/lib/etcd.drctl-restore --name=cp1 "
                     "--initial-cluster=cp1=https://10.0.30.11:2380 --initial-cluster-token=etcd-cluster "
                     "--initial-advertise-peer-urls=https://10.0.30.11:2380; else ETCDCTL_API=3 etcdctl snapshot "
                     "restore") != std::string::npos);
  CHECK(host.script("mv -- ") == "mv -- /var/lib/etcd.drctl-restore /var/lib/etcd");
  // Both temporary places are removed at the end, the restore's first.
  REQUIRE(host.scripts.size() >= 2);
  CHECK(host.scripts[host.scripts.size() - 2] == "rm -rf -- /var/lib/etcd.drctl-restore");
  CHECK(host.scripts.back() == "rm -rf -- " + kWork);
}

TEST_CASE("etcd: a restore refuses another major.minor version before sending anything") {
  Repo r;
  store::Section section = etcd_section(r, "db", "3.5.9");
  ScriptedHost host;
  restore_host(host, "3.4.23", "absent");
  EtcdSnapshotSource source = etcd_source_from_section(*r.repo, section, "section kube of snapshot 1a2b3c4d");
  std::string m = message_of([&] { etcd_snapshot_restore(host, source, restore_options()); });
  CHECK(m == "refusing to restore section kube of snapshot 1a2b3c4d: it was taken from etcd 3.5.9 but the etcd on "
             "cp1 is 3.4.23 (etcd --version); etcd 3.5 and 3.4 differ, and a snapshot is restored only by the "
             "major.minor version it came from: use etcd 3.5 on cp1, or a snapshot taken from etcd 3.4");
  CHECK_FALSE(host.ran("mktemp"));
  CHECK_FALSE(host.ran("cat > "));

  // Another patch release of the same minor is fine.
  ScriptedHost patch;
  restore_host(patch, "3.5.12", "absent");
  EtcdSnapshotSource again = etcd_source_from_section(*r.repo, section, "section kube");
  CHECK(etcd_snapshot_restore(patch, again, restore_options()).host_version == "3.5.12");

  // A node without etcd, etcdutl or etcdctl cannot say: the operator gives the version.
  ScriptedHost bare;
  bare.on("command -v etcd ", 0, "none\n");
  EtcdSnapshotSource third = etcd_source_from_section(*r.repo, section, "section kube");
  CHECK(message_of([&] { etcd_snapshot_restore(bare, third, restore_options()); })
            .find("it has no etcd, etcdutl or etcdctl; give the etcd version") != std::string::npos);
}

TEST_CASE("etcd: on a kubeadm control plane the restore follows the etcd image its static pod names") {
  // What the version probe prints: the manifest (when readable), a separator, then the node's tools.
  const std::string manifest = "kubeadm etcd.yaml\napiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: etcd\n";
  const std::string tools = "\n-- drctl --\netcdctl version\netcdctl version: 3.2.26\nAPI version: 3.2\n";
  struct Probe {
    std::string answer, version, from;
  };
  for (const Probe& p : {Probe{manifest + "    image: registry.k8s.io/etcd:3.5.9-0\n" + tools, "3.5.9",
                              "the etcd image of /etc/kubernetes/manifests/etcd.yaml"},
                        // a tag that names no release: the node's tools, and why not the manifest
                        Probe{manifest + "    image: registry.k8s.io/etcd:latest\n" + tools, "3.2.26",
                              "etcdctl version; /etc/kubernetes/manifests/etcd.yaml names no etcd release"},
                        Probe{"kubeadm etcd.yaml unreadable" + tools, "3.2.26",
                              "etcdctl version; /etc/kubernetes/manifests/etcd.yaml is not readable (as root it names "
                              "the etcd that serves the data)"}}) {
    CAPTURE(p.answer);
    Repo r;
    store::Section section = etcd_section(r, "db", p.version);
    ScriptedHost host;
    restore_host(host, "unused", "absent");
    host.rules.insert(host.rules.begin(), {"command -v etcd ", [&] {
                                             world::CommandResult c;
                                             c.exit_code = 0;
                                             c.out = p.answer;
                                             return c;
                                           }()});
    EtcdSnapshotSource source = etcd_source_from_section(*r.repo, section, "section kube");
    const EtcdRestoreResult result = etcd_snapshot_restore(host, source, restore_options());
    CHECK(result.host_version == p.version);
    CHECK(result.host_version_from == p.from);
  }
}

TEST_CASE("etcd: a restore keeps an existing data dir unless asked to replace it") {
  Repo r;
  store::Section section = etcd_section(r, "db", "3.4.23");
  SUBCASE("not empty: refused") {
    ScriptedHost host;
    restore_host(host, "3.4.23", "full");
    EtcdSnapshotSource source = etcd_source_from_section(*r.repo, section, "section kube");
    std::string m = message_of([&] { etcd_snapshot_restore(host, source, restore_options()); });
    CHECK(m.starts_with("the etcd data dir /var/lib/etcd on cp1 exists and is not empty; refusing to overwrite it"));
    CHECK_FALSE(host.ran("cat > "));
    CHECK_FALSE(host.ran("mv -- "));
  }
  SUBCASE("not empty, replace asked: moved aside") {
    ScriptedHost host;
    restore_host(host, "3.4.23", "full");
    EtcdSnapshotSource source = etcd_source_from_section(*r.repo, section, "section kube");
    EtcdRestoreOptions o = restore_options();
    o.replace_existing = true;
    EtcdRestoreResult result = etcd_snapshot_restore(host, source, o);
    CHECK(result.replaced_dir.starts_with("/var/lib/etcd.replaced-"));
    CHECK(host.script("mv -- ") == "mv -- /var/lib/etcd " + result.replaced_dir +
                                       " && mv -- /var/lib/etcd.drctl-restore /var/lib/etcd");
  }
  SUBCASE("empty: used") {
    ScriptedHost host;
    restore_host(host, "3.4.23", "empty");
    EtcdSnapshotSource source = etcd_source_from_section(*r.repo, section, "section kube");
    etcd_snapshot_restore(host, source, restore_options());
    CHECK(host.script("mv -- ") == "rmdir -- /var/lib/etcd && mv -- /var/lib/etcd.drctl-restore /var/lib/etcd");
  }
  SUBCASE("bad options are refused before touching the host") {
    ScriptedHost host;
    EtcdSnapshotSource source = etcd_source_from_section(*r.repo, section, "section kube");
    EtcdRestoreOptions o = restore_options();
    o.data_dir = "var/lib/etcd";
    CHECK_THROWS_AS(etcd_snapshot_restore(host, source, o), InputError);
    o = restore_options();
    o.name = "";
    CHECK_THROWS_AS(etcd_snapshot_restore(host, source, o), InputError);
    CHECK(host.scripts.empty());
  }
}

TEST_CASE("etcd: a restore that fails still removes its temporary files and says why") {
  Repo r;
  store::Section section = etcd_section(r, "db", "3.4.23");
  ScriptedHost host;
  restore_host(host, "3.4.23", "absent");
  host.rules[5].result.exit_code = 1;  // snapshot restore
  host.rules[5].result.err = "Error: expected sha256 [1 2 3], got [4 5 6]\n";
  EtcdSnapshotSource source = etcd_source_from_section(*r.repo, section, "section kube");
  std::string m = message_of([&] { etcd_snapshot_restore(host, source, restore_options()); });
  CHECK(m == "etcd snapshot restore of section kube into /var/lib/etcd.drctl-restore on cp1 failed: expected sha256 "
             "[1 2 3], got [4 5 6]");
  CHECK_FALSE(host.ran("mv -- "));
  CHECK(host.scripts[host.scripts.size() - 2] == "rm -rf -- /var/lib/etcd.drctl-restore");
  CHECK(host.scripts.back() == "rm -rf -- " + kWork);
}

TEST_CASE("etcd: a section without an etcd snapshot, and a db file without a known version, are refused") {
  Repo r;
  store::Section other = make_section(*r.repo, "kube", "test", {file_node(*r.repo, r.progress, "a.json", "{}", 0644, 0)}, 0);
  r.repo->flush();
  CHECK_THROWS_WITH_AS(etcd_source_from_section(*r.repo, other, "section kube"),
                       "section kube holds no etcd snapshot (it needs the files etcd.db and etcd.json)", InputError);

  support::write_file(r.tmp / "etcd.db", "db");
  CHECK_THROWS_WITH_AS(etcd_source_from_file((r.tmp / "etcd.db").string()), doctest::Contains("is unknown"), InputError);
  EtcdSnapshotSource given = etcd_source_from_file((r.tmp / "etcd.db").string(), "3.4.23");
  CHECK(given.read() == "db");
  CHECK(given.read().empty());
  EtcdSnapshotInfo info;
  info.etcd_version = "3.5.9";
  support::write_file(r.tmp / "etcd.json", info.to_json());
  CHECK(etcd_source_from_file((r.tmp / "etcd.db").string()).info.etcd_version == "3.5.9");
}
