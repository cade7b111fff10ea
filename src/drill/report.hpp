// Drill results and their reports: what one scenario run on one seed found (RunResult), the
// per-scenario RTO statistics over seeds, and the three forms `drctl drill` writes them in:
// text for people, JSON for tools, JUnit XML for CI (and HTML for people, html_report.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#ifndef DRCTL_VERSION
#define DRCTL_VERSION "unknown"  // CMakeLists.txt defines it from project(VERSION)
#endif

namespace drctl::drill {

/// drctl's version, as reports carry it: a replayed run is only the same run on the same version.
inline constexpr const char* kVersion = DRCTL_VERSION;

/// What a scenario held its runs to (its `expect:`), carried with each run so that a report
/// says what a verdict was measured against.
struct Expectations {
  std::optional<double> max_rto_min;  // expect.max_rto, virtual minutes
  std::string fail_at, reason;        // the rebuild must fail at this step, for this reason
  bool operator==(const Expectations&) const = default;
};

/// A scenario of a batch that could not be run: its file and why (one line). The others still
/// run; the reports carry it as that scenario's error.
struct ScenarioError {
  std::string file, message;
  bool operator==(const ScenarioError&) const = default;
};

/// One step of a run's timeline, in virtual minutes since the drill began.
struct StepTiming {
  std::string id, host, status;
  double start_min = 0, end_min = 0;
  int attempts = 0;
  std::string error;  // why the step failed; empty otherwise
  std::string note;   // where its time went, when data moved: "20.2 GB at 125.0 MB/s (the network): write disk 1 of truenas"
  bool operator==(const StepTiming&) const = default;
};

/// A fault the scenario injected: when, what, on what, and what set it off.
struct FaultEvent {
  double at_min = 0;
  std::string action, target, trigger;
  bool undone = false;  // the fault was reverted later in the run (e.g. DHCP back up)
  bool operator==(const FaultEvent&) const = default;
};

/// After the rebuild the node answering for a VIP was killed (after_rebuild.kill_vip_holder):
/// who held the VIP, who took it over and how long that took, from the simulator's events.
struct Failover {
  std::string vip, old_holder, new_holder;  // new_holder empty: nobody took the VIP over
  double seconds = 0;                       // virtual seconds from the kill to the new holder's announcement
  bool operator==(const Failover&) const = default;
};

/// One scenario × one seed.
struct RunResult {
  std::string scenario, file;           // name and path of the scenario
  std::uint64_t seed = 0;
  bool passed = false;
  std::vector<std::string> failures;    // why it did not pass (an expectation that failed, each one line)
  double rto_min = 0;                   // disaster → services verified, virtual minutes
  double rpo_min = 0;                   // last snapshot → disaster, virtual minutes
  std::uint64_t writes_lost = 0, bytes_lost_expected = 0;  // writes made after the snapshot (expected loss)
  std::uint64_t files_differing = 0, bytes_differing = 0;  // data lost beyond that: must be 0
  std::vector<std::uint64_t> backup_reads;  // bytes each backup read from the NAS's disks, first to last (the
                                            // simulator's own count, at the datasets' declared sizes)
  double backup_every_min = 0;              // between two backups, when there are several
  std::uint64_t retention_forgotten = 0, retention_packs_deleted = 0;  // by the site's retention after each backup
  std::uint64_t retention_packs_repacked = 0;  // small packs its prune rewrote (retention.repack_small)
  std::vector<StepTiming> timeline;     // the rebuild's steps (and the backup's, marked by id prefix "backup:")
  std::vector<std::string> critical_path;  // the chain of steps the RTO waited for, first to last (timeline ids)
  std::vector<FaultEvent> faults;
  std::optional<StepTiming> first_failure;  // the first failing step and its cause
  std::vector<std::string> not_fired;   // faults that never fired
  bool expected_failure = false;        // the scenario expected the rebuild to fail (expect.fail_at)
  double wall_seconds = 0;
  std::optional<Failover> failover;     // when the scenario kills a VIP's holder (set by the runner)
  Expectations expect;                  // the scenario's expectations (set by `drctl drill`)
  std::string replay;                   // the command that runs this run again (set by `drctl drill`)
  bool operator==(const RunResult&) const = default;
};

/// "20.2 GB", "230.8 MB", "512 kB": decimal, as rates are.
std::string bytes_text(double bytes);

/// "3, 24 h apart, restored from the last; they read 21.7 GB, 1.1 GB and 1.1 GB from the NAS's
/// disks" when the run took several backups, with what the site's retention removed; "" for one
/// backup that retention left alone.
std::string backups_text(const RunResult& r);

/// The command that replays one run: `drctl drill FILE --seeds SEED`, with `-j JOBS` when it is
/// not 0 (all at once), every word quoted for a POSIX shell.
std::string replay_command(const std::string& file, std::uint64_t seed, int jobs);

/// Why the run's RTO is not a recovery time ("failed at STEP"), or "" when it is: its rebuild
/// ran to the end, so rto_min is the time from the disaster to the services verified. A run
/// expected to fail has no RTO either (its "" means only that nothing else went wrong).
std::string rto_not_reached(const RunResult& run);

/// A scenario's runs over its seeds. The RTO figures cover the `rto_runs` runs that were not
/// expected to fail and whose rebuild reached its end; they are 0 when there are none.
struct Summary {
  std::size_t runs = 0, passed = 0, rto_runs = 0;
  double rto_min = 0, rto_p50 = 0, rto_p95 = 0, rto_max = 0;
  bool operator==(const Summary&) const = default;
};

/// Per scenario: count and RTO min/p50/p95/max over its seeds (nearest-rank percentiles;
/// expected-failure runs count for pass/fail but not for RTO).
std::map<std::string, Summary> summarize(const std::vector<RunResult>& runs);

/// What a person reads. A single run (or every run, when `timeline` is set) gets a block: the
/// timeline when `timeline` is set (a line per step: start-end in virtual minutes, status, id,
/// host, attempts, and the error for failures), the critical path (each step the RTO waited for,
/// its minutes, its share of the RTO and where its time went), the faults applied, RTO/RPO, data lost, the
/// first failing step and every failed expectation, then the verdict ("PASS total-loss seed 1:
/// RTO 38.5 min, RPO 60.0 min, 0 files lost beyond RPO"). Otherwise one verdict line per run.
/// Several runs end with the summary per scenario. Plain ASCII, lines ≤ 100 columns where the
/// names and messages allow.
std::string text_report(const std::vector<RunResult>& runs, bool timeline);

/// The verdict line of one run (no newline).
std::string verdict(const RunResult& run);

/// Everything as JSON: {"drctl_version", "runs": [RunResult…], "summary": {scenario: Summary},
/// "errors": [{file, message}]}, field names as in the structs; a missing first_failure is null.
nlohmann::json json_report(const std::vector<RunResult>& runs, const std::vector<ScenarioError>& errors = {});

/// One run as a `--json` line: the run's JSON with "drctl_version" (no newline).
std::string json_line(const RunResult& run);
/// A scenario that could not run as a `--json` line: {"drctl_version", "file", "error"}.
std::string json_line(const ScenarioError& error);

/// JUnit XML that CI consumers accept (GitLab, Jenkins, GitHub test reporters), written with
/// pugixml: <testsuites> with one <testsuite> per scenario (name, tests, failures, errors, time:
/// wall seconds; <properties> with the RTO p50/p95/max and max_rto), one <testcase name="seed N"
/// classname="drill.SCENARIO" time=…> per run with <properties> seed, rto_min (or rto "not
/// reached …"), rpo_min, replay for failures; a <failure> (message: the first failure; body:
/// every failure, the first failing step and the replay command) when the run did not pass,
/// and <system-out> with the run's text report. A scenario that could not run is a testsuite
/// named after its file with one <testcase name="load"> holding an <error>. Text is kept to
/// XML 1.0: control characters and invalid UTF-8 become visible \xNN.
std::string junit_report(const std::vector<RunResult>& runs, const std::vector<ScenarioError>& errors = {});

// JSON forms of the structs (nlohmann's to_json/from_json, found by ADL). from_json throws
// nlohmann::json::exception naming the field that is missing or of the wrong type.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(StepTiming, id, host, status, start_min, end_min, attempts, error, note)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(FaultEvent, at_min, action, target, trigger, undone)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Summary, runs, passed, rto_runs, rto_min, rto_p50, rto_p95, rto_max)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(ScenarioError, file, message)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Failover, vip, old_holder, new_holder, seconds)

/// "10.0.20.200 moved from k8s-node1 to k8s-node2 in 4.2 s", or that nobody took it over.
std::string failover_text(const Failover& f);
/// Expectations: max_rto_min is null when the scenario sets none.
void to_json(nlohmann::json& j, const Expectations& e);
void from_json(const nlohmann::json& j, Expectations& e);
/// `s` as XML 1.0 character data, or (with `attribute`) a double-quoted attribute value: for JUnit.
std::string junit_escape(std::string_view s, bool attribute);
/// `s` with what XML 1.0 cannot carry (control characters but tab, newline and CR; invalid
/// UTF-8) as visible \xNN; markup characters stay (an XML library escapes those).
std::string xml_safe_text(std::string_view s);

void to_json(nlohmann::json& j, const RunResult& r);  // by hand: first_failure is optional (null)
void from_json(const nlohmann::json& j, RunResult& r);

}  // namespace drctl::drill
