#include "runbook/template.hpp"
#include "base/text.hpp"

#include <kainjow/mustache.hpp>

#include <set>

namespace drctl::runbook {

std::vector<std::string> split_name(const std::string& name) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto dot = name.find('.', start);
    parts.push_back(name.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts;
}

namespace {

enum class TagKind { Variable, Section, Inverted, End, Comment, Partial, Delimiter };

struct Tag {
  TagKind kind = TagKind::Variable;
  std::string name;
  std::size_t offset = 0;
  std::string raw;
};

// A tag and, for a section, the tags inside it.
struct Node {
  Tag tag;
  std::vector<Node> children;
};

// Thrown inside this file for a template that does not parse.
struct SyntaxError {
  TemplateProblem problem;
};

using text::trim;


std::string join(const std::vector<std::string>& parts, std::size_t from, std::size_t to, const char* sep = ".") {
  std::string out;
  for (std::size_t i = from; i < to; ++i) out += (i > from ? sep : "") + parts[i];
  return out;
}

[[noreturn]] void syntax_error(const std::string& message, std::size_t offset, const std::string& raw) {
  throw SyntaxError{TemplateProblem{"template: " + message, "", offset, raw, false}};
}

// "{{=<% %>=}}" → new delimiters; false when malformed (the rules of kainjow and the spec).
bool parse_delimiters(const std::string& contents, std::string& open, std::string& close) {
  if (contents.size() < 5 || contents.back() != '=') return false;
  std::string inner = trim(contents.substr(1, contents.size() - 2));
  auto space = inner.find(' ');
  if (space == std::string::npos) return false;
  std::string a = inner.substr(0, space), b = trim(inner.substr(space));
  for (const auto& d : {a, b})
    if (d.empty() || d.find_first_of("= \t") != std::string::npos) return false;
  open = a;
  close = b;
  return true;
}

// Splits a template into tags the way kainjow does (delimiter changes, {{{x}}}, sections).
std::vector<Node> parse(const std::string& text) {
  std::vector<Node> root;
  std::vector<std::vector<Node>*> levels{&root};
  std::vector<Node*> open_sections;
  std::string open = "{{", close = "}}";
  std::size_t i = 0;
  while (true) {
    std::size_t start = text.find(open, i);
    if (start == std::string::npos) break;
    bool braces = open == "{{" && close == "}}";
    bool triple = braces && start + open.size() < text.size() && text[start + open.size()] == '{';
    std::size_t content = start + open.size() + (triple ? 1 : 0);
    std::string end = triple ? "}}}" : close;
    std::size_t stop = text.find(end, content);
    if (stop == std::string::npos) syntax_error("unclosed tag '" + open + "'", start, open);
    std::string contents = trim(text.substr(content, stop - content));
    Tag tag;
    tag.offset = start;
    tag.raw = text.substr(start, stop + end.size() - start);
    i = stop + end.size();
    if (triple) {
      tag.kind = TagKind::Variable;
      tag.name = contents;
    } else if (!contents.empty() && contents[0] == '=') {
      if (!parse_delimiters(contents, open, close)) syntax_error("bad delimiter tag '" + tag.raw + "'", start, tag.raw);
      continue;
    } else {
      char first = contents.empty() ? '\0' : contents[0];
      switch (first) {
        case '#': tag.kind = TagKind::Section; break;
        case '^': tag.kind = TagKind::Inverted; break;
        case '/': tag.kind = TagKind::End; break;
        case '>': tag.kind = TagKind::Partial; break;
        case '!': tag.kind = TagKind::Comment; break;
        default: tag.kind = TagKind::Variable; break;
      }
      bool prefixed = tag.kind != TagKind::Variable || first == '&';
      tag.name = prefixed ? trim(contents.substr(1)) : contents;
    }
    if (tag.kind == TagKind::Comment) continue;
    if (tag.name.empty()) syntax_error("empty tag '" + tag.raw + "'", start, tag.raw);
    if (tag.kind == TagKind::End) {
      if (open_sections.empty()) syntax_error("'" + tag.raw + "' closes no open section", start, tag.raw);
      const Tag& opened = open_sections.back()->tag;
      if (opened.name != tag.name)
        syntax_error("section '" + opened.name + "' is closed by '" + tag.raw + "'", start, tag.raw);
      open_sections.pop_back();
      levels.pop_back();
      continue;
    }
    levels.back()->push_back(Node{tag, {}});
    if (tag.kind == TagKind::Section || tag.kind == TagKind::Inverted) {
      open_sections.push_back(&levels.back()->back());
      levels.push_back(&open_sections.back()->children);
    }
  }
  if (!open_sections.empty()) {
    const Tag& t = open_sections.back()->tag;
    syntax_error("unclosed section '" + t.raw + "'", t.offset, t.raw);
  }
  return root;
}

bool is_unknown(const json& v) { return v.is_string() && v.get_ref<const std::string&>() == kUnknown; }

const json& unknown_value() {
  static const json v = kUnknown;
  return v;
}

// What a name resolves to: a value, or "opaque" when it reaches a value only known at run time.
struct Resolved {
  const json* value = nullptr;
  bool opaque = false;
};

Resolved resolve_in(const json& frame, const std::vector<std::string>& parts) {
  const json* v = &frame;
  for (const auto& part : parts) {
    if (is_unknown(*v)) return {nullptr, true};
    if (!v->is_object()) return {};
    auto it = v->find(part);
    if (it == v->end()) return {};
    v = &*it;
  }
  return {v, is_unknown(*v)};
}

// Like kainjow's context: the innermost section value first, then outwards.
Resolved resolve(const std::string& name, const std::vector<const json*>& stack) {
  if (name == ".") return {stack.back(), is_unknown(*stack.back())};
  auto parts = split_name(name);
  for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
    if (is_unknown(**it)) return {nullptr, true};
    Resolved r = resolve_in(**it, parts);
    if (r.value || r.opaque) return r;
  }
  return {};
}

// A section may test an optional field: `{{#host.vlan}}` when host exists but has no vlan.
bool absent_field_of_object(const std::string& name, const std::vector<const json*>& stack) {
  auto parts = split_name(name);
  if (parts.size() < 2) return false;
  parts.pop_back();
  for (auto it = stack.rbegin(); it != stack.rend(); ++it) {
    Resolved r = resolve_in(**it, parts);
    if (r.value && r.value->is_object()) return true;
  }
  return false;
}

const char* kind_of(const json& v) {
  if (v.is_object()) return "map";
  if (v.is_array()) return "list";
  if (v.is_boolean()) return "boolean";
  if (v.is_number()) return "number";
  if (v.is_null()) return "null";
  return "string";
}

// Walks the tags as kainjow would render them and returns the first that cannot be rendered.
class Checker {
 public:
  explicit Checker(const json& root) : root_(root), stack_{&root} {}

