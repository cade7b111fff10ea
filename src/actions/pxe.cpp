#include "actions/pxe.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>

#include "actions/generic.hpp"
#include "actions/vm.hpp"
#include "base/shell.hpp"
#include "base/text.hpp"
#include "boot/menu_lint.hpp"
#include "world/host_key.hpp"

namespace drctl::actions {

using world::Duration;

std::string pxelinux_config_name(const std::string& mac) {
  std::string out = "01-" + mac;
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return c == ':' ? '-' : std::tolower(c); });
  return out;
}

std::vector<BootNode> boot_nodes(const Context& ctx, const std::string& mac_for) {
  std::vector<BootNode> out;
  const json& hosts = ctx.site["hosts"];
  for (const auto& n : ctx.inputs.at("nodes")) {
    const std::string name = n.get<std::string>();
    if (!hosts.contains(name)) throw ActionError("nodes: '" + name + "' is not a host of the site");
    const json& h = hosts[name];
    const json nics = h.contains("vm") ? h["vm"].value("nics", json::array()) : json::array();
    if (nics.empty() || !nics[0].is_object() || nics[0].value("mac", "").empty())
      throw ActionError("nodes: " + name + " has no vm.nics[0].mac, " + mac_for);
    out.push_back({name, nics[0]["mac"].get<std::string>(), h.value("address", ""), nics[0].value("network", "")});
  }
  return out;
}

