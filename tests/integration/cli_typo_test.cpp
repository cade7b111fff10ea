// Nothing wrong is accepted silently (issue 21, section 1): a typo in a drill scenario, in a
// step id given to --from/--only, in a --set var or in a command or option name is exit 2, one
// error line with the name that was probably meant, and nothing has run or been written.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

namespace fs = std::filesystem;

namespace {

fs::path homelab() {
  return fs::absolute(fs::path(__FILE__).parent_path().parent_path().parent_path() / "runbooks/homelab");
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// A scenario of the homelab with `extra` (YAML lines from line 6 on), in `dir`; its path.
fs::path scenario_with(const fs::path& dir, const std::string& extra) {
  const fs::path file = dir / "typo.yaml";
  std::ofstream(file) << "name: typo\nsite: " << (homelab() / "site.yaml").string() << "\nbackup: "
                      << (homelab() / "backup.yaml").string() << "\nrebuild: " << (homelab() / "rebuild.yaml").string()
                      << "\nbackup_age: 60m\n"
                      << extra;
  return file;
}

/// A runbook on this machine whose one step writes {{greeting}} into `out`.
fs::path greeting_runbook(const fs::path& dir, bool declared) {
  const fs::path file = dir / "greet.yaml";
  std::ofstream(file) << (declared ? "vars:\n  greeting: hello\n" : "") << "steps:\n"
                      << "  - id: write-greeting\n    run: echo '{{greeting}}' > " << (dir / "out").string() << "\n"
                      << "  - id: after-greeting\n    needs: write-greeting\n    run: \"true\"\n";
  return file;
}

}  // namespace

TEST_CASE("cli typo: a drill losing a VM the site does not have is exit 2 at its line and column, before any work") {
  support::TempDir t("typo-disaster");
  const fs::path file = scenario_with(t.path(), "disaster: [k8s-master, k8s-nod1]\nexpect: {max_rto: 45m}\n");
  auto r = support::drctl({"drill", file.string(), "--report", (t / "report.json").string(), "--junit", (t / "junit.xml").string()});
  support::expect_exit(r, 2);
  CHECK(support::is_one_error_line(r.err));
  // Line 6, column 24: where k8s-nod1 is in the file.
  CHECK_MESSAGE(contains(r.err, file.string() + ":6:24: disaster: 'k8s-nod1' is not a VM of the site (did you mean 'k8s-node1'?)"), r.err);
  CHECK(r.out.empty());  // no phase was announced: the site was not brought up
  // The reports say so to CI: the scenario as an error, no run.
  const auto report = nlohmann::json::parse(support::read_file(t / "report.json"));
  CHECK(report["runs"].empty());
  REQUIRE(report["errors"].size() == 1);
  CHECK(contains(report["errors"][0].dump(), ":6:24: disaster:"));
  const std::string junit = support::read_file(t / "junit.xml");
  CHECK(contains(junit, "errors=\"1\""));
  CHECK_FALSE(contains(junit, "<testcase name=\"seed "));  // a run is a testcase named after its seed
}

TEST_CASE("cli typo: a fault's target typo is exit 2 before the site is brought up") {
  support::TempDir t("typo-fault");
  const fs::path file =
      scenario_with(t.path(), "disaster: all\nfaults:\n  - {action: power_off, target: k8s-nod2, on: {component: k8s-node2, event: install-started}}\n");
  auto r = support::drctl({"drill", file.string(), "--report", (t / "report.json").string()});
  support::expect_exit(r, 2);
  CHECK(support::is_one_error_line(r.err));
  CHECK_MESSAGE(contains(r.err, file.string() + ":8:33: faults[0].target: 'k8s-nod2' is not a VM of the site (did you mean 'k8s-node2'?)"),
                r.err);
  CHECK(r.out.empty());
  CHECK(nlohmann::json::parse(support::read_file(t / "report.json"))["runs"].empty());
}

TEST_CASE("cli typo: run --from or --only with no such step is exit 2 with the step meant, and nothing ran") {
  support::TempDir t("typo-from");
  const fs::path rb = greeting_runbook(t.path(), true);
  for (const auto& [option, id, meant] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"--from", "no-such-step", ""},
           {"--from", "write-greting", " (did you mean 'write-greeting'?)"},
           {"--only", "afterr-greeting", " (did you mean 'after-greeting'?)"}}) {
    CAPTURE(option);
    CAPTURE(id);
    auto r = support::drctl({"run", rb.string(), "--state", (t / "state").string(), option, id});
    support::expect_exit(r, 2);
    CHECK(support::is_one_error_line(r.err));
    CHECK_MESSAGE(contains(r.err, option + " " + id + ": " + rb.string() + " has no step '" + id + "'" + meant), r.err);
    CHECK_FALSE(fs::exists(t / "out"));
    CHECK_FALSE(fs::exists(t / "state"));
  }
  // In the simulator too: the homelab's rebuild, its state directory never made.
  auto sim = support::drctl({"run", (homelab() / "rebuild.yaml").string(), "--target", "sim", "--state", (t / "sim-state").string(),
                             "--from", "datasts"});
  support::expect_exit(sim, 2);
  CHECK_MESSAGE(contains(sim.err, "has no step 'datasts' (did you mean 'datasets'?)"), sim.err);
  CHECK_FALSE(fs::exists(t / "sim-state"));
}

