// `drctl schedule`: the systemd units it writes are accepted by systemd-analyze verify (the
// oracle for unit syntax, specifiers, calendars and the command's executable); the cron line it
// writes, run as cron runs it, runs the runbook, and never twice at once; list, show, remove;
// bad input changes nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using namespace std::chrono_literals;

namespace {

/// A runbook in `dir` whose one step appends a line to `out`, then takes `seconds`.
fs::path tick_runbook(const fs::path& dir, const fs::path& out, int seconds) {
  fs::create_directories(dir);
  const fs::path rb = dir / "tick.yaml";
  write_file(rb, "name: tick\nsteps:\n  - id: tick\n    run: \"echo tick >> '" + out.string() + "' && sleep " +
                     std::to_string(seconds) + "\"\n");
  return rb;
}

std::size_t lines(const fs::path& f) {
  if (!fs::exists(f)) return 0;
  std::istringstream in(read_file(f));
  std::size_t n = 0;
  for (std::string l; std::getline(in, l);) ++n;
  return n;
}

/// The command of a cron.d line (after its five time fields and the user), as cron hands it to
/// /bin/sh: `\%` is a literal %.
std::string cron_command(const std::string& file) {
  std::istringstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.find('=') < line.find(' ')) continue;
    std::istringstream words(line);
    std::string w;
    for (int i = 0; i < 6; ++i) words >> w;
    std::string rest;
    std::getline(words, rest);
    std::string out;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == '\\' && i + 1 < rest.size() && rest[i + 1] == '%') continue;
      out += rest[i];
    }
    return out;
  }
  FAIL("no command line in:\n" << file);
  return "";
}

}  // namespace

TEST_CASE("schedule: the systemd service and timer pass systemd-analyze verify, paths with spaces and % included") {
  TempDir t("schedule-systemd");
  const fs::path dir = t / "odd dir%1";  // a space and a specifier character in every path
  const fs::path rb = tick_runbook(dir, t / "out", 0);
  fs::create_directories(t / "units");
  auto r = drctl({"schedule", "install", rb.string(), "--every", "weekly", "--at", "02:30", "--dir", (t / "units").string(),
                  "--state", (dir / "state").string()});
  expect_exit(r, 0);
  const fs::path service = t / "units/drctl-tick.service", timer = t / "units/drctl-tick.timer";
  REQUIRE(fs::exists(service));
  REQUIRE(fs::exists(timer));
  const std::string timer_text = read_file(timer);
  CHECK(timer_text.find("OnCalendar=Sun *-*-* 02:30:00\n") != std::string::npos);
  CHECK(timer_text.find("Persistent=true\n") != std::string::npos);
  CHECK(read_file(service).find("Type=oneshot\n") != std::string::npos);
  auto v = run({"systemd-analyze", "verify", service.string(), timer.string()});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  // systemd's own reading of the calendar: the next run is a Sunday at 02:30.
  auto cal = run({"systemd-analyze", "calendar", "Sun *-*-* 02:30:00"});
  CHECK_MESSAGE(cal.out.find("Sun ") != std::string::npos, cal.describe());
  // A calendar of systemd's own passes through; one it cannot read fails verify, not drctl.
  expect_exit(drctl({"schedule", "install", rb.string(), "--every", "Mon..Fri *-*-* 22:00", "--dir", (t / "units").string()}), 0);
  v = run({"systemd-analyze", "verify", service.string(), timer.string()});
  CHECK_MESSAGE(v.exit_code == 0, v.describe());
  CHECK(read_file(timer).find("OnCalendar=Mon..Fri *-*-* 22:00\n") != std::string::npos);
}

