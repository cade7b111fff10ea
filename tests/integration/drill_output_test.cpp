// What `drctl drill` gives people and CI: JUnit (read with pugixml) that agrees with the JSON
// report, a batch with a bad scenario, the replay command of a failure (run again), JSON lines,
// the terminal's progress line in a real pty, and the HTML page as headless Chromium shows it.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pugixml.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/pty.hpp"
#include "support/run.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

fs::path homelab() { return fs::path(DRCTL_SOURCE_DIR) / "runbooks/homelab"; }

std::string scenario(const std::string& name) { return (homelab() / "drills" / (name + ".yaml")).string(); }

/// A scenario whose site file does not exist: bad input.
fs::path bad_scenario(const fs::path& dir) {
  const fs::path file = dir / "bad.yaml";
  std::ofstream(file) << "name: bad\nsite: nowhere.yaml\nbackup: b.yaml\nrebuild: r.yaml\n";
  return file;
}

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

std::string property(pugi::xml_node testcase, const char* name) {
  return testcase.child("properties").find_child_by_attribute("property", "name", name).attribute("value").value();
}

/// The screen's lines as a terminal draws them: split at CR and LF, erase-line sequences dropped.
std::vector<std::string> drawn_lines(std::string screen) {
  for (auto at = screen.find("\033[K"); at != std::string::npos; at = screen.find("\033[K")) screen.erase(at, 3);
  std::vector<std::string> out;
  std::string line;
  for (char c : screen) {
    if (c == '\r' || c == '\n') {
      if (!line.empty()) out.push_back(line);
      line.clear();
    } else {
      line += c;
    }
  }
  if (!line.empty()) out.push_back(line);
  return out;
}

std::size_t columns_of(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

/// width and height from a PNG's IHDR (it must be a PNG).
std::pair<std::uint32_t, std::uint32_t> png_size(const std::string& png) {
  REQUIRE(png.size() > 24);
  REQUIRE(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  REQUIRE(png.compare(12, 4, "IHDR") == 0);
  auto be32 = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(png[at + i]);
    return v;
  };
  return {be32(16), be32(20)};
}

}  // namespace

TEST_CASE("drill: a bad scenario in a batch is its JUnit error, the others run and are written, and the exit is 2") {
  support::TempDir t("drill-batch");
  const fs::path bad = bad_scenario(t.path());
  auto r = support::drctl({"drill", scenario("total-loss"), bad.string(), scenario("etcd-restore"), "--seeds", "1..2", "--junit",
                           (t.path() / "j.xml").string(), "--report", (t.path() / "r.json").string()});
  support::expect_exit(r, 2);
  CHECK(support::is_one_error_line(r.err));
  CHECK_MESSAGE(r.err.find("bad.yaml:") != std::string::npos, r.err);
  CHECK_MESSAGE(r.err.find(": site:") != std::string::npos, r.err);
  for (const char* v : {"PASS total-loss seed 1", "PASS total-loss seed 2", "PASS etcd-restore seed 1", "PASS etcd-restore seed 2"})
    CHECK_MESSAGE(r.out.find(v) != std::string::npos, r.out);

  const json report = json::parse(support::read_file(t.path() / "r.json"));
  REQUIRE(report["runs"].size() == 4);
  REQUIRE(report["errors"].size() == 1);
  CHECK(report["errors"][0]["file"] == bad.string());
  support::expect_exit(support::run({"xmllint", "--noout", (t.path() / "j.xml").string()}), 0);
  pugi::xml_document doc;
  REQUIRE(doc.load_file((t.path() / "j.xml").c_str()));
  pugi::xml_node root = doc.child("testsuites");
  CHECK(root.attribute("tests").as_uint() == report["runs"].size() + report["errors"].size());
  CHECK(root.attribute("errors").as_uint() == report["errors"].size());
  pugi::xml_node error = root.find_child_by_attribute("testsuite", "name", bad.string().c_str()).child("testcase").child("error");
  REQUIRE(error);
  CHECK(std::string(error.attribute("message").value()) == report["errors"][0]["message"].get<std::string>());

  // Each run's testcase carries the JSON report's seed, RTO and RPO, to the bit.
  std::size_t matched = 0;
  for (const json& run : report["runs"]) {
    pugi::xml_node suite = root.find_child_by_attribute("testsuite", "name", run["scenario"].get<std::string>().c_str());
    REQUIRE(suite);
    pugi::xml_node c = suite.find_child_by_attribute("testcase", "name", ("seed " + std::to_string(run["seed"].get<int>())).c_str());
    REQUIRE(c);
    CHECK(property(c, "seed") == std::to_string(run["seed"].get<int>()));
    CHECK(std::stod(property(c, "rto_min")) == run["rto_min"].get<double>());
    CHECK(std::stod(property(c, "rpo_min")) == run["rpo_min"].get<double>());
    ++matched;
  }
  CHECK(matched == 4);
  CHECK(support::drctl({"--version"}).out == "drctl " + report["drctl_version"].get<std::string>() + "\n");
  // The scenario's target travels with the suite.
  pugi::xml_node total = root.find_child_by_attribute("testsuite", "name", "total-loss");
  CHECK(std::stod(total.child("properties").find_child_by_attribute("property", "name", "max_rto_min").attribute("value").value()) ==
        report["runs"][0]["expect"]["max_rto_min"].get<double>());
}

