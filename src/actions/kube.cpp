#include "actions/kube.hpp"

#include <sstream>

#include "actions/generic.hpp"
#include "base/shell.hpp"

#include <algorithm>
#include <cstdio>
#include "actions/snapshot_section.hpp"
#include "capture/kube.hpp"
#include "store/bytes.hpp"

namespace drctl::actions {

using world::Duration;

namespace {

const char* kAdminConf = "/etc/kubernetes/admin.conf";

bool succeeds(world::Host& host, const std::string& script) {
  world::Command c;
  c.script = script;
  c.timeout = Duration(60000);
  return host.run(c).ok();
}

/// A bootstrap token in kubeadm's output (`--token abcdef.0123456789abcdef`) becomes a secret.
void mark_join_token(Context& ctx, const std::string& text) {
  for (std::size_t at = text.find("--token "); at != std::string::npos; at = text.find("--token ", at + 8)) {
    const std::size_t start = text.find_first_not_of(' ', at + 8);
    if (start == std::string::npos) break;
    const std::string token = text.substr(start, text.find_first_of(" \\\n", start) - start);
    if (token.size() >= 4) ctx.secret("join-token", token);
  }
}

/// kubeadm.init: the control plane from a rendered kubeadm configuration.
class KubeadmInit : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "kubeadm.init",
        "Initialise the control plane on the step's host with `kubeadm init --config` (a rendered template)",
        {{"template", InputType::String, true, std::nullopt, "The kubeadm configuration template (InitConfiguration + ClusterConfiguration)"},
         {"path", InputType::String, false, json("/etc/kubernetes/kubeadm.yaml"), "Where the rendered configuration goes on the host"}},
        {}};
    return s;
  }
  /// Done when the host already runs a control plane that answers.
  bool check(Context& ctx) const override {
    return succeeds(ctx.host, std::string("kubectl --kubeconfig ") + kAdminConf + " get nodes");
  }
  json apply(Context& ctx) const override {
    const std::string path = ctx.inputs.at("path").get<std::string>();
    const std::string config = render_template_file(ctx.inputs.at("template").get<std::string>(), ctx.render);
    try {
      ctx.host.put_file(path, config, 0600);
    } catch (const std::exception& e) {
      throw ActionError("cannot write " + path + " on " + ctx.host.name() + ": " + e.what());
    }
    auto r = run_or_fail(ctx.host, "kubeadm init --config " + shell_quote(path), "kubeadm init", ctx.timeout);
    mark_join_token(ctx, r.out);  // its join command's token is shown as «secret:join-token»
    ctx.log(r.out);
    return json::object();
  }
};

constexpr const char* kJoinConfig = "/var/tmp/drctl-kubeadm-join.yaml";

/// What `kubeadm token create --print-join-command` prints: the endpoint, the token, the CA hashes.
struct JoinParts {
  std::string endpoint, token;
  std::vector<std::string> ca_hashes;
};

JoinParts parse_join_command(const std::string& join) {
  std::istringstream in(join);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  JoinParts p;
  for (std::size_t i = 2; i < words.size(); ++i) {
    if (words[i] == "--token" && i + 1 < words.size()) p.token = words[++i];
    else if (words[i] == "--discovery-token-ca-cert-hash" && i + 1 < words.size()) p.ca_hashes.push_back(words[++i]);
    else if (words[i].rfind("--", 0) != 0 && p.endpoint.empty()) p.endpoint = words[i];
  }
  if (p.endpoint.empty() || p.token.empty() || p.ca_hashes.empty())
    throw ActionError("kubeadm token create printed a join command without an endpoint, a token and a CA hash");
  return p;
}

std::string join_configuration(const JoinParts& p) {
  std::string hashes;
  for (const auto& h : p.ca_hashes) hashes += "    - \"" + h + "\"\n";
  return "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\ndiscovery:\n  bootstrapToken:\n"
         "    apiServerEndpoint: \"" + p.endpoint + "\"\n    token: \"" + p.token + "\"\n    caCertHashes:\n" + hashes;
}

