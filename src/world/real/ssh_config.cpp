#include "world/real/ssh_config.hpp"
#include "world/real/ssh_ciphers.hpp"
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

// A Host line's patterns: it applies when one positive pattern matches the host and no negated
// one does, compared case by case as ssh(1) compares them.
bool host_matches(const std::vector<std::string>& patterns, const std::string& host) {
  bool positive = false;
  for (const auto& p : patterns) {
    const bool negated = !p.empty() && p[0] == '!';
    if (!ssh_pattern_match_case(host, negated ? p.substr(1) : p)) continue;
    if (negated) return false;
    positive = true;
  }
  return positive;
}

// A host name as ssh(1) uses it once it is known: in lower case, unless it is an IPv6 address.
std::string host_name_case(const std::string& host) {
  return host.find(':') == std::string::npos ? lower(host) : host;
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
                                                  "identityfile", "proxyjump", "ciphers"};
  const bool known = std::find(single.begin(), single.end(), keyword) != single.end() ||
                     keyword == "userknownhostsfile" || keyword == "globalknownhostsfile" || keyword == "proxycommand";
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
  if (keyword == "ciphers") {
    // Checked wherever it stands, as ssh(1) checks it, whether its block applies or not.
    if (args.size() > 1) throw error_at(where, original + " takes one comma-separated list: extra arguments at end of line");
    resolve_ciphers(args[0], where);
  }
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

SshConfig SshConfig::load(const std::string& path, const SshLocalEnv& env) {
  return parse(read_text(path), path, env);
}

SshConfig SshConfig::parse(const std::string& text, const std::string& file, const SshLocalEnv& env) {
  SshConfig config;
  config.env_ = env;
  config.read(text, file, 0, -1);
  return config;
}

namespace {

// The criteria of a Match line, checked as ssh(1) checks them when it reads the line: `all`
// alone (or after one other), every other one but canonical and final with a pattern list.
template <class Criterion>
std::vector<Criterion> parse_match(const std::vector<std::string>& args, const std::string& where) {
  if (args.empty()) throw error_at(where, "Match needs a criterion");
  std::vector<Criterion> out;
  int attributes = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    Criterion c;
    c.negated = !args[i].empty() && args[i][0] == '!';
    const std::string original = c.negated ? args[i].substr(1) : args[i];
    c.attribute = lower(original);
    if (c.attribute == "all") {
      if (attributes > 1 || i + 1 < args.size())
        throw error_at(where, "Match all cannot be combined with other Match criteria");
      out.push_back(c);
      break;
    }
    ++attributes;
    if (c.attribute == "canonical" || c.attribute == "final") {
      out.push_back(c);
      continue;
    }
    static const std::vector<std::string> with_pattern = {"host", "originalhost", "user", "localuser", "exec"};
    if (std::find(with_pattern.begin(), with_pattern.end(), c.attribute) == with_pattern.end())
      throw error_at(where, "drctl does not know the Match criterion '" + original +
                                "' (it knows host, originalhost, user, localuser, all, canonical and final)");
    if (i + 1 >= args.size()) throw error_at(where, "Match " + original + " needs a pattern");
    c.argument = args[++i];
    out.push_back(c);
  }
  return out;
}

}  // namespace

