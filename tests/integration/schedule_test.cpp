// `drctl schedule`: the systemd units it writes are accepted by systemd-analyze verify (the
// oracle for unit syntax, specifiers, calendars and the command's executable); the cron line it
// writes, run as cron runs it, runs the runbook, and never twice at once; list, show, remove;
// bad input changes nothing.
#include <doctest/doctest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;
using namespace std::chrono_literals;

namespace {

/// A runbook in `dir` whose one step appends a line to `out`, then takes `seconds`.
fs::path tick_runbook(const fs::path& dir, const fs::path& out, int seconds) {
  fs::create_directories(dir);
  const fs::path rb = dir / "tick.yaml";
  write_file(rb, "name: tick\nsteps:\n  - id: tick\n    run: \"echo tick >> '" + out.string() + "' && sleep " +
                     std::to_string(seconds) + "\"\n");
  return rb;
}

std::size_t lines(const fs::path& f) {
  if (!fs::exists(f)) return 0;
  std::istringstream in(read_file(f));
  std::size_t n = 0;
  for (std::string l; std::getline(in, l);) ++n;
  return n;
}

/// The command of a cron.d line (after its five time fields and the user), as cron hands it to
/// /bin/sh: `\%` is a literal %.
std::string cron_command(const std::string& file) {
  std::istringstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.find('=') < line.find(' ')) continue;
    std::istringstream words(line);
    std::string w;
    for (int i = 0; i < 6; ++i) words >> w;
    std::string rest;
    std::getline(words, rest);
    std::string out;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '\\' && i + 1 < rest.size() && rest[i + 1] == '%') continue;
      out += rest[i];
    }
    return out;
  }
  FAIL("no command line in:\n" << file);
  return "";
}

}  // namespace

TEST_CASE("schedule: the systemd service and timer pass systemd-analyze verify, paths with spaces and % included") {
  TempDir t("schedule-systemd");
  const fs::path dir = t / "odd dir%1";  // a space and a specifier character in every path
  const fs::path rb = tick_runbook(dir, t / "out", 0);
  fs::create_directories(t / "units");
  auto r = drctl({"schedule", "install", rb.string(), "--every", "weekly", "--at", "02:30", "--dir", (t / "units").string(),
                  "--state", (dir / "state").string()});
  expect_exit(r, 0);
  const fs::path service = t / "units/drctl-tick.service", timer = t / "units/drctl-tick.timer";
  REQUIRE(fs::exists(service));
  REQUIRE(fs::exists(timer));
  const std::string timer_text = read_file(timer);
  CHECK(timer_text.find("OnCalendar=Sun *-*-* 02:30:00\n") != std::string::npos);
  CHECK(timer_text.find("Persistent=true\n") != std::string::npos);
  CHECK(read_file(service).find("Type=oneshot\n") != std::string::npos);
  auto v = run({"systemd-analyze", "verify", service.string(), timer.string()});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  // systemd's own reading of the calendar: the next run is a Sunday at 02:30.
  auto cal = run({"systemd-analyze", "calendar", "Sun *-*-* 02:30:00"});
  CHECK_MESSAGE(cal.out.find("Sun ") != std::string::npos, cal.describe());
  // A calendar of systemd's own passes through; one it cannot read fails verify, not drctl.
  expect_exit(drctl({"schedule", "install", rb.string(), "--every", "Mon..Fri *-*-* 22:00", "--dir", (t / "units").string()}), 0);
  v = run({"systemd-analyze", "verify", service.string(), timer.string()});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  CHECK(read_file(timer).find("OnCalendar=Mon..Fri *-*-* 22:00\n") != std::string::npos);
}

TEST_CASE("schedule: the cron line runs the runbook as cron would, and a run whose previous one still goes does not start twice") {
  TempDir t("schedule-cron");
  const fs::path out = t / "ticks";
  const fs::path rb = tick_runbook(t / "rb dir%1", out, 4);  // a space and cron's % in the path
  fs::create_directories(t / "cron");
  auto r = drctl({"schedule", "install", rb.string(), "--cron", "--every", "hourly", "--at", ":05", "--dir", (t / "cron").string(),
                  "--state", (t / "state").string()});
  expect_exit(r, 0);
  const std::string file = read_file(t / "cron/drctl-tick");
  CHECK(file.find("\n5 * * * * root ") != std::string::npos);
  const std::string command = cron_command(file);
  RunOptions as_cron;
  as_cron.env = {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}};
  Process first({"/bin/sh", "-c", command}, as_cron);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (lines(out) == 0 && first.running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  REQUIRE(lines(out) == 1);
  REQUIRE(first.running());
  auto second = run({"/bin/sh", "-c", command}, as_cron);
  CHECK(second.exit_code != 0);
  CHECK(first.wait(2min).exit_code == 0);
  CHECK(lines(out) == 1);  // the second never ran the step
  CHECK_MESSAGE(read_file(t / "state/cron.log").find("another scheduled run of tick is still going") != std::string::npos,
                read_file(t / "state/cron.log"));
  // When nothing runs, the next one does.
  expect_exit(run({"/bin/sh", "-c", command}, as_cron), 0);
  CHECK(lines(out) == 2);
}