/// kubeadm.join: a node joins with a fresh token from the control plane.
class KubeadmJoin : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{"kubeadm.join",
                              "Join the step's host to the cluster with a fresh token from the control plane",
                              {{"control_plane", InputType::String, true, std::nullopt, "The control-plane host"}},
                              {}};
    return s;
  }
  bool check(Context& ctx) const override { return succeeds(ctx.host, "test -f /etc/kubernetes/kubelet.conf"); }
  json apply(Context& ctx) const override {
    world::Host& cp = ctx.world.host(ctx.inputs.at("control_plane").get<std::string>());
    auto token =
        run_or_fail(cp, "kubeadm token create --print-join-command", "kubeadm token create", Duration(60000));
    std::string join = token.out.substr(0, token.out.find('\n'));
    if (join.rfind("kubeadm join ", 0) != 0) throw ActionError("kubeadm token create printed no join command", token.out);
    mark_join_token(ctx, join);
    // The token goes in a JoinConfiguration readable by root only, not on the node's command
    // line (where any local user's ps would see it), and the file goes once kubeadm is done.
    const JoinParts parts = parse_join_command(join);
    ctx.host.put_file(kJoinConfig, join_configuration(parts), 0600);
    ctx.log("joining " + parts.endpoint + " with a fresh token\n");
    auto r = ctx.host.run({"kubeadm join --config " + std::string(kJoinConfig) + "; s=$?; rm -f " + kJoinConfig + "; exit $s",
                           "", ctx.timeout, {}, ""});
    if (!r.ok() && (r.timed_out || r.cancelled))  // killed before its own rm: the token file must not stay
      ctx.host.run({"rm -f " + std::string(kJoinConfig), "", Duration(30000), {}, ""});
    if (!r.ok()) throw ActionError(r.timed_out ? "kubeadm join timed out" : "kubeadm join failed (exit " +
                                                                                 std::to_string(r.exit_code) + ")",
                                   tail_lines(r.out + r.err, 20));
    ctx.log(r.out);
    return json::object();
  }
};

/// Manifests applied with kubectl on the step's host; done when the same manifests were applied
/// by this step before, every object still exists and ready() holds. Subclasses say what the
/// manifests are and what "ready" means.
class ManifestAction : public Action {
 public:
  bool check(Context& ctx) const override {
    if (!ctx.previous.is_object()) return false;
    const json outputs = ctx.previous.value("outputs", json::object());
    if (outputs.value("content_hash", "") != hash(manifests(ctx))) return false;
    return succeeds(ctx.host, kubectl(ctx) + " get -f " + path(ctx) + " -o name") && ready(ctx).empty();
  }
  json apply(Context& ctx) const override {
    const std::string text = manifests(ctx);
    try {
      ctx.host.put_file(path(ctx), text, 0600);
    } catch (const std::exception& e) {
      throw ActionError("cannot write " + path(ctx) + " on " + ctx.host.name() + ": " + e.what());
    }
    auto r = run_or_fail(ctx.host, kubectl(ctx) + " apply -f " + path(ctx), "kubectl apply", ctx.timeout);
    ctx.log(r.out);
    std::string why;
    if (!poll_until(ctx, duration_input(ctx.inputs, "wait"), Duration(5000), [&] { return (why = ready(ctx)).empty(); }))
      throw ActionError(name(ctx) + " applied but not ready: " + why);
    return {{"applied", r.out}, {"content_hash", hash(text)}};
  }

 protected:
  /// The manifests to apply.
  virtual std::string manifests(Context& ctx) const = 0;
  /// The manifest's name (its file on the host).
  virtual std::string name(Context& ctx) const = 0;
  /// "" when what was applied works, else what is still missing.
  virtual std::string ready(Context&) const { return ""; }

  static std::string kubectl(Context& ctx) {
    return "kubectl --kubeconfig " + shell_quote(ctx.inputs.at("kubeconfig").get<std::string>());
  }
  /// "" when the rollout of `what` (deployment/x, daemonset/y) in `ns` is complete, else kubectl's words.
  static std::string rollout(Context& ctx, const std::string& ns, const std::string& what) {
    world::Command c = world::shell_command(kubectl(ctx) + " -n " + ns + " rollout status " + what + " --timeout=1s");
    c.timeout = Duration(60000);
    auto r = ctx.host.run(c);
    return r.ok() ? "" : what + ": " + tail_lines(r.err.empty() ? r.out : r.err, 1);
  }
  static std::vector<InputSpec> common_inputs() {
    return {{"kubeconfig", InputType::String, false, json(kAdminConf), "The kubeconfig on the host"},
            {"wait", InputType::Duration, false, json("5m"), "How long to wait until it is ready"}};
  }

