#include "runbook/validate.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>

#include "runbook/loader.hpp"
#include "runbook/step_graph.hpp"
#include "runbook/template.hpp"

namespace drctl::runbook {

namespace {

using actions::InputType;


std::string join(const std::vector<std::string>& parts, std::size_t from, std::size_t to, const std::string& sep) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) out += (i > from ? sep : "") + parts[i];
  return out;
}

std::vector<std::string> step_ids(const Runbook& rb) {
  std::vector<std::string> ids;
  for (const auto& s : rb.steps) ids.push_back(s.id);
  return ids;
}

Pos value_pos(const Runbook& rb, const YAML::Node& node) { return pos_of(rb.file, node.Mark()); }

// How a value appears in "must be X, not Y".
std::string describe(const json& v) {
  if (v.is_object()) return "a map";
  if (v.is_array()) return "a list";
  if (v.is_null()) return "nothing";
  if (v.is_string()) return "'" + v.get<std::string>() + "'";
  return "'" + v.dump() + "'";
}

std::string type_phrase(InputType t) {
  switch (t) {
    case InputType::Integer: return "an integer";
    case InputType::Duration: return "a duration (e.g. 90s, 20m, 1h)";
    case InputType::List: return "a list";
    case InputType::Map: return "a map";
    default: return std::string("a ") + actions::type_name(t);
  }
}

bool canonical_int(const std::string& s) {
  std::string d = !s.empty() && s[0] == '-' ? s.substr(1) : s;
  return !d.empty() && d.size() <= 18 && std::all_of(d.begin(), d.end(), [](unsigned char c) { return std::isdigit(c); }) &&
         (d == "0" || d[0] != '0');
}

// The value of a `with` entry before rendering; a plain scalar given for a string input keeps its exact text.
json with_value(const YAML::Node& node, InputType type) {
  if (type == InputType::String && node.IsScalar()) return node.Scalar();
  return yaml_to_json(node);
}

[[noreturn]] void wrong_type(const Pos& pos, const std::string& input, const actions::ActionSpec& spec, const json& value) {
  throw LoadError(pos, "input '" + input + "' of " + spec.name + " must be " + type_phrase(spec.input(input)->type) +
                           ", not " + describe(value));
}

// --- pass 1: each step on its own ------------------------------------------------------------

void check_inputs(const Runbook& rb, const Step& step, const actions::ActionSpec& spec) {
  std::vector<std::string> names;
  for (const auto& i : spec.inputs) names.push_back(i.name);
  for (auto it = step.with.begin(); it != step.with.end(); ++it) {
    const std::string key = it->first.Scalar();
    const auto* input = spec.input(key);
    if (!input) {
      std::string hint = did_you_mean(key, names);
      if (hint.empty()) hint = names.empty() ? " (it takes no inputs)" : " (it takes: " + join(names, 0, names.size(), ", ") + ")";
      throw LoadError(pos_of(rb.file, it->first.Mark()), "unknown input '" + key + "' for " + spec.name + hint);
    }
    const YAML::Node node = it->second;
    if (node.IsScalar() && is_template(node.Scalar())) continue;  // checked after rendering
    json value = with_value(node, input->type);
    if (!to_input_type(value, input->type)) wrong_type(value_pos(rb, node), key, spec, value);
  }
  for (const auto& input : spec.inputs) {
    if (!input.required || input.default_value || step.with[input.name]) continue;
    Pos at = step.with_pos.line > 0 ? step.with_pos : step.uses_pos;
    throw LoadError(at, "missing input '" + input.name + "' for " + spec.name + " (step '" + step.id + "')");
  }
}

