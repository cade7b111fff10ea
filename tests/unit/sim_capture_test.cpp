// The capture modules against the simulated homelab, exactly as against a real site: capture_kube
// runs kubectl on the control plane (version, api-resources, get) and etcd_snapshot_files /
// etcd_snapshot_restore run etcdctl, etcdutl and the shell's housekeeping there. Also the sim
// host's shell on the constructs those modules use, and what the simulated kubectl and etcdctl
// print compared with the real tools' output in tests/fixtures/kube.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "actions/action.hpp"
#include "capture/etcd.hpp"
#include "capture/kube.hpp"
#include "capture/section_builder.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "sim/host.hpp"
#include "sim/sim_world.hpp"
#include "base/error.hpp"
#include "store/repository.hpp"
#include "support/fs_tree.hpp"

using namespace drctl;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

fs::path repo_root() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

/// The homelab rebuilt from empty hardware in the simulator (runbooks/homelab/rebuild.yaml);
/// `etcd_client` pins the nodes' etcd-client instead of the site's (Ubuntu 20.04's 3.2.26).
struct Homelab {
  support::TempDir tmp{"sim-capture"};
  std::unique_ptr<sim::SimWorld> world;

  explicit Homelab(std::uint64_t seed = 1, const std::string& etcd_client = "") {
    const fs::path dir = repo_root() / "runbooks/homelab";
    auto site = runbook::load_site((dir / "site.yaml").string()).world_json();
    if (!etcd_client.empty()) site["versions"]["etcd"] = etcd_client;
    world = std::make_unique<sim::SimWorld>(site, seed);
    runbook::Runbook rb = runbook::load_runbook((dir / "rebuild.yaml").string());
    runbook::validate(rb, actions::Registry::builtin());
    runbook::ExecOptions options;
    options.state_dir = tmp.path() / "state";
    runbook::Observer quiet;
    auto summary = runbook::execute(rb, actions::Registry::builtin(), *world, options, quiet);
    std::string failures;
    for (const auto& r : summary.results)
      if (!r.error.empty()) failures += r.id + ": " + r.error + "\n";
    REQUIRE_MESSAGE(summary.ok(), failures);
  }
  world::Host& cp() { return world->host("k8s-master"); }
  world::CommandResult sh(const std::string& script, const std::string& host = "k8s-master") {
    world::Command c;
    c.script = script;
    return world->host(host).run(c);
  }
  world::CommandResult kubectl(const std::string& args) {
    return sh("sudo kubectl --kubeconfig /etc/kubernetes/admin.conf " + args);
  }
};

capture::KubeTarget admin() {
  capture::KubeTarget t;
  t.kubeconfig = "/etc/kubernetes/admin.conf";
  t.kubectl = "sudo kubectl";
  return t;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no exception)";
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// A repository in a temporary directory.
struct Repo {
  support::TempDir tmp{"sim-capture-repo"};
  std::unique_ptr<store::Repository> repo;
  capture::Progress progress;
  Repo() {
    store::Repository::init(tmp / "repo", store::RepoConfig{});
    repo = std::make_unique<store::Repository>(tmp / "repo");
  }
};

world::CommandResult run(sim::SimHost& h, const std::string& script, const std::string& in = "") {
  world::Command c;
  c.script = script;
  c.stdin_data = in;
  return h.run(c);
}

}  // namespace

// --- the shell the modules talk to ----------------------------------------------------------------

