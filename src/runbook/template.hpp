// Mustache templates over a JSON context (kainjow mustache), strict: a name that does not
// resolve is an error, never an empty string. No HTML escaping: {{x}} and {{{x}}} are the same.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "runbook/model.hpp"

namespace drctl::runbook {

/// Stands for a value only known when the runbook runs (a step output) during static checks:
/// it resolves any name below it, and a section over it may or may not render.
inline const std::string kUnknown = "\x1f(known when the step runs)";

/// A reason a template cannot be rendered against a context, and the tag it is about.
struct TemplateProblem {
  std::string message;     // "undefined template variable 'x' (did you mean 'y'?)"
  std::string name;        // the tag's name ("steps.init.outputs.token"); empty for syntax errors
  std::size_t offset = 0;  // where the tag starts in the template text
  std::string raw;         // the tag as written ("{{ steps.init.outputs.token }}")
  bool undefined = false;  // the name does not resolve (as opposed to a syntax or type problem)
};

/// True when `text` contains a tag (`{{`), so it must be rendered before use.
bool is_template(const std::string& text);

/// "steps.init.outputs.token" → {"steps", "init", "outputs", "token"}.
std::vector<std::string> split_name(const std::string& name);

/// The name when `text` is exactly one variable tag ("{{ workers }}" → "workers"), else nullopt.
std::optional<std::string> single_tag(const std::string& text);

/// Top-level names the template uses (first part of every tag name, in order, once each).
/// Names used inside a section may also resolve against the section's item.
std::vector<std::string> variables(const std::string& text);

/// The first problem rendering `text` against `context` would have; nullopt when it renders.
std::optional<TemplateProblem> check_template(const std::string& text, const json& context);

/// The value a dotted name resolves to at the top of `context` ("." is the context), or nullopt.
std::optional<json> lookup(const std::string& name, const json& context);

/// "undefined template variable 'NAME' (hint)", the hint from what the context does have.
std::string undefined_message(const std::string& name, const json& context);

/// Renders `text` against `context`; throws LoadError at `pos` for syntax errors and undefined names.
std::string render(const std::string& text, const json& context, const Pos& pos);

/// Renders every string in a JSON value; a string that is exactly one tag takes the named value itself.
json render_value(const json& value, const json& context, const Pos& pos);

}  // namespace drctl::runbook