TEST_CASE("schedule: list, show and remove find the schedules drctl wrote, and only those") {
  TempDir t("schedule-list");
  const fs::path rb = tick_runbook(t / "rb", t / "out", 0);
  fs::create_directories(t / "units");
  write_file(t / "units/drctl-other.service", "[Service]\nExecStart=/bin/true\n");  // not drctl's
  expect_exit(drctl({"schedule", "install", rb.string(), "--dir", (t / "units").string(), "--name", "nightly"}), 0);
  auto list = drctl({"schedule", "list", "--systemd", "--dir", (t / "units").string()});
  expect_exit(list, 0);
  CHECK(list.out.find("nightly") != std::string::npos);
  CHECK(list.out.find("*-*-* 03:00:00") != std::string::npos);
  CHECK(list.out.find("other") == std::string::npos);
  auto show = drctl({"schedule", "show", "nightly", "--systemd", "--dir", (t / "units").string()});
  CHECK(show.out.find("ExecStart=") != std::string::npos);
  auto typo = drctl({"schedule", "remove", "nigthly", "--systemd", "--dir", (t / "units").string()});
  expect_exit(typo, 2);
  CHECK(typo.err.find("did you mean 'nightly'") != std::string::npos);
  expect_exit(drctl({"schedule", "remove", "nightly", "--systemd", "--dir", (t / "units").string()}), 0);
  CHECK_FALSE(fs::exists(t / "units/drctl-nightly.service"));
  CHECK_FALSE(fs::exists(t / "units/drctl-nightly.timer"));
  CHECK(fs::exists(t / "units/drctl-other.service"));
}

TEST_CASE("schedule: bad input is one error line, exit 2, and nothing written") {
  TempDir t("schedule-bad");
  const fs::path rb = tick_runbook(t / "rb", t / "out", 0);
  fs::create_directories(t / "units");
  write_file(t / "units/drctl-tick.service", "[Service]\nExecStart=/bin/true\n");  // someone else's, same name
  const std::string dir = (t / "units").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--every", "0 3 * * *"}, "is a cron schedule"},
      {{"--at", "25:00"}, "--at: '25:00' is not HH:MM"},
      {{"--every", "hourly", "--at", "02:30"}, "hourly takes :MM"},
      {{"--cron", "--every", "Mon *-*-* 02:00"}, "not hourly, daily, weekly or a cron schedule"},
      {{"--user", "--cron"}, "--user: cron.d files"},
      {{}, "exists and drctl did not write it"}};
  for (auto [extra, expected] : cases) {
    CAPTURE(expected);
    std::vector<std::string> args = {"schedule", "install", rb.string(), "--dir", dir};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = drctl(args);
    expect_exit(r, 2);
    CHECK(is_one_error_line(r.err));
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  }
  auto missing = drctl({"schedule", "install", (t / "nope.yaml").string(), "--dir", dir, "--name", "x"});
  expect_exit(missing, 2);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(t / "units")) ++files;
  CHECK(files == 1);  // only the other one's file
}

namespace {

/// A site with a local host and `retention`, and a backup runbook of `src` into `repo` whose
/// second step fails when `fail` exists.
fs::path backup_runbook(const fs::path& dir, const fs::path& src, const fs::path& repo, const fs::path& fail,
                        const std::string& retention) {
  fs::create_directories(dir);
  write_file(dir / "site.yaml", "name: small\nretention: " + retention + "\nhosts:\n  me: {connection: local}\n");
  write_file(dir / "backup.yaml", "name: nightly\nsite: site.yaml\nsteps:\n  - id: snap\n    uses: backup.snapshot\n    on: me\n"
                                  "    with: {repo: '" + repo.string() + "', sources: [{section: nas/src, host: me, path: '" + src.string() +
                                      "'}]}\n  - id: after\n    needs: snap\n    run: \"test ! -e '" + fail.string() + "'\"\n");
  return dir / "backup.yaml";
}

std::vector<fs::path> snapshot_files(const fs::path& repo) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(repo / "snapshots")) out.push_back(e.path());
  return out;
}

