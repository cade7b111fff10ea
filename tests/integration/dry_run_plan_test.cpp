// `run --dry-run` and `plan` as `terraform plan` shows a change (issue 21, section 3): `when:`
// decided with the vars given, so that steps that exclude each other are never both "would run";
// each step's check (which only looks) saying whether it would change something; the plan's
// critical path with the runbook's estimates, for the path these vars take.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

namespace fs = std::filesystem;

namespace {

fs::path homelab() {
  return fs::absolute(fs::path(__FILE__).parent_path().parent_path().parent_path() / "runbooks/homelab");
}

/// step id -> what the dry run says of its (first) instance: "run", "skip" or "unchanged".
std::map<std::string, std::string> verdicts(const std::string& err) {
  std::map<std::string, std::string> out;
  std::istringstream in(err);
  std::string line;
  while (std::getline(in, line)) {
    for (const auto& [prefix, verdict] : {std::pair<std::string, std::string>{"drctl: would run ", "run"},
                                          {"drctl: would skip ", "skip"},
                                          {"drctl: unchanged ", "unchanged"}}) {
      if (line.rfind(prefix, 0) != 0) continue;
      std::string id = line.substr(prefix.size(), line.find(' ', prefix.size()) - prefix.size());
      id = id.substr(0, id.find('['));
      out.emplace(id, verdict);
    }
  }
  return out;
}

support::RunResult dry_run_homelab(const fs::path& state, const std::vector<std::string>& sets) {
  std::vector<std::string> args = {"run", (homelab() / "rebuild.yaml").string(), "--target", "sim", "--dry-run", "--state", state.string()};
  for (const auto& s : sets) args.insert(args.end(), {"--set", s});
  return support::drctl(args);
}

}  // namespace

TEST_CASE("dry run plan: the homelab's dry run decides when: so that exclusive steps are never both would-run") {
  support::TempDir t("dry-when");
  struct Case {
    std::vector<std::string> sets;
    std::map<std::string, std::string> expected;
  };
  const std::vector<Case> cases = {
      {{}, {{"configure-firewall", "run"}, {"restore-firewall", "skip"}, {"restore-data", "skip"}, {"kube-restore", "skip"},
            {"etcd-restore", "skip"}, {"metallb", "run"}, {"dhcp-server", "skip"}}},
      {{"restore=true"}, {{"configure-firewall", "skip"}, {"restore-firewall", "run"}, {"restore-data", "run"}, {"kube-restore", "run"},
                          {"etcd-restore", "skip"}, {"metallb", "skip"}}},
      {{"restore=true", "kube_from=etcd"}, {{"kube-restore", "skip"}, {"etcd-restore", "run"}}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.sets.size());
    const fs::path state = t / ("state" + std::to_string(&c - cases.data()));
    auto r = dry_run_homelab(state, c.sets);
    support::expect_exit(r, 0);
    CHECK(r.out.find("nothing was run") != std::string::npos);
    const auto seen = verdicts(r.err);
    for (const auto& [id, verdict] : c.expected) {
      CAPTURE(id);
      REQUIRE(seen.contains(id));
      CHECK(seen.at(id) == verdict);
    }
    // Pairs that exclude each other: never both "would run".
    for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
             {"configure-firewall", "restore-firewall"}, {"kube-restore", "etcd-restore"}, {"metallb", "kube-restore"}}) {
      CAPTURE(a);
      CHECK_FALSE((seen.at(a) == "run" && seen.at(b) == "run"));
    }
    // A skipped step renders nothing.
    CHECK_FALSE(fs::exists(state / "rendered" / (seen.at("restore-firewall") == "skip" ? "restore-firewall" : "configure-firewall")));
    CHECK_FALSE(fs::exists(state / "journal.jsonl"));
  }
  // In the empty simulated site every VM is still to be made: the checks say so.
  auto r = dry_run_homelab(t / "state-vm", {});
  CHECK(r.err.find("drctl: would run create-firewall on pfsense: vm.create  (its check says it would change)") != std::string::npos);
}

