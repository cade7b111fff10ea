// What a scheduled run does after the runbook (`drctl schedule run`): find the backups the run
// made (its journal), apply the site's retention to their repositories (forget, then prune), and
// write what an operator or a monitor reads — a status file (JSON) and Prometheus textfile
// metrics.
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/prune.hpp"

namespace drctl::schedule {

/// A snapshot a run made (a backup.snapshot step that finished), as its journal records it.
struct Backup {
  std::string step, repo, snapshot;
  std::uint64_t files = 0, bytes = 0;
};

/// The backups of the last run in a journal (journal.jsonl of the run's state directory),
/// reading from byte `from` on (where the journal ended before the run began).
std::vector<Backup> backups_of_last_run(const std::filesystem::path& journal, std::uintmax_t from = 0);

/// A repository after the run: its snapshots, what retention removed, and the newest snapshot of
/// each source (section name → ISO 8601 UTC time).
struct RepoStatus {
  std::string repo;
  std::size_t snapshots = 0, forgotten = 0, packs_deleted = 0, packs_repacked = 0;
  std::uint64_t bytes_freed = 0, bytes_added = 0;  // bytes_added: by this run's snapshots
  std::map<std::string, std::string> sources;
  std::string error;  // retention failed: why (the run's backups stand)
  // The part of the data this run re-read and re-hashed ("3/7"; "" when none was).
  std::string verify_part;
  bool verify_ok = true;
  std::uint64_t verify_packs = 0;
  std::vector<std::string> verify_errors;  // the damage it found, a line each
  // The copy to the site's `offsite.to` after the run ("" when none was made).
  std::string copy_to;
  bool copy_ok = true;
  std::string copy_error;  // why it failed: the copy's own error line
};

/// Re-reads part `part` ("n/t", store::pack_subset) of the repository's data as a reader (a
/// prune waits), recording what it found in `status`.
void verify_part(RepoStatus& status, const std::string& part, std::chrono::milliseconds lock_wait);

/// The site's `retention:` (runbook::Site::retention, as its loader checked it) as a policy; the
/// keys of no rule (verify_cycle) are left out.
store::RetentionPolicy retention_policy(const nlohmann::json& retention);

/// Whether `policy` keeps snapshots tagged `tags` at all: a policy with a count rule or `within`
/// keeps the newest of every group; one of tag lists alone keeps only snapshots holding every
/// tag of one list (restic's --keep-tag), and forgets the rest, the newest included.
bool keeps_tagged(const store::RetentionPolicy& policy, const std::vector<std::string>& tags);

/// Whether the site's `retention:` asks each prune to rewrite small packs (`repack_small: true`).
bool retention_repacks_small(const nlohmann::json& retention);

/// Applies `policy` (when it keeps something) to the repository at `repo`: forget, then prune
/// when a snapshot was forgotten or `repack_small` is set (which also rewrites packs under 80 %
/// of the pack size, store::prune), under the writer lock and with the readers waited for
/// (`lock_wait`); then reads its status. A policy that would forget every snapshot of a source
/// forgets nothing and sets `error` instead.
RepoStatus apply_retention(const std::string& repo, const store::RetentionPolicy& policy, std::chrono::milliseconds lock_wait,
                           const std::function<void(const std::string&)>& warn, bool repack_small = false);

/// One run as the status file has it.
struct RunStatus {
  std::string schedule, runbook, started, finished;  // times ISO 8601 UTC
  double seconds = 0;
  bool ok = false;
  int exit_code = 0;
  std::string last_success;  // the newest run that succeeded (this one, or from the previous status)
  std::vector<Backup> backups;
  std::vector<RepoStatus> repositories;
};

nlohmann::json status_json(const RunStatus& s);
/// The last successful run's time recorded in a status file (""): kept across failed runs.
std::string last_success_in(const std::filesystem::path& status_file);
/// Prometheus text exposition of the run (node_exporter's textfile collector reads it).
std::string metrics_text(const RunStatus& s);

}  // namespace drctl::schedule
