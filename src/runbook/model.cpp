#include "runbook/model.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace drctl::runbook {

namespace {

// Objects merge key by key (recursively); anything else in `over` replaces what is in `base`.
void merge_into(json& base, const json& over) {
  if (!base.is_object() || !over.is_object()) {
    base = over;
    return;
  }
  for (const auto& [key, value] : over.items()) {
    if (base.contains(key))
      merge_into(base[key], value);
    else
      base[key] = value;
  }
}

}  // namespace

json SiteHost::to_json() const {
  json out = json::object();
  for (const auto& [key, value] : vars.items()) out[key] = value;
  out["name"] = name;
  out["address"] = address;
  out["connection"] = connection;
  out["user"] = user;
  out["port"] = port;
  out["role"] = role;
  out["groups"] = groups;
  return out;
}

namespace {

// What `index` says of `key` when it is current (made for `size` entries, the entry found has that
// name): its position, or `size` for none. nullopt when the caller must scan.
template <typename T, typename Name>
std::optional<std::size_t> indexed(const std::unordered_map<std::string, std::size_t>& index, std::size_t indexed_size,
                                   const std::vector<T>& items, const std::string& key, Name name) {
  if (indexed_size == 0 || indexed_size != items.size()) return std::nullopt;
  auto it = index.find(key);
  if (it == index.end()) return items.size();
  if (it->second < items.size() && name(items[it->second]) == key) return it->second;
  return std::nullopt;
}

template <typename T, typename Name>
void make_index(std::unordered_map<std::string, std::size_t>& index, std::size_t& indexed_size, const std::vector<T>& items,
                Name name) {
  index.clear();
  index.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) index.emplace(name(items[i]), i);  // the first of a name wins
  indexed_size = items.size();
}

}  // namespace

const SiteHost* Site::host(const std::string& name) const {
  auto at = indexed(host_index, indexed_hosts, hosts, name, [](const SiteHost& h) -> const std::string& { return h.name; });
  if (at) return *at < hosts.size() ? &hosts[*at] : nullptr;
  for (const auto& h : hosts)
    if (h.name == name) return &h;
  return nullptr;
}

void Site::index_hosts() {
  make_index(host_index, indexed_hosts, hosts, [](const SiteHost& h) -> const std::string& { return h.name; });
}

std::vector<const SiteHost*> Site::targets(const std::string& target) const {
  std::vector<const SiteHost*> out;
  if (const auto* h = host(target)) {
    out.push_back(h);
    return out;
  }
  auto it = groups.find(target);
  if (it == groups.end()) return out;
  for (const auto& name : it->second)
    if (const auto* h = host(name)) out.push_back(h);
  return out;
}

json Site::to_json() const {
  json out = json::object();
  out["name"] = name;
  out["file"] = file;
  out["dir"] = std::filesystem::path(file).parent_path().string();
  out["hypervisor"] = hypervisor;
  out["networks"] = networks;
  out["versions"] = versions;
  out["hosts"] = json::object();
  for (const auto& h : hosts) out["hosts"][h.name] = h.to_json();
  out["groups"] = json::object();
  for (const auto& [group, members] : groups) out["groups"][group] = members;
  out["vars"] = vars;
  return out;
}

json Site::world_json() const {
  json out = to_json();
  out["secrets"] = secrets;
  return out;
}

const Step* Runbook::step(const std::string& id) const {
  auto at = indexed(step_index, indexed_steps, steps, id, [](const Step& s) -> const std::string& { return s.id; });
  if (at) return *at < steps.size() ? &steps[*at] : nullptr;
  for (const auto& s : steps)
    if (s.id == id) return &s;
  return nullptr;
}

void Runbook::index_steps() {
  make_index(step_index, indexed_steps, steps, [](const Step& s) -> const std::string& { return s.id; });
}

json Runbook::merged_vars() const {
  json out = site ? site->vars : json::object();
  if (!out.is_object()) out = json::object();
  merge_into(out, vars.is_object() ? vars : json::object());
  return out;
}

}  // namespace drctl::runbook
