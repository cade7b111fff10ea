#include "world/real/ssh_config.hpp"
#include "base/text.hpp"

#include <glob.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace drctl::world::real {

namespace {

namespace fs = std::filesystem;

constexpr int kMaxIncludeDepth = 16;

using text::lower;

using text::trim;

SshConfigError error_at(const std::string& where, const std::string& message) {
  return SshConfigError(where + ": " + message);
}

// The arguments of a config line as ssh(1) splits them: whitespace separated, "…" or '…' quoted,
// backslash escaping a quote, backslash or blank; an unquoted # starting an argument ends the line.
std::vector<std::string> split_args(const std::string& text, const std::string& where) {
  std::vector<std::string> args;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (i >= text.size() || text[i] == '#') break;
    std::string arg;
    char quote = 0;
    for (; i < text.size(); ++i) {
      const char c = text[i];
      if (quote) {
        if (c == quote) quote = 0;
        else if (c == '\\' && i + 1 < text.size() && (text[i + 1] == quote || text[i + 1] == '\\')) arg += text[++i];
        else arg += c;
      } else if (c == '"' || c == '\'') {
        quote = c;
      } else if (c == ' ' || c == '\t') {
        break;
      } else if (c == '\\' && i + 1 < text.size() && std::strchr("\\\"' \t", text[i + 1])) {
        arg += text[++i];
      } else {
        arg += c;
      }
    }
    if (quote) throw error_at(where, "unterminated quote");
    args.push_back(arg);
  }
  return args;
}

bool match_here(const char* t, const char* p) {
  for (; *p; ++p, ++t) {
    if (*p == '*') {
      while (p[1] == '*') ++p;
      if (!p[1]) return true;
      for (; *t; ++t)
        if (match_here(t, p + 1)) return true;
      return false;
    }
    if (!*t) return false;
    if (*p != '?' && std::tolower(static_cast<unsigned char>(*p)) != std::tolower(static_cast<unsigned char>(*t)))
      return false;
  }
  return *t == '\0';
}

// Host patterns: applies when one positive pattern matches and no negated one does.
bool host_matches(const std::vector<std::string>& patterns, const std::string& alias) {
  bool positive = false;
  for (const auto& p : patterns) {
    if (!p.empty() && p[0] == '!') {
      if (ssh_pattern_match(alias, p.substr(1))) return false;
    } else if (ssh_pattern_match(alias, p)) {
      positive = true;
    }
  }
  return positive;
}

bool parse_int(const std::string& s, long lo, long hi, long& out) {
  if (s.empty() || s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) return false;
  out = std::stol(s);
  return out >= lo && out <= hi;
}

// Checks the values of the keywords drctl reads, as ssh(1) does when it reads the file.
void validate(const std::string& keyword, const std::vector<std::string>& args, const std::string& where,
              const std::string& original) {
  static const std::vector<std::string> single = {"hostname", "port", "user", "stricthostkeychecking", "identitiesonly",
                                                  "identityagent", "connecttimeout", "serveraliveinterval",
                                                  "identityfile", "proxyjump"};
  const bool known = std::find(single.begin(), single.end(), keyword) != single.end() ||
                     keyword == "userknownhostsfile" || keyword == "proxycommand";
  if (known && args.empty()) throw error_at(where, original + " needs a value");
  long n = 0;
  if (keyword == "port" && !parse_int(args[0], 1, 65535, n))
    throw error_at(where, "Port '" + args[0] + "' is not a port number (1-65535)");
  if ((keyword == "connecttimeout" || keyword == "serveraliveinterval") && !parse_int(args[0], 0, 86400, n))
    throw error_at(where, original + " '" + args[0] + "' is not a number of seconds");
  if (keyword == "stricthostkeychecking") {
    static const std::vector<std::string> ok = {"yes", "no", "ask", "off", "accept-new", "true", "false"};
    if (std::find(ok.begin(), ok.end(), lower(args[0])) == ok.end())
      throw error_at(where, "StrictHostKeyChecking '" + args[0] + "' is not yes, ask, accept-new, no or off");
  }
  if (keyword == "identitiesonly" && lower(args[0]) != "yes" && lower(args[0]) != "no")
    throw error_at(where, "IdentitiesOnly '" + args[0] + "' is not yes or no");
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw SshConfigError("cannot read the SSH config file " + path + ": " + std::strerror(errno));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string home_of(const std::string& user) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) return "";
  return found->pw_dir;
}

