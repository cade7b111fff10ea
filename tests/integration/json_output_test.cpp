// --json of the commands a script reads besides snapshot, run and drill (issue 21, section 2):
// plan, actions and sim show. Each document is checked against the same command's text output,
// which a person reads, so the two cannot say different things.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "support/run.hpp"

using namespace support;
using nlohmann::json;

namespace {

std::string homelab(const std::string& file) { return (fs::path(DRCTL_SOURCE_DIR) / "runbooks/homelab" / file).string(); }

json parsed(const std::vector<std::string>& args) {
  const RunResult r = drctl(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  return json::parse(r.out);  // the whole of stdout is one document
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

}  // namespace

TEST_CASE("plan --json has the waves and the critical path the text plan shows") {
  for (const std::vector<std::string>& sets : std::vector<std::vector<std::string>>{{}, {"--set", "restore=true"}}) {
    std::vector<std::string> args = {"plan", homelab("rebuild.yaml")};
    args.insert(args.end(), sets.begin(), sets.end());
    const RunResult text = drctl(args);
    REQUIRE(text.exit_code == 0);
    args.push_back("--json");
    const json plan = parsed(args);
    std::size_t waves = 0;
    std::string path_line;
    for (const auto& l : lines_of(text.out)) {
      if (l.rfind("wave ", 0) == 0) ++waves;
      if (l.rfind("critical path: ", 0) == 0) path_line = l;
    }
    CHECK(plan["waves"].size() == waves);
    std::string chain;
    for (const auto& step : plan["critical_path"])
      chain += (chain.empty() ? "" : " → ") + step["id"].get<std::string>() + " (" + step["weight"].get<std::string>() + ")";
    CHECK_MESSAGE(path_line.rfind("critical path: " + chain + " = ", 0) == 0, path_line << "\n" << chain);
    // Every step of the text's waves is in the JSON's, skipped ones marked as the text marks them.
    for (std::size_t w = 0; w < waves; ++w)
      for (const auto& step : plan["waves"][w])
        CHECK(text.out.find(step["id"].get<std::string>() + (step["skipped"] == true ? " (skipped" : "")) != std::string::npos);
  }
}

TEST_CASE("actions --json lists each action the text lists, with its inputs") {
  const RunResult text = drctl({"actions"});
  REQUIRE(text.exit_code == 0);
  std::set<std::string> names;
  std::size_t inputs = 0;
  for (const auto& l : lines_of(text.out)) {
    if (!l.empty() && l[0] != ' ') names.insert(l);
    if (l.rfind("  with ", 0) == 0) ++inputs;
  }
  const json actions = parsed({"actions", "--json"});
  std::set<std::string> json_names;
  std::size_t json_inputs = 0;
  for (const auto& a : actions) {
    json_names.insert(a["name"].get<std::string>());
    json_inputs += a["inputs"].size();
  }
  CHECK(json_names == names);
  CHECK(json_inputs == inputs);
  CHECK(names.contains("shell.run"));
}

TEST_CASE("sim show --json has the hosts, addresses and states of the text") {
  const RunResult text = drctl({"sim", "show", homelab("site.yaml")});
  REQUIRE(text.exit_code == 0);
  const json site = parsed({"sim", "show", homelab("site.yaml"), "--json"});
  REQUIRE(site["hosts"].size() > 3);
  for (const auto& h : site["hosts"]) {
    CAPTURE(h.dump());
    CHECK(text.out.find("\n  " + h["name"].get<std::string>() + " ") != std::string::npos);
    if (!h["address"].get<std::string>().empty()) CHECK(text.out.find(h["address"].get<std::string>()) != std::string::npos);
    CHECK(text.out.find("state: " + h["state"].get<std::string>()) != std::string::npos);
  }
  for (const auto& n : site["networks"]) CHECK(text.out.find(n["cidr"].get<std::string>()) != std::string::npos);
}
