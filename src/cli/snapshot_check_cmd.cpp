// `drctl snapshot verify|unlock`: checking the repository for damage, and clearing a stale lock.
#include <chrono>
#include <cstdio>
#include <functional>
#include <stdexcept>

#include "base/error.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "cli/snapshot_common.hpp"
#include "store/checker.hpp"

namespace drctl::cli::snapshot_detail {

using namespace drctl::store;

int cmd_verify(const Common& c, bool read_data, const std::string& subset, bool as_json) {
  std::function<bool(const Id&)> read_only;
  if (!subset.empty()) try {
      read_only = pack_subset(subset);
      read_data = true;
    } catch (const std::invalid_argument& e) {
      throw InputError(std::string("--read-data-subset: ") + e.what());
    }
  const auto reading = c.reading();
  Repository repo(c.path());
  const auto started = std::chrono::steady_clock::now();
  std::size_t done = 0, total = 0;
  VerifyReport report;
  {
    StatusLine status([&] { return "[" + std::to_string(done) + "/" + std::to_string(total) + " packs] reading"; });
    report = verify_repository(repo, read_data, [&](std::size_t d, std::size_t t) { done = d; total = t; }, read_only);
  }
  for (const auto& w : report.warnings) warn(w);
  if (as_json) {
    json j = {{"ok", report.ok()},         {"errors", report.errors},          {"warnings", report.warnings},
              {"index_entries", repo.index().size()}, {"read_data", read_data}, {"packs_read", report.packs_read},
              {"blobs_checked", report.blobs_checked}, {"bytes_read", report.bytes_read}};
    if (!subset.empty()) j["subset"] = subset;
    print_json(j);
    return report.ok() ? kOk : kFailed;
  }
  for (const auto& e : report.errors) std::printf("damaged: %s\n", printable(e).c_str());
  std::fprintf(stderr, "drctl: checked %s%s in %.1fs: %s\n", plural(repo.index().size(), "index entry", "index entries").c_str(),
               read_data ? (", re-read " + plural(report.packs_read, "pack") + " (" + human_bytes(report.bytes_read) + ")").c_str()
                         : "",
               seconds_since(started), report.ok() ? "no damage found" : plural(report.errors.size(), "problem").c_str());
  return report.ok() ? kOk : kFailed;
}

int cmd_unlock(const Common& c, bool force) {
  Repository repo(c.path());
  auto removed = remove_lock(repo.path(), force);
  if (!removed) std::printf("repository %s is not locked\n", repo.path().c_str());
  else std::printf("removed the lock of %s\n", removed->describe().c_str());
  return kOk;
}

}  // namespace drctl::cli::snapshot_detail