 private:
  std::string path(Context& ctx) const { return "/var/lib/drctl/manifests/" + name(ctx) + ".yaml"; }
  static std::string hash(const std::string& text) { return store::sha256(text).hex(); }
};

/// kube.apply: any manifests (content, a template, or a file).
class KubeApply : public ManifestAction {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s = [] {
      ActionSpec s{"kube.apply",
                   "Apply Kubernetes manifests with kubectl on the step's host (content, a Mustache template, or a source file)",
                   {{"name", InputType::String, true, std::nullopt, "A name for the manifest (its file on the host)"},
                    {"content", InputType::String, false, std::nullopt, "The manifests (give one of content, template, source)"},
                    {"template", InputType::String, false, std::nullopt, "A Mustache template file on this machine"},
                    {"source", InputType::String, false, std::nullopt, "A manifest file on this machine"}},
                   {{"applied", "kubectl's summary lines"}}};
      for (auto& in : common_inputs()) s.inputs.push_back(in);
      return s;
    }();
    return s;
  }

 protected:
  std::string manifests(Context& ctx) const override { return file_content(ctx, "kube.apply"); }
  std::string name(Context& ctx) const override { return ctx.inputs.at("name").get<std::string>(); }
};

/// metallb.install: MetalLB's manifest, ready when its controller and speakers are.
class MetallbInstall : public ManifestAction {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s = [] {
      ActionSpec s{"metallb.install",
                   "Install MetalLB from its manifest (a file or template); done when the controller Deployment and the "
                   "speaker DaemonSet have rolled out",
                   {{"source", InputType::String, false, std::nullopt, "MetalLB's manifest file on this machine"},
                    {"template", InputType::String, false, std::nullopt, "Or a Mustache template of it"},
                    {"namespace", InputType::String, false, json("metallb-system"), "Its namespace"}},
                   {{"applied", "kubectl's summary lines"}}};
      for (auto& in : common_inputs()) s.inputs.push_back(in);
      return s;
    }();
    return s;
  }

 protected:
  std::string manifests(Context& ctx) const override { return file_content(ctx, "metallb.install"); }
  std::string name(Context&) const override { return "metallb"; }
  std::string ready(Context& ctx) const override {
    const std::string ns = ctx.inputs.at("namespace").get<std::string>();
    std::string why = rollout(ctx, ns, "deployment/controller");
    return why.empty() ? rollout(ctx, ns, "daemonset/speaker") : why;
  }
};

/// Whether a MetalLB version ("0.12.1", "v0.13.12") predates the CRDs (< 0.13: a ConfigMap).
bool metallb_legacy(const std::string& version) {
  const std::string v = version.rfind('v', 0) == 0 ? version.substr(1) : version;
  int major = 0, minor = 0;
  if (std::sscanf(v.c_str(), "%d.%d", &major, &minor) != 2) throw ActionError("version: '" + version + "' is not MAJOR.MINOR[.PATCH]");
  return major == 0 && minor < 13;
}

