#include <doctest/doctest.h>

#include <pugixml.hpp>

#include <algorithm>
#include <set>
#include <sstream>

#include "drill/html_report.hpp"
#include "drill/report.hpp"
#include "support/run.hpp"

using namespace drctl::drill;

namespace {

RunResult run_of(const std::string& scenario, std::uint64_t seed, double rto) {
  RunResult r;
  r.scenario = scenario;
  r.file = "runbooks/homelab/drills/" + scenario + ".yaml";
  r.seed = seed;
  r.passed = true;
  r.rto_min = rto;
  r.rpo_min = 60;
  return r;
}

/// A passing total-loss run with a timeline, a fault that fired and one that did not.
RunResult passing() {
  RunResult r = run_of("total-loss", 1, 38.5);
  r.writes_lost = 12;
  r.bytes_lost_expected = 4096;
  r.timeline = {{"pxe-install:worker-1", "esxi01", "done", 4.0, 21.25, 2, "", ""},
                {"backup:capture-nas", "truenas", "done", 0.0, 2.5, 1, "", ""},
                {"verify-ingress", "pfsense", "done", 30.0, 38.5, 1, "", ""}};
  r.faults = {{12.0, "power-off", "worker-1", "step pxe-install:worker-1 started", true}};
  r.not_fired = {"dhcp-stop pfsense"};
  r.wall_seconds = 0.25;
  return r;
}

/// A total-loss run that failed at the data restore.
RunResult failing() {
  RunResult r = run_of("total-loss", 2, 17.0);
  r.passed = false;
  r.files_differing = 3;
  r.bytes_differing = 900;
  StepTiming restore{"restore-data", "truenas", "failed", 10.0, 17.0, 3, "no space left on device (tank/blog)", ""};
  r.timeline = {{"backup:capture-nas", "truenas", "done", 0.0, 2.5, 1, "", ""}, restore};
  r.first_failure = restore;
  r.failures = {"step restore-data failed: no space left on device (tank/blog)",
                "verify.data: 3 files differ from the snapshot"};
  r.wall_seconds = 0.5;
  return r;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("drill report: nearest-rank RTO percentiles over 1, 2 and 20 seeds") {
  std::vector<RunResult> runs = {run_of("one", 1, 42.0), run_of("two", 1, 30.0), run_of("two", 2, 10.0)};
  for (std::uint64_t seed = 1; seed <= 20; ++seed) runs.push_back(run_of("twenty", seed, 21.0 - seed));  // 20..1
  runs.back().passed = false;

  auto s = summarize(runs);
  REQUIRE(s.size() == 3);
  CHECK(s["one"] == Summary{1, 1, 1, 42.0, 42.0, 42.0, 42.0});
  CHECK(s["two"] == Summary{2, 2, 2, 10.0, 10.0, 30.0, 30.0});  // p50 of 2 is rank 1, p95 rank 2
  CHECK(s["twenty"] == Summary{20, 19, 20, 1.0, 10.0, 19.0, 20.0});  // ranks 10 and 19 of 1..20
}

TEST_CASE("drill report: expected-failure runs count for pass and fail but not for RTO") {
  RunResult expected = run_of("nas-full", 3, 5.0);
  expected.expected_failure = true;
  RunResult unexpected = run_of("nas-full", 4, 7.0);
  unexpected.expected_failure = true;
  unexpected.passed = false;  // failed elsewhere than expected
  std::vector<RunResult> runs = {run_of("mixed", 1, 40.0), expected, run_of("mixed", 2, 50.0)};
  runs[1].scenario = "mixed";
  runs.push_back(unexpected);

  auto s = summarize(runs);
  CHECK(s["mixed"] == Summary{3, 3, 2, 40.0, 40.0, 50.0, 50.0});
  CHECK(s["nas-full"] == Summary{1, 0, 0, 0.0, 0.0, 0.0, 0.0});
  std::string text = text_report(runs, false);
  CHECK(contains(text, "nas-full: 1 run, 0 passed; RTO n/a"));
  CHECK(contains(text, "mixed: 3 runs, 3 passed; RTO min 40.0 / p50 40.0 / p95 50.0 / max 50.0 min"));
}

TEST_CASE("drill report: the text of a passing run has the timeline, the faults, RTO, RPO and the verdict") {
  std::string text = text_report({passing()}, true);
  INFO(text);
  CHECK(contains(text, "PASS total-loss seed 1: RTO 38.5 min, RPO 60.0 min, 0 files lost beyond RPO"));
  CHECK(contains(text, "RPO 60.0 min (last snapshot to disaster): 12 writes, 4096 bytes lost as expected"));
  CHECK(contains(text, "Lost beyond RPO: 0 files, 0 bytes"));
  CHECK(contains(text, "power-off worker-1 (step pxe-install:worker-1 started), undone"));
  CHECK(contains(text, "never fired: dhcp-stop pfsense"));
  CHECK_FALSE(contains(text, "FAIL"));

  auto lines = lines_of(text);
  auto step_line = [&](const std::string& id) {
    return std::find_if(lines.begin(), lines.end(), [&](const std::string& l) { return contains(l, id); });
  };
  auto backup = step_line("backup:capture-nas"), install = step_line("pxe-install:worker-1 "),
       verify = step_line("verify-ingress");
  REQUIRE(install != lines.end());
  CHECK(backup < install);  // ordered by start time, not as given
  CHECK(install < verify);
  CHECK(contains(*install, "4.0-21.2"));
  CHECK(contains(*install, "esxi01"));
  CHECK(contains(*install, "2 attempts"));
  for (const std::string& line : lines) CHECK(line.size() <= 100);

  std::string brief = text_report({passing()}, false);
  CHECK_FALSE(contains(brief, "verify-ingress"));
  CHECK(contains(brief, "PASS total-loss seed 1: RTO 38.5 min"));
}

TEST_CASE("drill report: the text of a failing run names the failing step and its cause") {
  std::string text = text_report({failing()}, true);
  INFO(text);
  CHECK(contains(text, "FAIL total-loss seed 2: step restore-data failed: no space left on device (tank/blog) "
                       "(+1 more)"));
  CHECK(contains(text, "First failing step: restore-data on truenas after 3 attempts: no space left on device"));
  CHECK(contains(text, "  - verify.data: 3 files differ from the snapshot"));
  CHECK(contains(text, "error: no space left on device (tank/blog)"));  // under the step in the timeline
  // The rebuild stopped at restore-data: its 17 minutes are no recovery time.
  CHECK(contains(text, "RTO: not reached (failed at restore-data)"));
  CHECK_FALSE(contains(text, "RTO 17.0"));
  CHECK(contains(text, "Lost beyond RPO: 3 files, 900 bytes"));
}

TEST_CASE("drill report: several seeds give a line per run and the summary per scenario") {
  RunResult nas = run_of("nas-full", 1, 0);
  nas.expected_failure = true;
  nas.first_failure = StepTiming{"restore-data", "truenas", "failed", 10, 12, 1, "no space", ""};
  std::string text = text_report({passing(), failing(), nas}, false);
  INFO(text);
  auto lines = lines_of(text);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
          return l.rfind("PASS ", 0) == 0 || l.rfind("FAIL ", 0) == 0;
        }) == 3);
  CHECK(contains(text, "PASS nas-full seed 1: failed as expected at restore-data on truenas: no space"));
  // The failed rebuild's minutes are not an RTO: only the passing run's count.
  CHECK(contains(text, "total-loss: 2 runs, 1 passed; RTO min 38.5 / p50 38.5 / p95 38.5 / max 38.5 min"));
  CHECK_FALSE(contains(text, "Timeline"));
  CHECK(contains(text_report({passing(), failing()}, true), "Timeline"));
}

