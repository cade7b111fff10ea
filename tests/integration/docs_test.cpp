// Shell completion and the manual page (issue 21, section 2): the scripts drctl prints are run
// by the real bash and zsh (the oracle for what a user's Tab gives), and the manual page is
// checked by mandoc's linter and against what `--help` lists for each command.
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <sstream>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;

namespace {

/// What bash's completion gives for the words typed so far (the last one being completed).
std::set<std::string> bash_complete(const fs::path& script, const std::vector<std::string>& typed) {
  std::string words;
  for (const auto& w : typed) words += " '" + w + "'";
  const RunResult r = run({"bash", "-c",
                           "source '" + script.string() + "'; COMP_WORDS=(drctl" + words + "); COMP_CWORD=" +
                               std::to_string(typed.size()) + "; _drctl; printf '%s\\n' \"${COMPREPLY[@]}\""});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  std::set<std::string> out;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.insert(l);
  return out;
}

/// What zsh's completion function offers: compadd and _files stand in for the completion system
/// and print what they are given; the function itself runs as zsh runs it.
std::set<std::string> zsh_complete(const fs::path& script, const std::vector<std::string>& typed) {
  std::string words;
  for (const auto& w : typed) words += " '" + w + "'";
  const RunResult r = run({"zsh", "-f", "-c",
                           "compadd() { [[ $1 == -- ]] && shift; print -l -- \"$@\"; }; _files() { print -- FILES; }; "
                           "compdef() { :; }; source '" + script.string() + "'; words=(drctl" + words + "); CURRENT=" +
                               std::to_string(typed.size() + 1) + "; _drctl"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  // compadd matches what it is given against the word typed, as the stand-in does here.
  std::set<std::string> out;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && (l == "FILES" || l.rfind(typed.back(), 0) == 0)) out.insert(l);
  return out;
}

/// The long options `drctl ARGS --help` lists (CLI11's own help text).
std::set<std::string> help_options(const std::vector<std::string>& command) {
  std::vector<std::string> args = command;
  args.push_back("--help");
  const RunResult r = drctl(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  std::set<std::string> out;
  const std::regex option(R"((^|[ ,])(--[a-z][a-z0-9-]*))");
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("  -", 0) != 0 && l.rfind("  --", 0) != 0) continue;  // an option's own line
    for (std::sregex_iterator m(l.begin(), l.end(), option), end; m != end; ++m) {
      out.insert((*m)[2]);
      break;  // its first name; the description may mention others
    }
  }
  return out;
}

}  // namespace

TEST_CASE("completion: bash completes commands, subcommands and each command's own options") {
  TempDir t("completion-bash");
  const RunResult script = drctl({"completion", "bash"});
  REQUIRE_MESSAGE(script.exit_code == 0, script.describe());
  write_file(t / "drctl.bash", script.out);
  CHECK(bash_complete(t / "drctl.bash", {"snap"}) == std::set<std::string>{"snapshot"});
  CHECK(bash_complete(t / "drctl.bash", {"snapshot", "res"}) == std::set<std::string>{"restore"});
  CHECK(bash_complete(t / "drctl.bash", {"drill", "--se"}) == std::set<std::string>{"--seeds"});
  // Options and their values between the command words do not lose the command.
  CHECK(bash_complete(t / "drctl.bash", {"snapshot", "--repo", "/tmp/r", "restore", "--to"}).contains("--to"));
  // A file argument: nothing offered, so bash falls back to file names (-o default).
  CHECK(bash_complete(t / "drctl.bash", {"run", "runb"}).empty());
  // Options are offered only once a '-' is typed.
  for (const auto& w : bash_complete(t / "drctl.bash", {""})) CHECK(w.front() != '-');
}

TEST_CASE("completion: zsh offers the same words as bash") {
  TempDir t("completion-zsh");
  write_file(t / "drctl.bash", drctl({"completion", "bash"}).out);
  const RunResult script = drctl({"completion", "zsh"});
  REQUIRE_MESSAGE(script.exit_code == 0, script.describe());
  write_file(t / "_drctl", script.out);
  CHECK(zsh_complete(t / "_drctl", {"snapshot", "--"}) == bash_complete(t / "drctl.bash", {"snapshot", "--"}));
  std::set<std::string> commands = zsh_complete(t / "_drctl", {""});
  CHECK(commands.erase("FILES") == 1);
  CHECK(commands == bash_complete(t / "drctl.bash", {""}));
  CHECK(commands.contains("schedule"));
}

TEST_CASE("man page: mandoc finds no error in it, and it lists every option --help lists") {
  TempDir t("man-page");
  const RunResult page = drctl({"man"});
  REQUIRE_MESSAGE(page.exit_code == 0, page.describe());
  write_file(t / "drctl.1", page.out);
  // mandoc -T lint: anything at WARNING level or above is a real defect (STYLE is advice).
  const RunResult lint = run({"mandoc", "-T", "lint", "-W", "warning", (t / "drctl.1").string()});
  CHECK_MESSAGE(lint.exit_code == 0, lint.describe());
  // The page as man renders it, hyphens and all.
  const RunResult shown = run({"mandoc", "-T", "utf8", "-O", "width=200", (t / "drctl.1").string()});
  REQUIRE(shown.exit_code == 0);
  std::string text;
  for (std::size_t i = 0; i < shown.out.size(); ++i) {  // drop bold/underline overstrikes (c\bc)
    if (i + 1 < shown.out.size() && shown.out[i + 1] == '\b') {
      ++i;
      continue;
    }
    text += shown.out[i];
  }
  for (const std::vector<std::string>& command : std::vector<std::vector<std::string>>{
           {"snapshot", "restore"}, {"snapshot", "create"}, {"drill"}, {"run"}, {"schedule", "install"}}) {
    std::string heading = "drctl";
    for (const auto& w : command) heading += " " + w;
    const auto at = text.find("\n   " + heading + "\n");
    REQUIRE_MESSAGE(at != std::string::npos, heading);
    const auto next = text.find("\n   drctl ", at + 1);
    const std::string section = text.substr(at, next == std::string::npos ? std::string::npos : next - at);
    for (const auto& option : help_options(command)) {
      if (option == "--help") continue;
      CHECK_MESSAGE(section.find(option) != std::string::npos, heading << " lacks " << option);
    }
  }
}

TEST_CASE("cmake --install puts drctl, its manual page and both completion scripts where man, bash and zsh look") {
  TempDir t("install");
  const fs::path build = fs::path(DRCTL_BINARY).parent_path();
  const RunResult r = run({"cmake", "--install", build.string(), "--prefix", (t / "usr").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  const fs::path bin = t / "usr/bin/drctl";
  REQUIRE(fs::exists(bin));
  // What was installed is what the installed drctl prints, and man finds the page.
  CHECK(read_file(t / "usr/share/bash-completion/completions/drctl") == run({bin.string(), "completion", "bash"}).out);
  CHECK(read_file(t / "usr/share/zsh/site-functions/_drctl") == run({bin.string(), "completion", "zsh"}).out);
  const RunResult where = run({"man", "-M", (t / "usr/share/man").string(), "-w", "drctl"});
  CHECK_MESSAGE(where.exit_code == 0, where.describe());
  CHECK(where.out.find((t / "usr/share/man/man1/drctl.1").string()) != std::string::npos);
}