void check_step(const Runbook& rb, const Step& step, const actions::Registry& registry,
                std::map<std::string, const Step*>& seen, const std::vector<std::string>& ids) {
  auto [first, fresh] = seen.emplace(step.id, &step);
  if (!fresh)
    throw LoadError(step.id_pos, "duplicate step id '" + step.id + "' (first defined at line " +
                                     std::to_string(first->second->id_pos.line) + ")");
  const actions::Action* action = nullptr;
  if (step.uses) {
    action = registry.find(*step.uses);
    if (!action) {
      std::string hint = did_you_mean(*step.uses, registry.names());
      throw LoadError(step.uses_pos, "unknown action '" + *step.uses + "'" + (hint.empty() ? " (`drctl actions` lists them)" : hint));
    }
  }
  if (step.on) {
    if (!rb.site)
      throw LoadError(step.on_pos, "step '" + step.id + "' runs on '" + *step.on + "', but the runbook names no site");
    if (!rb.site->host(*step.on) && !rb.site->groups.count(*step.on)) {
      std::vector<std::string> targets;
      for (const auto& h : rb.site->hosts) targets.push_back(h.name);
      for (const auto& [g, members] : rb.site->groups) targets.push_back(g);
      throw LoadError(step.on_pos, "unknown host or group '" + *step.on + "'" + did_you_mean(*step.on, targets));
    }
  }
  for (const auto& [need, pos] : step.needs)
    if (!rb.step(need))
      throw LoadError(pos, "step '" + step.id + "' needs '" + need + "', which is no step" + did_you_mean(need, ids));
  if (action) check_inputs(rb, step, action->spec());
}

// --- pass 2: cycles ----------------------------------------------------------------------------

// The first cycle, found from the steps in file order: ids with the first repeated at the end.
// Iterative: a chain of needs as long as the runbook must not exhaust the stack.
std::vector<std::string> find_cycle(const Runbook& rb) {
  enum Color : char { White, Grey, Black };
  const auto graph = needs_graph(rb);
  std::vector<Color> color(rb.steps.size(), White);
  std::vector<std::pair<std::size_t, std::size_t>> path;  // (step, how many of its needs are done)
  for (std::size_t root = 0; root < rb.steps.size(); ++root) {
    if (color[position(rb, rb.steps[root].id)] != White) continue;
    color[root] = Grey;
    path.push_back({root, 0});
    while (!path.empty()) {
      auto& [at, next] = path.back();
      if (next == graph[at].size()) {
        color[at] = Black;
        path.pop_back();
        continue;
      }
      std::size_t need = graph[at][next++];
      if (color[need] == Grey) {
        std::vector<std::string> cycle;
        auto from = std::find_if(path.begin(), path.end(), [&](const auto& p) { return p.first == need; });
        for (auto it = from; it != path.end(); ++it) cycle.push_back(rb.steps[it->first].id);
        cycle.push_back(rb.steps[need].id);
        return cycle;
      }
      if (color[need] == White) {
        color[need] = Grey;
        path.push_back({need, 0});
      }
    }
  }
  return {};
}

[[noreturn]] void cycle_error(const Runbook& rb, std::vector<std::string> cycle) {
  cycle.pop_back();
  std::size_t earliest = 0, best = rb.steps.size();
  for (std::size_t i = 0; i < cycle.size(); ++i) {
    std::size_t index = static_cast<std::size_t>(rb.step(cycle[i]) - rb.steps.data());
    if (index < best) best = index, earliest = i;
  }
  std::rotate(cycle.begin(), cycle.begin() + static_cast<std::ptrdiff_t>(earliest), cycle.end());
  cycle.push_back(cycle.front());
  throw LoadError(rb.step(cycle.front())->pos,
                  "dependency cycle: " + join(cycle, 0, cycle.size(), " \u2192 ") + " (each step needs the next)");
}

// --- pass 3: templates -------------------------------------------------------------------------

// A template to check: the text, where its value starts, and whether it is a whole `with` value
// (a single '{{name}}' there takes the named value, list or map included).
struct Templated {
  std::string text;
  Pos pos;
  bool whole = false;
};

void collect_with(const Runbook& rb, const YAML::Node& node, std::vector<Templated>& out) {
  if (node.IsScalar()) {
    if (is_template(node.Scalar())) out.push_back({node.Scalar(), value_pos(rb, node), true});
    return;
  }
  if (node.IsMap())
    for (auto it = node.begin(); it != node.end(); ++it) collect_with(rb, it->second, out);
  else if (node.IsSequence())
    for (const auto& item : node) collect_with(rb, item, out);
}

bool before(const Pos& a, const Pos& b) { return a.line < b.line || (a.line == b.line && a.col < b.col); }

