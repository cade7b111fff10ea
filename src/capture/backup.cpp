#include "capture/backup.hpp"

#include <fnmatch.h>

#include <chrono>
#include <filesystem>

#include "base/error.hpp"
#include "capture/etcd.hpp"
#include "capture/remote.hpp"
#include "capture/section_builder.hpp"
#include "capture/tar_stream.hpp"
#include "capture/vm_definitions.hpp"
#include "capture/vm_disks.hpp"
#include "store/lock.hpp"

namespace drctl::capture {

namespace fs = std::filesystem;

namespace {

/// Runs a hook on `host`; Failure naming it, the host, its exit code and first error line when it fails.
void run_hook(world::Host& host, const Hook& hook) {
  if (hook.command.empty()) return;
  auto r = host.run(world::shell_command(hook.command));
  if (!r.ok()) {
    const std::string line = r.err.substr(0, r.err.find('\n'));
    throw Failure(hook.label + " command on " + host.name() + " failed (exit " + std::to_string(r.exit_code) + ")" +
                  (line.empty() ? "" : ": " + line));
  }
}

/// The parent of `source`: the newest of `earlier` made on `machine` with the same section from
/// the same origin; its snapshot's id and the section's tree.
std::optional<std::pair<store::Id, store::Id>> parent_of(const std::vector<store::Snapshot>& earlier,
                                                         const std::string& machine, const BackupSource& source) {
  for (auto it = earlier.rbegin(); it != earlier.rend(); ++it) {
    const store::Section* sec = it->section(source.section);
    if (it->host == machine && sec && sec->source == source.origin) return std::pair{it->id, sec->tree};
  }
  return std::nullopt;
}

}  // namespace

Backup::Backup(world::World& world, store::Repository& repo, BackupMessages messages)
    : world_(world), repo_(repo), messages_(std::move(messages)) {
  if (!messages_.warn) messages_.warn = [](const std::string&) {};
  if (!messages_.note) messages_.note = [](const std::string&) {};
  try {
    world::Host& local = world_.host("local");
    machine_ = local.is_this_machine() ? store::local_hostname() : local.name();
  } catch (const std::out_of_range&) {  // a World without a local host (a test's)
    machine_ = "drctl";
  }
}

store::Snapshot Backup::run(const std::vector<BackupSource>& sources, const std::vector<std::string>& tags,
                            Progress& progress) {
  const std::vector<store::Snapshot> earlier = repo_.snapshots();
  store::Snapshot snap;
  snap.host = machine_;
  snap.tags = tags;
  for (const auto& source : sources) {
    const auto parent = parent_of(earlier, machine_, source);
    if (parent && !snap.parent) snap.parent = parent->first;
    world::Host& host = world_.host(source.host);
    run_hook(host, source.pre);
    NasResult result;
    try {
      result = capture(source, parent ? std::optional(parent->second) : std::nullopt, progress);
    } catch (...) {
      try {
        run_hook(host, source.post);  // e.g. releasing a ZFS snapshot: also when the capture failed
      } catch (const std::exception& e) {
        messages_.warn(e.what());
      }
      throw;
    }
    run_hook(host, source.post);
    messages_.note("captured " + source.section + " from " + source.origin + ": " + std::to_string(result.section.files) +
                   " files");
    snap.sections.push_back(result.section);
    for (auto& s : result.skipped) snap.skipped.push_back(std::move(s));
  }
  repo_.flush();
  snap.added_bytes = repo_.added_bytes();
  snap.time = store::utc_text(world_.clock().calendar_now());
  repo_.save_snapshot(snap);
  return snap;
}

NasResult Backup::capture(const BackupSource& source, const std::optional<store::Id>& parent_tree, Progress& progress) {
  switch (source.kind) {
    case BackupSource::Kind::Directory: {
      world::Host& host = world_.host(source.host);
      if (host.is_this_machine()) {  // read in place: unchanged files are not read again
        NasResult result = capture_nas(repo_, source.section, source.path, parent_tree, progress, messages_.warn, 0,
                                       source.exclude);
        result.section.source = source.origin;
        return result;
      }
      return capture_host_dir(repo_, source.section, source.origin, host, source.path, progress, messages_.warn,
                              parent_tree, source.exclude);
    }
    case BackupSource::Kind::Kube:
      return capture_kube_source(source, progress);
    case BackupSource::Kind::Vms: {
      world::Hypervisor* hv = world_.hypervisor();
      if (!hv) throw Failure("sources: `vms` needs a site with a hypervisor (a real run: hypervisor: {kind, url, credentials} in the site)");
      const auto vms = hv->list();  // once: a real hypervisor answers it over the network
      NasResult result = capture_tar_bytes(repo_, source.section, source.origin, tar_of_files(vm_definition_files(vms)),
                                           progress, messages_.warn);
      if (source.disks.empty()) return result;
      const auto mtime = std::chrono::duration_cast<std::chrono::nanoseconds>(
          world_.clock().calendar_now().time_since_epoch());
      auto disks = capture_vm_disks(*hv, vms, repo_, progress, source.disks, mtime.count());
      std::uint64_t bytes = 0;
      for (const auto& d : disks) bytes += d.size;
      const std::size_t count = disks.size();
      add_to_section(repo_, result.section, std::move(disks));
      messages_.note("captured " + std::to_string(count) + (count == 1 ? " disk image" : " disk images") + " into " +
                     source.section + " (" + std::to_string(bytes) + " bytes read)");
      return result;
    }
  }
  throw Failure("sources: " + source.section + ": unknown kind of source");
}

NasResult Backup::capture_kube_source(const BackupSource& source, Progress& progress) {
  world::Host& host = world_.host(source.host);
  auto objects = capture_kube(host, source.kube, source.filter).files;
  for (const auto& pattern : source.exclude)
    std::erase_if(objects, [&](const auto& file) { return ::fnmatch(pattern.c_str(), file.first.c_str(), 0) == 0; });
  NasResult result = capture_tar_bytes(repo_, source.section, source.origin, tar_of_files(objects), progress, messages_.warn);
  if (!source.etcd) return result;
  try {  // etcd's own snapshot, for etcd.restore
    const auto etcd = etcd_snapshot_files(host, EtcdEndpoint{}, repo_, progress);
    add_etcd_files(repo_, result.section, etcd);
    messages_.note("captured etcd " + etcd.info.etcd_version + " (" + std::to_string(etcd.info.size) + " bytes) into " +
                   source.section + "/etcd.db");
  } catch (const std::exception& e) {
    throw Failure("etcd snapshot for " + source.section + ": " + e.what());
  }
  return result;
}

}  // namespace drctl::capture