// "~" and "~/x" → home; "~user/x" → that user's home.
std::string expand_tilde(const std::string& path, const SshLocalEnv& env, const std::string& where) {
  if (path.empty() || path[0] != '~') return path;
  const auto slash = path.find('/');
  const std::string who = path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  std::string home = who.empty() ? env.home : home_of(who);
  if (home.empty()) throw error_at(where, "no such user '" + who + "' in " + path);
  return slash == std::string::npos ? home : home + path.substr(slash);
}

std::string expand_tokens(const std::string& text, const std::string& allowed,
                          const std::function<std::string(char)>& value, const std::string& where) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 1 >= text.size()) throw error_at(where, "'" + text + "' ends with a lone %");
    const char t = text[++i];
    if (t == '%') out += '%';
    else if (allowed.find(t) != std::string::npos) out += value(t);
    else throw error_at(where, "'" + text + "': drctl does not know the token %" + std::string(1, t));
  }
  return out;
}

}  // namespace

SshLocalEnv SshLocalEnv::current() {
  SshLocalEnv env;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwuid_r(::getuid(), &pw, buf.data(), buf.size(), &found) == 0 && found) {
    env.home = found->pw_dir;
    env.user = found->pw_name;
  }
  if (env.home.empty())
    if (const char* h = std::getenv("HOME")) env.home = h;
  if (env.user.empty())
    if (const char* u = std::getenv("USER")) env.user = u;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  env.hostname = host;
  if (const char* sock = std::getenv("SSH_AUTH_SOCK")) env.agent_socket = sock;
  return env;
}

std::string SshEndpoint::describe() const { return user + "@" + hostname + ":" + std::to_string(port); }

std::string SshEndpoint::host_and_port() const {
  return port == 22 ? hostname : hostname + " port " + std::to_string(port);
}

bool ssh_pattern_match(const std::string& text, const std::string& pattern) {
  return match_here(text.c_str(), pattern.c_str());
}

SshConfig SshConfig::load(const std::string& path, const SshLocalEnv& env) {
  SshConfig config;
  config.read(read_text(path), path, env, 0, {});
  return config;
}

SshConfig SshConfig::parse(const std::string& text, const std::string& file, const SshLocalEnv& env) {
  SshConfig config;
  config.read(text, file, env, 0, {});
  return config;
}

