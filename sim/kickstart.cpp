#include "sim/kickstart.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "base/text.hpp"

namespace drctl::sim {

AnswerError::AnswerError(int line_, const std::string& message_, std::string file_)
    : std::runtime_error(std::to_string(line_) + ": " + message_), line(line_), message(message_), file(std::move(file_)) {}

namespace {

using text::trim;

// ---- kickstart --------------------------------------------------------------------------------

// The commands kickseed has a handler for (kickseed.sh: `type "${keyword}_handler"`, else
// "Unrecognised kickstart command: $keyword" and the line is skipped): Red Hat Linux 9's set as
// kickseed implemented it, with 0.53's halt, poweroff and repo and Ubuntu's iscsi and raid
// (debian/changelog up to 0.58ubuntu1). Anaconda's later commands (sshkey, autopart, shutdown,
// services, selinux, firstboot, eula …) are not among them. The ones that shape the plan are
// handled in parse_kickstart.
const std::set<std::string> kKickseedCommands = {
    "auth",    "authconfig", "bootloader", "cdrom",  "clearpart", "device",  "driverdisk", "firewall", "halt",
    "harddrive", "install",  "interactive", "iscsi", "keyboard",  "lang",    "langsupport", "logvol",  "mouse",
    "network", "nfs",        "part",       "partition", "poweroff", "preseed", "raid",     "reboot",   "repo",
    "rootpw",  "skipx",      "text",       "timezone", "upgrade",  "url",     "user",      "volgroup", "xconfig",
    "zerombr"};
// The sections kickseed reads (kickseed.sh); anything else starting with % is read as a command.
const std::set<std::string> kSections = {"%packages", "%pre", "%post"};

// Splits a line into words as pykickstart does (shlex with comments): quotes group, a backslash
// escapes, a word starting with '#' starts a comment.
std::vector<std::string> split_words(const std::string& line, int lineno) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\'))
        word += line[++i];
      else word += c;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(word);
      word.clear();
      in_word = false;
      continue;
    }
    if (c == '#' && !in_word) break;
    in_word = true;
    if (c == '"' || c == '\'') quote = c;
    else if (c == '\\' && i + 1 < line.size()) word += line[++i];
    else word += c;
  }
  if (quote) throw AnswerError(lineno, std::string("unterminated ") + quote + " quote");
  if (in_word) words.push_back(word);
  return words;
}

// A command's words after its name: "--opt VALUE" / "--opt=VALUE" for the options in `valued`,
// other "--opt" as flags (value ""), the rest positional.
struct Args {
  std::map<std::string, std::string> options;
  std::vector<std::string> positional;
  bool has(const std::string& o) const { return options.contains(o); }
  std::string get(const std::string& o) const { return has(o) ? options.at(o) : ""; }
};

Args split_args(const std::vector<std::string>& words, const std::set<std::string>& valued) {
  Args a;
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (!w.starts_with("--")) {
      a.positional.push_back(w);
      continue;
    }
    auto eq = w.find('=');
    std::string name = w.substr(0, eq);
    if (eq != std::string::npos) a.options[name] = w.substr(eq + 1);
    else if (valued.contains(name) && i + 1 < words.size()) a.options[name] = words[++i];
    else a.options[name] = "";
  }
  return a;
}

// Keys written to a user's authorized_keys: by sshkey during the install, then by %post in order.
struct KeyWrite {
  std::string user;
  std::vector<std::string> keys;
  bool append;
  int line;
};

// "/home/U/.ssh/authorized_keys" -> "U", "/root/.ssh/authorized_keys" -> "root", else "".
std::string key_file_owner(const std::string& path) {
  static const std::regex re(R"(^(?:/home/([^/]+)|/(root))/\.ssh/authorized_keys$)");
  std::smatch m;
  if (!std::regex_match(path, m, re)) return "";
  return m[1].matched ? m[1].str() : m[2].str();
}

void add_key_line(std::vector<std::string>& keys, const std::string& text) {
  std::string k = trim(text);
  if (!k.empty() && !k.starts_with("#")) keys.push_back(k);
}

