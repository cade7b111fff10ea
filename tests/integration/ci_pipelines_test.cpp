// The pipelines users put in their own CI (ci/): they parse as the CI systems read them, they run
// the commands the README documents, and those commands work from a checkout as written.
#include <doctest/doctest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

namespace {

namespace fs = std::filesystem;

fs::path repo() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

std::vector<std::string> commands(const YAML::Node& list, const char* key) {
  std::vector<std::string> out;
  for (const auto& item : list) {
    if (item.IsScalar()) out.push_back(item.as<std::string>());
    else if (item[key]) out.push_back(item[key].as<std::string>());
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("ci: the GitHub and GitLab pipelines run the drills the README documents, sharded, with JUnit") {
  const YAML::Node github = YAML::LoadFile((repo() / "ci/github/drills.yml").string());
  const YAML::Node gitlab = YAML::LoadFile((repo() / "ci/gitlab/drills.gitlab-ci.yml").string());
  // GitHub: a matrix of four shards; GitLab: four parallel copies.
  REQUIRE(github["jobs"]["drill"]["strategy"]["matrix"]["shard"].size() == 4);
  CHECK(github["jobs"]["drill"]["container"].as<std::string>() == "debian:12");
  CHECK(gitlab["drill"]["parallel"].as<int>() == 4);
  CHECK(gitlab["drill"]["artifacts"]["reports"]["junit"].as<std::string>() == "drill.xml");
  CHECK(gitlab["mutations"]["artifacts"]["reports"]["junit"].as<std::string>() == "mutations.xml");

  const std::string readme = support::read_file(repo() / "README.md");
  std::vector<std::string> lab = commands(gitlab["drill"]["script"], "");
  for (const auto& c : commands(gitlab["mutations"]["script"], "")) lab.push_back(c);
  std::vector<std::string> hub = commands(github["jobs"]["drill"]["steps"], "run");
  for (const auto& c : commands(github["jobs"]["mutations"]["steps"], "run")) hub.push_back(c);
  REQUIRE(lab.size() == 4);
  REQUIRE(hub.size() == 4);
  for (std::size_t i = 0; i < lab.size(); ++i) {
    CAPTURE(lab[i]);
    CHECK(readme.find(lab[i] + "\n") != std::string::npos);  // the README shows it as it is
    // GitHub's is the same command with its matrix for GitLab's node index.
    std::string same = hub[i];
    replace_all(same, "${{ matrix.shard }}/4", "\"$CI_NODE_INDEX/$CI_NODE_TOTAL\"");
    replace_all(same, "drill-${{ matrix.shard }}.xml", "drill.xml");
    CHECK(same == lab[i]);
  }

  // The drctl commands work from a checkout as written (the shard variables as GitLab sets them;
  // 20 shards keep this quick: five seeds each).
  support::TempDir t("ci-pipelines");
  for (const std::string& c : lab) {
    if (c.rfind("build/drctl ", 0) != 0) continue;
    std::string script = c;
    replace_all(script, "build/drctl", support::drctl_binary());
    replace_all(script, "--junit ", "--junit " + t.path().string() + "/");
    support::RunOptions in_repo;
    in_repo.cwd = repo().string();
    in_repo.env = {{"CI_NODE_INDEX", "3"}, {"CI_NODE_TOTAL", "20"}};
    in_repo.timeout = std::chrono::minutes(10);
    auto r = support::run({"sh", "-c", script}, in_repo);
    CHECK_MESSAGE(r.exit_code == 0, r.describe());
  }
  for (const char* junit : {"drill.xml", "mutations.xml"}) {
    CAPTURE(junit);
    REQUIRE(fs::exists(t.path() / junit));
    support::expect_exit(support::run({"xmllint", "--noout", (t.path() / junit).string()}), 0);
  }
  const std::string drill = support::read_file(t.path() / "drill.xml");
  CHECK(drill.find("<testcase name=\"seed 3\"") != std::string::npos);  // shard 3 of 20: seeds 3, 23, 43, …
  CHECK(drill.find("<testcase name=\"seed 23\"") != std::string::npos);
  CHECK(drill.find("<testcase name=\"seed 4\"") == std::string::npos);
}

TEST_CASE("ci: the systemd, cron and CronJob examples are what drctl schedule install writes for the homelab's backup") {
  // As ci/README.md says they were made: the homelab at /etc/drctl/homelab (here a copy under a
  // temporary root, the root then taken out of the text), drctl in /usr/local/bin.
  support::TempDir t("ci-schedules");
  const fs::path site = t.path() / "etc/drctl/homelab";
  fs::create_directories(site.parent_path());
  fs::copy(repo() / "runbooks/homelab", site, fs::copy_options::recursive);
  // The CronJob needs the site's kubernetes_schedule, as ci/README.md gives it.
  support::write_file(site / "site.yaml", support::read_file(site / "site.yaml") +
                                              "kubernetes_schedule: {image: registry.example/drctl:latest, namespace: drctl, "
                                              "repository: {host: truenas, path: /mnt/tank/drctl}}\n");
  for (const auto& [kind, dir] : std::vector<std::pair<std::string, std::string>>{
           {"--systemd", "systemd"}, {"--cron", "cron"}, {"--kubernetes", "kubernetes"}}) {
    CAPTURE(kind);
    fs::create_directories(t.path() / dir);
    std::vector<std::string> args = {"schedule", "install", (site / "backup.yaml").string(), kind, "--name", "homelab-backup",
                                     "--dir", (t.path() / dir).string()};
    if (dir == "kubernetes") args.insert(args.end(), {"--set", "repo_dir=/repo/snapshots"});
    else args.insert(args.end(), {"--drctl", "/usr/local/bin/drctl", "--state", "/var/lib/drctl/homelab-backup"});
    support::expect_exit(support::drctl(args), 0);
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(t.path() / dir)) {
      ++files;
      std::string written = support::read_file(e.path());
      replace_all(written, t.path().string(), "");
      const fs::path example = repo() / "ci" / dir / e.path().filename();
      REQUIRE_MESSAGE(fs::exists(example), example.string());
      CHECK_MESSAGE(support::read_file(example) == written, "ci/" << dir << "/" << e.path().filename().string()
                                                                   << " is not what drctl writes now:\n" << written);
    }
    CHECK(files == (dir == "systemd" ? 2u : 1u));
  }
}
