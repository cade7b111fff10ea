#include "runbook/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string_view>
#include <unordered_map>

#include "runbook/template.hpp"
#include "store/prune.hpp"
#include "world/url.hpp"

namespace drctl::runbook {

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kRunbookKeys = {"name", "site", "vars", "steps"};
const std::vector<std::string> kStepKeys = {"id",      "uses",  "run",         "with", "needs",   "on",
                                            "for_each", "timeout", "retries", "retry_delay", "when", "estimate"};
// What a real provider reads (src/cli/site_hosts.cpp) and what the simulator reads (its capacity,
// switches and images): one site drives both.
const std::vector<std::string> kHypervisorKeys = {"kind",      "url",        "datacenter", "cluster", "host",
                                                  "datastore", "thumbprint", "ca_file",    "user",    "credentials",
                                                  "threads",   "memory",     "switches",   "images"};
const std::vector<std::string> kSiteKeys = {"name", "hypervisor", "networks", "versions", "hosts",
                                            "groups", "vars", "secrets", "retention", "rpo", "kubernetes_schedule",
                                            "offsite"};
const std::vector<std::string> kRetentionKeys = {"last",   "hourly", "daily", "weekly",       "monthly",
                                                 "yearly", "within", "tags",  "verify_cycle", "repack_small"};
const std::vector<std::string> kHostKeys = {"address", "connection", "user", "port", "role", "groups"};
// Top-level names of the template context; a var of the same name would be hidden.
const std::vector<std::string> kReservedVars = {"vars", "site", "host", "item", "steps", "runbook", "secrets"};

// One parsed YAML file.
struct Doc {
  std::string file;  // absolute
  std::string text;
  YAML::Node root;
  fs::path dir() const { return fs::path(file).parent_path(); }
  Pos at(const YAML::Node& node) const { return pos_of(file, node.Mark()); }
};

std::string absolute_path(const fs::path& p) { return fs::absolute(p).lexically_normal().string(); }

std::string kind_name(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "'" + node.Scalar() + "'";
    default: return "empty";
  }
}

// Every map in the document: keys must be scalars and appear once.
void check_keys_unique(const Doc& doc, const YAML::Node& node) {
  if (node.IsSequence()) {
    for (const auto& item : node) check_keys_unique(doc, item);
    return;
  }
  if (!node.IsMap()) return;
  std::unordered_map<std::string_view, int> seen;  // key -> its line; the keys live in the document
  for (auto it = node.begin(); it != node.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) throw LoadError(doc.at(key), "a map key must be a plain name, not " + kind_name(key));
    auto [where, fresh] = seen.emplace(key.Scalar(), key.Mark().line + 1);
    if (!fresh)
      throw LoadError(doc.at(key), "duplicate key '" + key.Scalar() + "' (first at line " + std::to_string(where->second) + ")");
    check_keys_unique(doc, it->second);
  }
}

// Reads and parses a file within the limits of world/yaml_json.hpp (size, aliases expanded),
// so that every walk over the document below is bounded by them.
Doc read_doc(const std::string& file, const Pos& named_at, const std::string& what) {
  Doc doc;
  doc.file = file;
  if (!std::ifstream(file, std::ios::binary)) {
    std::string which = named_at.file == file ? what : what + " '" + file + "'";
    throw LoadError(named_at, "cannot read " + which + ": " + std::strerror(errno));
  }
  try {
    doc.text = read_yaml_file(file);
    doc.root = parse_yaml(doc.text, file);
  } catch (const YamlError& e) {
    throw LoadError(Pos{file, e.line, e.col}, e.message);
  }
  check_keys_unique(doc, doc.root);
  return doc;
}

// Rejects keys not in `known`, suggesting the closest one.
void check_known_keys(const Doc& doc, const YAML::Node& map, const std::vector<std::string>& known,
                      const std::string& where) {
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(known.begin(), known.end(), key) != known.end()) continue;
    std::string hint = did_you_mean(key, known);
    if (hint.empty()) {
      hint = " (expected one of:";
      for (const auto& k : known) hint += " " + k;
      hint += ")";
    }
    throw LoadError(doc.at(it->first), "unknown key '" + key + "' in " + where + hint);
  }
}

void require_map(const Doc& doc, const YAML::Node& node, const std::string& what) {
  if (!node.IsMap()) throw LoadError(doc.at(node), what + " must be a map, not " + kind_name(node));
}

