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
