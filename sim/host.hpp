// A simulated installed host: a small file system, packages, services, sshd keys, and an
// interpreter for the commands drctl's actions emit. Anything it does not know exits 127
// with `sim: HOST: unknown command 'X'` — it never succeeds silently.
//
// The interpreter is a small POSIX sh as dash (GNU/Linux) or FreeBSD's sh runs it, read a complete
// command at a time, its messages "$0: LINE: …" (what drctl's scripts use, nothing more): words with
// '…', "…" and \ quoting; $VAR, ${VAR}, $? and $(…) (field splitting of unquoted expansions,
// no globbing); NAME=value (a shell variable, or the environment of one command); ; && || |
// and newlines; `if … then … elif … else … fi`, `for NAME [in WORD…]; do … done`, `{ …; }`, `( … )`, `!`; redirections [n]> [n]>>
// < [n]>&m (/dev/null too); the builtins : cd command (-v) exit export set (-e -u -o pipefail)
// umask unset exec printf, and `sh -c SCRIPT [NAME [ARG…]]` with its positional parameters.
// `.`; bash's builtins and syntax fail as dash fails them (`[[: not found`, Bad substitution,
// `set: Illegal option -o pipefail` …). while/until loops, case, here-documents, functions, arithmetic and
// background jobs exit 2 saying they are not modelled.
//
// A host runs GNU/Linux or FreeBSD (pfSense, TrueNAS CORE: set_os): FreeBSD's tar is bsdtar,
// it hashes with sha256 and has no sha256sum, its stat is BSD's, and its login shell is tcsh,
// which is what reads the line an SSH client sends (login()).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/engine.hpp"

namespace drctl::sim {

struct CshCommand;  // a command of a tcsh line (sh_csh.cpp)

class SimHost : public world::Host {
 public:
  SimHost(Engine& engine, std::string name);

  /// The system a machine runs: what its tools accept and print, and its login shell.
  enum class Os {
    gnu_linux,  // Debian/Ubuntu: GNU tar and coreutils; login shell sh
    freebsd,    // FreeBSD 13 (pfSense, TrueNAS CORE): bsdtar, sha256, BSD stat; login shell tcsh
  };
  void set_os(Os os) { os_ = os; }
  Os os() const { return os_; }
  /// What sshd does with the line an SSH client sends: `$SHELL -c LINE` with the login shell
  /// (sh, or tcsh on FreeBSD: see sh_csh.cpp), `command`'s env, cwd and stdin given to it.
  /// The engine's log shows `command.script`, the script the line carries.
  world::CommandResult login(const std::string& line, const world::Command& command);

  /// What one command of a line did.
  struct Result {
    int code = 0;
    std::string out, err;
  };
  using CommandFn = std::function<Result(const std::vector<std::string>& argv, const std::string& stdin_data)>;
  /// A command this particular machine has (an appliance's own tools, e.g. pfSense's /etc/rc.reload_all).
  /// `present` says whether it is installed now (`command -v`, `which`); unset: always.
  void add_command(const std::string& name, CommandFn fn, std::function<bool()> present = nullptr) {
    commands_[name] = {std::move(fn), std::move(present)};
  }
  /// The environment of the command running now (for an add_command function: KUBECONFIG, …).
  const std::map<std::string, std::string>& command_env() const { return command_env_; }
  /// What the file system just went through, for the site's models (a kubelet watching its
  /// static pod manifests, etcd's data dir moved into place): `op` is "put" (a file written),
  /// "remove" (a file or directory removed) or "move" (`path` moved to `to`).
  using FileEvent = std::function<void(const std::string& op, const std::string& path, const std::string& to)>;
  void on_file_event(FileEvent fn) { file_events_.push_back(std::move(fn)); }

  const std::string& name() const override { return name_; }
  /// Interprets `command.script` with the small sh above (`command.env` exported, `command.cwd`
  /// the working directory, `command.stdin_data` every command's stdin).
  world::CommandResult run(const world::Command& command) override;
  void put_file(const std::string& path, const std::string& content, unsigned mode) override;
  std::optional<std::string> get_file(const std::string& path) override;

