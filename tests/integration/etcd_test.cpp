// etcd snapshots against a real etcd 3.4 (/usr/bin/etcd) with client TLS like kubeadm's (a CA,
// a server certificate for 127.0.0.1, a client certificate; --client-cert-auth), on free
// loopback ports: snapshot through drctl into a real repository, wipe, restore into a new data
// dir, and a new etcd from it serves every key. Also the refusals: a snapshot of another etcd
// major.minor, a non-empty data dir; and a wrong CA failing fast, naming the endpoint.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "capture/etcd.hpp"
#include "capture/section_builder.hpp"
#include "capture/tar_stream.hpp"
#include "base/error.hpp"
#include "store/lock.hpp"
#include "store/repository.hpp"
#include "support/fs_tree.hpp"
#include "support/etcd_pki.hpp"
#include "support/run.hpp"
#include "world/real/local_host.hpp"

using namespace drctl;
using namespace drctl::capture;
using drctl::world::real::LocalHost;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

namespace {

using Pki = support::EtcdPki;
using support::free_loopback_port;

/// One etcd member with client TLS on free loopback ports; SIGKILLed when destroyed.
struct Etcd {
  std::string name;
  int client_port = free_loopback_port(), peer_port = free_loopback_port();
  std::unique_ptr<support::Process> process;

  std::string client_url() const { return "https://127.0.0.1:" + std::to_string(client_port); }
  std::string peer_url() const { return "http://127.0.0.1:" + std::to_string(peer_port); }

  /// Starts on `data_dir` (new, or restored for `name` with this peer URL) and waits until healthy.
  Etcd(const Pki& pki, std::string member, const fs::path& data_dir, int peer = 0) : name(std::move(member)) {
    if (peer) peer_port = peer;
    process = std::make_unique<support::Process>(std::vector<std::string>{
        "/usr/bin/etcd", "--name", name, "--data-dir", data_dir.string(), "--listen-client-urls", client_url(),
        "--advertise-client-urls", client_url(), "--listen-peer-urls", peer_url(), "--initial-advertise-peer-urls",
        peer_url(), "--initial-cluster", name + "=" + peer_url(), "--cert-file", pki("server.crt"), "--key-file",
        pki("server.key"), "--client-cert-auth", "--trusted-ca-file", pki("ca.crt")});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      if (!process->running()) FAIL("etcd exited early:\n" << process->wait(milliseconds(1000)).describe());
      auto r = support::run({"etcdctl", "--endpoints", client_url(), "--cacert", pki("ca.crt"), "--cert",
                             pki("healthcheck-client.crt"), "--key", pki("healthcheck-client.key"),
                             "--dial-timeout=300ms", "--command-timeout=600ms", "endpoint", "health"});
      if (r.exit_code == 0) break;
      if (std::chrono::steady_clock::now() > deadline) FAIL("etcd not healthy within 10 s:\n" << r.describe());
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  /// SIGTERM and wait, as a clean shutdown.
  void stop() {
    process->signal(SIGTERM);
    process->wait(milliseconds(5000));
  }
};

EtcdEndpoint endpoint_of(const Etcd& etcd, const Pki& pki) {
  EtcdEndpoint e;
  e.endpoints = etcd.client_url();
  e.cacert = pki("ca.crt");
  e.cert = pki("healthcheck-client.crt");
  e.key = pki("healthcheck-client.key");
  e.dial_timeout = milliseconds(1000);
  return e;
}

std::string etcdctl(const EtcdEndpoint& e) {
  return "ETCDCTL_API=3 etcdctl --endpoints=" + e.endpoints + " --cacert=" + e.cacert + " --cert=" + e.cert +
         " --key=" + e.key + " --dial-timeout=2s --command-timeout=10s";
}

world::CommandResult sh(world::Host& host, const std::string& script, const std::string& stdin_data = "") {
  world::Command c;
  c.script = script;
  c.stdin_data = stdin_data;
  c.timeout = std::chrono::seconds(30);
  return host.run(c);
}

std::string base64_decode(const std::string& in) {
  static const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t bits = 0;
  int have = 0;
  for (char c : in) {
    if (c == '=') break;
    auto v = alphabet.find(c);
    if (v == std::string::npos) throw std::runtime_error("not base64: " + in.substr(0, 40));
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    have += 6;
    if (have >= 8) {
      have -= 8;
      out += static_cast<char>((bits >> have) & 0xff);
    }
  }
  return out;
}

/// Every key under /registry and its value.
std::map<std::string, std::string> registry(world::Host& host, const EtcdEndpoint& e) {
  auto r = sh(host, etcdctl(e) + " get /registry --prefix -w json");
  REQUIRE_MESSAGE(r.ok(), r.err);
  auto j = nlohmann::json::parse(r.out);
  std::map<std::string, std::string> out;
  for (const auto& kv : j.value("kvs", nlohmann::json::array()))
    out[base64_decode(kv.at("key").get<std::string>())] = base64_decode(kv.value("value", ""));
  return out;
}

/// 50 keys as a cluster keeps them: 48 small objects, a binary secret and a 1 MiB value.
std::map<std::string, std::string> fill(world::Host& host, const EtcdEndpoint& e) {
  support::Rng rng(42);
  std::map<std::string, std::string> keys;
  for (int i = 0; i < 48; ++i)
    keys["/registry/pods/ns-" + std::to_string(i % 4) + "/pod-" + std::to_string(i)] =
        "{\"kind\":\"Pod\",\"n\":" + std::to_string(i) + ",\"pad\":\"" + std::string(i * 37, 'x') + "\"}";
  keys["/registry/secrets/kube-system/bootstrap-token"] = std::string("k8s\0\x01\xff\n\r binary", 17) + rng.bytes(300);
  keys["/registry/configmaps/default/big"] = rng.bytes(1024 * 1024);
  for (const auto& [k, v] : keys) {
    auto r = sh(host, etcdctl(e) + " put " + k, v);  // the value from stdin: any bytes, any size
    REQUIRE_MESSAGE(r.ok(), "put " << k << ": " << r.err);
  }
  return keys;
}

/// Entries under `dir` whose names contain `part` (leftovers of drctl's temporary files).
std::vector<std::string> leftovers(const fs::path& dir, const std::string& part) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().find(part) != std::string::npos) out.push_back(entry.path().string());
  return out;
}