TEST_CASE("sim capture: the sim host's shell runs what the capture modules send") {
  sim::Engine e(1);
  sim::SimHost h(e, "cp1");
  h.put_file("/var/lib/data/a", "abc", 0600);

  // The data-dir probe of etcd_snapshot_restore: variables, [ ], { }, $(…), if/elif/else.
  const std::string probe =
      "D=%s; if [ -L \"$D\" ] || { [ -e \"$D\" ] && [ ! -d \"$D\" ]; }; then echo other; "
      "elif [ ! -e \"$D\" ]; then echo absent; elif [ -z \"$(ls -A \"$D\")\" ]; then echo empty; else echo full; fi";
  auto state = [&](const std::string& d) {
    std::string s = probe;
    s.replace(s.find("%s"), 2, "'" + d + "'");
    return run(h, s).out;
  };
  CHECK(state("/var/lib/data") == "full\n");
  CHECK(state("/var/lib/data/a") == "other\n");
  CHECK(state("/var/lib/nothing") == "absent\n");
  REQUIRE(run(h, "mkdir /var/lib/empty").ok());
  CHECK(state("/var/lib/empty") == "empty\n");

  // mktemp, umask, redirections, wc -c <, cat --, rm -rf --.
  auto made = run(h, "umask 077 && mktemp -d '/var/tmp/drctl-etcd.XXXXXX'");
  REQUIRE(made.ok());
  const std::string dir = made.out.substr(0, made.out.size() - 1);
  CHECK(dir.size() == std::string("/var/tmp/drctl-etcd.XXXXXX").size());
  CHECK(dir.rfind("/var/tmp/drctl-etcd.", 0) == 0);
  CHECK(h.is_dir(dir));
  CHECK(run(h, "cat > '" + dir + "/etcd.db'", "0123456789").ok());
  CHECK(run(h, "wc -c < '" + dir + "/etcd.db'").out == "10\n");
  CHECK(run(h, "wc -c '" + dir + "/etcd.db'").out == "10 " + dir + "/etcd.db\n");
  CHECK(run(h, "cat -- '" + dir + "/etcd.db'").out == "0123456789");
  CHECK(run(h, "ls -A /var/tmp").out == dir.substr(9) + "\n");
  CHECK(run(h, "rm -rf -- '" + dir + "'").ok());
  CHECK_FALSE(h.is_dir(dir));
  CHECK(run(h, "ls -A /var/tmp").out.empty());
  CHECK(run(h, "rm /nope").err == "rm: cannot remove '/nope': No such file or directory\n");
  CHECK(run(h, "rm /var/lib/data").err == "rm: cannot remove '/var/lib/data': Is a directory\n");
  CHECK(run(h, "mktemp -d /nope/x.XXXXXX").err ==
        "mktemp: failed to create directory via template '/nope/x.XXXXXX': No such file or directory\n");
  CHECK(run(h, "mktemp /tmp/x.XX").err == "mktemp: too few X's in template '/tmp/x.XX'\n");

  // mv of a directory, rmdir, the moved files keep their content and mode.
  REQUIRE(run(h, "mv -- '/var/lib/data' '/var/lib/data.old' && rmdir -- /var/lib/empty").ok());
  CHECK(h.get_file("/var/lib/data.old/a") == "abc");
  CHECK_FALSE(h.get_file("/var/lib/data/a"));
  CHECK(run(h, "stat -c %a /var/lib/data.old/a").out == "600\n");
  CHECK(run(h, "mv /var/lib/nope /tmp").err == "mv: cannot stat '/var/lib/nope': No such file or directory\n");
  CHECK(run(h, "rmdir /var/lib/data.old").err == "rmdir: failed to remove '/var/lib/data.old': Directory not empty\n");
  CHECK(run(h, "mv /var/lib/data.old /tmp && ls /tmp/data.old").out == "a\n");

  // command -v knows what is installed; stdout and stderr go where they are sent.
  bool tool = false;
  h.add_command("etcdutl", [](const std::vector<std::string>&, const std::string&) {
    return sim::SimHost::Result{0, "etcdutl version: 3.5.9\n", ""};
  }, [&] { return tool; });
  const std::string pick = "if command -v etcdutl >/dev/null 2>&1; then etcdutl version; else echo none; fi";
  CHECK(run(h, pick).out == "none\n");
  tool = true;
  CHECK(run(h, pick).out == "etcdutl version: 3.5.9\n");
  CHECK(run(h, "command -v etcdutl cat").out == "/usr/bin/etcdutl\n/usr/bin/cat\n");
  CHECK(run(h, "cat /nope 2>&1").out == "cat: /nope: No such file or directory\n");
  CHECK(run(h, "cat /nope 2>/dev/null").err.empty());
  CHECK(run(h, "echo hi >&2").err == "hi\n");
  CHECK(run(h, "X=1; echo \"x=$X ${Y:-none} $?\"").out == "x=1 none 0\n");
  CHECK(run(h, "false; echo $?").out == "1\n");
  CHECK(run(h, "echo $(echo 'a   b') \"$(echo 'a   b')\"").out == "a b a   b\n");
  CHECK(run(h, "! false && echo negated").out == "negated\n");
  CHECK(run(h, "echo a | cat").out == "a\n");
  CHECK(run(h, "set -e; false; echo unreachable").out.empty());
  CHECK(run(h, "( exit 3 ); echo $?").out == "3\n");

  // What it does not know it says so, and unknown commands stay 127.
  auto loop = run(h, "while true; do echo x; done");
  CHECK(loop.exit_code == 2);
  CHECK(loop.err == "sim: cp1: sh: `while` not modelled\n");
  auto bad = run(h, "if true; then echo x");
  CHECK(bad.exit_code == 2);
  CHECK(bad.err == "sh: 1: Syntax error: end of file unexpected (expecting \"fi\")\n");
  CHECK(run(h, "frobnicate").err == "sim: cp1: unknown command 'frobnicate'\n");
  CHECK(run(h, "ls -l /").err == "sim: cp1: ls: option '-l' not modelled (only -a, -A, -1)\n");
}

