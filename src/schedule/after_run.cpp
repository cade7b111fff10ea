#include "schedule/after_run.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "base/error.hpp"
#include "base/text.hpp"
#include "store/checker.hpp"
#include "store/lock.hpp"
#include "store/repository.hpp"
#include "store/snapshot.hpp"

namespace drctl::schedule {

using json = nlohmann::json;

namespace {

/// Seconds since the epoch of an ISO 8601 UTC time (store::utc_text); 0 when it is not one.
double epoch(const std::string& text) {
  const auto t = store::parse_utc_text(text);
  return t ? std::chrono::duration<double>(t->time_since_epoch()).count() : 0;
}

/// A label value as Prometheus' text format escapes it.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::vector<Backup> backups_of_last_run(const std::filesystem::path& journal, std::uintmax_t from) {
  std::ifstream in(journal);
  in.seekg(static_cast<std::streamoff>(from));
  std::map<std::string, std::string> action;  // step instance -> its action, in the last run
  std::vector<Backup> out;
  for (std::string line; std::getline(in, line);) {
    const json e = json::parse(line, nullptr, false);
    if (!e.is_object()) continue;
    const std::string event = e.value("event", ""), step = e.value("step", "");
    if (event == "run" && !e.value("resume", false)) {
      action.clear();
      out.clear();
    } else if (event == "started") {
      action[step] = e.value("action", "");
    } else if (event == "done" && action[step] == "backup.snapshot") {
      const json o = e.value("outputs", json::object());
      if (o.contains("repo") && o.contains("snapshot"))
        out.push_back({step, o.value("repo", ""), o.value("snapshot", ""), o.value("files", std::uint64_t(0)),
                       o.value("bytes", std::uint64_t(0))});
    }
  }
  return out;
}

store::RetentionPolicy retention_policy(const nlohmann::json& r) {
  store::RetentionPolicy policy;
  policy.last = r.value("last", 0), policy.hourly = r.value("hourly", 0), policy.daily = r.value("daily", 0),
  policy.weekly = r.value("weekly", 0), policy.monthly = r.value("monthly", 0), policy.yearly = r.value("yearly", 0);
  if (r.contains("within")) policy.within = store::parse_keep_within(r["within"].get<std::string>()).value();  // checked by the loader
  for (const auto& list : r.value("tags", nlohmann::json::array()))
    policy.tags.push_back(text::split_nonempty(list.get<std::string>(), ','));
  return policy;
}

bool keeps_tagged(const store::RetentionPolicy& policy, const std::vector<std::string>& tags) {
  if (policy.empty() || policy.last || policy.hourly || policy.daily || policy.weekly || policy.monthly || policy.yearly ||
      !policy.within.empty())
    return true;
  return std::any_of(policy.tags.begin(), policy.tags.end(), [&](const std::vector<std::string>& all) {
    return std::all_of(all.begin(), all.end(), [&](const std::string& t) { return std::find(tags.begin(), tags.end(), t) != tags.end(); });
  });
}

namespace {

/// Failure when `plan` forgets every snapshot of a source (a host and its sections), the newest
/// included: restic's --keep-tag does so to snapshots without the tag, and `snapshot forget`
/// follows it when asked, but an unattended run must not empty a source's history.
void refuse_emptying(const store::ForgetPlan& plan) {
  std::set<std::string> kept;
  for (const auto& s : plan.keep) kept.insert(store::forget_group(s));
  for (const auto& s : plan.remove)
    if (!kept.count(store::forget_group(s))) {
      std::vector<std::string> sections;
      for (const auto& sec : s.sections) sections.push_back(sec.name);
      throw Failure("it would forget every snapshot of " + text::join(sections, ", ") + " from " + s.host + ", the newest (" +
                    s.id.short_hex() + ") too, so nothing was forgotten: a retention of tags alone keeps only snapshots "
                    "holding them (tag those backups too, or add a count such as last: 1)");
    }
}

}  // namespace

bool retention_repacks_small(const nlohmann::json& retention) { return retention.value("repack_small", false); }

RepoStatus apply_retention(const std::string& path, const store::RetentionPolicy& policy, std::chrono::milliseconds lock_wait,
                           const std::function<void(const std::string&)>& warn, bool repack_small) {
  RepoStatus s;
  s.repo = path;
  try {
    store::Repository repo(path);
    if (!policy.empty() || repack_small) {
      const store::RepoLock lock = store::RepoLock::acquire(path, lock_wait, warn);
      repo.reload_index();
      repo.clean_tmp();
      if (!policy.empty()) {  // an empty policy would keep nothing: it means no forget at all
        const store::ForgetPlan plan = store::plan_forget(repo.snapshots(), policy);
        refuse_emptying(plan);
        for (const auto& snap : plan.remove) repo.remove_snapshot(snap.id);
        s.forgotten = plan.remove.size();
      }
      if (s.forgotten > 0 || repack_small) {
        const store::ReadLock readers = store::ReadLock::exclusive(path, lock_wait, warn);
        const auto stats = store::prune(repo, [](const std::string&) {}, repack_small);
        s.packs_deleted = stats.packs_deleted;
        s.packs_repacked = stats.packs_repacked;
        s.bytes_freed = stats.bytes_freed;
      }
    }
    const auto snapshots = repo.snapshots();
    s.snapshots = snapshots.size();
    s.sources = store::newest_by_section(snapshots);
  } catch (const std::exception& e) {
    s.error = e.what();
  }
  return s;
}

void verify_part(RepoStatus& status, const std::string& part, std::chrono::milliseconds lock_wait) {
  status.verify_part = part;
  try {
    const store::ReadLock reading = store::ReadLock::shared(status.repo, lock_wait, [](const std::string&) {});
    const store::Repository repo(status.repo);
    const store::VerifyReport report = store::verify_repository(repo, true, {}, store::pack_subset(part));
    status.verify_ok = report.ok();
    status.verify_packs = report.packs_read;
    status.verify_errors = report.errors;
  } catch (const std::exception& e) {
    status.verify_ok = false;
    status.verify_errors = {e.what()};
  }
}

json status_json(const RunStatus& s) {
  json backups = json::array(), repos = json::array();
  for (const auto& b : s.backups)
    backups.push_back({{"step", b.step}, {"repo", b.repo}, {"snapshot", b.snapshot}, {"files", b.files}, {"bytes", b.bytes}});
  for (const auto& r : s.repositories) {
    json j = {{"repo", r.repo},         {"snapshots", r.snapshots},     {"forgotten", r.forgotten},
              {"packs_deleted", r.packs_deleted}, {"packs_repacked", r.packs_repacked}, {"bytes_freed", r.bytes_freed}, {"sources", r.sources}};
    if (!r.error.empty()) j["error"] = r.error;
    if (!r.verify_part.empty())
      j["verify"] = {{"part", r.verify_part}, {"ok", r.verify_ok}, {"packs_read", r.verify_packs}, {"errors", r.verify_errors}};
    if (!r.copy_to.empty()) {
      j["copy"] = {{"to", r.copy_to}, {"ok", r.copy_ok}};
      if (!r.copy_error.empty()) j["copy"]["error"] = r.copy_error;
    }
    repos.push_back(j);
  }
  return {{"schedule", s.schedule}, {"runbook", s.runbook},   {"started", s.started},   {"finished", s.finished},
          {"seconds", s.seconds},   {"ok", s.ok},             {"exit_code", s.exit_code}, {"last_success", s.last_success},
          {"backups", backups},     {"repositories", repos}};
}

std::string last_success_in(const std::filesystem::path& status_file) {
  std::ifstream in(status_file);
  const json j = json::parse(in, nullptr, false);
  return j.is_object() ? j.value("last_success", "") : "";
}

std::string metrics_text(const RunStatus& s) {
  const std::string sched = "schedule=\"" + label(s.schedule) + "\"";
  std::string out;
  auto metric = [&](const std::string& name, const std::string& help, const std::vector<std::pair<std::string, double>>& values) {
    out += "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
    for (const auto& [labels, v] : values) out += name + "{" + labels + "} " + fmt::format("{}", v) + "\n";
  };
  metric("drctl_run_success", "Whether the last scheduled run succeeded (1) or not (0).", {{sched, s.ok ? 1.0 : 0.0}});
  metric("drctl_run_last_timestamp_seconds", "When the last scheduled run finished.", {{sched, epoch(s.finished)}});
  metric("drctl_run_last_success_timestamp_seconds", "When the last successful scheduled run finished (0: none yet).",
         {{sched, epoch(s.last_success)}});
  metric("drctl_run_duration_seconds", "How long the last scheduled run took, retention included.", {{sched, s.seconds}});
  std::vector<std::pair<std::string, double>> bytes, files, snaps, forgotten, freed, source_times, verify_ok, verify_packs, copy_ok;
  for (const auto& b : s.backups) {
    const std::string l = sched + ",repo=\"" + label(b.repo) + "\",step=\"" + label(b.step) + "\"";
    bytes.push_back({l, static_cast<double>(b.bytes)});
    files.push_back({l, static_cast<double>(b.files)});
  }
  for (const auto& r : s.repositories) {
    const std::string l = sched + ",repo=\"" + label(r.repo) + "\"";
    snaps.push_back({l, static_cast<double>(r.snapshots)});
    forgotten.push_back({l, static_cast<double>(r.forgotten)});
    freed.push_back({l, static_cast<double>(r.bytes_freed)});
    for (const auto& [source, time] : r.sources) source_times.push_back({l + ",source=\"" + label(source) + "\"", epoch(time)});
    if (!r.copy_to.empty()) copy_ok.push_back({l + ",to=\"" + label(r.copy_to) + "\"", r.copy_ok ? 1.0 : 0.0});
    if (!r.verify_part.empty()) {
      verify_ok.push_back({l + ",part=\"" + label(r.verify_part) + "\"", r.verify_ok ? 1.0 : 0.0});
      verify_packs.push_back({l, static_cast<double>(r.verify_packs)});
    }
  }
  metric("drctl_backup_bytes", "Bytes the last run's snapshot captured.", bytes);
  metric("drctl_backup_files", "Files the last run's snapshot captured.", files);
  metric("drctl_repository_snapshots", "Snapshots in the repository after the run's retention.", snaps);
  metric("drctl_retention_forgotten_snapshots", "Snapshots the run's retention removed.", forgotten);
  metric("drctl_retention_freed_bytes", "Bytes the run's prune freed.", freed);
  metric("drctl_source_last_snapshot_timestamp_seconds", "When the newest snapshot of each source was taken.", source_times);
  if (!verify_ok.empty()) {
    metric("drctl_verify_ok", "Whether the part of the data the run re-read was intact (1) or damaged (0).", verify_ok);
    metric("drctl_verify_packs_read", "Packs the run re-read and re-hashed.", verify_packs);
  }
  if (!copy_ok.empty()) metric("drctl_copy_success", "Whether the run's copy to the off-site repository succeeded (1) or not (0).", copy_ok);
  return out;
}

}  // namespace drctl::schedule