TEST_CASE("cli typo: --set of a var nobody declares is exit 2 with the var meant, and --set-new adds one") {
  support::TempDir t("typo-set");
  const fs::path state = t / "state";
  auto top = support::drctl({"run", (homelab() / "rebuild.yaml").string(), "--target", "sim", "--state", state.string(), "--set", "restor=true"});
  support::expect_exit(top, 2);
  CHECK(support::is_one_error_line(top.err));
  CHECK_MESSAGE(contains(top.err, "--set restor: the runbook and its site declare no var 'restor' (did you mean 'restore'?)"), top.err);
  CHECK(contains(top.err, "--set-new restor="));
  auto nested = support::drctl({"run", (homelab() / "rebuild.yaml").string(), "--target", "sim", "--state", state.string(), "--set",
                                "metallb.pol=10.0.20.200-10.0.20.210"});
  support::expect_exit(nested, 2);
  CHECK_MESSAGE(contains(nested.err, "--set metallb.pol: metallb has no key 'pol' (did you mean 'pool'?)"), nested.err);
  CHECK_FALSE(fs::exists(state));

  // A runbook that does not declare `greeting`: --set refuses it, --set-new gives it.
  const fs::path rb = greeting_runbook(t.path(), false);
  auto refused = support::drctl({"run", rb.string(), "--state", state.string(), "--set", "greeting=hi"});
  support::expect_exit(refused, 2);
  CHECK_FALSE(fs::exists(t / "out"));
  auto added = support::drctl({"run", rb.string(), "--state", state.string(), "--set-new", "greeting=hi"});
  support::expect_exit(added, 0);
  CHECK(support::read_file(t / "out") == "hi\n");
  // and --set of a declared var is what it always was.
  fs::create_directories(t.path() / "declared");
  const fs::path declared = greeting_runbook(t.path() / "declared", true);
  auto set = support::drctl({"run", declared.string(), "--state", (t / "state2").string(), "--set", "greeting=hey"});
  support::expect_exit(set, 0);
  CHECK(support::read_file(t / "declared/out") == "hey\n");
}

TEST_CASE("cli typo: a mistyped command or option is exit 2 with the name meant at that level") {
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {{"snapshto", "list"}, "'snapshto' is not a command of drctl (did you mean 'snapshot'?)"},
      {{"sim", "shw", "site.yaml"}, "'shw' is not a command of drctl sim (did you mean 'show'?)"},
      {{"drill", "x.yaml", "--seed", "3"}, "--seed (did you mean '--seeds'?)"},
      {{"drill", "x.yaml", "--sed=3"}, "--sed=3 (did you mean '--seeds'?)"},
      {{"run", "x.yaml", "--taget", "sim"}, "--taget (did you mean '--target'?)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args.front());
    auto r = support::drctl(c.args);
    support::expect_exit(r, 2);
    CHECK(support::is_one_error_line(r.err));
    CHECK_MESSAGE(contains(r.err, c.expected), r.err);
    CHECK(r.out.empty());
  }
  // Nothing close: no guess.
  auto far = support::drctl({"run", "x.yaml", "-x"});
  support::expect_exit(far, 2);
  CHECK_FALSE(contains(far.err, "did you mean"));
}
