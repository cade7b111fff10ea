// A copy's end on an SSH host: files move over SFTP (SshHost::put_stream / get_stream, with
// drctl's strict host-key check); listing, hashing, renaming and removing are short commands
// that GNU/Linux and FreeBSD hosts both understand (find, ls -A, mv -f, rm -f, and the host's
// own hasher: sha256sum, or FreeBSD's sha256 -r).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/error.hpp"
#include "base/shell.hpp"
#include "offsite/copy.hpp"
#include "offsite/layout.hpp"
#include "world/real/ssh_host.hpp"

namespace drctl::offsite {

namespace {

constexpr std::size_t kBatch = 100;  // files named on one command line

class SftpSide : public Side {
 public:
  SftpSide(world::real::SshHost& host, std::string root) : host_(host), root_(std::move(root)) {}

  std::string describe() const override { return "sftp://" + host_.name() + root_; }

  Listing list() override {
    // A missing root lists as empty; find prints "./data/ab/<id>".
    const std::string out = run("cd " + q(root_) + " 2>/dev/null || exit 0; find . -type f", "list");
    Listing listing;
    std::istringstream in(out);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("./", 0) != 0) continue;
      const std::string rel = line.substr(2);
      if (is_repository_file(rel)) listing.files.insert(rel);
      else if (is_copy_temporary(rel)) listing.temporaries.push_back(rel);
      else if (rel != "lock" && rel != "readers") listing.others.push_back(rel);
    }
    return listing;
  }

  std::optional<std::string> read_small(const std::string& rel) override {
    try {
      return host_.get_file(root_ + "/" + rel);
    } catch (const std::runtime_error& e) {
      throw Failure(e.what());
    }
  }

  void make_dirs(const std::vector<std::string>& rels) override {
    // umask 077: every directory mkdir -p makes is 0700, the root's missing parents too.
    for (std::size_t i = 0; i < rels.size() || i == 0; i += kBatch) {
      std::string script = "umask 077 && mkdir -p " + q(root_);
      for (std::size_t j = i; j < rels.size() && j < i + kBatch; ++j) script += " " + q(root_ + "/" + rels[j]);
      run(script, "create directories in");
    }
  }

