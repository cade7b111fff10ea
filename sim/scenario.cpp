#include "sim/scenario.hpp"

#include "base/duration.hpp"
#include "base/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <stdexcept>

namespace drctl::sim {

namespace {

/// What a fault's target names.
enum class Target { none, machine, service, file, dataset };

struct ActionRule {
  Target target;
  bool value;     // needs `value`
  bool undoable;  // may have a `duration`
};

const std::map<std::string, ActionRule> kActions = {
    {"power_off", {Target::machine, false, true}},      {"power_on", {Target::machine, false, false}},
    {"host_power_off", {Target::none, false, true}},    {"host_power_on", {Target::none, false, false}},
    {"link_down", {Target::machine, false, true}},      {"link_up", {Target::machine, false, false}},
    {"loss", {Target::machine, true, true}},            {"isolate", {Target::machine, false, true}},
    {"unisolate", {Target::machine, false, false}},     {"stop_service", {Target::service, false, true}},
    {"start_service", {Target::service, false, false}}, {"delete_file", {Target::file, false, false}},
    {"fill_disk", {Target::dataset, false, false}},     {"slow_installer", {Target::none, true, false}},
};

const std::vector<std::string> kKeys = {"action", "target", "value", "at", "on", "after", "duration"};

std::string format_duration(world::Duration d) {
  std::int64_t ms = d.count();
  std::string out;
  for (auto [unit, size] : std::vector<std::pair<const char*, std::int64_t>>{{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}})
    if (ms >= size) {
      out += std::to_string(ms / size) + unit;
      ms %= size;
    }
  return out.empty() ? "0s" : out;
}

std::string action_names() {
  std::string out;
  for (const auto& [name, rule] : kActions) out += (out.empty() ? "" : ", ") + name;
  return out;
}

void check_target(const FaultSpec& f, Target kind, const std::string& field) {
  auto fail = [&](const std::string& why) { throw std::invalid_argument(field + ": " + why); };
  const std::string& t = f.target;
  if (kind == Target::none) {
    if (!t.empty()) fail(f.action + " takes no target, got '" + t + "'");
    return;
  }
  if (t.empty()) {
    const char* what = kind == Target::service ? "a service as machine/unit, e.g. pxe-server/tftpd-hpa"
                       : kind == Target::file  ? "a file as machine:/path"
                       : kind == Target::dataset ? "a NAS dataset, e.g. tank/backups"
                                                 : "a VM, machine or node name";
    fail(f.action + " needs a target: " + what);
  }
  if (std::any_of(t.begin(), t.end(), [](unsigned char c) { return std::isspace(c); }))
    fail("'" + t + "' contains white space");
  if (kind == Target::service) {
    auto slash = t.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == t.size() || t.find('/', slash + 1) != std::string::npos)
      fail("'" + t + "' is not machine/unit (e.g. pxe-server/tftpd-hpa)");
  }
  if (kind == Target::file) {
    auto colon = t.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == t.size() || t[colon + 1] != '/')
      fail("'" + t + "' is not machine:/absolute/path");
  }
}

world::Duration read_duration(const nlohmann::json& v, const std::string& field) {
  const auto d = duration_value(v);
  const std::string given = v.is_string() ? "'" + v.get<std::string>() + "'" : v.dump();
  if (!d) throw std::invalid_argument(field + ": " + given + " is not a duration (" + std::string(kDurationExamples) + ")");
  return *d;
}