std::vector<Templated> templates_of(const Runbook& rb, const Step& step) {
  std::vector<Templated> out;
  if (step.run) out.push_back({*step.run, step.run_pos, false});
  if (step.when) out.push_back({*step.when, step.when_pos, false});
  collect_with(rb, step.with, out);
  std::stable_sort(out.begin(), out.end(), [](const Templated& a, const Templated& b) { return before(a.pos, b.pos); });
  return out;
}

// Sets keys of a context for one step and, when it goes, puts back what was there: pass 3 checks
// every step against one context instead of a copy of it per step.
class Overlay {
 public:
  explicit Overlay(json& context) : context_(context) {}
  Overlay(const Overlay&) = delete;
  Overlay& operator=(const Overlay&) = delete;
  ~Overlay() {
    for (auto& [key, old] : saved_)
      if (old)
        context_[key] = std::move(*old);
      else
        context_.erase(key);
  }
  void set(const std::string& key, json value) {
    if (!saved_.count(key))
      saved_[key] = context_.contains(key) ? std::optional<json>(std::move(context_[key])) : std::nullopt;
    context_[key] = std::move(value);
  }

 private:
  json& context_;
  std::map<std::string, std::optional<json>> saved_;
};

bool name_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.'; }

// The steps the templates name as `steps.ID…` (every prefix of such a name that is a step id);
// nullopt when one uses `steps` otherwise (`{{#steps}}`), which may reach any step it depends on.
std::optional<std::set<std::string>> named_steps(const Runbook& rb, const std::vector<Templated>& templates) {
  std::set<std::string> out;
  const std::string word = "steps";
  for (const auto& t : templates) {
    for (auto at = t.text.find(word); at != std::string::npos; at = t.text.find(word, at + word.size())) {
      std::size_t end = at + word.size();
      bool starts_name = at == 0 || !name_char(t.text[at - 1]) || t.text[at - 1] == '.';
      if (!starts_name) continue;
      if (end >= t.text.size() || !name_char(t.text[end])) return std::nullopt;
      if (t.text[end] != '.') continue;
      std::size_t stop = end + 1;
      while (stop < t.text.size() && name_char(t.text[stop])) ++stop;
      auto parts = split_name(t.text.substr(end + 1, stop - end - 1));
      for (std::size_t k = 1; k <= parts.size(); ++k)
        if (std::string id = join(parts, 0, k, "."); rb.step(id)) out.insert(id);
    }
  }
  return out;
}

// The top-level names the templates use (`host`, `item`, `steps`, vars…).
std::set<std::string> used_names(const std::vector<Templated>& templates) {
  std::set<std::string> out;
  for (const auto& t : templates)
    for (auto& name : variables(t.text)) out.insert(std::move(name));
  return out;
}

// Pass 3: each step's templates against the context its instances will have, with the outputs of
// the steps it needs as unknown values. Costs what the templates and the instances they are
// checked for cost: the context is made once, and only the steps a template names are looked for
// among the ones a step depends on.
class TemplatePass {
 public:
  TemplatePass(const Runbook& rb, const actions::Registry& registry)
      : rb_(rb), registry_(registry), context_(shared_context(rb)), graph_(needs_graph(rb)), seen_(rb.steps.size(), 0),
        of_step_(rb.steps.size()) {
    find_named_dependencies();
  }

  void check(const Step& step) {
    json items = for_each_items(rb_, step, context_);
    const StepTemplates& mine = of_step_[position(rb_, step.id)];
    if (mine.list.empty()) return;
    std::vector<const json*> item_choices;
    static const json unknown = kUnknown;
    if (items.is_array() && !items.empty() && mine.used.count("item"))  // else every item gives the same answer
      for (const auto& item : items) item_choices.push_back(&item);
    else
      item_choices.push_back(items.is_array() ? (items.empty() ? &unknown : &items[0]) : nullptr);
    std::vector<const json*> host_choices;
    if (step.on && rb_.site)
      for (const SiteHost* h : rb_.site->targets(*step.on)) {
        host_choices.push_back(&host_json(h));
        if (!mine.used.count("host")) break;  // every host gives the same answer
      }
    static const json unknown_host = kUnknown;
    if (host_choices.empty() && step.on) host_choices.push_back(&unknown_host);

    Overlay instance(context_);
    if (json steps = outputs_for(step); !steps.empty()) instance.set("steps", std::move(steps));
    for (const auto& t : mine.list) {
      for (std::size_t h = 0; h < std::max<std::size_t>(host_choices.size(), 1); ++h) {
        if (!host_choices.empty()) instance.set("host", *host_choices[h]);
        for (const json* item : item_choices) {
          if (item) instance.set("item", *item);
          check_templated(step, t);
        }
      }
    }
  }