// --- kubectl as the capture sees it ---------------------------------------------------------------

TEST_CASE("sim capture: capture_kube on the rebuilt homelab's control plane") {
  Homelab lab;
  world::Host& cp = lab.cp();

  // What the capture's kubectl calls print.
  auto version = lab.kubectl("version -o json");
  REQUIRE_MESSAGE(version.ok(), version.err);
  const json v = json::parse(version.out);
  CHECK(v["clientVersion"]["gitVersion"] == "v1.28.2");
  CHECK(v["serverVersion"]["gitVersion"] == "v1.28.2");
  CHECK(v["serverVersion"]["minor"] == "28");
  // The same keys in the same order as the real kubectl's output.
  const json real = json::parse(read(repo_root() / "tests/fixtures/kube/version.json"));
  CHECK(version.out.find("\"clientVersion\": {\n    \"major\": \"1\",\n    \"minor\": \"28\",\n    \"gitVersion\"") !=
        std::string::npos);
  for (const auto& [k, _] : real["serverVersion"].items()) CHECK(v["serverVersion"].contains(k));

  auto discovery = lab.kubectl("api-resources --verbs=list -o wide");
  REQUIRE_MESSAGE(discovery.ok(), discovery.err);
  const auto resources = capture::parse_api_resources(discovery.out);
  // Every built-in row the real 1.28 server lists (tests/fixtures/kube), cell for cell, and
  // MetalLB's CRDs the homelab installs.
  std::map<std::string, std::string> sim_rows;
  for (const auto& line : [&] {
         std::vector<std::string> lines;
         std::istringstream in(discovery.out);
         for (std::string l; std::getline(in, l);) lines.push_back(l);
         return lines;
       }()) {
    std::istringstream words(line);
    std::string name, rest, w;
    words >> name;
    while (words >> w) rest += w + " ";
    sim_rows[name + " " + rest] = line;
  }
  std::istringstream fixture(read(repo_root() / "tests/fixtures/kube/api-resources-wide.txt"));
  int compared = 0;
  for (std::string line; std::getline(fixture, line);) {
    if (has(line, "metallb.io") && !has(line, "ipaddresspools") && !has(line, "l2advertisements")) continue;
    if (has(line, "metrics.k8s.io")) continue;
    std::istringstream words(line);
    std::string name, rest, w;
    words >> name;
    while (words >> w) rest += w + " ";
    CHECK_MESSAGE(sim_rows.count(name + " " + rest), (std::string("the simulated API server does not list: ") + line));
    ++compared;
  }
  CHECK(compared > 50);
  CHECK(discovery.out.rfind("NAME                              SHORTNAMES   APIVERSION", 0) == 0);  // kubectl's columns
  CHECK(std::none_of(resources.begin(), resources.end(), [](const capture::KubeResource& r) { return r.name == "bindings"; }));
  CHECK(lab.kubectl("api-resources -o wide").out.find("bindings ") != std::string::npos);  // not listable, but served

  // What the API server adds to objects (kubectl hides managedFields unless asked).
  auto deployments = lab.kubectl("get deployments.apps -A -o json");
  REQUIRE(deployments.ok());
  const json list = json::parse(deployments.out);
  CHECK(list["kind"] == "List");
  CHECK(list["apiVersion"] == "v1");
  json blog;
  for (const auto& d : list["items"])
    if (d["metadata"]["name"] == "blog") blog = d;
  REQUIRE(blog.is_object());
  CHECK(blog["metadata"]["uid"].get<std::string>().size() == 36);
  CHECK_FALSE(blog["metadata"]["resourceVersion"].get<std::string>().empty());
  CHECK(blog["metadata"]["creationTimestamp"].get<std::string>().rfind("2024-01-01T00:", 0) == 0);
  CHECK(blog["metadata"]["generation"] == 1);
  CHECK(blog["status"]["readyReplicas"] == 2);
  CHECK_FALSE(blog["metadata"].contains("managedFields"));
  const json shown = json::parse(lab.kubectl("get deployment blog -n website -o json --show-managed-fields").out);
  CHECK(shown["metadata"]["managedFields"][0]["manager"] == "kubectl-client-side-apply");
  CHECK(shown["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"].contains("f:replicas"));
  auto empty = lab.kubectl("get limitranges -A -o json");
  CHECK(json::parse(empty.out) == json::parse(read(repo_root() / "tests/fixtures/kube/get-empty.json")));
  CHECK(empty.out == read(repo_root() / "tests/fixtures/kube/get-empty.json"));
  auto pods = json::parse(lab.kubectl("get pods -n website -o json").out);
  REQUIRE_FALSE(pods["items"].empty());
  CHECK(pods["items"][0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet");
  CHECK(pods["items"][0]["metadata"]["ownerReferences"][0]["controller"] == true);

  // The capture.
  const capture::KubeCapture cap = capture::capture_kube(cp, admin());
  CHECK(cap.server_version == "v1.28.2");
  CHECK(cap.warnings.empty());
  for (const char* path : {"website/deployments.apps/blog.json", "website/services/blog.json",
                           "website/secrets/tls-secret.json", "website/ingresses.networking.k8s.io/blog.json",
                           "metallb-system/ipaddresspools.metallb.io/default.json",
                           "metallb-system/l2advertisements.metallb.io/default.json",
                           "_cluster/customresourcedefinitions.apiextensions.k8s.io/ipaddresspools.metallb.io.json",
                           "_cluster/namespaces/website.json", "website/serviceaccounts/default.json", "cluster.json"})
    CHECK_MESSAGE(cap.files.count(path), path);
  for (const auto& [path, content] : cap.files) {
    for (const char* never : {"/pods/", "/replicasets.apps/", "/endpoints/", "/endpointslices.discovery.k8s.io/",
                              "/events", "/leases.", "_cluster/nodes/", "kube-root-ca.crt", "kube-system/",
                              "_cluster/priorityclasses.scheduling.k8s.io/system-", "_cluster/apiservices.",
                              "_cluster/clusterroles.rbac.authorization.k8s.io/cluster-admin", "componentstatuses",
                              "default/services/kubernetes"})
      CHECK_MESSAGE(!has(path, never), path);
    const json o = json::parse(content);
    if (path == "cluster.json") continue;
    CHECK_MESSAGE(!o["metadata"].contains("uid"), path);
    CHECK_MESSAGE(!o["metadata"].contains("resourceVersion"), path);
    CHECK_MESSAGE(!o["metadata"].contains("creationTimestamp"), path);
    CHECK_MESSAGE(!o["metadata"].contains("managedFields"), path);
    CHECK_MESSAGE(!o.contains("status"), path);
  }
  const json captured_blog = json::parse(cap.files.at("website/deployments.apps/blog.json"));
  CHECK(captured_blog["spec"]["replicas"] == 2);
  CHECK(captured_blog["apiVersion"] == "apps/v1");
  const json tls = json::parse(cap.files.at("website/secrets/tls-secret.json"));
  CHECK(tls["type"] == "kubernetes.io/tls");
  CHECK(tls["data"].contains("tls.crt"));
  CHECK_FALSE(json::parse(cap.files.at("website/services/blog.json"))["spec"].contains("clusterIP"));
  for (const char* rule : {"controller-owned", "control-plane-endpoints", "control-plane-endpointslices",
                           "kubernetes-service", "root-ca-configmap", "default-rbac", "system-priority-class",
                           "local-apiservice", "namespace"})
    CHECK_MESSAGE(cap.skipped.count(rule), rule);
  for (const char* skipped : {"events (events)", "events.events.k8s.io (events)", "leases.coordination.k8s.io (leases)",
                              "nodes (nodes)", "componentstatuses (not-creatable)"})
    CHECK_MESSAGE(std::find(cap.skipped_resources.begin(), cap.skipped_resources.end(), skipped) != cap.skipped_resources.end(),
                  skipped);

  // The same cluster, the same bytes.
  CHECK(capture::capture_kube(cp, admin()).files == cap.files);

  // Label selectors (equality and !key), and a context of the kubeconfig.
  capture::KubeFilter only_website;
  only_website.selector = "kubernetes.io/metadata.name=website";
  auto selected = capture::capture_kube(cp, admin(), only_website);
  CHECK(selected.files.size() == 2);  // cluster.json and the namespace
  CHECK(selected.files.count("_cluster/namespaces/website.json"));
  capture::KubeFilter unlabelled;
  unlabelled.selector = "!kubernetes.io/metadata.name";
  auto rest = capture::capture_kube(cp, admin(), unlabelled);
  CHECK(rest.files.count("website/deployments.apps/blog.json"));
  CHECK_FALSE(rest.files.count("_cluster/namespaces/website.json"));
  capture::KubeTarget in_context = admin();
  in_context.context = "kubernetes-admin@kubernetes";
  CHECK(capture::capture_kube(cp, in_context).files == cap.files);
  in_context.context = "elsewhere";
  CHECK(has(message_of([&] { capture::capture_kube(cp, in_context); }),
            "error: context was not found for specified context: elsewhere"));
}

TEST_CASE("sim capture: with the API server or etcd stopped the modules fail with the tools' messages") {
  Homelab lab(2, "3.5.9");  // etcdctl 3.5's messages (3.2's only say "context deadline exceeded")
  world::Host& cp = lab.cp();
  // The kubelet stops kube-apiserver when its manifest leaves /etc/kubernetes/manifests.
  REQUIRE(lab.sh("sudo mv /etc/kubernetes/manifests/kube-apiserver.yaml /root/").ok());
  CHECK_FALSE(lab.world->kube().api_up());
  const std::string refused =
      "The connection to the server 10.0.20.11:6443 was refused - did you specify the right host or port?";
  const std::string why = message_of([&] { capture::capture_kube(cp, admin()); });
  CHECK_MESSAGE(has(why, "kubectl version on k8s-master failed (exit 1): " + refused), why);
  auto version = lab.kubectl("version -o json");
  CHECK(version.exit_code == 1);
  CHECK(json::parse(version.out).contains("clientVersion"));  // kubectl still knows its own version
  CHECK_FALSE(json::parse(version.out).contains("serverVersion"));
  CHECK(version.err == refused + "\n");

  // etcd is still up: its snapshot does not need the API server.
  Repo r;
  auto files = capture::etcd_snapshot_files(cp, capture::EtcdEndpoint{}, *r.repo, r.progress);
  CHECK(files.info.etcd_version == "3.5.9");

  REQUIRE(lab.sh("sudo mv /etc/kubernetes/manifests/etcd.yaml /root/").ok());
  const std::string etcd_down = message_of([&] { capture::etcd_snapshot_files(cp, capture::EtcdEndpoint{}, *r.repo, r.progress); });
  CHECK_MESSAGE(has(etcd_down, "cannot reach etcd at https://127.0.0.1:2379 from k8s-master (dial timeout 3s): transport: "
                               "Error while dialing dial tcp 127.0.0.1:2379: connect: connection refused; nothing listens "
                               "there"),
                etcd_down);
  auto status = lab.sh("sudo ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
                       "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt "
                       "--key=/etc/kubernetes/pki/etcd/healthcheck-client.key endpoint status -w json");
  CHECK(status.exit_code == 1);
  CHECK(has(status.err, "\"msg\":\"retrying of unary invoker failed\""));
  CHECK(has(status.err, "Failed to get the status of endpoint https://127.0.0.1:2379 (context deadline exceeded)\n"));

  // Both back: the API answers again with what it had.
  REQUIRE(lab.sh("sudo mv /root/etcd.yaml /root/kube-apiserver.yaml /etc/kubernetes/manifests/").ok());
  CHECK(lab.world->kube().api_up());
  CHECK(capture::capture_kube(cp, admin()).files.count("website/deployments.apps/blog.json"));

  // A CA that is not etcd's, and no client certificate: etcd's TLS says no.
  capture::EtcdEndpoint wrong_ca;
  wrong_ca.cacert = "/etc/kubernetes/pki/ca.crt";
  const std::string unknown = message_of([&] { capture::etcd_snapshot_files(cp, wrong_ca, *r.repo, r.progress); });
  CHECK_MESSAGE(has(unknown, "x509: certificate signed by unknown authority; the CA file /etc/kubernetes/pki/ca.crt did "
                             "not sign etcd's server certificate"),
                unknown);
  capture::EtcdEndpoint no_client;
  no_client.cert = "/etc/kubernetes/pki/apiserver.crt";  // not there: kubeadm's names only
  CHECK(has(message_of([&] { capture::etcd_snapshot_files(cp, no_client, *r.repo, r.progress); }),
            "open /etc/kubernetes/pki/apiserver.crt: no such file or directory"));
}

// --- etcd -----------------------------------------------------------------------------------------

TEST_CASE("sim capture: an etcd snapshot into a repository, objects deleted, the snapshot restored brings them back") {
  Homelab lab(3, "3.5.9");  // etcdutl restores; 3.2.26 would be refused for etcd 3.5's data
  world::Host& cp = lab.cp();
  sim::KubeCluster& kube = lab.world->kube();
  Repo r;

  // What the module reads from etcdctl.
  auto status = lab.sh("sudo ETCDCTL_API=3 etcdctl --endpoints='https://127.0.0.1:2379' "
                       "--cacert='/etc/kubernetes/pki/etcd/ca.crt' --cert='/etc/kubernetes/pki/etcd/healthcheck-client.crt' "
                       "--key='/etc/kubernetes/pki/etcd/healthcheck-client.key' --dial-timeout=3s --command-timeout=6s "
                       "endpoint status -w json");
  REQUIRE_MESSAGE(status.ok(), status.err);
  const json st = json::parse(status.out);
  REQUIRE(st.is_array());
  CHECK(st[0]["Endpoint"] == "https://127.0.0.1:2379");
  CHECK(st[0]["Status"]["version"] == "3.5.9");
  CHECK(st[0]["Status"]["header"]["member_id"].is_number_unsigned());
  CHECK(status.out.rfind("[{\"Endpoint\":\"https://127.0.0.1:2379\",\"Status\":{\"header\":{\"cluster_id\":", 0) == 0);

  const store::Section section = capture::capture_etcd(cp, capture::EtcdEndpoint{}, *r.repo, "kube", r.progress);
  r.repo->flush();
  auto source = capture::etcd_source_from_section(*r.repo, section, "section kube");
  CHECK(source.info.etcd_version == "3.5.9");
  CHECK(source.info.host == "k8s-master");
  CHECK(source.info.endpoint == "https://127.0.0.1:2379");
  CHECK(source.info.total_keys > 10);
  CHECK(source.info.revision > 10);
  CHECK(source.info.size > 1000);
  CHECK(lab.sh("ls -A /var/tmp").out.empty());  // its temporary directory is gone

  // Objects deleted after the snapshot.
  REQUIRE(lab.kubectl("delete namespace website").ok());
  REQUIRE(lab.kubectl("delete ipaddresspool default -n metallb-system").ok());
  CHECK_FALSE(kube.object("Deployment", "website", "blog"));
  const std::string uid_before = [&] {
    auto ns = kube.object("Namespace", "", "hackmd");
    return ns ? (*ns)["metadata"]["uid"].get<std::string>() : "";
  }();

  // The restore onto the control plane's etcd data dir: etcd restarts on it (sim/kube.hpp).
  capture::EtcdRestoreOptions o;
  o.data_dir = "/var/lib/etcd";
  o.name = "k8s-master";
  o.initial_advertise_peer_urls = "https://10.0.20.11:2380";
  const auto restored = capture::etcd_snapshot_restore(cp, source, o);
  CHECK(restored.host_version == "3.5.9");
  CHECK(restored.host_version_from == "the etcd image of /etc/kubernetes/manifests/etcd.yaml");  // kubeadm's static pod
  CHECK(restored.total_keys == source.info.total_keys);
  CHECK(restored.replaced_dir.empty());  // a kubeadm control plane's etcd keeps its data in its pod's view only
  CHECK(lab.world->system("k8s-master")->get_file("/var/lib/etcd/member/snap/db"));
  CHECK(lab.sh("ls -A /var/tmp").out.empty());
  CHECK(lab.sh("test -e /var/lib/etcd.drctl-restore").exit_code == 1);

  CHECK(kube.api_up());
  REQUIRE(kube.object("Deployment", "website", "blog"));
  CHECK(kube.object("IPAddressPool", "metallb-system", "default"));
  CHECK((*kube.object("Namespace", "", "hackmd"))["metadata"]["uid"] == uid_before);  // etcd's data as it was
  lab.world->engine().run_for(std::chrono::minutes(1));
  CHECK(kube.endpoints("website", "blog", 80).size() == 2);
  auto answer = lab.world->http("drctl", "10.0.20.200", 443, true, "www.viktorbarzin.me", "/");
  CHECK_MESSAGE(answer.status == 200, answer.error);

  // A second restore finds the data dir in use: refused, unless asked to replace it.
  auto again = capture::etcd_source_from_section(*r.repo, section, "section kube");
  CHECK(has(message_of([&] { capture::etcd_snapshot_restore(cp, again, o); }), "exists and is not empty; refusing"));
  o.replace_existing = true;
  auto replaced_source = capture::etcd_source_from_section(*r.repo, section, "section kube");
  const auto replaced = capture::etcd_snapshot_restore(cp, replaced_source, o);
  REQUIRE_FALSE(replaced.replaced_dir.empty());
  CHECK(lab.sh("test -f '" + replaced.replaced_dir + "/member/snap/db'").ok());
  CHECK(kube.api_up());
  CHECK(kube.object("Deployment", "website", "blog"));

  // A snapshot of another etcd minor version is refused before anything is touched.
  auto other = capture::etcd_source_from_section(*r.repo, section, "section kube");
  other.info.etcd_version = "3.4.23";
  CHECK(has(message_of([&] { capture::etcd_snapshot_restore(cp, other, o); }),
            "it was taken from etcd 3.4.23 but the etcd on k8s-master is 3.5.9 (the etcd image of "
            "/etc/kubernetes/manifests/etcd.yaml)"));
}

TEST_CASE("sim capture: etcdctl and etcdutl print what etcd 3.5 prints") {
  Homelab lab(4, "3.5.9");
  const std::string tls = "--cacert=/etc/kubernetes/pki/etcd/ca.crt --cert=/etc/kubernetes/pki/etcd/server.crt "
                          "--key=/etc/kubernetes/pki/etcd/server.key";
  CHECK(lab.sh("etcdctl version").out == "etcdctl version: 3.5.9\nAPI version: 3.5\n");
  CHECK(lab.sh("etcdutl version").out == "etcdutl version: 3.5.9\nAPI version: 3.5\n");
  CHECK(lab.sh("etcd --version").exit_code == 127);  // kubeadm's etcd runs from its image
  CHECK(lab.sh("command -v etcd").exit_code == 1);
  auto saved = lab.sh("sudo etcdctl --endpoints=https://127.0.0.1:2379 " + tls + " snapshot save /root/snap.db");
  REQUIRE_MESSAGE(saved.ok(), saved.err);
  CHECK(saved.out == "Snapshot saved at /root/snap.db\n");
  CHECK(has(saved.err, "\"msg\":\"created temporary db file\",\"path\":\"/root/snap.db.part\"}"));
  auto two = lab.sh("sudo etcdctl --endpoints=https://127.0.0.1:2379,https://10.0.20.11:2379 " + tls + " snapshot save /root/x.db");
  CHECK(two.err ==
        "Error: snapshot must be requested to one selected node, not multiple [https://127.0.0.1:2379 https://10.0.20.11:2379]\n");
  const json status = json::parse(lab.sh("etcdutl snapshot status /root/snap.db -w json").out);
  for (const char* k : {"hash", "revision", "totalKey", "totalSize", "version"}) CHECK(status.contains(k));
  auto deprecated = lab.sh("etcdctl snapshot status /root/snap.db -w json");
  CHECK(deprecated.err == "Deprecated: Use `etcdutl snapshot status` instead.\n\n");
  CHECK(json::parse(deprecated.out) == status);
  auto table = lab.sh("etcdutl snapshot status /root/snap.db -w table").out;
  CHECK(table.rfind("+-", 0) == 0);
  CHECK(has(table, "HASH   | REVISION | TOTAL KEYS | TOTAL SIZE | VERSION |\n"));
  auto wrong_key = lab.sh("etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
                          "--cert=/etc/kubernetes/pki/etcd/server.crt --key=/etc/kubernetes/pki/etcd/peer.key endpoint status");
  CHECK(wrong_key.exit_code == 128);
  CHECK(wrong_key.err == "Error: tls: private key does not match public key\n");
  auto restore_bad = lab.sh("etcdutl snapshot restore /root/snap.db --data-dir /root/r --name a "
                            "--initial-cluster b=https://10.0.20.11:2380 --initial-advertise-peer-urls https://10.0.20.11:2380");
  CHECK(restore_bad.err == "Error: couldn't find local name \"a\" in the initial cluster configuration\n");
  auto restore_ok = lab.sh("etcdutl snapshot restore /root/snap.db --data-dir /root/r --name a "
                           "--initial-cluster a=https://10.0.20.11:2380 --initial-advertise-peer-urls https://10.0.20.11:2380");
  REQUIRE_MESSAGE(restore_ok.ok(), restore_ok.err);
  CHECK(has(restore_ok.err, "\tinfo\tsnapshot/v3_snapshot.go:269\trestored snapshot\t"));
  CHECK(lab.sh("ls -A /root/r/member").out == "snap\nwal\n");
}