// Reads one %post section (its lines with their numbers) for writes to authorized_keys:
// `cat <<EOF > FILE` … `EOF` (also `<<-`, quoted delimiters, `>>`, redirect first) and `echo KEY > FILE`.
void scan_post(const std::vector<std::pair<int, std::string>>& body, bool nochroot, std::vector<KeyWrite>& writes) {
  for (std::size_t i = 0; i < body.size(); ++i) {
    const auto& [lineno, text] = body[i];
    if (text.find("authorized_keys") == std::string::npos) continue;
    auto words = split_words(text, lineno);
    if (words.empty() || (words[0] != "cat" && words[0] != "echo")) continue;
    std::string target, delimiter;
    bool append = false, strip_tabs = false;
    std::vector<std::string> echoed;
    for (std::size_t w = 1; w < words.size(); ++w) {
      const std::string& word = words[w];
      if (word.starts_with("<<")) {
        delimiter = word.substr(2);
        if (delimiter.starts_with("-")) {
          strip_tabs = true;
          delimiter = delimiter.substr(1);
        }
        if (delimiter.empty() && w + 1 < words.size()) delimiter = words[++w];
      } else if (word.starts_with(">")) {
        append = word.starts_with(">>");
        target = word.substr(append ? 2 : 1);
        if (target.empty() && w + 1 < words.size()) target = words[++w];
      } else {
        echoed.push_back(word);
      }
    }
    // Without a chroot (--nochroot) the installed system is under /target; a path outside it is
    // the installer's own ramdisk, gone at the reboot (kickseed's ks_run_script chroots otherwise).
    if (nochroot) {
      if (!target.starts_with("/target/")) continue;
      target = target.substr(7);
    }
    std::string user = key_file_owner(target);
    if (user.empty()) continue;
    KeyWrite kw{user, {}, append, lineno};
    if (words[0] == "echo") {
      std::string joined;
      for (const auto& e : echoed) joined += (joined.empty() ? "" : " ") + e;
      add_key_line(kw.keys, joined);
    } else {
      if (delimiter.empty()) continue;  // `cat FILE > …` copies a file we do not model
      std::size_t j = i + 1;
      for (; j < body.size(); ++j) {
        std::string line = body[j].second;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (strip_tabs) line.erase(0, line.find_first_not_of('\t'));
        if (line == delimiter) break;
        add_key_line(kw.keys, line);
      }
      if (j == body.size())
        throw AnswerError(lineno, "here-document for " + target + " is not closed by '" + delimiter + "'");
      i = j;
    }
    writes.push_back(std::move(kw));
  }
}

std::string package_name(const std::vector<std::string>& words) {
  std::string joined;
  for (const auto& w : words) joined += w;
  if (joined.starts_with("@")) joined = joined.substr(1);
  return joined;
}

}  // namespace