 private:
  // A step's templates in file order, the top-level names they use, and the steps they name as
  // `steps.ID…` that it depends on (nullopt when they use `steps` otherwise).
  struct StepTemplates {
    std::vector<Templated> list;
    std::set<std::string> used;
    std::optional<std::vector<std::size_t>> named;
  };

  // Reads every step's templates, and asks the whole runbook at once which steps they name are
  // among those their step depends on.
  void find_named_dependencies() {
    std::vector<std::pair<std::size_t, std::size_t>> asked;
    for (std::size_t i = 0; i < rb_.steps.size(); ++i) {
      StepTemplates& mine = of_step_[i];
      mine.list = templates_of(rb_, rb_.steps[i]);
      mine.used = used_names(mine.list);
      if (!mine.used.count("steps")) {
        mine.named.emplace();
        continue;
      }
      auto named = named_steps(rb_, mine.list);
      if (!named) continue;
      mine.named.emplace();
      for (const auto& id : *named)
        if (std::size_t target = position(rb_, id); target != i) asked.push_back({i, target});
    }
    for (const auto& [from, target] : depending_pairs(graph_, ordered_positions(graph_), asked))
      of_step_[from].named->push_back(target);
  }

  // A host as templates see it, made once per host.
  const json& host_json(const SiteHost* host) {
    auto it = hosts_.find(host);
    if (it == hosts_.end()) it = hosts_.emplace(host, host->to_json()).first;
    return it->second;
  }

  // Whether `step` depends on the step `id`, directly or through others.
  bool depends_on(const Step& step, const std::string& id) {
    std::size_t target = position(rb_, id);
    if (target == std::string::npos) return false;
    return reaches(graph_, position(rb_, step.id), target, seen_, ++stamp_);
  }

  // `steps` as the step's templates see it: the declared outputs, unknown until the run, of the
  // steps it needs directly and of the others it depends on that its templates name.
  json outputs_for(const Step& step) {
    const std::size_t at = position(rb_, step.id);
    std::set<std::string> ids;
    if (const auto& named = of_step_[at].named) {
      for (std::size_t need : graph_[at]) ids.insert(rb_.steps[need].id);
      for (std::size_t dep : *named) ids.insert(rb_.steps[dep].id);
    } else {
      ids = dependencies(rb_, step.id);
    }
    json steps = json::object();
    for (const auto& id : ids) {
      json declared = json::object();
      for (const auto& name : declared_outputs(*rb_.step(id), registry_)) declared[name] = kUnknown;
      if (id.find('.') == std::string::npos) {
        steps[id]["outputs"] = std::move(declared);
        continue;
      }
      std::string pointer;  // a dotted id reaches into maps, as render_context does
      for (const auto& part : split_name(id)) pointer += "/" + part;
      steps[json::json_pointer(pointer + "/outputs")] = std::move(declared);
    }
    return steps;
  }

  void check_templated(const Step& step, const Templated& t) {
    auto problem = check_template(t.text, context_);
    if (!problem) return;
    if (t.whole && !problem->undefined && single_tag(t.text)) return;  // a whole list or map is fine here
    std::string message = problem->message;
    if (problem->undefined) {
      std::string better = steps_message(step, problem->name);
      if (!better.empty()) message = better;
    }
    Pos at = locate(rb_.source, t.pos, problem->raw, occurrences_before(t.text, problem->raw, problem->offset));
    throw LoadError(at, message);
  }