/// The value of the metric line that starts with `prefix` (name{labels...), or -1.
double metric(const std::string& text, const std::string& prefix) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind(prefix, 0) == 0) return std::stod(line.substr(line.rfind(' ') + 1));
  return -1;
}

}  // namespace

TEST_CASE("schedule: a retention of tags alone that no backup of the runbook has is one line and exit 2, before anything is written or run") {
  // restic's --keep-tag keeps only snapshots holding the tag and forgets the rest, the newest
  // included (restic 0.14 on untagged snapshots: all removed): a typo here empties the repository.
  TempDir t("schedule-retention-tags");
  fs::create_directories(t / "src");
  write_file(t / "src/file", "data");
  const fs::path repo = t / "repo";
  const fs::path rb = backup_runbook(t / "site", t / "src", repo, t / "fail", "{tags: [weekly]}");
  auto run = drctl({"schedule", "run", rb.string(), "--state", (t / "state").string()});
  expect_exit(run, 2);
  CHECK_MESSAGE(run.err.rfind("drctl: error: " + rb.string() + ":", 0) == 0, run.err);
  CHECK(run.err.find("step snap: the site's retention (" + (t / "site/site.yaml").string() +
                     ") keeps only snapshots tagged weekly, and this step's are tagged nothing") != std::string::npos);
  CHECK(std::count(run.err.begin(), run.err.end(), '\n') == 1);
  CHECK(!fs::exists(repo));
  CHECK(!fs::exists(t / "state"));
  auto install = drctl({"schedule", "install", rb.string(), "--every", "daily", "--dir", (t / "units").string()});
  expect_exit(install, 2);
  CHECK(install.err == run.err);
  CHECK((!fs::exists(t / "units") || fs::is_empty(t / "units")));

  // Tagged as the retention keeps: it runs, and keeps the snapshot.
  std::string text = read_file(rb);
  const std::string with = "    with: {repo: ";
  REQUIRE(text.find(with) != std::string::npos);
  text.replace(text.find(with), with.size(), "    with: {tags: [weekly, nightly], repo: ");
  write_file(rb, text);
  expect_exit(drctl({"schedule", "run", rb.string(), "--state", (t / "state").string()}), 0);
  CHECK(snapshot_files(repo).size() == 1);

  // The repository also holds another source's backups, taken by hand without the tag: the
  // same policy would forget every one of them. The run forgets nothing and fails, saying so.
  fs::create_directories(t / "other");
  write_file(t / "other/file", "other data");
  const std::string other = create_snapshot(repo, {{"other", t / "other"}});
  auto emptying = drctl({"schedule", "run", rb.string(), "--state", (t / "state").string()});
  CHECK(emptying.exit_code == 1);
  CHECK_MESSAGE(emptying.err.find("retention: it would forget every snapshot of nas/other from ") != std::string::npos, emptying.describe());
  CHECK(emptying.err.find("the newest (" + other.substr(0, 8) + ") too, so nothing was forgotten") != std::string::npos);
  CHECK(snapshot_files(repo).size() == 3);  // both of the runbook's and the other source's
  const nlohmann::json status = nlohmann::json::parse(read_file(t / "state/status.json"));
  CHECK(status["ok"] == false);
  CHECK(status["repositories"][0]["forgotten"] == 0);
  CHECK(status["repositories"][0]["error"].get<std::string>().find("nas/other") != std::string::npos);
}

