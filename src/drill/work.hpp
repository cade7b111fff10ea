// What drills and mutation drills share: a scratch directory removed with its owner, and
// independent runs spread over the cores.
#pragma once
#include <cstddef>
#include <filesystem>
#include <functional>
#include <string>

namespace drctl::drill {

/// A fresh directory under /tmp (named PREFIX-XXXXXX), removed with everything in it when the
/// object goes. Throws Failure when it cannot be made.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& prefix);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Calls job(0) … job(count - 1), as many at once as there are cores (the calling thread is one
/// of them), each index once. `done(i)` runs after job(i), one at a time (for reporting). The
/// first exception a job threw is rethrown once every job has ended.
void run_parallel(std::size_t count, const std::function<void(std::size_t)>& job,
                  const std::function<void(std::size_t)>& done = {});

}  // namespace drctl::drill
