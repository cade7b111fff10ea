// `drctl schedule install/run/list/show/remove`: a runbook run on a calendar by systemd (a service
// and a timer), cron (a cron.d file) or Kubernetes (a CronJob), written where those read them and
// found again by drctl's marker line; and `schedule run`, what they run: the runbook, then the
// site's retention, a rotating verify, the status file, the metrics and the ping.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "actions/action.hpp"
#include "base/error.hpp"
#include "base/suggest.hpp"
#include "base/text.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "runbook/loader.hpp"
#include "runbook/private_output.hpp"
#include "runbook/set_var.hpp"
#include "runbook/validate.hpp"
#include "schedule/after_run.hpp"
#include "schedule/notify.hpp"
#include "schedule/schedule.hpp"
#include "store/files.hpp"
#include "store/snapshot.hpp"

namespace drctl::cli {

namespace fs = std::filesystem;
using schedule::Kind;

namespace {

struct Where {
  bool systemd = false, cron = false, kubernetes = false, user = false;
  std::string dir;
};

fs::path home() {
  const char* h = std::getenv("HOME");
  if (!h || !*h) throw InputError("--user: HOME is not set");
  return h;
}

/// Where schedules of `kind` live: --dir, else systemd's unit directory (the system's or the
/// user's) or /etc/cron.d.
fs::path dir_of(const Where& w, Kind kind) {
  if (!w.dir.empty()) return fs::absolute(w.dir);
  if (kind == Kind::kubernetes) return fs::current_path();
  if (kind == Kind::cron) return "/etc/cron.d";
  if (!w.user) return "/etc/systemd/system";
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  return (xdg && *xdg ? fs::path(xdg) : home() / ".config") / "systemd/user";
}

/// The kinds to look at: the one chosen, else both.
std::vector<Kind> kinds_of(const Where& w) {
  if (int(w.systemd) + int(w.cron) + int(w.kubernetes) > 1) throw InputError("--systemd, --cron and --kubernetes: choose one");
  if (w.systemd) return {Kind::systemd};
  if (w.cron) return {Kind::cron};
  if (w.kubernetes) return {Kind::kubernetes};
  return {Kind::systemd, Kind::cron};
}

/// Writes a file whole (store::write_file_atomic: a dotted temporary name, which neither cron nor
/// systemd reads, then rename), mode 0644 as systemd and cron want.
void write_file(const fs::path& path, const std::string& text) {
  store::write_file_atomic(path.parent_path(), path,
                           std::span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
  ::chmod(path.c_str(), 0644);
}

const char* kind_name(Kind k) { return k == Kind::systemd ? "systemd" : k == Kind::cron ? "cron" : "kubernetes"; }

/// The site's kubernetes_schedule as a KubeSpec: its image, namespace and the NFS export of
/// repository.host (a site host, by its address) at repository.path. InputError naming the field.
schedule::KubeSpec kube_spec(const runbook::Runbook& rb, const std::string& name, const std::vector<std::string>& sets) {
  if (!rb.site) throw InputError("--kubernetes: the runbook has no site, whose kubernetes_schedule says how drctl runs in the cluster");
  const auto& k = rb.site->kubernetes_schedule;
  const std::string where = rb.site->file + ": kubernetes_schedule";
  if (k.empty()) throw InputError(where + ": missing (image, namespace, repository: {host, path})");
  schedule::KubeSpec spec;
  spec.image = k.value("image", "");
  if (spec.image.empty()) throw InputError(where + ".image: drctl's image, e.g. registry.example/drctl:1.0");
  spec.ns = k.value("namespace", "drctl");
  const auto repo = k.value("repository", nlohmann::json::object());
  const std::string host = repo.is_object() ? repo.value("host", "") : "";
  spec.nfs_path = repo.is_object() ? repo.value("path", "") : "";
  const runbook::SiteHost* h = rb.site->host(host);
  if (!h) throw InputError(where + ".repository.host: '" + host + "' is not a host of the site (the NAS that exports the repository)");
  if (h->address.empty()) throw InputError(where + ".repository.host: " + host + " has no address for the NFS mount");
  if (spec.nfs_path.empty() || spec.nfs_path[0] != '/')
    throw InputError(where + ".repository.path: the exported directory, an absolute path (/mnt/tank/drctl)");
  spec.nfs_server = h->address;
  spec.secret = "drctl-" + name + "-site";
  spec.sets = sets;
  return spec;
}

/// The site's retention would forget every snapshot a backup step of the runbook makes (a policy
/// of tag lists alone, none of which the step's tags hold): one line at the step's tags, before
/// anything is written or run. Steps whose tags are templates are left to the run.
void check_retention_keeps_backups(const runbook::Runbook& rb, const store::RetentionPolicy& policy) {
  if (!rb.site) return;
  for (const auto& step : rb.steps) {
    if (step.uses != "backup.snapshot" || !step.with.IsMap()) continue;
    YAML::Node tags;  // found by walking the map: a missing key's node is invalid in yaml-cpp
    for (auto it = step.with.begin(); it != step.with.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == "tags") tags = it->second;
    std::vector<std::string> literal;
    bool templated = false;
    if (tags.IsDefined() && tags.IsSequence())
      for (const auto& t : tags) {
        const std::string text = t.IsScalar() ? t.Scalar() : "";
        templated = templated || text.find("{{") != std::string::npos;
        literal.push_back(text);
      }
    if (templated || schedule::keeps_tagged(policy, literal)) continue;
    std::vector<std::string> wanted;
    for (const auto& all : policy.tags) wanted.push_back(text::join(all, ","));
    const std::string have = text::join(literal, ",");
    const runbook::Pos at = tags.IsDefined() ? runbook::pos_of(step.with_pos.file, tags.Mark()) : step.with_pos;
    throw runbook::LoadError(at, "step " + step.id + ": the site's retention (" + rb.site->file + ") keeps only snapshots tagged " +
                                     text::join(wanted, " or ") + ", and this step's are tagged " + (have.empty() ? std::string("nothing") : have) +
                                     ": each run would forget every one of them; add a count (last: 3) or the tag");
  }
}

int cmd_install(const std::string& runbook_file, const std::string& every, const std::string& at, const std::string& name,
                const std::string& state, const Where& w, const std::string& notify_url, const std::string& notify_fail_url,
                const std::string& drctl, const std::vector<std::string>& sets) {
  if (w.user && w.cron) throw InputError("--user: cron.d files are the system's; use --systemd --user, or --cron as root");
  const auto kinds = kinds_of(w);
  const Kind kind = kinds.size() == 1 ? kinds.front() : Kind::systemd;
  // The runbook is read and checked first: a schedule of a runbook that cannot run is not written.
  runbook::Runbook rb = runbook::load_runbook(runbook_file);
  for (const auto& set : sets) runbook::set_var(rb, set);  // a var the runbook lacks is a typo, caught now, not when the job runs
  runbook::validate(rb, actions::Registry::builtin());
  if (rb.site) check_retention_keeps_backups(rb, schedule::retention_policy(rb.site->retention));
  schedule::Spec spec;
  try {
    spec.name = name.empty() ? schedule::schedule_name(rb.name) : schedule::schedule_name(name);
  } catch (const std::invalid_argument& e) {
    throw InputError(e.what());
  }
  if (!name.empty() && spec.name != name)
    throw InputError("--name: '" + name + "' has characters unit and cron.d names cannot hold (letters, digits, - and _)");
  spec.runbook = fs::absolute(runbook_file).lexically_normal();
  spec.drctl = drctl.empty() ? fs::read_symlink("/proc/self/exe") : fs::path(drctl);
  if (!spec.drctl.is_absolute()) throw InputError("--drctl: '" + drctl + "' is not an absolute path");
  spec.state_dir = !state.empty() ? fs::absolute(state)
                   : w.user       ? home() / ".local/state/drctl" / spec.name
                                  : fs::path("/var/lib/drctl") / spec.name;
  spec.every = every;
  spec.at = at;
  if (!sets.empty() && kind != Kind::kubernetes) throw InputError("--set: only with --kubernetes (a job's runbook vars)");
  std::vector<schedule::File> files;
  try {
    files = kind == Kind::kubernetes
                ? std::vector<schedule::File>{{"drctl-" + spec.name + ".cronjob.yaml", schedule::cronjob_yaml(spec, kube_spec(rb, spec.name, sets))}}
                : schedule::render(spec, kind);
  } catch (const std::invalid_argument& e) {
    throw InputError(e.what());
  }
  const fs::path dir = dir_of(w, kind);
  if (!fs::is_directory(dir)) throw InputError((kind == Kind::cron ? "cron's directory " : "the unit directory ") + dir.string() +
                                               " does not exist" + (w.dir.empty() ? "" : " (--dir)"));
  // A file of that name that drctl did not write is someone else's: left alone.
  const auto mine = schedule::installed(dir, kind);
  for (const auto& f : files)
    if (fs::exists(dir / f.name) &&
        std::none_of(mine.begin(), mine.end(), [&](const auto& i) { return i.name == spec.name; }))
      throw InputError(dir.string() + "/" + f.name + " exists and drctl did not write it: choose another --name");
  const bool update = std::any_of(mine.begin(), mine.end(), [&](const auto& i) { return i.name == spec.name; });
  // Ping URLs often carry a token: they stay out of the (world-readable) units, in the state
  // directory, owner only, where `schedule run` reads them. (Otherwise the first run makes it.)
  if (!notify_url.empty() || !notify_fail_url.empty()) {
    runbook::make_private_dirs(spec.state_dir);
    runbook::write_private_file(spec.state_dir / "notify.json",
                                nlohmann::json({{"url", notify_url}, {"fail_url", notify_fail_url}}).dump() + "\n");
  }
  for (const auto& f : files) write_file(dir / f.name, f.content);
  for (const auto& f : files) std::printf("==> %s\n%s\n", (dir / f.name).c_str(), f.content.c_str());
  std::printf("%s schedule %s (%s): %s runs %s\n", update ? "updated" : "installed", spec.name.c_str(), kind_name(kind),
              kind == Kind::systemd ? schedule::on_calendar(spec).c_str() : schedule::cron_fields(spec).c_str(),
              spec.runbook.c_str());
  if (kind == Kind::kubernetes) {
    // The site's files reach the job in a Secret (the site's secrets are among them).
    std::string from = " --from-file=" + spec.runbook.string();
    if (rb.site) from += " --from-file=" + rb.site->file + (rb.site->secrets_file.empty() ? "" : " --from-file=" + rb.site->secrets_file);
    const auto k = kube_spec(rb, spec.name, sets);
    std::printf("next: kubectl -n %s create secret generic %s%s\n      kubectl apply -f %s\n", k.ns.c_str(), k.secret.c_str(), from.c_str(),
                (dir / files.front().name).c_str());
  } else if (kind == Kind::systemd)
    std::printf("next: systemctl%s daemon-reload && systemctl%s enable --now drctl-%s.timer\n", w.user ? " --user" : "",
                w.user ? " --user" : "", spec.name.c_str());
  else
    std::printf("cron reads %s by itself; each run appends to %s\n", dir.c_str(), (spec.state_dir / "cron.log").c_str());
  return kOk;
}

/// Every schedule drctl wrote where `w` looks.
std::vector<schedule::Installed> all(const Where& w) {
  std::vector<schedule::Installed> out;
  for (Kind k : kinds_of(w)) {
    if (k == Kind::cron && w.user) continue;
    for (auto& i : schedule::installed(dir_of(w, k), k)) out.push_back(std::move(i));
  }
  return out;
}

const schedule::Installed& find(const std::vector<schedule::Installed>& list, const std::string& name) {
  for (const auto& i : list)
    if (i.name == name) return i;
  std::vector<std::string> names;
  for (const auto& i : list) names.push_back(i.name);
  throw InputError("no schedule named '" + name + "'" + did_you_mean(name, names) +
                   (names.empty() ? " (there are none where drctl looked; --dir, --user?)" : ""));
}

int cmd_list(const Where& w) {
  const auto list = all(w);
  if (list.empty()) {
    std::printf("No schedules.\n");
    return kOk;
  }
  std::printf("%-20s %-8s %-24s %s\n", "NAME", "KIND", "WHEN", "RUNBOOK");
  for (const auto& i : list)
    std::printf("%-20s %-8s %-24s %s\n", i.name.c_str(), kind_name(i.kind), i.when.c_str(), i.runbook.c_str());
  return kOk;
}

int cmd_show(const std::string& name, const Where& w) {
  const auto list = all(w);
  for (const auto& f : find(list, name).files) {
    std::ifstream in(f);
    std::printf("==> %s\n%s\n", f.c_str(), std::string(std::istreambuf_iterator<char>(in), {}).c_str());
  }
  return kOk;
}

int cmd_remove(const std::string& name, const Where& w) {
  const auto list = all(w);
  const auto& s = find(list, name);
  for (const auto& f : s.files) {
    std::error_code ec;
    if (!fs::remove(f, ec) && ec) throw Failure("cannot remove " + f.string() + ": " + ec.message());
    std::printf("removed %s\n", f.c_str());
  }
  if (s.kind == Kind::systemd)
    std::printf("next: systemctl%s disable --now drctl-%s.timer; systemctl%s daemon-reload\n", w.user ? " --user" : "",
                name.c_str(), w.user ? " --user" : "");
  return kOk;
}

/// What a drctl child said and how it ended.
struct Child {
  int exit_code = 0;
  std::string error;  // its last `drctl: error: …` line, without the prefix
};

/// Runs this drctl binary with `args` in a child process and waits for it. Its stdout and stderr
/// are ours; with `keep_error`, its stderr goes through a pipe, passed on as it comes, and its
/// last error line is kept (a terminal then sees no progress line: for the copy, which runs unattended).
Child run_self(const std::vector<std::string>& args, bool keep_error) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  std::vector<std::string> argv = {self};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int err[2] = {-1, -1};
  if (keep_error && ::pipe2(err, O_CLOEXEC) != 0) throw Failure("cannot start drctl " + args.front() + ": pipe failed");
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) throw Failure("cannot start drctl " + args.front() + ": fork failed");
  if (child == 0) {
    if (keep_error) ::dup2(err[1], STDERR_FILENO);
    ::execv(self.c_str(), cargv.data());
    ::_exit(127);
  }
  Child out;
  std::string line;
  char buf[4096];
  if (keep_error) ::close(err[1]);
  for (ssize_t n; keep_error && (n = ::read(err[0], buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    (void)!::write(STDERR_FILENO, buf, static_cast<std::size_t>(n));
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') {
        line += buf[i];
        continue;
      }
      if (const std::string tag = "drctl: error: "; line.rfind(tag, 0) == 0) out.error = line.substr(tag.size());
      line.clear();
    }
  }
  if (keep_error) ::close(err[0]);
  int wstatus = 0;
  while (::waitpid(child, &wstatus, 0) < 0 && errno == EINTR) {
  }
  out.exit_code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
  return out;
}

/// Where repository `repo` goes off-site: the site's `offsite.to` itself when the run backed up
/// to one repository; with several, a directory of that name below it for each.
std::string offsite_target(const std::string& to, const std::string& repo, std::size_t repositories) {
  if (repositories == 1) return to;
  return (to.back() == '/' ? to : to + "/") + fs::path(repo).lexically_normal().filename().string();
}

/// `drctl schedule run`: the runbook (as `drctl run`, in a child of its own), then the site's
/// retention on the repositories its backups went to, then the status file and the metrics.
int cmd_schedule_run(const std::string& runbook_file, const std::string& name_option, const std::string& state,
                     const std::string& metrics_option, const std::string& lock_wait, const std::string& notify_url,
                     const std::string& notify_fail_url, const std::vector<std::string>& sets) {
  runbook::Runbook rb = runbook::load_runbook(runbook_file);
  for (const auto& set : sets) runbook::set_var(rb, set);  // checked here: a typo is exit 2 before the run starts
  runbook::validate(rb, actions::Registry::builtin());
  const store::RetentionPolicy policy = rb.site ? schedule::retention_policy(rb.site->retention) : store::RetentionPolicy{};
  const bool repack_small = rb.site && schedule::retention_repacks_small(rb.site->retention);
  check_retention_keeps_backups(rb, policy);
  // The site's off-site URL was checked when it was loaded, before anything runs.
  const std::string offsite_to = rb.site ? rb.site->offsite.value("to", "") : "";
  const std::string offsite_config = rb.site ? rb.site->offsite.value("ssh_config", "") : "";
  const std::string name = name_option.empty() ? schedule::schedule_name(rb.name) : name_option;
  const fs::path dir = fs::absolute(state.empty() ? ".drctl/state/" + name : state);
  runbook::make_private_dirs(dir);
  // One scheduled run at a time on this state directory: a second one says so and writes nothing.
  const fs::path lock_file = dir / "schedule.lock";
  const int lock = ::open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0)
    throw Failure("another scheduled run of " + name + " is still going (it holds " + lock_file.string() + ")");
  const fs::path journal = dir / "journal.jsonl";
  std::error_code ec;
  const std::uintmax_t journal_before = fs::exists(journal) ? fs::file_size(journal, ec) : 0;