TEST_CASE("drill report: nightly backups are one line of what each read, and no line for a single backup") {
  RunResult r = passing();
  r.backup_reads = {21'690'000'000, 1'100'000'000, 1'060'000'000};
  r.backup_every_min = 24 * 60;
  const std::string line = "Backups: 3, 24 h apart, restored from the last; they read 21.7 GB, 1.1 GB and 1.1 GB from the NAS's disks";
  CHECK(contains(text_report({r}, false), line + "\n"));
  CHECK(contains(drctl::drill::html_report({r}, {}), line));
  r.backup_reads = {900'000, 450'000};
  r.backup_every_min = 90;
  CHECK(contains(text_report({r}, false), "Backups: 2, 90.0 min apart, restored from the last; they read 900 kB and 450 kB from"));
  r.backup_reads = {21'690'000'000};
  r.backup_every_min = 0;
  CHECK_FALSE(contains(text_report({r}, false), "Backups:"));
  // One backup that retention forgot: why the rebuild found no snapshot.
  r.retention_forgotten = 1;
  r.retention_packs_deleted = 3;
  CHECK(contains(text_report({r}, false),
                 "Backups: 1, which read 21.7 GB from the NAS's disks; the site's retention forgot 1 snapshot and pruned 3 packs\n"));
  // With retention.repack_small its prunes also rewrite small packs.
  r.retention_packs_repacked = 6;
  r.retention_packs_deleted = 0;
  CHECK(contains(text_report({r}, false), "the site's retention forgot 1 snapshot, deleted 0 packs and rewrote 6 small packs into full ones\n"));
}

TEST_CASE("drill report: JSON keeps every field and reads back") {
  RunResult a = passing(), b = failing();
  a.backup_reads = {21'690'000'000, 1'100'000'000};
  a.backup_every_min = 720;
  a.retention_packs_repacked = 4;
  b.expected_failure = true;
  b.seed = 18446744073709551615ull;  // seeds are full 64-bit
  nlohmann::json j = nlohmann::json::parse(json_report({a, b}).dump());

  REQUIRE(j.at("runs").size() == 2);
  CHECK(j["runs"][0]["first_failure"].is_null());
  CHECK(j["runs"][1]["first_failure"]["error"] == "no space left on device (tank/blog)");
  CHECK(j["runs"][0]["bytes_lost_expected"] == 4096);
  CHECK(j["runs"][0]["faults"][0]["undone"] == true);
  CHECK(j["runs"][0].at("timeline").size() == 3);
  CHECK(j["runs"][0].at("timeline")[0].at("start_min") == 4.0);
  CHECK(j["runs"][0].get<RunResult>() == a);
  CHECK(j["runs"][1].get<RunResult>() == b);
  CHECK(j.at("summary").at("total-loss").get<Summary>() == summarize({a, b}).at("total-loss"));

  nlohmann::json missing = j["runs"][0];
  missing.erase("rpo_min");
  CHECK_THROWS_WITH(missing.get<RunResult>(), doctest::Contains("rpo_min"));
}

TEST_CASE("drill report: JUnit XML is well formed, escaped, and has failures exactly for failing runs") {
  RunResult bad = failing();
  std::string cause = "disk <full> & \"gone\" 'now' \x01 \xff caf\xc3\xa9";
  bad.failures.front() = cause;
  RunResult nas = run_of("nas-full", 7, 0);
  nas.expected_failure = true;
  std::string xml = junit_report({passing(), bad, nas});
  INFO(xml);
  CHECK_FALSE(contains(xml, "<full>"));
  CHECK_FALSE(contains(xml, "\x01"));
  CHECK_FALSE(contains(xml, "\xff"));

  pugi::xml_document doc;
  pugi::xml_parse_result parsed = doc.load_string(xml.c_str());
  REQUIRE_MESSAGE(parsed, parsed.description());
  pugi::xml_node root = doc.child("testsuites");
  CHECK(root.attribute("tests").as_int() == 3);
  CHECK(root.attribute("failures").as_int() == 1);

  std::map<std::string, pugi::xml_node> suites;
  for (pugi::xml_node s : root.children("testsuite")) suites[s.attribute("name").value()] = s;
  REQUIRE(suites.size() == 2);
  pugi::xml_node total = suites["total-loss"];
  CHECK(total.attribute("tests").as_int() == 2);
  CHECK(total.attribute("failures").as_int() == 1);
  CHECK(total.attribute("time").as_double() == doctest::Approx(0.75));
  CHECK(suites["nas-full"].attribute("failures").as_int() == 0);

  int failures = 0, cases = 0;
  for (pugi::xml_node s : root.children("testsuite")) {
    for (pugi::xml_node c : s.children("testcase")) {
      ++cases;
      CHECK(std::string(c.attribute("classname").value()) == "drill." + std::string(s.attribute("name").value()));
      CHECK(c.child("system-out"));
      bool failed = std::string(c.attribute("name").value()) == "seed 2";
      CHECK(bool(c.child("failure")) == failed);
      if (c.child("failure")) ++failures;
    }
  }
  CHECK(cases == 3);
  CHECK(failures == 1);

  pugi::xml_node failure = total.find_child_by_attribute("testcase", "name", "seed 2").child("failure");
  CHECK(std::string(failure.attribute("message").value()) ==
        "disk <full> & \"gone\" 'now' \\x01 \\xff caf\xc3\xa9");
  std::string body = failure.text().get();
  CHECK(contains(body, "verify.data: 3 files differ from the snapshot"));
  CHECK(contains(body, "first failing step: restore-data on truenas after 3 attempts: no space left"));
  std::string out = total.find_child_by_attribute("testcase", "name", "seed 1").child("system-out").text().get();
  CHECK(contains(out, "PASS total-loss seed 1: RTO 38.5 min"));

  // xmllint checks XML 1.0 strictly (e.g. characters pugixml lets through); the test set-up
  // installs it (libxml2-utils), and without it this check fails rather than passing unchecked.
  support::TempDir dir("junit");
  support::write_file(dir / "junit.xml", xml);
  support::RunResult lint = support::run({"xmllint", "--noout", (dir / "junit.xml").string()});
  REQUIRE_MESSAGE(lint.exit_code != 127, "xmllint is not installed (Debian: libxml2-utils; tools/setup --tests installs it)");
  CHECK_MESSAGE(lint.exit_code == 0, lint.describe());
}

TEST_CASE("drill report: a run whose rebuild did not reach its end has no RTO, in text, JSON, JUnit and the summary") {
  RunResult bring_up = run_of("total-loss", 3, 12.0);  // the site never came up: only before: steps ran
  bring_up.passed = false;
  StepTiming install{"before:install-nodes[k8s-master]", "k8s-master", "failed", 1.0, 12.0, 4, "not exported", ""};
  bring_up.timeline = {install};
  bring_up.first_failure = install;
  bring_up.failures = {"the site could not be brought up: install-nodes[k8s-master]: not exported"};
  RunResult backup = run_of("total-loss", 4, 0.0);  // the backup failed: nothing was rebuilt
  backup.passed = false;
  backup.failures = {"the backup failed: capture-nas: no route to host"};

  CHECK(rto_not_reached(passing()) == "");
  CHECK(rto_not_reached(failing()) == "failed at restore-data");
  CHECK(rto_not_reached(bring_up) == "failed at before:install-nodes[k8s-master]");
  CHECK(rto_not_reached(backup) == "the rebuild did not run");
  CHECK(contains(text_report({backup}, true), "RTO: not reached (the rebuild did not run)"));

  const std::vector<RunResult> runs = {passing(), failing(), bring_up, backup};
  CHECK(summarize(runs).at("total-loss").rto_runs == 1);  // only the passing run's 38.5 minutes
  const nlohmann::json j = json_report(runs);
  CHECK(j["runs"][0]["rto_reached"] == true);
  for (int i = 1; i < 4; ++i) CHECK(j["runs"][i]["rto_reached"] == false);

  pugi::xml_document doc;
  REQUIRE(doc.load_string(junit_report(runs).c_str()));
  auto property = [&](const std::string& seed, const std::string& name) {
    return std::string(doc.select_node(("//testcase[@name='seed " + seed + "']/properties/property[@name='" + name + "']").c_str())
                           .node()
                           .attribute("value")
                           .value());
  };
  CHECK(property("1", "rto_min") == "38.5");
  CHECK(property("2", "rto_min") == "");
  CHECK(property("2", "rto") == "not reached (failed at restore-data)");
}

TEST_CASE("drill report: the replay command quotes the file for sh, and a failed run carries it in every form") {
  RunResult bad = failing();
  bad.replay = replay_command("drills/it's here.yaml", 18446744073709551615ull, 2);
  CHECK(bad.replay.rfind("drctl drill ", 0) == 0);
  CHECK(contains(bad.replay, " --seeds 18446744073709551615 -j 2"));
  CHECK_FALSE(contains(replay_command("a.yaml", 1, 0), "-j"));  // all at once is the default
  // sh itself splits the command back into the words it was made of.
  support::RunResult words = support::run({"sh", "-c", "printf '%s\\n' " + bad.replay.substr(std::string("drctl ").size())});
  REQUIRE(words.exit_code == 0);
  CHECK(words.out == "drill\ndrills/it's here.yaml\n--seeds\n18446744073709551615\n-j\n2\n");

  CHECK(contains(text_report({bad}, true), "Replay: " + bad.replay + "\n"));
  CHECK(contains(text_report({passing(), bad}, false), "FAIL total-loss seed 2: "));
  CHECK(contains(text_report({passing(), bad}, false), "\n  replay: " + bad.replay + "\n"));
  RunResult good = passing();
  good.replay = replay_command("a.yaml", 1, 0);
  CHECK_FALSE(contains(text_report({good, bad}, false), "replay: " + good.replay));  // only failures get one

  const nlohmann::json j = json_report({bad});
  CHECK(j["runs"][0]["replay"] == bad.replay);
  CHECK(j["drctl_version"] == std::string(kVersion));
  pugi::xml_document doc;
  REQUIRE(doc.load_string(junit_report({bad}).c_str()));
  CHECK(contains(doc.select_node("//failure").node().text().get(), "replay: " + bad.replay));
  CHECK(std::string(doc.select_node("//property[@name='replay']").node().attribute("value").value()) == bad.replay);
}

TEST_CASE("drill report: expectations and the version travel with the JSON and read back") {
  RunResult r = passing();
  r.expect.max_rto_min = 45;
  r.expect.fail_at = "datasets";
  r.expect.reason = "less than current used";
  const nlohmann::json j = nlohmann::json::parse(json_line(r));
  CHECK(j["drctl_version"] == std::string(kVersion));
  CHECK(j["expect"]["max_rto_min"] == 45.0);
  CHECK(j["expect"]["fail_at"] == "datasets");
  CHECK(j.get<RunResult>() == r);
  CHECK(nlohmann::json::parse(json_line(passing()))["expect"]["max_rto_min"].is_null());
  const nlohmann::json e = nlohmann::json::parse(json_line(ScenarioError{"bad.yaml", "bad.yaml: site: missing"}));
  CHECK(e["file"] == "bad.yaml");
  CHECK(e["error"] == "bad.yaml: site: missing");
  CHECK(std::string(kVersion) != "unknown");  // CMakeLists.txt passes the project's version
}

TEST_CASE("drill report: JUnit counts a scenario that could not run as its error, beside the runs") {
  const std::vector<ScenarioError> errors = {{"drills/bad <1>.yaml", "drills/bad <1>.yaml: disaster: no VM 'k8s-nod1'"}};
  const std::string xml = junit_report({passing(), failing()}, errors);
  pugi::xml_document doc;
  REQUIRE(doc.load_string(xml.c_str()));
  pugi::xml_node root = doc.child("testsuites");
  CHECK(root.attribute("tests").as_int() == 3);
  CHECK(root.attribute("failures").as_int() == 1);
  CHECK(root.attribute("errors").as_int() == 1);
  pugi::xml_node bad = root.find_child_by_attribute("testsuite", "name", "drills/bad <1>.yaml");
  REQUIRE(bad);
  CHECK(bad.attribute("errors").as_int() == 1);
  pugi::xml_node error = bad.child("testcase").child("error");
  CHECK(std::string(error.attribute("message").value()) == errors[0].message);
  CHECK(std::string(root.find_child_by_attribute("testsuite", "name", "total-loss").attribute("errors").value()) == "0");
  support::TempDir dir("junit-errors");
  support::write_file(dir / "junit.xml", xml);
  support::RunResult lint = support::run({"xmllint", "--noout", (dir / "junit.xml").string()});
  CHECK_MESSAGE(lint.exit_code == 0, lint.describe());
}

TEST_CASE("drill report: a VIP failover is reported with its time and the new holder, or as not taken over") {
  RunResult r = passing();
  r.failover = Failover{"10.0.20.200", "k8s-node1", "k8s-node3", 4.25};
  CHECK(contains(verdict(r), ", VIP to k8s-node3 in 4.2 s"));
  CHECK(contains(text_report({r}, true), "Failover: 10.0.20.200 moved from k8s-node1 to k8s-node3 in 4.2 s\n"));
  const nlohmann::json j = nlohmann::json::parse(json_report({r}).dump());
  CHECK(j["runs"][0]["failover"]["seconds"] == 4.25);
  CHECK(j["runs"][0].get<RunResult>() == r);
  CHECK(nlohmann::json::parse(json_line(passing()))["failover"].is_null());
  pugi::xml_document doc;
  REQUIRE(doc.load_string(junit_report({r}).c_str()));
  CHECK(std::string(doc.select_node("//property[@name='failover_new_holder']").node().attribute("value").value()) == "k8s-node3");
  CHECK(doc.select_node("//property[@name='failover_seconds']").node().attribute("value").as_double() == 4.25);

  RunResult lost = failing();
  lost.failover = Failover{"10.0.20.200", "k8s-node1", "", 0};
  CHECK(contains(text_report({lost}, true), "Failover: nobody took 10.0.20.200 over after k8s-node1 died"));
}

TEST_CASE("drill report: a long step id or host keeps the timeline's columns in line") {
  RunResult r = passing();
  r.timeline.push_back({"install-nodes[a-rather-long-node-name-that-goes-past-thirty]", "k8s-worker-with-a-long-name", "done",
                        40.0, 41.0, 1, "", ""});
  const std::string text = text_report({r}, true);
  // Where each row's host starts: after its id and the padding, the same column for every row.
  std::set<std::size_t> host_columns, attempt_columns;
  std::istringstream in(text.substr(text.find("Timeline")));
  std::string line;
  std::getline(in, line);  // the heading
  while (std::getline(in, line) && line.rfind("  ", 0) == 0) {
    if (line.find("error:") != std::string::npos) continue;
    for (const auto& t : r.timeline)
      if (line.find(" " + t.id + " ") != std::string::npos) {
        host_columns.insert(line.find(" " + t.host + " ", line.find(t.id) + t.id.size()) + 1);
        attempt_columns.insert(line.find(" attempt"));
      }
  }
  CHECK(host_columns.size() == 1);
  CHECK(attempt_columns.size() == 1);
  CHECK(*host_columns.begin() != std::string::npos + 1);  // the rows were found
}