TEST_CASE("schedule: the cron line runs the runbook as cron would, and a run whose previous one still goes does not start twice") {
  TempDir t("schedule-cron");
  const fs::path out = t / "ticks";
  const fs::path rb = tick_runbook(t / "rb dir%1", out, 4);  // a space and cron's % in the path
  fs::create_directories(t / "cron");
  auto r = drctl({"schedule", "install", rb.string(), "--cron", "--every", "hourly", "--at", ":05", "--dir", (t / "cron").string(),
                  "--state", (t / "state").string()});
  expect_exit(r, 0);
  const std::string file = read_file(t / "cron/drctl-tick");
  CHECK(file.find("\n5 * * * * root ") != std::string::npos);
  const std::string command = cron_command(file);
  RunOptions as_cron;
  as_cron.env = {{"PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}};
  Process first({"/bin/sh", "-c", command}, as_cron);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (lines(out) == 0 && first.running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  REQUIRE(lines(out) == 1);
  REQUIRE(first.running());
  auto second = run({"/bin/sh", "-c", command}, as_cron);
  CHECK(second.exit_code != 0);
  CHECK(first.wait(2min).exit_code == 0);
  CHECK(lines(out) == 1);  // the second never ran the step
  CHECK_MESSAGE(read_file(t / "state/cron.log").find("another drctl run is using the state directory") != std::string::npos,
                read_file(t / "state/cron.log"));
  // When nothing runs, the next one does.
  expect_exit(run({"/bin/sh", "-c", command}, as_cron), 0);
  CHECK(lines(out) == 2);
}

TEST_CASE("schedule: list, show and remove find the schedules drctl wrote, and only those") {
  TempDir t("schedule-list");
  const fs::path rb = tick_runbook(t / "rb", t / "out", 0);
  fs::create_directories(t / "units");
  write_file(t / "units/drctl-other.service", "[Service]\nExecStart=/bin/true\n");  // not drctl's
  expect_exit(drctl({"schedule", "install", rb.string(), "--dir", (t / "units").string(), "--name", "nightly"}), 0);
  auto list = drctl({"schedule", "list", "--systemd", "--dir", (t / "units").string()});
  expect_exit(list, 0);
  CHECK(list.out.find("nightly") != std::string::npos);
  CHECK(list.out.find("*-*-* 03:00:00") != std::string::npos);
  CHECK(list.out.find("other") == std::string::npos);
  auto show = drctl({"schedule", "show", "nightly", "--systemd", "--dir", (t / "units").string()});
  CHECK(show.out.find("ExecStart=") != std::string::npos);
  auto typo = drctl({"schedule", "remove", "nigthly", "--systemd", "--dir", (t / "units").string()});
  expect_exit(typo, 2);
  CHECK(typo.err.find("did you mean 'nightly'") != std::string::npos);
  expect_exit(drctl({"schedule", "remove", "nightly", "--systemd", "--dir", (t / "units").string()}), 0);
  CHECK_FALSE(fs::exists(t / "units/drctl-nightly.service"));
  CHECK_FALSE(fs::exists(t / "units/drctl-nightly.timer"));
  CHECK(fs::exists(t / "units/drctl-other.service"));
}

TEST_CASE("schedule: bad input is one error line, exit 2, and nothing written") {
  TempDir t("schedule-bad");
  const fs::path rb = tick_runbook(t / "rb", t / "out", 0);
  fs::create_directories(t / "units");
  write_file(t / "units/drctl-tick.service", "[Service]\nExecStart=/bin/true\n");  // someone else's, same name
  const std::string dir = (t / "units").string();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--every", "0 3 * * *"}, "is a cron schedule"},
      {{"--at", "25:00"}, "--at: '25:00' is not HH:MM"},
      {{"--every", "hourly", "--at", "02:30"}, "hourly takes :MM"},
      {{"--cron", "--every", "Mon *-*-* 02:00"}, "not hourly, daily, weekly or a cron schedule"},
      {{"--user", "--cron"}, "--user: cron.d files"},
      {{}, "exists and drctl did not write it"}};
  for (auto [extra, expected] : cases) {
    CAPTURE(expected);
    std::vector<std::string> args = {"schedule", "install", rb.string(), "--dir", dir};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = drctl(args);
    expect_exit(r, 2);
    CHECK(is_one_error_line(r.err));
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
  }
  auto missing = drctl({"schedule", "install", (t / "nope.yaml").string(), "--dir", dir, "--name", "x"});
  expect_exit(missing, 2);
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(t / "units")) ++files;
  CHECK(files == 1);  // only the other one's file
}
