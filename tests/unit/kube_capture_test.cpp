// Kubernetes capture (src/capture/kube.hpp) against a fake host whose kubectl answers from
// tests/fixtures/kube: real kubectl output for the homelab's cluster (make_fixtures.py there).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "capture/kube.hpp"
#include "base/error.hpp"

using namespace drctl;
using namespace drctl::capture;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

fs::path fixtures() { return fs::path(__FILE__).parent_path().parent_path() / "fixtures/kube"; }

std::string fixture(const std::string& name) {
  std::ifstream in(fixtures() / name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing fixture " << name);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const char* kAdminConf = "/etc/kubernetes/admin.conf";

/// A host whose kubectl answers from the fixtures; `answers` (by the arguments after the
/// kubeconfig and context) come first. Records every script it runs.
class FakeKubectl : public world::Host {
 public:
  std::string prefix = std::string("kubectl --kubeconfig ") + kAdminConf;
  std::map<std::string, world::CommandResult> answers;
  std::function<std::string(const std::string&)> rewrite_get;  // applied to every `get` output
  std::vector<std::string> scripts;

  const std::string& name() const override { return name_; }
  world::CommandResult run(const world::Command& c) override {
    scripts.push_back(c.script);
    world::CommandResult r;
    if (c.script.rfind(prefix + " ", 0) != 0) {
      r.exit_code = 127;
      r.err = "fake: unexpected command: " + c.script + "\n";
      return r;
    }
    const std::string args = c.script.substr(prefix.size() + 1);
    if (auto it = answers.find(args); it != answers.end()) return it->second;
    r.exit_code = 0;
    if (args == "version -o json") {
      r.out = fixture("version.json");
      r.err = fixture("version.err");
    } else if (args == "api-resources --verbs=list -o wide") {
      r.out = fixture("api-resources-wide.txt");
    } else if (args.rfind("get ", 0) == 0) {
      std::istringstream words(args.substr(4));
      std::string resource;
      words >> resource;
      r.out = fs::exists(fixtures() / "get" / (resource + ".json")) ? fixture("get/" + resource + ".json")
                                                                    : fixture("get-empty.json");
      if (rewrite_get) r.out = rewrite_get(r.out);
    } else {
      r.exit_code = 1;
      r.err = "error: unknown command \"" + args + "\" for \"kubectl\"\n";
    }
    return r;
  }
  void put_file(const std::string&, const std::string&, unsigned) override {}
  std::optional<std::string> get_file(const std::string&) override { return std::nullopt; }

  /// The `get` calls, as "RESOURCE FLAGS…".
  std::vector<std::string> gets() const {
    std::vector<std::string> out;
    for (const auto& s : scripts)
      if (auto at = s.find(" get "); at != std::string::npos) out.push_back(s.substr(at + 5));
    return out;
  }

 private:
  std::string name_ = "k8s-master";
};

KubeTarget admin() {
  KubeTarget t;
  t.kubeconfig = kAdminConf;
  return t;
}

KubeCapture run_capture(FakeKubectl& host, const KubeFilter& filter = {}) { return capture_kube(host, admin(), filter); }

json object(const KubeCapture& c, const std::string& path) {
  auto it = c.files.find(path);
  REQUIRE_MESSAGE(it != c.files.end(), "not captured: " << path);
  return json::parse(it->second);
}

bool has(const KubeCapture& c, const std::string& path) { return c.files.count(path) > 0; }

std::vector<KubeResource> discovery() { return parse_api_resources(fixture("api-resources-wide.txt")); }

KubeResource resource(const std::string& qualified) {
  for (const auto& r : discovery())
    if (r.qualified() == qualified) return r;
  FAIL("no resource " << qualified);
  return {};
}

world::CommandResult failed(int code, const std::string& err) {
  world::CommandResult r;
  r.exit_code = code;
  r.err = err;
  return r;
}

std::string failure_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Failure& e) {
    return e.what();
  }
  FAIL("no Failure thrown");
  return "";
}

}  // namespace