  std::optional<TemplateProblem> walk(const std::vector<Node>& nodes) {
    for (const auto& node : nodes) {
      auto p = visit(node);
      if (p) return p;
    }
    return std::nullopt;
  }

 private:
  std::optional<TemplateProblem> visit(const Node& node) {
    const Tag& tag = node.tag;
    if (tag.kind == TagKind::Partial) return problem(tag, "template: partials ('" + tag.raw + "') are not supported", false);
    Resolved r = resolve(tag.name, stack_);
    if (tag.kind == TagKind::Variable) {
      if (r.opaque) return std::nullopt;
      if (!r.value) return problem(tag, undefined_message(tag.name, root_), true);
      if (r.value->is_array())
        return problem(tag, "template variable '" + tag.name + "' is a list; repeat over it with {{#" + tag.name +
                                "}}…{{/" + tag.name + "}}", false);
      if (r.value->is_object() && tag.name == ".")
        return problem(tag, "'{{.}}' is a map here; use it inside a section over a list of values", false);
      if (r.value->is_object())
        return problem(tag, "template variable '" + tag.name + "' is a map; name one of its fields ('" + tag.name +
                                ".NAME')", false);
      return std::nullopt;
    }
    if (r.opaque) return tag.kind == TagKind::Section ? with_frame(unknown_value(), node) : walk(node.children);
    if (!r.value) {
      if (absent_field_of_object(tag.name, stack_)) return tag.kind == TagKind::Inverted ? walk(node.children) : std::nullopt;
      return problem(tag, undefined_message(tag.name, root_), true);
    }
    const json& v = *r.value;
    if (v.is_boolean())
      return problem(tag, "section over boolean '" + tag.name +
                              "': templates render true/false as text; test a flag with the step's 'when:'", false);
    bool empty = v.is_null() || (v.is_array() && v.empty());
    if (tag.kind == TagKind::Inverted) return empty ? walk(node.children) : std::nullopt;
    if (empty) return std::nullopt;
    if (!v.is_array()) return with_frame(v, node);
    for (const auto& item : v) {
      auto p = with_frame(item, node);
      if (p) return p;
    }
    return std::nullopt;
  }

