// What `drctl run` shows while a runbook runs: a status line of the running steps on a terminal,
// one line per finished step (failures with their command and output), and the closing table.
#pragma once
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "cli/progress.hpp"
#include "runbook/executor.hpp"

namespace drctl::cli {

/// How much `drctl run` shows, and how.
struct ConsoleMode {
  bool quiet = false;    // -q: failures and the closing count only
  bool verbose = false;  // -v: every step's output too, as it comes
  bool json = false;     // --json: JSON lines on stdout, one per finished step, then the summary
};

/// Whether to colour text written to `fd`: a terminal, and NO_COLOR unset or empty (no-color.org).
bool use_colour(int fd);

/// Status line on a terminal, plain lines otherwise; failures with their command and output.
class ConsoleObserver : public runbook::Observer {
 public:
  explicit ConsoleObserver(ConsoleMode mode = {});
  void started(const runbook::InstanceResult& r, std::size_t done, std::size_t total) override;
  void finished(const runbook::InstanceResult& r, std::size_t done, std::size_t total) override;
  void note(const std::string& line) override;
  void progress(const runbook::InstanceResult& r, const std::string& text) override;
  void output(const runbook::InstanceResult& r, const std::string& lines) override;

 private:
  /// The status line: "[done/total] id (12s: progress) …".
  std::string line();

  std::mutex mutex_;
  std::map<std::string, std::chrono::steady_clock::time_point> running_;
  std::map<std::string, std::string> progress_;  // the last progress of running instances
  std::size_t done_ = 0, total_ = 0;
  ConsoleMode mode_;
  bool colour_;
  StatusLine status_;  // last: its thread calls line() as soon as it exists
};

/// The table of every instance (step, host, status, seconds, attempts) and a count by status,
/// on stdout; -q: the count alone; --json: one JSON line with the counts.
void print_summary(const runbook::RunSummary& s, ConsoleMode mode = {});

}  // namespace drctl::cli