TEST_CASE("kube discovery: the columns of kubectl api-resources -o wide") {
  const auto all = discovery();
  CHECK(all.size() == 58);

  const auto cm = resource("configmaps");
  CHECK(cm.short_names == std::vector<std::string>{"cm"});
  CHECK(cm.group == "");
  CHECK(cm.version == "v1");
  CHECK(cm.api_version() == "v1");
  CHECK(cm.namespaced);
  CHECK(cm.kind == "ConfigMap");
  CHECK(cm.verbs == std::vector<std::string>{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"});
  CHECK(cm.categories.empty());

  const auto secrets = resource("secrets");  // no short names: a blank cell
  CHECK(secrets.short_names.empty());
  CHECK(secrets.namespaced);
  CHECK(secrets.kind == "Secret");

  const auto crds = resource("customresourcedefinitions.apiextensions.k8s.io");
  CHECK(crds.short_names == std::vector<std::string>{"crd", "crds"});
  CHECK(!crds.namespaced);
  CHECK(crds.api_version() == "apiextensions.k8s.io/v1");
  CHECK(crds.categories == std::vector<std::string>{"api-extensions"});

  const auto pools = resource("ipaddresspools.metallb.io");  // a CRD: no short names, no categories
  CHECK(pools.group == "metallb.io");
  CHECK(pools.version == "v1beta1");
  CHECK(pools.kind == "IPAddressPool");
  CHECK(pools.namespaced);
  CHECK(resource("bgppeers.metallb.io").version == "v1beta2");  // the group's preferred version

  const auto pod_metrics = resource("pods.metrics.k8s.io");  // the aggregated API (metrics-server)
  CHECK(pod_metrics.kind == "PodMetrics");
  CHECK(pod_metrics.verbs == std::vector<std::string>{"get", "list"});
  CHECK(resource("pods").categories == std::vector<std::string>{"all"});
  CHECK(resource("services").verbs.size() == 7);  // no deletecollection in 1.28
  CHECK(resource("flowschemas.flowcontrol.apiserver.k8s.io").version == "v1beta3");
}

TEST_CASE("kube discovery: resources match by plural, Kind, short name, plural.group or Kind.group") {
  const auto cm = resource("configmaps");
  for (const char* p : {"configmaps", "ConfigMap", "configmap", "cm", "CM"}) CHECK_MESSAGE(cm.matches(p), p);
  CHECK_FALSE(cm.matches("configmaps.v1"));
  const auto pools = resource("ipaddresspools.metallb.io");
  for (const char* p : {"ipaddresspools", "IPAddressPool", "ipaddresspools.metallb.io", "IPAddressPool.metallb.io"})
    CHECK_MESSAGE(pools.matches(p), p);
  CHECK_FALSE(pools.matches("ipaddresspools.metallb"));
  CHECK_FALSE(pools.matches(""));
  CHECK(resource("pods").matches("pods"));
  CHECK(resource("pods.metrics.k8s.io").matches("pods"));
  CHECK_FALSE(resource("pods").matches("pods.metrics.k8s.io"));
}

TEST_CASE("kube discovery: older kubectl's APIGROUP column and [verb] lists") {
  const std::string table =
      "NAME                              SHORTNAMES   APIGROUP                       NAMESPACED   KIND                             VERBS\n"
      "configmaps                        cm                                          true         ConfigMap                        [create delete deletecollection get list patch update watch]\n"
      "secrets                                                                       true         Secret                           [create delete deletecollection get list patch update watch]\n"
      "deployments                       deploy       apps                           true         Deployment                       [create delete deletecollection get list patch update watch]\n"
      "componentstatuses                 cs                                          false        ComponentStatus                  [get list]\n";
  const auto all = parse_api_resources(table);
  REQUIRE(all.size() == 4);
  CHECK(all[0].short_names == std::vector<std::string>{"cm"});
  CHECK(all[0].group == "");
  CHECK(all[0].verbs.size() == 8);
  CHECK(all[1].short_names.empty());
  CHECK(all[2].qualified() == "deployments.apps");
  CHECK(all[2].version == "");
  CHECK(all[3].verbs == std::vector<std::string>{"get", "list"});
  CHECK(!all[3].namespaced);
}

TEST_CASE("kube discovery: output that is not the wide table is refused") {
  auto msg = failure_of([] { parse_api_resources(fixture("api-resources-name.txt")); });
  CHECK(msg.find("-o wide") != std::string::npos);
  CHECK(msg.find("componentstatuses") != std::string::npos);
  CHECK_THROWS_AS(parse_api_resources(""), Failure);
  msg = failure_of([] {
    parse_api_resources("NAME   SHORTNAMES   APIVERSION   NAMESPACED   KIND   VERBS\n"
                        "pods   po           v1           maybe        Pod    get,list\n");
  });
  CHECK(msg.find("line 2") != std::string::npos);
  CHECK(msg.find("NAMESPACED") != std::string::npos);
}

TEST_CASE("kube discovery: a partial discovery (an aggregated API down) is a warning") {
  FakeKubectl host;
  world::CommandResult partial;
  partial.exit_code = std::stoi(fixture("api-resources-partial.code"));
  partial.out = fixture("api-resources-partial.out");
  partial.err = fixture("api-resources-partial.err");
  host.answers["api-resources --verbs=list -o wide"] = partial;
  const auto c = run_capture(host);
  REQUIRE(c.warnings.size() == 1);
  CHECK(c.warnings[0].find("metrics.k8s.io/v1beta1: the server is currently unable to handle the request") !=
        std::string::npos);
  CHECK(c.warnings[0].find("memcache") == std::string::npos);
  CHECK(object(c, "cluster.json")["incompleteDiscovery"].get<std::string>().rfind(
            "error: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1", 0) == 0);
  CHECK(has(c, "website/deployments.apps/blog.json"));

  // Any other failure of discovery is an error.
  host.answers["api-resources --verbs=list -o wide"] = failed(1, fixture("unauthorized.err"));
  CHECK_THROWS_AS(run_capture(host), Failure);
}

TEST_CASE("kube capture: every kubectl call names the kubeconfig, and the context when given") {
  SUBCASE("kubeconfig only") {
    FakeKubectl host;
    run_capture(host);
    REQUIRE(host.scripts.size() > 20);
    for (const auto& s : host.scripts) CHECK(s.rfind("kubectl --kubeconfig /etc/kubernetes/admin.conf ", 0) == 0);
    CHECK(host.scripts[0] == "kubectl --kubeconfig /etc/kubernetes/admin.conf version -o json");
    CHECK(host.scripts[1] == "kubectl --kubeconfig /etc/kubernetes/admin.conf api-resources --verbs=list -o wide");
  }
  SUBCASE("a context, odd characters and sudo") {
    FakeKubectl host;
    host.prefix = "sudo kubectl --kubeconfig '/home/wizard/my clusters/admin.conf' --context 'it'\\''s@homelab'";
    KubeTarget t;
    t.kubeconfig = "/home/wizard/my clusters/admin.conf";
    t.context = "it's@homelab";
    t.kubectl = "sudo kubectl";
    const auto c = capture_kube(host, t);
    for (const auto& s : host.scripts) CHECK(s.rfind(host.prefix + " ", 0) == 0);
    CHECK(has(c, "website/deployments.apps/blog.json"));
  }
}

TEST_CASE("kube capture: namespaced resources are listed with -A, cluster-scoped ones without") {
  FakeKubectl host;
  run_capture(host);
  const auto gets = host.gets();
  auto got = [&](const std::string& g) { return std::find(gets.begin(), gets.end(), g) != gets.end(); };
  CHECK(got("configmaps -A -o json"));
  CHECK(got("deployments.apps -A -o json"));
  CHECK(got("ipaddresspools.metallb.io -A -o json"));
  CHECK(got("namespaces -o json"));
  CHECK(got("persistentvolumes -o json"));
  CHECK(got("customresourcedefinitions.apiextensions.k8s.io -o json"));
  CHECK(got("clusterroles.rbac.authorization.k8s.io -o json"));
  // Resources of the skip table are never listed.
  for (const char* r : {"events", "events.events.k8s.io", "nodes", "leases.coordination.k8s.io", "componentstatuses",
                        "pods.metrics.k8s.io", "nodes.metrics.k8s.io", "csinodes.storage.k8s.io",
                        "volumeattachments.storage.k8s.io", "certificatesigningrequests.certificates.k8s.io"})
    CHECK_MESSAGE(std::none_of(gets.begin(), gets.end(), [&](const std::string& g) { return g.rfind(std::string(r) + " ", 0) == 0; }),
                  r);
  CHECK(gets.size() == 48);  // 58 listable, 10 of them skipped; Services once (shared with the Endpoints rule)
}

TEST_CASE("kube capture: an empty kubeconfig path is refused before anything runs") {
  FakeKubectl host;
  KubeTarget t;
  CHECK_THROWS_AS(capture_kube(host, t), InputError);
  t.kubeconfig = "  ";
  CHECK_THROWS_AS(capture_kube(host, t), InputError);
  CHECK(host.scripts.empty());
}

TEST_CASE("kube capture: what is never captured") {
  FakeKubectl host;
  const auto c = run_capture(host);

  // Whole resources.
  for (const auto& f : c.files) {
    CHECK_MESSAGE(f.first.find("/events") == std::string::npos, f.first);
    CHECK_MESSAGE(f.first.find("/leases.") == std::string::npos, f.first);
    CHECK_MESSAGE(f.first.find("/nodes") == std::string::npos, f.first);
    CHECK_MESSAGE(f.first.find("/componentstatuses/") == std::string::npos, f.first);
    CHECK_MESSAGE(f.first.find("/controllerrevisions.apps/") == std::string::npos, f.first);
    CHECK_MESSAGE(f.first.find("kube-root-ca.crt") == std::string::npos, f.first);
    CHECK_MESSAGE(f.first.rfind("kube-system/", 0) != 0, f.first);
    CHECK_MESSAGE(f.first.rfind("kube-public/", 0) != 0, f.first);
    CHECK_MESSAGE(f.first.rfind("kube-node-lease/", 0) != 0, f.first);
  }
  CHECK(std::find(c.skipped_resources.begin(), c.skipped_resources.end(), "events.events.k8s.io (events)") !=
        c.skipped_resources.end());
  CHECK(std::find(c.skipped_resources.begin(), c.skipped_resources.end(), "pods.metrics.k8s.io (not-creatable)") !=
        c.skipped_resources.end());
  CHECK(std::find(c.skipped_resources.begin(), c.skipped_resources.end(), "componentstatuses (not-creatable)") !=
        c.skipped_resources.end());

  // Controller-owned objects; the same kinds without a controller stay.
  CHECK_FALSE(has(c, "website/pods/blog-6d4cf56db6-2xk9p.json"));
  CHECK_FALSE(has(c, "website/replicasets.apps/blog-6d4cf56db6.json"));
  CHECK_FALSE(has(c, "website/jobs.batch/blog-backup-28590435.json"));  // the CronJob's
  CHECK(has(c, "default/pods/netshoot.json"));                          // a bare pod
  CHECK(has(c, "ingress-nginx/jobs.batch/ingress-nginx-admission-create.json"));
  CHECK(has(c, "website/cronjobs.batch/blog-backup.json"));
  CHECK(c.skipped.at("controller-owned") == 13);  // 9 ReplicaSets, 2 Pods, 1 Job, 1 ControllerRevision

  // Endpoints: the control plane's go, the selector-less Service's (the NAS) stays.
  CHECK_FALSE(has(c, "default/endpoints/kubernetes.json"));
  CHECK_FALSE(has(c, "website/endpoints/blog.json"));
  CHECK_FALSE(has(c, "hackmd/endpoints/hackmd-db.json"));
  CHECK(has(c, "default/endpoints/truenas.json"));
  CHECK_FALSE(has(c, "default/endpointslices.discovery.k8s.io/kubernetes.json"));
  CHECK_FALSE(has(c, "website/endpointslices.discovery.k8s.io/blog-7hq2d.json"));
  CHECK_FALSE(has(c, "default/endpointslices.discovery.k8s.io/truenas-m4xfb.json"));  // mirrored from the Endpoints

  // Services, ConfigMaps, Secrets.
  CHECK_FALSE(has(c, "default/services/kubernetes.json"));
  CHECK(has(c, "default/services/truenas.json"));
  CHECK(c.skipped.at("root-ca-configmap") == 11);  // one per namespace (the rules come before the namespace filter)
  CHECK(has(c, "hackmd/configmaps/hackmd-config.json"));
  CHECK_FALSE(has(c, "wireguard/secrets/wg-admin-token.json"));
  CHECK(has(c, "website/secrets/www-viktorbarzin-me-tls.json"));
  CHECK(object(c, "website/secrets/www-viktorbarzin-me-tls.json")["type"] == "kubernetes.io/tls");
  CHECK(has(c, "mail/secrets/mailserver-accounts.json"));

  // What the API server makes itself.
  CHECK_FALSE(has(c, "_cluster/clusterroles.rbac.authorization.k8s.io/cluster-admin.json"));
  CHECK_FALSE(has(c, "_cluster/clusterroles.rbac.authorization.k8s.io/view.json"));
  CHECK_FALSE(has(c, "_cluster/clusterrolebindings.rbac.authorization.k8s.io/cluster-admin.json"));
  CHECK(has(c, "_cluster/clusterroles.rbac.authorization.k8s.io/kubeadm:get-nodes.json"));
  CHECK_FALSE(has(c, "_cluster/priorityclasses.scheduling.k8s.io/system-node-critical.json"));
  CHECK_FALSE(has(c, "_cluster/priorityclasses.scheduling.k8s.io/system-cluster-critical.json"));
  CHECK(has(c, "_cluster/priorityclasses.scheduling.k8s.io/homelab-critical.json"));
  CHECK_FALSE(has(c, "_cluster/flowschemas.flowcontrol.apiserver.k8s.io/exempt.json"));
  CHECK_FALSE(has(c, "_cluster/prioritylevelconfigurations.flowcontrol.apiserver.k8s.io/exempt.json"));
  CHECK_FALSE(has(c, "_cluster/apiservices.apiregistration.k8s.io/v1.apps.json"));

  // Tied to kube-system: the Namespace and metrics-server's APIService.
  CHECK_FALSE(has(c, "_cluster/namespaces/kube-system.json"));
  CHECK_FALSE(has(c, "_cluster/apiservices.apiregistration.k8s.io/v1beta1.metrics.k8s.io.json"));
  CHECK(has(c, "_cluster/namespaces/default.json"));
  CHECK(c.skipped.at("namespace") > 0);

  // Every skip id is a row of the documented table.
  for (const auto& [id, n] : c.skipped)
    CHECK_MESSAGE(std::any_of(kube_skip_rules().begin(), kube_skip_rules().end(),
                              [&](const KubeSkipRule& r) { return r.id == id && !r.what.empty() && !r.why.empty(); }),
                  id);
}

TEST_CASE("kube skip rules: single objects") {
  auto skip = [&](const char* res, const json& o, const KubeFacts& facts = {}) {
    return kube_skip_object(resource(res), o, facts).value_or("");
  };
  const json owned_by_nobody = {{"metadata", {{"name", "x"}, {"namespace", "a"}}}};
  const json not_controller = {{"metadata", {{"name", "x"}, {"namespace", "a"}, {"ownerReferences",
      {{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "n1"}, {"uid", "1"}}}}}}};
  const json controller = {{"metadata", {{"name", "x"}, {"namespace", "a"}, {"ownerReferences",
      {{{"apiVersion", "apps/v1"}, {"kind", "ReplicaSet"}, {"name", "r"}, {"uid", "1"}, {"controller", true}}}}}}};
  CHECK(skip("pods", owned_by_nobody) == "");
  CHECK(skip("pods", not_controller) == "");
  CHECK(skip("pods", controller) == "controller-owned");
  CHECK(skip("replicasets.apps", controller) == "controller-owned");
  CHECK(skip("jobs.batch", controller) == "controller-owned");
  CHECK(skip("controllerrevisions.apps", controller) == "controller-owned");
  CHECK(skip("configmaps", controller) == "");  // an operator's child stays (without its ownerReferences)

  KubeFacts facts;
  facts.selector_services.insert("a/web");
  CHECK(skip("endpoints", {{"metadata", {{"name", "web"}, {"namespace", "a"}}}}, facts) == "control-plane-endpoints");
  CHECK(skip("endpoints", {{"metadata", {{"name", "nas"}, {"namespace", "a"}}}}, facts) == "");
  CHECK(skip("endpoints", {{"metadata", {{"name", "x"}, {"namespace", "a"}, {"labels",
      {{"endpoints.kubernetes.io/managed-by", "endpoint-controller"}}}}}}) == "control-plane-endpoints");
  CHECK(skip("endpointslices.discovery.k8s.io", {{"metadata", {{"name", "x"}, {"namespace", "a"}, {"labels",
      {{"endpointslice.kubernetes.io/managed-by", "staff"}}}}}}) == "");
  CHECK(skip("secrets", {{"metadata", {{"name", "t"}, {"namespace", "a"}}}, {"type", "kubernetes.io/service-account-token"}}) ==
        "service-account-token");
  CHECK(skip("secrets", {{"metadata", {{"name", "t"}, {"namespace", "a"}}}, {"type", "Opaque"}}) == "");
  CHECK(skip("flowschemas.flowcontrol.apiserver.k8s.io", {{"metadata", {{"name", "mine"}, {"annotations",
      {{"apf.kubernetes.io/autoupdate-spec", "false"}}}}}}) == "");
  CHECK(skip("services", {{"metadata", {{"name", "kubernetes"}, {"namespace", "other"}}}}) == "");

  CHECK(kube_skip_resource(resource("configmaps")) == std::nullopt);
  CHECK(kube_skip_resource(resource("ipaddresspools.metallb.io")) == std::nullopt);
  CHECK(kube_skip_resource(resource("events")) == "events");
  CHECK(kube_skip_resource(resource("nodes")) == "nodes");
  CHECK(kube_skip_resource(resource("nodes.metrics.k8s.io")) == "not-creatable");
  CHECK(kube_skip_resource(resource("leases.coordination.k8s.io")) == "leases");
}

TEST_CASE("kube capture: system namespaces only when included by name") {
  FakeKubectl host;
  KubeFilter f;
  f.include_namespaces = {"kube-system", "mail"};
  const auto c = run_capture(host, f);
  CHECK(has(c, "kube-system/configmaps/coredns.json"));
  CHECK(has(c, "kube-system/deployments.apps/metrics-server.json"));
  CHECK(has(c, "_cluster/namespaces/kube-system.json"));
  CHECK(has(c, "_cluster/apiservices.apiregistration.k8s.io/v1beta1.metrics.k8s.io.json"));
  CHECK(has(c, "mail/deployments.apps/mailserver.json"));
  CHECK(has(c, "_cluster/persistentvolumes/mail-data.json"));
  CHECK_FALSE(has(c, "_cluster/persistentvolumes/hackmd-data.json"));  // its claim is in hackmd
  CHECK_FALSE(has(c, "website/deployments.apps/blog.json"));
  CHECK_FALSE(has(c, "_cluster/namespaces/website.json"));
  CHECK_FALSE(has(c, "kube-public/configmaps/cluster-info.json"));
  CHECK_FALSE(has(c, "_cluster/validatingwebhookconfigurations.admissionregistration.k8s.io/ingress-nginx-admission.json"));
  CHECK(has(c, "_cluster/storageclasses.storage.k8s.io/truenas-nfs.json"));  // tied to no namespace
  CHECK(has(c, "_cluster/customresourcedefinitions.apiextensions.k8s.io/ipaddresspools.metallb.io.json"));
  CHECK(c.warnings.empty());
  CHECK(object(c, "cluster.json")["includeNamespaces"] == json({"kube-system", "mail"}));

  f.include_namespaces = {"nosuchnamespace"};
  const auto empty = run_capture(host, f);
  REQUIRE(empty.warnings.size() == 1);
  CHECK(empty.warnings[0].find("nosuchnamespace") != std::string::npos);
}

TEST_CASE("kube capture: excluded namespaces take their cluster-scoped ties along") {
  FakeKubectl host;
  KubeFilter f;
  f.exclude_namespaces = {"mail", "ingress-nginx"};
  const auto c = run_capture(host, f);
  for (const auto& file : c.files) {
    CHECK_MESSAGE(file.first.rfind("mail/", 0) != 0, file.first);
    CHECK_MESSAGE(file.first.rfind("ingress-nginx/", 0) != 0, file.first);
  }
  CHECK_FALSE(has(c, "_cluster/namespaces/mail.json"));
  CHECK_FALSE(has(c, "_cluster/persistentvolumes/mail-data.json"));
  CHECK_FALSE(has(c, "_cluster/validatingwebhookconfigurations.admissionregistration.k8s.io/ingress-nginx-admission.json"));
  CHECK(has(c, "_cluster/validatingwebhookconfigurations.admissionregistration.k8s.io/metallb-webhook-configuration.json"));
  CHECK(has(c, "_cluster/persistentvolumes/hackmd-data.json"));
  CHECK(has(c, "website/deployments.apps/blog.json"));

  const json webhook = {{"metadata", {{"name", "w"}}},
                        {"webhooks", {{{"name", "a"}, {"clientConfig", {{"url", "https://outside.example/"}}}},
                                      {{"name", "b"}, {"clientConfig", {{"service", {{"namespace", "mail"}, {"name", "s"}}}}}}}}};
  CHECK_FALSE(kube_namespaces_wanted(resource("mutatingwebhookconfigurations.admissionregistration.k8s.io"), webhook, f));
  CHECK(kube_namespaces_wanted(resource("mutatingwebhookconfigurations.admissionregistration.k8s.io"), webhook, KubeFilter{}));
}

TEST_CASE("kube capture: kind filters") {
  SUBCASE("include by short name, Kind, plural and Kind.group") {
    FakeKubectl host;
    KubeFilter f;
    f.include_kinds = {"deploy", "Secret", "services", "IPAddressPool.metallb.io"};
    const auto c = run_capture(host, f);
    std::set<std::string> kinds;
    for (const auto& file : c.files)
      if (file.first != "cluster.json") kinds.insert(file.first.substr(file.first.find('/') + 1, file.first.rfind('/') - file.first.find('/') - 1));
    CHECK(kinds == std::set<std::string>{"deployments.apps", "secrets", "services", "ipaddresspools.metallb.io"});
    auto gets = host.gets();
    std::sort(gets.begin(), gets.end());
    CHECK(gets == std::vector<std::string>{"deployments.apps -A -o json", "ipaddresspools.metallb.io -A -o json",
                                           "secrets -A -o json", "services -A -o json"});
    CHECK(object(c, "cluster.json")["resources"].size() == 4);
  }
  SUBCASE("exclude") {
    FakeKubectl host;
    KubeFilter f;
    f.exclude_kinds = {"secrets", "ingresses.networking.k8s.io", "L2Advertisement.metallb.io", "crd"};
    const auto c = run_capture(host, f);
    for (const auto& file : c.files) {
      CHECK_MESSAGE(file.first.find("/secrets/") == std::string::npos, file.first);
      CHECK_MESSAGE(file.first.find("/ingresses.networking.k8s.io/") == std::string::npos, file.first);
      CHECK_MESSAGE(file.first.find("/l2advertisements.metallb.io/") == std::string::npos, file.first);
      CHECK_MESSAGE(file.first.find("/customresourcedefinitions.") == std::string::npos, file.first);
    }
    CHECK(has(c, "metallb-system/ipaddresspools.metallb.io/homelab.json"));
    CHECK(has(c, "_cluster/ingressclasses.networking.k8s.io/nginx.json"));
  }
  SUBCASE("a kind the cluster does not serve is an error; one never captured a warning") {
    FakeKubectl host;
    KubeFilter f;
    f.include_kinds = {"certificates.cert-manager.io"};
    try {
      run_capture(host, f);
      FAIL("no InputError");
    } catch (const InputError& e) {
      CHECK(std::string(e.what()).find("\"certificates.cert-manager.io\"") != std::string::npos);
    }
    f.include_kinds = {"ev", "cm"};
    const auto c = run_capture(host, f);
    CHECK(c.warnings.size() == 2);  // core and events.k8s.io Events
    CHECK(c.warnings[0].find("events") != std::string::npos);
    CHECK(has(c, "hackmd/configmaps/hackmd-config.json"));
  }
}

TEST_CASE("kube capture: the label selector goes to kubectl -l") {
  FakeKubectl host;
  KubeFilter f;
  f.selector = "tier=web";
  const auto c = run_capture(host, f);
  const auto gets = host.gets();
  std::size_t unselected = 0;
  for (const auto& g : gets) {
    if (g == "services -A -o json") {
      ++unselected;  // every Service: which Endpoints are the control plane's
      continue;
    }
    CHECK_MESSAGE(g.size() > 12, g);
    CHECK_MESSAGE(g.substr(g.size() - 12) == " -l tier=web", g);
  }
  CHECK(unselected == 1);
  CHECK(std::count(gets.begin(), gets.end(), "services -A -o json -l tier=web") == 1);
  CHECK(object(c, "cluster.json")["selector"] == "tier=web");

  FakeKubectl quoted;
  f.selector = "app in (blog,hackmd)";
  run_capture(quoted, f);
  for (const auto& g : quoted.gets())
    if (g != "services -A -o json") CHECK_MESSAGE(g.find(" -l 'app in (blog,hackmd)'") != std::string::npos, g);
}

TEST_CASE("kube normalise: metadata of every object") {
  const json list = json::parse(fixture("get-show-managed-fields/deployments.apps.json"));
  const json before = list["items"][0];
  REQUIRE(before["metadata"].contains("managedFields"));
  const json after = kube_normalise(resource("deployments.apps"), before);
  CHECK_FALSE(after.contains("status"));
  for (const char* k : {"uid", "resourceVersion", "managedFields", "creationTimestamp", "generation"})
    CHECK_MESSAGE(!after["metadata"].contains(k), k);
  CHECK_FALSE(after["metadata"]["annotations"].contains("kubectl.kubernetes.io/last-applied-configuration"));
  CHECK(after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1");
  CHECK(after["metadata"]["name"] == before["metadata"]["name"]);
  CHECK(after["metadata"]["namespace"] == before["metadata"]["namespace"]);
  CHECK(after["spec"] == before["spec"]);

  const json old = {{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                    {"metadata", {{"name", "x"}, {"namespace", "a"}, {"selfLink", "/api/v1/namespaces/a/configmaps/x"},
                                  {"deletionTimestamp", "2024-05-11T10:00:00Z"}, {"deletionGracePeriodSeconds", 0},
                                  {"finalizers", {"example.com/keep"}},
                                  {"ownerReferences", {{{"apiVersion", "example.com/v1"}, {"kind", "App"}, {"name", "a"}, {"uid", "1"}}}},
                                  {"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}}}}},
                    {"data", {{"k", "v"}}}};
  const json n = kube_normalise(resource("configmaps"), old);
  CHECK(n == json{{"apiVersion", "v1"}, {"kind", "ConfigMap"},
                  {"metadata", {{"name", "x"}, {"namespace", "a"}, {"finalizers", {"example.com/keep"}}}},
                  {"data", {{"k", "v"}}}});
}

TEST_CASE("kube normalise: Services keep headless, drop allocated addresses and ports") {
  FakeKubectl host;
  const auto c = run_capture(host);
  const json blog = object(c, "website/services/blog.json");
  CHECK_FALSE(blog["spec"].contains("clusterIP"));
  CHECK_FALSE(blog["spec"].contains("clusterIPs"));
  CHECK(blog["spec"]["ports"] == json::parse(R"([{"port": 80, "protocol": "TCP", "targetPort": 80}])"));
  CHECK_FALSE(blog.contains("status"));

  const json headless = object(c, "hackmd/services/hackmd-db.json");
  CHECK(headless["spec"]["clusterIP"] == "None");
  CHECK(headless["spec"]["clusterIPs"] == json({"None"}));

  const json lb = object(c, "ingress-nginx/services/ingress-nginx-controller.json");
  CHECK(lb["spec"]["type"] == "LoadBalancer");
  CHECK_FALSE(lb["spec"].contains("clusterIP"));
  CHECK_FALSE(lb["spec"].contains("healthCheckNodePort"));
  for (const auto& p : lb["spec"]["ports"]) CHECK_FALSE(p.contains("nodePort"));
  CHECK(lb["spec"]["loadBalancerIP"] == "10.0.20.200");
  CHECK(lb["metadata"]["annotations"]["metallb.universe.tf/allow-shared-ip"] == "shared");
  CHECK_FALSE(lb.contains("status"));
  CHECK_FALSE(object(c, "mail/services/mailserver.json")["spec"]["ports"][0].contains("nodePort"));

  const json node_port = object(c, "wireguard/services/wireguard.json");  // the port is its address
  CHECK(node_port["spec"]["ports"][0]["nodePort"] == 31820);
  CHECK_FALSE(node_port["spec"].contains("clusterIP"));
}

TEST_CASE("kube normalise: PersistentVolumes, claims and Jobs") {
  FakeKubectl host;
  const auto c = run_capture(host);
  const json pv = object(c, "_cluster/persistentvolumes/mail-data.json");
  CHECK(pv["spec"]["claimRef"] ==
        json{{"apiVersion", "v1"}, {"kind", "PersistentVolumeClaim"}, {"name", "mail-data"}, {"namespace", "mail"}});
  CHECK(pv["spec"]["nfs"]["server"] == "10.0.10.6");
  CHECK_FALSE(pv.contains("status"));

  const json pvc = object(c, "mail/persistentvolumeclaims/mail-data.json");
  CHECK_FALSE(pvc["metadata"].contains("annotations"));  // bind-completed and bound-by-controller were all
  CHECK(pvc["spec"]["volumeName"] == "mail-data");
  CHECK(pvc["metadata"]["finalizers"] == json({"kubernetes.io/pvc-protection"}));
  CHECK_FALSE(object(c, "hackmd/persistentvolumeclaims/pgdata-hackmd-db-0.json")["metadata"].contains("annotations"));

  const json job = object(c, "ingress-nginx/jobs.batch/ingress-nginx-admission-create.json");
  CHECK_FALSE(job["spec"].contains("selector"));  // it held only the generated controller-uid
  const json& labels = job["spec"]["template"]["metadata"]["labels"];
  CHECK_FALSE(labels.contains("controller-uid"));
  CHECK_FALSE(labels.contains("batch.kubernetes.io/controller-uid"));
  CHECK(labels["job-name"] == "ingress-nginx-admission-create");
  CHECK(labels["batch.kubernetes.io/job-name"] == "ingress-nginx-admission-create");
  CHECK_FALSE(job["metadata"]["labels"].contains("controller-uid"));

  json manual = json::parse(R"({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m", "namespace": "a"},
    "spec": {"manualSelector": true, "selector": {"matchLabels": {"controller-uid": "mine"}},
             "template": {"metadata": {"labels": {"controller-uid": "mine"}}}}})");
  CHECK(kube_normalise(resource("jobs.batch"), manual)["spec"] == manual["spec"]);
}

TEST_CASE("kube capture: layout and cluster.json") {
  FakeKubectl host;
  const auto c = run_capture(host);
  for (const char* path : {"_cluster/customresourcedefinitions.apiextensions.k8s.io/ipaddresspools.metallb.io.json",
                           "metallb-system/ipaddresspools.metallb.io/homelab.json",
                           "metallb-system/l2advertisements.metallb.io/homelab.json",
                           "_cluster/storageclasses.storage.k8s.io/truenas-nfs.json",
                           "_cluster/namespaces/website.json", "website/deployments.apps/blog.json",
                           "hackmd/statefulsets.apps/hackmd-db.json", "metallb-system/daemonsets.apps/speaker.json",
                           "website/ingresses.networking.k8s.io/blog.json",
                           "_cluster/clusterroles.rbac.authorization.k8s.io/kubeadm:get-nodes.json",
                           "metallb-system/serviceaccounts/controller.json",
                           "privatebin/networkpolicies.networking.k8s.io/allow-ingress-nginx.json"})
    CHECK_MESSAGE(has(c, path), path);
  CHECK(c.files.size() == 84);  // 83 objects and cluster.json

  for (const auto& [path, content] : c.files) {
    REQUIRE_MESSAGE(!content.empty(), path);
    CHECK_MESSAGE(content.back() == '\n', path);
    const json j = json::parse(content);
    CHECK_MESSAGE(j.dump(2) + "\n" == content, path);  // sorted keys, 2-space indent
    if (path == "cluster.json") continue;
    CHECK_MESSAGE(j.contains("apiVersion"), path);
    CHECK_MESSAGE(j.contains("kind"), path);
    const bool cluster_scoped = path.rfind("_cluster/", 0) == 0;
    CHECK_MESSAGE(j["metadata"].contains("namespace") != cluster_scoped, path);
  }
  const json pool = object(c, "metallb-system/ipaddresspools.metallb.io/homelab.json");
  CHECK(pool == json::parse(R"({"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
    "metadata": {"name": "homelab", "namespace": "metallb-system"},
    "spec": {"addresses": ["10.0.20.200-10.0.20.220"], "autoAssign": true, "avoidBuggyIPs": false}})"));
  CHECK(c.files.at("metallb-system/ipaddresspools.metallb.io/homelab.json") ==
        "{\n  \"apiVersion\": \"metallb.io/v1beta1\",\n  \"kind\": \"IPAddressPool\",\n  \"metadata\": {\n"
        "    \"name\": \"homelab\",\n    \"namespace\": \"metallb-system\"\n  },\n  \"spec\": {\n    \"addresses\": [\n"
        "      \"10.0.20.200-10.0.20.220\"\n    ],\n    \"autoAssign\": true,\n    \"avoidBuggyIPs\": false\n  }\n}\n");

  const json cluster = object(c, "cluster.json");
  CHECK(cluster["serverVersion"] == "v1.28.2");
  CHECK(c.server_version == "v1.28.2");
  CHECK(cluster["format"] == "drctl.kube/1");
  CHECK_FALSE(cluster.contains("incompleteDiscovery"));
  CHECK(cluster["resources"].size() == 48);
  CHECK(c.resources.size() == 48);
  bool found = false;
  for (const auto& r : cluster["resources"])
    if (r["resource"] == "ipaddresspools.metallb.io") {
      found = true;
      CHECK(r == json{{"resource", "ipaddresspools.metallb.io"}, {"apiVersion", "metallb.io/v1beta1"},
                      {"kind", "IPAddressPool"}, {"namespaced", true}, {"objects", 1}});
    }
  CHECK(found);
  CHECK(std::is_sorted(cluster["resources"].begin(), cluster["resources"].end(),
                       [](const json& a, const json& b) { return a["resource"] < b["resource"]; }));

  KubeResource r = resource("configmaps");
  CHECK_THROWS_AS(kube_object_path(r, json{{"metadata", {{"name", "../x"}, {"namespace", "a"}}}}), Failure);
  CHECK_THROWS_AS(kube_object_path(r, json{{"metadata", {{"name", "x"}}}}), Failure);
}

TEST_CASE("kube capture: the same cluster gives the same bytes") {
  FakeKubectl once, twice, shuffled;
  const auto a = run_capture(once);
  const auto b = run_capture(twice);
  CHECK(a.files == b.files);

  // Another order of objects and keys, other whitespace: still the same files.
  shuffled.rewrite_get = [](const std::string& out) {
    json list = json::parse(out);
    std::reverse(list["items"].begin(), list["items"].end());
    return list.dump();
  };
  const auto c = run_capture(shuffled);
  CHECK(a.files == c.files);
}

TEST_CASE("kube capture: a kubectl failure is one clear error") {
  SUBCASE("a list the server refuses") {
    FakeKubectl host;
    host.answers["get secrets -A -o json"] = failed(1, "error: You must be logged in to the server (Unauthorized)\n");
    const std::string msg = failure_of([&] { run_capture(host); });
    CHECK(msg == "kubectl get secrets on k8s-master failed (exit 1): error: You must be logged in to the server (Unauthorized)");
  }
  SUBCASE("kubectl's klog lines before its error") {
    FakeKubectl host;
    host.answers["version -o json"] = failed(std::stoi(fixture("unauthorized.code")), fixture("unauthorized.err"));
    const std::string msg = failure_of([&] { run_capture(host); });
    CHECK(msg == "kubectl version on k8s-master failed (exit 1): error: You must be logged in to the server (the server "
                 "has asked for the client to provide credentials)");
    CHECK(host.scripts.size() == 1);
  }
  SUBCASE("no kubectl") {
    FakeKubectl host;
    host.answers["version -o json"] = failed(127, "sh: 1: kubectl: not found\n");
    CHECK(failure_of([&] { run_capture(host); }) == "kubectl version on k8s-master failed (exit 127): sh: 1: kubectl: not found");
  }
  SUBCASE("a timeout") {
    FakeKubectl host;
    world::CommandResult killed;
    killed.timed_out = true;
    host.answers["get configmaps -A -o json"] = killed;
    CHECK(failure_of([&] { run_capture(host); }) == "kubectl get configmaps on k8s-master timed out after 300 s");
  }
  SUBCASE("output that is not JSON is not quoted (it may hold secrets)") {
    FakeKubectl host;
    world::CommandResult odd;
    odd.exit_code = 0;
    odd.out = "data:\n  password: aHVudGVyMg==\n";
    host.answers["get secrets -A -o json"] = odd;
    const std::string msg = failure_of([&] { run_capture(host); });
    CHECK(msg.find("get secrets") != std::string::npos);
    CHECK(msg.find("aHVudGVyMg") == std::string::npos);
  }
}

TEST_CASE("kube restore: phases in a safe order") {
  FakeKubectl host;
  const auto c = run_capture(host);
  const auto phases = kube_restore_phases(c.files);
  std::vector<std::string> names;
  std::size_t objects = 0;
  for (const auto& p : phases) {
    names.push_back(p.name);
    objects += p.objects.size();
  }
  CHECK(names == std::vector<std::string>{"CustomResourceDefinitions", "Namespaces", "StorageClasses", "PriorityClasses",
                                          "PersistentVolumes", "PersistentVolumeClaims", "Secrets", "ConfigMaps",
                                          "ServiceAccounts", "Roles and ClusterRoles",
                                          "RoleBindings and ClusterRoleBindings", "Other built-in objects", "Services",
                                          "Workloads", "Custom resources", "IngressClasses and Ingresses",
                                          "Admission webhooks and APIServices"});
  CHECK(objects == c.files.size() - 1);  // all but cluster.json

  auto phase = [&](const std::string& name) -> const KubeRestorePhase& {
    for (const auto& p : phases)
      if (p.name == name) return p;
    FAIL("no phase " << name);
    return phases.front();
  };
  auto ids = [](const KubeRestorePhase& p) {
    std::vector<std::string> out;
    for (const auto& o : p.objects) out.push_back((o.ns.empty() ? "" : o.ns + "/") + o.kind + "/" + o.name);
    return out;
  };
  CHECK(phases[0].wait_established);
  for (std::size_t i = 1; i < phases.size(); ++i) CHECK_FALSE(phases[i].wait_established);
  CHECK(phases[0].objects.size() == 7);
  CHECK(phases[0].objects[0].name == "addresspools.metallb.io");
  CHECK(phases[0].objects[0].api_version == "apiextensions.k8s.io/v1");

  CHECK(ids(phase("Namespaces")) ==
        std::vector<std::string>{"Namespace/default", "Namespace/hackmd", "Namespace/ingress-nginx", "Namespace/mail",
                                 "Namespace/metallb-system", "Namespace/privatebin", "Namespace/website",
                                 "Namespace/wireguard"});
  CHECK(ids(phase("Roles and ClusterRoles")) ==
        std::vector<std::string>{"ClusterRole/ingress-nginx", "ClusterRole/kubeadm:get-nodes",
                                 "ClusterRole/metallb-system:controller", "metallb-system/Role/controller"});
  CHECK(ids(phase("Services")) ==
        std::vector<std::string>{"default/Endpoints/truenas", "default/Service/truenas", "hackmd/Service/hackmd",
                                 "hackmd/Service/hackmd-db", "ingress-nginx/Service/ingress-nginx-controller",
                                 "ingress-nginx/Service/ingress-nginx-controller-admission", "mail/Service/mailserver",
                                 "metallb-system/Service/webhook-service", "privatebin/Service/privatebin",
                                 "website/Service/blog", "wireguard/Service/wireguard"});
  CHECK(ids(phase("Other built-in objects")) ==
        std::vector<std::string>{"privatebin/NetworkPolicy/allow-ingress-nginx"});
  CHECK(ids(phase("Custom resources")) ==
        std::vector<std::string>{"metallb-system/IPAddressPool/homelab", "metallb-system/L2Advertisement/homelab"});
  CHECK(ids(phase("IngressClasses and Ingresses")) ==
        std::vector<std::string>{"IngressClass/nginx", "default/Ingress/truenas", "hackmd/Ingress/hackmd",
                                 "privatebin/Ingress/privatebin", "website/Ingress/blog"});
  CHECK(ids(phase("Admission webhooks and APIServices")) ==
        std::vector<std::string>{"ValidatingWebhookConfiguration/ingress-nginx-admission",
                                 "ValidatingWebhookConfiguration/metallb-webhook-configuration"});
  const auto workloads = ids(phase("Workloads"));
  CHECK(workloads.size() == 12);
  CHECK(std::find(workloads.begin(), workloads.end(), "default/Pod/netshoot") != workloads.end());
  CHECK(std::find(workloads.begin(), workloads.end(), "website/CronJob/blog-backup") != workloads.end());
  CHECK(std::find(workloads.begin(), workloads.end(), "hackmd/StatefulSet/hackmd-db") != workloads.end());

  const auto& secret = phase("Secrets").objects.front();
  CHECK(secret.path == "ingress-nginx/secrets/ingress-nginx-admission.json");
  CHECK(secret.content == c.files.at(secret.path));

  CHECK(kube_restore_phases(c.files).size() == phases.size());  // stable
}

TEST_CASE("kube restore: custom kinds, the earlier layout, and what is not an object") {
  std::map<std::string, std::string> files = {
      {"cluster.json", R"({"serverVersion": "v1.28.2"})"},
      {"etcd/snapshot.db", "not json at all"},
      {"website/Deployment/blog.json", R"({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "blog", "namespace": "website"}})"},
      {"_cluster/Namespace/website.json", R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "website"}})"},
      {"_cluster/CustomResourceDefinition/httproutes.gateway.networking.k8s.io.json",
       R"({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "httproutes.gateway.networking.k8s.io"},
           "spec": {"group": "gateway.networking.k8s.io", "names": {"kind": "HTTPRoute", "plural": "httproutes"}}})"},
      {"website/HTTPRoute/blog.json", R"({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "blog", "namespace": "website"}})"},
      {"website/Widget/w.json", R"({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "website"}})"},
      {"_cluster/PodSecurityPolicy/p.json", R"({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy", "metadata": {"name": "p"}})"},
  };
  const auto phases = kube_restore_phases(files);
  std::vector<std::pair<std::string, std::string>> order;
  for (const auto& p : phases)
    for (const auto& o : p.objects) order.push_back({p.name, o.kind + "/" + o.name});
  CHECK(order == std::vector<std::pair<std::string, std::string>>{
                     {"CustomResourceDefinitions", "CustomResourceDefinition/httproutes.gateway.networking.k8s.io"},
                     {"Namespaces", "Namespace/website"},
                     {"Other built-in objects", "PodSecurityPolicy/p"},
                     {"Workloads", "Deployment/blog"},
                     {"Custom resources", "HTTPRoute/blog"},
                     {"Custom resources", "Widget/w"}});

  files["website/secrets/broken.json"] = "{\"kind\": \"Secret\"";
  const std::string msg = failure_of([&] { kube_restore_phases(files); });
  CHECK(msg.find("website/secrets/broken.json") != std::string::npos);
}