/// A repository in `dir` holding one snapshot whose `kube` section has an object file plus the
/// etcd snapshot taken from `e`; returns the snapshot.
store::Snapshot backup(LocalHost& host, const EtcdEndpoint& e, const fs::path& repo_path, const fs::path& work,
                       EtcdFiles* files_out = nullptr) {
  store::Repository::init(repo_path, store::RepoConfig{});
  auto lock = store::RepoLock::acquire(repo_path, std::chrono::seconds(5), [](const std::string&) {});
  store::Repository repo(repo_path);
  Progress progress;
  store::Section kube = make_section(repo, "kube", "test objects",
                                     {file_node(repo, progress, "objects.json", "{\"items\":[]}\n", 0644, 0)}, 0);
  EtcdSaveOptions options;
  options.work_dir = work.string();
  EtcdFiles files = etcd_snapshot_files(host, e, repo, progress, options);
  add_etcd_files(repo, kube, files);
  repo.flush();
  store::Snapshot snap;
  snap.host = "test";
  snap.time = store::precise_utc_now();
  snap.sections.push_back(kube);
  snap.added_bytes = repo.added_bytes();
  repo.save_snapshot(snap);
  if (files_out) *files_out = files;
  return snap;
}

}  // namespace

TEST_CASE("etcd: a TLS snapshot stored in the repository restores every key into a new etcd") {
  support::TempDir tmp("etcd");
  Pki pki(tmp / "pki");
  world::Cancel cancel;
  LocalHost host("local", cancel);
  fs::create_directories(tmp / "work");

  auto etcd = std::make_unique<Etcd>(pki, "cp1", tmp / "data");
  const EtcdEndpoint e = endpoint_of(*etcd, pki);
  const auto keys = fill(host, e);
  REQUIRE(registry(host, e) == keys);

  auto t0 = std::chrono::steady_clock::now();
  EtcdFiles files;
  store::Snapshot snap = backup(host, e, tmp / "repo", tmp / "work", &files);
  double save_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("snapshot of " << files.info.size << " bytes (" << files.info.total_keys << " keys) saved and stored in "
                         << save_s << " s");
  CHECK(files.info.etcd_version == "3.4.23");
  CHECK(files.info.endpoint == e.endpoints);
  CHECK(files.info.size > 1024 * 1024);
  CHECK(files.db.size == files.info.size);
  CHECK(leftovers(tmp / "work", "drctl-etcd").empty());

  // The section as restored by `drctl snapshot restore`: kube/objects.json, kube/etcd.db, kube/etcd.json.
  store::Repository repo(tmp / "repo");
  const store::Snapshot latest = repo.find_snapshot("latest");
  const store::Section* kube = latest.section("kube");
  REQUIRE(kube);
  auto section = section_files(repo, *kube);
  CHECK(section.size() == 3);
  CHECK(section.count("objects.json") == 1);
  REQUIRE(section.count("etcd.db") == 1);
  CHECK(section["etcd.db"].size() == files.info.size);
  CHECK(store::sha256(section["etcd.db"]).hex() == files.info.sha256);
  auto meta = nlohmann::json::parse(section.at("etcd.json"));
  CHECK(meta["etcd_version"] == "3.4.23");
  CHECK(meta["taken_at"].get<std::string>().size() == 20);  // 2026-11-26T17:09:40Z
  CHECK(kube->files == 3);

  // The disaster: etcd and its data are gone.
  etcd->stop();
  etcd.reset();
  fs::remove_all(tmp / "data");

  EtcdRestoreOptions o;
  o.data_dir = (tmp / "restored").string();
  o.name = "cp1";
  const int peer = free_loopback_port();
  o.initial_advertise_peer_urls = "http://127.0.0.1:" + std::to_string(peer);
  o.work_dir = (tmp / "work").string();
  t0 = std::chrono::steady_clock::now();
  EtcdSnapshotSource source = etcd_source_from_section(repo, *kube, "section kube of snapshot " + latest.id.short_hex());
  EtcdRestoreResult result = etcd_snapshot_restore(host, source, o);
  double restore_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("restored into a new data dir in " << restore_s << " s");
  CHECK(result.snapshot_version == "3.4.23");
  CHECK(result.host_version == "3.4.23");
  CHECK(result.host_version_from == "etcd --version");
  CHECK(result.bytes == files.info.size);
  CHECK(result.total_keys == files.info.total_keys);
  CHECK(result.replaced_dir.empty());
  CHECK(fs::is_directory(tmp / "restored/member/snap"));
  CHECK(leftovers(tmp / "work", "drctl-etcd").empty());
  CHECK(leftovers(tmp.path(), ".drctl-restore").empty());

  {
    Etcd again(pki, "cp1", tmp / "restored", peer);
    const EtcdEndpoint e2 = endpoint_of(again, pki);
    auto restored = registry(host, e2);
    CHECK(restored.size() == 50);
    for (const auto& [k, v] : keys) {
      INFO("key " << k);
      REQUIRE(restored.count(k) == 1);
      CHECK(restored[k] == v);
    }
    again.stop();
  }

  // The restored dir now holds a member: a second restore is refused unless asked to replace it.
  EtcdSnapshotSource again = etcd_source_from_section(repo, *kube, "section kube");
  try {
    etcd_snapshot_restore(host, again, o);
    FAIL("a restore over a non-empty data dir must be refused");
  } catch (const InputError& err) {
    std::string m = err.what();
    CHECK(m.find(o.data_dir) != std::string::npos);
    CHECK(m.find("not empty") != std::string::npos);
  }
  CHECK(fs::is_directory(tmp / "restored/member/snap"));
  o.replace_existing = true;
  EtcdSnapshotSource third = etcd_source_from_section(repo, *kube, "section kube");
  EtcdRestoreResult replaced = etcd_snapshot_restore(host, third, o);
  CHECK(!replaced.replaced_dir.empty());
  CHECK(fs::is_directory(fs::path(replaced.replaced_dir) / "member"));
  CHECK(fs::is_directory(tmp / "restored/member/snap"));
  CHECK(leftovers(tmp / "work", "drctl-etcd").empty());

  // An existing empty directory (made ready by an operator) is used.
  o.replace_existing = false;
  o.data_dir = (tmp / "empty-dir").string();
  fs::create_directories(tmp / "empty-dir");
  EtcdSnapshotSource fourth = etcd_source_from_section(repo, *kube, "section kube");
  etcd_snapshot_restore(host, fourth, o);
  CHECK(fs::is_directory(tmp / "empty-dir/member/snap"));
}