  /// Packages apt can install here (the installer's mirror). Others fail like apt does.
  void set_available_packages(std::set<std::string> packages) { available_ = std::move(packages); }
  bool installed(const std::string& package) const { return installed_.contains(package); }
  bool service_active(const std::string& service) const { return active_.contains(service); }
  /// What the installer or an appliance image puts in place: a package (its unit is named after it).
  void install_package(const std::string& package) { installed_.insert(package); }
  /// Starts or stops a unit (as systemctl would; a fault may stop one). Unknown units throw.
  void set_service(const std::string& unit, bool active);
  /// Called whenever a unit starts or stops, so the site can open or close its ports.
  void on_service_change(std::function<void(const std::string& unit, bool active)> fn) { on_service_ = std::move(fn); }
  void remove_file(const std::string& path);
  /// A directory and its parents (mkdir -p).
  void make_dir(const std::string& path);
  bool is_dir(const std::string& path) const;
  /// The names in a directory, sorted (files and directories; empty when it is none).
  std::vector<std::string> list_dir(const std::string& path) const;
  /// Storage limits (a NAS dataset's quota): `fits` is asked before a file grows or shrinks by
  /// `delta` bytes — false fails the write with `why` (ENOSPC/EDQUOT text); `commit` records it.
  using Fits = std::function<bool(const std::string& path, std::int64_t delta, std::string* why)>;
  using Commit = std::function<void(const std::string& path, std::int64_t delta)>;
  void set_storage(Fits fits, Commit commit) {
    fits_ = std::move(fits);
    commit_ = std::move(commit);
  }
  /// What a byte of a file stands for: a drill declares a dataset's real size (18G) while the
  /// simulator carries a small sample of it, so each sample byte under that directory weighs
  /// declared ÷ sample bytes — in the storage accounting (quotas, `zfs list`) and in the time
  /// reading, writing or sending it takes (sim/CONFORMANCE.md, "Time"). Unset: every byte is one.
  using Weight = std::function<double(const std::string& path)>;
  void set_weight(Weight weight) { weight_ = std::move(weight); }
  double weight(const std::string& path) const { return weight_ ? weight_(path) : 1.0; }
  /// The I/O this machine's commands did, in weighted bytes, since it booted: read from or written
  /// to its disks, and the part of their stdin/stdout that weighted files carried beyond their
  /// sample bytes (a tar of an 18G dataset streams 18G). A session measures a command by the change.
  struct Io {
    std::int64_t disk = 0, stream_extra = 0;
  };
  const Io& io() const { return io_; }
  /// Counts `bytes` of the file at `path`: read from its disk (`disk`; writes count themselves),
  /// and sent through the command's stdin or stdout (`streamed`).
  void charge_io(const std::string& path, std::size_t bytes, bool disk, bool streamed);
  /// Asks the storage for `delta` more bytes at `path` and records them (false, with why, when
  /// they do not fit): for data declared to be larger than its files.
  bool account(const std::string& path, std::int64_t delta, std::string* why) {
    if (fits_ && !fits_(path, delta, why)) return false;
    if (commit_) commit_(path, delta);
    return true;
  }
  /// Swap (a fresh Ubuntu install has a swap file; kubeadm refuses to run with it): `swapoff -a`.
  bool swap_on() const { return swap_on_; }
  void set_swap(bool on) { swap_on_ = on; }
  std::vector<std::string> services() const { return {active_.begin(), active_.end()}; }

  // What a disk image of the host holds (sim/disk_image.hpp).
  /// What stat(2) says of a file or directory beyond its bytes and mode: an inode number unique on
  /// the host (a new one for a new file, kept across writes, chmod and rename), the time its
  /// content was last written (mtime) and the time its inode last changed (ctime: every write,
  /// chmod and rename), in nanoseconds since the epoch on the simulator's clock (virtual time 0 is
  /// 2024-01-01T00:00:00Z). A directory's times move when an entry is added, removed or renamed.
  /// Owners are numbers only (no /etc/passwd is modelled: root is 0) and are not enforced.
  struct Meta {
    std::uint64_t inode = 0;
    std::int64_t mtime_ns = 0, ctime_ns = 0;
    unsigned uid = 0, gid = 0;
  };
  /// The metadata of the file or directory at `path`; nullopt when there is none.
  std::optional<Meta> meta(const std::string& path);
  /// The simulator's clock as a file time (nanoseconds since the epoch).
  std::int64_t now_ns() const;
  /// chmod(2): the mode changes and so does ctime (not mtime). False when nothing is at `path`.
  bool change_mode(const std::string& path, unsigned mode);
  /// What stat(2) returns for the entry at `path`, as find and stat print it (file_meta.cpp).
  struct Stat {
    bool dir = false;
    unsigned mode = 0;  // permission and set-id bits
    std::uint64_t size = 0, nlink = 1;
    Meta meta;
  };
  std::optional<Stat> stat_of(const std::string& path);
  /// chown(2): the owner (and group, unless nullopt) change and so does ctime.
  bool change_owner(const std::string& path, unsigned uid, std::optional<unsigned> gid);

  /// Every file, in path order, with its mode.
  void for_each_file(const std::function<void(const std::string& path, const std::string& content, unsigned mode)>& fn) const {
    for (const auto& [path, f] : files_) fn(path, f.content, f.mode);
  }
  const std::set<std::string>& directories() const { return dirs_; }
  const std::set<std::string>& packages() const { return installed_; }
  /// A file as the disk it boots from holds it: no storage accounting (the pool's image counts its
  /// bytes), no file event (nothing wrote it now).
  void load_file(const std::string& path, const std::string& content, unsigned mode);

