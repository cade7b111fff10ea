// The login shell of a simulated host, which is what reads the line an SSH client sends
// (`$SHELL -c LINE`): sh on GNU/Linux, tcsh on FreeBSD appliances. The tcsh model is small —
// words, quotes, `;` `&&` `||`, redirections, `exec` — and strict where csh differs from sh, with
// tcsh 6's messages (sim/CONFORMANCE.md). tcsh reads `-c`'s text a line at a time: a quote left
// open at a line's end is "Unmatched '''.", `!word` is a history event even inside single
// quotes ("word: Event not found."), `2>&1` is the word 2 and a redirection of both outputs to a
// file named 1, two output redirections of one command are "Ambiguous output redirect.". A line
// with such an error runs nothing (status 1) and the next line is read; the status is the last line's.
#include <cctype>
#include <map>
#include <optional>

#include "sim/host.hpp"
#include "sim/host_paths.hpp"

namespace drctl::sim {

/// One simple command of the line.
struct CshCommand {
  std::vector<std::string> words;
  std::string out_file, in_file;
  bool append = false, both = false;  // >> ; >& (stdout and stderr)
  std::string joined_by;              // ";" "&&" "||": how it follows the one before
};

namespace {

/// A word or an operator of a csh line.
struct CshToken {
  std::string text;
  bool op = false;  // ; && || | |& & > >> >& >>& < ( )
};

/// What went wrong reading the line: tcsh's message.
struct CshError {
  std::string message;
};

bool csh_blank(char c) { return c == ' ' || c == '\t'; }

/// The history event at line[i] == '!' when there is one (csh expands it even in single quotes;
/// "! " "!=" "!(" and a trailing "!" are left alone): the event's word for the message.
std::optional<std::string> history_event(const std::string& line, std::size_t i) {
  if (i + 1 >= line.size()) return std::nullopt;
  const char next = line[i + 1];
  if (csh_blank(next) || next == '=' || next == '(') return std::nullopt;
  std::size_t end = i + 1;
  while (end < line.size() && !csh_blank(line[end]) && line[end] != '\'' && line[end] != '"' && line[end] != ';')
    ++end;
  return line.substr(i + 1, end - i - 1);
}

std::vector<CshToken> csh_lex(const std::string& line, const std::map<std::string, std::string>& env) {
  std::vector<CshToken> tokens;
  std::string word;
  bool in_word = false;
  auto finish = [&] {
    if (in_word) tokens.push_back({word, false});
    word.clear();
    in_word = false;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '!') {
      if (auto event = history_event(line, i)) throw CshError{*event + ": Event not found."};
    }
    if (csh_blank(c)) {
      finish();
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == '\'' || c == '"') {
      in_word = true;
      for (++i; i < line.size() && line[i] != c; ++i) {
        if (line[i] == '!' && line[i - 1] != '\\') {
          if (auto event = history_event(line, i)) throw CshError{*event + ": Event not found."};
        }
        if (c == '\'' && line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '!') continue;  // \! is !
        if (c == '"' && line[i] == '$') throw CshError{"sim: csh: $ inside double quotes is not modelled"};
        word += line[i];
      }
      if (i >= line.size() || line[i] != c) throw CshError{std::string("Unmatched '") + c + "'."};
    } else if (c == '$') {
      std::size_t end = i + 1;
      while (end < line.size() && (std::isalnum(static_cast<unsigned char>(line[end])) || line[end] == '_')) ++end;
      const std::string name = line.substr(i + 1, end - i - 1);
      auto it = env.find(name);
      if (name.empty()) throw CshError{"Illegal variable name."};
      if (it == env.end()) throw CshError{name + ": Undefined variable."};
      word += it->second;
      in_word = true;
      i = end - 1;
    } else if (c == ';' || c == '&' || c == '|' || c == '>' || c == '<' || c == '(' || c == ')') {
      finish();
      std::string op(1, c);
      if ((c == '&' || c == '|') && i + 1 < line.size() && line[i + 1] == c) op += line[++i];
      else if (c == '|' && i + 1 < line.size() && line[i + 1] == '&') op += line[++i];
      else if (c == '>') {
        if (i + 1 < line.size() && line[i + 1] == '>') op += line[++i];
        if (i + 1 < line.size() && line[i + 1] == '&') op += line[++i];
      }
      tokens.push_back({op, true});
    } else {
      word += c;
      in_word = true;
    }
  }
  finish();
  return tokens;
}

std::vector<CshCommand> csh_parse(const std::vector<CshToken>& tokens) {
  std::vector<CshCommand> cmds(1);
  cmds[0].joined_by = ";";
  int outputs = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const CshToken& t = tokens[i];
    CshCommand& cur = cmds.back();
    if (!t.op) {
      cur.words.push_back(t.text);
      continue;
    }
    if (t.text == ";" || t.text == "&&" || t.text == "||") {
      if (cur.words.empty() && t.text != ";") throw CshError{"Invalid null command."};
      cmds.push_back({});
      cmds.back().joined_by = t.text;
      outputs = 0;
      continue;
    }
    if (t.text == "|" || t.text == "|&") {
      if (++outputs > 1) throw CshError{"Ambiguous output redirect."};
      throw CshError{"sim: csh: pipelines are not modelled"};
    }
    if (t.text[0] == '>' || t.text == "<") {
      if (i + 1 >= tokens.size() || tokens[i + 1].op) throw CshError{"Missing name for redirect."};
      const std::string target = tokens[++i].text;
      if (t.text == "<") {
        cur.in_file = target;
        continue;
      }
      if (++outputs > 1) throw CshError{"Ambiguous output redirect."};
      cur.out_file = target;
      cur.append = t.text.rfind(">>", 0) == 0;
      cur.both = t.text.back() == '&';
      continue;
    }
    throw CshError{"sim: csh: '" + t.text + "' is not modelled"};
  }
  return cmds;
}

}  // namespace

