// drctl: disaster recovery and rebuild orchestration for self-hosted clouds.
#include <cstdio>

#include "cli/commands.hpp"
#include "store/error.hpp"

int main(int argc, char** argv) {
  using namespace drctl::cli;
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "drctl: error: %s (see --help)\n", e.what());
    return kBadInput;
  }
  try {
    return run ? run() : kOk;
  } catch (const drctl::InputError& e) {
    std::fprintf(stderr, "drctl: error: %s\n", e.what());
    return kBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "drctl: error: %s\n", e.what());
    return kFailed;
  }
}
