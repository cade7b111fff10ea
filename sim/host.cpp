#include "sim/host.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <optional>
#include <sstream>
#include <utility>

namespace drctl::sim {

namespace {

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// `path` is `dir` or inside it.
bool under(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += digits[md[i] >> 4];
    out += digits[md[i] & 15];
  }
  return out;
}

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

// --- the shell's syntax ------------------------------------------------------------------------

struct SyntaxError {
  std::string message;  // after "sh: 1: "
};

enum class Tok { Word, Op, Newline, End };
struct Token {
  Tok type;
  std::string text;
  int fd = -1;  // an IO number before a redirection operator ("2>")
};

std::size_t skip_parens(const std::string& s, std::size_t open);

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

std::vector<Token> lex(const std::string& s) {
  static const char* kOps[] = {"&&", "||", ";;", "<<", ">>", ">&", "<&", ">|", "<>", ";", "|", "&", "(", ")", "<", ">"};
  std::vector<Token> out;
  int pending_fd = -1;
  std::size_t i = 0;
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
      out.push_back({Tok::Newline, "\n"});
      ++i;
      continue;
    }
    bool op = false;
    for (const char* o : kOps) {
      const std::size_t len = std::strlen(o);
      if (s.compare(i, len, o) == 0) {
        out.push_back({Tok::Op, o, pending_fd});
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
    out.push_back({Tok::Word, std::move(word)});
  }
  out.push_back({Tok::End, ""});
  return out;
}

struct Redir {
  int fd;
  std::string op;  // > >> < >& <&
  std::string word;
};

struct Node {
  enum Type { Simple, If, Group, Subshell, Pipeline, AndOr, List } type = Simple;
  std::vector<std::string> words;                // Simple
  std::vector<Redir> redirs;                     // Simple and the compound commands
  std::vector<std::shared_ptr<Node>> parts;      // Pipeline, AndOr, List; If: condition, body, …, [else]; Group/Subshell: the list
  std::vector<std::string> ops;                  // AndOr: "&&"/"||" between the parts
  bool negate = false;                           // Pipeline: `!`
};
using NodeP = std::shared_ptr<Node>;

struct Unsupported {
  std::string what;
};

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}
  NodeP script() {
    NodeP l = list({}, false);
    if (peek().type != Tok::End) throw unexpected();
    return l;
  }

 private:
  const Token& peek() const { return t_[i_]; }
  bool word_is(const char* w) const { return peek().type == Tok::Word && peek().text == w; }
  bool op_is(const char* o) const { return peek().type == Tok::Op && peek().text == o; }
  void skip_newlines() {
    while (peek().type == Tok::Newline) ++i_;
  }
  SyntaxError unexpected() const {
    if (peek().type == Tok::End) return {"Syntax error: end of file unexpected"};
    if (peek().type == Tok::Newline) return {"Syntax error: newline unexpected"};
    return {"Syntax error: \"" + peek().text + "\" unexpected"};
  }
  void expect_word(const char* w) {
    if (!word_is(w)) {
      if (peek().type == Tok::End) throw SyntaxError{std::string("Syntax error: end of file unexpected (expecting \"") + w + "\")"};
      throw SyntaxError{"Syntax error: \"" + peek().text + "\" unexpected (expecting \"" + w + "\")"};
    }
    ++i_;
  }
  static NodeP make(Node::Type type) {
    auto n = std::make_shared<Node>();
    n->type = type;
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
      if (op_is("&")) throw Unsupported{"background jobs (&)"};
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
  bool at_redirect() const {
    if (peek().type != Tok::Op) return false;
    static const std::set<std::string> ops = {">", ">>", "<", ">&", "<&", ">|", "<>", "<<"};
    return ops.count(peek().text) > 0;
  }
  Redir redirect() {
    const Token op = t_[i_++];
    if (op.text == "<<") throw Unsupported{"here-documents (<<)"};
    if (peek().type != Tok::Word) throw unexpected();
    Redir r;
    r.op = op.text == "<>" ? "<" : op.text == ">|" ? ">" : op.text;
    r.fd = op.fd >= 0 ? op.fd : (op.text[0] == '<' ? 0 : 1);
    r.word = t_[i_++].text;
    return r;
  }
  NodeP command() {
    static const std::set<std::string> loops = {"for", "while", "until", "case", "select", "function"};
    static const std::set<std::string> misplaced = {"then", "elif", "else", "fi", "do", "done", "}", "esac"};
    NodeP node;
    if (word_is("if")) {
      node = if_clause();
    } else if (word_is("{")) {
      ++i_;
      node = make(Node::Group);
      node->parts.push_back(list({"}"}, false));
      expect_word("}");
    } else if (op_is("(")) {
      ++i_;
      node = make(Node::Subshell);
      node->parts.push_back(list({}, true));
      if (!op_is(")")) throw SyntaxError{"Syntax error: end of file unexpected (expecting \")\")"};
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
    if (node->words.empty() && node->redirs.empty()) throw unexpected();
    return node;
  }
  NodeP if_clause() {
    ++i_;
    NodeP node = make(Node::If);
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

/// Where a command's stdout or stderr goes.
struct Sink {
  enum Kind { Out, Err, Null, File } kind = Out;
  std::string path, shown;  // File: the file, and how the script named it
};

}  // namespace

// --- the interpreter ---------------------------------------------------------------------------

struct SimHost::Shell {
  SimHost& host;
  std::map<std::string, std::string> vars;
  std::set<std::string> exported;
  int last = 0;  // $?
  bool exiting = false, errexit = false, nounset = false, pipefail = false;
  int condition = 0;  // inside an if's condition or a tested && / || part: set -e does not apply
  int substituted = 0;  // the status of the last $(…)
  std::string umask = "0022";

  using Out = Result;
  struct Failed {
    Out result;
  };

  explicit Shell(SimHost& h) : host(h) {}

  Out run_script(const std::string& script, const std::string& in) {
    try {
      const NodeP root = Parser(lex(script)).script();
      return exec(*root, in);
    } catch (const SyntaxError& e) {
      return {2, "", "sh: 1: " + e.message + "\n"};
    } catch (const Unsupported& u) {
      return {2, "", "sim: " + host.name_ + ": sh: " + u.what + " not modelled\n"};
    }
  }

  Out exec(const Node& n, const std::string& in) {
    switch (n.type) {
      case Node::List: {
        Out o;
        for (const auto& part : n.parts) {
          if (exiting) break;
          Out r = exec(*part, in);
          o.out += r.out;
          o.err += r.err;
          o.code = r.code;
        }
        return o;
      }
      case Node::AndOr: {
        Out o;
        for (std::size_t i = 0; i < n.parts.size(); ++i) {
          if (exiting) break;
          if (i > 0 && ((n.ops[i - 1] == "&&") != (o.code == 0))) continue;
          const bool tested = i + 1 < n.parts.size();
          if (tested) ++condition;
          Out r = exec(*n.parts[i], in);
          if (tested) --condition;
          o.out += r.out;
          o.err += r.err;
          o.code = r.code;
          if (!tested && r.code != 0 && errexit && condition == 0 && !n.parts[i]->negate) exiting = true;
        }
        return o;
      }
      case Node::Pipeline: {
        Out o;
        std::string data = in;
        int failed = 0;
        for (std::size_t i = 0; i < n.parts.size(); ++i) {
          Out r = exec(*n.parts[i], data);
          o.err += r.err;
          if (i + 1 == n.parts.size())
            o.out += r.out;
          else
            data = std::move(r.out);
          if (r.code != 0) failed = r.code;
          o.code = r.code;
          if (exiting) break;
        }
        if (pipefail && o.code == 0) o.code = failed;
        if (n.negate) o.code = o.code == 0 ? 1 : 0;
        last = o.code;
        return o;
      }
      case Node::If:
        return redirected(n, in, [&](const std::string& input) {
          Out o;
          std::size_t i = 0;
          for (; i + 1 < n.parts.size(); i += 2) {
            ++condition;
            Out c = exec(*n.parts[i], input);
            --condition;
            o.out += c.out;
            o.err += c.err;
            if (exiting) return o;
            if (c.code == 0) {
              Out b = exec(*n.parts[i + 1], input);
              o.out += b.out;
              o.err += b.err;
              o.code = b.code;
              return o;
            }
          }
          o.code = 0;
          if (i < n.parts.size()) {  // else
            Out b = exec(*n.parts[i], input);
            o.out += b.out;
            o.err += b.err;
            o.code = b.code;
          }
          return o;
        });
      case Node::Group:
        return redirected(n, in, [&](const std::string& input) { return exec(*n.parts[0], input); });
      case Node::Subshell:
        return redirected(n, in, [&](const std::string& input) {
          Shell sub = *this;
          sub.exiting = false;
          const std::string cwd = host.cwd_;
          Out o = sub.exec(*n.parts[0], input);
          host.cwd_ = cwd;
          last = o.code;
          return o;
        });
      case Node::Simple:
        return simple(n, in);
    }
    return {};
  }

  /// A compound command with its redirections.
  template <typename Fn>
  Out redirected(const Node& n, const std::string& in, Fn&& body) {
    Out o;
    Sink sinks[3];
    std::optional<std::string> input;
    Files pending;
    try {
      if (!open(n.redirs, sinks, input, pending, o)) return o;
    } catch (const Failed& f) {
      exiting = true;
      return f.result;
    }
    Out r = body(input ? *input : in);
    deliver(sinks, pending, r, o);
    last = o.code;
    return o;
  }

  // --- expansion ----------------------------------------------------------------------------

  /// $(…): the script's output without its trailing newlines; its stderr goes to `err`.
  std::string substitute(const std::string& script, std::string& err) {
    Shell sub = *this;
    sub.exiting = false;
    const std::string cwd = host.cwd_;
    Out r = sub.run_script(script, "");
    host.cwd_ = cwd;
    err += r.err;
    substituted = r.code;
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  std::string parameter(const std::string& name, std::string& err) {
    if (name == "?") return std::to_string(last);
    if (name == "$") return "4242";
    if (name == "#") return "0";
    if (name == "0") return "sh";
    if (name == "@" || name == "*" || (name.size() == 1 && std::isdigit(static_cast<unsigned char>(name[0])))) return "";
    auto it = vars.find(name);
    if (it != vars.end()) return it->second;
    if (nounset) throw Failed{{2, "", err + "sh: 1: " + name + ": parameter not set\n"}};
    return "";
  }

  /// The expansion starting at raw[i] == '$' (or '`'); advances i past it.
  std::string dollar(const std::string& raw, std::size_t& i, std::string& err) {
    if (raw[i] == '`') {
      auto close = raw.find('`', i + 1);
      std::string script = raw.substr(i + 1, close - i - 1);
      i = close + 1;
      return substitute(script, err);
    }
    const std::size_t n = raw.size();
    if (i + 1 >= n) {
      ++i;
      return "$";
    }
    const char c = raw[i + 1];
    if (c == '(') {
      const std::size_t end = skip_parens(raw, i + 1);
      std::string script = raw.substr(i + 2, end - i - 3);
      i = end;
      return substitute(script, err);
    }
    if (c == '{') {
      const std::size_t close = raw.find('}', i);
      std::string body = raw.substr(i + 2, close - i - 2);
      i = close + 1;
      std::size_t op = 0;
      while (op < body.size() && (std::isalnum(static_cast<unsigned char>(body[op])) || body[op] == '_')) ++op;
      if (op == 0 && !body.empty() && std::strchr("?$#@*", body[0])) op = 1;
      const std::string name = body.substr(0, op), rest = body.substr(op);
      if (name.empty()) throw Failed{{2, "", err + "sh: 1: Bad substitution\n"}};
      if (rest.empty()) return parameter(name, err);
      const bool colon = rest[0] == ':';
      const std::string kind = rest.substr(colon ? 1 : 0, 1), word = rest.substr(colon ? 2 : 1);
      auto it = vars.find(name);
      const bool unset = it == vars.end(), empty = unset || it->second.empty();
      const bool use_word = colon ? empty : unset;
      const std::string value = unset ? "" : it->second;
      if (kind == "-") return use_word ? join(expand(word, false, err)) : value;
      if (kind == "=") {
        if (!use_word) return value;
        vars[name] = join(expand(word, false, err));
        return vars[name];
      }
      if (kind == "+") return use_word ? "" : join(expand(word, false, err));
      throw Failed{{2, "", err + "sh: 1: Bad substitution\n"}};
    }
    if (std::strchr("?$#@*0123456789", c)) {
      i += 2;
      return parameter(std::string(1, c), err);
    }
    std::size_t end = i + 1;
    while (end < n && (std::isalnum(static_cast<unsigned char>(raw[end])) || raw[end] == '_')) ++end;
    if (end == i + 1 || std::isdigit(static_cast<unsigned char>(raw[i + 1]))) {
      ++i;
      return "$";
    }
    std::string name = raw.substr(i + 1, end - i - 1);
    i = end;
    return parameter(name, err);
  }

  static std::string join(const std::vector<std::string>& fields) {
    std::string out;
    for (std::size_t i = 0; i < fields.size(); ++i) out += (i ? " " : "") + fields[i];
    return out;
  }

  /// A word's fields after quote removal and expansion; unquoted expansions are split on blanks
  /// when `split` (command words), not in assignments and redirections.
  std::vector<std::string> expand(const std::string& raw, bool split, std::string& err) {
    std::vector<std::string> fields;
    std::string cur;
    bool have = false;
    auto unquoted = [&](const std::string& text) {
      if (!split) {
        cur += text;
        have = have || !text.empty();
        return;
      }
      for (char c : text) {
        if (c == ' ' || c == '\t' || c == '\n') {
          if (have) fields.push_back(std::move(cur));
          cur.clear();
          have = false;
        } else {
          cur += c;
          have = true;
        }
      }
    };
    for (std::size_t i = 0; i < raw.size();) {
      const char c = raw[i];
      if (c == '\\') {
        if (i + 1 < raw.size() && raw[i + 1] != '\n') cur += raw[i + 1];
        have = true;
        i += 2;
      } else if (c == '\'') {
        auto close = raw.find('\'', i + 1);
        cur += raw.substr(i + 1, close - i - 1);
        have = true;
        i = close + 1;
      } else if (c == '"') {
        have = true;
        for (++i; i < raw.size() && raw[i] != '"';) {
          if (raw[i] == '\\' && i + 1 < raw.size()) {
            const char e = raw[i + 1];
            if (e == '\n') {
            } else if (std::strchr("$`\"\\", e)) {
              cur += e;
            } else {
              cur += '\\';
              cur += e;
            }
            i += 2;
          } else if (raw[i] == '$' || raw[i] == '`') {
            cur += dollar(raw, i, err);
          } else {
            cur += raw[i++];
          }
        }
        ++i;
      } else if (c == '$' || c == '`') {
        unquoted(dollar(raw, i, err));
      } else {
        cur += c;
        have = true;
        ++i;
      }
    }
    if (have || !cur.empty()) fields.push_back(std::move(cur));
    return fields;
  }

  // --- redirections -------------------------------------------------------------------------

  /// Sets up `redirs`; false (with the shell's message in `o`) when one cannot be opened.
  struct Pending {
    bool append = false;
    std::string data, shown;
  };
  using Files = std::map<std::string, Pending>;  // the files a command's output is redirected to

  bool open(const std::vector<Redir>& redirs, Sink (&sinks)[3], std::optional<std::string>& input, Files& files,
            Out& o) {
    sinks[1] = {Sink::Out, "", ""};
    sinks[2] = {Sink::Err, "", ""};
    for (const auto& r : redirs) {
      const std::string target = join(expand(r.word, false, o.err));
      auto fail = [&](const std::string& why) {
        o.code = 1;
        o.err += "sh: " + target + ": " + why + "\n";
        last = 1;
        return false;
      };
      if (r.op == ">&" || r.op == "<&") {
        if (target == "-") {
          if (r.fd == 1 || r.fd == 2) sinks[r.fd] = {Sink::Null, "", ""};
        } else if (target == "1" || target == "2") {
          if (r.fd == 1 || r.fd == 2) sinks[r.fd] = sinks[target[0] - '0'];
        } else if (target != "0") {
          o.code = 2;
          o.err += "sh: 1: Syntax error: Bad fd number\n";
          return false;
        }
        continue;
      }
      if (r.op == "<") {
        if (target == "/dev/null") {
          input = "";
          continue;
        }
        const std::string path = host.absolute(target);
        if (host.is_dir(path)) return fail("Is a directory");
        auto it = host.files_.find(path);
        if (it == host.files_.end()) return fail("No such file or directory");
        if (r.fd == 0) input = it->second.content;
        continue;
      }
      Sink s;
      if (target == "/dev/null") {
        s.kind = Sink::Null;
      } else if (target == "/dev/stderr") {
        s = sinks[2];
      } else if (target == "/dev/stdout") {
        s = sinks[1];
      } else {
        const std::string path = host.absolute(target);
        if (host.is_dir(path)) return fail("Is a directory");
        if (!host.is_dir(parent_of(path))) return fail("No such file or directory");
        s = {Sink::File, path, target};
        files[path].append = r.op == ">>";
        files[path].shown = target;
      }
      if (r.fd == 1 || r.fd == 2) sinks[r.fd] = s;
    }
    return true;
  }

  /// Hands a command's output to its sinks; the files are written once, opened (truncated) or not.
  void deliver(const Sink (&sinks)[3], Files& files, const Out& r, Out& o) {
    o.code = r.code;
    for (int fd : {1, 2}) {
      const std::string& data = fd == 1 ? r.out : r.err;
      const Sink& s = sinks[fd];
      if (s.kind == Sink::Out) o.out += data;
      if (s.kind == Sink::Err) o.err += data;
      if (s.kind == Sink::File) files[s.path].data += data;
    }
    for (auto& [path, p] : files) {
      auto it = host.files_.find(path);
      const std::string before = it == host.files_.end() || !p.append ? "" : it->second.content;
      std::string why;
      if (!host.store(path, before + p.data, it == host.files_.end() ? 0644 : it->second.mode, &why)) {
        o.code = 1;
        o.err += "sh: " + p.shown + ": " + why + "\n";
      }
    }
  }

  // --- simple commands and builtins ---------------------------------------------------------

  Out simple(const Node& n, const std::string& in) {
    Out o;
    try {
      std::vector<std::pair<std::string, std::string>> assigns;
      std::size_t k = 0;
      substituted = 0;  // an assignment alone exits with its last command substitution's status
      for (; k < n.words.size(); ++k) {
        auto a = assignment(n.words[k]);
        if (!a) break;
        assigns.emplace_back(a->first, join(expand(a->second, false, o.err)));
      }
      std::vector<std::string> argv;
      for (; k < n.words.size(); ++k)
        for (auto& f : expand(n.words[k], true, o.err)) argv.push_back(std::move(f));
      Sink sinks[3];
      std::optional<std::string> input;
      Files pending;
      if (!open(n.redirs, sinks, input, pending, o)) return o;
      Out r;
      if (argv.empty()) {
        for (const auto& [name, value] : assigns) vars[name] = value;
        r.code = substituted;
      } else {
        r = command(argv, input ? *input : in, assigns);
      }
      deliver(sinks, pending, r, o);
    } catch (const Failed& f) {
      o = f.result;
      exiting = true;  // a shell error in a non-interactive shell ends the script
    }
    last = o.code;
    return o;
  }

  Out command(const std::vector<std::string>& argv, const std::string& in,
              const std::vector<std::pair<std::string, std::string>>& assigns) {
    const std::string& cmd = argv[0];
    if (cmd == ":") return {};
    if (cmd == "exit") {
      exiting = true;
      return {argv.size() > 1 ? std::atoi(argv[1].c_str()) & 255 : last, "", ""};
    }
    if (cmd == "cd") {
      const std::string dir = argv.size() > 1 ? host.absolute(argv[1]) : "/root";
      if (!host.is_dir(dir)) return {2, "", "sh: 1: cd: can't cd to " + (argv.size() > 1 ? argv[1] : dir) + "\n"};
      host.cwd_ = dir;
      return {};
    }
    if (cmd == "export" || cmd == "unset") {
      for (std::size_t i = 1; i < argv.size(); ++i) {
        if (argv[i] == "-p" || argv[i] == "-v" || argv[i] == "-f") continue;
        auto a = assignment(argv[i]);
        const std::string name = a ? a->first : argv[i];
        if (!is_name(name)) return {2, "", "sh: 1: " + cmd + ": " + argv[i] + ": bad variable name\n"};
        if (cmd == "unset") {
          vars.erase(name);
          exported.erase(name);
          continue;
        }
        if (a) vars[name] = a->second;
        exported.insert(name);
      }
      return {};
    }
    if (cmd == "set") {
      for (std::size_t i = 1; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if ((a == "-o" || a == "+o") && i + 1 < argv.size()) {
          const std::string opt = argv[++i];
          if (opt == "pipefail") pipefail = a == "-o";
          else if (opt == "errexit") errexit = a == "-o";
          else if (opt == "nounset") nounset = a == "-o";
          else return {2, "", "sim: " + host.name_ + ": set: option '" + opt + "' not modelled\n"};
          continue;
        }
        if (a.size() < 2 || (a[0] != '-' && a[0] != '+'))
          return {2, "", "sim: " + host.name_ + ": set: positional parameters not modelled\n"};
        for (char c : a.substr(1)) {
          if (c == 'e') errexit = a[0] == '-';
          else if (c == 'u') nounset = a[0] == '-';
          else return {2, "", "sim: " + host.name_ + ": set: option '" + std::string(1, a[0]) + c + "' not modelled\n"};
        }
      }
      return {};
    }
    if (cmd == "umask") {
      if (argv.size() == 1) return {0, umask + "\n", ""};
      umask = argv[1];
      return {};
    }
    if (cmd == "command") {
      std::size_t i = 1;
      if (i < argv.size() && (argv[i] == "-v" || argv[i] == "-V")) {
        const bool verbose = argv[i] == "-V";
        Out o;
        for (++i; i < argv.size(); ++i) {
          const std::string where = host.which(argv[i]);
          if (where.empty()) {
            o.code = 127;
            if (verbose) o.err += argv[i] + ": not found\n";
            continue;
          }
          o.out += verbose ? argv[i] + " is " + (where == argv[i] ? "a shell builtin" : where) + "\n" : where + "\n";
        }
        if (!verbose && o.code == 127) o.code = 1;
        return o;
      }
      if (i < argv.size() && argv[i] == "-p") ++i;
      if (i >= argv.size()) return {};
      return command({argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end()}, in, assigns);
    }
    Env env;
    for (const auto& name : exported)
      if (auto it = vars.find(name); it != vars.end()) env[name] = it->second;
    for (const auto& [name, value] : assigns) env[name] = value;
    return host.exec(argv, in, env);
  }
};

// --- the host ----------------------------------------------------------------------------------

SimHost::SimHost(Engine& engine, std::string name) : engine_(engine), name_(std::move(name)) {
  // What every installed system has, so that mktemp, redirections and the like find their directories.
  for (const char* d : {"/etc", "/home", "/root", "/tmp", "/usr", "/usr/bin", "/usr/sbin", "/var", "/var/lib", "/var/log",
                        "/var/tmp"})
    dirs_.insert(d);
}

bool SimHost::is_dir(const std::string& path) const { return dirs_.contains(path); }

std::vector<std::string> SimHost::list_dir(const std::string& path) const {
  std::set<std::string> names;
  if (!is_dir(path)) return {};
  const std::string prefix = path == "/" ? "/" : path + "/";
  auto add = [&](const std::string& p) {
    if (p.size() <= prefix.size() || p.compare(0, prefix.size(), prefix) != 0) return;
    names.insert(p.substr(prefix.size(), p.find('/', prefix.size()) - prefix.size()));
  };
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    add(it->first);
  for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) add(*it);
  return {names.begin(), names.end()};
}

std::string SimHost::absolute(const std::string& path) const {
  if (path.empty()) return "";
  const std::string full = path[0] == '/' ? path : (cwd_ == "/" ? "/" : cwd_ + "/") + path;
  std::vector<std::string> parts;
  std::stringstream in(full);
  for (std::string part; std::getline(in, part, '/');) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

SimHost::Result SimHost::unknown(const std::string& cmd) {
  engine_.log(name_, "unknown-command", {{"command", cmd}});
  return {127, "", "sim: " + name_ + ": unknown command '" + cmd + "'\n"};
}

namespace {

/// The commands every installed system has, and where they live.
const std::map<std::string, std::string>& system_commands() {
  static const std::map<std::string, std::string> commands = {
      {"apt", "/usr/bin/apt"},         {"apt-get", "/usr/bin/apt-get"},     {"cat", "/usr/bin/cat"},
      {"dpkg", "/usr/bin/dpkg"},       {"echo", "echo"},                    {"false", "false"},
      {"find", "/usr/bin/find"},       {"hostname", "/usr/bin/hostname"},   {"ls", "/usr/bin/ls"},
      {"mkdir", "/usr/bin/mkdir"},     {"mktemp", "/usr/bin/mktemp"},       {"mv", "/usr/bin/mv"},
      {"rm", "/usr/bin/rm"},           {"rmdir", "/usr/bin/rmdir"},         {"sha256sum", "/usr/bin/sha256sum"},
      {"stat", "/usr/bin/stat"},       {"sudo", "/usr/bin/sudo"},           {"swapoff", "/usr/sbin/swapoff"},
      {"swapon", "/usr/sbin/swapon"},  {"systemctl", "/usr/bin/systemctl"}, {"tar", "/usr/bin/tar"},
      {"test", "test"},                {"[", "["},                          {"true", "true"},
      {"wc", "/usr/bin/wc"},           {"which", "/usr/bin/which"},         {":", ":"},
      {"cd", "cd"},                    {"command", "command"},              {"exit", "exit"},
      {"export", "export"},            {"set", "set"},                      {"umask", "umask"},
      {"unset", "unset"}};
  return commands;
}

}  // namespace

std::string SimHost::which(const std::string& name) const {
  if (auto own = commands_.find(name); own != commands_.end())
    return !own->second.present || own->second.present() ? (name.find('/') != std::string::npos ? name : "/usr/bin/" + name)
                                                         : "";
  if (auto sys = system_commands().find(name); sys != system_commands().end()) return sys->second;
  if (name.find('/') != std::string::npos) {  // a path to one of the commands above
    const std::string base = base_of(name);
    if (which(base) == name) return name;
  }
  return "";
}

world::CommandResult SimHost::run(const world::Command& command) {
  world::CommandResult r;
  engine_.log(name_, "command", {{"script", command.script}});
  cwd_ = command.cwd.empty() ? "/" : absolute(command.cwd);
  Shell sh(*this);
  for (const auto& [k, v] : command.env) {
    sh.vars[k] = v;
    sh.exported.insert(k);
  }
  Result res = sh.run_script(command.script, command.stdin_data);
  r.out = std::move(res.out);
  r.err = std::move(res.err);
  r.exit_code = res.code;
  return r;
}

SimHost::Result SimHost::exec(const std::vector<std::string>& argv, const std::string& stdin_data, const Env& env) {
  if (argv.empty()) return {};
  if (argv[0] == "sudo") {  // drctl's users are sudoers on the hosts it manages; sudo resets the environment
    std::size_t i = 1;
    bool keep = false;
    for (; i < argv.size() && argv[i].size() > 1 && argv[i][0] == '-'; ++i) {
      if (argv[i] == "--") {
        ++i;
        break;
      }
      if (argv[i] == "-E" || argv[i] == "--preserve-env") {
        keep = true;
      } else if ((argv[i] == "-u" || argv[i] == "-g") && i + 1 < argv.size()) {
        ++i;
      } else if (argv[i] != "-n" && argv[i] != "-H" && argv[i] != "-S") {
        return {1, "", "sim: " + name_ + ": sudo: option '" + argv[i] + "' not modelled\n"};
      }
    }
    Env next = keep ? env : Env{};
    for (; i < argv.size(); ++i) {
      auto a = assignment(argv[i]);
      if (!a) break;
      next[a->first] = a->second;
    }
    if (i >= argv.size()) return {1, "", "usage: sudo -h | -K | -k | -V\n"};
    return exec({argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end()}, stdin_data, next);
  }
  std::string cmd = argv[0];
  if (cmd.find('/') != std::string::npos && !commands_.count(cmd) && which(base_of(cmd)) == cmd) cmd = base_of(cmd);
  auto arg = [&](std::size_t i) { return i < argv.size() ? argv[i] : std::string(); };
  if (auto own = commands_.find(cmd); own != commands_.end()) {
    Env saved = std::exchange(command_env_, env);
    Result r = own->second.fn(argv, stdin_data);
    command_env_ = std::move(saved);
    return r;
  }
  if (cmd == "true") return {0, "", ""};
  if (cmd == "hostname") {
    auto it = files_.find("/etc/hostname");
    return {0, it == files_.end() ? name_ + "\n" : it->second.content, ""};
  }
  if (cmd == "false") return {1, "", ""};
  if (cmd == "echo") {
    std::string out;
    std::size_t i = 1;
    const bool newline = arg(1) != "-n";
    if (!newline) ++i;
    for (std::size_t first = i; i < argv.size(); ++i) out += (i > first ? " " : "") + argv[i];
    return {0, newline ? out + "\n" : out, ""};
  }
  if (cmd == "cat") {
    std::vector<std::string> names;
    bool options = true;
    for (std::size_t i = 1; i < argv.size(); ++i) {
      if (options && argv[i] == "--") {
        options = false;
      } else if (options && argv[i].size() > 1 && argv[i][0] == '-') {
        return {1, "", "sim: " + name_ + ": cat: option '" + argv[i] + "' not modelled\n"};
      } else {
        names.push_back(argv[i]);
      }
    }
    if (names.empty()) names.push_back("-");
    Result r;
    for (const auto& n : names) {
      if (n == "-") {
        r.out += stdin_data;
        continue;
      }
      const std::string path = absolute(n);
      if (auto it = files_.find(path); it != files_.end()) {
        r.out += it->second.content;
      } else {
        r.code = 1;
        r.err += "cat: " + n + (is_dir(path) ? ": Is a directory\n" : ": No such file or directory\n");
      }
    }
    return r;
  }
  if (cmd == "test" || cmd == "[") {
    std::vector<std::string> args(argv.begin() + 1, argv.end());
    if (cmd == "[") {
      if (args.empty() || args.back() != "]") return {2, "", "sh: 1: [: missing ]\n"};
      args.pop_back();
    }
    return test(args);
  }
  if (cmd == "mkdir") {
    bool parents = false, options = true;
    std::vector<std::string> dirs;
    for (std::size_t i = 1; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (options && a == "--") {
        options = false;
      } else if (options && (a == "-m" || a == "--mode") && i + 1 < argv.size()) {
        ++i;  // the simulated directories have no modes
      } else if (options && (a == "--parents" || (a.size() > 1 && a[0] == '-' && a.find_first_not_of("pv", 1) == std::string::npos))) {
        parents = parents || a == "--parents" || a.find('p') != std::string::npos;
      } else if (options && a.size() > 1 && a[0] == '-') {
        return {1, "", "sim: " + name_ + ": mkdir: option '" + a + "' not modelled\n"};
      } else {
        dirs.push_back(a);
      }
    }
    if (dirs.empty()) return {1, "", "mkdir: missing operand\nTry 'mkdir --help' for more information.\n"};
    Result r;
    for (const auto& d : dirs) {
      const std::string path = absolute(d);
      if (files_.contains(path) || (!parents && is_dir(path))) {
        r.code = 1;
        r.err += "mkdir: cannot create directory '" + d + "': File exists\n";
      } else if (!parents && !is_dir(parent_of(path))) {
        r.code = 1;
        r.err += "mkdir: cannot create directory '" + d + "': No such file or directory\n";
      } else {
        make_dir(path);
      }
    }
    return r;
  }
  if (cmd == "rm") return rm(argv);
  if (cmd == "rmdir") {
    Result r;
    bool options = true;
    for (std::size_t i = 1; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (options && a == "--") {
        options = false;
        continue;
      }
      if (options && a.size() > 1 && a[0] == '-') return {1, "", "sim: " + name_ + ": rmdir: option '" + a + "' not modelled\n"};
      const std::string path = absolute(a);
      std::string why;
      if (!is_dir(path))
        why = files_.contains(path) ? "Not a directory" : "No such file or directory";
      else if (!list_dir(path).empty())
        why = "Directory not empty";
      else if (path == "/")
        why = "Device or resource busy";
      if (!why.empty()) {
        r.code = 1;
        r.err += "rmdir: failed to remove '" + a + "': " + why + "\n";
        continue;
      }
      dirs_.erase(path);
      notify("remove", path);
    }
    return r;
  }
  if (cmd == "mv") return mv(argv);
  if (cmd == "ls") return ls(argv);
  if (cmd == "mktemp") return mktemp(argv);
  if (cmd == "wc") return wc(argv, stdin_data);
  if (cmd == "which") {
    Result r;
    for (std::size_t i = 1; i < argv.size(); ++i) {
      const std::string where = which(argv[i]);
      if (where.empty() || where[0] != '/')
        r.code = 1;
      else
        r.out += where + "\n";
    }
    return r;
  }
  if (cmd == "dpkg" && arg(1) == "-s") {  // installed? (exit 1 naming the first that is not)
    for (std::size_t i = 2; i < argv.size(); ++i)
      if (!installed_.contains(argv[i]))
        return {1, "", "dpkg-query: package '" + argv[i] + "' is not installed and no information is available\n"};
    return {0, "Status: install ok installed\n", ""};
  }
  if (cmd == "swapoff" || cmd == "swapon") {
    swap_on_ = cmd == "swapon";
    return {};
  }
  if (cmd == "stat" && arg(1) == "-c" && arg(2) == "%a" && argv.size() == 4) {
    auto it = files_.find(absolute(arg(3)));
    if (it == files_.end()) return {1, "", "stat: cannot statx '" + arg(3) + "': No such file or directory\n"};
    char mode[8];
    std::snprintf(mode, sizeof mode, "%o\n", it->second.mode);
    return {0, mode, ""};
  }
  if (cmd == "tar") return tar(argv, stdin_data);
  if (cmd == "find") {  // find DIR [-type f] [-exec sha256sum {} +]: regular files, sorted
    const std::string dir = arg(1);
    if (dir.empty() || dir[0] != '/') return {1, "", "sim: " + name_ + ": find: give an absolute directory\n"};
    if (!is_dir(dir)) return {1, "", "find: '" + dir + "': No such file or directory\n"};
    std::vector<std::string> rest(argv.begin() + 2, argv.end());
    const bool files_only = rest.size() >= 2 && rest[0] == "-type" && rest[1] == "f";
    if (files_only) rest.erase(rest.begin(), rest.begin() + 2);
    const bool hash = rest == std::vector<std::string>{"-exec", "sha256sum", "{}", "+"};
    if (!rest.empty() && !hash) return {2, "", "sim: " + name_ + ": find: only -type f and -exec sha256sum {} +\n"};
    const std::string prefix = dir.back() == '/' ? dir : dir + "/";
    std::string out;
    for (const auto& [path, f] : files_)
      if (path.rfind(prefix, 0) == 0) out += hash ? sha256_hex(f.content) + "  " + path + "\n" : path + "\n";
    return {0, out, ""};
  }
  if (cmd == "sha256sum") {
    std::string out;
    for (std::size_t i = 1; i < argv.size(); ++i) {
      auto it = files_.find(absolute(argv[i]));
      if (it == files_.end()) return {1, out, "sha256sum: " + argv[i] + ": No such file or directory\n"};
      out += sha256_hex(it->second.content) + "  " + argv[i] + "\n";
    }
    return {0, out, ""};
  }
  if (cmd == "apt-get" || cmd == "apt") {
    if (arg(1) != "install") return unknown(cmd + " " + arg(1));
    for (std::size_t i = 2; i < argv.size(); ++i) {
      if (argv[i][0] == '-') continue;
      if (!available_.contains(argv[i])) return {100, "", "E: Unable to locate package " + argv[i] + "\n"};
      installed_.insert(argv[i]);
      engine_.log(name_, "package-installed", {{"package", argv[i]}});
    }
    return {0, "", ""};
  }
  if (cmd == "systemctl") {
    const std::string verb = arg(1), unit = arg(argv.size() > 3 && arg(2) == "--now" ? 3 : 2);
    if (verb == "is-active") return {active_.contains(unit) ? 0 : 3, active_.contains(unit) ? "active\n" : "inactive\n", ""};
    if (verb != "start" && verb != "stop" && verb != "restart" && verb != "enable") return unknown("systemctl " + verb);
    if (!installed_.contains(unit)) return {5, "", "Failed to " + verb + " " + unit + ".service: Unit " + unit + ".service not found.\n"};
    if (verb == "enable") enabled_.insert(unit);
    if (verb == "stop" || verb == "restart") set_service(unit, false);
    if (verb == "start" || verb == "restart" || (verb == "enable" && arg(2) == "--now")) set_service(unit, true);
    return {};
  }
  return unknown(argv[0]);
}

SimHost::Result SimHost::test(const std::vector<std::string>& args) const {
  const std::size_t n = args.size();
  if (n == 0) return {1, "", ""};
  if (args[0] == "!" && n > 1) {
    Result r = test({args.begin() + 1, args.end()});
    if (r.code <= 1) r.code = 1 - r.code;
    return r;
  }
  auto verdict = [](bool ok) { return Result{ok ? 0 : 1, "", ""}; };
  if (n == 1) return verdict(!args[0].empty());
  if (n == 2) {
    const std::string& flag = args[0];
    const std::string path = absolute(args[1]);
    auto file = files_.find(path);
    if (flag == "-z") return verdict(args[1].empty());
    if (flag == "-n") return verdict(!args[1].empty());
    if (flag == "-e" || flag == "-r" || flag == "-w") return verdict(exists(path));
    if (flag == "-f") return verdict(file != files_.end());
    if (flag == "-d") return verdict(is_dir(path));
    if (flag == "-L" || flag == "-h") return verdict(false);  // the simulated file system has no symbolic links
    if (flag == "-s") return verdict(is_dir(path) || (file != files_.end() && !file->second.content.empty()));
    if (flag == "-x") return verdict(is_dir(path) || (file != files_.end() && (file->second.mode & 0111)));
    return {2, "", "sim: " + name_ + ": test: unsupported '" + flag + "'\n"};
  }
  if (n == 3) {
    const std::string &a = args[0], &op = args[1], &b = args[2];
    if (op == "=" || op == "==") return verdict(a == b);
    if (op == "!=") return verdict(a != b);
    static const std::set<std::string> numeric = {"-eq", "-ne", "-lt", "-le", "-gt", "-ge"};
    if (numeric.count(op)) {
      auto number = [](const std::string& s) -> std::optional<long long> {
        if (s.empty() || s.find_first_not_of("-0123456789") != std::string::npos) return std::nullopt;
        try {
          return std::stoll(s);
        } catch (const std::exception&) {
          return std::nullopt;
        }
      };
      auto x = number(a), y = number(b);
      if (!x || !y) return {2, "", "sh: 1: [: Illegal number: " + (x ? b : a) + "\n"};
      if (op == "-eq") return verdict(*x == *y);
      if (op == "-ne") return verdict(*x != *y);
      if (op == "-lt") return verdict(*x < *y);
      if (op == "-le") return verdict(*x <= *y);
      if (op == "-gt") return verdict(*x > *y);
      return verdict(*x >= *y);
    }
    return {2, "", "sim: " + name_ + ": test: unsupported '" + op + "'\n"};
  }
  return {2, "", "sim: " + name_ + ": test: only one condition per test is modelled (no -a/-o, no parentheses)\n"};
}

SimHost::Result SimHost::rm(const std::vector<std::string>& argv) {
  bool recursive = false, force = false, options = true;
  std::vector<std::string> paths;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (options && a == "--") {
      options = false;
    } else if (options && (a == "--recursive" || a == "--force")) {
      (a == "--force" ? force : recursive) = true;
    } else if (options && a.size() > 1 && a[0] == '-' && a[1] != '-' && a.find_first_not_of("rRfv", 1) == std::string::npos) {
      recursive = recursive || a.find_first_of("rR") != std::string::npos;
      force = force || a.find('f') != std::string::npos;
    } else if (options && a.size() > 1 && a[0] == '-') {
      return {1, "", "sim: " + name_ + ": rm: option '" + a + "' not modelled\n"};
    } else {
      paths.push_back(a);
    }
  }
  if (paths.empty() && !force) return {1, "", "rm: missing operand\nTry 'rm --help' for more information.\n"};
  Result r;
  for (const auto& p : paths) {
    const std::string path = absolute(p);
    if (files_.contains(path)) {
      remove_file(path);
    } else if (is_dir(path)) {
      if (path == "/") {
        r.code = 1;
        r.err += recursive ? "rm: it is dangerous to operate recursively on '/'\nrm: use --no-preserve-root to override this failsafe\n"
                           : "rm: cannot remove '/': Is a directory\n";
      } else if (!recursive) {
        r.code = 1;
        r.err += "rm: cannot remove '" + p + "': Is a directory\n";
      } else {
        removed_tree(path);
      }
    } else if (!force) {
      r.code = 1;
      r.err += "rm: cannot remove '" + p + "': No such file or directory\n";
    }
  }
  return r;
}

void SimHost::removed_tree(const std::string& path) {
  std::vector<std::string> doomed;
  const std::string prefix = path + "/";
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    doomed.push_back(it->first);
  for (const auto& f : doomed) remove_file(f);
  for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0;)
    it = dirs_.erase(it);
  dirs_.erase(path);
  notify("remove", path);
}

SimHost::Result SimHost::mv(const std::vector<std::string>& argv) {
  bool options = true;
  std::vector<std::string> operands;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (options && a == "--") {
      options = false;
    } else if (options && (a == "-f" || a == "--force")) {
      continue;
    } else if (options && a.size() > 1 && a[0] == '-') {
      return {1, "", "sim: " + name_ + ": mv: option '" + a + "' not modelled\n"};
    } else {
      operands.push_back(a);
    }
  }
  if (operands.empty()) return {1, "", "mv: missing file operand\nTry 'mv --help' for more information.\n"};
  if (operands.size() == 1)
    return {1, "", "mv: missing destination file operand after '" + operands[0] + "'\nTry 'mv --help' for more information.\n"};
  const std::string target = operands.back();
  operands.pop_back();
  if (operands.size() > 1 && !is_dir(absolute(target))) return {1, "", "mv: target '" + target + "' is not a directory\n"};
  Result r;
  auto fail = [&](const std::string& message) {
    r.code = 1;
    r.err += "mv: " + message + "\n";
  };
  for (const auto& src_name : operands) {
    const std::string src = absolute(src_name);
    std::string dst = absolute(target), dst_name = target;
    if (!exists(src)) {
      fail("cannot stat '" + src_name + "': No such file or directory");
      continue;
    }
    if (is_dir(dst)) {
      dst = dst == "/" ? "/" + base_of(src) : dst + "/" + base_of(src);
      dst_name = (target.ends_with("/") ? target : target + "/") + base_of(src);
    }
    if (dst == src) {
      fail("'" + src_name + "' and '" + dst_name + "' are the same file");
      continue;
    }
    if (under(dst, src)) {
      fail("cannot move '" + src_name + "' to a subdirectory of itself, '" + dst_name + "'");
      continue;
    }
    if (!is_dir(parent_of(dst))) {
      fail("cannot move '" + src_name + "' to '" + dst_name + "': No such file or directory");
      continue;
    }
    if (is_dir(src)) {
      if (files_.contains(dst)) {
        fail("cannot overwrite non-directory '" + dst_name + "' with directory '" + src_name + "'");
        continue;
      }
      if (is_dir(dst) && !list_dir(dst).empty()) {
        fail("cannot move '" + src_name + "' to '" + dst_name + "': Directory not empty");
        continue;
      }
      std::vector<std::pair<std::string, File>> moving;
      const std::string prefix = src + "/";
      for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
        moving.emplace_back(it->first, it->second);
      std::vector<std::string> subdirs;
      for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it)
        subdirs.push_back(*it);
      dirs_.erase(src);
      dirs_.insert(dst);
      for (const auto& d : subdirs) {
        dirs_.erase(d);
        dirs_.insert(dst + d.substr(src.size()));
      }
      for (const auto& [path, f] : moving) {
        remove_file(path);
        std::string why;
        if (!store(dst + path.substr(src.size()), f.content, f.mode, &why)) {
          store(path, f.content, f.mode, &why);  // it stays where it was
          fail("cannot move '" + path + "': " + why);
        }
      }
    } else {
      if (is_dir(dst)) {
        fail("cannot overwrite directory '" + dst_name + "' with non-directory");
        continue;
      }
      const File f = files_.at(src);
      remove_file(src);
      std::string why;
      if (!store(dst, f.content, f.mode, &why)) {
        store(src, f.content, f.mode, &why);
        fail("cannot move '" + src_name + "' to '" + dst_name + "': " + why);
        continue;
      }
    }
    engine_.log(name_, "moved", {{"from", src}, {"to", dst}});
    notify("move", src, dst);
  }
  return r;
}