TEST_CASE("drill: a failure prints its replay command, the report carries it, and running it gives the same result") {
  support::TempDir t("drill-replay");
  fs::copy(homelab(), t.path() / "homelab", fs::copy_options::recursive);
  const fs::path rebuild = t.path() / "homelab/rebuild.yaml";
  std::string text = support::read_file(rebuild);
  const std::string exportfs = ", then: exportfs -ra}";
  REQUIRE(text.find(exportfs) != std::string::npos);
  text.replace(text.find(exportfs), exportfs.size(), "}");
  std::ofstream(rebuild) << text;
  const std::string file = (t.path() / "homelab/drills/total-loss.yaml").string();

  auto first = support::drctl({"drill", file, "--seeds", "3", "-j", "2", "--report", (t.path() / "first.json").string()});
  support::expect_exit(first, 1);
  const json run = json::parse(support::read_file(t.path() / "first.json"))["runs"][0];
  const std::string replay = run["replay"];
  CHECK(replay.rfind("drctl drill ", 0) == 0);
  CHECK(replay.find(" --seeds 3 -j 2") != std::string::npos);
  CHECK_MESSAGE(first.out.find("Replay: " + replay + "\n") != std::string::npos, first.out);
  // The bring-up failed: no RTO is printed as if the services were verified.
  CHECK(first.out.find("RTO: not reached (failed at before:install-nodes") != std::string::npos);
  CHECK(run["rto_reached"] == false);

  // The printed command, run by sh as a person would paste it, with drctl on the PATH.
  support::RunOptions opt;
  opt.env["PATH"] = fs::path(support::drctl_binary()).parent_path().string() + ":" + std::getenv("PATH");
  auto again = support::run({"sh", "-c", replay + " --report " + (t.path() / "again.json").string()}, opt);
  support::expect_exit(again, 1);
  json replayed = json::parse(support::read_file(t.path() / "again.json"))["runs"][0];
  json original = run;
  original.erase("wall_seconds");
  replayed.erase("wall_seconds");
  CHECK(replayed == original);
  CHECK(again.out == first.out);
}

TEST_CASE("drill: --json prints one JSON line per run to stdout, and one per scenario that could not run") {
  support::TempDir t("drill-json");
  const fs::path bad = bad_scenario(t.path());
  auto r = support::drctl({"drill", scenario("etcd-restore"), bad.string(), "--seeds", "1..3", "--json"});
  support::expect_exit(r, 2);
  std::vector<json> lines;
  for (const auto& line : r.out_lines()) lines.push_back(json::parse(line));  // every line is JSON
  REQUIRE(lines.size() == 4);
  std::vector<int> seeds;
  for (const json& j : lines) {
    CHECK(j["drctl_version"].is_string());
    if (j.contains("error")) {
      CHECK(j["file"] == bad.string());
      continue;
    }
    CHECK(j["scenario"] == "etcd-restore");
    CHECK(j["passed"] == true);
    CHECK(j["replay"].get<std::string>().find("--seeds " + std::to_string(j["seed"].get<int>())) != std::string::npos);
    seeds.push_back(j["seed"]);
  }
  std::sort(seeds.begin(), seeds.end());
  CHECK(seeds == std::vector<int>{1, 2, 3});
  CHECK(r.out.find("PASS") == std::string::npos);  // no text report among the lines
}

