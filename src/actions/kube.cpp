#include "actions/kube.hpp"

#include "actions/generic.hpp"
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
    return succeeds(ctx.host, std::string("sudo kubectl --kubeconfig ") + kAdminConf + " get nodes");
  }
  json apply(Context& ctx) const override {
    const std::string path = ctx.inputs.at("path").get<std::string>();
    const std::string config = render_template_file(ctx.inputs.at("template").get<std::string>(), ctx.render);
    try {
      ctx.host.put_file(path, config, 0600);
    } catch (const std::exception& e) {
      throw ActionError("cannot write " + path + " on " + ctx.host.name() + ": " + e.what());
    }
    auto r = run_or_fail(ctx.host, "sudo kubeadm init --config " + path, "kubeadm init", ctx.timeout);
    ctx.log(r.out);  // the join command's token is short-lived; kubeadm.join asks for a fresh one
    return json::object();
  }
};

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
        run_or_fail(cp, "sudo kubeadm token create --print-join-command", "kubeadm token create", Duration(60000));
    std::string join = token.out.substr(0, token.out.find('\n'));
    if (join.rfind("kubeadm join ", 0) != 0) throw ActionError("kubeadm token create printed no join command", token.out);
    ctx.log("joining with a fresh token\n");  // the token itself is a secret: not logged
    run_or_fail(ctx.host, "sudo " + join, "kubeadm join", ctx.timeout);
    return json::object();
  }
};

/// kube.apply: manifests through kubectl on the step's host.
class KubeApply : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "kube.apply",
        "Apply Kubernetes manifests with kubectl on the step's host (content, a Mustache template, or a source file)",
        {{"name", InputType::String, true, std::nullopt, "A name for the manifest (its file on the host)"},
         {"content", InputType::String, false, std::nullopt, "The manifests (give one of content, template, source)"},
         {"template", InputType::String, false, std::nullopt, "A Mustache template file on this machine"},
         {"source", InputType::String, false, std::nullopt, "A manifest file on this machine"},
         {"kubeconfig", InputType::String, false, json(kAdminConf), "The kubeconfig on the host"}},
        {{"applied", "kubectl's summary lines"}}};
    return s;
  }
  /// Done when the same manifests were applied by this step before and every object still exists.
  bool check(Context& ctx) const override {
    if (!ctx.previous.is_object()) return false;
    const json outputs = ctx.previous.value("outputs", json::object());
    if (outputs.value("content_hash", "") != hash(file_content(ctx, "kube.apply"))) return false;
    return succeeds(ctx.host, "sudo kubectl --kubeconfig " + ctx.inputs.at("kubeconfig").get<std::string>() + " get -f " +
                                  path(ctx) + " -o name");
  }
  json apply(Context& ctx) const override {
    const std::string manifests = file_content(ctx, "kube.apply");
    try {
      ctx.host.put_file(path(ctx), manifests, 0600);
    } catch (const std::exception& e) {
      throw ActionError("cannot write " + path(ctx) + " on " + ctx.host.name() + ": " + e.what());
    }
    const std::string kubeconfig = ctx.inputs.at("kubeconfig").get<std::string>();
    auto r = run_or_fail(ctx.host, "sudo kubectl --kubeconfig " + kubeconfig + " apply -f " + path(ctx), "kubectl apply",
                         ctx.timeout);
    ctx.log(r.out);
    return {{"applied", r.out}, {"content_hash", hash(manifests)}};
  }

 private:
  static std::string path(Context& ctx) { return "/var/lib/drctl/manifests/" + ctx.inputs.at("name").get<std::string>() + ".yaml"; }
  static std::string hash(const std::string& text) { return store::sha256(text).hex(); }
};

}  // namespace

void add_kube_actions(Registry& registry) {
  registry.add(std::make_unique<KubeadmInit>());
  registry.add(std::make_unique<KubeadmJoin>());
  registry.add(std::make_unique<KubeApply>());
}

}  // namespace drctl::actions
