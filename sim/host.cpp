#include "sim/host.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <sstream>

namespace drctl::sim {

namespace {

/// A command line cut into commands and the operators between them.
struct Piece {
  std::vector<std::string> argv;
  std::string redirect;  // file for > or >>
  bool append = false;
  std::string op;        // what follows: ";", "&&", "||" or ""
};

/// Splits like a shell does for the simple lines actions emit: quotes, ; && || > >>.
std::vector<Piece> parse(const std::string& line) {
  std::vector<Piece> out(1);
  std::string word;
  bool in_word = false, redirect_next = false;
  auto end_word = [&] {
    if (!in_word) return;
    if (redirect_next) {
      out.back().redirect = word;
      redirect_next = false;
    } else {
      out.back().argv.push_back(word);
    }
    word.clear();
    in_word = false;
  };
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (c == '\'' || c == '"') {
      std::size_t close = line.find(c, i + 1);
      if (close == std::string::npos) close = line.size();
      word += line.substr(i + 1, close - i - 1);
      in_word = true;
      i = close;
    } else if (c == '\\' && i + 1 < line.size()) {
      word += line[++i];
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      end_word();
    } else if (c == ';' || (c == '&' && i + 1 < line.size() && line[i + 1] == '&') ||
               (c == '|' && i + 1 < line.size() && line[i + 1] == '|')) {
      end_word();
      out.back().op = c == ';' ? ";" : std::string(2, c);
      if (c != ';') ++i;
      out.emplace_back();
    } else if (c == '>') {
      end_word();
      out.back().append = i + 1 < line.size() && line[i + 1] == '>';
      if (out.back().append) ++i;
      redirect_next = true;
    } else {
      word += c;
      in_word = true;
    }
  }
  end_word();
  if (out.back().argv.empty()) out.pop_back();
  return out;
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
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

}  // namespace

SimHost::SimHost(Engine& engine, std::string name) : engine_(engine), name_(std::move(name)) {}

bool SimHost::is_dir(const std::string& path) const { return dirs_.contains(path); }

SimHost::Result SimHost::unknown(const std::string& cmd) {
  engine_.log(name_, "unknown-command", {{"command", cmd}});
  return {127, "", "sim: " + name_ + ": unknown command '" + cmd + "'\n"};
}

world::CommandResult SimHost::run(const world::Command& command) {
  world::CommandResult r;
  engine_.log(name_, "command", {{"script", command.script}});
  int code = 0;
  const auto pieces = parse(command.script);
  std::string prev_op = ";";
  for (const auto& p : pieces) {
    const bool run_it = prev_op == ";" || (prev_op == "&&" && code == 0) || (prev_op == "||" && code != 0);
    prev_op = p.op.empty() ? ";" : p.op;
    if (!run_it) continue;
    Result res;
    if (p.redirect == "/dev/null") {
      res = exec(p.argv, command.stdin_data);
      res.out.clear();
    } else if (!p.redirect.empty() && !is_dir(parent_of(p.redirect))) {
      res = {1, "", "sh: " + p.redirect + ": No such file or directory\n"};
    } else {
      res = exec(p.argv, command.stdin_data);
      if (!p.redirect.empty()) {  // the shell opens (and truncates) the file whatever the command does
        auto it = files_.find(p.redirect);
        const std::string before = it == files_.end() ? "" : it->second.content;
        std::string why;
        if (!store(p.redirect, p.append ? before + res.out : res.out, it == files_.end() ? 0644 : it->second.mode, &why))
          res = {1, "", "sh: " + p.redirect + ": " + why + "\n"};
        res.out.clear();
      }
    }
    r.out += res.out;
    r.err += res.err;
    code = res.code;
  }
  r.exit_code = code;
  return r;
}

SimHost::Result SimHost::exec(const std::vector<std::string>& argv, const std::string& stdin_data) {
  if (argv.empty()) return {};
  if (argv[0] == "sudo") {  // drctl's users are sudoers on the hosts it manages
    std::size_t i = 1;
    while (i < argv.size() && (argv[i] == "-n" || argv[i] == "-E" || argv[i] == "-H")) ++i;
    return exec({argv.begin() + static_cast<std::ptrdiff_t>(i), argv.end()}, stdin_data);
  }
  const std::string& cmd = argv[0];
  auto arg = [&](std::size_t i) { return i < argv.size() ? argv[i] : std::string(); };
  if (auto own = commands_.find(cmd); own != commands_.end()) return own->second(argv, stdin_data);
  if (cmd == "true") return {0, "", ""};
  if (cmd == "hostname") {
    auto it = files_.find("/etc/hostname");
    return {0, it == files_.end() ? name_ + "\n" : it->second.content, ""};
  }
  if (cmd == "false") return {1, "", ""};
  if (cmd == "echo") {
    std::string out;
    for (std::size_t i = 1; i < argv.size(); ++i) out += (i > 1 ? " " : "") + argv[i];
    return {0, out + "\n", ""};
  }
  if (cmd == "cat") {
    if (argv.size() == 1) return {0, stdin_data, ""};
    std::string out;
    for (std::size_t i = 1; i < argv.size(); ++i) {
      auto it = files_.find(argv[i]);
      if (it == files_.end()) return {1, out, "cat: " + argv[i] + ": No such file or directory\n"};
      out += it->second.content;
    }
    return {0, out, ""};
  }
  if (cmd == "test" || cmd == "[") {
    const std::string flag = arg(1), path = arg(2);
    bool ok = flag == "-e" ? files_.contains(path) || is_dir(path)
            : flag == "-f" ? files_.contains(path)
            : flag == "-d" ? is_dir(path)
                           : false;
    if (flag != "-e" && flag != "-f" && flag != "-d") return {2, "", "sim: " + name_ + ": test: unsupported '" + flag + "'\n"};
    return {ok ? 0 : 1, "", ""};
  }
  if (cmd == "mkdir") {
    for (std::size_t i = 1; i < argv.size(); ++i)
      if (argv[i][0] != '-') make_dir(argv[i]);
    return {};
  }
  if (cmd == "rm") {
    for (std::size_t i = 1; i < argv.size(); ++i)
      if (argv[i][0] != '-') remove_file(argv[i]);
    return {};
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
    auto it = files_.find(arg(3));
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
      auto it = files_.find(argv[i]);
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
  return unknown(cmd);
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