TEST_CASE("etcd: a snapshot of another etcd major.minor version is refused, naming both versions") {
  support::TempDir tmp("etcd");
  Pki pki(tmp / "pki");
  world::Cancel cancel;
  LocalHost host("local", cancel);
  fs::create_directories(tmp / "work");
  EtcdFiles files;
  {
    Etcd etcd(pki, "cp1", tmp / "data");
    backup(host, endpoint_of(etcd, pki), tmp / "repo", tmp / "work", &files);
  }

  // The same db, recorded as taken from etcd 3.5.9.
  auto lock = store::RepoLock::acquire(tmp / "repo", std::chrono::seconds(5), [](const std::string&) {});
  store::Repository repo(tmp / "repo");
  store::Section kube = *repo.find_snapshot("latest").section("kube");
  Progress progress;
  EtcdSnapshotInfo info = files.info;
  info.etcd_version = "3.5.9";
  add_to_section(repo, kube, {file_node(repo, progress, "etcd.json", info.to_json(), 0600, 0)});
  repo.flush();

  EtcdRestoreOptions o;
  o.data_dir = (tmp / "restored").string();
  o.name = "cp1";
  o.initial_advertise_peer_urls = "http://127.0.0.1:2380";
  o.work_dir = (tmp / "work").string();
  EtcdSnapshotSource source = etcd_source_from_section(repo, kube, "section kube");
  CHECK(source.info.etcd_version == "3.5.9");
  bool db_read = false;
  auto read = source.read;
  source.read = [&]() {
    db_read = true;
    return read();
  };
  try {
    etcd_snapshot_restore(host, source, o);
    FAIL("a 3.5 snapshot must be refused by etcd 3.4");
  } catch (const InputError& err) {
    std::string m = err.what();
    INFO(m);
    CHECK(m.find("3.5.9") != std::string::npos);
    CHECK(m.find("3.4.23") != std::string::npos);
    CHECK(m.find("etcd 3.5 and 3.4 differ") != std::string::npos);
    CHECK(m.find("etcd --version") != std::string::npos);
  }
  CHECK(!db_read);  // refused before anything was sent
  CHECK(!fs::exists(tmp / "restored"));
  CHECK(leftovers(tmp / "work", "drctl-etcd").empty());

  // The etcd that will serve the data may be given (kubeadm runs it from an image): the real 3.4 db vs 3.5.
  EtcdSnapshotSource real = etcd_source_from_section(repo, *repo.find_snapshot("latest").section("kube"), "kube");
  o.etcd_version = "v3.5.0";
  CHECK_THROWS_WITH_AS(etcd_snapshot_restore(host, real, o),
                       doctest::Contains("but the etcd on local is 3.5.0 (given)"), InputError);
  CHECK(!fs::exists(tmp / "restored"));
}