InstallPlan parse_kickstart(const std::string& text) {
  InstallPlan plan;
  plan.installer = "kickstart";
  std::vector<KeyWrite> post_writes;
  bool clearpart = false, root_part = false;
  std::string section;  // "" outside sections
  std::vector<std::pair<int, std::string>> body;  // the current script section
  bool nochroot = false;  // the %post runs in the installer's system, the installed one under /target
  bool excluded = false;

  auto close_section = [&] {
    if (section == "%post") scan_post(body, nochroot, post_writes);
    body.clear();
    section.clear();
  };

  std::istringstream in(text);
  std::string raw;
  for (int lineno = 1; std::getline(in, raw); ++lineno) {
    std::string line = trim(raw);
    if (line.starts_with("%")) {
      std::string name = line.substr(0, line.find_first_of(" \t"));
      if (name == "%end") {
        if (section.empty()) throw AnswerError(lineno, "%end without a section to close");
        close_section();
        continue;
      }
      if (name == "%final") throw AnswerError(lineno, "%final reserved for internal use");  // kickseed's die
      if (name == "%include") throw AnswerError(lineno, "%include is not modelled");
      if (kSections.contains(name)) {
        close_section();
        section = name;
        nochroot = false;
        if (name == "%post") {
          const Args a = split_args(split_words(line, lineno), {"--interpreter"});
          nochroot = a.has("--nochroot");
        }
        continue;
      }
      // Not a section kickseed knows: inside a section it is one more line of it; outside, a command
      // kickseed does not know (logged and skipped), and the lines after it are read as commands.
    }
    if (!section.empty()) {
      if (section != "%packages") {
        body.emplace_back(lineno, raw);
        continue;
      }
      auto words = split_words(line, lineno);
      if (words.empty()) continue;
      std::string pkg = package_name(words);
      if (pkg.starts_with("-"))
        excluded = true;  // kickseed: "exclusions in %packages not supported; remove them manually in %post instead"
      else
        plan.packages.push_back(pkg);
      continue;
    }

    auto words = split_words(line, lineno);
    if (words.empty()) continue;
    const std::string keyword = line.substr(0, line.find_first_of(" \t"));  // kickseed's ${line%%[ \t]*}
    const std::string cmd = words[0];
    if (!kKickseedCommands.contains(cmd)) {
      plan.warnings.push_back(std::to_string(lineno) + ": Unrecognised kickstart command: " + keyword);
      continue;
    }

    if (cmd == "timezone") {
      Args a = split_args(words, {"--ntpservers"});
      if (a.positional.empty()) throw AnswerError(lineno, "timezone: no time zone given");
      plan.timezone = a.positional[0];
    } else if (cmd == "rootpw") {
      Args a = split_args(words, {});
      plan.root_locked = a.has("--lock") || a.has("--disabled") || a.positional.empty();
    } else if (cmd == "user") {
      Args a = split_args(words, {"--name", "--fullname", "--password", "--groups", "--homedir", "--shell", "--uid",
                                  "--gid", "--gecos"});
      InstallUser u;
      u.name = a.has("--name") ? a.get("--name") : (a.positional.empty() ? "" : a.positional[0]);
      if (u.name.empty()) throw AnswerError(lineno, "user: no user name (give --name=NAME)");
      for (const auto& other : plan.users)
        if (other.name == u.name) throw AnswerError(lineno, "user '" + u.name + "' is created twice");
      if (!a.has("--lock") && !a.has("--disabled")) {
        u.password_hash = a.get("--password");
        u.plaintext_password = !u.password_hash.empty() && !a.has("--iscrypted");
      }
      plan.users.push_back(std::move(u));
    } else if (cmd == "network") {
      Args a = split_args(words, {"--hostname"});
      if (a.has("--hostname")) plan.hostname = a.get("--hostname");
    } else if (cmd == "reboot") {
      plan.reboot = true;
    } else if (cmd == "poweroff" || cmd == "halt") {
      plan.reboot = false;
    } else if (cmd == "clearpart") {
      clearpart = true;
    } else if (cmd == "part" || cmd == "partition" || cmd == "logvol") {
      root_part = root_part || (words.size() > 1 && words[1] == "/");
    }
  }
  close_section();
  if (excluded) plan.warnings.push_back("exclusions in %packages not supported; remove them manually in %post instead");

  plan.partitioned = clearpart && root_part;
  plan.ssh_server = std::find(plan.packages.begin(), plan.packages.end(), "openssh-server") != plan.packages.end();

  for (const auto& w : post_writes) {
    auto u = std::find_if(plan.users.begin(), plan.users.end(), [&](const InstallUser& x) { return x.name == w.user; });
    if (u == plan.users.end()) {
      if (w.user != "root")
        throw AnswerError(w.line, "authorized key for user '" + w.user + "', but the kickstart creates no such user");
      plan.users.push_back(InstallUser{"root", "", false, {}});
      u = std::prev(plan.users.end());
    }
    if (!w.append) u->authorized_keys.clear();
    u->authorized_keys.insert(u->authorized_keys.end(), w.keys.begin(), w.keys.end());
  }
  return plan;
}

// ---- autoinstall ------------------------------------------------------------------------------

namespace {

const char* kUserData = "user-data";

int line_of(const YAML::Node& node) { return node.Mark().line + 1; }

YAML::Node load_yaml(const std::string& text, const char* file) {
  try {
    return YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw AnswerError(e.mark.line + 1, e.msg, file);
  }
}

std::string kind_name(const YAML::Node& node) {
  if (node.IsMap()) return "a map";
  if (node.IsSequence()) return "a list";
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  return "empty";
}

// The child `key` of map `parent` (at `path`), which must be present.
YAML::Node required(const YAML::Node& parent, const std::string& key, const std::string& path) {
  YAML::Node child = parent[key];
  if (!child) throw AnswerError(line_of(parent), path + "." + key + ": missing", kUserData);
  return child;
}

void require_map(const YAML::Node& node, const std::string& path) {
  if (!node.IsMap()) throw AnswerError(line_of(node), path + ": expected a map, not " + kind_name(node), kUserData);
}

std::string text(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) throw AnswerError(line_of(node), path + ": expected a value, not " + kind_name(node), kUserData);
  return node.Scalar();
}

bool boolean(const YAML::Node& node, const std::string& path) {
  bool b = false;
  if (!node.IsScalar() || !YAML::convert<bool>::decode(node, b))
    throw AnswerError(line_of(node), path + ": expected true or false, not " + kind_name(node), kUserData);
  return b;
}

std::vector<std::string> texts(const YAML::Node& node, const std::string& path) {
  if (!node.IsSequence()) throw AnswerError(line_of(node), path + ": expected a list, not " + kind_name(node), kUserData);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < node.size(); ++i) out.push_back(text(node[i], path + "[" + std::to_string(i) + "]"));
  return out;
}

