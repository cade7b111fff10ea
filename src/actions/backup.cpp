#include "actions/backup.hpp"

#include <filesystem>
#include <cstdio>
#include <thread>
#include <mutex>
#include <condition_variable>

#include "actions/generic.hpp"
#include "capture/backup.hpp"
#include "capture/digest.hpp"
#include "capture/etcd.hpp"
#include "capture/kube.hpp"
#include "capture/remote.hpp"
#include "capture/tar_stream.hpp"

#include "store/lock.hpp"
#include "base/shell.hpp"
#include "store/repository.hpp"
#include "store/snapshot.hpp"

namespace drctl::actions {

using world::Duration;
namespace fs = std::filesystem;

namespace {

const Duration kLong(30 * 60000);  // a dataset's tar may take a while

std::string amount(std::uint64_t bytes) {
  char buf[32];
  if (bytes >= (1ULL << 30)) std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1ULL << 30));
  else std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1ULL << 20));
  return buf;
}

/// Tells the operator how far a capture has got, every 2 s of wall time, until destroyed.
class ProgressReporter {
 public:
  ProgressReporter(const std::function<void(const std::string&)>& report, const capture::Progress& p)
      : report_(report), progress_(p), thread_([this] { loop(); }) {}
  ~ProgressReporter() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

 private:
  void loop() {
    std::unique_lock lock(mutex_);
    while (!cv_.wait_for(lock, std::chrono::seconds(2), [this] { return stop_; }))
      report_(amount(progress_.bytes_seen) + " captured, " + std::to_string(progress_.files.load()) + " files, " +
              amount(progress_.bytes_added) + " new");
  }

  const std::function<void(const std::string&)>& report_;
  const capture::Progress& progress_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is ready
};

/// A list input of strings (`exclude_namespaces`, …) as a vector.
std::vector<std::string> strings(const json& src, const char* key) {
  std::vector<std::string> out;
  for (const auto& v : src.value(key, json::array())) out.push_back(v.get<std::string>());
  return out;
}

/// A `pre` or `post` input of a source, as the pipeline runs it.
capture::Hook hook(const json& src, const char* key, const std::string& section) {
  const json& command = src.value(key, json(""));
  if (!command.is_string()) throw ActionError("sources: " + section + ": `" + key + "` is a command (a string)");
  return {key, command.get<std::string>()};
}

/// One entry of `sources` as the backup pipeline takes it; ActionError when it is malformed.
capture::BackupSource source_of(world::World& world, const json& src) {
  if (!src.is_object() || !src.contains("section"))
    throw ActionError("sources: each entry needs `section` and one of path, kube, vms");
  capture::BackupSource s;
  s.section = src["section"].get<std::string>();
  s.host = src.value("host", "local");
  s.pre = hook(src, "pre", s.section);
  s.post = hook(src, "post", s.section);
  if (src.contains("path")) {
    s.kind = capture::BackupSource::Kind::Directory;
    s.path = src["path"].get<std::string>();
    s.origin = world.host(s.host).name() + ":" + s.path;
  } else if (src.contains("kube")) {
    s.kind = capture::BackupSource::Kind::Kube;
    s.kube.kubeconfig = src["kube"].get<std::string>();
    s.kube.context = src.value("context", "");
    s.kube.kubectl = "kubectl";  // as the step's host runs commands: root through its become: sudo
    s.filter.include_namespaces = strings(src, "include_namespaces");
    s.filter.exclude_namespaces = strings(src, "exclude_namespaces");
    s.filter.include_kinds = strings(src, "include_kinds");
    s.filter.exclude_kinds = strings(src, "exclude_kinds");
    s.filter.selector = src.value("selector", "");
    s.exclude = strings(src, "exclude");
    s.etcd = src.value("etcd", false);
    s.origin = world.host(s.host).name() + ": kubectl";
  } else if (src.value("vms", false)) {
    s.kind = capture::BackupSource::Kind::Vms;
    s.origin = "hypervisor";
    if (!s.pre.command.empty() || !s.post.command.empty())
      throw ActionError("sources: " + s.section + ": `pre` and `post` run on a source's host; `vms` has none");
  } else {
    throw ActionError("sources: " + s.section + " needs one of path, kube, vms");
  }
  return s;
}

