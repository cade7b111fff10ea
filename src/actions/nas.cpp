// NAS actions: nas.export, an NFS share of a dataset on a TrueNAS host (its middleware,
// `midclt`), so the cluster's volumes can mount it; nas.restore, a snapshot's section back into
// a directory of the step's host (a tar stream into tar -x).
#include "actions/nas.hpp"

#include "actions/generic.hpp"
#include "actions/snapshot_section.hpp"
#include "base/shell.hpp"
#include "capture/remote.hpp"

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

/// nas.restore: a section of a snapshot into a directory of the step's host. Done when the
/// directory holds every file of the section as it is there; never overwrites other data
/// unless told to.
class NasRestore : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "nas.restore",
        "Restore a snapshot's section into a directory of the step's host (a tar stream into tar -x)",
        {{"repo", InputType::String, true, std::nullopt, "The repository on this machine"},
         {"snapshot", InputType::String, false, json("latest"), "Snapshot id, prefix, or latest"},
         {"section", InputType::String, true, std::nullopt, "e.g. nas/mail"},
         {"path", InputType::String, true, std::nullopt, "The directory on the host"},
         {"force", InputType::Boolean, false, json(false),
          "Replace files that differ from the snapshot (without it, a directory holding other versions is refused)"}},
        {{"snapshot", "The snapshot restored from"}, {"files", "Files restored"}}};
    return s;
  }
  bool check(Context& ctx) const override {
    const std::string path = ctx.inputs.at("path").get<std::string>();
    if (!ctx.host.run(world::shell_command("test -d " + shell_quote(path))).ok()) return false;
    return OpenSection(ctx.inputs).compare(ctx.host, path).equal();
  }
  json apply(Context& ctx) const override {
    const OpenSection open(ctx.inputs);
    const std::string name = open.section->name, path = ctx.inputs.at("path").get<std::string>();
    if (!ctx.inputs.value("force", false) && ctx.host.run(world::shell_command("test -d " + shell_quote(path))).ok()) {
      const auto diff = open.compare(ctx.host, path);
      if (!diff.changed.empty())
        throw ActionError(ctx.host.name() + ":" + path + " holds other versions of files in the snapshot: " +
                          diff.describe() + "; restore with force: true to replace them");
    }
    try {  // streamed: the section's tar is made as the host's tar -x takes it (xattrs, owners, holes)
      capture::restore_host_dir(open.repo, *open.section, ctx.host, path);
    } catch (const std::exception& e) {
      throw ActionError(e.what());
    }
    ctx.log("restored " + name + " (" + std::to_string(open.section->files) + " files) into " + ctx.host.name() + ":" + path + "\n");
    return {{"snapshot", open.snap.id.hex()}, {"files", open.section->files}};
  }
};

}  // namespace

void add_nas_actions(Registry& registry) {
  registry.add(std::make_unique<NasRestore>()); registry.add(std::make_unique<NasExport>()); }

}  // namespace drctl::actions
