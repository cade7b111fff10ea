#include "schedule/schedule.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "base/shell.hpp"

namespace drctl::schedule {

namespace {

constexpr std::string_view kMarker = "# drctl schedule ";

/// "03:00" → {3, 0}; ":17" → {-1, 17}; nullopt when it is neither.
std::optional<std::pair<int, int>> clock_time(const std::string& at) {
  int h = -1, m = -1;
  char extra = 0;
  if (at.size() == 3 && at[0] == ':' && std::sscanf(at.c_str(), ":%2d%c", &m, &extra) == 1 && m >= 0 && m < 60)
    return std::pair{-1, m};
  if (at.size() == 5 && at[2] == ':' && std::isdigit(static_cast<unsigned char>(at[0])) &&
      std::sscanf(at.c_str(), "%2d:%2d%c", &h, &m, &extra) == 2 && h >= 0 && h < 24 && m >= 0 && m < 60)
    return std::pair{h, m};
  return std::nullopt;
}

bool named(const std::string& every) { return every == "hourly" || every == "daily" || every == "weekly"; }

/// Five cron fields: digits, names, * / , - only.
bool cron_expression(const std::string& text) {
  std::istringstream words(text);
  int n = 0;
  for (std::string w; words >> w; ++n)
    if (!std::all_of(w.begin(), w.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("*/,-", c); }))
      return false;
  return n == 5;
}

/// {hour, minute} the spec runs at (hour -1 for hourly).
std::pair<int, int> when(const Spec& s) {
  if (!s.at.empty()) return *clock_time(s.at);
  return s.every == "hourly" ? std::pair{-1, 0} : std::pair{3, 0};
}

std::string two(int n) { return (n < 10 ? "0" : "") + std::to_string(n); }

std::string marker(const Spec& s) {
  return std::string(kMarker) + s.name + ": " + s.runbook.string() + " (written by `drctl schedule install`; `drctl schedule remove " +
         s.name + "` removes it)\n";
}

}  // namespace

std::string schedule_name(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '-';
  while (!out.empty() && out.front() == '-') out.erase(0, 1);
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.empty()) throw std::invalid_argument("'" + text + "' gives no usable schedule name: give one with --name");
  return out;
}

void check(const Spec& s, Kind kind) {
  if (s.every.find_first_of("\n\r") != std::string::npos) throw std::invalid_argument("--every: a line break is not a calendar");
  if (!s.at.empty()) {
    if (!named(s.every)) throw std::invalid_argument("--at: only with --every hourly, daily or weekly (a calendar says its own time)");
    auto t = clock_time(s.at);
    if (!t) throw std::invalid_argument("--at: '" + s.at + "' is not HH:MM (daily, weekly) or :MM (hourly)");
    if ((t->first < 0) != (s.every == "hourly"))
      throw std::invalid_argument("--at: '" + s.at + "': " + (s.every == "hourly" ? "hourly takes :MM" : s.every + " takes HH:MM"));
  }
  if (named(s.every)) return;
  if (kind == Kind::cron && !cron_expression(s.every))
    throw std::invalid_argument("--every: '" + s.every +
                                "' is not hourly, daily, weekly or a cron schedule of five fields (\"0 */6 * * *\")");
  if (kind == Kind::systemd && cron_expression(s.every))
    throw std::invalid_argument("--every: '" + s.every + "' is a cron schedule; systemd takes a calendar like 'Mon..Fri *-*-* 02:00' "
                                "(`systemd-analyze calendar` checks one)");
}

std::string on_calendar(const Spec& s) {
  if (!named(s.every)) return s.every;
  const auto [h, m] = when(s);
  if (s.every == "hourly") return "*-*-* *:" + two(m) + ":00";
  return std::string(s.every == "weekly" ? "Sun " : "") + "*-*-* " + two(h) + ":" + two(m) + ":00";
}

std::string cron_fields(const Spec& s) {
  if (!named(s.every)) return s.every;
  const auto [h, m] = when(s);
  if (s.every == "hourly") return std::to_string(m) + " * * * *";
  return std::to_string(m) + " " + std::to_string(h) + " * * " + (s.every == "weekly" ? "0" : "*");
}

std::string systemd_word(const std::string& word) {
  std::string out = "\"";
  for (char c : word) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '%') out += '%';
    if (c == '$') out += '$';
    out += c;
  }
  return out + "\"";
}

std::string cron_word(const std::string& word) {
  std::string quoted = shell_quote(word), out;
  for (char c : quoted) out += c == '%' ? std::string("\\%") : std::string(1, c);
  return out;
}

