// The sh interpreter of a simulated host: runs the tree sh_syntax parses — expansions, variables
// and the environment, redirections, pipelines, if/and-or/groups/subshells, set -e/-u (-o pipefail
// where the host's sh has it) and the builtins — and hands each simple command to SimHost::exec
// (coreutils.cpp). /bin/sh is dash on GNU/Linux hosts (Ubuntu, Debian) and FreeBSD's sh on
// FreeBSD ones: what each accepts, refuses and prints is sim/CONFORMANCE.md's "sh as dash runs it".
#include <fnmatch.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include "sim/host.hpp"
#include "sim/host_paths.hpp"
#include "sim/sh_syntax.hpp"

namespace drctl::sim {

using sh::assignment;
using sh::is_name;
using sh::Node;
using sh::NodeP;
using sh::Redir;
using sh::skip_parens;
using sh::SyntaxError;
using sh::Unsupported;

namespace {

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
  std::string name0 = "sh";        // $0
  std::vector<std::string> args;  // $1 … (`sh -c SCRIPT NAME ARGS…`)
  int last = 0;  // $?
  int line = 1;  // the line of the command running now (dash's lineno, in its messages)
  std::string dot_name;  // the file `.` is reading now ("" for the script itself)
  bool exiting = false, errexit = false, nounset = false, pipefail = false;
  int condition = 0;  // inside an if's condition or a tested && / || part: set -e does not apply
  int substituted = 0;  // the status of the last $(…)
  std::string umask = "0022";

  using Out = Result;
  struct Failed {
    Out result;
  };

  explicit Shell(SimHost& h) : host(h) {}

  bool dash() const { return host.os_ == Os::gnu_linux; }

  /// How the shell starts a message of its own: dash `$0: LINE: ` (sh -c names $0 "sh", drctl's SSH
  /// line "drctl"), FreeBSD's sh `$0: ` (bin/sh/error.c, parser.c synerror(): no line for -c).
  /// Inside a `.` file dash adds the file's name, the line being the file's: `drctl: 2: ./lib.sh: …`.
  std::string where(int at) const {
    const std::string file = dot_name.empty() ? "" : dot_name + ": ";
    return dash() ? name0 + ": " + std::to_string(at) + ": " + file : name0 + ": " + file;
  }
  std::string where() const { return where(line); }