SimHost::Result SimHost::ls(const std::vector<std::string>& argv) {
  bool all = false, almost = false, options = true;
  std::vector<std::string> operands;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (options && a == "--") {
      options = false;
    } else if (options && a.size() > 1 && a[0] == '-' && a[1] != '-' && a.find_first_not_of("aA1", 1) == std::string::npos) {
      all = all || a.find('a') != std::string::npos;
      almost = almost || a.find('A') != std::string::npos;
    } else if (options && a.size() > 1 && a[0] == '-') {
      return {2, "", "sim: " + name_ + ": ls: option '" + a + "' not modelled (only -a, -A, -1)\n"};
    } else {
      operands.push_back(a);
    }
  }
  if (operands.empty()) operands.push_back(".");
  Result r;
  std::vector<std::string> shown_files, shown_dirs;
  for (const auto& o : operands) {
    const std::string path = absolute(o);
    if (files_.contains(path)) {
      shown_files.push_back(o);
    } else if (is_dir(path)) {
      shown_dirs.push_back(o);
    } else {
      r.code = 2;
      r.err += "ls: cannot access '" + o + "': No such file or directory\n";
    }
  }
  std::sort(shown_files.begin(), shown_files.end());
  for (const auto& f : shown_files) r.out += f + "\n";
  const bool headers = operands.size() > 1;
  for (std::size_t i = 0; i < shown_dirs.size(); ++i) {
    if (headers) r.out += (i > 0 || !shown_files.empty() ? "\n" : "") + shown_dirs[i] + ":\n";
    if (all) r.out += ".\n..\n";
    for (const auto& name : list_dir(absolute(shown_dirs[i])))
      if (all || almost || name[0] != '.') r.out += name + "\n";
  }
  return r;
}