TEST_CASE("dry run plan: a step whose check finds the work done is unchanged, one whose check does not would change") {
  support::TempDir t("dry-check");
  std::ofstream(t / "done") << "x";
  std::ofstream(t / "rb.yaml") << "steps:\n"
                                  "  - id: made\n    uses: shell.run\n    with: {command: touch " << (t / "made-ran").string()
                               << ", creates: " << (t / "done").string() << "}\n"
                                  "  - id: to-make\n    uses: shell.run\n    with: {command: touch " << (t / "to-make-ran").string()
                               << ", creates: " << (t / "missing").string() << "}\n"
                                  "  - id: kept\n    uses: file.put\n    with: {path: " << (t / "done").string() << ", content: x}\n"
                                  "  - id: rewritten\n    uses: file.put\n    with: {path: " << (t / "done").string() << ", content: y}\n";
  fs::permissions(t / "done", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  auto r = support::drctl({"run", (t / "rb.yaml").string(), "--state", (t / "state").string(), "--dry-run"});
  support::expect_exit(r, 0);
  const auto seen = verdicts(r.err);
  CHECK(seen.at("made") == "unchanged");
  CHECK(seen.at("to-make") == "run");
  CHECK(seen.at("rewritten") == "run");
  CHECK(r.err.find("would run to-make on local: run: touch") == std::string::npos);  // a uses: step names its action
  CHECK(r.err.find("would run to-make on local: shell.run  (its check says it would change)") != std::string::npos);
  // Nothing was applied: the commands did not run, the file kept its content.
  CHECK_FALSE(fs::exists(t / "made-ran"));
  CHECK_FALSE(fs::exists(t / "to-make-ran"));
  CHECK(support::read_file(t / "done") == "x");
}

TEST_CASE("dry run plan: plan takes --set, decides when: with it, and puts the estimates on the critical path") {
  auto plain = support::drctl({"plan", (homelab() / "rebuild.yaml").string()});
  support::expect_exit(plain, 0);
  auto restore = support::drctl({"plan", (homelab() / "rebuild.yaml").string(), "--set", "restore=true", "--set", "kube_from=etcd"});
  support::expect_exit(restore, 0);
  auto path_of = [](const std::string& out) { return out.substr(out.find("critical path: ")); };
  // A new site's path configures pfSense from the kit; a restore's restores it, and etcd's restore is on it.
  CHECK(path_of(plain.out).find("configure-firewall") != std::string::npos);
  CHECK(path_of(plain.out).find("restore-firewall") == std::string::npos);
  CHECK(path_of(restore.out).find("restore-firewall") != std::string::npos);
  CHECK(path_of(restore.out).find("etcd-restore") != std::string::npos);
  CHECK(path_of(restore.out).find("configure-firewall") == std::string::npos);
  CHECK(plain.out.find("restore-firewall (skipped: when {{restore}})") != std::string::npos);
  // install-nodes has `estimate: 14m` in rebuild.yaml: the path carries it.
  CHECK(path_of(plain.out).find("install-nodes (~14m)") != std::string::npos);
  auto typo = support::drctl({"plan", (homelab() / "rebuild.yaml").string(), "--set", "restor=true"});
  support::expect_exit(typo, 2);
  CHECK(typo.err.find("did you mean 'restore'") != std::string::npos);
}

TEST_CASE("dry run plan: the critical path's duration is the sum of its steps' estimates, bounded by their timeouts") {
  support::TempDir t("plan-estimates");
  std::ofstream(t / "rb.yaml") << "vars: {slow: false}\nsteps:\n"
                                  "  - {id: a, run: \"true\", estimate: 2m, timeout: 10m}\n"
                                  "  - {id: b, run: \"true\", needs: a, estimate: 5m}\n"
                                  "  - {id: c, run: \"true\", needs: a, estimate: 1m, timeout: 3m}\n"
                                  "  - {id: d, run: \"true\", needs: a, estimate: 30m, when: \"{{slow}}\"}\n";
  auto r = support::drctl({"plan", (t / "rb.yaml").string()});
  support::expect_exit(r, 0);
  CHECK_MESSAGE(r.out.find("critical path: a (~2m, at most 10m) → b (~5m) = 7m, at most 15m by its timeouts") != std::string::npos, r.out);
  auto slow = support::drctl({"plan", (t / "rb.yaml").string(), "--set", "slow=true"});
  CHECK_MESSAGE(slow.out.find("critical path: a (~2m, at most 10m) → d (~30m) = 32m") != std::string::npos, slow.out);
}
