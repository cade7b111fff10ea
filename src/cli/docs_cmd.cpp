// `drctl completion bash|zsh` and `drctl man`: shell completion and the manual page, made from
// the same CLI11 declarations as `--help`, so neither can drift from what the parser accepts.
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "cli/commands.hpp"

namespace drctl::cli {

namespace {

/// One command of the tree: its words after `drctl` ("snapshot restore"), and the app.
struct Command {
  std::string path;
  const CLI::App* app;
};

std::vector<const CLI::App*> subcommands(const CLI::App& app) {
  std::vector<const CLI::App*> out;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; }))
    if (!sub->get_name().empty()) out.push_back(sub);
  return out;
}

/// Every command, depth first, the root ("") first.
void walk(const CLI::App& app, const std::string& path, std::vector<Command>& out) {
  out.push_back({path, &app});
  for (const CLI::App* sub : subcommands(app)) walk(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
}

std::vector<Command> commands(const CLI::App& root) {
  std::vector<Command> out;
  walk(root, "", out);
  return out;
}

/// The option names a command takes on its own level: "--repo", "-j", … (positionals have none).
std::vector<std::string> option_names(const CLI::App& app) {
  std::vector<std::string> out;
  for (const CLI::Option* o : app.get_options()) {
    for (const auto& l : o->get_lnames()) out.push_back("--" + l);
    for (const auto& s : o->get_snames()) out.push_back("-" + s);
  }
  return out;
}

/// What completes after a command's words: its subcommands, then its options.
std::string candidates(const CLI::App& app) {
  std::string out;
  for (const CLI::App* sub : subcommands(app)) out += (out.empty() ? "" : " ") + sub->get_name();
  for (const auto& o : option_names(app)) out += (out.empty() ? "" : " ") + o;
  return out;
}

/// Command words and option names are plain ([A-Za-z0-9-]); anything else would need quoting
/// in the generated scripts, so it is refused rather than emitted wrong.
void check_word(const std::string& w) {
  for (char c : w)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ' '))
      throw Failure("internal error: command word '" + w + "' cannot go into a completion script");
}

/// The shell `case` patterns both scripts share: `known`, every command's words after drctl
/// (" snapshot"|" snapshot restore"|…), and `cases`, a branch a command setting what completes
/// after it, written by `assign` from the candidates.
struct Cases {
  std::string known, cases;
};
Cases shell_cases(const CLI::App& root, const std::function<std::string(const std::string&)>& assign) {
  Cases out;
  for (const auto& c : commands(root)) {
    check_word(c.path);
    check_word(candidates(*c.app));
    if (!c.path.empty()) out.known += std::string(out.known.empty() ? "" : "|") + "\" " + c.path + "\"";
    out.cases += "    \"" + (c.path.empty() ? "" : " " + c.path) + "\") " + assign(candidates(*c.app)) + " ;;\n";
  }
  return out;
}

std::string bash_script(const CLI::App& root) {
  const auto [known, cases] = shell_cases(root, [](const std::string& words) { return "words=\"" + words + "\""; });
  return "# bash completion for drctl, made by `drctl completion bash` from drctl's own options.\n"
         "# Install: drctl completion bash > /etc/bash_completion.d/drctl (or source it).\n"
         "_drctl() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} cmd=\"\" i w words\n"
         "  # The command so far: the words that extend a known command, options and values skipped.\n"
         "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
         "    w=${COMP_WORDS[i]}\n"
         "    case \"$cmd $w\" in\n"
         "      " + known + ") cmd=\"$cmd $w\" ;;\n"
         "    esac\n"
         "  done\n"
         "  case \"$cmd\" in\n" + cases +
         "  esac\n"
         "  local -a all\n"
         "  read -r -a all <<< \"$words\"\n"
         "  COMPREPLY=()\n"
         "  for w in \"${all[@]}\"; do\n"
         "    # Options only once the word starts with '-'; an empty reply leaves bash to complete file names.\n"
         "    if [[ $w == -* && $cur != -* ]]; then continue; fi\n"
         "    [[ $w == \"$cur\"* ]] && COMPREPLY+=(\"$w\")\n"
         "  done\n"
         "}\n"
         "complete -o default -F _drctl drctl\n";
}