bool lists(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

void check_meta_data(const std::string& meta_data) {
  YAML::Node meta = load_yaml(meta_data, "meta-data");
  if (meta && !meta.IsNull() && !meta.IsMap())
    throw AnswerError(line_of(meta), "expected a map (instance-id, local-hostname), not " + kind_name(meta), "meta-data");
}

}  // namespace

InstallPlan parse_autoinstall(const std::string& user_data, const std::string& meta_data) {
  check_meta_data(meta_data);
  if (!user_data.starts_with("#cloud-config"))
    throw AnswerError(1, "does not start with '#cloud-config', so cloud-init does not read it as config", kUserData);
  const YAML::Node root = load_yaml(user_data, kUserData);
  if (!root.IsMap() || !root["autoinstall"]) throw AnswerError(1, "no top-level 'autoinstall:'", kUserData);
  const YAML::Node ai = root["autoinstall"];
  require_map(ai, "autoinstall");
  const YAML::Node version = required(ai, "version", "autoinstall");
  if (text(version, "autoinstall.version") != "1")
    throw AnswerError(line_of(version), "autoinstall.version: must be 1, not " + version.Scalar(), kUserData);

  InstallPlan plan;
  plan.installer = "autoinstall";
  if (const YAML::Node id = ai["identity"]) {
    require_map(id, "autoinstall.identity");
    plan.hostname = text(required(id, "hostname", "autoinstall.identity"), "autoinstall.identity.hostname");
    InstallUser u;
    u.name = text(required(id, "username", "autoinstall.identity"), "autoinstall.identity.username");
    u.password_hash = text(required(id, "password", "autoinstall.identity"), "autoinstall.identity.password");
    plan.users.push_back(std::move(u));
  }
  std::vector<std::string> keys;
  if (const YAML::Node ssh = ai["ssh"]) {
    require_map(ssh, "autoinstall.ssh");
    if (ssh["install-server"]) plan.ssh_server = boolean(ssh["install-server"], "autoinstall.ssh.install-server");
    if (ssh["authorized-keys"]) keys = texts(ssh["authorized-keys"], "autoinstall.ssh.authorized-keys");
    // subiquity's default: passwords only when no key is given.
    plan.ssh_allow_pw = ssh["allow-pw"] ? boolean(ssh["allow-pw"], "autoinstall.ssh.allow-pw") : keys.empty();
    if (!keys.empty()) {
      if (plan.users.empty())
        throw AnswerError(line_of(ssh["authorized-keys"]),
                          "autoinstall.ssh.authorized-keys: there is no identity user to give them to", kUserData);
      plan.users[0].authorized_keys = keys;
    }
  }
  if (ai["packages"]) plan.packages = texts(ai["packages"], "autoinstall.packages");
  plan.ssh_server = plan.ssh_server || lists(plan.packages, "openssh-server");

  // Without `storage:` subiquity uses the lvm layout on a single-disk machine.
  plan.partitioned = true;
  if (const YAML::Node storage = ai["storage"]) {
    require_map(storage, "autoinstall.storage");
    if (const YAML::Node layout = storage["layout"]) {
      require_map(layout, "autoinstall.storage.layout");
      std::string name = text(required(layout, "name", "autoinstall.storage.layout"), "autoinstall.storage.layout.name");
      if (name != "lvm" && name != "direct" && name != "zfs")
        throw AnswerError(line_of(layout["name"]),
                          "autoinstall.storage.layout.name: must be lvm, direct or zfs, not " + name, kUserData);
    } else if (!storage["config"]) {
      throw AnswerError(line_of(storage), "autoinstall.storage: needs 'layout' or 'config'", kUserData);
    }
  }
  if (ai["interactive-sections"]) {
    auto sections = texts(ai["interactive-sections"], "autoinstall.interactive-sections");
    if (lists(sections, "*") || lists(sections, "storage")) plan.partitioned = false;  // waits for an answer
  }

  plan.reboot = true;
  if (ai["shutdown"]) {
    std::string s = text(ai["shutdown"], "autoinstall.shutdown");
    if (s != "reboot" && s != "poweroff")
      throw AnswerError(line_of(ai["shutdown"]), "autoinstall.shutdown: must be reboot or poweroff, not " + s, kUserData);
    plan.reboot = s == "reboot";
  }
  if (ai["timezone"]) plan.timezone = text(ai["timezone"], "autoinstall.timezone");
  return plan;
}

}  // namespace drctl::sim
