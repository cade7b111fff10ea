// The syntax of the simulated hosts' small POSIX sh (see host.hpp for what it reads): the
// lexer and parser that turn a script into a tree of commands for the interpreter
// (sh_interpreter.cpp). Like dash (0.5.11/0.5.12, src/main.c evalstring → parsecmd), a script is
// read one complete command at a time and each runs before the next is parsed: a syntax error on
// line 5 comes after lines 1–4 have run. Constructs it does not model are refused when reached.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace drctl::sim::sh {

/// A script sh cannot read; dash's words, shown after "$0: LINE: ".
struct SyntaxError {
  std::string message;  // "Syntax error: …"
  int line = 0;         // where dash reports it (end of file: the last line)
};

/// A construct sh has but the simulator does not model (while/until loops, case, here-documents, `&`,
/// function definitions, arithmetic expansion).
struct Unsupported {
  std::string what;
};

/// One redirection of a command: `[fd]op word`.
struct Redir {
  int fd;
  std::string op;  // > >> < >& <&
  std::string word;
};

/// A command of the tree: a simple command, a compound command or a list of them.
struct Node {
  enum Type { Simple, If, For, Group, Subshell, Pipeline, AndOr, List } type = Simple;
  std::vector<std::string> words;                // Simple; For: the name, then the words after `in`
  std::vector<Redir> redirs;                     // Simple and the compound commands
  std::vector<std::shared_ptr<Node>> parts;      // Pipeline, AndOr, List; If: condition, body, …, [else]; Group/Subshell: the list
  std::vector<std::string> ops;                  // AndOr: "&&"/"||" between the parts; For: {"in"} when it has one
  bool negate = false;                           // Pipeline: `!`
  int line = 1;                                  // the line of the command's first word (dash's lineno)
};
using NodeP = std::shared_ptr<Node>;

/// Reads a script one complete command (a list ended by a newline) at a time, as dash does.
class Reader {
 public:
  /// `first_line`: the line the script starts on (a command substitution's, in its script).
  explicit Reader(const std::string& script, int first_line = 1);
  ~Reader();
  /// The next complete command, or nullptr at the end; throws SyntaxError or Unsupported.
  NodeP next();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Index just past the `)` that closes the `(` at s[open] (quotes and nesting respected), for
/// `$(…)`; throws SyntaxError when nothing closes it.
std::size_t skip_parens(const std::string& s, std::size_t open);

/// Whether `s` is a shell variable name (a letter or `_`, then letters, digits, `_`).
bool is_name(const std::string& s);

/// "NAME=value" as a shell assignment word (NAME, value), if it is one.
std::optional<std::pair<std::string, std::string>> assignment(const std::string& word);

}  // namespace drctl::sim::sh
