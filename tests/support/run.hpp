// Test support: running drctl (and other programs) as child processes, capturing stdout and
// stderr separately, with a timeout; background processes that can be stopped, continued and
// SIGKILLed (crash and lock tests); and small helpers for drctl's CLI output.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/fs_tree.hpp"

namespace support {

struct RunResult {
  int exit_code = -1;     // exit status, or 128+signal when killed by a signal
  std::string out, err;   // captured stdout and stderr
  int term_signal = 0;    // the signal that ended the process, 0 if it exited
  bool timed_out = false; // killed because it exceeded its timeout
  double seconds = 0;     // wall time
  std::vector<std::string> argv;

  bool killed() const { return term_signal != 0; }
  // "drctl snapshot ... -> exit 2 (0.01 s)\n--- stdout ---\n...\n--- stderr ---\n..." (truncated)
  std::string describe(std::size_t max_chars = 4000) const;
  // Lines of stderr / stdout (without the trailing newline).
  std::vector<std::string> err_lines() const;
  std::vector<std::string> out_lines() const;
};

struct RunOptions {
  // Added to (or replacing) the inherited environment. DRCTL_REPO is removed from the
  // inherited environment unless given here, so tests are hermetic.
  std::map<std::string, std::string> env;
  std::vector<std::string> unset_env;
  std::string cwd;                                   // "" = inherit
  std::chrono::milliseconds timeout{std::chrono::seconds(120)};
  std::optional<uid_t> uid;                          // run as this user (setgroups/setgid/setuid)
  std::optional<gid_t> gid;
  std::optional<mode_t> umask;                       // the child's umask (default: inherited)
};

// A started child process. stdout/stderr go to anonymous memory files, so a child that writes
// a lot never blocks on a full pipe. The child gets its own process group; stdin is /dev/null.
class Process {
 public:
  Process(std::vector<std::string> argv, const RunOptions& opt = {});
  ~Process();  // SIGKILLs and reaps the child if it is still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);  // to the whole process group
  // Waits until the child exits, at most `timeout`; on timeout it is SIGKILLed and the result
  // has timed_out set.
  RunResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(120));
  // Waits at most `delay`; if the child is still running then, SIGKILLs it. Returns its result.
  RunResult kill_after(std::chrono::microseconds delay);
  // Waits until the child exits or `delay` passes; true if it exited.
  bool wait_exit_for(std::chrono::microseconds delay);
  // What the child has written to stderr so far (it may still be running).
  std::string err_so_far() const;

 private:
  RunResult collect(bool timed_out);

  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int pidfd_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::chrono::steady_clock::time_point start_;
};

// Runs a program (argv[0] is looked up in PATH unless it contains a '/').
RunResult run(const std::vector<std::string>& argv, const RunOptions& opt = {});

// The drctl binary under test (DRCTL_BINARY, overridable with $DRCTL_TEST_BINARY).
std::string drctl_binary();
RunResult drctl(std::vector<std::string> args, std::map<std::string, std::string> env = {});
RunResult drctl_opts(std::vector<std::string> args, const RunOptions& opt);
std::vector<std::string> drctl_argv(std::vector<std::string> args);
// Starts drctl in the background.
std::unique_ptr<Process> drctl_start(std::vector<std::string> args, const RunOptions& opt = {});
// Runs drctl and SIGKILLs it after `delay` if it is still running.
RunResult drctl_killed_after(std::vector<std::string> args, std::chrono::microseconds delay,
                             const RunOptions& opt = {});

// --- helpers for drctl's CLI contract (they throw std::runtime_error with the run's
//     description on unexpected results, which doctest reports as a failed test) ----------
// Throws unless the exit code is `code`.
const RunResult& expect_exit(const RunResult& r, int code);
// The first 64-hex-digit token in `out` (from "snapshot <id> saved"); throws if none.
std::string parse_snapshot_id(const std::string& out);
// True if `s` has exactly one line (one trailing newline at most) starting "drctl: error: ".
bool is_one_error_line(const std::string& s);

// drctl snapshot init --repo R [extra...]; throws on failure.
void init_repo(const fs::path& repo, std::vector<std::string> extra = {});
// Small chunk sizes that give many chunks from little data.
std::vector<std::string> small_chunks();
// drctl snapshot create --repo R --nas NAME=PATH... [extra]; expects exit 0; returns the id.
std::string create_snapshot(const fs::path& repo,
                            const std::vector<std::pair<std::string, fs::path>>& nas,
                            std::vector<std::string> extra = {});
// Restores one section into `to` (must not exist or be empty); expects exit 0.
void restore_section(const fs::path& repo, const std::string& id, const std::string& section,
                     const fs::path& to, std::vector<std::string> extra = {});
// How many pack files under repo/data are smaller than `size` bytes (read from the files).
std::size_t packs_under(const fs::path& repo, std::uint64_t size);
// Ids (full hex) of `snapshot list --json [extra]`, in the order listed.
std::vector<std::string> list_ids(const fs::path& repo, std::vector<std::string> extra = {});
// Restores `section` of snapshot `id` into a fresh directory under `scratch`, compares it with
// `expected` (a scan of the source taken when the snapshot was made), removes the directory,
// and returns the differences (a failed restore is reported as one difference).
std::vector<std::string> restore_and_compare(const fs::path& repo, const std::string& id,
                                             const std::string& section, const Manifest& expected,
                                             const fs::path& scratch, const CompareOptions& opt = {});
// This machine's host name (as drctl records it in locks).
std::string hostname();

// --- the repository format (src/store/FORMAT.md), for damage and crash tests -------------
// A pack ends with count x 46-byte headers, u32 count, u32 reserved, "DRCTLPK1". A header:
// type u8 (0 data, 1 tree), compression u8, 32-byte blob id, u32 offset, u32 length,
// u32 raw length, all little-endian.
struct PackBlob {
  int type = 0;
  int compression = 0;
  std::string id;  // hex
  std::uint32_t offset = 0, length = 0, raw_length = 0;
};
// Throws std::runtime_error if `p` is not a well-formed pack.
std::vector<PackBlob> parse_pack(const fs::path& p);
// The raw header entries (count x 46 bytes) of a pack, as an index file lists them.
std::string pack_header_bytes(const fs::path& p);
// All pack files under repo/data, sorted by path.
std::vector<fs::path> pack_files(const fs::path& repo);

}  // namespace support