void SshConfig::read(const std::string& text, const std::string& file, int depth, int parent) {
  // A file starts in the block in force where it was included (the top file: every host).
  Block start;
  start.kind = parent < 0 ? Kind::top : Kind::same;
  start.same_as = parent;
  blocks_.push_back(std::move(start));
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
      Block b;
      b.kind = Kind::host;
      b.patterns = std::move(args);
      b.where = where;
      b.parent = parent;
      blocks_.push_back(std::move(b));
    } else if (keyword == "match") {
      Block b;
      b.kind = Kind::match;
      b.criteria = parse_match<Criterion>(args, where);
      b.where = where;
      b.parent = parent;
      for (const auto& c : b.criteria)
        if (c.attribute == "final") final_pass_ = true;
      blocks_.push_back(std::move(b));
    } else if (keyword == "include") {
      if (args.empty()) throw error_at(where, "Include needs a file");
      if (depth >= kMaxIncludeDepth) throw error_at(where, "Include nested more than 16 deep");
      const int current = static_cast<int>(blocks_.size()) - 1;
      for (const auto& arg : args) {
        std::string pattern = expand_tilde(arg, env_, where);
        if (pattern.empty() || pattern[0] != '/') pattern = env_.home + "/.ssh/" + pattern;
        glob_t g{};
        if (::glob(pattern.c_str(), 0, nullptr, &g) == 0) {
          std::vector<std::string> paths(g.gl_pathv, g.gl_pathv + g.gl_pathc);
          ::globfree(&g);
          for (const auto& p : paths) read(read_text(p), p, depth + 1, current);
        } else {
          ::globfree(&g);
        }
      }
      Block back;  // back in this file, in the block the Include was in
      back.kind = Kind::same;
      back.same_as = current;
      blocks_.push_back(std::move(back));
    } else {
      validate(keyword, args, where, original);
      blocks_.back().lines.push_back({keyword, std::move(args), where});
    }
  }
}

/// One reading of the config for a host, as ssh(1) does it once or twice.
struct SshConfig::Pass {
  std::string alias;  // as typed: `Match originalhost`, %h in HostName, the first pass's host
  std::string host;   // what Host lines are matched against
  std::string user;   // given as with `ssh -l`; "" when not
  bool final = false;
  SshConfigValues values;
};

bool SshConfig::criteria_hold(const Block& block, const Pass& pass) const {
  const SshConfigValues& v = pass.values;
  // What ssh(1) knows at this line: the HostName so far, the user so far.
  const std::string host = v.hostname ? v.hostname->text : pass.alias;
  const std::string user = !pass.user.empty() ? pass.user : v.user ? v.user->text : env_.user;
  bool result = true;
  for (const auto& c : block.criteria) {
    bool holds = true;
    if (c.attribute == "canonical" || c.attribute == "final") {
      holds = pass.final;
    } else if (c.attribute == "exec") {
      if (!result) continue;  // ssh(1) runs it only when the criteria before it held
      throw error_at(block.where, "Match exec would run `" + c.argument + "` to decide whether the block applies to " +
                                      pass.alias + ", but drctl never runs a command from an SSH config; use Match "
                                      "host or user instead, or point drctl at another file with --ssh-config");
    } else if (c.attribute == "host") {
      holds = ssh_pattern_list_match(host, c.argument, true) == SshListMatch::positive;
    } else if (c.attribute == "originalhost") {
      holds = ssh_pattern_list_match(pass.alias, c.argument, true) == SshListMatch::positive;
    } else if (c.attribute == "user") {
      holds = ssh_pattern_list_match(user, c.argument, false) == SshListMatch::positive;
    } else if (c.attribute == "localuser") {
      holds = ssh_pattern_list_match(env_.user, c.argument, false) == SshListMatch::positive;
    }
    if (holds == c.negated) result = false;
  }
  return result;
}

