// The journal: one JSON line per event of a run, fsynced, in the runbook's state directory.
// It is what `--resume` continues from and where each step's whole output is kept.
#pragma once
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace drctl::runbook {

using json = nlohmann::json;

class Journal {
 public:
  /// Opens DIR/journal.jsonl for appending (the file 0600, the directories it creates 0700,
  /// whatever the umask), and locks it: throws when another drctl run uses the same state directory.
  explicit Journal(const std::filesystem::path& dir);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Appends one event (a JSON object; "t" is added) and fsyncs it. Thread-safe.
  void write(json event);

  /// Every event in DIR/journal.jsonl, oldest first; a torn last line (crash) is ignored.
  static std::vector<json> read(const std::filesystem::path& dir);

 private:
  std::mutex mutex_;
  int fd_ = -1;
  std::filesystem::path path_;
};

/// What earlier runs left, by step instance id.
struct JournalState {
  std::map<std::string, std::string> last_status;  // in the last run: "done", "unchanged", "skipped", "failed", "started", …
  std::map<std::string, json> last_success;        // across all runs: the last done/unchanged event
  bool last_run_finished = true;                   // the last run wrote its "finish" event
  std::string last_runbook_hash;
};

JournalState summarize(const std::vector<json>& events);

}  // namespace drctl::runbook