std::vector<File> render(const Spec& s, Kind kind) {
  check(s, kind);
  if (kind == Kind::systemd) {
    const std::string exec = systemd_word(s.drctl.string()) + " schedule run " + systemd_word(s.runbook.string()) + " --name " +
                             systemd_word(s.name) + " --state " + systemd_word(s.state_dir.string());
    std::string service = marker(s) +
                          "[Unit]\n"
                          "Description=drctl: " + s.name + " (" + s.runbook.filename().string() + ")\n"
                          "Wants=network-online.target\n"
                          "After=network-online.target\n\n"
                          "[Service]\n"
                          "# One run at a time: the timer does not start this oneshot while it is still active, and a\n"
                          "# second scheduled run on the same state directory refuses to start.\n"
                          "Type=oneshot\n"
                          "ExecStart=" + exec + "\n"
                          "Nice=10\n"
                          "IOSchedulingClass=idle\n";
    std::string timer = marker(s) +
                        "[Unit]\n"
                        "Description=drctl: when " + s.name + " runs\n\n"
                        "[Timer]\n"
                        "OnCalendar=" + on_calendar(s) + "\n"
                        "# A run missed while the machine was off happens at the next boot.\n"
                        "Persistent=true\n"
                        "# Spread over a quarter of an hour, so that many machines do not start at once.\n"
                        "RandomizedDelaySec=15min\n\n"
                        "[Install]\n"
                        "WantedBy=timers.target\n";
    return {{"drctl-" + s.name + ".service", service}, {"drctl-" + s.name + ".timer", timer}};
  }
  const std::string log = (s.state_dir / "cron.log").string();  // beside the runs' journal
  std::string cron = marker(s) +
                     "# One run at a time: a second scheduled run on the same state directory refuses to start (and\n"
                     "# says so in the log).\n"
                     "SHELL=/bin/sh\n"
                     "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n" +
                     cron_fields(s) + " root mkdir -p -m 700 " + cron_word(s.state_dir.string()) + " && " +
                     cron_word(s.drctl.string()) + " schedule run " + cron_word(s.runbook.string()) +
                     " --name " + cron_word(s.name) + " --state " + cron_word(s.state_dir.string()) + " >> " + cron_word(log) + " 2>&1\n";
  return {{"drctl-" + s.name, cron}};
}

std::string cronjob_yaml(const Spec& s, const KubeSpec& k) {
  check(s, Kind::cron);  // a CronJob's schedule is cron's five fields
  // ValidateCronJobCreate: its Jobs' names add 11 characters to a name that must stay a DNS-1035 label.
  if (("drctl-" + s.name).size() > 52)
    throw std::invalid_argument("--name: the CronJob drctl-" + s.name + " would be longer than the 52 characters Kubernetes allows");
  auto q = [](const std::string& v) {  // a YAML double-quoted scalar (JSON's escaping is YAML's)
    std::string out = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    return out + "\"";
  };
  std::string args = "[" + q("schedule") + ", " + q("run") + ", " + q("/site/" + s.runbook.filename().string()) + ", " + q("--name") +
                     ", " + q(s.name) + ", " + q("--state") + ", " + q("/repo/.drctl-state/" + s.name);
  for (const auto& set : k.sets) args += ", " + q("--set") + ", " + q(set);
  args += "]";
  return marker(s) +
         "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + q(k.ns) + "\n---\n"
         "apiVersion: batch/v1\nkind: CronJob\nmetadata:\n  name: " + q("drctl-" + s.name) + "\n  namespace: " + q(k.ns) +
         "\n  labels: {app.kubernetes.io/managed-by: drctl}\n"
         "spec:\n"
         "  schedule: " + q(cron_fields(s)) + "\n"
         "  concurrencyPolicy: Forbid        # a run never starts while the last one goes\n"
         "  startingDeadlineSeconds: 3600    # a run missed by less than an hour still happens\n"
         "  successfulJobsHistoryLimit: 3\n"
         "  failedJobsHistoryLimit: 3\n"
         "  jobTemplate:\n"
         "    spec:\n"
         "      backoffLimit: 0\n"
         "      template:\n"
         "        spec:\n"
         "          restartPolicy: Never\n"
         "          containers:\n"
         "            - name: drctl\n"
         "              image: " + q(k.image) + "\n"
         "              args: " + args + "\n"
         "              volumeMounts:\n"
         "                - {name: repository, mountPath: /repo}\n"
         "                - {name: site, mountPath: /site, readOnly: true}\n"
         "          volumes:\n"
         "            - name: repository\n"
         "              nfs: {server: " + q(k.nfs_server) + ", path: " + q(k.nfs_path) + "}\n"
         "            - name: site\n"
         "              secret: {secretName: " + q(k.secret) + ", defaultMode: 256}   # 0400: the owner reads, nobody else\n";
}

std::vector<Installed> installed(const std::filesystem::path& dir, Kind kind) {
  std::vector<Installed> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return out;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind("drctl-", 0) == 0 && e.is_regular_file()) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    const std::string ext = f.extension().string();
    if (kind == Kind::systemd && ext != ".service" && ext != ".timer") continue;
    if (kind == Kind::cron && !ext.empty()) continue;
    if (kind == Kind::kubernetes && f.filename().string().find(".cronjob.yaml") == std::string::npos) continue;
    std::ifstream in(f);
    std::string first;
    std::getline(in, first);
    if (first.rfind(kMarker, 0) != 0) continue;  // not one drctl wrote
    const std::string rest = first.substr(kMarker.size());
    const auto colon = rest.find(": ");
    if (colon == std::string::npos) continue;
    const std::string name = rest.substr(0, colon);
    auto it = std::find_if(out.begin(), out.end(), [&](const Installed& i) { return i.name == name; });
    if (it == out.end()) {
      out.push_back({name, rest.substr(colon + 2, rest.find(" (written by") - colon - 2), "", kind, {}});
      it = out.end() - 1;
    }
    it->files.push_back(f);
    for (std::string line; std::getline(in, line);) {
      if (kind == Kind::systemd && line.rfind("OnCalendar=", 0) == 0) it->when = line.substr(11);
      if (kind == Kind::kubernetes && line.rfind("  schedule: ", 0) == 0) it->when = line.substr(13, line.size() - 14);
      if (kind == Kind::cron && !line.empty() && line[0] != '#' && line.find(" root ") != std::string::npos) {
        std::istringstream words(line);
        std::string w, fields;
        for (int i = 0; i < 5 && words >> w; ++i) fields += (i ? " " : "") + w;
        it->when = fields;
      }
    }
  }
  return out;
}

}  // namespace drctl::schedule
