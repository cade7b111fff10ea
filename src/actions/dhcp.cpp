#include "actions/dhcp.hpp"

#include "actions/generic.hpp"
#include "actions/pxe.hpp"
#include "base/ipv4.hpp"

namespace drctl::actions {

namespace {

std::vector<BootNode> dhcp_nodes(const Context& ctx) {
  auto out = boot_nodes(ctx, "which DHCP knows it by");
  for (const auto& n : out)
    if (n.address.empty()) throw ActionError("nodes: " + n.name + " has no address to reserve for it");
  if (out.empty()) throw ActionError("nodes: no node to boot");
  return out;
}

/// The network the nodes boot on, as the site describes it: all nodes must share it (one
/// dhcp-range, one router), and every reserved address must lie in it.
json boot_network(const Context& ctx, const std::vector<BootNode>& nodes) {
  const std::string name = nodes.front().network;
  for (const auto& n : nodes)
    if (n.network != name)
      throw ActionError("nodes: " + nodes.front().name + " boots on network '" + name + "' but " + n.name + " on '" +
                        n.network + "': one dnsmasq configuration serves one network");
  const json& networks = ctx.site["networks"];
  if (!networks.contains(name)) throw ActionError("nodes: their network '" + name + "' is not in the site's networks");
  const json& net = networks[name];
  const auto cidr = parse_ipv4_cidr(net.value("cidr", ""));
  if (!cidr) throw ActionError("networks." + name + ".cidr: not an IPv4 network ('" + net.value("cidr", "") + "')");
  for (const auto& n : nodes) {
    const auto ip = parse_ipv4(n.address);
    if (!ip || !cidr->contains(*ip))
      throw ActionError("nodes: " + n.name + "'s address " + n.address + " is not in network " + name + " (" +
                        net.value("cidr", "") + ")");
  }
  return {{"name", name},
          {"network", format_ipv4(cidr->network)},
          {"netmask", format_ipv4(cidr->mask())},
          {"router", net.value("gateway", "")}};
}

/// What the template sees besides the step's usual context.
json template_context(const Context& ctx) {
  const auto nodes = dhcp_nodes(ctx);
  const std::string server = ctx.target.is_object() ? ctx.target.value("address", "") : "";
  if (server.empty()) throw ActionError("dhcp.render runs on the PXE server (on:), whose address the nodes boot from");
  json dhcp = boot_network(ctx, nodes);
  dhcp["next_server"] = server;
  dhcp["server_name"] = ctx.target.value("name", "");
  dhcp["boot_file"] = ctx.inputs.at("boot_file");
  json list = json::array();
  for (const auto& n : nodes) list.push_back({{"name", n.name}, {"mac", n.mac}, {"address", n.address}});
  json records = json::array();
  for (const auto& [name, host] : ctx.site["hosts"].items())
    if (host.is_object() && parse_ipv4(host.value("address", "")))
      records.push_back({{"name", name}, {"address", host["address"]}});
  return {{"dhcp", dhcp}, {"nodes", list}, {"records", records}};
}

std::string rendered(Context& ctx) {
  if (!ctx.site.is_object()) throw ActionError("dhcp.render needs a site (its nodes' MACs and addresses)");
  const std::string text = read_local_file(ctx.inputs.at("template").get<std::string>(), "template");
  return ctx.render_with(text, template_context(ctx));
}

/// dhcp.render: dnsmasq's DHCP (and DNS) configuration for the nodes' network boot.
class DhcpRender : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "dhcp.render",
        "Write dnsmasq's configuration for the nodes' network boot on the step's host (a PXE server that is its "
        "site's DHCP server): one reserved address per node's MAC, the boot file and this server as next-server, "
        "the site's host names; then run `then` (e.g. systemctl restart dnsmasq) when the file changed",
        {{"nodes", InputType::List, true, std::nullopt, "Site hosts to boot (their vm.nics[0] gives MAC and network)"},
         {"template", InputType::String, true, std::nullopt,
          "Template of the configuration (on this machine); sees dhcp (next_server, server_name, boot_file, network, "
          "netmask, router), nodes (name, mac, address) and records (name, address of every site host)"},
         {"path", InputType::String, false, json("/etc/dnsmasq.d/drctl-pxe.conf"), "Where it goes on the host"},
         {"boot_file", InputType::String, false, json("pxelinux.0"), "The boot file DHCP hands out"},
         {"then", InputType::String, false, json(""),
          "A command run on the host after the file changed (dnsmasq reads its configuration only when it starts)"}},
        {{"path", "The file written"}, {"changed", "Whether it changed"}}};
    return s;
  }
  bool check(Context& ctx) const override {
    return ctx.host.get_file(ctx.inputs.at("path").get<std::string>()) == rendered(ctx);
  }
  json apply(Context& ctx) const override {
    const std::string path = ctx.inputs.at("path").get<std::string>();
    const std::string text = rendered(ctx);
    const bool changed = ctx.host.get_file(path) != text;
    if (changed) write_then(ctx, path, text, 0644, ctx.inputs.at("then").get<std::string>());
    return {{"path", path}, {"changed", changed}};
  }
};

}  // namespace

void add_dhcp_actions(Registry& registry) { registry.add(std::make_unique<DhcpRender>()); }

}  // namespace drctl::actions
