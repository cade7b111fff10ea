// `drctl status [SITE]`: what a monitor asks — the newest backup of each source in each
// repository, its age against the site's RPO target, and how the last scheduled run went; exit 1
// when a target is missed.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "base/duration.hpp"
#include "base/error.hpp"
#include "cli/commands.hpp"
#include "runbook/loader.hpp"
#include "runbook/plan.hpp"
#include "store/lock.hpp"
#include "store/repository.hpp"
#include "store/snapshot.hpp"

namespace drctl::cli {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

int cmd_status(const std::string& site_file, std::vector<std::string> repos, const std::vector<std::string>& states,
               const std::string& drill_report, bool as_json) {
  std::optional<std::chrono::milliseconds> rpo;
  std::string rpo_text;
  if (!site_file.empty()) {
    runbook::Site site;
    try {
      site = runbook::load_site(site_file);
    } catch (const runbook::LoadError& e) {
      throw InputError(e.what());
    }
    rpo_text = site.rpo;
    if (!rpo_text.empty()) rpo = duration_value(json(rpo_text));
  }
  // The scheduled runs' status files, and the repositories their backups went to.
  json runs = json::array();
  bool failing = false, damaged = false;
  for (const auto& dir : states) {
    std::ifstream in(fs::path(dir) / "status.json");
    const json st = json::parse(in, nullptr, false);
    if (!st.is_object()) throw InputError("--state " + dir + ": no status.json there (has a scheduled run finished?)");
    json verify = json::array();  // the last run's re-read of part of each repository's data
    for (const auto& r : st.value("repositories", json::array())) {
      if (std::find(repos.begin(), repos.end(), r.value("repo", "")) == repos.end()) repos.push_back(r.value("repo", ""));
      if (r.contains("verify")) {
        verify.push_back({{"repo", r.value("repo", "")}, {"part", r["verify"].value("part", "")}, {"ok", r["verify"].value("ok", false)}});
        damaged |= !r["verify"].value("ok", false);
      }
    }
    runs.push_back({{"state", dir}, {"schedule", st.value("schedule", "")}, {"ok", st.value("ok", false)},
                    {"finished", st.value("finished", "")}, {"last_success", st.value("last_success", "")}, {"verify", verify}});
    failing |= !st.value("ok", false);
  }
  // The last drill, from its JSON report (drctl drill --report): its runs, how many passed, when.
  json drill = nullptr;
  bool drill_failed = false;
  if (!drill_report.empty()) {
    std::ifstream in(drill_report);
    const json r = json::parse(in, nullptr, false);
    if (!r.is_object() || !r.contains("runs")) throw InputError("--drill " + drill_report + ": not a drill report (drctl drill --report)");
    std::size_t passed = 0;
    for (const auto& run : r["runs"]) passed += run.value("passed", false);
    std::error_code ec;
    const auto written = fs::last_write_time(drill_report, ec);
    const auto when = std::chrono::file_clock::to_sys(written);
    drill = {{"report", drill_report}, {"runs", r["runs"].size()}, {"passed", passed},
             {"written", store::utc_text(std::chrono::time_point_cast<std::chrono::system_clock::duration>(when))}};
    drill_failed = passed != r["runs"].size();
  }
  if (repos.empty() && drill.is_null())
    throw InputError("name a repository (--repo), a scheduled run's state directory (--state) or a drill report (--drill)");
  const auto now = std::chrono::system_clock::now();
  json sources = json::array();
  bool missed = false;
  for (const auto& path : repos) {
    if (!fs::exists(fs::path(path) / "config")) throw InputError(path + " is not a drctl repository (it has no config file)");
    const auto reading = store::ReadLock::shared(path, std::chrono::minutes(1), [](const std::string&) {});
    store::Repository repo(path);
    for (const auto& [source, time] : store::newest_by_section(repo.snapshots())) {
      const auto t = store::parse_utc_text(time);
      const auto age = t ? std::chrono::duration_cast<std::chrono::milliseconds>(now - *t) : std::chrono::milliseconds(0);
      const bool late = rpo && age > *rpo;
      missed |= late;
      sources.push_back({{"repo", path}, {"source", source}, {"last", time}, {"age_seconds", age.count() / 1000},
                         {"rpo_missed", late}});
    }
  }
  const bool ok = !missed && !failing && !drill_failed;
  if (as_json) {
    std::printf("%s\n", json({{"ok", ok}, {"rpo", rpo_text}, {"sources", sources}, {"runs", runs}, {"drill", drill}}).dump(2).c_str());
    return ok ? kOk : kFailed;
  }
  std::printf("%-24s %-30s %-10s %s\n", "SOURCE", "LAST BACKUP", "AGE", rpo ? ("RPO " + rpo_text).c_str() : "RPO (none set)");
  for (const auto& s : sources)
    std::printf("%-24s %-30s %-10s %s\n", s["source"].get<std::string>().c_str(), s["last"].get<std::string>().substr(0, 19).c_str(),
                runbook::format_duration(world::Duration(s["age_seconds"].get<std::int64_t>() * 1000)).c_str(),
                !rpo ? "-" : s["rpo_missed"].get<bool>() ? "MISSED" : "ok");
  for (const auto& r : runs) {
    std::printf("scheduled run %s: %s at %s (last success %s)\n", r["schedule"].get<std::string>().c_str(),
                r["ok"].get<bool>() ? "ok" : "FAILED", r["finished"].get<std::string>().c_str(),
                r["last_success"].get<std::string>().empty() ? "never" : r["last_success"].get<std::string>().c_str());
    for (const auto& v : r["verify"])
      std::printf("  verify %s of %s: %s\n", v["part"].get<std::string>().c_str(), v["repo"].get<std::string>().c_str(),
                  v["ok"].get<bool>() ? "intact" : "DAMAGED");
  }
  if (!drill.is_null())
    std::printf("last drill: %zu of %zu runs passed (%s, written %s)\n", drill["passed"].get<std::size_t>(),
                drill["runs"].get<std::size_t>(), drill_report.c_str(), drill["written"].get<std::string>().c_str());
  std::printf("%s\n", ok        ? "status: ok"
                     : missed  ? "status: RPO missed"
                     : damaged ? "status: the last verify found damage"
                     : failing ? "status: the last scheduled run failed"
                               : "status: the last drill failed");
  return ok ? kOk : kFailed;
}

}  // namespace

void add_status_command(CLI::App& app, Action& run) {
  struct Args {
    std::string site, drill;
    std::vector<std::string> repos, states;
    bool json = false;
  };
  auto a = std::make_shared<Args>();
  auto* s = app.add_subcommand("status", "The newest backup of each source against the site's RPO, and the last scheduled run; "
                                         "exit 1 when a target is missed (for monitoring)");
  s->add_option("SITE", a->site, "The site file (its rpo: is the target)");
  s->add_option("--repo", a->repos, "A repository to look at (repeatable)");
  s->add_option("--state", a->states, "A scheduled run's state directory: its status.json and its repositories (repeatable)");
  s->add_option("--drill", a->drill, "The last drill's JSON report (drctl drill --report): it fails the status when a run failed");
  s->add_flag("--json", a->json, "Print JSON");
  s->callback([&run, a] { run = [a] { return cmd_status(a->site, a->repos, a->states, a->drill, a->json); }; });
}

}  // namespace drctl::cli
