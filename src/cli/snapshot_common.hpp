// Internal to `drctl snapshot …` (src/cli/snapshot_*.cpp): what several subcommands share (the
// options every one takes, JSON and text helpers, SSH sources), and the one function behind each
// subcommand. snapshot_cmd.cpp declares the options (CLI11) and calls these; each file named
// below holds the commands of one kind, so a reader finds a command with the helpers only it uses.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "store/lock.hpp"
#include "store/prune.hpp"
#include "store/repository.hpp"
#include "world/real/real_world.hpp"
#include "world/url.hpp"

namespace drctl::cli::snapshot_detail {

using json = nlohmann::json;

// ---- shared (snapshot_common.cpp) ------------------------------------------------------------

/// The options of `drctl snapshot` itself, which every subcommand uses: the repository and how to open it.
struct Common {
  std::string repo;
  std::string lock_wait = "60s";
  std::string password_file, key_file;  // an encrypted repository's credential (store/key_source.hpp)
  std::string ssh_config;                // for --repo sftp://… (as ssh -F)
  std::filesystem::path path() const;
  store::RepoLock lock() const;
  /// A reader's share, taken before anything of the repository is read, so that a prune waits
  /// until the reading is done (none when there is no repository: opening it says so).
  std::optional<store::ReadLock> reading() const;
};

/// Seconds from `t` until now.
double seconds_since(std::chrono::steady_clock::time_point t);

/// `p` without leading and trailing slashes.
std::string strip_slashes(std::string p);

/// "2026-01-02 03:04:05" from an ISO time.
std::string short_time(const std::string& iso);

/// The one JSON document a --json run prints (paths that are not UTF-8 get U+FFFD).
void print_json(const json& j);

/// "1 snapshot", "2 snapshots".
std::string plural(std::uint64_t n, const std::string& word, const std::string& words = "");

/// A snapshot's manifest as list, show and forget print it with --json.
json snapshot_json(const store::Snapshot& s);

/// A directory on an SSH host: ssh://[USER@]HOST[:PORT]/PATH.
using SshSource = world::HostPathUrl;

/// Parses ssh://[USER@]HOST[:PORT]/PATH; InputError naming `what` when malformed.
SshSource parse_ssh_url(const std::string& url, const std::string& what);

/// The SSH host of a [USER@]HOST[:PORT] in a URL, named as the URL writes it, read with the SSH
/// config `ssh_config` ("" for ~/.ssh/config).
world::real::SshHostSpec url_host_spec(const std::string& user, const std::string& host, int port,
                                       const std::string& ssh_config);

/// Where --nas sources are read: this machine, or SSH hosts made on first use.
class SourceHosts {
 public:
  explicit SourceHosts(std::string ssh_config) : ssh_config_(std::move(ssh_config)) {}
  /// The World holding this machine ("local") and every SSH host made so far.
  world::World& world() { return world_; }
  world::Host& ssh(const SshSource& s);

 private:
  std::string ssh_config_;
  world::real::RealWorld world_;
  std::set<std::string> added_;
};

// ---- the commands: each returns the exit code (cli/commands.hpp) ------------------------------

// snapshot_key_cmd.cpp
int cmd_init(const Common& c, const store::RepoConfig& config, bool encrypt);
int cmd_key_list(const Common& c);
int cmd_key_add(const Common& c, const std::string& password_file, const std::string& key_file);
int cmd_key_remove(const Common& c, const std::string& ref, bool force);
int cmd_key_passwd(const Common& c, const std::string& password_file, const std::string& key_file);

// snapshot_create_cmd.cpp
int cmd_create(const Common& c, const std::vector<std::string>& nas, const std::vector<std::string>& tags,
               const std::string& pre, const std::string& post, const std::string& ssh_config,
               const std::vector<std::string>& excludes, const std::vector<std::string>& exclude_files);

// snapshot_read_cmd.cpp
int cmd_list(const Common& c, bool as_json);
int cmd_show(const Common& c, const std::string& ref, bool as_json);
int cmd_ls(const Common& c, const std::string& ref, std::string path, bool as_json);
int cmd_diff(const Common& c, const std::string& a, const std::string& b, bool as_json);
int cmd_stats(const Common& c, const std::vector<std::string>& ids, const std::string& mode, bool as_json);
int cmd_find(const Common& c, const std::string& pattern, const std::vector<std::string>& ids, bool as_json);

// snapshot_restore_cmd.cpp
int cmd_restore(const Common& c, const std::string& ref, const std::string& section,
                std::vector<std::string> includes, const std::string& to, bool force, const std::string& ssh_config);
int cmd_export(const Common& c, const std::string& ref, const std::string& file, bool force);
int cmd_import(const Common& c, const std::string& file);

// snapshot_check_cmd.cpp
int cmd_verify(const Common& c, bool read_data, const std::string& subset, bool as_json);
int cmd_unlock(const Common& c, bool force);

// snapshot_keep_cmd.cpp

/// forget's options as given on the command line: counts, and texts checked when it runs.
struct ForgetArgs {
  store::RetentionPolicy policy;
  std::string within;
  std::vector<std::string> keep_tags;
  bool prune = false, dry_run = false, json = false;
};

/// What `snapshot tag` was given.
struct TagArgs {
  std::vector<std::string> ids, add, remove, set;
  bool set_given = false, json = false;
};

json prune_json(const store::PruneStats& stats);
/// Prunes; prints the result unless `as_json` (the caller puts prune_json in its document).
store::PruneStats run_prune(const Common& c, store::Repository& repo, bool as_json, bool repack_small = false);
int cmd_forget(const Common& c, const ForgetArgs& args);
int cmd_tag(const Common& c, TagArgs a);

// snapshot_copy_cmd.cpp

/// What `snapshot copy` was given.
struct CopyArgs {
  std::vector<std::string> ids;
  bool all = false, verify_all = false;
  std::string to, from, ssh_config;
};

int cmd_copy(const Common& c, const CopyArgs& a);

}  // namespace drctl::cli::snapshot_detail