TEST_CASE("schedule run: the runbook, then the site's retention, a status file and metrics that say what happened") {
  TempDir t("schedule-run");
  fs::create_directories(t / "src");
  const fs::path repo = t / "repo", fail = t / "fail";
  const fs::path rb = backup_runbook(t / "site", t / "src", repo, fail, "{last: 2}");
  const std::vector<std::string> args = {"schedule", "run", rb.string(), "--state", (t / "state").string()};
  for (int i = 1; i <= 3; ++i) {
    write_file(t / "src/file", std::string(1000 * i, 'x'));
    expect_exit(drctl(args), 0);
  }
  // Three backups, the site keeps the last two: the repository's own files say so.
  const auto snaps = snapshot_files(repo);
  CHECK(snaps.size() == 2);
  const nlohmann::json status = nlohmann::json::parse(read_file(t / "state/status.json"));
  CHECK(status["ok"] == true);
  CHECK(status["schedule"] == "nightly");
  REQUIRE(status["repositories"].size() == 1);
  CHECK(status["repositories"][0]["snapshots"] == 2);
  CHECK(status["repositories"][0]["forgotten"] == 1);
  CHECK(status["backups"][0]["bytes"] == 3000);  // the file as the third run saw it
  std::string newest;
  for (const auto& f : snaps) newest = std::max(newest, nlohmann::json::parse(read_file(f))["time"].get<std::string>());
  CHECK(status["repositories"][0]["sources"]["nas/src"] == newest);
  // The metrics: Prometheus' text format, every sample after its TYPE line.
  const std::string prom = read_file(t / "state/drctl.prom");
  std::istringstream lines(prom);
  std::set<std::string> typed;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("# TYPE ", 0) == 0) typed.insert(line.substr(7, line.find(' ', 7) - 7));
    if (line.empty() || line[0] == '#') continue;
    CAPTURE(line);
    CHECK(typed.contains(line.substr(0, line.find('{'))));
    CHECK(line.find("} ") != std::string::npos);
  }
  CHECK(metric(prom, "drctl_run_success{schedule=\"nightly\"}") == 1);
  CHECK(metric(prom, "drctl_repository_snapshots{") == 2);
  CHECK(metric(prom, "drctl_backup_bytes{") == 3000);
  CHECK((fs::status(t / "state/drctl.prom").permissions() & fs::perms::others_read) != fs::perms::none);
  CHECK((fs::status(t / "state/status.json").permissions() & fs::perms::others_read) == fs::perms::none);

  // A run that fails: no retention (history is not thinned by failures), the last success kept.
  write_file(fail, "");
  write_file(t / "src/file", "changed");
  auto failed = drctl(args);
  CHECK(failed.exit_code == 1);
  CHECK(snapshot_files(repo).size() == 3);  // its snapshot was taken; nothing forgotten
  const nlohmann::json after = nlohmann::json::parse(read_file(t / "state/status.json"));
  CHECK(after["ok"] == false);
  CHECK(after["last_success"] == status["last_success"]);
  CHECK(metric(read_file(t / "state/drctl.prom"), "drctl_run_success{") == 0);
}

TEST_CASE("schedule run: with retention.repack_small each run's small packs are rewritten into full ones, and every snapshot still restores") {
  // Each capture ends with a partly filled pack of data and one of trees; a year of nightly runs
  // would leave hundreds. The oracle is the pack files on disk, and what restore and verify say.
  TempDir t("schedule-repack");
  for (const bool repack : {false, true}) {
    CAPTURE(repack);
    const fs::path dir = t / (repack ? "on" : "off"), src = dir / "src", repo = dir / "repo";
    fs::create_directories(src);
    const fs::path rb = backup_runbook(dir / "site", src, repo, dir / "fail", repack ? "{last: 10, repack_small: true}" : "{last: 10}");
    const std::vector<std::string> args = {"schedule", "run", rb.string(), "--state", (dir / "state").string()};
    std::size_t repacked = 0;
    for (int i = 1; i <= 5; ++i) {
      make_random_tree(src / ("night" + std::to_string(i)), {.seed = 70u + i, .files = 3, .min_size = 64 * KiB, .max_size = 256 * KiB, .dirs = 1});
      expect_exit(drctl(args), 0);
      const nlohmann::json status = nlohmann::json::parse(read_file(dir / "state/status.json"));
      repacked += status["repositories"][0]["packs_repacked"].get<std::size_t>();
      if (repack) CHECK_MESSAGE(packs_under(repo, 16 * MiB) <= 2, "after run ", i);  // one of data, one of trees
    }
    CHECK(snapshot_files(repo).size() == 5);
    if (repack) CHECK(repacked >= 4);
    else CHECK(packs_under(repo, 16 * MiB) >= 10);  // without it: two more every run
    restore_section(repo, "latest", "nas/src", dir / "back");
    const auto d = compare_trees(src, dir / "back");
    CHECK_MESSAGE(d.empty(), join_diffs(d));
    RunResult verify = drctl({"snapshot", "verify", "--read-data", "--repo", repo.string()});
    CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
  }
}