  schedule::RunStatus st;
  st.schedule = name;
  st.runbook = fs::absolute(runbook_file).lexically_normal().string();
  st.started = store::utc_text(std::chrono::system_clock::now());
  const auto wall = std::chrono::steady_clock::now();
  std::vector<std::string> argv = {"run", runbook_file, "--state", dir.string()};
  for (const auto& set : sets) argv.insert(argv.end(), {"--set", set});
  st.exit_code = run_self(argv, false).exit_code;

  st.backups = schedule::backups_of_last_run(journal, journal_before);
  std::vector<std::string> repos;
  for (const auto& b : st.backups)
    if (std::find(repos.begin(), repos.end(), b.repo) == repos.end()) repos.push_back(b.repo);
  // Retention only after a run that succeeded: failing runs never thin the history out.
  const auto wait = std::chrono::milliseconds(duration_option(lock_wait, "--lock-wait"));
  bool retention_ok = true;
  for (const auto& repo : repos) {
    st.repositories.push_back(schedule::apply_retention(repo, st.exit_code == 0 ? policy : store::RetentionPolicy{}, wait, warn,
                                                        st.exit_code == 0 && repack_small));
    if (!st.repositories.back().error.empty()) {
      retention_ok = false;
      warn(repo + ": retention: " + st.repositories.back().error);
    }
  }
  // The rotating verify: part n of the site's verify_cycle, the next part each run, so every
  // stored byte is re-read once a cycle (restic's --read-data-subset n/t).
  const int cycle = rb.site ? rb.site->retention.value("verify_cycle", 0) : 0;
  if (cycle > 0 && !st.repositories.empty()) {
    int next = 0;
    std::ifstream(dir / "verify-next") >> next;
    const std::string part = std::to_string(next % cycle + 1) + "/" + std::to_string(cycle);
    for (auto& r : st.repositories) {
      schedule::verify_part(r, part, wait);
      if (!r.verify_ok) {
        retention_ok = false;
        warn(r.repo + ": verify " + part + ": " + (r.verify_errors.empty() ? "failed" : r.verify_errors.front()));
      }
    }
    runbook::write_private_file(dir / "verify-next", std::to_string((next + 1) % cycle) + "\n");
  }
  // The off-site copy, after a run that succeeded (a failed run's partial work stays home), of
  // each repository as retention left it: only what the far side lacks is sent.
  bool copies_ok = true;
  if (!offsite_to.empty() && st.exit_code == 0) {
    for (auto& r : st.repositories) {
      r.copy_to = offsite_target(offsite_to, r.repo, st.repositories.size());
      std::vector<std::string> args = {"snapshot", "copy", "--all", "--repo", r.repo, "--to", r.copy_to};
      if (!offsite_config.empty()) args.insert(args.end(), {"--ssh-config", offsite_config});
      const Child copy = run_self(args, true);
      r.copy_ok = copy.exit_code == 0;
      if (!r.copy_ok) {
        r.copy_error = copy.error.empty() ? "drctl snapshot copy exited " + std::to_string(copy.exit_code) : copy.error;
        copies_ok = false;
        warn(r.repo + ": copy to " + r.copy_to + ": " + r.copy_error);
      }
    }
  }
  st.ok = st.exit_code == 0 && retention_ok && copies_ok;
  st.finished = store::utc_text(std::chrono::system_clock::now());
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  st.last_success = st.ok ? st.finished : schedule::last_success_in(dir / "status.json");
  runbook::write_private_file(dir / "status.json", schedule::status_json(st).dump(2) + "\n");
  const fs::path metrics = metrics_option.empty() ? dir / "drctl.prom" : fs::absolute(metrics_option);
  write_file(metrics, schedule::metrics_text(st));  // 0644, no secrets: a textfile collector reads it as another user
  std::size_t forgotten = 0;
  for (const auto& r : st.repositories) forgotten += r.forgotten;
  std::printf("scheduled run %s: %s in %.1f s; %zu snapshots taken, %zu forgotten; status %s, metrics %s\n", name.c_str(),
              st.ok ? "ok" : "FAILED", st.seconds, st.backups.size(), forgotten, (dir / "status.json").c_str(), metrics.c_str());
  // The ping: one line saying what happened, to --notify (or --notify-fail when the run failed);
  // without them, to what `schedule install --notify` kept in the state directory.
  std::string url = notify_url, fail_url = notify_fail_url;
  if (url.empty() && fail_url.empty()) {
    std::ifstream in(dir / "notify.json");
    const auto kept = nlohmann::json::parse(in, nullptr, false);
    if (kept.is_object()) url = kept.value("url", ""), fail_url = kept.value("fail_url", "");
  }
  const std::string ping = st.ok || fail_url.empty() ? url : fail_url;
  if (!ping.empty()) {
    const std::string message = "drctl " + name + ": " + (st.ok ? "ok" : "FAILED (exit " + std::to_string(st.exit_code) + ")") +
                                ", " + std::to_string(st.backups.size()) + " snapshots in " + std::to_string(static_cast<int>(st.seconds)) + " s";
    if (const std::string why = schedule::notify(ping, message); !why.empty()) warn(why);
  }
  ::close(lock);
  return st.exit_code != 0 ? st.exit_code : retention_ok && copies_ok ? kOk : kFailed;  // the run's own code first
}

