// drctl: disaster recovery and rebuild orchestration for self-hosted clouds.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "base/error.hpp"

namespace {

using namespace drctl::cli;

/// Every value of every option and argument of every command is one line of printable text:
/// anything else is refused while parsing, before a command starts, naming the option.
void refuse_control_characters(CLI::App& app) {
  const CLI::Validator one_line([](std::string& value) { return control_character_problem(value); }, "", "ONE_LINE");
  for (CLI::Option* option : app.get_options()) option->check(one_line);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) refuse_control_characters(*sub);
}

/// The one line `drctl: error: MESSAGE` on stderr, whatever MESSAGE quotes (control characters
/// and bytes that are not UTF-8 are escaped); the exit code.
int report(const std::string& message, int code) {
  std::fprintf(stderr, "drctl: error: %s\n", printable(message).c_str());
  return code;
}

/// A JSON library error that got this far, without the library's "[json.exception.…] " tag.
/// Text that is not UTF-8 can only have come from the user's files or arguments: bad input.
int report_json(const nlohmann::json::exception& e) {
  std::string what = e.what();
  if (const auto end = what.find("] "); what.rfind("[json.exception.", 0) == 0 && end != std::string::npos)
    what.erase(0, end + 2);
  if (e.id == 316) return report("text that is not valid UTF-8 cannot be shown as JSON (" + what + ")", kBadInput);
  return report("unexpected JSON (" + what + ")", kFailed);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"drctl: back up, rebuild and drill a self-hosted cloud"};
  app.footer(
      "Exit codes: 0 ok, 1 failed, 2 usage or bad input, 3 partial (finished, but something was skipped).\n"
      "Run `drctl COMMAND --help` for a command's options.");
  app.require_subcommand(1);
  app.set_version_flag("--version", "drctl 0.1.0");
  Action run;
  add_snapshot_commands(app, run);
  add_demo_command(app, run);
  add_run_commands(app, run);
  add_drill_command(app, run);
  add_hosts_command(app, run);
  add_pxe_command(app, run);
  add_schedule_command(app, run);
  add_status_command(app, run);
  add_docs_commands(app, run);
  refuse_control_characters(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return report(std::string(e.what()) + " (see --help)", kBadInput);
  }
  try {
    return run ? run() : kOk;
  } catch (const drctl::InputError& e) {
    return report(e.what(), kBadInput);
  } catch (const nlohmann::json::exception& e) {
    return report_json(e);
  } catch (const std::exception& e) {
    return report(e.what(), kFailed);
  } catch (...) {
    return report("an unexpected error that carries no message", kFailed);
  }
}