void SshConfig::read(const std::string& text, const std::string& file, const SshLocalEnv& env, int depth,
                     const Block& context) {
  // A file starts in the block that included it (the top file: every host). Its Host and Match
  // lines open blocks that also need that block's patterns, as in ssh(1), where an Include inside
  // a Host block is read only for the hosts the block matches.
  blocks_.push_back({context.patterns, context.never, {}});
  std::istringstream in(text);
  std::string raw;
  int number = 0;
  while (std::getline(in, raw)) {
    ++number;
    const std::string where = file + ":" + std::to_string(number);
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    const auto end = line.find_first_of(" \t=");
    const std::string original = line.substr(0, end);
    const std::string keyword = lower(original);
    std::string rest = end == std::string::npos ? "" : line.substr(end);
    rest = trim(rest);
    if (!rest.empty() && rest[0] == '=') rest = trim(rest.substr(1));
    std::vector<std::string> args = split_args(rest, where);

    if (keyword == "host") {
      if (args.empty()) throw error_at(where, "Host needs at least one pattern");
      Block b{context.patterns, context.never, {}};
      b.patterns.push_back(args);
      blocks_.push_back(std::move(b));
    } else if (keyword == "match") {
      if (args.empty()) throw error_at(where, "Match needs a criterion");
      const bool all = args.size() == 1 && lower(args[0]) == "all";
      blocks_.push_back({context.patterns, context.never || !all, {}});
    } else if (keyword == "include") {
      if (args.empty()) throw error_at(where, "Include needs a file");
      if (depth >= kMaxIncludeDepth) throw error_at(where, "Include nested more than 16 deep");
      const Block current{blocks_.back().patterns, blocks_.back().never, {}};
      for (const auto& arg : args) {
        std::string pattern = expand_tilde(arg, env, where);
        if (pattern.empty() || pattern[0] != '/') pattern = env.home + "/.ssh/" + pattern;
        glob_t g{};
        if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
          std::vector<std::string> paths(g.gl_pathv, g.gl_pathv + g.gl_pathc);
          ::globfree(&g);
          for (const auto& p : paths) read(read_text(p), p, env, depth + 1, current);
        } else {
          ::globfree(&g);
        }
      }
      blocks_.push_back(current);  // back in this file, in the block the Include was in
    } else {
      validate(keyword, args, where, original);
      blocks_.back().lines.push_back({keyword, std::move(args), where});
    }
  }
}

SshConfigValues SshConfig::lookup(const std::string& alias) const {
  SshConfigValues v;
  auto first = [](std::optional<SshConfigValues::Value>& slot, const Line& l) {
    if (!slot) slot = SshConfigValues::Value{l.args[0], l.where};
  };
  for (const auto& block : blocks_) {
    if (block.never) continue;
    if (!std::all_of(block.patterns.begin(), block.patterns.end(),
                     [&](const std::vector<std::string>& p) { return host_matches(p, alias); }))
      continue;
    for (const auto& l : block.lines) {
      if (l.keyword == "hostname") first(v.hostname, l);
      else if (l.keyword == "port") first(v.port, l);
      else if (l.keyword == "user") first(v.user, l);
      else if (l.keyword == "userknownhostsfile") first(v.known_hosts, l);
      else if (l.keyword == "stricthostkeychecking") first(v.strict_host_key_checking, l);
      else if (l.keyword == "identitiesonly") first(v.identities_only, l);
      else if (l.keyword == "identityagent") first(v.identity_agent, l);
      else if (l.keyword == "connecttimeout") first(v.connect_timeout, l);
      else if (l.keyword == "serveraliveinterval") first(v.server_alive_interval, l);
      else if (l.keyword == "proxyjump" || l.keyword == "proxycommand") {
        if (!v.proxy) v.proxy = SshConfigValues::Value{(l.keyword == "proxyjump" ? "ProxyJump " : "ProxyCommand ") + l.args[0], l.where};
      } else if (l.keyword == "identityfile") {
        v.identity_files.push_back({l.args[0], l.where});
      }
    }
  }
  return v;
}

std::string ssh_expand_path(const std::string& path, const SshEndpoint& ep, const SshLocalEnv& env,
                            const std::string& where) {
  const std::string expanded = expand_tokens(path, "dhprunli", [&](char t) -> std::string {
    switch (t) {
      case 'd': return env.home;
      case 'h': return ep.hostname;
      case 'p': return std::to_string(ep.port);
      case 'r': return ep.user;
      case 'u': return env.user;
      case 'n': return ep.alias;
      case 'l': return env.hostname;
      case 'i': return std::to_string(::getuid());
    }
    return "";
  }, where);
  return expand_tilde(expanded, env, where);
}

