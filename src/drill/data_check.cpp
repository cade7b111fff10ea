#include "drill/data_check.hpp"

#include <map>

namespace drctl::drill {

DataVerdict check_data(const std::vector<DataChange>& history, const std::string& snapshot_time,
                       const std::function<std::optional<std::string>(const std::string& path)>& now,
                       const std::function<std::uint64_t(const std::string& path, std::size_t size)>& weigh,
                       const std::string& nas) {
  // ISO 8601 UTC of one format: text order is time order (every change before a backup is made
  // before that backup starts, so before its snapshot's time).
  std::map<std::string, const DataChange*> at_snapshot, last;  // path -> its last change at the snapshot; of all
  for (const DataChange& c : history) {
    if (c.when <= snapshot_time) at_snapshot[c.path] = &c;
    last[c.path] = &c;
  }
  auto holds = [](const std::optional<std::string>& have, const DataChange& c) { return c.content ? have == c.content : !have; };
  DataVerdict v;
  std::map<std::string, std::vector<std::string>> missing, back;  // dataset -> files not back; removed files back
  for (const auto& [path, c] : at_snapshot) {
    const auto have = now(path);
    if (holds(have, *c) || holds(have, *last.at(path))) continue;  // as snapshotted, or as a surviving NAS has it since
    v.files_differing++;
    v.bytes_differing += weigh(path, c->content ? c->content->size() : have->size());
    (c->content ? missing : back)[c->dataset].push_back(path);
  }
  for (const DataChange& c : history) {
    if (c.when <= snapshot_time || !c.content || now(c.path) == c.content) continue;
    v.writes_lost++;
    v.bytes_lost_expected += weigh(c.path, c.content->size());
  }
  for (const auto& [ds, paths] : missing)
    v.failures.push_back("dataset " + ds + ": " + std::to_string(paths.size()) + " of the files written before the last snapshot (" +
                         snapshot_time + ") are not back after the rebuild, e.g. " + nas + ":" + paths.front());
  for (const auto& [ds, paths] : back)
    v.failures.push_back("dataset " + ds + ": " + std::to_string(paths.size()) +
                         " of the files removed or renamed before the last snapshot (" + snapshot_time +
                         ") are back after the rebuild, e.g. " + nas + ":" + paths.front());
  return v;
}

}  // namespace drctl::drill