std::string zsh_script(const CLI::App& root) {
  const auto [known, cases] = shell_cases(root, [](const std::string& words) { return "cands=(" + words + ")"; });
  // `path` is zsh's array tied to PATH: the command so far is `cmd`.
  return "#compdef drctl\n"
         "# zsh completion for drctl, made by `drctl completion zsh` from drctl's own options.\n"
         "# Install: drctl completion zsh > \"${fpath[1]}/_drctl\" (or source it after compinit).\n"
         "_drctl() {\n"
         "  local cmd=\"\" w i\n"
         "  local -a cands\n"
         "  for ((i = 2; i < CURRENT; i++)); do\n"
         "    w=${words[i]}\n"
         "    case \"$cmd $w\" in\n"
         "      " + known + ") cmd=\"$cmd $w\" ;;\n"
         "    esac\n"
         "  done\n"
         "  case \"$cmd\" in\n" + cases +
         "  esac\n"
         "  if [[ ${words[CURRENT]} == -* ]]; then\n"
         "    compadd -- ${(M)cands:#-*}\n"
         "  else\n"
         "    compadd -- ${cands:#-*}\n"
         "    _files\n"
         "  fi\n"
         "}\n"
         "if [[ ${funcstack[1]} == _drctl ]]; then _drctl \"$@\"; else compdef _drctl drctl; fi\n";
}

/// Text as roff shows it: backslashes escaped, a leading '.' or '\'' kept from being a request.
std::string roff(const std::string& text) {
  std::string out;
  for (char c : text) out += c == '\\' ? std::string("\\e") : std::string(1, c);
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

/// An option's names as the manual shows them: "\-j, \-\-jobs N" (hyphens as roff's minus).
std::string option_heading(const CLI::Option& o) {
  std::string names;
  for (const auto& s : o.get_snames()) names += (names.empty() ? "" : ", ") + std::string("\\-") + s;
  for (const auto& l : o.get_lnames()) names += (names.empty() ? "" : ", ") + std::string("\\-\\-") + l;
  if (names.empty()) return "\\fI" + roff(o.get_name()) + "\\fR";  // a positional argument
  names = "\\fB" + names + "\\fR";
  if (o.get_type_size() != 0) names += " \\fI" + roff(o.get_type_name().empty() ? "VALUE" : o.get_type_name()) + "\\fR";
  return names;
}

std::string today() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

std::string man_page(const CLI::App& root, const std::string& version) {
  std::string out = ".TH DRCTL 1 " + today() + " \"" + roff(version) + "\" \"User Commands\"\n";
  out += ".SH NAME\ndrctl \\- " + roff(root.get_description().substr(root.get_description().find(':') + 2)) + "\n";
  out += ".SH SYNOPSIS\n.B drctl\n.I COMMAND\n.RI [ OPTIONS ]\n";
  out += ".SH DESCRIPTION\n" + roff(root.get_description()) + ".\n";
  out += "Every command's options follow, as \\fBdrctl\\fR \\fICOMMAND\\fR \\fB\\-\\-help\\fR shows them.\n";
  out += ".SH COMMANDS\n";
  for (const auto& c : commands(root)) {
    if (c.path.empty()) continue;
    out += ".SS \"drctl " + roff(c.path) + "\"\n" + roff(c.app->get_description()) + "\n";
    for (const CLI::Option* o : c.app->get_options()) {
      if (o->get_lnames().size() == 1 && o->get_lnames()[0] == "help") continue;  // every command has it
      out += ".TP\n" + option_heading(*o) + "\n" + roff(o->get_description().empty() ? "(no description)" : o->get_description()) + "\n";
    }
  }
  out += ".SH EXIT STATUS\n.TP\n0\nok\n.TP\n1\nfailed\n.TP\n2\nusage or bad input (before any work starts)\n"
         ".TP\n3\npartial: finished, but something was skipped\n";
  out += ".SH ENVIRONMENT\n"
         ".TP\n.B DRCTL_REPO\nthe snapshot repository when \\fB\\-\\-repo\\fR is not given (else ./snapshots)\n"
         ".TP\n.B DRCTL_PASSWORD_FILE\na file holding an encrypted repository's passphrase\n"
         ".TP\n.B DRCTL_KEY_FILE\nan encrypted repository's key file\n"
         ".TP\n.B NO_COLOR\nwhen set and not empty, no colour on a terminal\n";
  out += ".SH SEE ALSO\n.BR ssh_config (5),\n.BR systemd.timer (5),\n.BR crontab (5)\n";
  return out;
}

}  // namespace

void add_docs_commands(CLI::App& app, Action& run) {
  auto shell = std::make_shared<std::string>();
  auto* completion = app.add_subcommand("completion", "Print the shell completion script for bash or zsh");
  completion->add_option("SHELL", *shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  completion->callback([&run, &app, shell] {
    run = [&app, shell] {
      std::fputs((*shell == "bash" ? bash_script(app) : zsh_script(app)).c_str(), stdout);
      return kOk;
    };
  });
  auto* man = app.add_subcommand("man", "Print drctl's manual page (roff; view it with man -l -)");
  man->callback([&run, &app] {
    run = [&app] {
      std::fputs(man_page(app, app.version()).c_str(), stdout);
      return kOk;
    };
  });
}

}  // namespace drctl::cli