TEST_CASE("schedule run: a second run while one is going says so, exits 1 and leaves the status alone") {
  TempDir t("schedule-run-twice");
  const fs::path rb = tick_runbook(t / "rb", t / "ticks", 3);
  const std::vector<std::string> args = {"schedule", "run", rb.string(), "--state", (t / "state").string()};
  auto first = drctl_start(args);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (lines(t / "ticks") == 0 && first->running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  REQUIRE(first->running());
  auto second = drctl(args);
  CHECK(second.exit_code == 1);
  CHECK(is_one_error_line(second.err));
  CHECK(second.err.find("another scheduled run of tick is still going") != std::string::npos);
  CHECK_FALSE(fs::exists(t / "state/status.json"));  // only the first writes it, when it ends
  CHECK(first->wait(2min).exit_code == 0);
  CHECK(nlohmann::json::parse(read_file(t / "state/status.json"))["ok"] == true);
  CHECK(lines(t / "ticks") == 1);
}

TEST_CASE("schedule run: a site's retention or rpo that is not right is one error line at its place, before anything runs") {
  TempDir t("schedule-run-bad");
  fs::create_directories(t / "src");
  for (const auto& [retention, expected] : std::vector<std::pair<std::string, std::string>>{
           {"{lats: 2}", "unknown key 'lats' in retention (did you mean 'last'?)"},
           {"{last: -1}", "retention.last: a count of snapshots to keep"},
           {"{last: 2}\nrpo: soon", "rpo: 'soon' is not a duration"},
           {"{within: 30x}", "retention.within: '30x' is not a span of time"},
           {"{last: 1, tags: ['a b']}", "retention.tags: 'a b' is not a tag list"},
           {"{last: 2, repack_small: sometimes}", "retention.repack_small: true or false"},
           {"{last: 2}\noffsite: {to: 'ftp://far/repo'}", "offsite.to"},
           {"{last: 2}\noffsite: {to: 'sftp://far/'}", "names the host's root directory"},
           {"{last: 2}\noffsite: {too: 'sftp://far/repo'}", "unknown key 'too' in offsite (did you mean 'to'?)"},
           {"{last: 2}\noffsite: {to: 'sftp://far/repo', ssh_config: no-such-file}", "offsite.ssh_config:"}}) {
    CAPTURE(retention);
    const fs::path rb = backup_runbook(t / std::to_string(std::hash<std::string>{}(retention)), t / "src", t / "repo", t / "fail", retention);
    auto r = drctl({"schedule", "run", rb.string(), "--state", (t / "state").string()});
    expect_exit(r, 2);
    CHECK(is_one_error_line(r.err));
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
    CHECK(r.err.find("site.yaml:") != std::string::npos);  // file:line:col
    CHECK_FALSE(fs::exists(t / "repo"));
  }
}

TEST_CASE("status: each source's newest backup against the site's RPO, and the last scheduled run, exit 1 when missed") {
  TempDir t("status");
  fs::create_directories(t / "src");
  write_file(t / "src/file", "data");
  const fs::path repo = t / "repo", fail = t / "fail";
  const fs::path rb = backup_runbook(t / "site", t / "src", repo, fail, "{last: 5}\nrpo: 26h");
  const std::string state = (t / "state").string(), site = (t / "site/site.yaml").string();
  expect_exit(drctl({"schedule", "run", rb.string(), "--state", state}), 0);
  // The newest snapshot's time, from the repository's own manifest.
  std::string newest;
  for (const auto& f : snapshot_files(repo)) newest = std::max(newest, nlohmann::json::parse(read_file(f))["time"].get<std::string>());

  auto ok = drctl({"status", site, "--state", state, "--json"});
  expect_exit(ok, 0);
  const auto j = nlohmann::json::parse(ok.out);
  REQUIRE(j["sources"].size() == 1);
  CHECK(j["sources"][0]["source"] == "nas/src");
  CHECK(j["sources"][0]["last"] == newest);
  CHECK(j["sources"][0]["rpo_missed"] == false);
  CHECK(j["runs"][0]["ok"] == true);

  // A target of one second, two seconds later: missed.
  std::string text = read_file(site);
  text.replace(text.find("rpo: 26h"), 8, "rpo: 1s");
  write_file(site, text);
  std::this_thread::sleep_for(2s);
  auto late = drctl({"status", site, "--repo", repo.string()});
  expect_exit(late, 1);
  CHECK(late.out.find("MISSED") != std::string::npos);
  CHECK(late.out.find("status: RPO missed") != std::string::npos);

  // Without a target, a failed last run is what fails.
  text.replace(text.find("rpo: 1s"), 7, "");
  write_file(site, text);
  write_file(fail, "");
  CHECK(drctl({"schedule", "run", rb.string(), "--state", state}).exit_code == 1);
  auto failed = drctl({"status", site, "--state", state});
  expect_exit(failed, 1);
  CHECK(failed.out.find("status: the last scheduled run failed") != std::string::npos);

  auto nothing = drctl({"status"});
  expect_exit(nothing, 2);
  CHECK(is_one_error_line(nothing.err));

  // The last drill, from its report: a real one that passed, then the same with a run that failed.
  const fs::path report = t / "drill.json";
  expect_exit(drctl({"drill", (fs::path(__FILE__).parent_path().parent_path().parent_path() / "runbooks/homelab/drills/etcd-restore.yaml")
                                  .string(),
                     "--report", report.string()}),
              0);
  auto drilled = drctl({"status", "--drill", report.string()});
  expect_exit(drilled, 0);
  CHECK(drilled.out.find("last drill: 1 of 1 runs passed") != std::string::npos);
  auto edited = nlohmann::json::parse(read_file(report));
  edited["runs"][0]["passed"] = false;
  write_file(report, edited.dump());
  auto drill_failed = drctl({"status", "--drill", report.string()});
  expect_exit(drill_failed, 1);
  CHECK(drill_failed.out.find("status: the last drill failed") != std::string::npos);
}

namespace {

/// A one-thread HTTP server on 127.0.0.1 that answers every request with `status` and keeps
/// each request's first line and body: what a healthchecks or ntfy server would have seen.
class PingServer {
 public:
  explicit PingServer(int status) : status_(status) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(fd_, 8) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~PingServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  std::vector<std::pair<std::string, std::string>> requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    for (;;) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string in;
      char buf[4096];
      std::size_t want = std::string::npos;
      for (ssize_t n; (n = ::read(c, buf, sizeof buf)) > 0;) {
        in.append(buf, static_cast<std::size_t>(n));
        const auto end = in.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        const auto cl = in.find("Content-Length: ");
        want = end + 4 + (cl == std::string::npos ? 0 : std::stoul(in.substr(cl + 16)));
        if (in.size() >= want) break;
      }
      {
        std::lock_guard lock(mutex_);
        const auto end = in.find("\r\n\r\n");
        requests_.push_back({in.substr(0, in.find("\r\n")), end == std::string::npos ? "" : in.substr(end + 4)});
      }
      const std::string reply = "HTTP/1.1 " + std::to_string(status_) + " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!::write(c, reply.data(), reply.size());
      ::close(c);
    }
  }
  int status_;
  int fd_ = -1, port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, std::string>> requests_;
};

}  // namespace