  std::optional<TemplateProblem> with_frame(const json& frame, const Node& node) {
    stack_.push_back(&frame);
    auto p = walk(node.children);
    stack_.pop_back();
    return p;
  }

  static TemplateProblem problem(const Tag& tag, std::string message, bool undefined) {
    return TemplateProblem{std::move(message), tag.name, tag.offset, tag.raw, undefined};
  }

  const json& root_;
  std::vector<const json*> stack_;
};

kainjow::mustache::data to_data(const json& v) {
  using kainjow::mustache::data;
  switch (v.type()) {
    case json::value_t::object: {
      data out{data::type::object};
      for (const auto& [key, value] : v.items()) out.set(key, to_data(value));
      return out;
    }
    case json::value_t::array: {
      data out{data::type::list};
      for (const auto& item : v) out.push_back(to_data(item));
      return out;
    }
    case json::value_t::string: return data{v.get<std::string>()};
    case json::value_t::boolean: return data{std::string(v.get<bool>() ? "true" : "false")};
    case json::value_t::null: return data{false};
    default: return data{v.dump()};
  }
}

std::string hint_for(const std::vector<std::string>& parts, const json& context) {
  const std::string& first = parts[0];
  if (!context.is_object() || !context.contains(first)) {
    if (first == "item") return "'item' is only defined in steps with for_each";
    if (first == "host") return "'host' is only defined in steps with 'on'";
    if (first == "site") return "the runbook names no site";
    if (first == "steps") return "only the outputs of steps this step needs are available";
    std::vector<std::string> keys;
    if (context.is_object())
      for (const auto& [key, value] : context.items()) keys.push_back(key);
    auto c = closest(first, keys);
    return c ? "did you mean '" + *c + "'?" : "";
  }
  const json* v = &context[first];
  for (std::size_t k = 1; k < parts.size(); ++k) {
    std::string prefix = join(parts, 0, k);
    if (!v->is_object()) return "'" + prefix + "' is a " + kind_of(*v) + ", not a map";
    if (v->contains(parts[k])) {
      v = &(*v)[parts[k]];
      continue;
    }
    std::vector<std::string> keys;
    for (const auto& [key, value] : v->items()) keys.push_back(key);
    if (first == "steps" && k >= 3 && parts[k - 1] == "outputs") {
      std::string id = join(parts, 1, k - 1);
      return keys.empty() ? id + " declares no outputs" : id + " declares: " + join(keys, 0, keys.size(), ", ");
    }
    if (auto c = closest(parts[k], keys)) return "did you mean '" + prefix + "." + *c + "'?";
    if (keys.empty()) return "'" + prefix + "' is empty";
    if (keys.size() <= 12) return "'" + prefix + "' has: " + join(keys, 0, keys.size(), ", ");
    return "";
  }
  return "";
}

}  // namespace

bool is_template(const std::string& text) { return text.find("{{") != std::string::npos; }

