// The drill's data verdict: what the services did to their files, in order, against what the NAS
// holds after the rebuild. The record is the drill's own (what it wrote, renamed and removed), not
// the snapshot, so a backup of the wrong directory or an incremental snapshot that kept a removed
// file fails it.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace drctl::drill {

/// One thing a service did to a file: wrote it (content) or removed it (none; a rename is the
/// old name removed and the new one written with the same bytes).
struct DataChange {
  std::string dataset, path;
  std::optional<std::string> content;
  std::string when;  // the calendar time, ISO 8601 UTC as snapshot times are written
};

struct DataVerdict {
  std::uint64_t files_differing = 0, bytes_differing = 0;   // not as the last snapshot had them: a failure
  std::uint64_t writes_lost = 0, bytes_lost_expected = 0;   // written after it and not back: the RPO's loss
  std::vector<std::string> failures;                        // one line per dataset and kind, naming an example
};

/// Each path must be as it was at `snapshot_time` (its last change at or before it: written with
/// those bytes, or absent), or, where the NAS survived the disaster, as its last change left it.
/// Writes after `snapshot_time` that are not there are the expected loss. `now` is a path's
/// content on the NAS after the rebuild (nullopt: absent); `weigh` what `size` bytes at a path
/// stand for (a dataset declared larger than its sample); `nas` names the NAS in the failures.
DataVerdict check_data(const std::vector<DataChange>& history, const std::string& snapshot_time,
                       const std::function<std::optional<std::string>(const std::string& path)>& now,
                       const std::function<std::uint64_t(const std::string& path, std::size_t size)>& weigh,
                       const std::string& nas);

}  // namespace drctl::drill