std::string scalar(const Doc& doc, const YAML::Node& node, const std::string& key) {
  if (node.IsNull()) throw LoadError(doc.at(node), "'" + key + "' needs a value");
  if (!node.IsScalar()) throw LoadError(doc.at(node), "'" + key + "' must be a single value, not " + kind_name(node));
  return node.Scalar();
}

// A name or a list of names, each with its position.
std::vector<std::pair<std::string, Pos>> names(const Doc& doc, const YAML::Node& node, const std::string& key) {
  std::vector<std::pair<std::string, Pos>> out;
  if (node.IsScalar()) {
    out.emplace_back(node.Scalar(), doc.at(node));
    return out;
  }
  if (!node.IsSequence()) throw LoadError(doc.at(node), "'" + key + "' must be a name or a list of names, not " + kind_name(node));
  for (const auto& item : node) {
    if (!item.IsScalar()) throw LoadError(doc.at(item), "'" + key + "' must list names, not " + kind_name(item));
    out.emplace_back(item.Scalar(), doc.at(item));
  }
  return out;
}

world::Duration duration(const Doc& doc, const YAML::Node& node, const std::string& key) {
  std::string text = node.IsScalar() ? node.Scalar() : "";
  auto d = parse_duration(text);
  if (!node.IsScalar() || !d)
    throw LoadError(doc.at(node), "bad duration '" + (node.IsScalar() ? text : key) + "' (" + std::string(kDurationExamples) + ")");
  return *d;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool valid_name(const std::string& s) {
  if (s.empty() || !std::isalnum(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool path_like_key(const std::string& key) {
  auto ends = [&](const std::string& suffix) {
    return key.size() > suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return key == "file" || key == "dir" || ends("_file") || ends("_dir");
}

bool dot_relative(const std::string& s) { return s.rfind("./", 0) == 0 || s.rfind("../", 0) == 0; }

// A local path written relative to `dir`, made absolute; other strings unchanged.
std::string anchor(const std::string& s, const fs::path& dir, bool path_key) {
  bool relative = dot_relative(s) ||
                  (path_key && !s.empty() && s[0] != '/' && s[0] != '~' && s.rfind("{{", 0) != 0 &&
                   s.find("://") == std::string::npos);
  return relative ? absolute_path(dir / s) : s;
}

// Applies the path rules (README: "Paths") to free-form data.
void anchor_paths(json& v, const fs::path& dir, bool path_key = false) {
  if (v.is_string()) {
    v = anchor(v.get<std::string>(), dir, path_key);
  } else if (v.is_array()) {
    for (auto& item : v) anchor_paths(item, dir, path_key);
  } else if (v.is_object()) {
    for (auto& [key, item] : v.items()) anchor_paths(item, dir, path_like_key(key));
  }
}

// `with` values: only "./" and "../" strings are local paths (an input may name a remote path).
void anchor_with(YAML::Node node, const fs::path& dir) {
  if (node.IsScalar()) {
    if (node.Tag() != "?" && node.Tag() != "!") return;
    if (dot_relative(node.Scalar())) node = absolute_path(dir / node.Scalar());
    return;
  }
  if (node.IsMap())
    for (auto it = node.begin(); it != node.end(); ++it) anchor_with(it->second, dir);
  else if (node.IsSequence())
    for (auto item : node) anchor_with(item, dir);
}

json load_vars(const Doc& doc, const YAML::Node& node) {
  if (node.IsNull()) return json::object();
  require_map(doc, node, "'vars'");
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    if (std::find(kReservedVars.begin(), kReservedVars.end(), key) != kReservedVars.end())
      throw LoadError(doc.at(it->first), "var '" + key + "' would be hidden by the template context's '" + key +
                                             "'; rename it");
  }
  json vars = yaml_to_json(node);
  anchor_paths(vars, doc.dir());
  return vars;
}

// --- site -------------------------------------------------------------------------------------

SiteHost load_host(const Doc& doc, const YAML::Node& key, const YAML::Node& node,
                   std::vector<std::pair<std::string, Pos>>& host_groups) {
  SiteHost h;
  h.name = key.Scalar();
  h.pos = doc.at(key);
  if (!valid_name(h.name))
    throw LoadError(h.pos, "bad host name '" + h.name + "' (use letters, digits, '_', '.' and '-', starting with a letter or digit)");
  bool has_address = false;
  if (!node.IsNull()) {
    require_map(doc, node, "host '" + h.name + "'");
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string k = it->first.Scalar();
      const YAML::Node v = it->second;
      if (k == "name") throw LoadError(doc.at(it->first), "a host's name is its key under 'hosts'; remove 'name'");
      if (std::find(kHostKeys.begin(), kHostKeys.end(), k) == kHostKeys.end()) {
        // Other keys are host vars, but one a letter away from a known key is a typo.
        if (auto c = closest(k, kHostKeys); c && edit_distance(k, *c) <= 1 && k.size() > 3 && k != *c + "s")
          throw LoadError(doc.at(it->first), "unknown key '" + k + "' in host '" + h.name + "' (did you mean '" + *c + "'?)");
        json value = yaml_to_json(v);
        anchor_paths(value, doc.dir(), path_like_key(k));
        h.vars[k] = value;
      } else if (k == "address") {
        h.address = scalar(doc, v, k);
        has_address = true;
      } else if (k == "connection") {
        h.connection = scalar(doc, v, k);
        if (h.connection != "local" && h.connection != "ssh")
          throw LoadError(doc.at(v), "connection must be 'local' or 'ssh', not '" + h.connection + "'" +
                                         did_you_mean(h.connection, {"local", "ssh"}));
      } else if (k == "user") {
        h.user = scalar(doc, v, k);
      } else if (k == "port") {
        std::string p = scalar(doc, v, k);
        bool digits = all_digits(p) && p.size() <= 5;
        if (!digits || std::stoi(p) < 1 || std::stoi(p) > 65535)
          throw LoadError(doc.at(v), "port must be an integer from 1 to 65535, not '" + p + "'");
        h.port = std::stoi(p);
        h.port_given = true;
      } else if (k == "role") {
        h.role = scalar(doc, v, k);
      } else if (k == "groups") {
        for (auto& g : names(doc, v, k)) {
          host_groups.push_back(g);
          if (std::find(h.groups.begin(), h.groups.end(), g.first) == h.groups.end()) h.groups.push_back(g.first);
        }
      }
    }
  }
  if (!has_address && h.connection == "ssh") h.address = h.name;
  return h;
}

// `host` joins `group` once; `joined` holds the (group, host) pairs so far.
void add_member(Site& site, const std::string& group, const std::string& host,
                std::set<std::pair<std::string, std::string>>& joined) {
  if (!joined.emplace(group, host).second) return;
  site.groups[group].push_back(host);
  const SiteHost* found = site.host(host);
  if (!found) return;
  SiteHost& h = site.hosts[static_cast<std::size_t>(found - site.hosts.data())];
  if (std::find(h.groups.begin(), h.groups.end(), group) == h.groups.end()) h.groups.push_back(group);
}

/// The site's secrets file: a flat map of names to strings (a password hash, a key), kept out of
/// `site` and `vars` so nothing prints them by accident.
std::map<std::string, std::string> load_secrets(const std::string& file, const Pos& named_at) {
  Doc doc = read_doc(file, named_at, "secrets file");
  std::map<std::string, std::string> out;
  if (doc.root.IsNull()) return out;
  require_map(doc, doc.root, "a secrets file (NAME: value)");
  for (auto it = doc.root.begin(); it != doc.root.end(); ++it) {
    const std::string name = it->first.Scalar();
    if (!valid_name(name)) throw LoadError(doc.at(it->first), "bad secret name '" + name + "' (letters, digits, '_', '.', '-')");
    if (!it->second.IsScalar()) throw LoadError(doc.at(it->second), "secret " + name + ": a string (quote it)");
    const std::string value = it->second.Scalar();
    if (value.size() < 4) throw LoadError(doc.at(it->second), "secret " + name + " is shorter than 4 characters");
    out[name] = value;
  }
  return out;
}

Site load_site_at(const std::string& file, const Pos& named_at) {
  Doc doc = read_doc(file, named_at, "site");
  Site site;
  site.file = file;
  site.pos = Pos{file, 1, 1};
  site.name = doc.dir().filename().string();
  const YAML::Node& root = doc.root;
  if (root.IsNull()) throw LoadError(site.pos, "empty site: expected a map with name, hypervisor, networks, hosts, groups, vars");
  require_map(doc, root, "a site");
  check_known_keys(doc, root, kSiteKeys, "the site");

  // Groups as the `groups:` map lists them; then the groups hosts name in their own `groups:`.
  struct Listed {
    std::string group;
    Pos pos;
    std::vector<std::pair<std::string, Pos>> members;
  };
  struct Declared {
    std::string host, group;
    Pos pos;
  };
  std::vector<Listed> listed;
  std::vector<Declared> declared;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node v = it->second;
    if (key == "name") {
      site.name = scalar(doc, v, key);
    } else if (key == "hypervisor" || key == "networks") {
      json value = v.IsNull() ? json::object() : yaml_to_json(v);
      if (key == "hypervisor" && !value.is_object()) require_map(doc, v, "'hypervisor'");
      if (key == "hypervisor" && v.IsMap()) check_known_keys(doc, v, kHypervisorKeys, "hypervisor");
      anchor_paths(value, doc.dir());
      (key == "hypervisor" ? site.hypervisor : site.networks) = value;
    } else if (key == "versions") {
      // Which versions exist is the simulator's business (sim/versions.cpp); here only the shape.
      if (!v.IsNull()) require_map(doc, v, "'versions'");
      site.versions = v.IsNull() ? json::object() : yaml_to_json(v);
    } else if (key == "retention") {
      // What a scheduled backup keeps (drctl schedule run: forget, then prune).
      require_map(doc, v, "'retention'");
      check_known_keys(doc, v, kRetentionKeys, "retention");
      for (auto r = v.begin(); r != v.end(); ++r) {
        const std::string name = r->first.Scalar();
        if (name == "within") {  // restic's --keep-within: 30d, 1y2m (m: months), 2d12h
          const std::string text = scalar(doc, r->second, "retention.within");
          if (!store::parse_keep_within(text))
            throw LoadError(doc.at(r->second), "retention.within: '" + text +
                                                   "' is not a span of time as restic's --keep-within takes it (30d, 1y2m, 2d12h; m is months)");
          site.retention["within"] = text;
          continue;
        }
        if (name == "repack_small") {  // prune also rewrites small packs (snapshot prune --repack-small)
          bool on = false;
          if (!r->second.IsScalar() || !YAML::convert<bool>::decode(r->second, on))
            throw LoadError(doc.at(r->second), "retention.repack_small: true or false (whether each prune also rewrites packs "
                                               "under 80 % of the pack size into full ones, as snapshot prune --repack-small)");
          site.retention["repack_small"] = on;
          continue;
        }
        if (name == "tags") {  // each entry keeps the snapshots holding all its comma-separated tags
          json tags = json::array();
          for (const auto& [text, pos] : names(doc, r->second, "retention.tags")) {
            if (text.empty() || text.find_first_of(" \t") != std::string::npos)
              throw LoadError(pos, "retention.tags: '" + text + "' is not a tag list (TAG or TAG,TAG)");
            tags.push_back(text);
          }
          site.retention["tags"] = tags;
          continue;
        }
        int n = -1;
        if (!r->second.IsScalar() || !YAML::convert<int>::decode(r->second, n) || n < 0 ||
            r->second.Scalar().find_first_not_of("0123456789") != std::string::npos)
          throw LoadError(doc.at(r->second), "retention." + r->first.Scalar() +
                                                 (r->first.Scalar() == "verify_cycle"
                                                      ? ": the number of runs in which every stored byte is read once (0: none)"
                                                      : ": a count of snapshots to keep (0 or more)"));
        site.retention[r->first.Scalar()] = n;
      }
    } else if (key == "kubernetes_schedule") {
      // drctl as a CronJob of the site's own cluster (drctl schedule install --kubernetes).
      require_map(doc, v, "'kubernetes_schedule'");
      check_known_keys(doc, v, {"image", "namespace", "repository"}, "kubernetes_schedule");
      site.kubernetes_schedule = yaml_to_json(v);
    } else if (key == "offsite") {
      // Where `drctl schedule run` copies each repository after a run (drctl snapshot copy --to).
      require_map(doc, v, "'offsite'");
      check_known_keys(doc, v, {"to", "ssh_config"}, "offsite");
      if (!v["to"]) throw LoadError(doc.at(v), "offsite: needs 'to: sftp://[USER@]HOST[:PORT]/PATH', the far repository");
      const std::string to = scalar(doc, v["to"], "offsite.to");
      try {
        if (world::parse_host_path_url("sftp", to, "offsite.to").path == "/")
          throw InputError("offsite.to: '" + to + "' names the host's root directory, not a repository");
      } catch (const InputError& e) {
        throw LoadError(doc.at(v["to"]), e.what());
      }
      site.offsite = {{"to", to}};
      if (v["ssh_config"]) {
        const fs::path config = (doc.dir() / scalar(doc, v["ssh_config"], "offsite.ssh_config")).lexically_normal();
        if (!fs::exists(config)) throw LoadError(doc.at(v["ssh_config"]), "offsite.ssh_config: " + config.string() + " does not exist");
        site.offsite["ssh_config"] = config.string();
      }
    } else if (key == "rpo") {
      // How old the newest backup of a source may be (drctl status).
      const std::string text = scalar(doc, v, key);
      if (!duration_value(json(text))) throw LoadError(doc.at(v), "rpo: '" + text + "' is not a duration (" + std::string(kDurationExamples) + ")");
      site.rpo = text;
    } else if (key == "vars") {
      site.vars = load_vars(doc, v);
    } else if (key == "secrets") {
      site.secrets_file = (doc.dir() / scalar(doc, v, key)).lexically_normal().string();
      site.secrets = load_secrets(site.secrets_file, doc.at(v));
    } else if (key == "hosts") {
      if (v.IsNull()) continue;
      require_map(doc, v, "'hosts'");
      for (auto h = v.begin(); h != v.end(); ++h) {
        std::vector<std::pair<std::string, Pos>> groups;
        site.hosts.push_back(load_host(doc, h->first, h->second, groups));
        for (auto& [group, pos] : groups) declared.push_back({site.hosts.back().name, group, pos});
      }
    } else if (key == "groups") {
      if (v.IsNull()) continue;
      require_map(doc, v, "'groups'");
      for (auto g = v.begin(); g != v.end(); ++g) {
        auto members = g->second.IsNull() ? std::vector<std::pair<std::string, Pos>>{} : names(doc, g->second, "groups");
        listed.push_back({g->first.Scalar(), doc.at(g->first), members});
      }
    }
  }

  site.index_hosts();
  std::vector<std::string> host_names;
  for (const auto& h : site.hosts) host_names.push_back(h.name);
  std::set<std::pair<std::string, std::string>> joined;
  auto check_group_name = [&](const std::string& group, const Pos& pos) {
    if (site.host(group)) throw LoadError(pos, "group '" + group + "' has the name of a host; 'on: " + group + "' would be ambiguous");
    if (!valid_name(group))
      throw LoadError(pos, "bad group name '" + group + "' (use letters, digits, '_', '.' and '-', starting with a letter or digit)");
  };
  for (const auto& l : listed) {
    check_group_name(l.group, l.pos);
    site.groups[l.group];
    for (const auto& [member, pos] : l.members) {
      if (!site.host(member))
        throw LoadError(pos, "group '" + l.group + "' names unknown host '" + member + "'" + did_you_mean(member, host_names));
      add_member(site, l.group, member, joined);
    }
  }
  for (const auto& d : declared) {
    check_group_name(d.group, d.pos);
    add_member(site, d.group, d.host, joined);
  }
  return site;
}

// --- runbook ----------------------------------------------------------------------------------

bool before(const Pos& a, const Pos& b) { return a.line < b.line || (a.line == b.line && a.col < b.col); }

Step load_step(const Doc& doc, const YAML::Node& node) {
  if (!node.IsMap())
    throw LoadError(doc.at(node), "a step must be a map with 'id' and 'uses' or 'run', not " + kind_name(node));
  check_known_keys(doc, node, kStepKeys, "a step");
  Step s;
  s.pos = doc.at(node);
  bool has_id = false;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node v = it->second;
    if (key == "id") {
      s.id = scalar(doc, v, key);
      s.id_pos = doc.at(v);
      has_id = true;
      if (!valid_name(s.id))
        throw LoadError(s.id_pos, "bad step id '" + s.id + "' (use letters, digits, '_', '.' and '-', starting with a letter or digit)");
    } else if (key == "uses") {
      s.uses = scalar(doc, v, key);
      s.uses_pos = doc.at(v);
    } else if (key == "run") {
      s.run = scalar(doc, v, key);
      s.run_pos = doc.at(v);
    } else if (key == "with") {
      s.with_pos = doc.at(it->first);
      if (!v.IsNull()) require_map(doc, v, "'with'");
      s.with = v.IsNull() ? YAML::Node(YAML::NodeType::Map) : v;
      anchor_with(s.with, doc.dir());
    } else if (key == "needs") {
      s.needs = names(doc, v, key);
    } else if (key == "on") {
      s.on = scalar(doc, v, key);
      s.on_pos = doc.at(v);
    } else if (key == "for_each") {
      bool list = v.IsSequence() || (v.IsScalar() && single_tag(v.Scalar()));
      if (!list)
        throw LoadError(doc.at(v), "for_each needs a list: a YAML list, or '{{name}}' naming a list in vars or site");
      s.for_each = v;
    } else if (key == "timeout") {
      s.timeout = duration(doc, v, key);
    } else if (key == "retry_delay") {
      s.retry_delay = duration(doc, v, key);
    } else if (key == "estimate") {
      s.estimate = duration(doc, v, key);
    } else if (key == "retries") {
      std::string r = v.IsScalar() ? v.Scalar() : kind_name(v);
      bool ok = v.IsScalar() && all_digits(r) && r.size() <= 6;
      if (!ok) throw LoadError(doc.at(v), "retries must be a non-negative integer, not '" + r + "'");
      s.retries = std::stoi(r);
    } else if (key == "when") {
      s.when = scalar(doc, v, key);
      s.when_pos = doc.at(v);
    }
  }
  if (!has_id) throw LoadError(s.pos, "a step needs an 'id'");
  if (s.uses && s.run) {
    Pos later = before(s.uses_pos, s.run_pos) ? s.run_pos : s.uses_pos;
    throw LoadError(later, "step '" + s.id + "' has both 'uses' and 'run'; a step does one of them");
  }
  if (!s.uses && !s.run) throw LoadError(s.pos, "step '" + s.id + "' needs 'uses' (an action) or 'run' (a shell command)");
  if (s.run && s.with_pos.line > 0)
    throw LoadError(s.with_pos, "'with' gives inputs to an action; step '" + s.id + "' has 'run', not 'uses'");
  if (!s.with) s.with = YAML::Node(YAML::NodeType::Map);
  return s;
}

}  // namespace