SimHost::Result SimHost::mktemp(const std::vector<std::string>& argv) {
  bool directory = false, quiet = false, in_tmpdir = false, options = true;
  std::string tmpdir, templ;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (options && a == "--") {
      options = false;
    } else if (options && (a == "-p" || a == "--tmpdir") && i + 1 < argv.size()) {
      tmpdir = argv[++i];
      in_tmpdir = true;
    } else if (options && a.rfind("--tmpdir=", 0) == 0) {
      tmpdir = a.substr(9);
      in_tmpdir = true;
    } else if (options && a.size() > 1 && a[0] == '-' && a[1] != '-' && a.find_first_not_of("dqt", 1) == std::string::npos) {
      directory = directory || a.find('d') != std::string::npos;
      quiet = quiet || a.find('q') != std::string::npos;
      in_tmpdir = in_tmpdir || a.find('t') != std::string::npos;
    } else if (options && (a == "--directory" || a == "--quiet")) {
      (a == "--directory" ? directory : quiet) = true;
    } else if (options && a.size() > 1 && a[0] == '-') {
      return {1, "", "sim: " + name_ + ": mktemp: option '" + a + "' not modelled\n"};
    } else if (templ.empty()) {
      templ = a;
    } else {
      return {1, "", "mktemp: too many templates\nTry 'mktemp --help' for more information.\n"};
    }
  }
  if (templ.empty()) {
    templ = "tmp.XXXXXXXXXX";
    in_tmpdir = true;
  }
  if (in_tmpdir && templ.find('/') != std::string::npos)
    return {1, "", "mktemp: invalid template, '" + templ + "', contains directory separator\n"};
  if (in_tmpdir && tmpdir.empty()) tmpdir = "/tmp";
  const std::string shown = in_tmpdir ? tmpdir + "/" + templ : templ;
  std::size_t xs = 0;
  while (xs < templ.size() && templ[templ.size() - 1 - xs] == 'X') ++xs;
  if (xs < 3) return {1, "", quiet ? "" : "mktemp: too few X's in template '" + templ + "'\n"};
  const std::string path = absolute(shown);
  const std::string what = directory ? "directory" : "file";
  if (!is_dir(parent_of(path)))
    return {1, "", quiet ? "" : "mktemp: failed to create " + what + " via template '" + shown + "': No such file or directory\n"};
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string made;
  for (int attempt = 0; made.empty() || exists(made); ++attempt) {  // the same names for the same history
    const std::string h = sha256_hex(name_ + "\n" + path + "\n" + std::to_string(++temp_counter_) + "\n" + std::to_string(attempt));
    made = path.substr(0, path.size() - xs);
    for (std::size_t i = 0; i < xs; ++i) made += alphabet[std::stoi(h.substr((2 * i) % 62, 2), nullptr, 16) % 62];
  }
  if (directory) {
    dirs_.insert(made);
  } else {
    std::string why;
    if (!store(made, "", 0600, &why)) return {1, "", "mktemp: failed to create file via template '" + shown + "': " + why + "\n"};
  }
  return {0, made + "\n", ""};
}