TEST_CASE("schedule run --notify: one POST saying how it went, to the failure URL when it failed, a refused ping only warned") {
  TempDir t("schedule-notify");
  fs::create_directories(t / "src");
  write_file(t / "src/file", "data");
  const fs::path fail = t / "fail";
  const fs::path rb = backup_runbook(t / "site", t / "src", t / "repo", fail, "{last: 5}");
  PingServer server(200);
  const std::vector<std::string> args = {"schedule", "run",    rb.string(), "--state", (t / "state").string(), "--notify",
                                         server.url("/ping/s3cret-token"), "--notify-fail", server.url("/ping/s3cret-token/fail")};
  expect_exit(drctl(args), 0);
  write_file(fail, "");
  CHECK(drctl(args).exit_code == 1);
  const auto seen = server.requests();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].first == "POST /ping/s3cret-token HTTP/1.1");
  CHECK(seen[0].second.rfind("drctl nightly: ok, 1 snapshots", 0) == 0);
  CHECK(seen[1].first == "POST /ping/s3cret-token/fail HTTP/1.1");
  CHECK(seen[1].second.rfind("drctl nightly: FAILED (exit 1)", 0) == 0);

  // Installed with --notify, the URL stays out of the world-readable units: the run finds it in
  // its state directory.
  fs::create_directories(t / "units");
  expect_exit(drctl({"schedule", "install", rb.string(), "--dir", (t / "units").string(), "--state", (t / "state2").string(),
                     "--notify", server.url("/ping/s3cret-token")}),
              0);
  for (const auto& e : fs::directory_iterator(t / "units")) CHECK(read_file(e.path()).find("s3cret") == std::string::npos);
  CHECK((fs::status(t / "state2/notify.json").permissions() & (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
  fs::remove(fail);
  expect_exit(drctl({"schedule", "run", rb.string(), "--state", (t / "state2").string()}), 0);
  CHECK(server.requests().size() == 3);
  CHECK(server.requests().back().first == "POST /ping/s3cret-token HTTP/1.1");

  PingServer refusing(500);
  fs::remove(fail);
  auto r = drctl({"schedule", "run", rb.string(), "--state", (t / "state").string(), "--notify", refusing.url("/ping/s3cret-token")});
  expect_exit(r, 0);  // the backup is fine: the ping is only warned about
  CHECK_MESSAGE(r.err.find("warning: notifying " + refusing.url("/…") + " failed: HTTP 500") != std::string::npos, r.err);
  CHECK(r.err.find("s3cret") == std::string::npos);
  CHECK(refusing.requests().size() == 1);
}

TEST_CASE("schedule run with a verify cycle: each run re-reads the next part of the data, and the metrics say it was intact") {
  TempDir t("schedule-verify");
  fs::create_directories(t / "src");
  const fs::path rb = backup_runbook(t / "site", t / "src", t / "repo", t / "fail", "{last: 10, verify_cycle: 3}");
  std::vector<std::string> parts;
  for (int i = 1; i <= 4; ++i) {
    write_file(t / "src/file", std::string(5000 * i, 'v'));
    expect_exit(drctl({"schedule", "run", rb.string(), "--state", (t / "state").string()}), 0);
    const auto st = nlohmann::json::parse(read_file(t / "state/status.json"));
    parts.push_back(st["repositories"][0]["verify"]["part"].get<std::string>());
    CHECK(st["repositories"][0]["verify"]["ok"] == true);
  }
  CHECK(parts == std::vector<std::string>{"1/3", "2/3", "3/3", "1/3"});
  CHECK(metric(read_file(t / "state/drctl.prom"), "drctl_verify_ok{") == 1);
  auto status = drctl({"status", "--state", (t / "state").string()});
  expect_exit(status, 0);
  CHECK_MESSAGE(status.out.find("verify 1/3 of " + (t / "repo").string() + ": intact") != std::string::npos, status.out);
}

TEST_CASE("schedule install --kubernetes: a CronJob manifest from the site's kubernetes_schedule, or one line naming what is missing") {
  TempDir t("schedule-k8s");
  fs::create_directories(t / "src");
  const fs::path rb = backup_runbook(t / "site", t / "src", t / "repo", t / "fail", "{last: 3}");
  fs::create_directories(t / "out");
  auto missing = drctl({"schedule", "install", rb.string(), "--kubernetes", "--dir", (t / "out").string()});
  expect_exit(missing, 2);
  CHECK(is_one_error_line(missing.err));
  CHECK(missing.err.find("kubernetes_schedule: missing") != std::string::npos);
  std::string site = read_file(t / "site/site.yaml");
  site.replace(site.find("hosts:\n"), 7, "hosts:\n  nas: {address: 10.0.10.6, user: root}\n");
  write_file(t / "site/site.yaml", site + "kubernetes_schedule: {image: registry.example/drctl:0.1, repository: {host: nas, path: /mnt/tank/drctl}}\n");
  std::string text = read_file(rb);
  text.replace(text.find("site: site.yaml\n"), 16, "site: site.yaml\nvars:\n  repo_dir: /var/backups/drctl\n");
  write_file(rb, text);
  // A var the runbook does not declare is a typo, refused at install, not when the job runs.
  auto typo = drctl({"schedule", "install", rb.string(), "--kubernetes", "--dir", (t / "out").string(), "--set", "repo_dri=/repo/snapshots"});
  expect_exit(typo, 2);
  CHECK_MESSAGE(typo.err.find("did you mean 'repo_dir'") != std::string::npos, typo.err);
  CHECK_FALSE(fs::exists(t / "out/drctl-nightly.cronjob.yaml"));
  auto r = drctl({"schedule", "install", rb.string(), "--kubernetes", "--dir", (t / "out").string(), "--set", "repo_dir=/repo/snapshots"});
  expect_exit(r, 0);
  const std::string yaml = read_file(t / "out/drctl-nightly.cronjob.yaml");
  CHECK(yaml.find("concurrencyPolicy: Forbid") != std::string::npos);
  CHECK(yaml.find("nfs: {server: \"10.0.10.6\", path: \"/mnt/tank/drctl\"}") != std::string::npos);
  CHECK(r.out.find("kubectl -n drctl create secret generic drctl-nightly-site") != std::string::npos);
  auto list = drctl({"schedule", "list", "--kubernetes", "--dir", (t / "out").string()});
  CHECK(list.out.find("nightly") != std::string::npos);
  CHECK(list.out.find("0 3 * * *") != std::string::npos);
  auto not_for_units = drctl({"schedule", "install", rb.string(), "--dir", (t / "out").string(), "--set", "x=1"});
  expect_exit(not_for_units, 2);
}

TEST_CASE("schedule run with offsite: each successful run copies the repository to the far one, which restores, and a refused host fails the run") {
  Sshd sshd;
  TempDir t("schedule-offsite");
  fs::create_directories(t / "src");
  const fs::path repo = t / "repo", far = t / "far/repo";
  const fs::path config = write_client_config(sshd, t / "ssh_config", "far");
  const fs::path rb = backup_runbook(t / "site", t / "src", repo, t / "fail",
                                     "{last: 2}\noffsite: {to: 'sftp://far" + far.string() + "', ssh_config: '" + config.string() + "'}");
  const std::vector<std::string> args = {"schedule", "run", rb.string(), "--state", (t / "state").string()};
  for (int i = 1; i <= 3; ++i) {
    write_file(t / "src/file", std::string(1000 * i, 'a' + static_cast<char>(i)));
    write_file(t / "src/run", std::to_string(i) + "\n");
    auto r = drctl(args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    // The far side holds every manifest of the local repository, byte for byte.
    for (const fs::path& f : snapshot_files(repo)) {
      REQUIRE(fs::exists(far / "snapshots" / f.filename()));
      CHECK(read_file(far / "snapshots" / f.filename()) == read_file(f));
    }
  }
  // Read from the far repository (it is on this disk), the newest snapshot is the tree as it is now.
  std::string newest, newest_id;
  for (const auto& f : snapshot_files(far))
    if (const auto time = nlohmann::json::parse(read_file(f))["time"].get<std::string>(); time > newest)
      newest = time, newest_id = f.filename().string();
  restore_section(far, newest_id, "nas/src", t / "back");
  const auto d = compare_trees(t / "src", t / "back");
  CHECK_MESSAGE(d.empty(), "the far copy restores differently:\n" << join_diffs(d));
  // Retention thinned the local repository; the far one keeps what was copied to it.
  CHECK(snapshot_files(repo).size() == 2);
  CHECK(snapshot_files(far).size() == 3);
  nlohmann::json status = nlohmann::json::parse(read_file(t / "state/status.json"));
  CHECK(status["ok"] == true);
  CHECK(status["repositories"][0]["copy"]["ok"] == true);
  CHECK(status["repositories"][0]["copy"]["to"] == "sftp://far" + far.string());
  CHECK(metric(read_file(t / "state/drctl.prom"), "drctl_copy_success{") == 1);

  // The far host's key is not the one known: the run's backup stands, the copy is refused and
  // the run fails saying why.
  write_file(t / "empty_known_hosts", "");
  write_client_config(sshd, config, "far", t / "empty_known_hosts");
  write_file(t / "src/file", "changed once more");
  const auto far_before = snapshot_files(far).size();
  auto refused = drctl(args);
  CHECK(refused.exit_code == 1);
  CHECK(snapshot_files(repo).size() == 2);  // a new one taken, retention applied
  CHECK(snapshot_files(far).size() == far_before);
  status = nlohmann::json::parse(read_file(t / "state/status.json"));
  CHECK(status["ok"] == false);
  CHECK(status["repositories"][0]["copy"]["ok"] == false);
  const std::string why = status["repositories"][0]["copy"].value("error", "");
  CHECK_MESSAGE(why.find("host key") != std::string::npos, why);
  CHECK(metric(read_file(t / "state/drctl.prom"), "drctl_copy_success{") == 0);
}

TEST_CASE("schedule run: retention within a span keeps every snapshot of that span, hourly and yearly counts too") {
  TempDir t("schedule-within");
  fs::create_directories(t / "src");
  const fs::path repo = t / "repo";
  // Three runs in a few seconds: `within: 1d` keeps all three where `last: 1` alone would keep one.
  const fs::path rb = backup_runbook(t / "site", t / "src", repo, t / "fail", "{last: 1, within: 1d, hourly: 1, yearly: 1}");
  for (int i = 1; i <= 3; ++i) {
    write_file(t / "src/file", std::string(100 * i, 'w'));
    auto r = drctl({"schedule", "run", rb.string(), "--state", (t / "state").string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  }
  CHECK(snapshot_files(repo).size() == 3);
  // The same site without `within`: the newest of the hour and of the year is one snapshot.
  const fs::path rb2 = backup_runbook(t / "site2", t / "src", repo, t / "fail", "{last: 1, hourly: 1, yearly: 1}");
  auto r = drctl({"schedule", "run", rb2.string(), "--state", (t / "state2").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(snapshot_files(repo).size() == 1);
}
