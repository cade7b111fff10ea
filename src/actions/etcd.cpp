// etcd.restore: a cluster's whole state from a snapshot's etcd.db (taken beside its Kubernetes
// objects by backup.snapshot with etcd: true), instead of re-creating its objects.
#include "actions/etcd.hpp"

#include "actions/snapshot_section.hpp"
#include "capture/etcd.hpp"

namespace drctl::actions {

namespace {

/// etcd.restore: the cluster's whole state from the snapshot's etcd.db, instead of its objects.
class EtcdRestore : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "etcd.restore",
        "Restore the snapshot's etcd.db into etcd's data directory on the step's host (the control plane), refusing a "
        "snapshot of another etcd major.minor; kubeadm's etcd static pod then serves it (the alternative to kube.restore)",
        {{"repo", InputType::String, true, std::nullopt, "The repository on this machine"},
         {"snapshot", InputType::String, false, json("latest"), "Snapshot id, prefix, or latest"},
         {"section", InputType::String, false, json("kube"), "The section holding etcd.db and etcd.json"},
         {"data_dir", InputType::String, false, json("/var/lib/etcd"), "etcd's data directory"},
         {"name", InputType::String, false, json(""), "The member's name (default: the step's host)"},
         {"peer_url", InputType::String, false, json(""), "Its peer URL (default: https://ADDRESS:2380)"},
         {"etcd_version", InputType::String, false, json(""), "The etcd that will serve it, when not the host's own (kubeadm's image tag)"},
         {"replace", InputType::Boolean, false, json(true), "Move a non-empty data directory aside (DATA_DIR.replaced-TIME) instead of refusing"}},
        {{"snapshot", "The snapshot restored from"}, {"revision", "etcd's revision in it"}, {"keys", "Keys restored"}}};
    return s;
  }
  /// Done when this step restored the same snapshot before.
  bool check(Context& ctx) const override {
    if (!ctx.previous.is_object()) return false;
    store::Repository repo(ctx.inputs.at("repo").get<std::string>());
    return ctx.previous.value("outputs", json::object()).value("snapshot", "") ==
           repo.find_snapshot(ctx.inputs.at("snapshot").get<std::string>()).id.hex();
  }
  json apply(Context& ctx) const override {
    const OpenSection open(ctx.inputs);
    capture::EtcdRestoreOptions o;
    o.data_dir = ctx.inputs.at("data_dir").get<std::string>();
    o.name = ctx.inputs.value("name", "");
    if (o.name.empty()) o.name = ctx.host.name();
    o.initial_advertise_peer_urls = ctx.inputs.value("peer_url", "");
    if (o.initial_advertise_peer_urls.empty() && ctx.target.is_object())
      o.initial_advertise_peer_urls = "https://" + ctx.target.value("address", "127.0.0.1") + ":2380";
    o.etcd_version = ctx.inputs.value("etcd_version", "");
    o.replace_existing = ctx.inputs.value("replace", true);
    try {
      auto source = capture::etcd_source_from_section(open.repo, *open.section,
                                                      "section " + open.section->name + " of snapshot " + open.snap.id.short_hex());
      const auto r = capture::etcd_snapshot_restore(ctx.host, source, o);
      ctx.log("restored etcd " + r.snapshot_version + " (revision " + std::to_string(r.revision) + ", " +
              std::to_string(r.total_keys) + " keys) into " + ctx.host.name() + ":" + r.data_dir +
              (r.replaced_dir.empty() ? "" : "; the old data is in " + r.replaced_dir) + "\n");
      return {{"snapshot", open.snap.id.hex()}, {"revision", r.revision}, {"keys", r.total_keys}};
    } catch (const ActionError&) {
      throw;
    } catch (const std::exception& e) {
      throw ActionError(e.what());
    }
  }
};

}  // namespace

void add_etcd_actions(Registry& registry) { registry.add(std::make_unique<EtcdRestore>()); }

}  // namespace drctl::actions