SimHost::Result SimHost::wc(const std::vector<std::string>& argv, const std::string& stdin_data) {
  bool bytes = false, lines = false, words = false, options = true;
  std::vector<std::string> names;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (options && a == "--") {
      options = false;
    } else if (options && a.size() > 1 && a[0] == '-' && a[1] != '-' && a.find_first_not_of("clw", 1) == std::string::npos) {
      bytes = bytes || a.find('c') != std::string::npos;
      lines = lines || a.find('l') != std::string::npos;
      words = words || a.find('w') != std::string::npos;
    } else if (options && (a == "--bytes" || a == "--lines" || a == "--words")) {
      (a == "--bytes" ? bytes : a == "--lines" ? lines : words) = true;
    } else if (options && a.size() > 1 && a[0] == '-') {
      return {1, "", "sim: " + name_ + ": wc: option '" + a + "' not modelled\n"};
    } else {
      names.push_back(a);
    }
  }
  if (!bytes && !lines && !words) bytes = lines = words = true;
  auto counts = [&](const std::string& data) {
    std::vector<std::size_t> out;
    if (lines) out.push_back(static_cast<std::size_t>(std::count(data.begin(), data.end(), '\n')));
    if (words) {
      std::size_t n = 0;
      bool in = false;
      for (char c : data) {
        const bool blank = std::isspace(static_cast<unsigned char>(c));
        if (!blank && !in) ++n;
        in = !blank;
      }
      out.push_back(n);
    }
    if (bytes) out.push_back(data.size());
    return out;
  };
  Result r;
  if (names.empty()) {  // from stdin: the counts alone
    const auto c = counts(stdin_data);
    if (c.size() == 1) return {0, std::to_string(c[0]) + "\n", ""};
    std::string line;
    for (auto n : c) {
      std::string s = std::to_string(n);
      line += std::string(s.size() < 7 ? 7 - s.size() : 0, ' ') + s + " ";
    }
    line.pop_back();
    return {0, line + "\n", ""};
  }
  std::vector<std::pair<std::vector<std::size_t>, std::string>> rows;
  std::vector<std::size_t> total;
  for (const auto& n : names) {
    const std::string path = absolute(n);
    auto it = files_.find(path);
    if (it == files_.end()) {
      r.code = 1;
      r.err += "wc: " + n + (is_dir(path) ? ": Is a directory\n" : ": No such file or directory\n");
      continue;
    }
    auto c = counts(it->second.content);
    if (total.empty()) total.assign(c.size(), 0);
    for (std::size_t i = 0; i < c.size(); ++i) total[i] += c[i];
    rows.emplace_back(std::move(c), n);
  }
  if (rows.size() > 1) rows.emplace_back(total, "total");
  std::size_t width = 1;
  for (const auto& [c, n] : rows)
    for (auto v : c) width = std::max(width, std::to_string(v).size());
  if (rows.size() == 1 && rows[0].first.size() == 1) width = 0;
  for (const auto& [c, n] : rows) {
    std::string line;
    for (auto v : c) {
      std::string s = std::to_string(v);
      line += std::string(width > s.size() ? width - s.size() : 0, ' ') + s + " ";
    }
    r.out += line + n + "\n";
  }
  return r;
}

