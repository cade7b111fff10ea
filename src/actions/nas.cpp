// nas.export: an NFS share of a dataset on a TrueNAS host (its middleware, `midclt`), so the
// cluster's volumes can mount it. nas.restore and verify.data are with the backup actions.
#include "actions/nas.hpp"
#include "base/shell.hpp"

#include "actions/generic.hpp"

namespace drctl::actions {

namespace {

const world::Duration kShort(60000);


class NasExport : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "nas.export",
        "Share a dataset's directory over NFS on the step's TrueNAS host (midclt sharing.nfs), for the given networks",
        {{"path", InputType::String, true, std::nullopt, "The directory, e.g. /mnt/tank/mail"},
         {"networks", InputType::List, false, json::array(), "Networks allowed to mount it (CIDR); empty: everyone"},
         {"comment", InputType::String, false, json("drctl"), "The share's comment"}},
        {{"id", "The share's id"}}};
    return s;
  }
  /// Done when a share of the path exists with exactly these networks.
  bool check(Context& ctx) const override {
    const json share = find(ctx);
    return share.is_object() && share.value("networks", json::array()) == ctx.inputs.at("networks");
  }
  json apply(Context& ctx) const override {
    const std::string path = ctx.inputs.at("path").get<std::string>();
    if (find(ctx).is_object())
      throw ActionError(ctx.host.name() + " already shares " + path + " with other networks; change or remove that share first");
    const json data = {{"path", path}, {"networks", ctx.inputs.at("networks")}, {"comment", ctx.inputs.at("comment")}};
    auto r = run_or_fail(ctx.host, "midclt call sharing.nfs.create " + shell_quote(data.dump()), "sharing " + path, kShort);
    const json created = json::parse(r.out, nullptr, false);
    ctx.log("shared " + path + " over NFS\n");
    return {{"id", created.is_object() ? created.value("id", 0) : 0}};
  }

 private:
  static json find(Context& ctx) {
    const std::string path = ctx.inputs.at("path").get<std::string>();
    const json filter = json::array({json::array({"path", "=", path})});
    auto r = run_or_fail(ctx.host, "midclt call sharing.nfs.query " + shell_quote(filter.dump()), "listing the NFS shares", kShort);
    const json shares = json::parse(r.out, nullptr, false);
    if (!shares.is_array()) throw ActionError("midclt sharing.nfs.query printed no JSON list", r.out);
    return shares.empty() ? json() : shares[0];
  }
};

}  // namespace

void add_nas_actions(Registry& registry) { registry.add(std::make_unique<NasExport>()); }

}  // namespace drctl::actions
