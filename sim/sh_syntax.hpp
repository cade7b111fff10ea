// The syntax of the simulated hosts' small POSIX sh (see host.hpp for what it reads): the
// lexer and parser that turn a script into a tree of commands for the interpreter
// (sh_interpreter.cpp). Constructs it does not model are refused here, before anything runs.
#pragma once
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace drctl::sim::sh {

/// A script sh cannot read; dash's words, shown after "sh: 1: ".
struct SyntaxError {
  std::string message;  // after "sh: 1: "
};

/// A construct sh has but the simulator does not model (loops, case, here-documents, `&`).
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
  enum Type { Simple, If, Group, Subshell, Pipeline, AndOr, List } type = Simple;
  std::vector<std::string> words;                // Simple
  std::vector<Redir> redirs;                     // Simple and the compound commands
  std::vector<std::shared_ptr<Node>> parts;      // Pipeline, AndOr, List; If: condition, body, …, [else]; Group/Subshell: the list
  std::vector<std::string> ops;                  // AndOr: "&&"/"||" between the parts
  bool negate = false;                           // Pipeline: `!`
};
using NodeP = std::shared_ptr<Node>;

/// The tree of a whole script; throws SyntaxError or Unsupported.
NodeP parse(const std::string& script);

/// Index just past the `)` that closes the `(` at s[open] (quotes and nesting respected), for
/// `$(…)`; throws SyntaxError when nothing closes it.
std::size_t skip_parens(const std::string& s, std::size_t open);

/// Whether `s` is a shell variable name (a letter or `_`, then letters, digits, `_`).
bool is_name(const std::string& s);

/// "NAME=value" as a shell assignment word (NAME, value), if it is one.
std::optional<std::pair<std::string, std::string>> assignment(const std::string& word);

}  // namespace drctl::sim::sh