 private:
  struct File {
    std::string content;
    unsigned mode = 0644;
    Meta meta;
  };
  struct Shell;  // the interpreter (sh_interpreter.cpp)
  friend struct Shell;
  struct Own {
    CommandFn fn;
    std::function<bool()> present;
  };
  using Env = std::map<std::string, std::string>;
  Result exec(const std::vector<std::string>& argv, const std::string& stdin_data, const Env& env);
  Result unknown(const std::string& cmd);
  Result tar(const std::vector<std::string>& argv, const std::string& stdin_data);
  Result bsdtar_refusal(const std::string& option) const;
  Result sh_c(const std::vector<std::string>& argv, const std::string& stdin_data, const Env& env);
  Result csh_c(const std::string& text, const std::string& stdin_data, const Env& env);
  /// Runs one csh line's commands, adding to `total`; true when `exec` ended the shell.
  bool csh_line(const std::vector<CshCommand>& cmds, const std::string& stdin_data, const Env& env, Result& total);
  Result sha256(const std::vector<std::string>& argv);
  Result stat(const std::vector<std::string>& argv);
  Result find(const std::vector<std::string>& argv);
  Result xargs(const std::vector<std::string>& argv, const std::string& stdin_data, const Env& env);
  // chmod and chown: an optional -R, the mode or owner at argv[first], then the files.
  struct Operands {
    std::size_t first = 1;
    bool recursive = false;
  };
  static Operands operands(const std::vector<std::string>& argv);
  Result each_file(const std::vector<std::string>& argv, const Operands& ops, const std::string& tool,
                   const std::function<void(const std::string&)>& change);
  Result chmod(const std::vector<std::string>& argv);
  Result chown(const std::vector<std::string>& argv);
  /// Calls `fn` for `path` and everything under it, a directory before its entries, names sorted.
  void walk(const std::string& path, int max_depth, const std::function<void(const std::string&, int depth)>& fn) const;
  /// A directory's metadata, made (a new inode, the times now) when it has none yet.
  Meta& dir_meta(const std::string& path);
  /// An entry was added to, removed from or renamed in `dir`: its mtime and ctime move.
  void touch_dir(const std::string& dir);
  /// Moves the file at `src` to `dst` as rename(2) does: the same inode and mtime, ctime now.
  bool rename_file(const std::string& src, const std::string& dst, std::string* why);
  /// Forgets the metadata of the directory `path` and of every directory under it.
  void forget_dirs(const std::string& path);
  Result mv(const std::vector<std::string>& argv);
  Result rm(const std::vector<std::string>& argv);
  Result ls(const std::vector<std::string>& argv);
  Result mktemp(const std::vector<std::string>& argv);
  Result wc(const std::vector<std::string>& argv, const std::string& stdin_data);
  /// test / [ (`name`) with `args` (without the closing `]`).
  Result test(const std::string& name, const std::vector<std::string>& args) const;
  /// Where `name` is found on PATH ("" if nowhere): `command -v` and `which`.
  std::string which(const std::string& name) const;
  /// `path` made absolute (against the command's directory) and tidied: no //, ., .. or trailing /.
  std::string absolute(const std::string& path) const;
  bool exists(const std::string& path) const { return files_.contains(path) || is_dir(path); }
  /// Writes a file unless the storage refuses (then false with why).
  bool store(const std::string& path, const std::string& content, unsigned mode, std::string* why);
  void removed_tree(const std::string& path);
  void notify(const std::string& op, const std::string& path, const std::string& to = "");

  Engine& engine_;
  std::string name_;
  std::map<std::string, File> files_;
  std::set<std::string> dirs_{"/"};
  std::map<std::string, Meta> dir_meta_;  // made as directories are first touched or listed
  std::uint64_t next_inode_ = 2;           // the root of a Linux file system is inode 2
  std::set<std::string> available_;
  std::set<std::string> installed_;
  std::set<std::string> enabled_, active_;
  std::function<void(const std::string&, bool)> on_service_;
  std::map<std::string, Own> commands_;
  Env command_env_;
  std::vector<FileEvent> file_events_;
  std::string cwd_ = "/";
  std::string sh_where_ = "sh: 1: ";  // how the shell running the command now starts its messages ("$0: LINE: ")
  std::uint64_t temp_counter_ = 0;  // mktemp's names
  Fits fits_;
  Commit commit_;
  Weight weight_;
  Io io_;
  bool swap_on_ = false;
  Os os_ = Os::gnu_linux;
};

}  // namespace drctl::sim