namespace {

const world::Duration kShort(60000);

json node_json(const BootNode& n) {
  return {{"name", n.name}, {"mac", n.mac}, {"address", n.address}, {"config", pxelinux_config_name(n.mac)}};
}

std::vector<BootNode> nodes_of(const Context& ctx) {
  if (!ctx.site.is_object()) throw ActionError("pxe.render needs a site (its hosts' vm: NICs give the MACs)");
  return boot_nodes(ctx, "which its pxelinux entry is named after");
}

/// The nodes as the entry and kickstart templates see them: name, mac, address, config, and
/// host_key / host_key_pub (the private key is a secret: never in output).
using KeyedNodes = std::vector<std::pair<BootNode, json>>;
KeyedNodes nodes_with_keys(Context& ctx) {
  KeyedNodes out;
  const bool keys = ctx.inputs.value("host_keys_made", true);
  for (const auto& node : nodes_of(ctx)) {
    json j = node_json(node);
    if (keys) {
      world::HostKeyPair pair;
      try {
        pair = ctx.world.host_key(node.name);
      } catch (const std::runtime_error& e) {
        throw ActionError("the host key of " + node.name + ": " + e.what());
      }
      ctx.secret("host_key." + node.name, pair.private_key);
      j["host_key"] = pair.private_key;
      j["host_key_pub"] = pair.public_key;
    }
    out.emplace_back(node, std::move(j));
  }
  return out;
}

/// What pxe.render writes: path on the PXE server → content. With per_node_kickstart, each node
/// also gets its own kickstart, ks/NAME.cfg beside the shared one (rendered with `node`, whose
/// `kickstart` names it for the entry template): how each node gets its own host key.
std::map<std::string, std::string> rendered(Context& ctx, KeyedNodes nodes) {
  const std::string root = ctx.inputs.at("root").get<std::string>();
  std::map<std::string, std::string> files;
  files[root + "/pxelinux.cfg/default"] = render_template_file(ctx.inputs.at("menu").get<std::string>(), ctx.render);
  const std::string entry = read_local_file(ctx.inputs.at("entry").get<std::string>(), "template");
  const std::string ks_path = ctx.inputs.at("kickstart_path").get<std::string>();
  const std::string ks_file = ctx.inputs.at("kickstart").get<std::string>();
  const bool per_node = ctx.inputs.value("per_node_kickstart", false);
  const std::string ks = per_node ? read_local_file(ks_file, "template") : "";
  for (auto& [node, j] : nodes) {
    j["kickstart"] = per_node ? "ks/" + node.name + ".cfg" : ks_path;
    files[root + "/pxelinux.cfg/" + pxelinux_config_name(node.mac)] = ctx.render_with(entry, {{"node", j}});
    if (!per_node) continue;
    try {
      files[root + "/ks/" + node.name + ".cfg"] = ctx.render_with(ks, {{"node", j}});
    } catch (const ActionError&) {
      throw;
    } catch (const std::exception& e) {
      throw ActionError("template " + ks_file + ": " + e.what());
    }
  }
  // The shared kickstart (the menu's, for a machine that is no node) sees a `node` with every
  // field empty: a template's {{#node.host_key}} section is left out there.
  const json nobody{{"name", ""}, {"mac", ""}, {"address", ""}, {"config", ""}, {"kickstart", ks_path},
                    {"host_key", ""}, {"host_key_pub", ""}};
  files[root + "/" + ks_path] =
      render_template_file(ks_file, [&](const std::string& text) { return ctx.render_with(text, {{"node", nobody}}); });
  return files;
}

/// The nodes' host keys into known_hosts (through the World) before anything connects to them.
void expect_node_keys(Context& ctx, const KeyedNodes& nodes) {
  if (!ctx.inputs.value("host_keys_made", true)) return;
  for (const auto& [node, j] : nodes) {
    try {
      ctx.world.expect_host_key(node.name, j["host_key_pub"].get<std::string>());
    } catch (const std::runtime_error& e) {
      throw ActionError("the host key of " + node.name + ": " + e.what());
    }
  }
}

/// The address of site host `name` ("" when the site does not give one).
std::string dhcp_address(const Context& ctx, const std::string& name) {
  const json& hosts = ctx.site["hosts"];
  return hosts.contains(name) ? hosts[name].value("address", "") : "";
}

/// The names a kernel command line may use for this PXE server: its site address, its site
/// name, and NAME.DOMAIN with the site's `vars.domain` (as the site's DNS resolves it).
std::vector<std::string> pxe_server_names(const Context& ctx) {
  std::vector<std::string> out;
  if (!ctx.target.is_object()) return out;
  const std::string name = ctx.target.value("name", ""), address = ctx.target.value("address", "");
  for (const auto& n : {address, name}) if (!n.empty()) out.push_back(n);
  const json vars = ctx.site.is_object() ? ctx.site.value("vars", json::object()) : json::object();
  if (!name.empty() && vars.is_object() && vars.contains("domain") && vars["domain"].is_string())
    out.push_back(name + "." + vars["domain"].get<std::string>());
  return out;
}

/// The menu lint (src/boot/menu_lint.hpp) over the TFTP tree as it will be once `files` are
/// written: what `find ROOT -type f` lists on the host (GNU and BSD find alike) plus `files`,
/// the host's /etc/exports, and its web root. Every error line, in order.
std::vector<std::string> lint_problems(Context& ctx, const std::map<std::string, std::string>& files) {
  std::string root = ctx.inputs.at("root").get<std::string>();
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  const std::string prefix = root + "/";
  boot::TftpTree tree;
  const auto found = ctx.host.run(world::shell_command("find " + shell_quote(root) + " -type f"));
  std::istringstream listed(found.ok() ? found.out : "");  // no root yet: an empty tree
  for (std::string line; std::getline(listed, line);)
    if (line.starts_with(prefix)) tree.files.insert(line.substr(prefix.size()));
  std::map<std::string, std::string> pending;
  for (const auto& [path, content] : files)
    if (path.starts_with(prefix)) tree.files.insert(path.substr(prefix.size())), pending[path.substr(prefix.size())] = content;
  tree.read = [&](const std::string& rel) -> std::optional<std::string> {
    if (auto it = pending.find(rel); it != pending.end()) return it->second;
    return ctx.host.get_file(prefix + rel);
  };
  boot::Serving serving;
  serving.tftp_root = root;
  serving.servers = pxe_server_names(ctx);
  serving.exports = ctx.host.get_file("/etc/exports").value_or("");
  serving.exists = [&](const std::string& path) {
    return ctx.host.run(world::shell_command("test -f " + shell_quote(path))).ok();
  };
  return boot::lint_tree(tree, serving);
}

/// The DHCP server's configuration must send network boots here; "" when it does, else why not.
std::string dhcp_problem(Context& ctx) {
  const std::string dhcp = ctx.inputs.value("dhcp_host", "");
  if (dhcp.empty()) return "";
  const std::string me = ctx.target.is_object() ? ctx.target.value("address", "") : "";
  const std::string file = ctx.inputs.at("boot_file").get<std::string>();
  world::Host& host = ctx.world.host(dhcp);
  const std::string kind = ctx.inputs.at("dhcp_kind").get<std::string>();
  std::string config = ctx.inputs.at("dhcp_config").get<std::string>();
  if (config.empty()) config = kind == "dnsmasq" ? "/etc/dnsmasq.d/drctl-pxe.conf" : "/cf/conf/config.xml";
  const auto r = host.run(world::shell_command("cat " + shell_quote(config)));
  if (!r.ok()) return "cannot read " + dhcp + "'s DHCP configuration: " + tail_lines(r.err, 1);
  if (kind == "dnsmasq") {
    // dhcp-boot=FILE[,SERVER-NAME[,SERVER-ADDRESS]] (dnsmasq(8)); without an address, dnsmasq itself.
    std::smatch m;
    if (!std::regex_search(r.out, m, std::regex(R"((^|\n)dhcp-boot=([^,\n]*)(,[^,\n]*)?(,([^,\n]*))?)")))
      return dhcp + "'s dnsmasq configuration " + config + " has no dhcp-boot line";
    if (text::trim(m[2].str()) != file) return dhcp + "'s dnsmasq does not hand out the boot file " + file;
    const std::string next = m[5].matched ? text::trim(m[5].str()) : dhcp_address(ctx, dhcp);
    if (next != me) return dhcp + "'s dnsmasq does not name this PXE server (" + me + ") as next-server";
    return "";
  }
  if (kind != "pfsense") return "dhcp_kind: '" + kind + "' is not a DHCP server drctl knows (pfsense or dnsmasq)";
  auto has = [&](const std::string& tag, const std::string& value) {
    return std::regex_search(r.out, std::regex("<" + tag + ">\\s*" + std::regex_replace(value, std::regex("\\."), "\\.") +
                                               "\\s*</" + tag + ">"));
  };
  if (!has("nextserver", me)) return dhcp + "'s DHCP does not name this PXE server (" + me + ") as next-server";
  if (!has("filename", file)) return dhcp + "'s DHCP does not hand out the boot file " + file;
  return "";
}

/// pxe.render: the PXE server's menu, per-node entries and kickstart, from templates.
class PxeRender : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "pxe.render",
        "Write the PXE server's pxelinux menu, one pxelinux.cfg/01-<mac> entry per node (rendered with `node`: name, mac, "
        "address, config) and the kickstart, from templates; check that DHCP sends network boots here and lint the menus "
        "against the TFTP tree before writing (a menu a real pxelinux hangs on or fails at is not written)",
        {{"nodes", InputType::List, true, std::nullopt, "Site hosts to install (their vm.nics[0].mac names their entry)"},
         {"menu", InputType::String, true, std::nullopt, "Template of pxelinux.cfg/default (on this machine)"},
         {"entry", InputType::String, true, std::nullopt, "Template of each node's pxelinux.cfg/01-<mac>"},
         {"kickstart", InputType::String, true, std::nullopt, "Template of the kickstart (secrets.NAME for the password hash, keys)"},
         {"root", InputType::String, false, json("/tftpboot"), "The TFTP root on the step's host"},
         {"kickstart_path", InputType::String, false, json("ks.cfg"), "Where the kickstart goes, under root"},
         {"per_node_kickstart", InputType::Boolean, false, json(false),
          "Also one kickstart per node, ks/NAME.cfg under root, rendered with `node` (its host_key); node.kickstart "
          "names the node's own for the entry template"},
         {"dhcp_host", InputType::String, false, json(""), "The DHCP server (pfSense) whose configuration is checked"},
         {"dhcp_kind", InputType::String, false, json("pfsense"),
          "What it is: pfsense (its config.xml) or dnsmasq (a dhcp-boot line, as dhcp.render writes it)"},
         {"dhcp_config", InputType::String, false, json(""),
          "Its configuration file (default: /cf/conf/config.xml; dnsmasq: /etc/dnsmasq.d/drctl-pxe.conf)"},
         {"boot_file", InputType::String, false, json("pxelinux.0"), "The boot file DHCP must hand out"},
         {"host_keys_made", InputType::Boolean, false, json(true),
          "Give each node an SSH host key drctl made (kept in the run's state, host-keys/NODE, reused by every later "
          "render) as node.host_key and node.host_key_pub for the kickstart to install, and trust it in known_hosts "
          "before the first connection"}},
        {{"files", "The files written"}, {"nodes", "name → pxelinux entry"}}};
    return s;
  }
  bool check(Context& ctx) const override {
    const KeyedNodes nodes = nodes_with_keys(ctx);
    for (const auto& [path, content] : rendered(ctx, nodes))
      if (ctx.host.get_file(path) != content) return false;
    if (!dhcp_problem(ctx).empty()) return false;
    expect_node_keys(ctx, nodes);  // a controller that lost its known_hosts gets the keys back
    return true;
  }
  json apply(Context& ctx) const override {
    if (const std::string why = dhcp_problem(ctx); !why.empty()) throw ActionError(why);
    const KeyedNodes nodes = nodes_with_keys(ctx);
    const auto to_write = rendered(ctx, nodes);
    // Before anything is written: a menu a real pxelinux would hang on or fail at stays off the server.
    if (const auto problems = lint_problems(ctx, to_write); !problems.empty()) {
      std::string all;
      for (const auto& p : problems) all += p + "\n";
      ctx.log("menu lint: " + std::to_string(problems.size()) + " error(s), nothing written\n" + all);
      throw ActionError(problems.front(), all);
    }
    expect_node_keys(ctx, nodes);  // trusted before any node can answer with it
    json files = json::array();
    for (const auto& [path, content] : to_write) {
      // 0644 as every file the installer fetches: NFS squashes its root, tftpd runs as tftp.
      if (ctx.host.get_file(path) != content) ctx.host.put_file(path, content, 0644);
      files.push_back(path);
    }
    json entries = json::object();
    for (const auto& [n, j] : nodes) entries[n.name] = pxelinux_config_name(n.mac);
    ctx.log("wrote " + std::to_string(files.size()) + " files under " + ctx.inputs.at("root").get<std::string>() + "\n");
    return {{"files", files}, {"nodes", entries}};
  }
};