void SimHost::notify(const std::string& op, const std::string& path, const std::string& to) {
  for (const auto& fn : file_events_) fn(op, path, to);
}

namespace {

std::string join_path(const std::string& dir, const std::string& rel) {
  if (rel.empty() || rel == ".") return dir;
  if (rel[0] == '/') return rel;
  std::string r = rel.rfind("./", 0) == 0 ? rel.substr(2) : rel;
  return dir == "/" ? "/" + r : dir + "/" + r;
}

la_ssize_t append_to_string(struct archive*, void* out, const void* buf, std::size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

}  // namespace

/// tar -c|-x|-t [-z] [-v] -f FILE [-C DIR] [PATH…]: real tar bytes (pax, via libarchive) in the
/// simulated file system, so an archive made here reads anywhere.
SimHost::Result SimHost::tar(const std::vector<std::string>& argv, const std::string& stdin_data) {
  char mode = 0;
  bool gzip = false;
  std::string file, dir = "/";
  std::vector<std::string> paths;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "-C" && i + 1 < argv.size()) {
      dir = argv[++i];
    } else if (a == "-f" && i + 1 < argv.size()) {
      file = argv[++i];
    } else if ((i == 1 || a[0] == '-') && a.find_first_not_of("-cxtzvfp") == std::string::npos) {
      for (char c : a) {
        if (c == 'c' || c == 'x' || c == 't') mode = c;
        if (c == 'z') gzip = true;
        if (c == 'f' && i + 1 < argv.size()) file = argv[++i];
      }
    } else if (a == "--format=pax" || a == "--xattrs" || a == "--sparse" || a == "--numeric-owner" || a == "-p") {
      continue;  // what drctl asks for; the simulated files have no more to keep
    } else if (a[0] == '-') {
      return {2, "", "tar: sim: unsupported option '" + a + "'\n"};
    } else {
      paths.push_back(a);
    }
  }
  if (!mode || file.empty()) return {2, "", "tar: sim: give one of -c -x -t and -f FILE\n"};
  if (!is_dir(dir)) return {2, "", "tar: " + dir + ": Cannot open: No such file or directory\n"};
  std::string out;
  if (mode == 'c') {
    std::string bytes;
    struct archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip) archive_write_add_filter_gzip(a);
    archive_write_open(a, &bytes, nullptr, append_to_string, nullptr);
    int missing = 0;
    std::string err;
    for (const auto& p : paths) {
      const std::string base = join_path(dir, p);
      bool found = false;
      for (const auto& [path, f] : files_) {
        if (path != base && path.rfind(base == "/" ? "/" : base + "/", 0) != 0) continue;
        found = true;
        std::string name = (p == "/" ? "" : p) + path.substr(base == "/" ? 0 : base.size());
        if (name[0] == '/') name.erase(0, 1);  // as GNU tar: "Removing leading `/' from member names"
        struct archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, name.c_str());
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, f.mode);
        archive_entry_set_size(e, static_cast<la_int64_t>(f.content.size()));
        archive_write_header(a, e);
        archive_write_data(a, f.content.data(), f.content.size());
        archive_entry_free(e);
      }
      if (!found && !is_dir(base)) {
        ++missing;
        err += "tar: " + p + ": Cannot stat: No such file or directory\n";
      }
    }
    archive_write_close(a);
    archive_write_free(a);
    if (file == "-")
      out = bytes;
    else
      put_file(file[0] == '/' ? file : "/" + file, bytes, 0644);
    return {missing ? 2 : 0, out, err};
  }
  std::string bytes = file == "-" ? stdin_data : "";
  if (file != "-") {
    auto it = files_.find(file[0] == '/' ? file : "/" + file);
    if (it == files_.end()) return {2, "", "tar: " + file + ": Cannot open: No such file or directory\n"};
    bytes = it->second.content;
  }
  struct archive* a = archive_read_new();
  archive_read_support_format_all(a);
  archive_read_support_filter_all(a);
  Result r;
  if (archive_read_open_memory(a, bytes.data(), bytes.size()) != ARCHIVE_OK) {
    r = {2, "", "tar: " + file + ": This does not look like a tar archive\n"};
  } else {
    struct archive_entry* e;
    int rc;
    while ((rc = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
      const std::string name = archive_entry_pathname(e);
      if (mode == 't') {
        r.out += name + "\n";
        continue;
      }
      const std::string path = join_path(dir, name);
      if (archive_entry_filetype(e) == AE_IFDIR) {
        dirs_.insert(path.size() > 1 && path.back() == '/' ? path.substr(0, path.size() - 1) : path);
        continue;
      }
      std::string content;
      char buf[65536];
      for (la_ssize_t n; (n = archive_read_data(a, buf, sizeof buf)) > 0;) content.append(buf, static_cast<std::size_t>(n));
      std::string why;
      if (!store(path, content, archive_entry_perm(e), &why)) {  // GNU tar goes on, and exits 2 at the end
        r.code = 2;
        r.err += "tar: " + name + ": Cannot write: " + why + "\n";
      }
    }
    if (rc != ARCHIVE_EOF) r = {2, r.out, std::string("tar: ") + archive_error_string(a) + "\n"};
  }
  archive_read_free(a);
  return r;
}

