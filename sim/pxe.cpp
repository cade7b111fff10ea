#include "sim/pxe.hpp"

#include <algorithm>
#include <cctype>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "base/text.hpp"
#include "sim/ipv4_text.hpp"

namespace drctl::sim {

namespace {

using text::lower;
using text::trim;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep))
    if (!part.empty()) out.push_back(part);
  return out;
}

std::vector<std::string> words(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// "KEYWORD rest of line" -> {"KEYWORD", "rest of line"}.
std::pair<std::string, std::string> first_and_rest(const std::string& line) {
  auto end = line.find_first_of(" \t");
  if (end == std::string::npos) return {line, ""};
  return {line.substr(0, end), trim(line.substr(end))};
}

std::string first_word(const std::string& s) { return first_and_rest(s).first; }

// A '#' at the start or after whitespace begins a comment.
std::string strip_comment(const std::string& line) {
  for (std::size_t i = 0; i < line.size(); ++i)
    if (line[i] == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(line[i - 1])))) return trim(line.substr(0, i));
  return line;
}

std::string unquote(const std::string& s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

}  // namespace

std::string Location::str() const {
  if (scheme == "nfs") return "nfs:" + server + ":" + path;
  if (scheme == "tftp") return "tftp://" + server + "/" + path;
  return scheme + "://" + server + (port ? ":" + std::to_string(port) : "") + path;
}

Location parse_location(const std::string& text) {
  auto fail = [&](const std::string& why) { return std::invalid_argument("cannot read location '" + text + "': " + why); };
  auto colon = text.find(':');
  if (colon == std::string::npos) throw fail("no scheme (expected nfs:, http:// or tftp://)");
  Location loc;
  loc.scheme = text.substr(0, colon);
  std::string rest = text.substr(colon + 1);
  if (loc.scheme != "nfs" && loc.scheme != "http" && loc.scheme != "tftp")
    throw fail("unknown scheme '" + loc.scheme + "' (expected nfs, http or tftp)");
  if (loc.scheme == "nfs" && !rest.starts_with("//")) {
    auto sep = rest.find(':');
    if (sep == std::string::npos) throw fail("expected nfs:SERVER:/PATH");
    loc.server = rest.substr(0, sep);
    loc.path = rest.substr(sep + 1);
  } else {
    if (!rest.starts_with("//")) throw fail("expected " + loc.scheme + "://SERVER/PATH");
    rest = rest.substr(2);
    auto slash = rest.find('/');
    loc.server = rest.substr(0, slash);
    loc.path = slash == std::string::npos ? "" : rest.substr(slash);
    if (auto p = loc.server.find(':'); p != std::string::npos) {
      std::string port = loc.server.substr(p + 1);
      loc.server = loc.server.substr(0, p);
      if (loc.scheme != "http") throw fail("a port is only modelled for http");
      if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoi(port) == 0 ||
          std::stoi(port) > 65535)
        throw fail("bad port '" + port + "'");
      loc.port = std::stoi(port);
    }
    if (loc.scheme == "http" && loc.path.empty()) loc.path = "/";
  }
  if (loc.server.empty()) throw fail("no server");
  if (!loc.path.starts_with("/")) throw fail("the path must be absolute");
  if (loc.scheme == "tftp") {
    loc.path = loc.path.substr(1);
    if (loc.path.empty()) throw fail("no file");
  }
  return loc;
}

