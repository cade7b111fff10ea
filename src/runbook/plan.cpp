#include "runbook/plan.hpp"

#include "runbook/template.hpp"
#include "runbook/validate.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

namespace drctl::runbook {

namespace {

std::string item_label(const json& item, std::size_t index) {
  if (item.is_string() && item.get<std::string>().size() <= 24 &&
      item.get<std::string>().find_first_of("[] \n") == std::string::npos)
    return item.get<std::string>();
  return std::to_string(index);
}

/// Steps in an order that respects `needs`.
std::vector<const Step*> ordered(const Runbook& rb) {
  std::vector<const Step*> out;
  for (const auto& id : topological_order(rb)) out.push_back(rb.step(id));
  return out;
}

}  // namespace

std::vector<Instance> expand(const Runbook& rb) {
  // A step's instances: all of them, and those of each host when it fans out over a group.
  struct Expanded {
    std::vector<std::size_t> all;
    std::map<std::string, std::vector<std::size_t>> by_host;
    bool fans_hosts = false;
  };
  std::vector<Instance> out;
  std::map<std::string, Expanded> by_step;
  std::optional<json> shared;  // shared_context(rb), made when a for_each first names a list
  for (const Step* sp : ordered(rb)) {
    const Step& s = *sp;
    std::vector<std::string> hosts;
    if (!s.on) hosts.push_back("local");
    else if (rb.site)
      for (const SiteHost* h : rb.site->targets(*s.on)) hosts.push_back(h->name);
    if (hosts.empty()) throw LoadError(s.on_pos, "unknown host or group '" + s.on.value_or("") + "'");
    const bool fan_hosts = s.on && !(rb.site && rb.site->host(*s.on));
    if (s.for_each && s.for_each.IsScalar() && !shared) shared = shared_context(rb);
    json items = for_each_items(rb, s, shared ? *shared : json::object());
    auto& mine = by_step[s.id];
    mine.fans_hosts = fan_hosts;
    for (const auto& host : hosts) {
      // A step fanned out over a group waits, per host, for that host's instances of a need
      // fanned out likewise: a host that fails stops its own chain, not the others'. Every
      // other need (a single host, local, or a group this host is not in) waits for all.
      std::vector<std::size_t> deps;
      for (const auto& [need, pos] : s.needs) {
        const Expanded& theirs = by_step.at(need);
        const std::vector<std::size_t>* chosen = &theirs.all;
        if (fan_hosts && theirs.fans_hosts)
          if (auto same = theirs.by_host.find(host); same != theirs.by_host.end()) chosen = &same->second;
        deps.insert(deps.end(), chosen->begin(), chosen->end());
      }
      std::size_t n = items.is_array() ? items.size() : 1;
      for (std::size_t i = 0; i < n; ++i) {
        Instance inst;
        inst.step = &s;
        inst.host = host;
        inst.id = s.id;
        if (fan_hosts) inst.id += "[" + host + "]";
        if (items.is_array()) {
          inst.item = items[i];
          inst.id += "[" + item_label(items[i], i) + "]";
        }
        inst.deps = deps;
        mine.all.push_back(out.size());
        if (fan_hosts) mine.by_host[host].push_back(out.size());
        out.push_back(std::move(inst));
      }
    }
  }
  return out;
}

std::vector<std::vector<std::string>> waves(const Runbook& rb) {
  std::map<std::string, std::size_t> wave;
  std::vector<std::vector<std::string>> out;
  for (const Step* sp : ordered(rb)) {
    const Step& s = *sp;
    std::size_t w = 0;
    for (const auto& [need, pos] : s.needs) w = std::max(w, wave.at(need) + 1);
    wave[s.id] = w;
    if (out.size() <= w) out.resize(w + 1);
    out[w].push_back(s.id);
  }
  return out;
}

bool when_false(const std::string& v) {
  if (const auto a = v.find(" and "); a != std::string::npos) return when_false(v.substr(0, a)) || when_false(v.substr(a + 5));
  if (v.rfind("not ", 0) == 0) return !when_false(v.substr(4));
  for (const std::string op : {" == ", " != "})
    if (const auto at = v.find(op); at != std::string::npos)
      return (v.substr(0, at) == v.substr(at + 4)) != (op == " == ");
  return v.empty() || v == "false" || v == "0" || v == "no";
}

std::optional<bool> skipped_by_when(const Runbook& rb, const Step& s) {
  if (!s.when) return false;
  // Without a host, an item or outputs: a `when:` that reads any of them cannot render here.
  try {
    return when_false(render(*s.when, render_context(rb, s, nullptr, nullptr, json::object()), s.when_pos));
  } catch (const LoadError&) {
    return std::nullopt;
  }
}

std::set<std::string> steps_skipped_by_when(const Runbook& rb) {
  std::set<std::string> out;
  for (const Step& s : rb.steps)
    if (skipped_by_when(rb, s).value_or(false)) out.insert(s.id);
  return out;
}

CriticalPath critical_path(const Runbook& rb, const std::set<std::string>& skipped) {
  // id -> ((total weight, steps on the chain), predecessor); ties go to the longer chain
  std::map<std::string, std::pair<std::pair<world::Duration, int>, std::string>> best;
  std::map<std::string, const Step*> steps;
  for (const Step& s : rb.steps) steps[s.id] = &s;
  auto weight = [&](const Step& s) {
    if (skipped.contains(s.id)) return world::Duration(0);
    return s.estimate ? *s.estimate : s.timeout;
  };
  std::string end;
  for (const Step* sp : ordered(rb)) {
    const Step& s = *sp;
    std::pair<world::Duration, int> total{world::Duration(0), 0};
    std::string pred;
    for (const auto& [need, pos] : s.needs)
      if (best.at(need).first >= total) {
        total = best.at(need).first;
        pred = need;
      }
    best[s.id] = {{total.first + weight(s), total.second + (skipped.contains(s.id) ? 0 : 1)}, pred};
    if (end.empty() || best[s.id].first > best[end].first) end = s.id;
  }
  CriticalPath cp;
  for (std::string id = end; !id.empty(); id = best[id].second) {
    const Step& s = *steps[id];
    if (skipped.contains(id)) continue;
    cp.steps.push_back(id);
    if (weight(s) == world::Duration(0)) cp.complete = false;
    cp.bound += s.timeout.count() ? s.timeout : weight(s);
  }
  std::reverse(cp.steps.begin(), cp.steps.end());
  if (!end.empty()) cp.total = best[end].first.first;
  return cp;
}

std::string to_dot(const Runbook& rb) {
  auto quote = [](const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') out += '\\';
      out += c == '\n' ? ' ' : c;
    }
    return out + "\"";
  };
  std::string out = "digraph " + quote(rb.name.empty() ? "runbook" : rb.name) + " {\n  rankdir=LR;\n  node [shape=box];\n";
  for (const Step& s : rb.steps) {
    std::string label = s.id + "\\n" + (s.uses ? *s.uses : std::string("run"));
    if (s.on) label += " @ " + *s.on;
    std::string q = quote(label);
    q.replace(q.find("\\\\n"), 3, "\\n");  // keep the line break escaped once
    out += "  " + quote(s.id) + " [label=" + q + "];\n";
    for (const auto& [need, pos] : s.needs) out += "  " + quote(need) + " -> " + quote(s.id) + ";\n";
  }
  return out + "}\n";
}

std::string format_duration(world::Duration d) {
  auto ms = d.count();
  if (ms < 1000) return std::to_string(ms) + "ms";
  auto s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return std::to_string(s / 60) + "m" + (s % 60 ? " " + std::to_string(s % 60) + "s" : "");
  return std::to_string(s / 3600) + "h" + (s % 3600 / 60 ? " " + std::to_string(s % 3600 / 60) + "m" : "");
}

}  // namespace drctl::runbook