/// metallb.pools: the address pools, as IPAddressPool + L2Advertisement (MetalLB ≥ 0.13) or the
/// legacy `config` ConfigMap (< 0.13).
class MetallbPools : public ManifestAction {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s = [] {
      ActionSpec s{"metallb.pools",
                   "Configure MetalLB's layer-2 address pools: IPAddressPool + L2Advertisement, or the legacy ConfigMap when "
                   "the version is below 0.13",
                   {{"version", InputType::String, false, std::nullopt,
                     "The MetalLB version the site runs, e.g. 0.13.12 (default: the site's versions.metallb; a "
                     "version that reads another configuration than the site's is refused)"},
                    {"pools", InputType::List, true, std::nullopt, "Entries {name, addresses: [RANGE or CIDR], auto_assign (default true)}"},
                    {"namespace", InputType::String, false, json("metallb-system"), "MetalLB's namespace"}},
                   {{"applied", "kubectl's summary lines"}}};
      for (auto& in : common_inputs()) s.inputs.push_back(in);
      return s;
    }();
    return s;
  }

 protected:
  std::string name(Context&) const override { return "metallb-pools"; }

  /// The version to render for: the input, which must read the same configuration as the one the
  /// site pins (MetalLB 0.12 reads only the ConfigMap, 0.13+ only the CRDs), else the site's.
  static std::string version(Context& ctx) {
    std::string pinned;
    if (ctx.site.is_object() && ctx.site.contains("versions") && ctx.site["versions"].is_object())
      if (const json& v = ctx.site["versions"]; v.contains("metallb"))
        pinned = v["metallb"].is_string() ? v["metallb"].get<std::string>() : v["metallb"].dump();
    const std::string given = ctx.inputs.contains("version") && ctx.inputs["version"].is_string() ? ctx.inputs["version"].get<std::string>() : "";
    if (given.empty() && pinned.empty()) throw ActionError("version: the site pins no versions.metallb, so give the MetalLB version");
    if (!given.empty() && !pinned.empty() && metallb_legacy(given) != metallb_legacy(pinned))
      throw ActionError("version: " + given + " is not the MetalLB the site runs (versions.metallb: " + pinned + "): MetalLB " +
                        pinned + " reads only " + (metallb_legacy(pinned) ? "the ConfigMap" : "IPAddressPool and L2Advertisement objects") +
                        ", so the pools rendered for " + given + " would be ignored");
    return given.empty() ? pinned : given;
  }

  std::string manifests(Context& ctx) const override {
    const std::string ns = ctx.inputs.at("namespace").get<std::string>();
    const json& pools = ctx.inputs.at("pools");
    for (const auto& p : pools)
      if (!p.is_object() || !p.contains("name") || !p.contains("addresses") || !p["addresses"].is_array())
        throw ActionError("pools: each entry needs name and a list of addresses");
    std::string out;
    if (metallb_legacy(version(ctx))) {
      out = "# MetalLB < 0.13 reads its pools from this ConfigMap\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n"
            "  namespace: " + ns + "\ndata:\n  config: |\n    address-pools:\n";
      for (const auto& p : pools) {
        out += "    - name: " + p["name"].get<std::string>() + "\n      protocol: layer2\n";
        if (!p.value("auto_assign", true)) out += "      auto-assign: false\n";
        out += "      addresses:\n";
        for (const auto& a : p["addresses"]) out += "      - " + a.get<std::string>() + "\n";
      }
      return out;
    }
    for (const auto& p : pools) {
      const std::string name = p["name"].get<std::string>();
      out += "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
             "\nspec:\n";
      if (!p.value("auto_assign", true)) out += "  autoAssign: false\n";
      out += "  addresses:\n";
      for (const auto& a : p["addresses"]) out += "    - " + a.get<std::string>() + "\n";
      out += "---\napiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
             "\nspec:\n  ipAddressPools:\n    - " + name + "\n---\n";
    }
    return out;
  }
};

/// ingress.install: the ingress controller from its manifest, ready when it has rolled out and
/// its LoadBalancer Service holds the VIP.
class IngressInstall : public ManifestAction {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s = [] {
      ActionSpec s{"ingress.install",
                   "Install the nginx ingress controller from its manifest; done when it has rolled out and its "
                   "LoadBalancer Service holds the address",
                   {{"source", InputType::String, false, std::nullopt, "The controller's manifest file on this machine"},
                    {"template", InputType::String, false, std::nullopt, "Or a Mustache template of it"},
                    {"address", InputType::String, true, std::nullopt, "The VIP its Service must get from MetalLB"},
                    {"namespace", InputType::String, false, json("ingress-nginx"), "Its namespace"},
                    {"service", InputType::String, false, json("ingress-nginx-controller"), "Its LoadBalancer Service"},
                    {"deployment", InputType::String, false, json("ingress-nginx-controller"), "Its Deployment"}},
                   {{"applied", "kubectl's summary lines"}}};
      for (auto& in : common_inputs()) s.inputs.push_back(in);
      return s;
    }();
    return s;
  }

 protected:
  std::string manifests(Context& ctx) const override { return file_content(ctx, "ingress.install"); }
  std::string name(Context&) const override { return "ingress-nginx"; }
  std::string ready(Context& ctx) const override {
    const std::string ns = ctx.inputs.at("namespace").get<std::string>();
    if (std::string why = rollout(ctx, ns, "deployment/" + ctx.inputs.at("deployment").get<std::string>()); !why.empty())
      return why;
    const std::string svc = ctx.inputs.at("service").get<std::string>(), want = ctx.inputs.at("address").get<std::string>();
    world::Command c = world::shell_command(kubectl(ctx) + " -n " + ns + " get service " + svc + " -o json");
    c.timeout = Duration(60000);
    auto r = ctx.host.run(c);
    if (!r.ok()) return "service " + svc + ": " + tail_lines(r.err, 1);
    const json obj = json::parse(r.out, nullptr, false);
    std::vector<std::string> ips;
    if (obj.is_object() && obj.contains("status"))
      for (const auto& i : obj["status"].value("loadBalancer", json::object()).value("ingress", json::array()))
        if (i.contains("ip")) ips.push_back(i["ip"].get<std::string>());
    if (std::find(ips.begin(), ips.end(), want) != ips.end()) return "";
    return "service " + ns + "/" + svc + " has " + (ips.empty() ? "no external IP yet" : "external IP " + ips[0]) + ", not " + want;
  }
};

