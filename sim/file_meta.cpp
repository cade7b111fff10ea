// What a simulated host's tools say of its files' metadata (SimHost::Meta: inode, mtime, ctime):
// find (GNU's -printf on GNU/Linux, -print0 on both, FreeBSD's refusal of -printf), stat (GNU
// `-c %a`; FreeBSD's `-f FORMAT` with the directives its manual lists), xargs (FreeBSD's 5000
// arguments a command, GNU's 128 KiB command line) and chmod. These are what an incremental
// capture lists a tree with (world::HostSystem::list_tree); sim/CONFORMANCE.md cites the manuals.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <map>

#include "sim/host.hpp"
#include "sim/host_paths.hpp"

namespace drctl::sim {

namespace {

// st_dev of the one file system a simulated host has: /dev/sda1 (major 8, minor 1) on Linux; a
// FreeBSD device number on the appliances. Only equality matters to drctl (hard-link groups).
constexpr std::uint64_t kLinuxDev = 2049;
constexpr std::uint64_t kFreeBsdDev = 1895270708;

std::string child_of(const std::string& dir, const std::string& name) { return dir == "/" ? "/" + name : dir + "/" + name; }

/// "1796263726.746826710" with `digits` of fraction (truncated, as stat's %.9Fm and GNU find's
/// %T@ take the timespec's nanoseconds).
std::string seconds(std::int64_t ns, int digits) {
  const std::int64_t sec = ns >= 0 ? ns / 1000000000 : -((-ns + 999999999) / 1000000000);
  const std::int64_t frac = ns - sec * 1000000000;
  std::string out = std::to_string(sec);
  if (digits <= 0) return out;
  char buf[24];
  std::snprintf(buf, sizeof buf, "%09lld", static_cast<long long>(frac));
  return out + "." + std::string(buf).substr(0, static_cast<std::size_t>(std::min(digits, 9))) +
         std::string(digits > 9 ? static_cast<std::size_t>(digits - 9) : 0, '0');
}

std::string octal(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%o", v);
  return buf;
}

/// `name` as the escapes of find -printf and stat -f give it: \0 \n \t \\ (GNU find(1),
/// "-printf format": "\0 ASCII NUL").
std::string escape(char e) {
  switch (e) {
    case '0': return std::string(1, '\0');
    case 'n': return "\n";
    case 't': return "\t";
    case '\\': return "\\";
    default: return std::string("\\") + e;
  }
}

/// What GNU find -printf prints of one entry.
struct PrintfEntry {
  std::string shown, base;  // the name as find prints it (%p) and its last component (%f)
  SimHost::Stat st;
};

/// `format` expanded for `e` (GNU find(1), "-printf format"); `why` says which directive is not modelled.
std::string printf_entry(const std::string& format, const PrintfEntry& e, std::string& why) {
  std::string out;
  for (std::size_t k = 0; k < format.size(); ++k) {
    if (format[k] == '\\' && k + 1 < format.size()) {
      out += escape(format[++k]);
      continue;
    }
    if (format[k] != '%' || k + 1 >= format.size()) {
      out += format[k];
      continue;
    }
    const char d = format[++k];
    // %T@ / %C@: seconds since the epoch "with fractional part" (findutils 4.9 prints ten digits
    // of it: the nanoseconds and a 0, as checked against the real find in sim_incremental_test).
    if ((d == 'T' || d == 'C') && k + 1 < format.size() && format[k + 1] == '@') {
      ++k;
      out += seconds(d == 'T' ? e.st.meta.mtime_ns : e.st.meta.ctime_ns, 10);
      continue;
    }
    switch (d) {
      case '%': out += '%'; break;
      case 'p': out += e.shown; break;
      case 'f': out += e.base; break;
      case 'D': out += std::to_string(kLinuxDev); break;
      case 'i': out += std::to_string(e.st.meta.inode); break;
      case 'y': out += e.st.dir ? 'd' : 'f'; break;
      case 'm': out += octal(e.st.mode); break;
      case 'n': out += std::to_string(e.st.nlink); break;
      case 'U': out += std::to_string(e.st.meta.uid); break;
      case 'G': out += std::to_string(e.st.meta.gid); break;
      case 's': out += std::to_string(e.st.size); break;
      case 'l': break;  // no symbolic links in the simulated file system
      default:
        why = "-printf %" + std::string(1, d) + " not modelled";
        return out;
    }
  }
  return out;
}

}  // namespace

std::optional<SimHost::Stat> SimHost::stat_of(const std::string& path) {
  Stat s;
  if (auto it = files_.find(path); it != files_.end()) {
    s.mode = it->second.mode & 07777;
    s.size = it->second.content.size();
    s.meta = it->second.meta;
    return s;
  }
  if (!is_dir(path)) return std::nullopt;
  s.dir = true;
  s.mode = 0755;  // the simulated directories keep no mode: what mkdir makes under umask 022
  s.size = os_ == Os::freebsd ? 512 : 4096;  // UFS's and ext4's size of a small directory
  s.nlink = 2;  // its name and its "."; each subdirectory's ".." adds one
  for (const auto& name : list_dir(path))
    if (is_dir(child_of(path, name))) ++s.nlink;
  s.meta = dir_meta(path);
  return s;
}

void SimHost::walk(const std::string& path, int max_depth, const std::function<void(const std::string&, int)>& fn) const {
  std::function<void(const std::string&, int)> visit = [&](const std::string& p, int depth) {
    fn(p, depth);
    if (!is_dir(p) || (max_depth >= 0 && depth >= max_depth)) return;
    for (const auto& name : list_dir(p)) visit(child_of(p, name), depth + 1);
  };
  visit(path, 0);
}

SimHost::Result SimHost::find(const std::vector<std::string>& argv) {
  const bool bsd = os_ == Os::freebsd;
  std::size_t i = 1;
  std::vector<std::string> starts;
  for (; i < argv.size() && !argv[i].empty() && argv[i][0] != '-'; ++i) starts.push_back(argv[i]);
  if (starts.empty()) {
    if (bsd) return {1, "", "usage: find [-H | -L | -P] [-EXdsx] [-f path] path ... [expression]\n"};
    starts.push_back(".");  // GNU find's default starting point
  }
  // The expression: read whole before anything runs (both finds refuse a bad one first).
  struct Action {
    enum Kind { Print, Print0, Printf } kind;
    std::string format;
  };
  std::vector<Action> actions;
  std::vector<std::string> exec_tool;
  int max_depth = -1;
  char type = 0;
  const std::string modelled = "sim: " + name_ + ": find: only -maxdepth N, -type f|d, -print, -print0, -printf and -exec TOOL {} + are modelled\n";
  for (; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    const bool has_arg = i + 1 < argv.size();
    if (a == "-printf" && bsd) return {1, "", "find: -printf: unknown primary or operator\n"};  // GNU's; BSD find has none
    if (a == "-maxdepth" && has_arg && argv[i + 1].find_first_not_of("0123456789") == std::string::npos) {
      max_depth = std::stoi(argv[++i]);
    } else if (a == "-type" && has_arg && (argv[i + 1] == "f" || argv[i + 1] == "d")) {
      type = argv[++i][0];
    } else if (a == "-print" || a == "-print0") {
      actions.push_back({a == "-print" ? Action::Print : Action::Print0, ""});
    } else if (a == "-printf" && has_arg) {
      actions.push_back({Action::Printf, argv[++i]});
    } else if (a == "-exec" && argv.size() - i >= 4 && argv[argv.size() - 2] == "{}" && argv.back() == "+") {
      exec_tool.assign(argv.begin() + static_cast<std::ptrdiff_t>(i + 1), argv.end() - 2);
      break;
    } else {
      return {2, "", modelled};
    }
  }
  if (actions.empty() && exec_tool.empty()) actions.push_back({Action::Print, ""});
  if (!exec_tool.empty() && which(exec_tool[0]).empty())  // find's own words when it cannot run the tool
    return {1, "", bsd ? "find: " + exec_tool[0] + ": No such file or directory\n"
                       : "find: '" + exec_tool[0] + "': No such file or directory\n"};
  Result r;
  std::vector<std::string> found;
  for (const std::string& start : starts) {
    const std::string root = absolute(start);
    if (!exists(root)) {
      r.code = 1;
      r.err += bsd ? "find: " + start + ": No such file or directory\n" : "find: '" + start + "': No such file or directory\n";
      continue;
    }
    std::string failed;
    walk(root, max_depth, [&](const std::string& path, int) {
      if (!failed.empty()) return;
      const Stat st = *stat_of(path);
      if (type && (type == 'd') != st.dir) return;
      // Names as find prints them: the starting point as given, then the path below it.
      const std::string rest = path.substr(root.size());
      const std::string shown = rest.empty() ? start : (start.ends_with("/") ? start + rest.substr(1) : start + rest);
      for (const Action& act : actions) {
        if (act.kind == Action::Print) r.out += shown + "\n";
        if (act.kind == Action::Print0) r.out += shown + std::string(1, '\0');
        if (act.kind != Action::Printf) continue;
        std::string why;
        r.out += printf_entry(act.format, {shown, rest.empty() ? base_of(start) : base_of(path), st}, why);
        if (!why.empty()) {
          failed = "sim: " + name_ + ": find: " + why + "\n";
          return;
        }
      }
      if (!exec_tool.empty() && !st.dir) found.push_back(shown);
    });
    if (!failed.empty()) return {2, r.out, failed};
  }
  if (exec_tool.empty() || found.empty()) return r;
  exec_tool.insert(exec_tool.end(), found.begin(), found.end());
  Result e = exec(exec_tool, "", {});
  r.out += e.out;
  r.err += e.err;
  if (e.code != 0) r.code = 1;
  return r;
}

namespace {

/// One directive of FreeBSD stat -f: %[flags][size][.prec][fmt][sub]datum (stat(1), "Formats").
struct StatDirective {
  bool left = false, zero = false;
  int width = 0, prec = -1;
  char fmt = 0, sub = 0, datum = 0;
};

/// Reads the directive after the '%' at f[k]; k is left on its datum. False when it does not parse.
bool read_directive(const std::string& f, std::size_t& k, StatDirective& d) {
  ++k;
  for (; k < f.size() && std::string("#+-0 ").find(f[k]) != std::string::npos; ++k) {
    if (f[k] == '-') d.left = true;
    if (f[k] == '0') d.zero = true;
  }
  for (; k < f.size() && std::isdigit(static_cast<unsigned char>(f[k])); ++k) d.width = d.width * 10 + (f[k] - '0');
  if (k < f.size() && f[k] == '.') {
    d.prec = 0;
    for (++k; k < f.size() && std::isdigit(static_cast<unsigned char>(f[k])); ++k) d.prec = d.prec * 10 + (f[k] - '0');
  }
  if (k < f.size() && std::string("DOUXFS").find(f[k]) != std::string::npos) d.fmt = f[k++];
  if (k < f.size() && std::string("HML").find(f[k]) != std::string::npos) d.sub = f[k++];
  if (k >= f.size()) return false;
  d.datum = f[k];
  return true;
}

/// The text of directive `d` for `st` named `name` (stat(1), "Formats"): nullopt when not modelled.
std::optional<std::string> stat_field(const StatDirective& d, const SimHost::Stat& st, const std::string& name) {
  if (d.datum == 'm' || d.datum == 'c' || d.datum == 'a') {
    // a, m, c default to D (whole seconds); F floats them with `prec` digits. atime is not
    // modelled apart: a read does not move it (as with noatime), so it is mtime.
    const std::int64_t ns = d.datum == 'c' ? st.meta.ctime_ns : st.meta.mtime_ns;
    if (d.fmt == 'F') return seconds(ns, d.prec < 0 ? 0 : d.prec);
    if (d.fmt == 0 || d.fmt == 'D') return seconds(ns, 0);
    return std::nullopt;
  }
  if (d.datum == 'p') {
    // p defaults to O (octal): the whole st_mode; sub L the user, group and other bits, M the
    // set-id and sticky bits, H the file type bits.
    const unsigned type_bits = st.dir ? 0040000 : 0100000;
    unsigned v = type_bits | st.mode;
    if (d.sub == 'L') v = st.mode & 0777;
    if (d.sub == 'M') v = (st.mode >> 9) & 07;
    if (d.sub == 'H') v = type_bits >> 12;
    if (d.fmt == 0 || d.fmt == 'O') return octal(v);
    if (d.fmt == 'D' || d.fmt == 'U') return std::to_string(v);
    return std::nullopt;
  }
  if (d.datum == 'N') return name;
  if (d.sub != 0 || (d.fmt != 0 && d.fmt != 'D' && d.fmt != 'U')) return std::nullopt;
  switch (d.datum) {  // the others default to U (unsigned decimal)
    case 'd': return std::to_string(kFreeBsdDev);
    case 'i': return std::to_string(st.meta.inode);
    case 'l': return std::to_string(st.nlink);
    case 'u': return std::to_string(st.meta.uid);
    case 'g': return std::to_string(st.meta.gid);
    case 'z': return std::to_string(st.size);
    default: return std::nullopt;
  }
}

/// `format` expanded for one file (a line without its newline); `bad` names a directive that is
/// not modelled.
std::string stat_line(const std::string& format, const SimHost::Stat& st, const std::string& name, std::string& bad) {
  std::string line;
  for (std::size_t k = 0; k < format.size(); ++k) {
    if (format[k] != '%') {
      line += format[k];
      continue;
    }
    if (k + 1 < format.size() && std::string("%nt").find(format[k + 1]) != std::string::npos) {
      const char c = format[++k];
      line += c == 'n' ? '\n' : c == 't' ? '\t' : '%';
      continue;
    }
    const std::size_t start = k;
    StatDirective d;
    const bool parsed = read_directive(format, k, d);
    const std::optional<std::string> field = parsed ? stat_field(d, st, name) : std::nullopt;
    if (!field) {
      bad = format.substr(start, parsed ? k + 1 - start : std::string::npos);
      return line;
    }
    const std::size_t width = static_cast<std::size_t>(d.width);
    const std::string pad(field->size() < width ? width - field->size() : 0, d.zero && !d.left ? '0' : ' ');
    line += d.left ? *field + pad : pad + *field;
  }
  return line;
}

}  // namespace

SimHost::Result SimHost::stat(const std::vector<std::string>& argv) {
  const bool bsd = os_ == Os::freebsd;
  if (bsd && argv.size() > 1 && argv[1].rfind("-c", 0) == 0)
    return {1, "", "stat: illegal option -- c\n"
                   "usage: stat [-FLnq] [-f format | -l | -r | -s | -x] [-t timefmt] [file|handle ...]\n"};
  if (!bsd) {  // GNU: stat -c %a FILE (the permission bits in octal)
    if (argv.size() != 4 || argv[1] != "-c" || argv[2] != "%a")
      return {2, "", "sim: " + name_ + ": stat: only `stat -c %a FILE` is modelled\n"};
    const auto st = stat_of(absolute(argv[3]));
    if (!st) return {1, "", "stat: cannot statx '" + argv[3] + "': No such file or directory\n"};
    return {0, octal(st->mode) + "\n", ""};
  }
  // FreeBSD: stat [-n] -f FORMAT FILE…, a line per file (stat(1)).
  std::string format;
  bool newline = true;
  std::size_t i = 1;
  for (; i < argv.size() && argv[i].size() > 1 && argv[i][0] == '-'; ++i) {
    if (argv[i] == "-f" && i + 1 < argv.size()) format = argv[++i];
    else if (argv[i] == "-n") newline = false;
    else if (argv[i] == "-L") continue;  // no symbolic links to follow
    else return {2, "", "sim: " + name_ + ": stat: option '" + argv[i] + "' not modelled (only -f FORMAT, -n, -L)\n"};
  }
  if (format.empty() || i >= argv.size())
    return {2, "", "sim: " + name_ + ": stat: only `stat [-n] -f FORMAT FILE…` is modelled\n"};
  Result r;
  for (; i < argv.size(); ++i) {
    const auto st = stat_of(absolute(argv[i]));
    if (!st) {
      r.code = 1;
      r.err += "stat: " + argv[i] + ": stat: No such file or directory\n";
      continue;
    }
    std::string bad;
    const std::string line = stat_line(format, *st, argv[i], bad);
    if (!bad.empty()) return {2, r.out, "sim: " + name_ + ": stat: directive '" + bad + "' not modelled\n"};
    r.out += line + (newline ? "\n" : "");
  }
  return r;
}

SimHost::Result SimHost::xargs(const std::vector<std::string>& argv, const std::string& stdin_data, const Env& env) {
  const bool bsd = os_ == Os::freebsd;
  bool nul = false, no_empty_run = bsd;  // FreeBSD's xargs does not run the utility on empty input; GNU's does, without -r
  std::size_t per_command = bsd ? 5000 : 0;  // FreeBSD xargs(1) -n: "The current default value for number is 5000."
  std::size_t i = 1;
  for (; i < argv.size() && argv[i].size() > 1 && argv[i][0] == '-'; ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-0" || a == "--null") nul = true;
    else if (a == "-r" || a == "--no-run-if-empty") no_empty_run = true;
    else if (a == "-n" && i + 1 < argv.size() && argv[i + 1].find_first_not_of("0123456789") == std::string::npos)
      per_command = std::stoul(argv[++i]);
    else return {2, "", "sim: " + name_ + ": xargs: option '" + a + "' not modelled (only -0, -r, -n N)\n"};
  }
  std::vector<std::string> command(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end());
  if (command.empty()) command.push_back("echo");
  std::vector<std::string> items;
  if (nul) {
    std::size_t at = 0;
    for (std::size_t end; (end = stdin_data.find('\0', at)) != std::string::npos; at = end + 1)
      items.push_back(stdin_data.substr(at, end - at));
    if (at < stdin_data.size()) items.push_back(stdin_data.substr(at));
  } else {
    if (stdin_data.find_first_of("'\"\\") != std::string::npos)
      return {2, "", "sim: " + name_ + ": xargs: quotes and backslashes in its input are not modelled (use -0)\n"};
    std::string cur;
    for (char c : stdin_data + " ") {
      if (c == ' ' || c == '\t' || c == '\n') {
        if (!cur.empty()) items.push_back(std::move(cur));
        cur.clear();
      } else {
        cur += c;
      }
    }
  }
  if (which(command[0]).empty() && !commands_.count(command[0]))
    return {127, "", "xargs: " + command[0] + ": No such file or directory\n"};  // both xargs' words
  // GNU xargs builds command lines of at most 128 KiB (`xargs --show-limits`: "Size of command
  // buffer we are actually using: 131072"), each argument counting with its terminating NUL.
  constexpr std::size_t kGnuLine = 131072;
  std::size_t base = 0;
  for (const auto& w : command) base += w.size() + 1;
  Result r;
  bool failed = false;
  std::size_t at = 0;
  do {
    if (items.empty() && no_empty_run) break;
    std::vector<std::string> line = command;
    std::size_t bytes = base, n = 0;
    for (; at < items.size(); ++at, ++n) {
      if (per_command && n >= per_command) break;
      if (!bsd && n > 0 && bytes + items[at].size() + 1 > kGnuLine) break;
      bytes += items[at].size() + 1;
      line.push_back(items[at]);
    }
    Result one = exec(line, "", env);  // the utility's stdin is /dev/null (both xargs(1))
    r.out += one.out;
    r.err += one.err;
    if (one.code == 255) return {124, r.out, r.err + "xargs: " + command[0] + ": exited with status 255; aborting\n"};
    if (one.code == 127 || one.code == 126) return {one.code, r.out, r.err};
    if (one.code != 0) failed = true;
  } while (at < items.size());
  r.code = failed ? 123 : 0;  // POSIX xargs: 1–125 "A command line meeting the specified requirements could not be assembled, … or an invocation … returned a non-zero exit status"
  return r;
}

SimHost::Operands SimHost::operands(const std::vector<std::string>& argv) {
  Operands ops;
  if (ops.first < argv.size() && argv[ops.first] == "-R") {
    ops.recursive = true;
    ++ops.first;
  }
  return ops;
}

SimHost::Result SimHost::each_file(const std::vector<std::string>& argv, const Operands& ops, const std::string& tool,
                                   const std::function<void(const std::string&)>& change) {
  // The operands after the mode or owner; a missing one is reported in the tool's words and the
  // others are still changed (exit 1), as chmod(1) and chown(1) do.
  const bool bsd = os_ == Os::freebsd;
  Result r;
  for (std::size_t i = ops.first + 1; i < argv.size(); ++i) {
    const std::string path = absolute(argv[i]);
    if (!exists(path)) {
      r.code = 1;
      r.err += bsd ? tool + ": " + argv[i] + ": No such file or directory\n"
                   : tool + ": cannot access '" + argv[i] + "': No such file or directory\n";
      continue;
    }
    walk(path, ops.recursive ? -1 : 0, [&](const std::string& p, int) { change(p); });
  }
  return r;
}

SimHost::Result SimHost::chmod(const std::vector<std::string>& argv) {
  const bool bsd = os_ == Os::freebsd;
  const Operands ops = operands(argv);
  if (argv.size() - ops.first < 2) return {1, "", bsd ? "usage: chmod [-fhv] [-R [-H | -L | -P]] mode file ...\n"
                                                       : "chmod: missing operand\nTry 'chmod --help' for more information.\n"};
  const std::string& spec = argv[ops.first];
  // An octal mode, or symbolic clauses [ugoa]*[+-=][rwxst]* separated by commas (umask left out).
  auto apply = [&](unsigned mode) -> std::optional<unsigned> {
    if (spec.find_first_not_of("01234567") == std::string::npos) return std::stoul(spec, nullptr, 8) & 07777;
    std::size_t k = 0;
    while (k < spec.size()) {
      unsigned who = 0;
      for (; k < spec.size() && std::string("ugoa").find(spec[k]) != std::string::npos; ++k)
        who |= spec[k] == 'u' ? 04700 : spec[k] == 'g' ? 02070 : spec[k] == 'o' ? 01007 : 07777;
      if (!who) who = 07777;
      if (k >= spec.size() || std::string("+-=").find(spec[k]) == std::string::npos) return std::nullopt;
      const char op = spec[k++];
      unsigned bits = 0;
      for (; k < spec.size() && spec[k] != ','; ++k) {
        switch (spec[k]) {
          case 'r': bits |= 0444; break;
          case 'w': bits |= 0222; break;
          case 'x': bits |= 0111; break;
          case 's': bits |= 06000; break;
          case 't': bits |= 01000; break;
          default: return std::nullopt;
        }
      }
      bits &= who;
      if (op == '+') mode |= bits;
      if (op == '-') mode &= ~bits;
      if (op == '=') mode = (mode & ~(who & 0777)) | bits;
      if (k < spec.size()) ++k;  // ','
    }
    return mode;
  };
  if (!apply(0644)) return {1, "", bsd ? "chmod: Invalid file mode: " + spec + "\n" : "chmod: invalid mode: '" + spec + "'\n"};
  return each_file(argv, ops, "chmod", [&](const std::string& p) {
    auto it = files_.find(p);
    change_mode(p, *apply(it == files_.end() ? 0755 : it->second.mode));
  });
}

SimHost::Result SimHost::chown(const std::vector<std::string>& argv) {
  // chown [-R] OWNER[:GROUP] FILE…: numeric owners, or root (0); no user database is modelled.
  const bool bsd = os_ == Os::freebsd;
  const Operands ops = operands(argv);
  if (argv.size() - ops.first < 2) return {1, "", bsd ? "usage: chown [-fhvx] [-R [-H | -L | -P]] owner[:group] file ...\n"
                                                       : "chown: missing operand\nTry 'chown --help' for more information.\n"};
  const std::string spec = argv[ops.first];
  auto id = [](const std::string& s) -> std::optional<unsigned> {
    if (s == "root" || s == "wheel") return 0u;
    if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return static_cast<unsigned>(std::stoul(s));
  };
  const std::size_t colon = spec.find_first_of(":.");
  const auto uid = id(spec.substr(0, colon));
  const auto gid = colon == std::string::npos ? std::optional<unsigned>() : id(spec.substr(colon + 1));
  if (!uid || (colon != std::string::npos && !gid))
    return {2, "", "sim: " + name_ + ": chown: only numeric owners and root are modelled ('" + spec + "')\n"};
  return each_file(argv, ops, "chown", [&](const std::string& p) { change_owner(p, *uid, gid); });
}

}  // namespace drctl::sim
