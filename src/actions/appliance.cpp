// appliance.restore: an appliance's configuration (pfSense's config.xml) put in place through
// the hypervisor's guest tools and applied with the appliance's own command.
#include "actions/appliance.hpp"

#include "actions/generic.hpp"
#include "actions/snapshot_section.hpp"
#include "actions/vm.hpp"
#include "base/shell.hpp"

#include <optional>

namespace drctl::actions {

using world::Duration;

namespace {

/// appliance.restore: an appliance's configuration file put in place through the guest tools and
/// applied with its own command (pfSense: /cf/conf/config.xml and /etc/rc.reload_all) — only when
/// the file changed, as check() skips the step otherwise.
class ApplianceRestore : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "appliance.restore",
        "Load an appliance's configuration through the hypervisor's guest tools and apply it (no network needed)",
        {{"vm", InputType::String, false, json(""), "VM name (default: the step's host)"},
         {"path", InputType::String, true, std::nullopt, "The configuration file inside the appliance"},
         {"content", InputType::String, false, std::nullopt, "The configuration (give one of content, template, source)"},
         {"template", InputType::String, false, std::nullopt, "A Mustache template file on this machine"},
         {"source", InputType::String, false, std::nullopt, "A file on this machine"},
         {"repo", InputType::String, false, std::nullopt, "Or from a snapshot: the repository on this machine,"},
         {"snapshot", InputType::String, false, json("latest"), "the snapshot,"},
         {"section", InputType::String, false, std::nullopt, "its section (e.g. appliance/pfsense),"},
         {"file", InputType::String, false, std::nullopt, "and the file in it (e.g. config.xml)"},
         {"apply", InputType::String, true, std::nullopt, "The appliance's command that loads it, e.g. /etc/rc.reload_all"},
         {"mode", InputType::String, false, json("0644"), "Octal permission bits"},
         {"timeout", InputType::Duration, false, json("15m"), "How long to wait for the appliance to come up (install and boot)"}},
        {}};
    return s;
  }
  /// Done when the appliance already has exactly this configuration.
  bool check(Context& ctx) const override {
    try {
      auto now = current(ctx, vm_name(ctx), ctx.inputs.at("path").get<std::string>());
      return now && *now == configuration(ctx);
    } catch (const std::runtime_error&) {
      return false;  // not up yet: apply says why
    }
  }
  json apply(Context& ctx) const override {
    const std::string name = vm_name(ctx), path = ctx.inputs.at("path").get<std::string>();
    const std::string content = configuration(ctx);
    const unsigned mode = mode_input(ctx);
    world::Command c;
    c.script = ctx.inputs.at("apply").get<std::string>();
    c.timeout = ctx.timeout;
    // A fresh appliance installs and boots before its guest tools answer; if they never do,
    // the guest_put below says why.
    poll_until(ctx, duration_input(ctx.inputs, "timeout"), Duration(10000), [&] {
      try {
        world::Command probe;
        probe.script = "true";
        return hypervisor(ctx).guest_run(name, probe).ok();
      } catch (const std::runtime_error&) {
        return false;
      }
    });
    world::CommandResult r;
    std::optional<std::string> before;
    try {
      before = current(ctx, name, path);
      hypervisor(ctx).guest_put(name, path, content, mode);
      r = hypervisor(ctx).guest_run(name, c);
      // apply runs only when the file changed (check); put the old one back so a retry does not
      // find the new file in place, skip, and leave it never applied.
      if (!r.ok()) put_back(ctx, name, path, before, mode);
    } catch (const std::runtime_error& e) {
      throw ActionError("cannot restore " + name + "'s configuration: " + e.what());
    }
    if (!r.ok())
      throw ActionError(name + " refused its configuration: `" + c.script + "` exited " + std::to_string(r.exit_code) +
                            " (" + path + " is put back as it was)",
                        tail_lines(r.err.empty() ? r.out : r.err, 5));
    ctx.log("restored " + path + " in " + name + " and applied it\n");
    return json::object();
  }

 private:
  /// The configuration file inside the VM now; nullopt when there is none.
  static std::optional<std::string> current(Context& ctx, const std::string& vm, const std::string& path) {
    world::Command c;
    c.script = "cat " + shell_quote(path);
    auto r = hypervisor(ctx).guest_run(vm, c);
    if (!r.ok()) return std::nullopt;
    return r.out;
  }

  static void put_back(Context& ctx, const std::string& vm, const std::string& path,
                       const std::optional<std::string>& before, unsigned mode) {
    if (before) return hypervisor(ctx).guest_put(vm, path, *before, mode);
    world::Command rm;
    rm.script = "rm -f " + shell_quote(path);
    hypervisor(ctx).guest_run(vm, rm);
  }

  /// The configuration: given, rendered, a local file, or a file of a snapshot's section.
  static std::string configuration(Context& ctx) {
    if (!ctx.inputs.contains("section")) return file_content(ctx, "appliance.restore");
    if (!ctx.inputs.contains("repo") || !ctx.inputs.contains("file"))
      throw ActionError("appliance.restore from a snapshot needs repo, section and file");
    const auto files = snapshot_files(ctx.inputs["repo"].get<std::string>(), ctx.inputs["snapshot"].get<std::string>(),
                                      ctx.inputs["section"].get<std::string>());
    auto it = files.find(ctx.inputs["file"].get<std::string>());
    if (it == files.end())
      throw ActionError("section " + ctx.inputs["section"].get<std::string>() + " of the snapshot has no " +
                        ctx.inputs["file"].get<std::string>());
    return it->second;
  }
};

}  // namespace

void add_appliance_actions(Registry& registry) { registry.add(std::make_unique<ApplianceRestore>()); }

}  // namespace drctl::actions