void SimHost::set_service(const std::string& unit, bool active) {
  if (!installed_.contains(unit)) throw std::runtime_error("sim: " + name_ + ": no unit " + unit);
  if (active_.contains(unit) == active) return;
  if (active)
    active_.insert(unit);
  else
    active_.erase(unit);
  engine_.log(name_, active ? "service-started" : "service-stopped", {{"unit", unit}});
  if (on_service_) on_service_(unit, active);
}

bool SimHost::store(const std::string& path, const std::string& content, unsigned mode, std::string* why) {
  auto it = files_.find(path);
  const std::int64_t delta = static_cast<std::int64_t>(content.size()) -
                             static_cast<std::int64_t>(it == files_.end() ? 0 : it->second.content.size());
  if (fits_ && !fits_(path, delta, why)) {
    engine_.log(name_, "write-refused", {{"path", path}, {"bytes", content.size()}, {"reason", *why}});
    return false;
  }
  for (std::string dir = parent_of(path); !is_dir(dir); dir = parent_of(dir)) dirs_.insert(dir);
  files_[path] = File{content, mode};
  if (commit_) commit_(path, delta);
  engine_.log(name_, "file-put", {{"path", path}, {"bytes", content.size()}});
  notify("put", path);
  return true;
}

void SimHost::make_dir(const std::string& path) {
  std::string dir;
  std::stringstream parts(path);
  for (std::string part; std::getline(parts, part, '/');)
    if (!part.empty()) dirs_.insert(dir += "/" + part);
}

void SimHost::remove_file(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return;
  if (commit_) commit_(path, -static_cast<std::int64_t>(it->second.content.size()));
  files_.erase(it);
  notify("remove", path);
}

void SimHost::put_file(const std::string& path, const std::string& content, unsigned mode) {
  std::string why;
  if (!store(path, content, mode, &why)) throw std::runtime_error(path + ": " + why);
}

std::optional<std::string> SimHost::get_file(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return std::nullopt;
  return it->second.content;
}

}  // namespace drctl::sim
