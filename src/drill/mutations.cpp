#include "drill/mutations.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include "base/error.hpp"
#include "base/yaml_json.hpp"
#include "drill/work.hpp"

namespace drctl::drill {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

/// `p` inside `base` (both normalized), or "" when it is not.
fs::path inside(const fs::path& p, const fs::path& base) {
  const fs::path rel = p.lexically_normal().lexically_relative(base.lexically_normal());
  if (rel.empty() || *rel.begin() == "..") return {};
  return rel;
}

}  // namespace

std::vector<Mutation> load_mutations(const std::string& path, const fs::path& base) {
  if (!std::ifstream(path)) throw InputError(path + ": cannot read the mutation catalogue");
  const json doc = yaml_to_json(load_yaml_file(path));
  if (!doc.is_object() || !doc.contains("mutations") || !doc["mutations"].is_array())
    throw InputError(path + ": a catalogue is a map with `mutations:`, a list of {name, why, file, replace, with, fails_at}");
  std::vector<Mutation> out;
  for (std::size_t i = 0; i < doc["mutations"].size(); ++i) {
    const json& e = doc["mutations"][i];
    const std::string where = path + ": mutations[" + std::to_string(i) + "]";
    if (!e.is_object()) throw InputError(where + ": expected a map");
    for (const auto& [key, v] : e.items()) {
      if (key != "name" && key != "why" && key != "file" && key != "replace" && key != "with" && key != "fails_at")
        throw InputError(where + ": unknown key '" + key + "' (known: name, why, file, replace, with, fails_at)");
      if (!v.is_string()) throw InputError(where + "." + key + ": expected text");
    }
    Mutation m{e.value("name", ""), e.value("why", ""), e.value("file", ""), e.value("replace", ""), e.value("with", ""),
               e.value("fails_at", "")};
    for (auto [key, value] : {std::pair{"name", &m.name}, {"why", &m.why}, {"file", &m.file}, {"replace", &m.replace}})
      if (value->empty()) throw InputError(where + ": `" + key + "` is required");
    if (!e.contains("with")) throw InputError(where + " (" + m.name + "): `with` is required (\"\" removes the text)");
    for (const auto& other : out)
      if (other.name == m.name) throw InputError(where + ": the name '" + m.name + "' is used twice");
    const fs::path file = (base / m.file).lexically_normal();
    if (inside(file, base).empty()) throw InputError(where + " (" + m.name + "): file " + m.file + " is outside " + base.string());
    if (!fs::is_regular_file(file)) throw InputError(where + " (" + m.name + "): file " + file.string() + " does not exist");
    const std::size_t n = occurrences(read_text(file), m.replace);
    if (n != 1)
      throw InputError(where + " (" + m.name + "): `replace` occurs " + std::to_string(n) + " times in " + m.file +
                       " (it must occur once)");
    out.push_back(std::move(m));
  }
  if (out.empty()) throw InputError(path + ": the catalogue has no mutations");
  return out;
}

namespace {

MutationResult run_one(const Scenario& scenario, const Mutation& m, std::uint64_t seed, int jobs) {
  const auto wall = std::chrono::steady_clock::now();
  const fs::path base = scenario.site.parent_path();
  const ScratchDir scratch("drctl-mutation");
  const fs::path copy = scratch.path() / "site";
  fs::copy(base, copy, fs::copy_options::recursive);
  const fs::path file = copy / m.file;
  std::string text = read_text(file);
  text.replace(text.find(m.replace), m.replace.size(), m.with);
  std::ofstream(file, std::ios::binary | std::ios::trunc) << text;

  // The scenario with its files in the copy (those under the site's directory).
  Scenario mutated = scenario;
  for (fs::path* f : {&mutated.site, &mutated.backup, &mutated.rebuild})
    if (const fs::path rel = inside(*f, base); !rel.empty()) *f = copy / rel;

  MutationResult r;
  r.mutation = m;
  RunResult run;
  try {
    run = run_drill(mutated, seed, [](const std::string&) {}, jobs);
  } catch (const std::exception& e) {  // bad input the mutation made (a site that no longer loads)
    run.passed = false;
    run.failures.push_back(e.what());
  }
  r.caught = !run.passed;
  if (run.first_failure) {
    r.step = run.first_failure->id;
    r.reason = run.first_failure->error;
  } else if (!run.failures.empty()) {
    r.reason = run.failures.front();
  }
  if (r.caught && !m.fails_at.empty()) {
    std::string step = r.step;
    if (step.starts_with("before:")) step = step.substr(7);  // failed while the site was brought up
    r.where_expected = step.rfind(m.fails_at, 0) == 0;
  }
  r.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  return r;
}

}  // namespace

std::vector<MutationResult> run_mutations(const Scenario& scenario, const std::vector<Mutation>& mutations,
                                          std::uint64_t seed, const std::function<void(const MutationResult&)>& done,
                                          int jobs) {
  std::vector<MutationResult> results(mutations.size());
  run_parallel(
      mutations.size(), [&](std::size_t i) { results[i] = run_one(scenario, mutations[i], seed, jobs); },
      [&](std::size_t i) { done(results[i]); });
  return results;
}

std::string mutations_text(const std::vector<MutationResult>& results) {
  std::string out;
  std::size_t caught = 0;
  for (const auto& r : results) {
    if (r.caught) {
      ++caught;
      out += fmt::format("CAUGHT {} at {}: {}\n", r.mutation.name, r.step.empty() ? "the drill's checks" : r.step, r.reason);
      if (!r.where_expected) out += fmt::format("       (reality fails at {})\n", r.mutation.fails_at);
    } else {
      out += fmt::format("MISSED {}: the drill passed; a real site fails: {}\n", r.mutation.name, r.mutation.why);
    }
  }
  out += fmt::format("{} of {} mutations caught\n", caught, results.size());
  return out;
}

std::string mutations_junit(const std::string& scenario, const std::vector<MutationResult>& results) {
  std::size_t failures = 0;
  double time = 0;
  std::string cases;
  for (const auto& r : results) {
    time += r.wall_seconds;
    cases += fmt::format("    <testcase name=\"{}\" classname=\"mutations.{}\" time=\"{:.3f}\">\n", junit_escape(r.mutation.name, true),
                         junit_escape(scenario, true), r.wall_seconds);
    if (!r.caught || !r.where_expected) {
      ++failures;
      const std::string message = !r.caught ? "missed: the drill passed"
                                            : "caught at " + r.step + ", not at " + r.mutation.fails_at;
      cases += fmt::format("      <failure message=\"{}\" type=\"mutation\">{}</failure>\n", junit_escape(message, true),
                           junit_escape("why a real site fails: " + r.mutation.why + (r.reason.empty() ? "" : "\n" + r.reason), false));
    }
    cases += "    </testcase>\n";
  }
  return fmt::format("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"mutations.{}\" tests=\"{}\" "
                     "failures=\"{}\" time=\"{:.3f}\">\n{}  </testsuite>\n</testsuites>\n",
                     junit_escape(scenario, true), results.size(), failures, time, cases);
}

}  // namespace drctl::drill