TEST_CASE("drill: on a 70-column terminal the progress line and the report fit, and each result is printed once") {
  auto r = support::run_in_pty({"drill", scenario("total-loss"), scenario("etcd-restore"), "--seeds", "1..3"}, 70, {{"NO_COLOR", "1"}});
  INFO(r.screen);
  CHECK(r.screen.find("\033[32m") == std::string::npos);  // NO_COLOR: no colour
  CHECK(r.exit_code == 0);
  CHECK(r.screen.find("\r\033[K[") != std::string::npos);  // the progress line, rewritten in place
  CHECK(r.screen.find("[6/6] running 0, passed 6, failed 0") != std::string::npos);
  for (const std::string& line : drawn_lines(r.screen)) CHECK_MESSAGE(columns_of(line) <= 70, line);
  for (const char* name : {"total-loss", "etcd-restore"})
    for (int seed = 1; seed <= 3; ++seed)
      CHECK(occurrences(r.screen, "PASS " + std::string(name) + " seed " + std::to_string(seed) + ":") == 1);
  // Without NO_COLOR a verdict's first word is in colour.
  const auto coloured = support::run_in_pty({"drill", scenario("etcd-restore")}, 100);
  CHECK_MESSAGE(occurrences(coloured.screen, "\033[32mPASS\033[0m etcd-restore seed 1:") == 1, coloured.screen);
}

TEST_CASE("drill: without a terminal there are no progress control characters, and each result is printed once") {
  auto r = support::drctl({"drill", scenario("total-loss"), scenario("etcd-restore"), "--seeds", "1..3"});
  support::expect_exit(r, 0);
  for (const std::string* stream : {&r.out, &r.err}) {
    CHECK(stream->find('\r') == std::string::npos);
    CHECK(stream->find('\033') == std::string::npos);
  }
  for (const char* name : {"total-loss", "etcd-restore"})
    for (int seed = 1; seed <= 3; ++seed)
      CHECK_MESSAGE(occurrences(r.out + r.err, "PASS " + std::string(name) + " seed " + std::to_string(seed) + ":") == 1, (r.out + r.err));
  CHECK(r.err.empty());  // the report on stdout is the whole story
}

