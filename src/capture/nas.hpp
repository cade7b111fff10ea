// Captures a directory tree (a NAS dataset mounted or copied locally) into the repository.
#pragma once
#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "store/repository.hpp"

namespace drctl::capture {

/// Live counters for a progress display; updated from worker threads.
struct Progress {
  std::atomic<std::uint64_t> files{0};       // entries captured so far
  std::atomic<std::uint64_t> bytes_read{0};  // file bytes read and chunked
  std::atomic<std::uint64_t> bytes_seen{0};  // file bytes captured, read or reused
  std::atomic<std::uint64_t> bytes_added{0}; // stored bytes new to the repository
};

struct NasResult {
  store::Section section;
  std::vector<store::Skipped> skipped;
};

/// Captures `source` as section `name`. Files whose size, mtime, ctime and inode match
/// `parent` (the same section of an earlier snapshot) are not read again. Unreadable entries
/// are left out, reported through `warn` and listed in the result. Throws InputError when
/// `source` is not a readable directory. `threads` read files (0: one a core, at least 2) while
/// one of them walks the tree; each directory's tree is stored once its files are read and the
/// parent's trees are loaded as the walk enters them, so memory follows the directories in
/// flight, not the size of the tree. Entries `exclude` matches (capture/exclude.hpp, restic's
/// patterns) are left out, an excluded directory unread; the section records the patterns and
/// what they matched. InputError for a bad pattern, before anything is read.
NasResult capture_nas(store::Repository& repo, const std::string& name, const std::string& source,
                      const std::optional<store::Id>& parent, Progress& progress,
                      const std::function<void(const std::string&)>& warn, unsigned threads = 0,
                      const std::vector<std::string>& exclude = {});

}  // namespace drctl::capture
