// Runs a runbook's step instances against a World: in dependency order, in parallel up to
// -j, check before apply, retries with backoff, a journal for --resume, Ctrl-C handling.
#pragma once
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "actions/action.hpp"
#include "runbook/journal.hpp"
#include "runbook/model.hpp"
#include "runbook/plan.hpp"

namespace drctl::runbook {

struct ExecOptions {
  int jobs = 0;                        // 0: as many as can run
  bool resume = false;                 // continue the last run from the journal
  bool dry_run = false;                // render into render_dir, run nothing
  std::filesystem::path state_dir;     // holds journal.jsonl
  std::filesystem::path render_dir;    // dry-run output
  std::vector<std::string> only;       // run just these steps
  std::vector<std::string> from;       // run these and everything after them
};

/// Where one instance of a step stands. Done, Unchanged, Skipped, Reused and NotSelected let the
/// steps that need it go on; Failed, Blocked and Interrupted make the run fail.
enum class Status {
  Pending,      // not started yet: waiting for its needs or a free job
  Running,      // its action is being checked or applied (including retries)
  Done,         // its action changed the site (after a check said it had to), on some attempt
  Unchanged,    // its first check found the site already as the step wants: nothing was applied
  Skipped,      // its `when:` was false, so it did not run
  Failed,       // every attempt failed; the error says the last one's cause
  Blocked,      // a step it needs failed, was blocked or was interrupted, so it never started
  Interrupted,  // the run was cancelled (Ctrl-C, SIGTERM) before or while it ran
  NotSelected,  // left out by --only/--from, or a dry run's step (only its rendering was checked)
  Reused,       // --resume: it finished in the run being resumed, and its outputs are taken from there
};
const char* status_name(Status s);

/// The outcome of one instance, for the summary and the report.
struct InstanceResult {
  std::string id, step, host;
  Status status = Status::Pending;
  int attempts = 0;
  double seconds = 0;
  std::string error;   // one line
  std::string detail;  // output tail
  std::string command; // the command (run steps) for error display
  json outputs = json::object();
};

/// What the CLI shows while the run goes on.
class Observer {
 public:
  virtual ~Observer() = default;
  /// An instance has started (`done` of `total` instances have finished so far).
  virtual void started(const InstanceResult& r, std::size_t done, std::size_t total) { (void)r, (void)done, (void)total; }
  /// An instance has finished, whatever its status.
  virtual void finished(const InstanceResult& r, std::size_t done, std::size_t total) { (void)r, (void)done, (void)total; }
  /// A line for the operator that belongs to no instance (a dry run's "would run …").
  virtual void note(const std::string& line) { (void)line; }
  /// How far a running instance has got (secrets already redacted); from any thread.
  virtual void progress(const InstanceResult& r, const std::string& text) { (void)r, (void)text; }
  /// Whole lines of what a running instance printed (secrets already redacted), as they come.
  virtual void output(const InstanceResult& r, const std::string& lines) { (void)r, (void)lines; }
};

struct RunSummary {
  std::vector<InstanceResult> results;  // in instance order
  bool interrupted = false;
  bool ok() const;
  json to_json(const Runbook& rb) const;
};

/// Refuses --only/--from ids that are no step of `rb` (InputError: "--from nosuch: the runbook has
/// no step 'nosuch' (did you mean …?)"): a selection that selects nothing is a typo, not a run.
void check_selection(const Runbook& rb, const ExecOptions& options);

/// Runs `rb`. `registry` resolves `uses:`; `world` supplies hosts, clock and network.
RunSummary execute(const Runbook& rb, const actions::Registry& registry, world::World& world,
                   const ExecOptions& options, Observer& observer);

}  // namespace drctl::runbook