TEST_CASE("etcd: a wrong CA fails within seconds with an error naming the endpoint and the CA") {
  support::TempDir tmp("etcd");
  Pki pki(tmp / "pki");
  world::Cancel cancel;
  LocalHost host("local", cancel);
  fs::create_directories(tmp / "work");
  Etcd etcd(pki, "cp1", tmp / "data");
  store::Repository::init(tmp / "repo", store::RepoConfig{});
  store::Repository repo(tmp / "repo");
  Progress progress;

  EtcdEndpoint e = endpoint_of(etcd, pki);
  e.cacert = pki("wrong-ca.crt");
  EtcdSaveOptions options;
  options.work_dir = (tmp / "work").string();
  auto t0 = std::chrono::steady_clock::now();
  try {
    capture_etcd(host, e, repo, "kube", progress, options);
    FAIL("a wrong CA must fail");
  } catch (const Failure& err) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::string m = err.what();
    MESSAGE("wrong CA reported in " << s << " s: " << m);
    CHECK(s < 5.0);
    CHECK(m.find(e.endpoints) != std::string::npos);
    CHECK(m.find("certificate signed by unknown authority") != std::string::npos);
    CHECK(m.find(e.cacert) != std::string::npos);
  }
  CHECK(leftovers(tmp / "work", "drctl-etcd").empty());

  // A port where nothing listens: says so.
  EtcdEndpoint nowhere = endpoint_of(etcd, pki);
  nowhere.endpoints = "https://127.0.0.1:" + std::to_string(free_loopback_port());
  nowhere.dial_timeout = milliseconds(500);
  CHECK_THROWS_WITH_AS(capture_etcd(host, nowhere, repo, "kube", progress, options),
                       doctest::Contains("connection refused"), Failure);
}