Pos pos_of(const std::string& file, const YAML::Mark& mark) {
  if (mark.line < 0) return Pos{file, 0, 0};
  return Pos{file, mark.line + 1, mark.column + 1};
}

Pos locate(const std::string& source, const Pos& start, const std::string& needle, std::size_t occurrence) {
  if (start.line <= 0 || needle.empty()) return start;
  std::size_t offset = 0;
  for (int line = 1; line < start.line; ++line) {
    offset = source.find('\n', offset);
    if (offset == std::string::npos) return start;
    ++offset;
  }
  offset += static_cast<std::size_t>(start.col - 1);
  std::size_t found = offset;
  for (std::size_t k = 0; k <= occurrence; ++k) {
    found = source.find(needle, k == 0 ? offset : found + needle.size());
    if (found == std::string::npos) return start;
  }
  std::size_t line_start = source.rfind('\n', found == 0 ? 0 : found - 1);
  line_start = (line_start == std::string::npos || found == 0) ? 0 : line_start + 1;
  int line = 1 + static_cast<int>(std::count(source.begin(), source.begin() + static_cast<std::ptrdiff_t>(found), '\n'));
  return Pos{start.file, line, static_cast<int>(found - line_start) + 1};
}

Site load_site(const std::string& path) {
  std::string file = absolute_path(path);
  return load_site_at(file, Pos{file, 0, 0});
}

