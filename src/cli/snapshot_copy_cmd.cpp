// `drctl snapshot copy`: snapshots to or from a repository on an SSH host over SFTP.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>

#include "base/error.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "cli/snapshot_common.hpp"
#include "offsite/copy.hpp"
#include "store/files.hpp"
#include "store/prune.hpp"
#include "store/repository.hpp"
#include "world/real/ssh_host.hpp"

namespace drctl::cli::snapshot_detail {

using namespace drctl::store;

namespace {

/// The SSH host of an sftp:// URL, with drctl's strict host-key rules (SshConfig, known_hosts).
world::real::SshHost& copy_host(world::real::RealWorld& world, const offsite::SftpUrl& url, const std::string& ssh_config,
                                const std::string& option) {
  const world::real::SshHostSpec spec = url_host_spec(url.user, url.host, url.port, ssh_config);
  try {
    world.add_ssh_host(spec);
  } catch (const world::real::SshConfigError& e) {
    throw InputError(option + " " + spec.name + ": " + e.what());
  }
  return dynamic_cast<world::real::SshHost&>(world.host(spec.name));
}

/// What the chosen manifests need from the repository at `local`: the packs holding every blob
/// their trees reach (as the index places them), and index files naming those packs alone (each
/// pack's blobs as its own header lists them), at most 64 packs each as a backup writes them.
/// An encrypted repository opens with its key here.
offsite::CopyNeeds needs_of(const fs::path& local, const std::vector<std::string>& manifests) {
  Repository repo(local);
  std::vector<Snapshot> chosen;
  for (const auto& rel : manifests) chosen.push_back(repo.load_snapshot(Id::from_hex(rel.substr(rel.rfind('/') + 1))));
  std::set<Id> packs;
  for (const Id& blob : referenced_blobs(repo, chosen)) {
    const Index::Location* at = repo.index().find(blob);
    if (!at) throw Failure("blob " + blob.short_hex() + " of a chosen snapshot is in no index file (run `drctl snapshot verify`)");
    packs.insert(repo.index().pack_id(*at));
  }
  offsite::CopyNeeds needs;
  PackContents part;
  auto flush = [&] {
    if (part.empty()) return;
    auto [id, bytes] = repo.index_file_bytes(part);
    needs.index_files.emplace("index/" + id.hex(), std::string(bytes.begin(), bytes.end()));
    part.clear();
  };
  for (const Id& pack : packs) {
    needs.packs.insert(Repository::pack_rel(pack));
    part[pack] = repo.read_pack_header(pack);
    if (part.size() == 64) flush();
  }
  flush();
  return needs;
}

}  // namespace

int cmd_copy(const Common& c, const CopyArgs& a) {
  if (a.to.empty() == a.from.empty()) throw InputError("copy needs one of --to sftp://… or --from sftp://…");
  if (a.all == !a.ids.empty()) throw InputError("copy needs snapshot ids or --all (not both)");
  if (!a.from.empty() && !a.ids.empty()) throw InputError("copy --from copies --all (ids are chosen on the far side's copy)");
  if (!a.ssh_config.empty() && !fs::exists(a.ssh_config)) throw InputError("--ssh-config " + a.ssh_config + " does not exist");
  const bool upload = !a.to.empty();
  const offsite::SftpUrl url = offsite::parse_sftp_url(upload ? a.to : a.from, upload ? "--to" : "--from");
  const fs::path local = c.path();
  // The local end: read under a reader's share (a prune waits), or written under the writer's lock.
  std::optional<ReadLock> reading;
  std::optional<RepoLock> writing;
  if (upload) {
    if (!fs::exists(local / "config")) throw InputError(local.string() + " is not a drctl repository (it has no config file)");
    reading = c.reading();
  } else {
    std::error_code ec;
    if (!fs::exists(local / "config") && fs::exists(local, ec) && !fs::is_empty(local, ec))
      throw InputError(local.string() + " is not empty and not a drctl repository: copy --from needs an empty or new directory");
    make_private_dir(local / "tmp");
    writing.emplace(c.lock());
  }
  world::real::RealWorld world;
  world::real::SshHost& host = copy_host(world, url, a.ssh_config, upload ? "--to" : "--from");
  auto near = offsite::local_side(local);
  auto far = offsite::sftp_side(host, url.path);

  offsite::CopyProgress progress;
  offsite::CopyStats stats;
  const auto started = std::chrono::steady_clock::now();
  {
    std::atomic<bool> reading_trees{false};
    StatusLine status([&] {
      if (reading_trees) return std::string("reading the chosen snapshots' trees for the packs they need");
      const double secs = std::max(seconds_since(started), 0.001);
      return "[" + std::to_string(progress.files_done.load()) + "/" + std::to_string(progress.files_total.load()) +
             " files] " + human_bytes(progress.bytes_sent) + " sent (" +
             human_bytes(static_cast<std::uint64_t>(progress.bytes_sent / secs)) + "/s)";
    });
    offsite::CopyChoice choice{a.all, a.ids, a.verify_all, {}};
    if (upload && !a.all)
      choice.needs = [&](const std::vector<std::string>& manifests) {
        reading_trees = true;
        offsite::CopyNeeds needs = needs_of(local, manifests);
        reading_trees = false;
        return needs;
      };
    stats = upload ? offsite::copy_repository(*near, *far, choice, progress)
                   : offsite::copy_repository(*far, *near, choice, progress);
  }
  const std::string target = upload ? far->describe() : near->describe();
  if (stats.created) std::printf("created repository %s\n", target.c_str());
  if (stats.temporaries_removed) std::printf("removed %zu temporary files of an interrupted copy\n", stats.temporaries_removed);
  std::printf("copied %zu files (%s, %zu snapshots) to %s; %zu already there; %zu verified in %.1fs\n", stats.files_sent,
              human_bytes(stats.bytes_sent).c_str(), stats.snapshots_sent, target.c_str(), stats.files_present,
              stats.files_verified, seconds_since(started));
  return kOk;
}

}  // namespace drctl::cli::snapshot_detail