SshEndpoint resolve_ssh_endpoint(const SshHostSpec& spec, const SshLocalEnv& env) {
  SshEndpoint ep;
  ep.name = spec.name;
  ep.alias = spec.address.empty() ? spec.name : spec.address;
  if (ep.alias.empty()) throw SshConfigError("an SSH host needs a name or an address");

  SshConfigValues v;
  if (!spec.ssh_config.empty()) {
    ep.config_file = spec.ssh_config;
    ep.explicit_config = true;
  } else if (std::error_code ec; fs::exists(env.home + "/.ssh/config", ec)) {
    ep.config_file = env.home + "/.ssh/config";
  }
  if (!ep.config_file.empty()) v = SshConfig::load(ep.config_file, env).lookup(ep.alias);

  if (v.strict_host_key_checking) {
    const std::string s = lower(v.strict_host_key_checking->text);
    if (s == "no" || s == "off" || s == "false" || s == "accept-new")
      throw error_at(v.strict_host_key_checking->where,
                     "StrictHostKeyChecking " + v.strict_host_key_checking->text + " applies to " + ep.alias +
                         ", but drctl never connects to a host whose key it cannot verify (and never trusts a key on "
                         "first use); remove that line for this host, or point drctl at another file with --ssh-config");
  }
  if (v.proxy)
    throw error_at(v.proxy->where, v.proxy->text + " applies to " + ep.alias +
                                       ", but drctl connects directly and cannot use it; give the host an address "
                                       "drctl can reach, or a config without it (--ssh-config)");

  ep.hostname = ep.alias;
  if (v.hostname)
    ep.hostname = expand_tokens(v.hostname->text, "h", [&](char) { return ep.alias; }, v.hostname->where);

  ep.explicit_port = spec.port > 0;
  long n = 22;
  if (spec.port > 0) n = spec.port;
  else if (v.port) parse_int(v.port->text, 1, 65535, n);
  ep.port = static_cast<int>(n);

  ep.user = !spec.user.empty() ? spec.user : v.user ? v.user->text : env.user;
  ep.sudo = spec.sudo;
  if (ep.user.empty()) throw SshConfigError("cannot tell which user to log in to " + ep.alias + " as: give the host a user");

  if (!spec.identity_file.empty()) {
    ep.identity_files.push_back(ssh_expand_path(spec.identity_file, ep, env, "identity_file of host " + spec.name));
  } else if (!v.identity_files.empty()) {
    for (const auto& f : v.identity_files) ep.identity_files.push_back(ssh_expand_path(f.text, ep, env, f.where));
  } else {
    for (const char* f : {"id_ed25519", "id_ecdsa", "id_rsa"}) {
      const std::string path = env.home + "/.ssh/" + f;
      if (std::error_code ec; fs::exists(path, ec)) ep.identity_files.push_back(path);
    }
  }

  ep.explicit_known_hosts = !spec.known_hosts.empty();
  if (ep.explicit_known_hosts) {
    ep.known_hosts = ssh_expand_path(spec.known_hosts, ep, env, "known_hosts of host " + spec.name);
  } else if (v.known_hosts) {
    if (lower(v.known_hosts->text) == "none")
      throw error_at(v.known_hosts->where, "UserKnownHostsFile none: drctl needs a known_hosts file to check " +
                                               ep.alias + "'s host key");
    ep.known_hosts = ssh_expand_path(v.known_hosts->text, ep, env, v.known_hosts->where);
  } else {
    ep.known_hosts = env.home + "/.ssh/known_hosts";
  }

  const bool identities_only = v.identities_only && lower(v.identities_only->text) == "yes";
  ep.agent_socket = env.agent_socket;
  if (v.identity_agent) {
    const std::string a = v.identity_agent->text;
    if (lower(a) == "none") ep.agent_socket.clear();
    else if (a != "SSH_AUTH_SOCK") ep.agent_socket = ssh_expand_path(a, ep, env, v.identity_agent->where);
  }
  if (identities_only) ep.agent_socket.clear();

  if (v.connect_timeout && parse_int(v.connect_timeout->text, 1, 86400, n)) ep.connect_timeout = std::chrono::seconds(n);
  if (v.server_alive_interval && parse_int(v.server_alive_interval->text, 1, 86400, n))
    ep.keepalive_interval = std::chrono::seconds(n);
  return ep;
}


}  // namespace drctl::world::real
