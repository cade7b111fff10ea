// The sh lexer and parser: words with their quoting kept for the interpreter to expand,
// operators, IO numbers, and the tree of lists, and-or lists, pipelines and compound commands.
#include "sim/sh_syntax.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>

namespace drctl::sim::sh {

bool is_name(const std::string& s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

/// "NAME=value" as a shell assignment word (NAME, value), if it is one.
std::optional<std::pair<std::string, std::string>> assignment(const std::string& word) {
  auto eq = word.find('=');
  if (eq == std::string::npos || !is_name(word.substr(0, eq))) return std::nullopt;
  return std::pair(word.substr(0, eq), word.substr(eq + 1));
}

namespace {

enum class Tok { Word, Op, Newline, End, Error };
struct Token {
  Tok type;
  std::string text;  // Error: dash's message
  int fd = -1;       // an IO number before a redirection operator ("2>")
  int line = 1;      // where the token starts (End, Error: the script's last line, as dash reports them)
};

/// Index just past the quoted string starting at s[i] (' or ").
std::size_t skip_quoted(const std::string& s, std::size_t i) {
  const char q = s[i];
  if (q == '\'') {
    auto close = s.find('\'', i + 1);
    if (close == std::string::npos) throw SyntaxError{"Syntax error: Unterminated quoted string"};
    return close + 1;
  }
  for (++i; i < s.size();) {
    if (s[i] == '\\') {
      i += 2;
    } else if (s[i] == '"') {
      return i + 1;
    } else if (s[i] == '$' && i + 1 < s.size() && s[i + 1] == '(') {
      i = skip_parens(s, i + 1);
    } else if (s[i] == '`') {
      auto close = s.find('`', i + 1);
      if (close == std::string::npos) throw SyntaxError{"Syntax error: EOF in backquote substitution"};
      i = close + 1;
    } else {
      ++i;
    }
  }
  throw SyntaxError{"Syntax error: Unterminated quoted string"};
}

}  // namespace

/// Index just past the `)` that closes the `(` at s[open].
std::size_t skip_parens(const std::string& s, std::size_t open) {
  int depth = 1;
  for (std::size_t i = open + 1; i < s.size();) {
    const char c = s[i];
    if (c == '\'' || c == '"') {
      i = skip_quoted(s, i);
    } else if (c == '\\') {
      i += 2;
    } else {
      if (c == '(') ++depth;
      if (c == ')' && --depth == 0) return i + 1;
      ++i;
    }
  }
  throw SyntaxError{"Syntax error: end of file unexpected (expecting \")\")"};
}

namespace {

/// The script's tokens. A lexical error (an unterminated quote) is the last token, an Error: dash
/// meets it only when its parser gets there, after the commands before it have run.
void lex_into(const std::string& s, int first_line, std::vector<Token>& out);

std::vector<Token> lex(const std::string& s, int first_line) {
  std::vector<Token> out;
  const int eof_line = first_line + static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  try {
    lex_into(s, first_line, out);
  } catch (const SyntaxError& e) {
    out.push_back({Tok::Error, e.message, -1, eof_line});
    return out;
  }
  out.push_back({Tok::End, "", -1, eof_line});
  return out;
}

void lex_into(const std::string& s, int first_line, std::vector<Token>& out) {
  static const char* kOps[] = {"&&", "||", ";;", "<<", ">>", ">&", "<&", ">|", "<>", ";", "|", "&", "(", ")", "<", ">"};
  int pending_fd = -1;
  std::size_t i = 0, counted = 0;
  int line = first_line;
  auto line_at = [&](std::size_t pos) {  // lines are counted once, as the lexer moves on
    line += static_cast<int>(std::count(s.begin() + static_cast<std::ptrdiff_t>(counted), s.begin() + static_cast<std::ptrdiff_t>(pos), '\n'));
    counted = pos;
    return line;
  };
  const std::size_t n = s.size();
  while (i < n) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '\\' && i + 1 < n && s[i + 1] == '\n') {
      i += 2;
      continue;
    }
    if (c == '#') {
      while (i < n && s[i] != '\n') ++i;
      continue;
    }
    if (c == '\n') {
      out.push_back({Tok::Newline, "\n", -1, line_at(i)});
      ++i;
      continue;
    }
    bool op = false;
    for (const char* o : kOps) {
      const std::size_t len = std::strlen(o);
      if (s.compare(i, len, o) == 0) {
        out.push_back({Tok::Op, o, pending_fd, line_at(i)});
        pending_fd = -1;
        i += len;
        op = true;
        break;
      }
    }
    if (op) continue;
    const std::size_t start = i;
    while (i < n) {
      const char w = s[i];
      if (std::strchr(" \t\r\n;&|<>()", w)) break;
      if (w == '\\') {
        i = std::min(n, i + 2);
      } else if (w == '\'' || w == '"') {
        i = skip_quoted(s, i);
      } else if (w == '$' && i + 1 < n && s[i + 1] == '(') {
        i = skip_parens(s, i + 1);
      } else if (w == '$' && i + 1 < n && s[i + 1] == '{') {
        auto close = s.find('}', i);
        if (close == std::string::npos) throw SyntaxError{"Syntax error: Missing '}'"};
        i = close + 1;
      } else if (w == '`') {
        auto close = s.find('`', i + 1);
        if (close == std::string::npos) throw SyntaxError{"Syntax error: EOF in backquote substitution"};
        i = close + 1;
      } else {
        ++i;
      }
    }
    std::string word = s.substr(start, i - start);
    if (i < n && (s[i] == '<' || s[i] == '>') && word.size() == 1 && std::isdigit(static_cast<unsigned char>(word[0]))) {
      pending_fd = word[0] - '0';
      continue;
    }
    out.push_back({Tok::Word, std::move(word), -1, line_at(start)});
  }
}


class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  /// The next complete command at the top level (and-or lists up to a newline), or nullptr at the end.
  NodeP complete() {
    skip_newlines();
    if (peek().type == Tok::End) return nullptr;
    NodeP node = make(Node::List);
    for (;;) {
      node->parts.push_back(and_or());
      if (op_is("&")) background();
      if (op_is(";")) {
        ++i_;
        if (peek().type == Tok::Newline || peek().type == Tok::End) break;
        continue;
      }
      break;
    }
    if (peek().type == Tok::Newline) return node;
    if (peek().type != Tok::End) throw unexpected();
    return node;
  }