TEST_CASE("drill: the --html page is one self-contained file that headless Chromium renders") {
  support::TempDir t("drill-html");
  const fs::path bad = bad_scenario(t.path());
  const fs::path page = t.path() / "report.html";
  auto r = support::drctl({"drill", scenario("worker-dies-mid-install"), scenario("total-loss"), bad.string(), "--seeds", "1..3",
                           "--html", page.string(), "--report", (t.path() / "r.json").string()});
  support::expect_exit(r, 2);
  CHECK((fs::status(page).permissions() & fs::perms::others_read) == fs::perms::none);  // like every report drctl writes
  const std::string html = support::read_file(page);
  pugi::xml_document doc;
  REQUIRE_MESSAGE(doc.load_string(html.c_str(), pugi::parse_default | pugi::parse_doctype), "the page is not XHTML-compatible");
  const json report = json::parse(support::read_file(t.path() / "r.json"));
  // A Gantt chart per run of the JSON report, each fault of a run a marker on its chart.
  CHECK(doc.select_nodes("//*[local-name()='svg' and @class='gantt']").size() == report["runs"].size());
  std::size_t faults = 0;
  for (const json& run : report["runs"]) faults += run["faults"].size();
  CHECK(faults > 0);  // worker-dies-mid-install powers a worker off
  CHECK(doc.select_nodes("//*[local-name()='g' and @class='fault-marker']").size() == faults);
  CHECK(doc.select_nodes("//*[local-name()='svg' and @class='histogram']").size() == 2);
  CHECK(doc.select_node("//section[@id='failures']"));  // the bad scenario, first

  // Chromium from Debian's packages renders it (tools/setup --tests installs `chromium`).
  const bool installed = support::run({"sh", "-c", "command -v chromium"}).exit_code == 0;
  REQUIRE_MESSAGE(installed, "chromium is not installed (Debian package: chromium; tools/setup --tests installs it)");
  auto shot = [&](const fs::path& html_file, const fs::path& png) {
    support::RunOptions opt;
    opt.timeout = std::chrono::minutes(2);
    opt.env["HOME"] = t.path().string();  // chromium's profile, not the user's
    auto c = support::run({"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + (t.path() / "profile").string(),
                           "--screenshot=" + png.string(), "--window-size=1200,1600", "file://" + html_file.string()},
                          opt);
    REQUIRE_MESSAGE(fs::exists(png), c.describe());
    return support::read_file(png);
  };
  const std::string png = shot(page, t.path() / "report.png");
  CHECK(png_size(png) == std::pair<std::uint32_t, std::uint32_t>{1200, 1600});
  // Not blank: a page of nothing, shot the same way, compresses to far less.
  std::ofstream(t.path() / "blank.html") << "<!DOCTYPE html><html><body></body></html>\n";
  const std::string blank = shot(t.path() / "blank.html", t.path() / "blank.png");
  CHECK(png_size(blank) == png_size(png));
  CHECK_MESSAGE(png.size() > 5 * blank.size(), png.size() << " bytes against a blank page's " << blank.size());
}

TEST_CASE("drill: a mutation run prints each result once, and a missed one its replay command") {
  support::TempDir t("drill-mutations-once");
  std::ofstream(t.path() / "catalogue.yaml")
      << "mutations:\n"
         "  - {name: harmless, why: nothing fails, file: site.yaml, replace: \"name: homelab\\n\", with: \"name: homelab  # renamed\\n\"}\n";
  auto r = support::drctl({"drill", scenario("total-loss"), "--mutations", (t.path() / "catalogue.yaml").string(), "-j", "3"});
  support::expect_exit(r, 1);
  CHECK(occurrences(r.out + r.err, "harmless") == 1);
  CHECK_MESSAGE(r.out.find("MISSED harmless") != std::string::npos, r.out);
  CHECK(r.out.find("replay: drctl drill " + scenario("total-loss") + " --seeds 1 -j 3 --mutations " + (t.path() / "catalogue.yaml").string()) !=
        std::string::npos);
  CHECK(r.err.find('\r') == std::string::npos);
}

TEST_CASE("drill: vip-failover reports the failover time and the new holder") {
  support::TempDir t("drill-failover");
  auto r = support::drctl({"drill", scenario("vip-failover"), "--seeds", "1..3", "--report", (t.path() / "r.json").string()});
  support::expect_exit(r, 0);
  const json report = json::parse(support::read_file(t.path() / "r.json"));
  REQUIRE(report["runs"].size() == 3);
  for (const json& run : report["runs"]) {
    const json& f = run["failover"];
    REQUIRE(f.is_object());
    CHECK(f["vip"] == "10.0.20.200");
    // The node killed is the run's own "after rebuild" fault; another took the VIP over within the 30 s the check waits.
    const auto killed = std::find_if(run["faults"].begin(), run["faults"].end(), [](const json& e) { return e["trigger"] == "after rebuild"; });
    REQUIRE(killed != run["faults"].end());
    CHECK(f["old_holder"] == (*killed)["target"]);
    CHECK(!f["new_holder"].get<std::string>().empty());
    CHECK(f["new_holder"] != f["old_holder"]);
    CHECK(f["seconds"].get<double>() > 0);
    CHECK(f["seconds"].get<double>() <= 30);
    CHECK(r.out.find("PASS vip-failover seed " + std::to_string(run["seed"].get<int>()) + ": ") != std::string::npos);
    CHECK(r.out.find(", VIP to " + f["new_holder"].get<std::string>() + " in ") != std::string::npos);
  }
}