Runbook load_runbook(const std::string& path) {
  Runbook rb;
  rb.file = absolute_path(path);
  Doc doc = read_doc(rb.file, Pos{rb.file, 0, 0}, "runbook");
  rb.source = doc.text;
  rb.name = fs::path(rb.file).stem().string();
  const YAML::Node& root = doc.root;
  if (root.IsNull()) throw LoadError(Pos{rb.file, 1, 1}, "empty runbook: expected a map with name, site, vars and steps");
  require_map(doc, root, "a runbook");
  check_known_keys(doc, root, kRunbookKeys, "the runbook");
  bool has_steps = false;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string key = it->first.Scalar();
    const YAML::Node v = it->second;
    if (key == "name") {
      rb.name = scalar(doc, v, key);
    } else if (key == "site") {
      std::string site = scalar(doc, v, key);
      rb.site = load_site_at(absolute_path(doc.dir() / site), doc.at(v));
    } else if (key == "vars") {
      rb.vars = load_vars(doc, v);
    } else if (key == "steps") {
      has_steps = true;
      if (!v.IsSequence() || v.size() == 0)
        throw LoadError(doc.at(v.IsNull() ? it->first : v), "'steps' must be a list of at least one step");
      rb.steps.reserve(v.size());  // a Step is copied, not moved, when the vector grows
      for (const auto& step : v) rb.steps.push_back(load_step(doc, step));
    }
  }
  if (!has_steps) throw LoadError(Pos{rb.file, 1, 1}, "a runbook needs 'steps'");
  rb.index_steps();
  return rb;
}

}  // namespace drctl::runbook
