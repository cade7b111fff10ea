// What `drctl run` prints (issue 21, section 2): -q shows failures and the count only, -v what
// each step printed, --json JSON lines a script reads, colour only on a terminal and never with
// NO_COLOR. The oracle is what the steps really printed and how they really ended.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "support/fs_tree.hpp"
#include "support/pty.hpp"
#include "support/run.hpp"

using namespace support;

namespace {

/// A runbook with a step that prints two lines, one that fails and one that is not reached.
fs::path runbook(const fs::path& dir) {
  fs::create_directories(dir);
  write_file(dir / "rb.yaml",
             "name: out\nsteps:\n"
             "  - id: greet\n    run: \"echo first-line; echo second-line\"\n"
             "  - id: break\n    needs: greet\n    run: \"echo about-to-fail; exit 3\"\n"
             "  - id: after\n    needs: break\n    run: \"true\"\n");
  return dir / "rb.yaml";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }

}  // namespace

TEST_CASE("run -q shows the failure and the count, -v each step's output, the default neither output nor less") {
  TempDir t("run-output");
  const fs::path rb = runbook(t.path());
  auto plain = drctl({"run", rb.string(), "--state", (t / "s1").string()});
  CHECK(plain.exit_code == 1);
  CHECK(has(plain.err, "done greet"));
  CHECK(has(plain.err, "failed break"));
  CHECK_FALSE(has(plain.err, "greet | first-line"));
  CHECK(has(plain.out, "STEP"));  // the table

  auto quiet = drctl({"run", rb.string(), "-q", "--state", (t / "s2").string()});
  CHECK(quiet.exit_code == 1);
  CHECK_FALSE(has(quiet.err, "done greet"));
  CHECK(has(quiet.err, "failed break"));
  CHECK(has(quiet.err, "exited with status 3"));
  CHECK_FALSE(has(quiet.out, "STEP"));
  CHECK(lines_of(quiet.out).size() == 1);  // the count alone
  CHECK(has(quiet.out, "1 done"));
  CHECK(has(quiet.out, "1 failed"));

  auto verbose = drctl({"run", rb.string(), "-v", "--state", (t / "s3").string()});
  CHECK(verbose.exit_code == 1);
  CHECK_MESSAGE(has(verbose.err, "greet | first-line\ngreet | second-line\n"), verbose.err);
  CHECK(has(verbose.err, "break | about-to-fail"));
  // What greet printed comes before greet is reported done.
  CHECK(verbose.err.find("greet | second-line") < verbose.err.find("done greet"));

  auto both = drctl({"run", rb.string(), "-q", "-v"});
  expect_exit(both, 2);
}

TEST_CASE("run --json: one JSON object a line on stdout, a step each as it ends, then the summary") {
  TempDir t("run-json");
  const fs::path rb = runbook(t.path());
  auto r = drctl({"run", rb.string(), "--json", "--state", (t / "s").string()});
  CHECK(r.exit_code == 1);
  std::map<std::string, std::string> status;
  nlohmann::json summary;
  for (const auto& line : lines_of(r.out)) {
    const auto j = nlohmann::json::parse(line);  // every line is JSON: a parse error fails the test
    if (j["event"] == "finished") status[j["step"]] = j["status"];
    if (j["event"] == "summary") summary = j;
  }
  CHECK(status["greet"] == "done");
  CHECK(status["break"] == "failed");
  CHECK(status["after"] != "done");
  REQUIRE(summary.is_object());
  CHECK(summary["ok"] == false);
  CHECK(summary["counts"]["failed"] == 1);
  CHECK(lines_of(r.out).back() == summary.dump());  // the summary last
}

TEST_CASE("run on a terminal: status words in colour, none with NO_COLOR") {
  TempDir t("run-colour");
  const fs::path rb = runbook(t.path());
  const auto coloured = run_in_pty({"run", rb.string(), "--state", (t / "s1").string()}, 100);
  CHECK(coloured.exit_code == 1);
  CHECK_MESSAGE(has(coloured.screen, "\033[1;31mfailed\033[0m break"), coloured.screen);
  CHECK(has(coloured.screen, "\033[32mdone\033[0m greet"));
  const auto plain = run_in_pty({"run", rb.string(), "--state", (t / "s2").string()}, 100, {{"NO_COLOR", "1"}});
  CHECK(plain.exit_code == 1);
  CHECK(has(plain.screen, "failed break"));
  CHECK_FALSE(has(plain.screen, "\033[1;31m"));
  CHECK_FALSE(has(plain.screen, "\033[32m"));
  // Not a terminal: no colour either.
  auto piped = drctl({"run", rb.string(), "--state", (t / "s3").string()});
  CHECK_FALSE(has(piped.err, "\033["));
}