PxeMenu parse_pxelinux(const std::string& text) {
  PxeMenu menu;
  bool in_label = false, in_text = false;
  std::istringstream in(text);
  std::string raw;
  for (int lineno = 1; std::getline(in, raw); ++lineno) {
    std::string line = strip_comment(trim(raw));
    if (in_text) {
      in_text = lower(line) != "endtext";
      continue;
    }
    if (line.empty()) continue;
    auto [keyword, rest] = first_and_rest(line);
    keyword = lower(keyword);
    if (keyword == "text") {
      in_text = true;
    } else if (keyword == "menu") {
      auto [sub, arg] = first_and_rest(rest);
      sub = lower(sub);
      if (sub == "default" && in_label) menu.menu_default = menu.entries.back().label;
      if (sub == "include") menu.includes.push_back(first_word(arg));
    } else if (keyword == "include") {
      menu.includes.push_back(first_word(rest));
    } else if (keyword == "default") {
      menu.default_directive = rest;
    } else if (keyword == "ui") {
      menu.ui = rest;
    } else if (keyword == "label") {
      BootEntry e;
      e.label = unquote(rest);
      e.line = lineno;
      menu.entries.push_back(std::move(e));
      in_label = true;
    } else if (in_label) {
      BootEntry& e = menu.entries.back();
      if (keyword == "kernel" || keyword == "linux") e.kernel = first_word(rest);
      if (keyword == "localboot") e.localboot = true;
      if (keyword == "initrd")
        for (const auto& f : split(first_word(rest), ',')) e.initrds.push_back(f);
      if (keyword == "append") {
        e.append = rest;
        for (const auto& w : words(rest))
          if (w.starts_with("initrd="))
            for (const auto& f : split(w.substr(7), ',')) e.initrds.push_back(f);
      }
    }
  }
  return menu;
}

std::vector<std::string> pxelinux_config_paths(const std::string& mac, const std::string& ip) {
  static const std::regex mac_re("^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$");
  if (!std::regex_match(mac, mac_re)) throw std::invalid_argument("'" + mac + "' is not a MAC address");
  std::string m = lower(mac);
  std::replace(m.begin(), m.end(), ':', '-');
  std::vector<std::string> paths = {"pxelinux.cfg/01-" + m};
  const std::uint32_t addr = ipv4_or_throw(ip);
  std::string hex;
  for (int shift = 28; shift >= 0; shift -= 4) hex += "0123456789ABCDEF"[addr >> shift & 15];
  for (std::size_t n = hex.size(); n >= 1; --n) paths.push_back("pxelinux.cfg/" + hex.substr(0, n));
  paths.push_back("pxelinux.cfg/default");
  return paths;
}

namespace {

bool is_menu_module(const std::string& name) {
  std::string base = name.substr(name.rfind('/') + 1);
  return base == "menu.c32" || base == "vesamenu.c32";
}

// One boot in progress: the TFTP server, pxelinux's path prefix, and the outcome so far.
struct Follower {
  const Fetch& fetch;
  std::string server;
  std::string prefix;  // the directory of the boot file, "" or ending in '/'
  PxeOutcome out;