SimHost::Result SimHost::csh_c(const std::string& text, const std::string& stdin_data, const Env& env) {
  Result total;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    std::vector<CshCommand> cmds;
    try {
      cmds = csh_parse(csh_lex(line, env));
    } catch (const CshError& e) {
      total.code = 1;
      total.err += e.message + "\n";
      continue;
    }
    if (csh_line(cmds, stdin_data, env, total)) break;  // exec: the shell is gone
  }
  return total;
}

bool SimHost::csh_line(const std::vector<CshCommand>& cmds, const std::string& stdin_data, const Env& env,
                       Result& total) {
  for (const CshCommand& c : cmds) {
    if (c.words.empty()) continue;
    if ((c.joined_by == "&&" && total.code != 0) || (c.joined_by == "||" && total.code == 0)) continue;
    std::vector<std::string> argv = c.words;
    const bool replaces = argv[0] == "exec";
    if (replaces) argv.erase(argv.begin());
    if (argv.empty()) continue;
    std::string input = stdin_data;
    if (!c.in_file.empty()) {
      auto it = files_.find(absolute(c.in_file));
      if (it == files_.end()) {
        total.code = 1;
        total.err += c.in_file + ": No such file or directory.\n";
        return false;
      }
      input = it->second.content;
    }
    Result r = which(argv[0]).empty() && !commands_.count(argv[0]) ? Result{1, "", argv[0] + ": Command not found.\n"}
                                                                    : exec(argv, input, env);
    total.code = r.code;
    if (c.out_file.empty()) {
      total.out += r.out;
      total.err += r.err;
    } else if (c.out_file == "/dev/null") {
      total.err += c.both ? "" : r.err;
    } else {
      const std::string path = absolute(c.out_file);
      auto it = files_.find(path);
      const std::string before = c.append && it != files_.end() ? it->second.content : "";
      std::string why;
      if (!store(path, before + r.out + (c.both ? r.err : ""), 0644, &why)) total.err += c.out_file + ": " + why + ".\n";
      if (!c.both) total.err += r.err;
    }
    if (replaces) return true;
  }
  return false;
}

world::CommandResult SimHost::login(const std::string& line, const world::Command& command) {
  engine_.log(name_, "command", {{"script", command.script}});
  cwd_ = command.cwd.empty() ? "/" : absolute(command.cwd);
  const Result r = os_ == Os::freebsd ? csh_c(line, command.stdin_data, command.env)
                                      : sh_c({"sh", "-c", line}, command.stdin_data, command.env);
  world::CommandResult out;
  out.exit_code = r.code;
  out.out = r.out;
  out.err = r.err;
  return out;
}

}  // namespace drctl::sim
