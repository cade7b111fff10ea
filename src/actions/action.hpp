// Actions: named, declared units of work a runbook step `uses`. Each checks first whether
// its desired state is already there, and only then applies it (Ansible-style idempotence).
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "world/world.hpp"

namespace drctl::actions {

using json = nlohmann::json;

enum class InputType { String, Integer, Boolean, Duration, List, Map, Any };

/// "string", "integer", …: how types are named in messages and `drctl actions`.
const char* type_name(InputType t);

struct InputSpec {
  std::string name;
  InputType type = InputType::String;
  bool required = false;
  std::optional<json> default_value;  // used when the input is not given
  std::string help;
};

struct OutputSpec {
  std::string name;
  std::string help;
};

struct ActionSpec {
  std::string name;     // "shell.run"
  std::string summary;  // one line
  std::vector<InputSpec> inputs;
  std::vector<OutputSpec> outputs;
  const InputSpec* input(const std::string& name) const;
};

/// What an action gets to work with for one step instance.
struct Context {
  world::World& world;
  world::Host& host;                 // the step's `on` host; the local host when none
  const json& inputs;                // rendered, type-checked, defaults filled in
  world::Duration timeout;           // the step's timeout; zero: none
  std::function<void(const std::string&)> log;  // output kept whole in the journal
  /// What the journal recorded for this step instance when it last succeeded (null if never).
  const json& previous;
  /// Renders a Mustache template with the step's context (vars, site, host, item, outputs).
  std::function<std::string(const std::string&)> render;
  /// The step's `on` host as the site describes it (name, address, role, its vars such as
  /// `vm:`); null for a step without `on`.
  json target = nullptr;
  /// Marks a value the action learned (a token, a generated password) as a secret: from now on
  /// it is shown as «secret:NAME» wherever drctl writes.
  std::function<void(const std::string& name, const std::string& value)> secret = [](const std::string&, const std::string&) {};
  /// Renders a template with the step's context plus `extra` (e.g. {"node": …} for one file per node).
  std::function<std::string(const std::string& text, const json& extra)> render_with;
  /// The site as templates see it (`site`: hosts with their vm:, groups, vars); null without a site.
  json site = nullptr;
  /// How far a long step has got ("12.4 GiB read, 3100 files"), for the operator's status
  /// line; not journaled. May be called from any thread.
  std::function<void(const std::string&)> progress = [](const std::string&) {};
};

/// A failure with the reason in one line and, optionally, the output that explains it.
struct ActionError : std::runtime_error {
  ActionError(const std::string& what, std::string detail = {}) : std::runtime_error(what), detail(std::move(detail)) {}
  std::string detail;
};

/// Actions are shared by parallel steps: they keep no state (everything comes from Context).
class Action {
 public:
  virtual ~Action() = default;
  virtual const ActionSpec& spec() const = 0;
  /// True when the desired state is already there, so apply is skipped.
  virtual bool check(Context& ctx) const = 0;
  /// Brings the desired state about; returns the outputs (a JSON object). Throws ActionError.
  virtual json apply(Context& ctx) const = 0;
};

/// The set of actions runbooks can use, by name.
class Registry {
 public:
  void add(std::unique_ptr<Action> action);
  const Action* find(const std::string& name) const;
  std::vector<const Action*> all() const;  // sorted by name
  std::vector<std::string> names() const;

  /// Every built-in action.
  static const Registry& builtin();

 private:
  std::vector<std::unique_ptr<Action>> actions_;
};

}  // namespace drctl::actions
