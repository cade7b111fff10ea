// The commands of a simulated installed system (SimHost::exec): sudo, apt and dpkg, systemctl,
// swapon/swapoff and coreutils (cat, test, mkdir, rm, rmdir, mv, ls, mktemp, wc, which,
// sha256sum, uname, sh, …) with coreutils' messages, and where each is found on
// PATH; on FreeBSD its own tools instead where they differ (sha256, with its messages:
// sim/CONFORMANCE.md). tar is tar.cpp; find, stat, xargs and chmod file_meta.cpp.
#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

#include "base/text.hpp"
#include "sim/host.hpp"
#include "sim/host_paths.hpp"
#include "sim/services.hpp"
#include "sim/sh_syntax.hpp"

namespace drctl::sim {

using sh::assignment;
using text::sha256_hex;

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
      {"sha256", "/sbin/sha256"},      {"uname", "/usr/bin/uname"},         {"sh", "/bin/sh"},
      {"exec", "exec"},                {"printf", "printf"},
      {"stat", "/usr/bin/stat"},       {"sudo", "/usr/bin/sudo"},           {"swapoff", "/usr/sbin/swapoff"},
      {"swapon", "/usr/sbin/swapon"},  {"systemctl", "/usr/bin/systemctl"}, {"tar", "/usr/bin/tar"},
      {"test", "test"},                {"[", "["},                          {"true", "true"},
      {"wc", "/usr/bin/wc"},           {"which", "/usr/bin/which"},         {":", ":"},
      {"cd", "cd"},                    {"command", "command"},              {"exit", "exit"},
      {"export", "export"},            {"set", "set"},                      {"umask", "umask"},
      {"unset", "unset"},              {"xargs", "/usr/bin/xargs"},         {"chmod", "/bin/chmod"},
      {"chown", "/usr/bin/chown"}};
  return commands;
}

/// What only one of the systems has: FreeBSD hashes with sha256(1) and has no GNU sha256sum.
bool on_system(const std::string& name, SimHost::Os os) {
  if (name == "sha256sum") return os == SimHost::Os::gnu_linux;
  if (name == "sha256") return os == SimHost::Os::freebsd;
  return true;
}

}  // namespace

std::string SimHost::which(const std::string& name) const {
  if (!on_system(base_of(name), os_)) return "";
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
  if (!on_system(base_of(cmd), os_)) return {127, "", cmd + ": not found\n"};  // FreeBSD sh's words
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
        charge_io(path, it->second.content.size(), true, false);
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
      if (args.empty() || args.back() != "]") return {2, "", sh_where_ + "[: missing ]\n"};
      args.pop_back();
    }
    return test(cmd, args);
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
      forget_dirs(path);
      touch_dir(parent_of(path));
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
  if (cmd == "stat") return stat(argv);
  if (cmd == "tar") return tar(argv, stdin_data);
  if (cmd == "find") return find(argv);
  if (cmd == "xargs") return xargs(argv, stdin_data, env);
  if (cmd == "chmod") return chmod(argv);
  if (cmd == "chown") return chown(argv);
  if (cmd == "sha256sum") {
    std::string out;
    for (std::size_t i = 1; i < argv.size(); ++i) {
      auto it = files_.find(absolute(argv[i]));
      if (it == files_.end()) return {1, out, "sha256sum: " + argv[i] + ": No such file or directory\n"};
      out += sha256_hex(it->second.content) + "  " + argv[i] + "\n";
      charge_io(it->first, it->second.content.size(), true, false);
    }
    return {0, out, ""};
  }
  if (cmd == "sha256") return sha256(argv);
  if (cmd == "uname") {
    if (argv.size() > 2 || (argv.size() == 2 && argv[1] != "-s"))
      return {2, "", "sim: " + name_ + ": uname: only `uname -s` is modelled\n"};
    return {0, os_ == Os::freebsd ? "FreeBSD\n" : "Linux\n", ""};
  }
  if (cmd == "sh") return sh_c(argv, stdin_data, env);
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
  if (cmd == "systemctl") return sim::systemctl(engine_, *this, argv);  // sim/services.cpp
  return unknown(argv[0]);
}