/// backup.snapshot: several sources, one snapshot, through the backup pipeline `drctl snapshot
/// create` uses (capture::Backup).
class BackupSnapshot : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "backup.snapshot",
        "Capture the site's data into one snapshot: directories of hosts (as tar streams; this machine's read in place, "
        "unchanged files not read again), Kubernetes objects, VM definitions",
        {{"repo", InputType::String, true, std::nullopt, "The repository on this machine (created when missing)"},
         {"sources", InputType::List, true, std::nullopt,
          "Entries {section, host, path} (a directory); {section, host, kube: KUBECONFIG} (the cluster's objects; "
          "optional context, include_namespaces, exclude_namespaces, include_kinds, exclude_kinds, selector, exclude: "
          "[shell patterns of paths, e.g. website/*/tls-secret.json], etcd: true to add an etcd snapshot as etcd.db); "
          "{section, vms: true}. A directory or cluster entry may have pre and post: commands run on its host before "
          "and after its capture (post also when it failed)"},
         {"tags", InputType::List, false, json::array(), "Tags for the snapshot"}},
        {{"snapshot", "The snapshot's id"}, {"files", "Files captured"}, {"bytes", "Bytes captured"}}};
    return s;
  }
  bool check(Context&) const override { return false; }  // every backup is a new snapshot
  json apply(Context& ctx) const override {
    std::vector<capture::BackupSource> sources;
    for (const auto& src : ctx.inputs.at("sources")) sources.push_back(source_of(ctx.world, src));
    std::vector<std::string> tags;
    for (const auto& t : ctx.inputs.value("tags", json::array())) tags.push_back(t.get<std::string>());
    const fs::path repo_path = ctx.inputs.at("repo").get<std::string>();
    if (!fs::exists(repo_path / "config")) store::Repository::init(repo_path, store::RepoConfig{});
    auto lock = store::RepoLock::acquire(repo_path, std::chrono::milliseconds(60000), [&](const std::string& w) { ctx.log(w + "\n"); });
    store::Repository repo(repo_path);
    capture::Progress progress;
    const ProgressReporter reporter(ctx.progress, progress);
    capture::Backup backup(ctx.world, repo,
                           {[&](const std::string& w) { ctx.log("warning: " + w + "\n"); },
                            [&](const std::string& line) { ctx.log(line + "\n"); }});
    store::Snapshot snap;
    try {
      snap = backup.run(sources, tags, progress);
    } catch (const ActionError&) {
      throw;
    } catch (const std::exception& e) {
      throw ActionError(e.what());
    }
    std::uint64_t files = 0, bytes = 0;
    for (const auto& section : snap.sections) {
      files += section.files;
      bytes += section.bytes;
    }
    ctx.log("snapshot " + snap.id.hex() + " saved\n");
    return {{"snapshot", snap.id.hex()}, {"files", files}, {"bytes", bytes}};
  }
};

/// A section of a snapshot in a repository, as the inputs repo, snapshot and section name it.
struct OpenSection {
  store::Repository repo;
  store::Snapshot snap;
  const store::Section* section;
  explicit OpenSection(const json& inputs)
      : repo(inputs.at("repo").get<std::string>()),
        snap(repo.find_snapshot(inputs.value("snapshot", "latest"))),
        section(snap.section(inputs.at("section").get<std::string>())) {
    if (!section)
      throw ActionError("snapshot " + snap.id.short_hex() + " has no section " + inputs.at("section").get<std::string>());
  }
  capture::DataDiff compare(world::Host& host, const std::string& path) const {
    return capture::compare_digests(capture::section_digests(repo, *section), capture::host_digests(host, path, kLong));
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

/// verify.data: the files of a directory on the step's host hash as the snapshot's section says.
class VerifyData : public Action {
 public:
  const ActionSpec& spec() const override {
    static const ActionSpec s{
        "verify.data",
        "Check restored data: every file of a snapshot's section is in a directory of the step's host with the same "
        "SHA-256 (hashed there; files added since are listed, not counted as differences)",
        {{"repo", InputType::String, true, std::nullopt, "The repository on this machine"},
         {"snapshot", InputType::String, false, json("latest"), "Snapshot id, prefix, or latest"},
         {"section", InputType::String, true, std::nullopt, "e.g. nas/mail"},
         {"path", InputType::String, true, std::nullopt, "The directory on the host"}},
        {{"files", "Files checked"}, {"differences", "Files missing or changed"}, {"extra", "Files not in the snapshot"}}};
    return s;
  }
  bool check(Context&) const override { return false; }  // a check is cheap and always worth doing
  json apply(Context& ctx) const override {
    const OpenSection open(ctx.inputs);
    const std::string path = ctx.inputs.at("path").get<std::string>();
    const auto diff = open.compare(ctx.host, path);
    ctx.log(ctx.host.name() + ":" + path + " against " + open.section->name + " of " + open.snap.id.short_hex() + ": " +
            std::to_string(diff.same) + " files equal, " + diff.describe() + "\n");
    if (!diff.equal())
      throw ActionError(ctx.host.name() + ":" + path + " differs from " + open.section->name + " of snapshot " +
                        open.snap.id.short_hex() + ": " + diff.describe());
    return {{"files", diff.same}, {"differences", 0}, {"extra", diff.extra.size()}};
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

std::map<std::string, std::string> snapshot_files(const std::string& repo_path, const std::string& snapshot,
                                                  const std::string& section,
                                                  const std::function<bool(const std::string&)>& keep) {
  if (!fs::exists(fs::path(repo_path) / "config")) throw ActionError("no snapshot repository at " + repo_path);
  store::Repository repo(repo_path);
  const store::Snapshot snap = repo.find_snapshot(snapshot);
  const store::Section* s = snap.section(section);
  if (!s) throw ActionError("snapshot " + snap.id.short_hex() + " has no section " + section);
  return capture::section_files(repo, *s, keep);
}

void add_backup_actions(Registry& registry) {
  registry.add(std::make_unique<BackupSnapshot>());
  registry.add(std::make_unique<NasRestore>());
  registry.add(std::make_unique<VerifyData>());
  registry.add(std::make_unique<KubeRestore>());
  registry.add(std::make_unique<EtcdRestore>());
}

}  // namespace drctl::actions