void where_options(CLI::App* c, Where& w) {
  c->add_flag("--systemd", w.systemd, "systemd: a service and a timer (the default for install)");
  c->add_flag("--cron", w.cron, "cron: a file in /etc/cron.d");
  c->add_flag("--kubernetes", w.kubernetes, "Kubernetes: a CronJob manifest (the site's kubernetes_schedule), for kubectl apply");
  c->add_flag("--user", w.user, "systemd's user units (~/.config/systemd/user) instead of the system's");
  c->add_option("--dir", w.dir, "Where the files are, instead of systemd's or cron's directory");
}

}  // namespace

void add_schedule_command(CLI::App& app, Action& run) {
  auto* s = app.add_subcommand("schedule", "Run a runbook on a calendar: systemd units or a cron.d file");
  s->require_subcommand(1);
  struct Args {
    std::string runbook, every = "daily", at, name, state, metrics, lock_wait = "10m", notify, notify_fail, drctl;
    std::vector<std::string> names, sets;
    Where where;
  };
  auto a = std::make_shared<Args>();
  auto* install = s->add_subcommand("install", "Write (and print) the units or cron.d file that run RUNBOOK on a calendar");
  install->add_option("RUNBOOK", a->runbook, "The runbook (e.g. runbooks/homelab/backup.yaml)")->required();
  install->add_option("--every", a->every, "hourly, daily, weekly, or a calendar (systemd: 'Mon *-*-* 02:00'; cron: '0 */6 * * *')")
      ->capture_default_str();
  install->add_option("--at", a->at, "HH:MM for daily and weekly (default 03:00; weekly on Sunday), :MM for hourly");
  install->add_option("--name", a->name, "The schedule's name (default: the runbook's)");
  install->add_option("--state", a->state, "The runs' state directory (default /var/lib/drctl/NAME, or ~/.local/state/drctl/NAME with --user)");
  install->add_option("--set", a->sets, "--kubernetes: a runbook var the job sets, NAME=VALUE (e.g. repo_dir=/repo)");
  install->add_option("--drctl", a->drctl, "The drctl binary the schedule runs (default: this one), e.g. /usr/local/bin/drctl");
  install->add_option("--notify", a->notify, "Ping this URL after each run (kept in the state directory, owner only, not in the units)");
  install->add_option("--notify-fail", a->notify_fail, "Ping this URL instead after a run that failed");
  where_options(install, a->where);
  install->callback([&run, a] {
    run = [a] {
      return cmd_install(a->runbook, a->every, a->at, a->name, a->state, a->where, a->notify, a->notify_fail, a->drctl, a->sets);
    };
  });

  auto* runs = s->add_subcommand("run", "What a schedule runs: the runbook, then the site's retention, its off-site copy, a status file and metrics");
  runs->add_option("RUNBOOK", a->runbook, "The runbook")->required();
  runs->add_option("--name", a->name, "The schedule's name (default: the runbook's)");
  runs->add_option("--state", a->state, "The runs' state directory: journal, status.json, drctl.prom (default .drctl/state/NAME)");
  runs->add_option("--metrics", a->metrics, "Write the Prometheus metrics here instead (a textfile collector's directory)");
  runs->add_option("--lock-wait", a->lock_wait, "How long retention waits for the repository's lock and its readers")
      ->capture_default_str();
  runs->add_option("--set", a->sets, "A runbook var, NAME=VALUE, as drctl run --set takes it");
  runs->add_option("--notify", a->notify, "POST a line saying how the run went to this URL (healthchecks, ntfy, Gotify …)");
  runs->add_option("--notify-fail", a->notify_fail, "POST to this URL instead when the run failed (healthchecks: …/fail)");
  runs->callback([&run, a] {
    run = [a] {
      return cmd_schedule_run(a->runbook, a->name, a->state, a->metrics, a->lock_wait, a->notify, a->notify_fail, a->sets);
    };
  });

  auto* list = s->add_subcommand("list", "The schedules drctl wrote");
  where_options(list, a->where);
  list->callback([&run, a] { run = [a] { return cmd_list(a->where); }; });

  auto* show = s->add_subcommand("show", "Print a schedule's files");
  show->add_option("NAME", a->names, "Schedule name")->required();
  where_options(show, a->where);
  show->callback([&run, a] {
    run = [a] {
      for (const auto& n : a->names) cmd_show(n, a->where);
      return kOk;
    };
  });

  auto* remove = s->add_subcommand("remove", "Delete a schedule's files");
  remove->add_option("NAME", a->names, "Schedule name")->required();
  where_options(remove, a->where);
  remove->callback([&run, a] {
    run = [a] {
      for (const auto& n : a->names) cmd_remove(n, a->where);
      return kOk;
    };
  });
}

}  // namespace drctl::cli
