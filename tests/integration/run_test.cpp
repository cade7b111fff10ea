// Issue 3's acceptance, run through the real drctl binary: `drctl run` on the local host
// (order, parallelism, timeouts with retries, SIGKILL and Ctrl-C then --resume, idempotent
// re-runs, --dry-run, --only/--from, fan-out over `on:` groups and `for_each`, --report),
// the CLI contract of validation errors (exit 2, one `file:line:col` line, nothing run), and
// `drctl plan` (waves, critical path, --format dot through Graphviz).
//
// Every test writes its runbooks into its own TempDir and passes its own --state, so the
// tests can run in parallel. Commands write their side effects under {{runbook.dir}}.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

// --- small helpers ----------------------------------------------------------------------

std::vector<std::string> lines_of(const fs::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

std::size_t count_of(const std::vector<std::string>& lines, const std::string& what) {
  return static_cast<std::size_t>(std::count(lines.begin(), lines.end(), what));
}

// Index of the first (or last) line equal to `what`, or -1.
long index_of(const std::vector<std::string>& lines, const std::string& what, bool last = false) {
  long found = -1;
  for (std::size_t i = 0; i < lines.size(); ++i)
    if (lines[i] == what) {
      found = static_cast<long>(i);
      if (!last) break;
    }
  return found;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

bool wait_until(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (!ready()) {
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// /proc/PID/stat: "pid (comm) S ppid pgrp ..."; comm may hold spaces and parentheses.
struct ProcStat {
  char state = '?';
  pid_t pgrp = -1;
};
std::optional<ProcStat> proc_stat(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return std::nullopt;
  auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  ProcStat s;
  long ppid = 0, pgrp = 0;
  rest >> s.state >> ppid >> pgrp;
  s.pgrp = static_cast<pid_t>(pgrp);
  return s;
}

// A process that exists and is not a zombie. (In some containers PID 1 does not reap
// orphans: a killed grandchild stays a zombie there, which is dead for our purposes.)
bool alive(pid_t pid) {
  auto s = proc_stat(std::to_string(pid));
  return s && s->state != 'Z';
}

// Live (non-zombie) processes whose process group is `pgid`.
std::vector<pid_t> live_in_group(pid_t pgid) {
  std::vector<pid_t> out;
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    auto s = proc_stat(name);
    if (s && s->pgrp == pgid && s->state != 'Z') out.push_back(static_cast<pid_t>(std::stol(name)));
  }
  return out;
}

std::vector<pid_t> pids_in(const fs::path& p) {
  std::vector<pid_t> out;
  for (const auto& l : lines_of(p))
    if (!l.empty() && l.find_first_not_of("0123456789") == std::string::npos) out.push_back(static_cast<pid_t>(std::stol(l)));
  return out;
}

// Process groups started by our runbooks' commands (each writes `echo $$`: a step's shell
// leads its own group). SIGKILLed at scope exit, so a failing test leaves nothing running.
struct GroupReaper {
  std::vector<fs::path> pid_files;
  ~GroupReaper() {
    for (const auto& f : pid_files)
      for (pid_t g : pids_in(f))
        if (g > 1 && !live_in_group(g).empty()) ::kill(-g, SIGKILL);
  }
};

std::vector<json> journal(const fs::path& state) {
  std::vector<json> out;
  for (const auto& l : lines_of(state / "journal.jsonl")) {
    if (l.empty()) continue;
    out.push_back(json::parse(l));
  }
  return out;
}

// Events of the last run (after the last {"event":"run"}).
std::vector<json> last_run(const std::vector<json>& events) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < events.size(); ++i)
    if (events[i].value("event", "") == "run") start = i;
  return {events.begin() + static_cast<std::ptrdiff_t>(start), events.end()};
}

std::vector<json> step_events(const std::vector<json>& events, const std::string& step, const std::string& kind = "") {
  std::vector<json> out;
  for (const auto& e : events)
    if (e.value("step", "") == step && (kind.empty() || e.value("event", "") == kind)) out.push_back(e);
  return out;
}

// The summary table drctl prints on stdout: "STEP HOST STATUS SECONDS ATTEMPTS" rows.
struct Row {
  std::string host, status;
  int attempts = -1;
};
std::map<std::string, Row> summary(const RunResult& r) {
  static const std::regex row(R"(^(\S+)\s+(\S+)\s+(\S.*?)\s+([0-9]+\.[0-9])\s+([0-9]+)$)");
  std::map<std::string, Row> out;
  bool in_table = false;
  for (const auto& l : r.out_lines()) {
    if (l.rfind("STEP ", 0) == 0) {
      in_table = true;
      continue;
    }
    std::smatch m;
    if (in_table && std::regex_match(l, m, row)) out[m[1]] = Row{m[2], m[3], std::stoi(m[5])};
  }
  return out;
}

std::map<std::string, std::string> statuses(const RunResult& r) {
  std::map<std::string, std::string> out;
  for (const auto& [id, row] : summary(r)) out[id] = row.status;
  return out;
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// drctl run RUNBOOK --state STATE [extra...]
RunResult run_book(const fs::path& rb, const fs::path& state, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"run", rb.string(), "--state", state.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return drctl(args);
}

std::unique_ptr<Process> start_book(const fs::path& rb, const fs::path& state, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"run", rb.string(), "--state", state.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return drctl_start(args);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// 1. Order, parallelism and the plan's waves.
TEST_CASE("runbook run: steps run in needs order and independent steps in parallel up to -j") {
  TempDir t("run-order");
  // a → {b, c} → d → f, and e alone before f. Each step logs its start and end.
  auto step = [](const std::string& id, const std::string& needs) {
    std::string s = "  - id: " + id + "\n";
    if (!needs.empty()) s += "    needs: " + needs + "\n";
    s += "    run: echo start-" + id + " >> {{runbook.dir}}/log; sleep 0.2; echo end-" + id + " >> {{runbook.dir}}/log\n";
    return s;
  };
  write_file(t / "dag.yaml", "name: dag\nsteps:\n" + step("f", "[d, e]") + step("d", "[b, c]") + step("b", "a") +
                                 step("a", "") + step("c", "a") + step("e", ""));
  RunResult r = run_book(t / "dag.yaml", t / "state-dag", {"-j", "2"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  auto log = lines_of(t / "log");
  INFO("log:\n" << joined(log));
  const std::map<std::string, std::vector<std::string>> needs = {
      {"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"d", {"b", "c"}}, {"e", {}}, {"f", {"d", "e"}}};
  for (const auto& [id, deps] : needs) {
    CHECK(count_of(log, "start-" + id) == 1);
    CHECK(count_of(log, "end-" + id) == 1);
    for (const auto& dep : deps) {
      CAPTURE(id);
      CAPTURE(dep);
      CHECK(index_of(log, "end-" + dep) >= 0);
      CHECK(index_of(log, "end-" + dep) < index_of(log, "start-" + id));
    }
  }
  // Never more than 2 steps at once with -j 2, and at some point 2 (a and e start together).
  int running = 0, most = 0;
  for (const auto& l : log) {
    running += l.rfind("start-", 0) == 0 ? 1 : -1;
    most = std::max(most, running);
  }
  CHECK(most == 2);
  auto st = statuses(r);
  CHECK(st.size() == 6);
  for (const auto& [id, s] : st) CHECK_MESSAGE(s == "done", id);

  // Two independent steps run side by side with -j 2 and by default: each marks that it started
  // and succeeds only when it sees the other start while it is still running (it gives up after
  // 60 s), so the runs below pass only if the steps overlapped, however busy the machine is.
  auto meet = [&](const std::string& name) {
    const std::string dir = (t / name).string();
    fs::create_directories(dir);
    auto step = [&](const std::string& me, const std::string& other) {
      return "  - id: " + me + "\n    run: touch " + dir + "/" + me + "; for i in $(seq 600); do [ -e " + dir + "/" +
             other + " ] && exit 0; sleep 0.1; done; exit 1\n";
    };
    write_file(t / (name + ".yaml"), "steps:\n" + step("a", "b") + step("b", "a"));
    return t / (name + ".yaml");
  };
  RunResult par = run_book(meet("meet-j2"), t / "state-par", {"-j", "2"});
  CHECK_MESSAGE(par.exit_code == 0, par.describe());
  RunResult dflt = run_book(meet("meet-default"), t / "state-par-default");
  CHECK_MESSAGE(dflt.exit_code == 0, dflt.describe());
  // Two independent 1 s steps with -j 1: one after the other, 2 s or more.
  write_file(t / "par.yaml", "steps:\n  - id: a\n    run: sleep 1\n  - id: b\n    run: sleep 1\n");
  RunResult serial = run_book(t / "par.yaml", t / "state-par-serial", {"-j", "1"});
  REQUIRE_MESSAGE(serial.exit_code == 0, serial.describe());
  CHECK_MESSAGE(serial.seconds >= 1.95, serial.describe());

  RunResult plan = drctl({"plan", (t / "par.yaml").string()});
  REQUIRE_MESSAGE(plan.exit_code == 0, plan.describe());
  auto pl = plan.out_lines();
  REQUIRE(!pl.empty());
  CHECK(pl[0] == "wave 1: a, b");
  CHECK_FALSE(contains(plan.out, "wave 2"));

  RunResult dag_plan = drctl({"plan", (t / "dag.yaml").string()});
  REQUIRE_MESSAGE(dag_plan.exit_code == 0, dag_plan.describe());
  auto dl = dag_plan.out_lines();
  REQUIRE(dl.size() >= 4);
  CHECK(dl[0] == "wave 1: a, e");
  CHECK(dl[1] == "wave 2: b, c");
  CHECK(dl[2] == "wave 3: d");
  CHECK(dl[3] == "wave 4: f");
}

// ---------------------------------------------------------------------------------------
// 2. Timeout: the whole process group is killed, retries with backoff, then exit 1.
TEST_CASE("runbook run: a step over its timeout is killed with its children and retried with backoff then fails") {
  TempDir t("run-timeout");
  GroupReaper reaper{{t / "shells"}};
  write_file(t / "rb.yaml", R"(steps:
  - id: slow
    timeout: 400ms
    retries: 2
    retry_delay: 200ms
    run: |
      echo attempt >> {{runbook.dir}}/attempts
      echo $$ >> {{runbook.dir}}/shells
      sleep 30 &
      echo $! >> {{runbook.dir}}/grandchildren
      echo partial output of the slow step
      sleep 30
  - id: after-slow
    needs: slow
    run: touch {{runbook.dir}}/after-slow-ran
  - id: independent
    run: echo independent >> {{runbook.dir}}/independent
)");
  RunResult r = run_book(t / "rb.yaml", t / "state");
  INFO(r.describe());
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 1);
  // 3 attempts of 400 ms, then 200 ms and 400 ms of backoff.
  CHECK(r.seconds >= 1.75);

  CHECK(lines_of(t / "attempts").size() == 3);
  auto shells = pids_in(t / "shells");
  auto grandchildren = pids_in(t / "grandchildren");
  CHECK(shells.size() == 3);
  CHECK(grandchildren.size() == 3);
  for (pid_t p : grandchildren) CHECK_MESSAGE(!alive(p), "grandchild " << p << " survived the timeout");
  for (pid_t g : shells) CHECK_MESSAGE(live_in_group(g).empty(), "process group " << g << " survived the timeout");

  // The journal: two retries with doubling delays (and really waited), then failed after 3 attempts.
  auto events = journal(t / "state");
  auto retries = step_events(events, "slow", "retry");
  REQUIRE(retries.size() == 2);
  CHECK(retries[0].value("attempt", 0) == 1);
  CHECK(retries[0].value("delay_ms", 0) == 200);
  CHECK(retries[1].value("attempt", 0) == 2);
  CHECK(retries[1].value("delay_ms", 0) == 400);
  auto failed = step_events(events, "slow", "failed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0].value("attempts", 0) == 3);
  CHECK(contains(failed[0].value("error", ""), "timed out"));
  CHECK(contains(failed[0].value("output", ""), "partial output of the slow step"));
  // retry 1 → retry 2: 200 ms backoff + a 400 ms attempt; retry 2 → failed: 400 ms + 400 ms.
  CHECK(retries[1].value("t", 0.0) - retries[0].value("t", 0.0) >= 0.55);
  CHECK(failed[0].value("t", 0.0) - retries[1].value("t", 0.0) >= 0.75);

  auto rows = summary(r);
  REQUIRE(rows.count("slow"));
  CHECK(rows["slow"].status == "failed");
  CHECK(rows["slow"].attempts == 3);
  CHECK(rows["after-slow"].status == "blocked");
  CHECK(rows["independent"].status == "done");
  CHECK_FALSE(fs::exists(t / "after-slow-ran"));
  CHECK(lines_of(t / "independent").size() == 1);

  // The failure on stderr: the step, its error, its command and the tail of its output.
  CHECK(contains(r.err, "failed slow"));
  CHECK(contains(r.err, "timed out"));
  CHECK(contains(r.err, "command: echo attempt >> " + (t / "attempts").string()));
  CHECK(contains(r.err, "| partial output of the slow step"));
}

// ---------------------------------------------------------------------------------------
// 3. SIGKILL in the middle of a run, then --resume.
namespace {

const char* kChain = R"(steps:
  - id: s1
    run: echo s1 >> {{runbook.dir}}/side
  - id: s2
    needs: s1
    run: echo s2 >> {{runbook.dir}}/side
  - id: s3
    needs: s2
    uses: shell.run
    with:
      unless: echo check-s3 >> {{runbook.dir}}/side; false
      command: echo $$ >> {{runbook.dir}}/s3.pgid; echo s3-start >> {{runbook.dir}}/side; sleep 2; echo s3-end >> {{runbook.dir}}/side
  - id: s4
    needs: s3
    run: echo s4 >> {{runbook.dir}}/side
  - id: s5
    needs: s4
    run: echo s5 >> {{runbook.dir}}/side
)";

// Starts the chain, SIGKILLs drctl once s3 has started for the `nth` time, and returns
// whether s3's process group outlived drctl (then kills it, so it cannot write s3-end).
bool kill_during_s3(const TempDir& t, int nth, std::vector<std::string> extra, bool kill_orphan = true) {
  auto p = start_book(t / "rb.yaml", t / "state", std::move(extra));
  bool started = wait_until([&] { return count_of(lines_of(t / "side"), "s3-start") >= static_cast<std::size_t>(nth); }, 20s);
  p->signal(SIGKILL);  // drctl's own process group: the steps' shells have groups of their own
  RunResult r = p->wait(10s);
  REQUIRE_MESSAGE(started, "s3 did not start: " << r.describe() << "side:\n" << joined(lines_of(t / "side")));
  CHECK_MESSAGE(r.term_signal == SIGKILL, r.describe());
  auto groups = pids_in(t / "s3.pgid");
  REQUIRE(groups.size() == static_cast<std::size_t>(nth));
  const pid_t g = groups.back();
  bool orphan = !live_in_group(g).empty();
  if (orphan && kill_orphan) {
    ::kill(-g, SIGKILL);
    CHECK(wait_until([&] { return live_in_group(g).empty(); }, 5s));
  }
  return orphan;
}

}  // namespace

TEST_CASE("runbook run: SIGKILL mid-run then --resume does not re-run finished steps and completes") {
  TempDir t("run-sigkill");
  GroupReaper reaper{{t / "s3.pgid"}};
  write_file(t / "rb.yaml", kChain);
  bool orphan = kill_during_s3(t, 1, {});
  // The step that was running when drctl was SIGKILLed keeps running, orphaned, until the
  // next run of the same state ends it (tested below); here the test ends it itself.
  (void)orphan;

  auto before = lines_of(t / "side");
  INFO("side after the kill:\n" << joined(before));
  CHECK(before == std::vector<std::string>{"s1", "s2", "check-s3", "s3-start"});
  auto events = journal(t / "state");
  REQUIRE(!step_events(events, "s3").empty());
  CHECK(step_events(events, "s3").back().value("event", "") == "started");
  CHECK(events.back().value("event", "") != "finish");

  RunResult r = run_book(t / "rb.yaml", t / "state", {"--resume"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  auto side = lines_of(t / "side");
  INFO("side after --resume:\n" << joined(side));
  CHECK(count_of(side, "s1") == 1);
  CHECK(count_of(side, "s2") == 1);
  CHECK(count_of(side, "check-s3") == 2);  // s3 was running: checked again ...
  CHECK(count_of(side, "s3-start") == 2);  // ... then applied again
  CHECK(count_of(side, "s3-end") == 1);
  CHECK(count_of(side, "s4") == 1);
  CHECK(count_of(side, "s5") == 1);
  CHECK(index_of(side, "check-s3", true) < index_of(side, "s3-start", true));
  CHECK(index_of(side, "s3-start", true) < index_of(side, "s3-end"));
  CHECK(index_of(side, "s3-end") < index_of(side, "s4"));
  CHECK(index_of(side, "s4") < index_of(side, "s5"));

  auto st = statuses(r);
  CHECK(st["s1"] == "reused");
  CHECK(st["s2"] == "reused");
  CHECK(st["s3"] == "done");
  CHECK(st["s4"] == "done");
  CHECK(st["s5"] == "done");
  auto resumed = last_run(journal(t / "state"));
  REQUIRE(!resumed.empty());
  CHECK(resumed.front().value("resume", false) == true);
  CHECK(step_events(resumed, "s1", "started").empty());
  CHECK(step_events(resumed, "s2", "started").empty());
  CHECK(resumed.back().value("event", "") == "finish");
  CHECK(resumed.back().value("ok", false) == true);
}

// A run, SIGKILLed; its --resume, SIGKILLed too; then --resume again. The steps finished in
// the first run must still not run again: the resumed run records the steps it reuses in the
// journal, so the third run knows s1 and s2 were done (a journal read from the last "run"
// event alone would forget them).
TEST_CASE("runbook run: a second SIGKILL during --resume then --resume again still does not re-run finished steps") {
  TempDir t("run-sigkill2");
  GroupReaper reaper{{t / "s3.pgid"}};
  write_file(t / "rb.yaml", kChain);
  kill_during_s3(t, 1, {});
  kill_during_s3(t, 2, {"--resume"});
  RunResult r = run_book(t / "rb.yaml", t / "state", {"--resume"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  auto side = lines_of(t / "side");
  INFO("side:\n" << joined(side) << r.describe());
  CHECK(count_of(side, "s1") == 1);
  CHECK(count_of(side, "s2") == 1);
  CHECK(count_of(side, "s3-start") == 3);
  CHECK(count_of(side, "s3-end") == 1);
  CHECK(count_of(side, "s4") == 1);
  CHECK(count_of(side, "s5") == 1);
  auto st = statuses(r);
  CHECK(st["s1"] == "reused");
  CHECK(st["s2"] == "reused");
}

// ---------------------------------------------------------------------------------------
// 4. Re-running a completed runbook applies nothing.
TEST_CASE("runbook run: re-running a completed runbook applies nothing and reports every step unchanged") {
  TempDir t("run-idem");
  write_file(t / "rb.yaml", R"(vars:
  greeting: hello
steps:
  - id: conf
    uses: file.put
    with:
      path: "{{runbook.dir}}/out/app.conf"
      content: "greeting={{greeting}}\n"
      mode: "0600"
  - id: make
    needs: conf
    uses: shell.run
    with:
      command: echo made >> {{runbook.dir}}/count-make; touch {{runbook.dir}}/out/made
      creates: "{{runbook.dir}}/out/made"
  - id: guarded
    uses: shell.run
    with:
      command: echo ran >> {{runbook.dir}}/count-guarded; echo x > {{runbook.dir}}/out/flag
      unless: test -e {{runbook.dir}}/out/flag
)");
  RunResult first = run_book(t / "rb.yaml", t / "state");
  REQUIRE_MESSAGE(first.exit_code == 0, first.describe());
  for (const auto& [id, s] : statuses(first)) CHECK_MESSAGE(s == "done", id);
  CHECK(read_file(t / "out/app.conf") == "greeting=hello\n");
  CHECK((lstat_or_throw(t / "out/app.conf").st_mode & 07777) == 0600);
  const ino_t inode = lstat_or_throw(t / "out/app.conf").st_ino;
  CHECK(lines_of(t / "count-make").size() == 1);
  CHECK(lines_of(t / "count-guarded").size() == 1);

  RunResult second = run_book(t / "rb.yaml", t / "state");  // not --resume: a new run
  REQUIRE_MESSAGE(second.exit_code == 0, second.describe());
  INFO(second.describe());
  auto rows = summary(second);
  CHECK(rows.size() == 3);
  for (const auto& [id, row] : rows) {
    CHECK_MESSAGE(row.status == "unchanged", id);
    CHECK_MESSAGE(row.attempts == 0, id);
  }
  CHECK(second.out_lines().back() == "3 unchanged");
  CHECK(lines_of(t / "count-make").size() == 1);
  CHECK(lines_of(t / "count-guarded").size() == 1);
  CHECK(lstat_or_throw(t / "out/app.conf").st_ino == inode);  // not rewritten
  auto events = last_run(journal(t / "state"));
  CHECK(events.front().value("resume", true) == false);
  for (const char* id : {"conf", "make", "guarded"}) {
    CHECK(step_events(events, id, "unchanged").size() == 1);
    CHECK(step_events(events, id, "done").empty());
  }

  // The check compares the desired state: a changed file is put back, the rest stays.
  write_file(t / "out/app.conf", "greeting=changed by hand\n", 0600);
  RunResult third = run_book(t / "rb.yaml", t / "state");
  REQUIRE_MESSAGE(third.exit_code == 0, third.describe());
  auto st = statuses(third);
  CHECK(st["conf"] == "done");
  CHECK(st["make"] == "unchanged");
  CHECK(st["guarded"] == "unchanged");
  CHECK(read_file(t / "out/app.conf") == "greeting=hello\n");
  CHECK(lines_of(t / "count-make").size() == 1);
}

// n1 is listed by the group, n2 names the group itself: both are members of `workers`.
const char* const kTwoLocalHosts = R"(hosts:
  n1:
    connection: local
  n2:
    connection: local
    groups: [workers]
groups:
  workers: [n1]
)";

// ---------------------------------------------------------------------------------------
// 5. Validation errors: exit 2, one "drctl: error: FILE:LINE:COL: message" line, nothing run.
TEST_CASE("runbook run: every validation error exits 2 with one file:line:col line and runs nothing") {
  TempDir t("run-validate");
  write_file(t / "site.yaml", kTwoLocalHosts);
  write_file(t / "bad-site.yaml", "hosts:\n  n1:\n    connection: local\n    adress: 10.0.0.1\n");
  // Line 2-3 of every runbook below: a first step that would create the marker.
  const std::string first = "  - id: first\n    run: touch {{runbook.dir}}/marker\n";
  struct Case {
    std::string name, yaml, file, where, message;
  };
  const std::vector<Case> cases = {
      {"yaml syntax", "steps:\n" + first + "  - id: b\n    run: echo: a: b\n", "", "5:14", "illegal map value"},
      {"unknown key", "steps:\n" + first + "  - id: b\n    run: x\n    neds: first\n", "", "6:5",
       "unknown key 'neds' in a step (did you mean 'needs'?)"},
      {"unknown action", "steps:\n" + first + "  - id: b\n    uses: shell.rnu\n", "", "5:11",
       "unknown action 'shell.rnu' (did you mean 'shell.run'?)"},
      {"duplicate id", "steps:\n" + first + "  - id: b\n    run: x\n  - id: first\n    run: y\n", "", "6:9",
       "duplicate step id 'first' (first defined at line 2)"},
      {"needs no step", "steps:\n" + first + "  - id: b\n    run: x\n    needs: [first, nope]\n", "", "6:20",
       "step 'b' needs 'nope', which is no step"},
      {"cycle",
       "steps:\n" + first +
           "  - id: a\n    run: x\n    needs: b\n  - id: b\n    run: x\n    needs: c\n  - id: c\n    run: x\n    needs: a\n",
       "", "4:5", "dependency cycle: a → b → c → a (each step needs the next)"},
      {"missing input", "steps:\n" + first + "  - id: w\n    uses: wait.tcp\n    with:\n      host: 127.0.0.1\n", "",
       "6:5", "missing input 'port' for wait.tcp (step 'w')"},
      {"wrongly typed input",
       "steps:\n" + first + "  - id: w\n    uses: wait.tcp\n    with:\n      host: 127.0.0.1\n      port: \"abc\"\n", "",
       "8:13", "input 'port' of wait.tcp must be an integer, not 'abc'"},
      {"bad duration", "steps:\n" + first + "  - id: b\n    run: x\n    timeout: ten minutes\n", "", "6:14",
       "bad duration 'ten minutes' (e.g. 90, 90s, 1h30m, 1.5s)"},
      {"for_each over a non-list",
       "vars:\n  region: south\nsteps:\n" + first + "  - id: b\n    run: echo {{item}}\n    for_each: \"{{region}}\"\n", "",
       "8:15", "for_each needs a list: 'region' is a string"},
      {"undefined template variable",
       "vars:\n  region: south\nsteps:\n" + first + "  - id: b\n    run: echo {{regoin}}\n", "", "7:15",
       "undefined template variable 'regoin' (did you mean 'region'?)"},
      {"unknown group in on", "site: site.yaml\nsteps:\n" + first + "  - id: b\n    run: x\n    on: wrokers\n", "",
       "7:9", "unknown host or group 'wrokers' (did you mean 'workers'?)"},
      {"unknown host in on", "site: site.yaml\nsteps:\n" + first + "  - id: b\n    run: x\n    on: n3\n", "", "7:9",
       "unknown host or group 'n3'"},
      {"error in the site file", "site: bad-site.yaml\nsteps:\n" + first, "bad-site.yaml", "4:5",
       "unknown key 'adress' in host 'n1' (did you mean 'address'?)"},
  };
  int n = 0;
  for (const auto& c : cases) {
    CAPTURE(c.name);
    const fs::path rb = t / ("case" + std::to_string(++n) + ".yaml");
    const fs::path state = t / ("state" + std::to_string(n));
    write_file(rb, c.yaml);
    RunResult r = run_book(rb, state);
    INFO(r.describe());
    CHECK(r.exit_code == 2);
    CHECK(is_one_error_line(r.err));
    const std::string file = c.file.empty() ? rb.string() : (t / c.file).string();
    const std::string prefix = "drctl: error: " + file + ":" + c.where + ": ";
    CHECK_MESSAGE(r.err.rfind(prefix, 0) == 0, "expected the line to start with: " << prefix);
    CHECK_MESSAGE(contains(r.err, c.message), "expected the message: " << c.message);
    CHECK(r.out.empty());
    CHECK_FALSE(fs::exists(t / "marker"));
    CHECK_FALSE(fs::exists(state / "journal.jsonl"));
    if (c.name == "cycle") {  // plan checks the same way
      RunResult p = drctl({"plan", rb.string()});
      CHECK(p.exit_code == 2);
      CHECK(is_one_error_line(p.err));
      CHECK(p.err.rfind(prefix, 0) == 0);
    }
  }
  // The first step alone is a valid runbook: the marker really would have been made.
  write_file(t / "good.yaml", "steps:\n" + first);
  RunResult good = run_book(t / "good.yaml", t / "state-good");
  REQUIRE_MESSAGE(good.exit_code == 0, good.describe());
  CHECK(fs::exists(t / "marker"));
}

// ---------------------------------------------------------------------------------------
// 6. --dry-run renders every template into --render-dir and runs nothing.
TEST_CASE("runbook run: --dry-run writes the rendered files and runs nothing") {
  TempDir t("run-dry");
  write_file(t / "site.yaml", R"(hosts:
  n1:
    connection: local
    mac: "52:54:00:00:00:01"
  n2:
    connection: local
    mac: "52:54:00:00:00:02"
groups:
  workers: [n1, n2]
vars:
  domain: lab.example
)");
  write_file(t / "rb.yaml", R"(site: site.yaml
vars:
  greeting: hi
steps:
  - id: init
    run: echo token-123; touch {{runbook.dir}}/marker-init
  - id: conf
    needs: init
    uses: file.put
    for_each: [alpha, beta]
    with:
      path: "{{runbook.dir}}/out/{{item}}.conf"
      content: "{{greeting}} {{domain}} {{item}} {{steps.init.outputs.stdout}}\n"
      mode: "0600"
  - id: join
    needs: conf
    on: workers
    run: echo {{host.name}} {{host.mac}} {{steps.init.outputs.stdout}} > {{runbook.dir}}/marker-{{host.name}}
)");
  const fs::path rd = t / "rendered";
  RunResult r = run_book(t / "rb.yaml", t / "state", {"--dry-run", "--render-dir", rd.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  INFO(r.describe());
  CHECK(contains(r.out, "nothing was run"));
  const std::string dir = t.str();

  CHECK(read_file(rd / "init/command.sh") == "echo token-123; touch " + dir + "/marker-init\n");
  json init = json::parse(read_file(rd / "init/inputs.json"));
  CHECK(init.value("command", "") == "echo token-123; touch " + dir + "/marker-init");

  for (const std::string item : {"alpha", "beta"}) {
    CAPTURE(item);
    const fs::path d = rd / ("conf[" + item + "]");
    CHECK(read_file(d / "content") == "hi lab.example " + item + " <init.stdout>\n");
    json in = json::parse(read_file(d / "inputs.json"));
    CHECK(in.value("path", "") == dir + "/out/" + item + ".conf");
    CHECK(in.value("mode", "") == "0600");
    CHECK(in.value("content", "") == "hi lab.example " + item + " <init.stdout>\n");
  }
  for (const auto& [host, mac] : std::map<std::string, std::string>{{"n1", "52:54:00:00:00:01"}, {"n2", "52:54:00:00:00:02"}}) {
    CAPTURE(host);
    CHECK(read_file(rd / ("join[" + host + "]") / "command.sh") ==
          "echo " + host + " " + mac + " <init.stdout> > " + dir + "/marker-" + host + "\n");
  }
  // What would run where, on stderr.
  CHECK(contains(r.err, "would run init on local"));
  CHECK(contains(r.err, "would run join[n2] on n2"));

  // Nothing ran: no markers, no written files, no step in a journal.
  for (const char* f : {"marker-init", "marker-n1", "marker-n2", "out"}) CHECK_FALSE(fs::exists(t / f));
  for (const auto& e : journal(t / "state")) CHECK_MESSAGE(!e.contains("step"), e.dump());
}

// ---------------------------------------------------------------------------------------
// 7. drctl plan: waves, the critical path with timeouts, and Graphviz output.
TEST_CASE("runbook plan: waves and the critical path with timeouts, and --format dot parses with dot -Tsvg") {
  TempDir t("plan");
  write_file(t / "site.yaml", "hosts:\n  n1:\n    connection: local\ngroups:\n  workers: [n1]\n");
  write_file(t / "rb.yaml", R"(name: "plan \"quoted\" \\ test"
site: site.yaml
steps:
  - id: a
    run: "true"
    timeout: 10m
  - id: b
    needs: a
    run: "true"
    timeout: 20m
  - id: side
    run: "true"
    estimate: 5m
  - id: join.all
    needs: [b, side]
    on: workers
    uses: wait.tcp
    with: {host: 127.0.0.1, port: 1}
)");
  RunResult text = drctl({"plan", (t / "rb.yaml").string()});
  REQUIRE_MESSAGE(text.exit_code == 0, text.describe());
  INFO(text.describe());
  auto lines = text.out_lines();
  REQUIRE(lines.size() == 4);
  CHECK(lines[0] == "wave 1: a, side");
  CHECK(lines[1] == "wave 2: b");
  CHECK(lines[2] == "wave 3: join.all");
  CHECK(lines[3].rfind("critical path: a (at most 10m) → b (at most 20m) → join.all (?) = 30m", 0) == 0);

  write_file(t / "chain.yaml",
             "steps:\n  - id: a\n    run: 'true'\n    timeout: 10m\n  - id: b\n    needs: a\n    run: 'true'\n    timeout: 20m\n");
  RunResult chain = drctl({"plan", (t / "chain.yaml").string()});
  REQUIRE_MESSAGE(chain.exit_code == 0, chain.describe());
  CHECK(chain.out == "wave 1: a\nwave 2: b\ncritical path: a (at most 10m) → b (at most 20m) = 30m\n");

  RunResult dot = drctl({"plan", "--format", "dot", (t / "rb.yaml").string()});
  REQUIRE_MESSAGE(dot.exit_code == 0, dot.describe());
  for (const char* edge : {"\"a\" -> \"b\"", "\"b\" -> \"join.all\"", "\"side\" -> \"join.all\""})
    CHECK_MESSAGE(contains(dot.out, edge), edge << "\n" << dot.out);
  write_file(t / "plan.dot", dot.out);
  RunResult svg = run({"dot", "-Tsvg", (t / "plan.dot").string(), "-o", (t / "plan.svg").string()});
  REQUIRE_MESSAGE(svg.exit_code == 0, "graphviz dot (installed by tools/setup) rejected drctl's output:\n"
                                          << svg.describe() << "\n" << dot.out);
  CHECK(svg.err.empty());
  const std::string image = read_file(t / "plan.svg");
  CHECK(contains(image, "<svg"));
  CHECK(contains(image, "join.all"));
}

// ---------------------------------------------------------------------------------------
// 8. Ctrl-C: running steps are killed, recorded as interrupted, exit 130; --resume re-runs them.
TEST_CASE("runbook run: SIGINT kills the running step's processes, records it interrupted, exits 130, and --resume re-runs it") {
  TempDir t("run-sigint");
  GroupReaper reaper{{t / "long.pgid"}};
  write_file(t / "rb.yaml", R"(steps:
  - id: first
    run: echo first >> {{runbook.dir}}/log
  - id: long
    needs: first
    run: |
      if [ -e {{runbook.dir}}/long.gc ]; then echo long-again >> {{runbook.dir}}/log; exit 0; fi
      echo $$ > {{runbook.dir}}/long.pgid
      sleep 30 &
      echo $! > {{runbook.dir}}/long.gc
      echo long-start >> {{runbook.dir}}/log
      sleep 30
  - id: after
    needs: long
    run: echo after >> {{runbook.dir}}/log
)");
  auto p = start_book(t / "rb.yaml", t / "state");
  bool started = wait_until([&] { return count_of(lines_of(t / "log"), "long-start") == 1; }, 20s);
  if (!started) p->signal(SIGKILL);
  REQUIRE_MESSAGE(started, p->wait(10s).describe());
  const auto pgid = pids_in(t / "long.pgid");
  const auto gc = pids_in(t / "long.gc");
  REQUIRE(pgid.size() == 1);
  REQUIRE(gc.size() == 1);
  REQUIRE(alive(gc[0]));

  p->signal(SIGINT);  // to drctl's process group, like a terminal's Ctrl-C
  RunResult r = p->wait(150s);
  INFO(r.describe());
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 130);  // interrupted: a run whose step's sleep 30 ran out would not exit 130
  CHECK_MESSAGE(!alive(gc[0]), "the step's background grandchild survived Ctrl-C");
  CHECK_MESSAGE(live_in_group(pgid[0]).empty(), "the step's process group survived Ctrl-C");
  CHECK(statuses(r)["long"] == "interrupted");
  CHECK(count_of(lines_of(t / "log"), "after") == 0);

  auto events = journal(t / "state");
  auto interrupted = step_events(events, "long", "interrupted");
  CHECK(interrupted.size() == 1);
  REQUIRE(!events.empty());
  CHECK(events.back().value("event", "") == "finish");
  CHECK(events.back().value("interrupted", false) == true);

  RunResult resumed = run_book(t / "rb.yaml", t / "state", {"--resume"});
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.describe());
  auto log = lines_of(t / "log");
  INFO("log:\n" << joined(log));
  CHECK(count_of(log, "first") == 1);
  CHECK(count_of(log, "long-again") == 1);
  CHECK(count_of(log, "after") == 1);
  auto st = statuses(resumed);
  CHECK(st["first"] == "reused");
  CHECK(st["long"] == "done");
  CHECK(st["after"] == "done");
}

// ---------------------------------------------------------------------------------------
// 9. Fan-out over an `on:` group and `for_each`, and --only / --from.
TEST_CASE("runbook run: on a group with for_each runs one instance per host and item") {
  TempDir t("run-fanout");
  // n1 is listed by the group, n2 names the group itself: both are members.
  write_file(t / "site.yaml", kTwoLocalHosts);
  write_file(t / "rb.yaml", R"(site: site.yaml
steps:
  - id: fan
    on: workers
    for_each: [x, y]
    run: mkdir -p {{runbook.dir}}/out && echo "{{host.name}} {{item}}" > {{runbook.dir}}/out/{{host.name}}-{{item}}
)");
  RunResult r = run_book(t / "rb.yaml", t / "state");
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  INFO(r.describe());
  std::set<std::string> files;
  for (const auto& e : fs::directory_iterator(t / "out")) files.insert(e.path().filename().string());
  CHECK(files == std::set<std::string>{"n1-x", "n1-y", "n2-x", "n2-y"});
  for (const std::string host : {"n1", "n2"})
    for (const std::string item : {"x", "y"}) CHECK(read_file(t / "out" / (host + "-" + item)) == host + " " + item + "\n");
  auto rows = summary(r);
  CHECK(rows.size() == 4);
  for (const std::string host : {"n1", "n2"})
    for (const std::string item : {"x", "y"}) {
      const std::string id = "fan[" + host + "][" + item + "]";
      CAPTURE(id);
      REQUIRE(rows.count(id));
      CHECK(rows[id].host == host);
      CHECK(rows[id].status == "done");
    }
}

TEST_CASE("runbook run: --only and --from run part of the DAG and report needed steps they do not run") {
  TempDir t("run-only");
  write_file(t / "rb.yaml", R"(steps:
  - id: a
    run: echo a >> {{runbook.dir}}/log
  - id: b
    needs: a
    run: echo b >> {{runbook.dir}}/log
  - id: c
    needs: b
    run: echo c >> {{runbook.dir}}/log
  - id: d
    needs: c
    run: echo d >> {{runbook.dir}}/log
  - id: e
    run: echo e >> {{runbook.dir}}/log
)");
  RunResult only = run_book(t / "rb.yaml", t / "state", {"--only", "c"});
  REQUIRE_MESSAGE(only.exit_code == 0, only.describe());
  {
    INFO(only.describe());
    CHECK(lines_of(t / "log") == std::vector<std::string>{"c"});
    CHECK(contains(only.err, "not running b, which a selected step needs"));
    CHECK_FALSE(contains(only.err, "not running d"));
    CHECK_FALSE(contains(only.err, "not running e"));
    auto st = statuses(only);
    CHECK(st["c"] == "done");
    for (const char* id : {"a", "b", "d", "e"}) CHECK_MESSAGE(st[id] == "not selected", id);
  }
  fs::remove(t / "log");
  RunResult from = run_book(t / "rb.yaml", t / "state", {"--from", "c"});
  REQUIRE_MESSAGE(from.exit_code == 0, from.describe());
  {
    INFO(from.describe());
    CHECK(lines_of(t / "log") == std::vector<std::string>{"c", "d"});
    CHECK(contains(from.err, "not running b, which a selected step needs"));
    auto st = statuses(from);
    CHECK(st["c"] == "done");
    CHECK(st["d"] == "done");
    for (const char* id : {"a", "b", "e"}) CHECK_MESSAGE(st[id] == "not selected", id);
  }
  fs::remove(t / "log");
  RunResult none = run_book(t / "rb.yaml", t / "state", {"--only", "zz"});
  CHECK_MESSAGE(none.exit_code == 2, none.describe());
  CHECK(is_one_error_line(none.err));
  CHECK(contains(none.err, "no step 'zz'"));
  CHECK_FALSE(fs::exists(t / "log"));
}

// ---------------------------------------------------------------------------------------
// 10. --report FILE.json.
TEST_CASE("runbook run: --report writes the summary as JSON with each step's status and attempts") {
  TempDir t("run-report");
  write_file(t / "rb.yaml", R"(steps:
  - id: ok
    run: "true"
  - id: flaky
    retries: 1
    retry_delay: 100ms
    run: test -e {{runbook.dir}}/flag || { touch {{runbook.dir}}/flag; exit 3; }
  - id: bad
    run: exit 4
  - id: blocked
    needs: bad
    run: "true"
  - id: skipped
    when: "no"
    run: "true"
)");
  const fs::path report = t / "report.json";
  RunResult r = run_book(t / "rb.yaml", t / "state", {"--report", report.string()});
  INFO(r.describe());
  CHECK(r.exit_code == 1);
  REQUIRE(fs::exists(report));
  json j = json::parse(read_file(report));
  INFO(j.dump(2));
  CHECK(j.value("ok", true) == false);
  CHECK(j.value("interrupted", true) == false);
  CHECK(j.value("file", "") == (t / "rb.yaml").string());
  REQUIRE(j.contains("steps"));
  REQUIRE(j["steps"].is_array());
  std::map<std::string, json> steps;
  for (const auto& s : j["steps"]) steps[s.value("id", "")] = s;
  const std::map<std::string, std::pair<std::string, int>> expected = {
      {"ok", {"done", 1}}, {"flaky", {"done", 2}}, {"bad", {"failed", 1}}, {"blocked", {"blocked", 0}}, {"skipped", {"skipped", 0}}};
  CHECK(steps.size() == expected.size());
  auto rows = summary(r);
  for (const auto& [id, want] : expected) {
    CAPTURE(id);
    REQUIRE(steps.count(id));
    CHECK(steps[id].value("status", "") == want.first);
    CHECK(steps[id].value("attempts", -1) == want.second);
    CHECK(steps[id].value("host", "") == "local");
    CHECK(steps[id]["seconds"].is_number());
    // The same as the table on stdout.
    CHECK(rows[id].status == want.first);
    CHECK(rows[id].attempts == want.second);
  }
  CHECK(contains(steps["bad"].value("error", ""), "status 4"));

  // A successful run's report says ok.
  write_file(t / "ok.yaml", "steps:\n  - id: one\n    run: \"true\"\n");
  RunResult good = run_book(t / "ok.yaml", t / "state-ok", {"--report", (t / "ok.json").string()});
  REQUIRE_MESSAGE(good.exit_code == 0, good.describe());
  json k = json::parse(read_file(t / "ok.json"));
  CHECK(k.value("ok", false) == true);
  REQUIRE(k["steps"].size() == 1);
  CHECK(k["steps"][0].value("status", "") == "done");
  CHECK(k["steps"][0].value("attempts", 0) == 1);
}

TEST_CASE("runbook run: --resume after SIGKILL first ends the step the killed run left running") {
  TempDir t("run-orphan");
  GroupReaper reaper{{t / "s3.pgid"}};
  write_file(t / "rb.yaml", kChain);
  const bool orphan = kill_during_s3(t, 1, {}, /*kill_orphan=*/false);
  REQUIRE_MESSAGE(orphan, "the step did not outlive drctl: nothing to test");
  const pid_t g = pids_in(t / "s3.pgid").back();

  RunResult r = run_book(t / "rb.yaml", t / "state", {"--resume"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK_MESSAGE(r.err.find("processes the interrupted run left behind") != std::string::npos, r.describe());
  CHECK(live_in_group(g).empty());
  auto side = lines_of(t / "side");
  INFO("side after --resume:\n" << joined(side));
  CHECK(count_of(side, "s3-start") == 2);
  CHECK(count_of(side, "s3-end") == 1);  // only the re-applied s3 finished
  CHECK(count_of(side, "s5") == 1);
}

TEST_CASE("runbook run: two runs cannot share a state directory") {
  TempDir t("run-shared-state");
  write_file(t / "rb.yaml", "name: slow\nsteps:\n  - id: a\n    run: sleep 2\n");
  auto first = start_book(t / "rb.yaml", t / "state", {});
  REQUIRE(wait_until([&] { return fs::exists(t / "state" / "journal.jsonl"); }, 10s));
  RunResult second = run_book(t / "rb.yaml", t / "state", {});
  CHECK(second.exit_code == 1);
  CHECK_MESSAGE(second.err.find("another drctl run is using the state directory") != std::string::npos, second.describe());
  RunResult r = first->wait(20s);
  CHECK_MESSAGE(r.exit_code == 0, r.describe());
}

TEST_CASE("runbook run: file.put renders a template file relative to the runbook, also in --dry-run") {
  TempDir t("run-template");
  fs::create_directories(t / "templates");
  write_file(t / "templates/motd.mustache", "site {{site.name}}: {{greeting}} from {{host.name}}\n");
  write_file(t / "site.yaml", "name: lab\nhosts:\n  n1:\n    connection: local\n");
  const std::string out = (t / "motd").string();
  write_file(t / "rb.yaml", "name: tpl\nsite: site.yaml\nvars:\n  greeting: hello\nsteps:\n  - id: motd\n    uses: file.put\n    on: n1\n    with:\n      path: " + out + "\n      template: ./templates/motd.mustache\n      mode: \"0640\"\n");
  RunResult dry = run_book(t / "rb.yaml", t / "state", {"--dry-run", "--render-dir", (t / "rendered").string()});
  REQUIRE_MESSAGE(dry.exit_code == 0, dry.describe());
  CHECK(read_file(t / "rendered/motd/content") == "site lab: hello from n1\n");
  CHECK_FALSE(fs::exists(out));
  RunResult r = run_book(t / "rb.yaml", t / "state");
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(read_file(out) == "site lab: hello from n1\n");
  CHECK((fs::status(out).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read));
  RunResult again = run_book(t / "rb.yaml", t / "state");
  CHECK_MESSAGE(again.out.find("unchanged") != std::string::npos, again.describe());
  write_file(t / "templates/motd.mustache", "{{nope}}\n");
  RunResult bad = run_book(t / "rb.yaml", t / "state");
  CHECK(bad.exit_code == 1);
  CHECK_MESSAGE(bad.err.find("nope") != std::string::npos, bad.describe());
}

TEST_CASE("runbook run: the site's secrets reach templates but never the output, errors, journal or report") {
  TempDir t("run-secrets");
  const std::string token = "s3cr3t-T0ken-value-4711";
  write_file(t / "site.yaml", "name: lab\nsecrets: secrets.yaml\nhosts:\n  me: {connection: local}\n");
  write_file(t / "secrets.yaml", "api_token: \"" + token + "\"\n");
  write_file(t / "rb.yaml", R"(site: site.yaml
steps:
  - id: use
    on: me
    uses: file.put
    with: {path: "{{runbook.dir}}/out/app.env", content: "TOKEN={{secrets.api_token}}\n", mode: "0600"}
  - id: shout
    on: me
    run: echo "the token is {{secrets.api_token}}"
  - id: fail
    on: me
    run: echo "bad token {{secrets.api_token}}" >&2; exit 3
)");
  ::chmod((t / "secrets.yaml").c_str(), 0644);
  RunResult r = run_book(t / "rb.yaml", t / "state", {"--report", (t / "report.json").string()});
  CHECK(r.exit_code == 1);
  CHECK(read_file(t / "out/app.env") == "TOKEN=" + token + "\n");  // the template got it
  CHECK_MESSAGE(r.err.find("secrets.yaml is readable by others (mode 0644): chmod 600") != std::string::npos, r.describe());
  ::chmod((t / "secrets.yaml").c_str(), 0600);
  CHECK(run_book(t / "rb.yaml", t / "state-quiet").err.find("readable by others") == std::string::npos);
  std::string everything = r.out + r.err + read_file(t / "report.json");
  for (const auto& e : fs::recursive_directory_iterator(t / "state"))
    if (e.is_regular_file()) everything += read_file(e.path());
  CHECK(everything.find(token) == std::string::npos);
  CHECK_MESSAGE(everything.find("«secret:api_token»") != std::string::npos, r.describe());

  // A bad secrets file is one error line naming it.
  write_file(t / "secrets.yaml", "api_token: [not, a, string]\n");
  RunResult bad = run_book(t / "rb.yaml", t / "state2");
  CHECK(bad.exit_code == 2);
  CHECK(is_one_error_line(bad.err));
  CHECK(bad.err.find("secrets.yaml:1:12: secret api_token: a string") != std::string::npos);
}

TEST_CASE("runbook run: when compares with == and != and joins terms with and") {
  TempDir t("run-when");
  write_file(t / "rb.yaml", R"(vars: {method: etcd, restore: true, off: false}
steps:
  - {id: equal, run: "touch {{runbook.dir}}/equal", when: "{{method}} == etcd"}
  - {id: differs, run: "touch {{runbook.dir}}/differs", when: "{{method}} != etcd"}
  - {id: both, run: "touch {{runbook.dir}}/both", when: "{{restore}} and {{method}} == etcd"}
  - {id: one-false, run: "touch {{runbook.dir}}/one-false", when: "{{restore}} and {{off}}"}
  - {id: negated, run: "touch {{runbook.dir}}/negated", when: "{{restore}} and not {{off}}"}
)");
  RunResult r = run_book(t / "rb.yaml", t / "state");
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(fs::exists(t / "equal"));
  CHECK_FALSE(fs::exists(t / "differs"));
  CHECK(fs::exists(t / "both"));
  CHECK_FALSE(fs::exists(t / "one-false"));
  CHECK(fs::exists(t / "negated"));
}
