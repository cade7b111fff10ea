// drctl: disaster recovery and rebuild orchestration for self-hosted clouds.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "base/error.hpp"
#include "base/suggest.hpp"

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

/// The deepest subcommand the command line reached ("drctl snapshot list" → list).
CLI::App* deepest(CLI::App* app) {
  for (auto subs = app->get_subcommands(); !subs.empty(); subs = app->get_subcommands()) app = subs.front();
  return app;
}

/// What a word CLI11 could not place was probably meant to be, from the names at the level the
/// parse reached: " (did you mean '--seeds'?)" for an option, ": 'snapshto' is not a command
/// (did you mean 'snapshot'?)" for a subcommand; "" when nothing is close.
std::string typo_hint(CLI::App& root) {
  CLI::App* at = deepest(&root);
  std::vector<std::string> options, commands;
  for (const CLI::Option* o : at->get_options()) {  // the options of that level: a parent's are not taken there
    for (const auto& n : o->get_lnames()) options.push_back(n);  // without dashes: "-x" is not one edit from "-h"
    for (const auto& n : o->get_snames()) options.push_back(n);
  }
  for (const CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; })) commands.push_back(sub->get_name());
  for (const std::string& word : root.remaining(true)) {
    if (word.size() > 1 && word[0] == '-') {
      const std::string name = word.substr(0, word.find('='));
      const std::string bare = name.substr(std::min(name.size(), name.find_first_not_of('-')));
      if (auto c = drctl::closest(bare, options)) return std::string(" (did you mean '") + (c->size() > 1 ? "--" : "-") + *c + "'?)";
    } else if (auto c = drctl::closest(word, commands)) {
      return ": '" + word + "' is not a command of " + (at == &root ? std::string("drctl") : "drctl " + at->get_name()) +
             " (did you mean '" + *c + "'?)";
    }
  }
  return "";
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
    return report(std::string(e.what()) + typo_hint(app) + " (see --help)", kBadInput);
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