  // A better message for an undefined `steps.…` name, knowing the runbook; empty when generic is fine.
  std::string steps_message(const Step& step, const std::string& name) {
    auto parts = split_name(name);
    if (parts.size() < 2 || parts[0] != "steps") return "";
    std::string prefix = "undefined template variable '" + name + "' (";
    for (std::size_t k = parts.size() - 1; k >= 1; --k) {
      std::string id = join(parts, 1, k + 1, ".");
      if (!rb_.step(id)) continue;
      if (id == step.id) return prefix + "a step cannot use its own outputs)";
      if (!depends_on(step, id))
        return prefix + "step '" + id + "' is not in the needs of '" + step.id + "'; add it to use its outputs)";
      if (k + 1 >= parts.size() || parts[k + 1] != "outputs") return prefix + "use steps." + id + ".outputs.NAME)";
      return "";
    }
    auto near = closest(parts[1], step_ids(rb_));
    return prefix + "no step '" + parts[1] + "'" + (near ? "; did you mean '" + *near + "'?)" : ")");
  }

  static std::size_t occurrences_before(const std::string& text, const std::string& needle, std::size_t offset) {
    std::size_t n = 0;
    for (auto p = text.find(needle); p != std::string::npos && p < offset; p = text.find(needle, p + needle.size())) ++n;
    return n;
  }

  const Runbook& rb_;
  const actions::Registry& registry_;
  json context_;  // shared_context(rb), with one step's instance set on it at a time
  StepGraph graph_;
  std::vector<std::size_t> seen_;  // scratch for reaches()
  std::size_t stamp_ = 0;
  std::vector<StepTemplates> of_step_;  // by position
  std::map<const SiteHost*, json> hosts_;  // host_json()
};

// The value a for_each '{{name}}' names in vars or site.
json for_each_value(const Runbook& rb, const Step& step, const std::string& name, const json& shared) {
  Pos at = locate(rb.source, value_pos(rb, step.for_each), "{{", 0);
  auto first = split_name(name)[0];
  if (first == "host" || first == "item" || first == "steps")
    throw LoadError(at, "undefined template variable '" + name + "' (for_each names a list in vars or site; '" + first +
                            "' is not available there)");
  auto value = lookup(name, shared);
  if (!value) throw LoadError(at, undefined_message(name, shared));
  return *value;
}

std::string kind_of(const json& v) {
  if (v.is_object()) return "a map";
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number()) return "a number";
  return "empty";
}

}  // namespace

void validate(const Runbook& rb, const actions::Registry& registry) {
  std::map<std::string, const Step*> seen;
  auto ids = step_ids(rb);
  for (const auto& step : rb.steps) check_step(rb, step, registry, seen, ids);
  auto cycle = find_cycle(rb);
  if (!cycle.empty()) cycle_error(rb, cycle);
  TemplatePass templates(rb, registry);
  for (const auto& step : rb.steps) templates.check(step);
}

std::vector<std::string> topological_order(const Runbook& rb) {
  auto cycle = find_cycle(rb);
  if (!cycle.empty()) cycle_error(rb, cycle);
  std::vector<std::string> order;
  order.reserve(rb.steps.size());
  for (std::size_t at : ordered_positions(needs_graph(rb))) order.push_back(rb.steps[at].id);
  return order;
}

std::set<std::string> dependencies(const Runbook& rb, const std::string& id) {
  std::set<std::string> out;
  std::size_t from = position(rb, id);
  if (from == std::string::npos) return out;
  std::vector<bool> seen(rb.steps.size(), false);
  std::vector<std::size_t> todo{from};
  while (!todo.empty()) {
    const Step& s = rb.steps[todo.back()];
    todo.pop_back();
    for (const auto& [need, pos] : s.needs) {
      std::size_t at = position(rb, need);
      if (at == std::string::npos || seen[at]) continue;
      seen[at] = true;
      out.insert(need);
      todo.push_back(at);
    }
  }
  out.erase(id);
  return out;
}

std::vector<std::string> declared_outputs(const Step& step, const actions::Registry& registry) {
  if (step.run) return {"stdout", "stderr", "exit_code"};
  std::vector<std::string> out;
  if (const auto* a = step.uses ? registry.find(*step.uses) : nullptr)
    for (const auto& o : a->spec().outputs) out.push_back(o.name);
  return out;
}