  // Reads `loc`, noting it (and why it failed) in the trail.
  Fetched read(const Location& loc) {
    Fetched f = fetch(loc);
    out.trail.push_back(f.ok ? loc.str() : loc.str() + " (" + f.error + ")");
    return f;
  }
  // A file as pxelinux names it: relative to the prefix, or from the TFTP root with '/' or '::'.
  Location tftp(const std::string& name) const {
    if (name.starts_with("::")) {
      std::string path = name.substr(2);
      path.erase(0, path.find_first_not_of('/'));
      return {"tftp", server, 0, path};
    }
    if (name.starts_with("/")) return {"tftp", server, 0, name.substr(1)};
    return {"tftp", server, 0, prefix + name};
  }
  // "" when `name` was read, else why not.
  std::string need(const std::string& name, const std::string& what) {
    Location loc = tftp(name);
    Fetched f = read(loc);
    return f.ok ? "" : what + ": " + loc.str() + ": " + f.error;
  }
  PxeOutcome fail(const std::string& why) {
    out.ok = false;
    out.error = why;
    return out;
  }
};

// An included file's labels join the menu; its DEFAULT, UI and MENU DEFAULT apply where the main file has none.
void merge_include(PxeMenu& menu, const PxeMenu& inc) {
  menu.entries.insert(menu.entries.end(), inc.entries.begin(), inc.entries.end());
  if (menu.default_directive.empty()) menu.default_directive = inc.default_directive;
  if (menu.ui.empty()) menu.ui = inc.ui;
  if (menu.menu_default.empty()) menu.menu_default = inc.menu_default;
}

// The label pxelinux boots, or nullopt with f.out.error set.
std::optional<std::string> choose_label(Follower& f, const PxeMenu& menu) {
  const std::string& config = f.out.config_path;
  auto exists = [&](const std::string& label) {
    return std::any_of(menu.entries.begin(), menu.entries.end(), [&](const BootEntry& e) { return e.label == label; });
  };
  auto fail = [&](const std::string& why) -> std::optional<std::string> {
    f.fail(why);
    return std::nullopt;
  };
  const std::string def = first_word(menu.default_directive);
  std::string module = first_word(menu.ui);
  if (module.empty() && !exists(def) && is_menu_module(def)) module = def;
  if (module.empty()) {
    if (def.empty()) return fail(config + " has no DEFAULT or UI: pxelinux stops at the boot: prompt");
    if (!exists(def)) return fail(config + ": DEFAULT names '" + def + "', which is no label there");
    return def;
  }
  if (std::string err = f.need(module, "Failed to load COM32 file " + module); !err.empty()) return fail(err);
  if (menu.entries.empty()) return fail(config + ": the menu " + module + " shows has no labels");
  if (!menu.menu_default.empty()) return menu.menu_default;
  if (!menu.ui.empty() && !def.empty()) {
    if (!exists(def)) return fail(config + ": DEFAULT names '" + def + "', which is no label there");
    return def;
  }
  return menu.entries.front().label;
}

// The value of the first "key=value" word, or "".
std::string option(const std::vector<std::string>& args, const std::string& key) {
  for (const auto& a : args)
    if (a.starts_with(key + "=")) return a.substr(key.size() + 1);
  return "";
}

std::optional<InstallPlan> kickstart(Follower& f, const std::string& where, const std::string& value) {
  Location loc;
  try {
    loc = parse_location(value);
  } catch (const std::invalid_argument& e) {
    f.fail(where + ": ks=: " + e.what());
    return std::nullopt;
  }
  Fetched ks = f.read(loc);
  if (!ks.ok) {
    f.fail(where + ": cannot read kickstart " + loc.str() + ": " + ks.error);
    return std::nullopt;
  }
  try {
    return parse_kickstart(ks.content);
  } catch (const AnswerError& e) {
    f.fail(where + ": kickstart " + loc.str() + " line " + std::to_string(e.line) + ": " + e.message);
    return std::nullopt;
  }
}

// cloud-init's NoCloud seed: "nocloud-net;s=URL/" (or "nocloud", "seedfrom=", ";" escaped as "\;").
std::optional<InstallPlan> autoinstall(Follower& f, const std::string& where, const std::string& ds) {
  std::string text;
  for (std::size_t i = 0; i < ds.size(); ++i)
    if (!(ds[i] == '\\' && i + 1 < ds.size() && ds[i + 1] == ';')) text += ds[i];
  auto parts = split(text, ';');
  std::string seed;
  for (std::size_t i = 1; i < parts.size(); ++i)
    if (parts[i].starts_with("s=") || parts[i].starts_with("seedfrom=")) seed = parts[i].substr(parts[i].find('=') + 1);
  auto fail = [&](const std::string& why) {
    f.fail(where + ": ds=" + ds + ": " + why);
    return std::nullopt;
  };
  if (parts.empty() || (parts[0] != "nocloud" && parts[0] != "nocloud-net"))
    return fail("only the nocloud / nocloud-net datasource is modelled");
  if (seed.empty()) return fail("no s=URL/ to read user-data from");
  Location meta, user;
  try {
    meta = parse_location(seed + "meta-data");
    user = parse_location(seed + "user-data");
  } catch (const std::invalid_argument& e) {
    return fail(e.what());
  }
  if (user.scheme != "http") return fail("cloud-init reads a NoCloud seed over http, not " + user.scheme);
  Fetched m = f.read(meta);
  if (!m.ok) return fail("cannot read " + meta.str() + ": " + m.error);
  Fetched u = f.read(user);
  if (!u.ok) return fail("cannot read " + user.str() + ": " + u.error);
  try {
    return parse_autoinstall(u.content, m.content);
  } catch (const AnswerError& e) {
    const Location& file = e.file == "meta-data" ? meta : user;
    f.fail(where + ": autoinstall " + file.str() + " line " + std::to_string(e.line) + ": " + e.message);
    return std::nullopt;
  }
}

}  // namespace