std::optional<std::string> single_tag(const std::string& text) {
  std::string t = trim(text);
  if (t.size() < 5 || t.compare(0, 2, "{{") != 0 || t.compare(t.size() - 2, 2, "}}") != 0) return std::nullopt;
  std::string inner = t.substr(2, t.size() - 4);
  if (inner.find("{{") != std::string::npos || inner.find("}}") != std::string::npos) return std::nullopt;
  std::string name = trim(inner);
  if (name.empty() || std::string("#^/>&!={").find(name[0]) != std::string::npos) return std::nullopt;
  return name;
}

std::vector<std::string> variables(const std::string& text) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  std::vector<Node> nodes;
  try {
    nodes = parse(text);
  } catch (const SyntaxError&) {
    return out;
  }
  auto visit = [&](auto& self, const std::vector<Node>& level) -> void {
    for (const auto& n : level) {
      if (n.tag.name != "." && n.tag.kind != TagKind::Partial) {
        std::string first = split_name(n.tag.name)[0];
        if (seen.insert(first).second) out.push_back(first);
      }
      self(self, n.children);
    }
  };
  visit(visit, nodes);
  return out;
}

std::optional<TemplateProblem> check_template(const std::string& text, const json& context) {
  try {
    auto nodes = parse(text);
    return Checker(context).walk(nodes);
  } catch (const SyntaxError& e) {
    return e.problem;
  }
}

std::optional<json> lookup(const std::string& name, const json& context) {
  Resolved r = resolve(name, {&context});
  if (!r.value) return std::nullopt;
  return *r.value;
}

std::string undefined_message(const std::string& name, const json& context) {
  std::string hint = name == "." ? "" : hint_for(split_name(name), context);
  return "undefined template variable '" + name + "'" + (hint.empty() ? "" : " (" + hint + ")");
}

namespace {

/// The part of `context` the template can reach: its top-level names the template's tags start
/// with (a name inside a section is looked up in the item, then here: the same names). The whole
/// context for a template with `{{.}}`, a partial or a change of delimiters. A site's context is
/// large and a step's template names a few of it: converting only those is most of a render.
kainjow::mustache::data reachable_data(const std::vector<Node>& nodes, const json& context) {
  if (!context.is_object()) return to_data(context);
  std::set<std::string> names;
  bool whole = false;
  auto visit = [&](auto& self, const std::vector<Node>& level) -> void {
    for (const auto& n : level) {
      if (n.tag.kind == TagKind::Partial || n.tag.kind == TagKind::Delimiter || n.tag.name == ".") whole = true;
      else if (n.tag.kind != TagKind::Comment && n.tag.kind != TagKind::End) names.insert(split_name(n.tag.name)[0]);
      self(self, n.children);
    }
  };
  visit(visit, nodes);
  if (whole) return to_data(context);
  kainjow::mustache::data out{kainjow::mustache::data::type::object};
  for (const auto& name : names)
    if (auto it = context.find(name); it != context.end()) out.set(name, to_data(*it));
  return out;
}

}  // namespace

std::string render(const std::string& text, const json& context, const Pos& pos) {
  if (!is_template(text)) return text;
  // Parsed once: checked against the context, then used to pick the context's reachable part.
  std::vector<Node> nodes;
  try {
    nodes = parse(text);
  } catch (const SyntaxError& e) {
    throw LoadError(pos, e.problem.message);
  }
  if (auto p = Checker(context).walk(nodes)) throw LoadError(pos, p->message);
  kainjow::mustache::mustache m(text);
  if (!m.is_valid()) throw LoadError(pos, "template: " + m.error_message());
  m.set_custom_escape([](const std::string& s) { return s; });
  std::string out = m.render(reachable_data(nodes, context));
  if (!m.is_valid()) throw LoadError(pos, "template: " + m.error_message());
  return out;
}

json render_value(const json& value, const json& context, const Pos& pos) {
  if (value.is_string()) {
    const auto& text = value.get_ref<const std::string&>();
    if (auto name = single_tag(text)) {
      auto v = lookup(*name, context);
      if (!v) throw LoadError(pos, undefined_message(*name, context));
      return *v;
    }
    return render(text, context, pos);
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) out.push_back(render_value(item, context, pos));
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, item] : value.items()) out[key] = render_value(item, context, pos);
    return out;
  }
  return value;
}

}  // namespace drctl::runbook