FaultSpec read_fault(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw std::invalid_argument(where + ": must be a mapping with an action, got " + j.dump());
  for (auto it = j.begin(); it != j.end(); ++it)
    if (std::find(kKeys.begin(), kKeys.end(), it.key()) == kKeys.end())
      throw std::invalid_argument(where + "." + it.key() + ": unknown key" + did_you_mean(it.key(), kKeys));
  FaultSpec f;
  f.where = where;

  if (!j.contains("action") || !j["action"].is_string())
    throw std::invalid_argument(where + ".action: missing or not a string (one of " + action_names() + ")");
  f.action = j["action"].get<std::string>();
  auto rule = kActions.find(f.action);
  if (rule == kActions.end()) {
    std::vector<std::string> names;
    for (const auto& [name, r] : kActions) names.push_back(name);
    throw std::invalid_argument(where + ".action: '" + f.action + "' is not a fault" + did_you_mean(f.action, names));
  }

  if (j.contains("target")) {
    if (!j["target"].is_string()) throw std::invalid_argument(where + ".target: must be a string, got " + j["target"].dump());
    f.target = j["target"].get<std::string>();
  }
  check_target(f, rule->second.target, where + ".target");

  if (rule->second.value) {
    if (!j.contains("value") || !j["value"].is_number())
      throw std::invalid_argument(where + ".value: " + f.action + " needs a number (" +
                                  (f.action == "loss" ? "the loss probability, 0 to 1" : "the slowdown factor, e.g. 3") + ")");
    f.value = j["value"].get<double>();
    if (f.action == "loss" && (f.value < 0 || f.value > 1))
      throw std::invalid_argument(where + ".value: a loss probability is between 0 and 1, got " + j["value"].dump());
    if (f.action == "slow_installer" && f.value <= 0)
      throw std::invalid_argument(where + ".value: a slowdown factor is above 0, got " + j["value"].dump());
  } else if (j.contains("value")) {
    throw std::invalid_argument(where + ".value: " + f.action + " takes no value");
  }

  if (j.contains("at") == j.contains("on"))
    throw std::invalid_argument(where + (j.contains("at") ? ": give either 'at' or 'on', not both"
                                                          : ": needs 'at' (a time, like 5m) or 'on' (an event to wait for)"));
  if (j.contains("at")) f.at = read_duration(j["at"], where + ".at");
  if (j.contains("on")) {
    const auto& on = j["on"];
    if (!on.is_object() || on.empty())
      throw std::invalid_argument(where + ".on: must be a mapping of event fields, like {component: k8s-node2, event: "
                                  "install-started}, got " + on.dump());
    f.on = on;
  }
  if (j.contains("after")) {
    if (!f.on) throw std::invalid_argument(where + ".after: only goes with 'on' (a delay after the event)");
    f.after = read_duration(j["after"], where + ".after");
  }
  if (j.contains("duration")) {
    if (!rule->second.undoable)
      throw std::invalid_argument(where + ".duration: " + f.action + " cannot be undone; leave out duration");
    f.duration = read_duration(j["duration"], where + ".duration");
    if (f.duration->count() <= 0) throw std::invalid_argument(where + ".duration: must be longer than 0s");
  }
  return f;
}

bool matches(const nlohmann::json& on, const nlohmann::json& event) {
  if (!event.is_object()) return false;
  for (auto it = on.begin(); it != on.end(); ++it)
    if (!event.contains(it.key()) || event[it.key()] != it.value()) return false;
  return true;
}

}  // namespace

std::vector<FaultSpec> read_faults(const nlohmann::json& faults) {
  if (faults.is_null()) return {};
  if (!faults.is_array()) throw std::invalid_argument("faults: must be a list of faults, got " + faults.dump());
  std::vector<FaultSpec> out;
  for (std::size_t i = 0; i < faults.size(); ++i) out.push_back(read_fault(faults[i], "faults[" + std::to_string(i) + "]"));
  return out;
}

FaultSchedule::FaultSchedule(Engine& engine, std::vector<FaultSpec> faults, Apply apply)
    : engine_(engine),
      faults_(std::move(faults)),
      apply_(std::move(apply)),
      triggered_(faults_.size(), false),
      fired_(faults_.size(), false) {}

void FaultSchedule::arm() {
  if (armed_) throw std::logic_error("FaultSchedule::arm called twice: its faults would fire twice");
  armed_ = true;
  for (std::size_t i = 0; i < faults_.size(); ++i)
    if (faults_[i].at) engine_.at(*faults_[i].at, [this, i] { fire(i, "at"); });
}

void FaultSchedule::observe(const nlohmann::json& event) {
  for (std::size_t i = 0; i < faults_.size(); ++i) {
    const FaultSpec& f = faults_[i];
    if (!f.on || triggered_[i] || !matches(*f.on, event)) continue;
    triggered_[i] = true;
    engine_.at(engine_.now() + f.after.value_or(world::Duration(0)), [this, i] { fire(i, "on"); });
  }
}

void FaultSchedule::fire(std::size_t i, const std::string& trigger) {
  const FaultSpec& f = faults_[i];
  fired_[i] = true;
  engine_.log("faults", "fault", {{"action", f.action}, {"target", f.target}, {"trigger", trigger}, {"where", f.where}});
  apply_(f, false);
  if (f.duration)
    engine_.background(engine_.now() + *f.duration, [this, &f] {
      engine_.log("faults", "fault-undone", {{"action", f.action}, {"target", f.target}, {"where", f.where}});
      apply_(f, true);
    });
}

std::vector<std::string> FaultSchedule::not_fired() const {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < faults_.size(); ++i) {
    if (fired_[i]) continue;
    const FaultSpec& f = faults_[i];
    std::string line = f.where + ": " + f.action + (f.target.empty() ? "" : " " + f.target);
    line += f.at ? " at " + format_duration(*f.at) : " on " + f.on->dump();
    if (f.after) line += " after " + format_duration(*f.after);
    out.push_back(line);
  }
  return out;
}

}  // namespace drctl::sim