json shared_context(const Runbook& rb) {
  json vars = rb.merged_vars();
  json ctx = vars;
  ctx["vars"] = vars;
  if (rb.site) {
    ctx["site"] = rb.site->to_json();
    ctx["secrets"] = rb.site->secrets;
  }
  ctx["runbook"] = {{"name", rb.name},
                    {"file", rb.file},
                    {"dir", std::filesystem::path(rb.file).parent_path().string()}};
  return ctx;
}

json render_context(const Runbook& rb, const Step& step, const SiteHost* host, const json* item, const json& outputs) {
  json ctx = shared_context(rb);
  if (host) ctx["host"] = host->to_json();
  if (item) ctx["item"] = *item;
  json steps = json::object();
  for (const auto& dep : dependencies(rb, step.id)) {
    if (!outputs.is_object() || !outputs.contains(dep)) continue;
    std::string pointer;
    for (const auto& part : split_name(dep)) pointer += "/" + part;
    steps[json::json_pointer(pointer + "/outputs")] = outputs[dep];
  }
  if (!steps.empty()) ctx["steps"] = steps;
  return ctx;
}

json for_each_items(const Runbook& rb, const Step& step) {
  const YAML::Node& node = step.for_each;
  if (!node || node.IsNull() || node.IsSequence()) return for_each_items(rb, step, json::object());
  return for_each_items(rb, step, shared_context(rb));
}

json for_each_items(const Runbook& rb, const Step& step, const json& shared) {
  const YAML::Node& node = step.for_each;
  if (!node || node.IsNull()) return nullptr;
  if (node.IsSequence()) return yaml_to_json(node);
  auto name = single_tag(node.Scalar());
  if (!name) throw LoadError(value_pos(rb, node), "for_each needs a list: a YAML list, or '{{name}}' naming a list in vars or site");
  json value = for_each_value(rb, step, *name, shared);
  if (!value.is_array())
    throw LoadError(value_pos(rb, node), "for_each needs a list: '" + *name + "' is " + kind_of(value));
  return value;
}

std::optional<json> to_input_type(const json& v, InputType type) {
  switch (type) {
    case InputType::String:
      if (v.is_string()) return v;
      if (v.is_number_integer()) return v.dump();
      if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
      return std::nullopt;
    case InputType::Integer:
      if (v.is_number_integer()) return v;
      if (v.is_string() && canonical_int(v.get<std::string>())) return std::stoll(v.get<std::string>());
      return std::nullopt;
    case InputType::Boolean: {
      if (v.is_boolean()) return v;
      if (!v.is_string()) return std::nullopt;
      std::string s = v.get<std::string>();
      std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
      if (s == "true") return true;
      if (s == "false") return false;
      return std::nullopt;
    }
    case InputType::Duration:
      if (v.is_number_integer() && v.get<long long>() >= 0) return v.dump();
      if (v.is_string() && parse_duration(v.get<std::string>())) return v;
      return std::nullopt;
    case InputType::List:
      if (v.is_array()) return v;
      return std::nullopt;
    case InputType::Map:
      if (v.is_object()) return v;
      return std::nullopt;
    case InputType::Any: return v;
  }
  return std::nullopt;
}

json render_inputs(const Runbook& rb, const Step& step, const actions::ActionSpec& spec, const json& context) {
  json out = json::object();
  for (auto it = step.with.begin(); it != step.with.end(); ++it) {
    const std::string key = it->first.Scalar();
    const auto* input = spec.input(key);
    Pos pos = value_pos(rb, it->second);
    if (!input) throw LoadError(pos_of(rb.file, it->first.Mark()), "unknown input '" + key + "' for " + spec.name);
    json value = render_value(with_value(it->second, input->type), context, pos);
    auto typed = to_input_type(value, input->type);
    if (!typed) wrong_type(pos, key, spec, value);
    out[key] = *typed;
  }
  for (const auto& input : spec.inputs) {
    if (out.contains(input.name)) continue;
    if (input.default_value) {
      out[input.name] = to_input_type(*input.default_value, input.type).value_or(*input.default_value);
    } else if (input.required) {
      Pos at = step.with_pos.line > 0 ? step.with_pos : step.uses_pos;
      throw LoadError(at, "missing input '" + input.name + "' for " + spec.name + " (step '" + step.id + "')");
    }
  }
  return out;
}

}  // namespace drctl::runbook
