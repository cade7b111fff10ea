// Checking a loaded runbook against the actions it uses and the site it runs on, and the
// helpers the planner and executor share with it: step order, dependencies, for_each items,
// the template context of a step instance, and rendered, typed action inputs.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "actions/action.hpp"
#include "runbook/model.hpp"

namespace drctl::runbook {

/// Throws a LoadError for the first problem, in three passes, each in file order: per step
/// (duplicate id, unknown action, `on` target, `needs`, action inputs), then dependency
/// cycles, then templates (undefined variables, for_each over a non-list).
void validate(const Runbook& rb, const actions::Registry& registry);

/// Step ids in an order that respects `needs`; among steps ready together, file order. Throws on a cycle.
std::vector<std::string> topological_order(const Runbook& rb);

/// Every step `id` needs, directly or through other steps.
std::set<std::string> dependencies(const Runbook& rb, const std::string& id);

/// The outputs a step declares: its action's, or stdout, stderr and exit_code for a `run` step.
std::vector<std::string> declared_outputs(const Step& step, const actions::Registry& registry);

/// The template context every step shares: merged vars at top level and under `vars`, `site`
/// (only when the runbook names one) and `runbook` (name, file, dir).
json shared_context(const Runbook& rb);

/// The template context of one step instance: shared_context plus `host` (when not null), `item`
/// (when not null) and `steps.<id>.outputs` for the steps it needs, taken from `outputs`
/// (a JSON object: step id → that step's outputs object).
json render_context(const Runbook& rb, const Step& step, const SiteHost* host, const json* item, const json& outputs);

/// A step's for_each items: its YAML list, or the vars/site list its '{{name}}' names; null without for_each.
json for_each_items(const Runbook& rb, const Step& step);

/// The same, `shared` being shared_context(rb), made once for many steps.
json for_each_items(const Runbook& rb, const Step& step, const json& shared);

/// `value` as an input of type `type`: text to integer or boolean, numbers and booleans to text
/// for strings; a duration stays text as written ("90s"; a plain integer becomes "90", seconds),
/// checked to parse. nullopt when the value is not of that type.
std::optional<json> to_input_type(const json& value, actions::InputType type);

/// The step's `with` rendered against `context`, converted to the declared types, defaults filled
/// in: what an action's Context::inputs holds. Throws LoadError at the offending value.
json render_inputs(const Runbook& rb, const Step& step, const actions::ActionSpec& spec, const json& context);

}  // namespace drctl::runbook