void SshConfig::apply(Pass& pass) const {
  SshConfigValues& v = pass.values;
  auto first = [](std::optional<SshConfigValues::Value>& slot, const Line& l) {
    if (!slot) slot = SshConfigValues::Value{l.args[0], l.where, {l.args.begin() + 1, l.args.end()}};
  };
  std::vector<char> active(blocks_.size(), 0);
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    const Block& block = blocks_[i];
    const bool parent_applies = block.parent < 0 || active[static_cast<std::size_t>(block.parent)];
    switch (block.kind) {
      case Kind::top: active[i] = 1; break;
      case Kind::same: active[i] = active[static_cast<std::size_t>(block.same_as)]; break;
      case Kind::host: active[i] = parent_applies && host_matches(block.patterns, pass.host); break;
      case Kind::match: active[i] = criteria_hold(block, pass) && parent_applies; break;  // ssh(1) reads it either way
    }
    if (!active[i]) continue;
    for (const auto& l : block.lines) {
      if (l.keyword == "hostname") {
        if (!v.hostname)
          v.hostname = SshConfigValues::Value{
              host_name_case(expand_tokens(l.args[0], "h", [&](char) { return pass.alias; }, l.where)), l.where, {}};
      } else if (l.keyword == "port") first(v.port, l);
      else if (l.keyword == "user") first(v.user, l);
      else if (l.keyword == "userknownhostsfile") first(v.known_hosts, l);
      else if (l.keyword == "globalknownhostsfile") first(v.global_known_hosts, l);
      else if (l.keyword == "stricthostkeychecking") first(v.strict_host_key_checking, l);
      else if (l.keyword == "identitiesonly") first(v.identities_only, l);
      else if (l.keyword == "identityagent") first(v.identity_agent, l);
      else if (l.keyword == "connecttimeout") first(v.connect_timeout, l);
      else if (l.keyword == "serveraliveinterval") first(v.server_alive_interval, l);
      else if (l.keyword == "ciphers") first(v.ciphers, l);
      else if (l.keyword == "proxyjump" || l.keyword == "proxycommand") {
        if (!v.proxy) v.proxy = SshConfigValues::Value{(l.keyword == "proxyjump" ? "ProxyJump " : "ProxyCommand ") + l.args[0], l.where, {}};
      } else if (l.keyword == "identityfile") {
        // ssh(1) keeps the first of two equal lines (the second pass reads every line again).
        if (std::none_of(v.identity_files.begin(), v.identity_files.end(),
                         [&](const SshConfigValues::Value& f) { return f.text == l.args[0]; }))
          v.identity_files.push_back({l.args[0], l.where, {}});
      }
    }
  }
}

SshConfigValues SshConfig::lookup(const std::string& alias, const std::string& user) const {
  Pass pass;
  pass.alias = alias;
  pass.host = alias;
  pass.user = user;
  apply(pass);
  if (final_pass_) {
    // The second reading is for the host ssh(1) connects to: Host lines see the HostName,
    // `Match canonical` and `Match final` hold, and values already set stay.
    if (!pass.values.hostname) pass.values.hostname = SshConfigValues::Value{host_name_case(alias), "", {}};
    pass.host = pass.values.hostname->text;
    pass.final = true;
    apply(pass);
  }
  return pass.values;
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
  if (!ep.config_file.empty()) v = SshConfig::load(ep.config_file, env).lookup(ep.alias, spec.user);

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

  ep.hostname = v.hostname ? v.hostname->text : host_name_case(ep.alias);

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
    for (const auto& f : v.known_hosts->more) ep.more_known_hosts.push_back(ssh_expand_path(f, ep, env, v.known_hosts->where));
  } else {
    ep.known_hosts = env.home + "/.ssh/known_hosts";
    ep.more_known_hosts.push_back(env.home + "/.ssh/known_hosts2");
  }
  if (!ep.explicit_known_hosts) {  // ssh(1) also reads the system's files, as given (no ~ or %), "none": none
    if (!v.global_known_hosts) {
      ep.more_known_hosts.insert(ep.more_known_hosts.end(), {"/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"});
    } else if (lower(v.global_known_hosts->text) != "none") {
      ep.more_known_hosts.push_back(v.global_known_hosts->text);
      for (const auto& f : v.global_known_hosts->more) ep.more_known_hosts.push_back(f);
    }
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

  if (v.ciphers) {
    ep.ciphers = resolve_ciphers(v.ciphers->text, v.ciphers->where);
    ep.ciphers_where = v.ciphers->where;
    if (ep.ciphers.empty())
      throw error_at(v.ciphers->where, "Ciphers " + v.ciphers->text + " leaves no cipher to offer " + ep.alias);
  } else {
    ep.ciphers = drctl_default_ciphers(cpu_has_fast_aes_gcm());
  }
  return ep;
}


}  // namespace drctl::world::real