  /// Runs a script as dash does: one complete command parsed, then run, then the next, so a
  /// syntax error or an unmodelled construct stops the script where it is met.
  Out run_script(const std::string& script, const std::string& in, int first_line = 1) {
    Out o;
    try {
      sh::Reader reader(script, first_line);
      while (!exiting) {
        const NodeP command = reader.next();
        if (!command) break;
        Out r = exec(*command, in);
        o.out += r.out;
        o.err += r.err;
        o.code = r.code;
      }
    } catch (const SyntaxError& e) {  // ends the shell, also from a `.` file
      o.code = last = 2;
      o.err += where(e.line) + e.message + "\n";
      exiting = true;
    } catch (const Unsupported& u) {
      o.code = last = 2;
      o.err += "sim: " + host.name_ + ": sh: " + u.what + " not modelled\n";
      exiting = true;
    }
    return o;
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
        // dash runs each command of a pipeline of two or more in a subshell of its own: its
        // exit, cd and assignments stay there (`exit 3 | true; echo after` prints "after").
        const bool forked = n.parts.size() > 1;
        for (std::size_t i = 0; i < n.parts.size(); ++i) {
          Out r;
          if (forked) {
            Shell sub = *this;
            sub.exiting = false;
            const std::string cwd = host.cwd_;
            r = sub.exec(*n.parts[i], data);
            host.cwd_ = cwd;
          } else {
            r = exec(*n.parts[i], data);
          }
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
      case Node::For:
        return redirected(n, in, [&](const std::string& input) {
          std::vector<std::string> values;
          std::string err;
          if (n.ops.empty()) {
            values = args;  // `for f; do`: the positional parameters
          } else {
            try {
              for (std::size_t w = 1; w < n.words.size(); ++w)
                for (auto& f : expand(n.words[w], true, err)) values.push_back(std::move(f));
            } catch (const Failed& f) {
              exiting = true;
              return f.result;
            }
          }
          Out o;
          o.err = err;
          for (const auto& v : values) {
            if (exiting) break;
            vars[n.words[0]] = v;
            Out b = exec(*n.parts[0], input);
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
    line = n.line;
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

  /// $(…): the script's output without its trailing newlines; its stderr goes to `err`. Its lines
  /// are numbered on from `first_line`, where it starts in the script.
  std::string substitute(const std::string& script, std::string& err, int first_line) {
    Shell sub = *this;
    sub.exiting = false;
    const std::string cwd = host.cwd_;
    Out r = sub.run_script(script, "", first_line);
    host.cwd_ = cwd;
    err += r.err;
    substituted = r.code;
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }

  /// A parameter's value, special and positional ones included; nullopt when it is unset ($1
  /// beyond the arguments, $@ and $* without any).
  std::optional<std::string> lookup(const std::string& name) const {
    if (name == "?") return std::to_string(last);
    if (name == "$") return "4242";
    if (name == "#") return std::to_string(args.size());
    if (name == "0") return name0;
    if (name == "@" || name == "*") return args.empty() ? std::nullopt : std::optional<std::string>(join(args));
    if (name.size() == 1 && std::isdigit(static_cast<unsigned char>(name[0]))) {
      const std::size_t k = static_cast<std::size_t>(name[0] - '0');
      return k <= args.size() ? std::optional<std::string>(args[k - 1]) : std::nullopt;
    }
    auto it = vars.find(name);
    if (it != vars.end()) return it->second;
    return std::nullopt;
  }

  std::string parameter(const std::string& name, std::string& err) {
    if (auto v = lookup(name)) return *v;
    if (nounset && name != "@" && name != "*") throw Failed{{2, "", err + where() + name + ": parameter not set\n"}};
    return "";
  }

  /// The expansion starting at raw[i] == '$' (or '`'); advances i past it.
  std::string dollar(const std::string& raw, std::size_t& i, std::string& err) {
    const int here = line + static_cast<int>(std::count(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(i), '\n'));
    if (raw[i] == '`') {
      auto close = raw.find('`', i + 1);
      std::string script = raw.substr(i + 1, close - i - 1);
      i = close + 1;
      return substitute(script, err, here);
    }
    const std::size_t n = raw.size();
    if (i + 1 >= n) {
      ++i;
      return "$";
    }
    const char c = raw[i + 1];
    if (c == '(') {
      if (i + 2 < n && raw[i + 2] == '(') throw Unsupported{"arithmetic expansion $((…))"};
      const std::size_t end = skip_parens(raw, i + 1);
      std::string script = raw.substr(i + 2, end - i - 3);
      i = end;
      return substitute(script, err, here);
    }
    if (c == '{') {
      const std::size_t close = raw.find('}', i);
      std::string body = raw.substr(i + 2, close - i - 2);
      i = close + 1;
      return braced(body, err);
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

  /// ${…}: POSIX's forms as dash expands them (`-` `=` `+` `?`, each with or without `:`, `#` `##`
  /// `%` `%%` with a pattern, `${#NAME}`); bash's (`${x//a/b}`, `${x:1:2}`, `${x^^}`, `${!x}`,
  /// `${a[1]}`) are dash's "Bad substitution", exit 2, which ends the script.
  std::string braced(const std::string& body, std::string& err) {
    auto bad = [&]() { return Failed{{2, "", err + where() + "Bad substitution\n"}}; };
    if (body.size() > 1 && body[0] == '#') {  // ${#NAME}: the length
      const std::string name = body.substr(1);
      if (!is_name(name) && !(name.size() == 1 && std::strchr("?$#@*0123456789", name[0]))) throw bad();
      return std::to_string(parameter(name, err).size());
    }
    std::size_t op = 0;
    while (op < body.size() && (std::isalnum(static_cast<unsigned char>(body[op])) || body[op] == '_')) ++op;
    if (op == 0 && !body.empty() && std::strchr("?$#@*", body[0])) op = 1;
    const std::string name = body.substr(0, op), rest = body.substr(op);
    if (name.empty()) throw bad();
    if (rest.empty()) return parameter(name, err);
    const bool colon = rest[0] == ':';
    const std::string kind = rest.substr(colon ? 1 : 0, 1);
    if (kind.empty()) throw bad();
    const bool twice = !colon && rest.size() > 1 && (kind == "#" || kind == "%") && rest[1] == kind[0];
    const std::string word = rest.substr((colon ? 2 : 1) + (twice ? 1 : 0));
    const std::optional<std::string> found = lookup(name);  // ${1:-x} and ${?:-x} too
    const bool unset = !found, empty = unset || found->empty();
    const bool use_word = colon ? empty : unset;
    const std::string value = found.value_or("");
    if (kind == "-") return use_word ? join(expand(word, false, err)) : value;
    if (kind == "=") {
      if (!use_word) return value;
      vars[name] = join(expand(word, false, err));
      return vars[name];
    }
    if (kind == "+") return use_word ? "" : join(expand(word, false, err));
    if (kind == "?") {
      if (!use_word) return value;
      const std::string message = join(expand(word, false, err));
      throw Failed{{2, "", err + where() + name + ": " +
                               (message.empty() ? (colon ? "parameter not set or null" : "parameter not set") : message) +
                               "\n"}};
    }
    if (!colon && (kind == "#" || kind == "%")) {
      if (unset && nounset) parameter(name, err);  // set -u: "parameter not set"
      return trimmed(value, pattern(word, err), kind == "#", twice);
    }
    throw bad();
  }

  /// A pattern word of ${x%…}: quoted characters match themselves, the rest is a glob.
  std::string pattern(const std::string& raw, std::string& err) {
    std::string out;
    for (std::size_t i = 0; i < raw.size();) {
      const char c = raw[i];
      auto literal = [&](char ch) {
        if (std::strchr("*?[]\\", ch)) out += '\\';
        out += ch;
      };
      if (c == '\\' && i + 1 < raw.size()) {
        literal(raw[i + 1]);
        i += 2;
      } else if (c == '\'') {
        const auto close = raw.find('\'', i + 1);
        for (char ch : raw.substr(i + 1, close - i - 1)) literal(ch);
        i = close + 1;
      } else if (c == '"') {
        std::size_t k = i + 1;  // the quoted part, expanded, matches itself
        while (k < raw.size() && raw[k] != '"') k += raw[k] == '\\' ? 2 : 1;
        for (char ch : join(expand(raw.substr(i, k + 1 - i), false, err))) literal(ch);
        i = k + 1;
      } else if (c == '$' || c == '`') {
        out += dollar(raw, i, err);
      } else {
        out += c;
        ++i;
      }
    }
    return out;
  }

  /// `value` without the shortest (or longest) prefix (`front`) or suffix matching `glob`.
  static std::string trimmed(const std::string& value, const std::string& glob, bool front, bool longest) {
    const std::size_t n = value.size();
    for (std::size_t k = 0; k <= n; ++k) {
      const std::size_t len = longest ? n - k : k;
      const std::string part = front ? value.substr(0, len) : value.substr(n - len);
      if (fnmatch(glob.c_str(), part.c_str(), 0) == 0) return front ? value.substr(len) : value.substr(0, n - len);
    }
    return value;
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
      } else if (raw.compare(i, 4, "\"$@\"") == 0) {
        // "$@": a field per positional parameter (none when there are none), POSIX 2.5.2.
        for (std::size_t k = 0; k < args.size(); ++k) {
          if (k > 0) fields.push_back(std::move(cur));
          if (k > 0) cur.clear();
          cur += args[k];
          have = true;
        }
        i += 4;
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
      // dash: "cannot create F: Directory nonexistent" (src/error.c errmsg(E_CREAT)), "cannot open F:
      // No such file" (E_OPEN); FreeBSD's sh names strerror(). Exit 2: the command does not run.
      auto fail = [&](bool create, const std::string& errno_text) {
        std::string why = errno_text;
        if (dash() && errno_text == "No such file or directory") why = create ? "Directory nonexistent" : "No such file";
        o.code = last = 2;
        o.err += where() + (create ? "cannot create " : "cannot open ") + target + ": " + why + "\n";
        return false;
      };
      if (r.op == ">&" || r.op == "<&") {
        if (target == "-") {
          if (r.fd == 1 || r.fd == 2) sinks[r.fd] = {Sink::Null, "", ""};
        } else if (target == "1" || target == "2") {
          if (r.fd == 1 || r.fd == 2) sinks[r.fd] = sinks[target[0] - '0'];
        } else if (target != "0") {
          o.code = last = 2;
          const bool number = target.find_first_not_of("0123456789") == std::string::npos;
          o.err += where() + (number ? target + ": Bad file descriptor" : "Syntax error: Bad fd number") + "\n";
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
        if (host.is_dir(path)) {  // dash opens it; what the command then makes of a directory is not modelled
          o.code = last = 2;
          o.err += "sim: " + host.name_ + ": sh: reading a directory (< " + target + ") not modelled\n";
          return false;
        }
        auto it = host.files_.find(path);
        if (it == host.files_.end()) return fail(false, "No such file or directory");
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
        if (host.is_dir(path)) return fail(true, "Is a directory");
        if (!host.is_dir(parent_of(path))) return fail(true, "No such file or directory");
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
        o.err += where() + p.shown + ": " + why + "\n";
      }
    }
  }

  // --- simple commands and builtins ---------------------------------------------------------

  Out simple(const Node& n, const std::string& in) {
    Out o;
    line = n.line;
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

  /// printf FORMAT [ARG…] with %s, %b, %d and %%, the format reused while arguments are left
  /// (dash's builtin, as far as drctl's scripts go).
  Out printf_builtin(const std::vector<std::string>& argv) {
    if (argv.size() < 2) return {2, "", "printf: usage: printf format [arg ...]\n"};
    const std::string& format = argv[1];
    std::size_t next = 2;
    Out o;
    do {
      bool converted = false;
      for (std::size_t i = 0; i < format.size(); ++i) {
        const char c = format[i];
        if (c == '\\' && i + 1 < format.size()) {
          bool stop = false;
          o.out += unescape_one(format, i, false, stop);
        } else if (c == '%' && i + 1 < format.size()) {
          const char conv = format[++i];
          if (conv == '%') {
            o.out += '%';
            continue;
          }
          if (conv != 's' && conv != 'b' && conv != 'd')
            return {2, o.out, "sim: " + host.name_ + ": printf: %" + std::string(1, conv) + " not modelled\n"};
          converted = true;
          const std::string arg = next < argv.size() ? argv[next++] : (conv == 'd' ? "0" : "");
          if (conv != 'b') {
            o.out += arg;
            continue;
          }
          bool stop = false;
          for (std::size_t k = 0; k < arg.size() && !stop; ++k) {
            if (arg[k] == '\\' && k + 1 < arg.size()) o.out += unescape_one(arg, k, true, stop);
            else o.out += arg[k];
          }
          if (stop) return o;
        } else {
          o.out += c;
        }
      }
      if (!converted) break;
    } while (next < argv.size());
    return o;
  }

  /// echo as the host's sh has it. dash (bltin/printf.c echocmd): `-n` as the first argument is
  /// the only option (`-e` is printed), and backslash escapes are always read as printf's %b reads
  /// them (`\c` ends the output). FreeBSD's sh (bin/sh/bltin/echo.c): one of `-n` or `-e` first;
  /// escapes only with `-e`.
  Out echo_builtin(const std::vector<std::string>& argv) const {
    std::size_t i = 1;
    bool newline = true, escapes = dash();
    if (i < argv.size() && argv[i] == "-n") {
      newline = false;
      ++i;
    } else if (!dash() && i < argv.size() && argv[i] == "-e") {
      escapes = true;
      ++i;
    }
    Out o;
    for (std::size_t first = i; i < argv.size(); ++i) {
      if (i > first) o.out += ' ';
      const std::string& a = argv[i];
      for (std::size_t k = 0; k < a.size(); ++k) {
        if (a[k] != '\\' || !escapes || k + 1 >= a.size()) {
          o.out += a[k];
          continue;
        }
        bool stop = false;
        o.out += unescape_one(a, k, true, stop);
        if (stop) return o;
      }
    }
    if (newline) o.out += '\n';
    return o;
  }

  /// The escape at s[i] == '\\' (i left on its last character). In %b's argument an octal
  /// escape is \0ddd and \c ends the output (`stop`); in the format it is \ddd.
  static std::string unescape_one(const std::string& s, std::size_t& i, bool percent_b, bool& stop) {
    const char e = s[++i];
    switch (e) {
      case 'n': return "\n";
      case 't': return "\t";
      case 'r': return "\r";
      case 'a': return "\a";
      case 'b': return "\b";
      case 'f': return "\f";
      case 'v': return "\v";
      case '\\': return "\\";
      case 'e':
        if (percent_b) return "\033";
        break;
      case 'c':
        if (percent_b) {
          stop = true;
          return "";
        }
        break;
      default: break;
    }
    // %b (and dash's echo): \0 then up to three octal digits, or \NNN (dash 0.5.12 printf.c
    // conv_escape_str: `printf '%b' '\101'` and `echo '\0101'` both print "A"); the format: \NNN.
    const bool octal = e >= '0' && e <= '7';
    if (!octal) return std::string("\\") + e;
    std::size_t k = percent_b && e == '0' ? i + 1 : i;
    int value = 0, digits = 0;
    for (; k < s.size() && digits < 3 && s[k] >= '0' && s[k] <= '7'; ++k, ++digits) value = value * 8 + (s[k] - '0');
    i = k - 1;
    return std::string(1, static_cast<char>(value));
  }

  /// A special builtin's error (set, ., local …): the message, exit 2, and a non-interactive shell
  /// ends (POSIX 2.8.1 "Consequences of Shell Errors"; dash and FreeBSD's sh alike).
  Out special_error(const std::string& message) {
    exiting = true;
    return {2, "", where() + message + "\n"};
  }

  /// The long option names `set -o` knows: dash 0.5.12's src/options.c optnames (no pipefail before
  /// 0.5.13's "jobs: Implement pipefail option"), FreeBSD 13's bin/sh/options.h (with pipefail).
  bool shell_option(const std::string& name) const {
    static const std::set<std::string> dash_names = {"errexit", "noglob", "ignoreeof", "interactive", "monitor", "noexec",
                                                     "stdin",   "xtrace", "verbose",   "vi",          "emacs",   "noclobber",
                                                     "allexport", "notify", "nounset", "nolog",       "debug"};
    static const std::set<std::string> freebsd_names = {"errexit",   "noglob",     "ignoreeof", "interactive", "monitor",
                                                        "noexec",    "stdin",      "xtrace",    "verbose",     "vi",
                                                        "emacs",     "noclobber",  "allexport", "notify",      "nounset",
                                                        "privileged", "trapsasync", "physical", "trackall",    "nolog",
                                                        "pipefail",  "verify"};
    return (dash() ? dash_names : freebsd_names).count(name) > 0;
  }

  /// bash's builtins and keywords, which dash does not have: it looks them up on PATH and says
  /// "NAME: not found", exit 127 (`[[ … ]]` too: `[[` is a word to dash).
  static bool bash_only(const std::string& name) {
    static const std::set<std::string> names = {"[[",      "source",  "let",   "declare", "typeset", "shopt",   "pushd",
                                                "popd",    "dirs",    "disown", "mapfile", "readarray", "select",
                                                "function", "complete", "compgen", "bind",   "enable",  "caller", "suspend"};
    return names.count(name) > 0;
  }

  /// The file `.` reads: a name with a slash as it is, else the first match on PATH (dash's and
  /// FreeBSD's `.` do not look in the current directory).
  std::optional<std::string> dot_file(const std::string& name) const {
    if (name.find('/') != std::string::npos) return host.get_file(host.absolute(name));
    auto path = vars.find("PATH");
    std::stringstream dirs(path != vars.end() ? path->second : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');)
      if (auto f = host.get_file(host.absolute(dir + "/" + name))) return f;
    return std::nullopt;
  }

  Out command(const std::vector<std::string>& argv, const std::string& in,
              const std::vector<std::pair<std::string, std::string>>& assigns) {
    const std::string& cmd = argv[0];
    if (cmd == ":") return {};
    if (cmd == "exec") {  // the command replaces the shell: nothing after it runs
      if (argv.size() == 1) return {};
      Out r = command({argv.begin() + 1, argv.end()}, in, assigns);
      exiting = true;
      return r;
    }
    if (cmd == "printf") return printf_builtin(argv);
    if (cmd == "echo") return echo_builtin(argv);
    if (cmd == "exit") {
      exiting = true;
      return {argv.size() > 1 ? std::atoi(argv[1].c_str()) & 255 : last, "", ""};
    }
    if (cmd == "cd") {
      const std::string dir = argv.size() > 1 ? host.absolute(argv[1]) : "/root";
      if (!host.is_dir(dir)) return {2, "", where() + "cd: can't cd to " + (argv.size() > 1 ? argv[1] : dir) + "\n"};
      host.cwd_ = dir;
      return {};
    }
    if (cmd == "export" || cmd == "unset") {
      for (std::size_t i = 1; i < argv.size(); ++i) {
        if (argv[i] == "-p" || argv[i] == "-v" || argv[i] == "-f") continue;
        auto a = assignment(argv[i]);
        const std::string name = a ? a->first : argv[i];
        if (!is_name(name)) return special_error(cmd + ": " + argv[i] + ": bad variable name");
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
        if (a.size() < 2 || (a[0] != '-' && a[0] != '+'))
          return {2, "", "sim: " + host.name_ + ": set: positional parameters not modelled\n"};
        const bool on = a[0] == '-';
        for (char c : a.substr(1)) {
          if (c == 'e') {
            errexit = on;
          } else if (c == 'u') {
            nounset = on;
          } else if (c == 'o' && i + 1 < argv.size()) {  // -o NAME, also in a group: -eo pipefail
            const std::string opt = argv[++i];
            if (opt == "errexit") errexit = on;
            else if (opt == "nounset") nounset = on;
            else if (opt == "pipefail" && !dash()) pipefail = on;  // FreeBSD 13's sh has it; dash 0.5.12 not
            else if (!shell_option(opt)) return special_error("set: Illegal option " + std::string(1, a[0]) + "o " + opt);
            else return {2, "", "sim: " + host.name_ + ": set: option '" + opt + "' not modelled\n"};
          } else {
            return {2, "", "sim: " + host.name_ + ": set: option '" + std::string(1, a[0]) + c + "' not modelled\n"};
          }
        }
      }
      return {};
    }
    if (cmd == ".") {
      if (argv.size() < 2) return {};
      const auto script = dot_file(argv[1]);
      if (!script) return special_error(".: cannot open " + argv[1] + (dash() ? ": No such file" : ": No such file or directory"));
      const std::string outer_name = std::exchange(dot_name, argv[1]);
      const int outer_line = line;
      Out r = run_script(*script, in);
      dot_name = outer_name;
      line = outer_line;
      return r;
    }
    if (cmd == "local") return special_error("local: not in a function");  // functions are not modelled
    if (dash() && bash_only(cmd)) return {127, "", where() + cmd + ": not found\n"};
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
    host.sh_where_ = where();
    return host.exec(argv, in, env);
  }
};

SimHost::Result SimHost::sh_c(const std::vector<std::string>& argv, const std::string& stdin_data, const Env& env) {
  std::size_t i = 1;
  for (; i < argv.size() && argv[i] != "-c"; ++i)
    if (argv[i] != "-e" && argv[i] != "-u") return {2, "", "sim: " + name_ + ": sh: option '" + argv[i] + "' not modelled\n"};
  if (i + 1 >= argv.size()) return {2, "", "sim: " + name_ + ": sh: only `sh -c SCRIPT [NAME [ARG…]]` is modelled\n"};
  Shell sh(*this);
  for (std::size_t o = 1; o < i; ++o) (argv[o] == "-e" ? sh.errexit : sh.nounset) = true;
  for (const auto& [k, v] : env) {
    sh.vars[k] = v;
    sh.exported.insert(k);
  }
  if (i + 2 < argv.size()) sh.name0 = argv[i + 2];
  if (i + 3 < argv.size()) sh.args.assign(argv.begin() + static_cast<std::ptrdiff_t>(i + 3), argv.end());
  const std::string cwd = cwd_;
  Result r = sh.run_script(argv[i + 1], stdin_data);
  cwd_ = cwd;
  return r;
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

}  // namespace drctl::sim