PxeOutcome follow_pxe(const std::string& mac, const std::string& ip, const std::string& next_server,
                      const std::string& filename, const Fetch& fetch) {
  Follower f{fetch, next_server, "", {}};
  if (filename.empty()) return f.fail("PXE-E53: no boot filename received (DHCP gave no filename option)");
  if (next_server.empty()) return f.fail("PXE-E32: no TFTP server for " + filename + " (DHCP gave no next-server)");
  const std::string boot = filename.starts_with("/") ? filename.substr(1) : filename;
  if (std::string err = f.need(boot, "PXE-E32: TFTP open failed for boot file " + boot); !err.empty()) return f.fail(err);
  f.prefix = boot.substr(0, boot.rfind('/') + 1);
  if (!boot.ends_with("pxelinux.0"))
    return f.fail("boot file " + boot + " is not pxelinux: only pxelinux.0 and lpxelinux.0 are modelled");
  if (std::string err = f.need("ldlinux.c32", "Failed to load ldlinux.c32"); !err.empty()) return f.fail(err);

  std::vector<std::string> paths;
  try {
    paths = pxelinux_config_paths(mac, ip);
  } catch (const std::invalid_argument& e) {
    return f.fail(e.what());
  }
  std::optional<std::string> config;
  for (const auto& p : paths) {
    Fetched c = f.read(f.tftp(p));
    if (!c.ok) continue;
    f.out.config_path = f.tftp(p).path;
    config = c.content;
    break;
  }
  if (!config)
    return f.fail("Unable to locate configuration file: none of the " + std::to_string(paths.size()) +
                  " pxelinux.cfg files for " + mac + " / " + ip + " is on " + next_server + ", not even " +
                  f.tftp(paths.back()).path);
  PxeMenu menu = parse_pxelinux(*config);
  for (const auto& inc : std::vector<std::string>(menu.includes)) {
    Fetched i = f.read(f.tftp(inc));  // a missing include is skipped, as pxelinux does
    if (i.ok) merge_include(menu, parse_pxelinux(i.content));
  }

  const auto chosen = choose_label(f, menu);
  if (!chosen) return f.out;
  const std::string& label = *chosen;
  const BootEntry& entry =
      *std::find_if(menu.entries.begin(), menu.entries.end(), [&](const BootEntry& e) { return e.label == label; });
  f.out.label = label;
  const std::string where = "label '" + label + "' (" + f.out.config_path + " line " + std::to_string(entry.line) + ")";
  if (entry.localboot) {
    f.out.ok = true;
    f.out.localboot = true;
    return f.out;
  }
  if (entry.kernel.empty()) return f.fail(where + " has no KERNEL");
  if (std::string err = f.need(entry.kernel, where + ": cannot load kernel " + entry.kernel); !err.empty())
    return f.fail(err);
  for (const auto& initrd : entry.initrds)
    if (std::string err = f.need(initrd, where + ": cannot load initrd " + initrd); !err.empty()) return f.fail(err);

  const auto args = words(entry.append);
  const std::string ks = option(args, "ks"), ds = option(args, "ds");
  const bool auto_flag = std::find(args.begin(), args.end(), "autoinstall") != args.end();
  if (ks.empty() && ds.empty())
    return f.fail(where + ": no automated installer answers (no ks= or autoinstall ds=)" +
                  (auto_flag ? ": 'autoinstall' needs ds=nocloud-net;s=URL/" : ""));
  if (ks.empty() && !auto_flag)
    return f.fail(where + ": ds= without 'autoinstall' on the kernel command line: " +
                  "the installer asks before it wipes the disk");
  f.out.plan = ks.empty() ? autoinstall(f, where, ds) : kickstart(f, where, ks);
  if (!f.out.plan) return f.out;
  if (f.out.plan->hostname.empty()) f.out.plan->hostname = option(args, "hostname");
  f.out.ok = true;
  return f.out;
}

}  // namespace drctl::sim