 private:
  /// The token at hand; a lexical error is raised when the parser reaches it.
  const Token& peek() const {
    if (t_[i_].type == Tok::Error) throw SyntaxError{t_[i_].text, t_[i_].line};
    return t_[i_];
  }
  bool word_is(const char* w) const { return peek().type == Tok::Word && peek().text == w; }
  bool op_is(const char* o) const { return peek().type == Tok::Op && peek().text == o; }
  bool next_op_is(const char* o) const {
    return i_ + 1 < t_.size() && t_[i_ + 1].type == Tok::Op && t_[i_ + 1].text == o;
  }
  void skip_newlines() {
    while (peek().type == Tok::Newline) ++i_;
  }
  SyntaxError unexpected() const {
    const Token& t = peek();
    if (t.type == Tok::End) return {"Syntax error: end of file unexpected", t.line};
    if (t.type == Tok::Newline) return {"Syntax error: newline unexpected", t.line};
    return {"Syntax error: \"" + t.text + "\" unexpected", t.line};
  }
  void expect_word(const char* w) {
    if (!word_is(w)) {
      const Token& t = peek();
      if (t.type == Tok::End)
        throw SyntaxError{std::string("Syntax error: end of file unexpected (expecting \"") + w + "\")", t.line};
      throw SyntaxError{"Syntax error: \"" + t.text + "\" unexpected (expecting \"" + w + "\")", t.line};
    }
    ++i_;
  }
  /// `&` after a command: a background job, which the simulator does not run. `cmd &>FILE` is the
  /// same to dash (`cmd &` then `>FILE`), not bash's redirection of both outputs.
  [[noreturn]] void background() const {
    if (next_op_is(">") || next_op_is(">>"))
      throw Unsupported{"`&>` (dash reads `cmd &>FILE` as `cmd &`, a background job, then `>FILE`): background jobs (&)"};
    throw Unsupported{"background jobs (&)"};
  }
  NodeP make(Node::Type type) const {
    auto n = std::make_shared<Node>();
    n->type = type;
    n->line = t_[i_].line;
    return n;
  }
  NodeP list(const std::set<std::string>& stop, bool in_parens) {
    NodeP node = make(Node::List);
    for (;;) {
      skip_newlines();
      if (peek().type == Tok::End) break;
      if (peek().type == Tok::Word && stop.count(peek().text)) break;
      if (in_parens && op_is(")")) break;
      node->parts.push_back(and_or());
      if (op_is(";")) {
        ++i_;
        continue;
      }
      if (peek().type == Tok::Newline) continue;
      if (op_is("&")) background();
      break;
    }
    return node;
  }
  NodeP and_or() {
    NodeP node = make(Node::AndOr);
    node->parts.push_back(pipeline());
    while (op_is("&&") || op_is("||")) {
      node->ops.push_back(t_[i_++].text);
      skip_newlines();
      node->parts.push_back(pipeline());
    }
    return node;
  }
  NodeP pipeline() {
    NodeP node = make(Node::Pipeline);
    if (word_is("!")) {
      ++i_;
      node->negate = true;
    }
    node->parts.push_back(command());
    while (op_is("|")) {
      ++i_;
      skip_newlines();
      node->parts.push_back(command());
    }
    return node;
  }
  static bool redirect_op(const Token& t) {
    static const std::set<std::string> ops = {">", ">>", "<", ">&", "<&", ">|", "<>", "<<"};
    return t.type == Tok::Op && ops.count(t.text) > 0;
  }
  bool at_redirect() const { return redirect_op(peek()); }
  Redir redirect() {
    const Token op = t_[i_++];
    // dash wants a word after the operator: another operator is "redirection unexpected" (bash's
    // here-string `<<<` is `<<` then `<` to dash), anything else the usual "… unexpected".
    if (redirect_op(peek())) throw SyntaxError{"Syntax error: redirection unexpected", peek().line};
    if (peek().type != Tok::Word) throw unexpected();
    if (op.text == "<<") throw Unsupported{"here-documents (<<)"};
    Redir r;
    r.op = op.text == "<>" ? "<" : op.text == ">|" ? ">" : op.text;
    r.fd = op.fd >= 0 ? op.fd : (op.text[0] == '<' ? 0 : 1);
    r.word = t_[i_++].text;
    return r;
  }
  NodeP command() {
    // `function` is no keyword to dash: `function f { …; }` is the command `function f { …`, then a
    // misplaced `}` ("}" unexpected), as dash reports it.
    static const std::set<std::string> loops = {"while", "until", "case"};
    static const std::set<std::string> misplaced = {"then", "elif", "else", "fi", "do", "done", "}", "esac"};
    NodeP node;
    if (word_is("if")) {
      node = if_clause();
    } else if (word_is("for")) {
      node = for_clause();
    } else if (word_is("{")) {
      node = make(Node::Group);
      ++i_;
      node->parts.push_back(list({"}"}, false));
      expect_word("}");
    } else if (op_is("(")) {
      node = make(Node::Subshell);
      ++i_;
      node->parts.push_back(list({}, true));
      if (!op_is(")")) {
        if (peek().type == Tok::End)
          throw SyntaxError{"Syntax error: end of file unexpected (expecting \")\")", peek().line};
        throw unexpected();
      }
      ++i_;
    } else if (peek().type == Tok::Word && loops.count(peek().text)) {
      throw Unsupported{"`" + peek().text + "`"};
    } else if (peek().type == Tok::Word && misplaced.count(peek().text)) {
      throw unexpected();
    } else {
      return simple();
    }
    while (at_redirect()) node->redirs.push_back(redirect());
    return node;
  }
  NodeP simple() {
    NodeP node = make(Node::Simple);
    for (;;) {
      if (peek().type == Tok::Word)
        node->words.push_back(t_[i_++].text);
      else if (at_redirect())
        node->redirs.push_back(redirect());
      else
        break;
    }
    if (node->words.size() == 1 && node->redirs.empty() && op_is("(") && next_op_is(")"))
      throw Unsupported{"function definitions (" + node->words[0] + "() …)"};
    if (node->words.empty() && node->redirs.empty()) throw unexpected();
    return node;
  }
  /// POSIX 2.9.4.3: `for name [in word …] ; do list done` (without `in`: the positional
  /// parameters), the separator a `;` or newlines, as dash's parser takes it.
  NodeP for_clause() {
    NodeP node = make(Node::For);
    ++i_;
    if (peek().type != Tok::Word || !is_name(peek().text)) throw SyntaxError{"Syntax error: Bad for loop variable", peek().line};
    node->words.push_back(t_[i_++].text);
    skip_newlines();
    if (word_is("in")) {
      ++i_;
      node->ops.push_back("in");
      while (peek().type == Tok::Word) node->words.push_back(t_[i_++].text);
      if (!op_is(";") && peek().type != Tok::Newline) throw unexpected();
    }
    if (op_is(";")) ++i_;
    skip_newlines();
    expect_word("do");
    node->parts.push_back(list({"done"}, false));
    expect_word("done");
    return node;
  }
  NodeP if_clause() {
    NodeP node = make(Node::If);
    ++i_;
    node->parts.push_back(list({"then"}, false));
    expect_word("then");
    node->parts.push_back(list({"elif", "else", "fi"}, false));
    while (word_is("elif")) {
      ++i_;
      node->parts.push_back(list({"then"}, false));
      expect_word("then");
      node->parts.push_back(list({"elif", "else", "fi"}, false));
    }
    if (word_is("else")) {
      ++i_;
      node->parts.push_back(list({"fi"}, false));
    }
    expect_word("fi");
    return node;
  }

  std::vector<Token> t_;
  std::size_t i_ = 0;
};


}  // namespace

struct Reader::Impl {
  Parser parser;
};

Reader::Reader(const std::string& script, int first_line) : impl_(new Impl{Parser(lex(script, first_line))}) {}
Reader::~Reader() = default;
NodeP Reader::next() { return impl_->parser.complete(); }

}  // namespace drctl::sim::sh
