// Mutation drills: a catalogue of misconfigurations, each applied alone to a copy of the site's
// files, and the scenario run against it. A mutation the drill fails on is caught (at which step,
// for which reason); one it passes is missed — a check the site's runbooks or the simulator
// lacks. Proves that a drill would notice what a real site fails on.
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "drill/report.hpp"
#include "drill/runner.hpp"

namespace drctl::drill {

/// One catalogue entry: an edit of one file (relative to the site file's directory), why a real
/// site fails with it, and (optionally) the step where reality fails.
struct Mutation {
  std::string name, why, file, replace, with, fails_at;
};

/// Reads a catalogue (`mutations: [{name, why, file, replace, with, fails_at}]`) and checks every
/// entry against the files under `base` before anything runs: the file exists and holds `replace`
/// exactly once. A bad entry is an InputError naming the catalogue and the entry.
std::vector<Mutation> load_mutations(const std::string& path, const std::filesystem::path& base);

struct MutationResult {
  Mutation mutation;
  bool caught = false;         // the drill failed
  bool where_expected = true;  // and at fails_at (when the entry names one)
  std::string step, reason;    // the first failing step (or "" for a failed check) and why
  double wall_seconds = 0;
};

/// Runs `scenario` once per mutation with `seed`, each on its own copy of the files under the
/// site file's directory, as many at once as there are cores; results in catalogue order.
std::vector<MutationResult> run_mutations(const Scenario& scenario, const std::vector<Mutation>& mutations,
                                          std::uint64_t seed, const std::function<void(const MutationResult&)>& done,
                                          int jobs = 0);

/// A line per mutation (CAUGHT at STEP: REASON / MISSED) and how many were caught.
std::string mutations_text(const std::vector<MutationResult>& results);
/// JUnit XML: one <testcase> per mutation, a <failure> for each missed (or caught elsewhere).
std::string mutations_junit(const std::string& scenario, const std::vector<MutationResult>& results);

}  // namespace drctl::drill