/// pxe.install: boots the VM from the network (reset if it runs) and waits until SSH answers as the host.
class PxeInstall : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "pxe.install",
        "Boot a VM (from the network when its disk is empty) and wait until SSH answers with the expected host name",
        {{"vm", InputType::String, false, json(""), "VM name (default: the step's host)"},
         {"hostname", InputType::String, false, json(""), "The name `hostname` must print (default: the VM name)"},
         {"timeout", InputType::Duration, false, json("30m"), "Give up after this long"},
         {"interval", InputType::Duration, false, json("15s"), "Time between SSH attempts"}},
        {}};
    return s;
  }
  bool check(Context& ctx) const override { return answers(ctx).empty(); }
  json apply(Context& ctx) const override {
    const std::string name = vm_name(ctx);
    auto vm = find_vm(ctx, name);
    if (!vm) throw ActionError("no VM named " + name + " on the hypervisor (create it first: vm.create)");
    // The firmware reaches the network when every device before it has nothing to boot (a new
    // VM's empty disk); after the install the disk boots first. A VM that never tries the network
    // would wait out the whole timeout.
    const auto& order = vm->spec.boot_order;
    if (std::find(order.begin(), order.end(), "network") == order.end()) {
      std::string listed;
      for (const auto& d : order) listed += (listed.empty() ? "" : ", ") + d;
      throw ActionError("VM " + name + " never boots from the network (its boot order: " +
                        (listed.empty() ? std::string("none") : listed) + "): give its vm: boot [disk, network]");
    }
    try {
      if (vm->running) hypervisor(ctx).stop(name);  // a fresh boot: firmware, DHCP, PXE
      hypervisor(ctx).start(name);
    } catch (const std::runtime_error& e) {
      throw ActionError(e.what());
    }
    std::string last, stopped;
    const Duration timeout = duration_input(ctx.inputs, "timeout");
    if (poll_until(ctx, timeout, duration_input(ctx.inputs, "interval"), [&] {
          if ((last = answers(ctx)).empty()) return true;
          // No use waiting for a VM that will not come up by itself: the step's retry boots it again.
          if (auto now = find_vm(ctx, name); now && !now->running) stopped = "it was powered off";
          else stopped = ctx.world.halted(name);
          return !stopped.empty();
        }) && stopped.empty())
      return json::object();
    if (!stopped.empty()) throw ActionError(name + " stopped before SSH answered: " + stopped);
    std::string why = ctx.world.diagnose(name);
    throw ActionError(name + " did not answer SSH within " + ctx.inputs["timeout"].get<std::string>() + ": " + last +
                      (why.empty() ? "" : " (" + why + ")"));
  }

 private:
  /// "" when the host answers SSH as expected, else why not.
  static std::string answers(Context& ctx) {
    world::Command c;
    c.script = "hostname";
    c.timeout = Duration(30000);
    auto r = ctx.host.run(c);
    if (!r.ok()) {
      std::string err = tail_lines(r.err, 1);
      return err.empty() ? "hostname exited " + std::to_string(r.exit_code) : err;
    }
    std::string expected = ctx.inputs.value("hostname", "");
    if (expected.empty()) expected = vm_name(ctx);
    std::string got = r.out;
    while (!got.empty() && (got.back() == '\n' || got.back() == '\r')) got.pop_back();
    if (got != expected) return "it answers as '" + got + "', not '" + expected + "'";
    return "";
  }
};

}  // namespace

void add_pxe_actions(Registry& registry) {
  registry.add(std::make_unique<PxeRender>());
  registry.add(std::make_unique<PxeInstall>());
}

}  // namespace drctl::actions