/// kube.restore: the snapshot's Kubernetes objects, applied in a safe order.
class KubeRestore : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "kube.restore",
        "Re-create the snapshot's Kubernetes objects with kubectl on the step's host: CRDs, Namespaces, storage, "
        "Secrets and ConfigMaps, Services and workloads, then Ingresses and custom resources",
        {{"repo", InputType::String, true, std::nullopt, "The repository on this machine"},
         {"snapshot", InputType::String, false, json("latest"), "Snapshot id, prefix, or latest"},
         {"section", InputType::String, false, json("kube"), "The section holding the objects"},
         {"kubeconfig", InputType::String, false, json("/etc/kubernetes/admin.conf"), "The kubeconfig on the host"}},
        {{"objects", "Objects applied"}}};
    return s;
  }
  /// Done when every object of the snapshot exists in the cluster.
  bool check(Context& ctx) const override {
    try {
      return !phases(ctx).empty() && run(ctx, "get", all(ctx)).ok();
    } catch (const ActionError&) {
      return false;
    }
  }
  json apply(Context& ctx) const override {
    std::size_t count = 0;
    for (const auto& phase : phases(ctx)) {
      auto r = run(ctx, "apply", manifest(phase));
      if (!r.ok())
        throw ActionError("kubectl apply of the snapshot's " + phase.name + " failed: " + r.err.substr(0, r.err.find('\n')),
                          tail_lines(r.err, 8));
      ctx.log(r.out);
      count += phase.objects.size();
      if (!phase.wait_established) continue;
      for (const auto& crd : phase.objects)  // its custom resources are refused until the API serves them
        run_or_fail(ctx.host,
                    "kubectl --kubeconfig " + shell_quote(ctx.inputs.at("kubeconfig").get<std::string>()) +
                        " wait --for=condition=Established --timeout=60s crd/" + crd.name,
                    "waiting for CRD " + crd.name, Duration(90000));
    }
    return {{"objects", count}};
  }

 private:
  /// The snapshot's objects in restore order (capture::kube_restore_phases).
  static std::vector<capture::KubeRestorePhase> phases(Context& ctx) {
    // etcd's snapshot travels beside the objects (etcd.restore's, not ours): not even read.
    auto files = snapshot_files(ctx.inputs.at("repo").get<std::string>(), ctx.inputs.at("snapshot").get<std::string>(),
                                ctx.inputs.at("section").get<std::string>(),
                                [](const std::string& path) { return path != "etcd.db" && path != "etcd.json"; });
    try {
      return capture::kube_restore_phases(files);
    } catch (const std::exception& e) {
      throw ActionError(e.what());
    }
  }
  static std::string manifest(const capture::KubeRestorePhase& phase) {
    std::string docs;
    for (const auto& o : phase.objects) docs += "---\n" + o.content;
    return docs;
  }
  static std::string all(Context& ctx) {
    std::string docs;
    for (const auto& p : phases(ctx)) docs += manifest(p);
    return docs;
  }
  static world::CommandResult run(Context& ctx, const std::string& verb, const std::string& docs) {
    world::Command c;
    c.script = "kubectl --kubeconfig " + shell_quote(ctx.inputs.at("kubeconfig").get<std::string>()) + " " + verb + " -f -";
    c.stdin_data = docs;
    c.timeout = Duration(10 * 60000);
    return ctx.host.run(c);
  }
};

}  // namespace

void add_kube_actions(Registry& registry) {
  registry.add(std::make_unique<KubeRestore>());
  registry.add(std::make_unique<KubeadmInit>());
  registry.add(std::make_unique<KubeadmJoin>());
  registry.add(std::make_unique<KubeApply>());
  registry.add(std::make_unique<MetallbInstall>());
  registry.add(std::make_unique<MetallbPools>());
  registry.add(std::make_unique<IngressInstall>());
}

}  // namespace drctl::actions
