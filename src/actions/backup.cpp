#include "actions/backup.hpp"

#include <algorithm>
#include <filesystem>
#include <cstdio>
#include <thread>
#include <mutex>
#include <condition_variable>

#include "capture/backup.hpp"
#include "store/key_source.hpp"
#include "store/lock.hpp"
#include "store/repository.hpp"
#include "store/snapshot.hpp"

namespace drctl::actions {

namespace fs = std::filesystem;

namespace {

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
    const json& disks = src.value("disks", json(false));
    if (disks.is_boolean()) {
      if (disks.get<bool>()) s.disks = {"*"};
    } else if (disks.is_array() && std::all_of(disks.begin(), disks.end(), [](const json& d) { return d.is_string(); })) {
      s.disks = strings(src, "disks");
    } else {
      throw ActionError("sources: " + s.section + ": `disks` is true (every VM's) or a list of VM names");
    }
    if (!s.pre.command.empty() || !s.post.command.empty())
      throw ActionError("sources: " + s.section + ": `pre` and `post` run on a source's host; `vms` has none");
  } else {
    throw ActionError("sources: " + s.section + " needs one of path, kube, vms");
  }
  return s;
}

/// Makes the step's repository: encrypted with the process's credential (store/key_source.hpp,
/// never a prompt: steps run side by side) when `encrypt`, else plain.
void create_repository(const fs::path& path, bool encrypt, Context& ctx) {
  if (!encrypt) {
    store::Repository::init(path, store::RepoConfig{});
    return;
  }
  const std::optional<store::Credential> cred = store::find_credential(path, false, false);
  if (!cred)
    throw ActionError("encrypt: true, and no passphrase or key file to make " + path.string() +
                      " with: set $DRCTL_PASSWORD_FILE or $DRCTL_KEY_FILE to a file holding one");
  store::Repository::init(path, store::RepoConfig{}, &*cred);
  ctx.log("created encrypted repository " + path.string() + "\n");
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
         {"encrypt", InputType::Boolean, false, json(false),
          "The repository must be encrypted: created so when missing, with the passphrase or key file "
          "$DRCTL_PASSWORD_FILE or $DRCTL_KEY_FILE names; an unencrypted one is refused"},
         {"sources", InputType::List, true, std::nullopt,
          "Entries {section, host, path} (a directory); {section, host, kube: KUBECONFIG} (the cluster's objects; "
          "optional context, include_namespaces, exclude_namespaces, include_kinds, exclude_kinds, selector, exclude: "
          "[shell patterns of paths, e.g. website/*/tls-secret.json], etcd: true to add an etcd snapshot as etcd.db); "
          "{section, vms: true} (the VM definitions; disks: [VM names] or true adds their disk images, NAME.diskN.img). A directory or cluster entry may have pre and post: commands run on its host before "
          "and after its capture (post also when it failed)"},
         {"tags", InputType::List, false, json::array(), "Tags for the snapshot"}},
        {{"snapshot", "The snapshot's id"}, {"repo", "The repository's absolute path"}, {"files", "Files captured"},
         {"bytes", "Bytes captured"}}};
    return s;
  }
  bool check(Context&) const override { return false; }  // every backup is a new snapshot
  json apply(Context& ctx) const override {
    std::vector<capture::BackupSource> sources;
    for (const auto& src : ctx.inputs.at("sources")) sources.push_back(source_of(ctx.world, src));
    std::vector<std::string> tags;
    for (const auto& t : ctx.inputs.value("tags", json::array())) tags.push_back(t.get<std::string>());
    const fs::path repo_path = ctx.inputs.at("repo").get<std::string>();
    const bool encrypt = ctx.inputs.value("encrypt", false);
    if (!fs::exists(repo_path / "config")) create_repository(repo_path, encrypt, ctx);
    auto lock = store::RepoLock::acquire(repo_path, std::chrono::milliseconds(60000), [&](const std::string& w) { ctx.log(w + "\n"); });
    store::Repository repo(repo_path);
    if (encrypt && !repo.encrypted())
      throw ActionError("repository " + repo_path.string() + " is not encrypted, and this step says encrypt: true: nothing was "
                        "stored (back up into a new repository, or one made with `drctl snapshot init --encrypt`)");
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
    return {{"snapshot", snap.id.hex()}, {"repo", fs::absolute(repo_path).lexically_normal().string()}, {"files", files}, {"bytes", bytes}};
  }
};

}  // namespace

void add_backup_actions(Registry& registry) {
  registry.add(std::make_unique<BackupSnapshot>());
}

}  // namespace drctl::actions