  std::map<std::string, std::string> hash(const std::vector<std::string>& rels) override {
    const bool bsd = host_.system().hasher == world::HostSystem::Hasher::sha256;
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i < rels.size(); i += kBatch) {
      // Names are checked repository paths (hex digits, '/', '.'): no quoting surprises, no leading '-'.
      std::string script = "cd " + q(root_) + " && " + (bsd ? "sha256 -r" : "sha256sum");
      for (std::size_t j = i; j < rels.size() && j < i + kBatch; ++j) script += " " + q(rels[j]);
      std::istringstream in(run(script, "hash files in"));
      for (std::string line; std::getline(in, line);) {
        if (line.size() < 66 || line[64] != ' ') continue;
        std::string name = line.substr(65);
        while (!name.empty() && (name.front() == ' ' || name.front() == '*')) name.erase(0, 1);
        out[name] = line.substr(0, 64);
      }
    }
    return out;
  }

  void remove(const std::vector<std::string>& temporaries) override {
    for (std::size_t i = 0; i < temporaries.size(); i += kBatch) {
      std::string script = "cd " + q(root_) + " && rm -f --";
      for (std::size_t j = i; j < temporaries.size() && j < i + kBatch; ++j) script += " " + q(temporaries[j]);
      run(script, "remove temporaries in");
    }
  }

  void lock() override {
    const nlohmann::json holder = {{"host", this_host()}, {"pid", ::getpid()}, {"started", utc_now()}};
    // noclobber: the shell creates the file with O_EXCL, so two copies cannot both take it.
    const std::string take = "cd " + q(root_) + " && (set -C && printf '%s\\n' " + q(holder.dump()) + " > lock) 2>/dev/null";
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (host_.run(world::shell_command(take)).ok()) {
        locked_ = true;
        return;
      }
      const auto text = read_small("lock");
      if (!text) continue;  // let go meanwhile
      nlohmann::json held;
      try {
        held = nlohmann::json::parse(*text);
      } catch (const nlohmann::json::exception&) {
      }
      const std::string who = held.is_object() ? held.value("host", std::string("?")) + " pid " +
                                                     std::to_string(held.value("pid", 0L)) + " since " +
                                                     held.value("started", std::string("?"))
                                               : std::string("an unreadable lock file");
      const long pid = held.is_object() ? held.value("pid", 0L) : 0;
      const bool ours_and_gone = held.is_object() && held.value("host", std::string()) == this_host() && pid > 0 &&
                                 ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
      if (!ours_and_gone || attempt > 0)
        throw Failure(describe() + " is locked by " + who + " (a writer there, or a copy that was stopped: "
                      "`drctl snapshot unlock` at the far site removes a stale lock)");
      run("cd " + q(root_) + " && rm -f lock", "remove the stale lock of");  // a killed copy's own
    }
  }

  void unlock() override {
    if (!locked_) return;
    locked_ = false;
    run("cd " + q(root_) + " && rm -f lock", "unlock");
  }

  void read_into(const std::string& rel, const Sink& sink) override {
    bool found;
    try {
      found = host_.get_stream(root_ + "/" + rel, sink);
    } catch (const std::runtime_error& e) {
      throw Failure(e.what());
    }
    if (!found) throw Failure(describe() + "/" + rel + ": missing");
  }

  std::string write_pull(const std::string& rel, const Pull& next) override {
    // put_stream itself writes a temporary and renames it: this name is the copy's own, checked
    // before place_checked() gives it the final one.
    const auto slash = rel.rfind('/');
    const std::string temp = (slash == std::string::npos ? "" : rel.substr(0, slash + 1)) + "." +
                             rel.substr(slash == std::string::npos ? 0 : slash + 1) + ".drctl-copy";
    try {
      host_.put_stream(root_ + "/" + temp, 0600, next);
    } catch (const std::runtime_error& e) {
      throw Failure(e.what());
    }
    return temp;
  }

  void place_checked(const std::vector<Arrival>& arrivals) override {
    // One shell for the batch: each temporary is hashed by the host's hasher and renamed only
    // when it matches; the first that does not is removed and named, and the script stops.
    const bool bsd = host_.system().hasher == world::HostSystem::Hasher::sha256;
    for (std::size_t i = 0; i < arrivals.size(); i += kBatch) {
      std::string script = "cd " + q(root_) + " || exit 1\n"
                           "p() { h=$(" + std::string(bsd ? "sha256 -q" : "sha256sum") + " \"$1\") || exit 1; h=${h%% *}\n"
                           "  if [ \"$h\" = \"$3\" ]; then mv -f -- \"$1\" \"$2\" || exit 1\n"
                           "  else rm -f -- \"$1\"; echo \"drctl-mismatch $2 $h\"; exit 3; fi; }\n";
      for (std::size_t j = i; j < arrivals.size() && j < i + kBatch; ++j)
        script += "p " + q(arrivals[j].temp) + " " + q(arrivals[j].rel) + " " + arrivals[j].sha256 + "\n";
      world::CommandResult r = host_.run(world::shell_command(script));
      if (r.exit_code == 3 && r.out.rfind("drctl-mismatch ", 0) == 0) {
        std::istringstream in(r.out.substr(15));
        std::string rel, got;
        in >> rel >> got;
        const auto want = std::find_if(arrivals.begin(), arrivals.end(), [&](const Arrival& a) { return a.rel == rel; });
        throw Failure(describe() + "/" + rel + ": the copy is damaged: SHA-256 " + got.substr(0, 16) + "… there, " +
                      (want == arrivals.end() ? std::string("?") : want->sha256.substr(0, 16)) + "… sent");
      }
      if (!r.ok()) fail(r, "check and rename files in");
    }
  }

 private:
  static std::string q(const std::string& s) { return shell_quote(s); }

  /// Runs a command on the host; Failure with its reason (ssh's, for a refused host key).
  std::string run(const std::string& script, const std::string& what) {
    world::CommandResult r = host_.run(world::shell_command(script));
    if (!r.ok()) fail(r, what);
    return r.out;
  }

  [[noreturn]] void fail(const world::CommandResult& r, const std::string& what) {
    std::string why = !r.transport_error.empty() ? r.transport_error : r.err;
    while (!why.empty() && why.back() == '\n') why.pop_back();
    if (why.empty()) why = r.timed_out ? "timed out" : "exit status " + std::to_string(r.exit_code);
    throw Failure("cannot " + what + " " + describe() + ": " + why.substr(why.rfind('\n') + 1));
  }

  static std::string this_host() {
    char name[256] = {};
    ::gethostname(name, sizeof name - 1);
    return name;
  }
  static std::string utc_now() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }

  world::real::SshHost& host_;
  std::string root_;
  bool locked_ = false;
};

}  // namespace

std::unique_ptr<Side> sftp_side(world::real::SshHost& host, std::string root) {
  return std::make_unique<SftpSide>(host, std::move(root));
}

}  // namespace drctl::offsite
