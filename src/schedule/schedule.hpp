// Scheduled runs of a runbook (`drctl schedule`): what a systemd service and timer, or a cron.d
// file, must say to run `drctl schedule run RUNBOOK` (the runbook, then the site's retention, a
// status file and metrics) on a calendar, never two at once, and how drctl finds the schedules
// it wrote again (a marker line naming the schedule and its runbook).
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace drctl::schedule {

enum class Kind { systemd, cron, kubernetes };

struct Spec {
  std::string name;                  // the schedule's name: units drctl-NAME.service/.timer, cron.d/drctl-NAME
  std::filesystem::path runbook;     // absolute
  std::filesystem::path drctl;       // absolute: the binary the schedule runs
  std::filesystem::path state_dir;   // absolute: the runs' journal (one run at a time holds it)
  std::string every = "daily";       // hourly, daily, weekly, or a calendar (systemd OnCalendar / a cron line's 5 fields)
  std::string at;                    // HH:MM (daily, weekly; weekly is on Sunday) or :MM (hourly); "" = 03:00 / :17
  bool user = false;                 // a user's systemd units instead of the system's
};

/// A name usable in unit and cron.d file names: the runbook's name with anything but letters,
/// digits, '-' and '_' made '-' (cron.d ignores files with dots); std::invalid_argument when
/// nothing is left.
std::string schedule_name(const std::string& text);

/// Checks `every` and `at` for `kind` (InputError-worthy std::invalid_argument naming the option
/// and the forms it takes).
void check(const Spec& spec, Kind kind);

/// The systemd timer's OnCalendar= for the spec ("*-*-* 03:00:00"), and the cron line's five
/// time fields ("0 3 * * *").
std::string on_calendar(const Spec& spec);
std::string cron_fields(const Spec& spec);

/// The files of a schedule: name → content (drctl-NAME.service and .timer, or drctl-NAME for
/// cron.d, whose runs append their output to STATE_DIR/cron.log).
struct File {
  std::string name, content;
};
std::vector<File> render(const Spec& spec, Kind kind);

/// drctl as a CronJob of the site's cluster: its image, namespace, the NFS export of the site's
/// NAS its repository lives on (mounted at /repo), and the Secret holding the site's files
/// (mounted at /site). `sets` are the runbook's vars the job sets (--set NAME=VALUE), e.g.
/// repo_dir=/repo.
struct KubeSpec {
  std::string image, ns = "drctl", nfs_server, nfs_path, secret;
  std::vector<std::string> sets;
};
/// The Namespace and the CronJob (concurrencyPolicy Forbid: a run never overlaps the last), as
/// YAML for kubectl apply -f; the schedule is cron_fields(spec).
std::string cronjob_yaml(const Spec& spec, const KubeSpec& kube);

/// A schedule drctl wrote, as its files say.
struct Installed {
  std::string name, runbook, when;
  Kind kind = Kind::systemd;
  std::vector<std::filesystem::path> files;
};
/// The schedules drctl wrote in `dir` (the files with its marker line), by name.
std::vector<Installed> installed(const std::filesystem::path& dir, Kind kind);

/// A word for systemd's command lines: quoted, with `%` and `$` escaped as systemd.service(5)
/// and systemd.unit(5) specifiers demand.
std::string systemd_word(const std::string& word);
/// A word for a cron command line: quoted for sh, with `%` escaped (crontab(5): an unescaped %
/// ends the command).
std::string cron_word(const std::string& word);

}  // namespace drctl::schedule