SimHost::Result SimHost::test(const std::string& name, const std::vector<std::string>& args) const {
  const std::size_t n = args.size();
  if (n == 0) return {1, "", ""};
  if (args[0] == "!" && n > 1) {
    Result r = test(name, {args.begin() + 1, args.end()});
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
    // dash's test has no `==` (dash 0.5.12 src/bltin/test.c): "[: a: unexpected operator", exit 2.
    // FreeBSD's test is left as it was (taking `==`): not checked against its source.
    if (op == "==" && os_ == Os::gnu_linux) return {2, "", sh_where_ + name + ": " + a + ": unexpected operator\n"};
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
      if (!x || !y) return {2, "", sh_where_ + name + ": Illegal number: " + (x ? b : a) + "\n"};
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
  forget_dirs(path);
  touch_dir(parent_of(path));
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
      std::vector<std::string> moving;
      const std::string prefix = src + "/";
      for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
        moving.push_back(it->first);
      std::vector<std::string> subdirs;
      for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it)
        subdirs.push_back(*it);
      // The directories keep their inodes and times under their new names; the moved one's
      // ctime moves (rename(2)), and so do both parents'.
      std::vector<std::pair<std::string, Meta>> metas;
      for (const auto& d : subdirs) metas.emplace_back(dst + d.substr(src.size()), dir_meta(d));
      Meta moved = dir_meta(src);
      moved.ctime_ns = now_ns();
      forget_dirs(src);
      forget_dirs(dst);
      for (const auto& [d, m] : metas) dir_meta_[d] = m;
      dir_meta_[dst] = moved;
      dirs_.erase(src);
      dirs_.insert(dst);
      for (const auto& d : subdirs) {
        dirs_.erase(d);
        dirs_.insert(dst + d.substr(src.size()));
      }
      for (const auto& path : moving) {
        std::string why;
        if (!rename_file(path, dst + path.substr(src.size()), &why)) fail("cannot move '" + path + "': " + why);
      }
      touch_dir(parent_of(src));
      touch_dir(parent_of(dst));
    } else {
      if (is_dir(dst)) {
        fail("cannot overwrite directory '" + dst_name + "' with non-directory");
        continue;
      }
      std::string why;
      if (!rename_file(src, dst, &why)) {
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
    make_dir(made);
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

SimHost::Result SimHost::sha256(const std::vector<std::string>& argv) {
  // FreeBSD's md5(1) family: "SHA256 (FILE) = HASH"; -r "HASH FILE"; -q the hash alone.
  bool reverse = false, quiet = false;
  std::size_t i = 1;
  for (; i < argv.size() && argv[i].size() > 1 && argv[i][0] == '-'; ++i) {
    if (argv[i].find_first_not_of("rq", 1) != std::string::npos)
      return {1, "", "sha256: illegal option -- " + argv[i].substr(argv[i].find_first_not_of("rq", 1), 1) +
                         "\nusage: sha256 [-pqrtx] [-c string] [-s string] [files ...]\n"};
    reverse = reverse || argv[i].find('r') != std::string::npos;
    quiet = quiet || argv[i].find('q') != std::string::npos;
  }
  Result r;
  for (; i < argv.size(); ++i) {
    auto it = files_.find(absolute(argv[i]));
    if (it == files_.end()) {
      r.code = 1;
      r.err += "sha256: " + argv[i] + ": No such file or directory\n";
      continue;
    }
    const std::string hash = sha256_hex(it->second.content);
    charge_io(it->first, it->second.content.size(), true, false);
    r.out += quiet ? hash + "\n" : reverse ? hash + " " + argv[i] + "\n" : "SHA256 (" + argv[i] + ") = " + hash + "\n";
  }
  return r;
}

}  // namespace drctl::sim
