// `drctl drill`: scenarios run in the simulator, with their reports.
#include <algorithm>
#include <climits>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "drill/report.hpp"
#include "drill/mutations.hpp"
#include "drill/runner.hpp"
#include "drill/work.hpp"
#include "runbook/private_output.hpp"
#include "base/error.hpp"

namespace drctl::cli {

namespace {

/// "7" or "1..20" → the seeds.
std::vector<std::uint64_t> parse_seeds(const std::string& text) {
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 18 || s.find_first_not_of("0123456789") != std::string::npos)
      throw InputError("--seeds: '" + text + "' is not a seed or a range like 1..20");
    return std::stoull(s);
  };
  const auto dots = text.find("..");
  if (dots == std::string::npos) return {number(text)};
  const std::uint64_t a = number(text.substr(0, dots)), b = number(text.substr(dots + 2));
  if (b < a || b - a > 100000) throw InputError("--seeds: '" + text + "' is not a range A..B with A <= B");
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = a; s <= b; ++s) out.push_back(s);
  return out;
}

/// `--shard I/N`: the seeds at positions I, I+N, I+2N, … (1-based) — N shards cover every seed
/// exactly once, each with about as many, so a sweep splits over a CI matrix.
std::vector<std::uint64_t> shard_of(const std::vector<std::uint64_t>& seeds, const std::string& text) {
  const auto slash = text.find('/');
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
      throw InputError("--shard: '" + text + "' is not I/N (this is shard I of N, 1 <= I <= N), e.g. 2/4");
    return std::stoul(s);
  };
  if (slash == std::string::npos) number("");
  const unsigned long i = number(text.substr(0, slash)), n = number(text.substr(slash + 1));
  if (n == 0 || i == 0 || i > n) throw InputError("--shard: '" + text + "' is not I/N with 1 <= I <= N");
  std::vector<std::uint64_t> out;
  for (std::size_t k = i - 1; k < seeds.size(); k += n) out.push_back(seeds[k]);
  return out;
}

/// `drill SCENARIO --mutations FILE`: the scenario once per catalogue entry, each on its own copy.
int cmd_mutations(const drill::Scenario& scenario, const std::string& catalogue, std::uint64_t seed, const std::string& junit,
                  int jobs) {
  const auto mutations = drill::load_mutations(catalogue, scenario.site.parent_path());  // every entry checked first
  std::fprintf(stderr, "drctl: %s: %zu mutations, seed %llu\n", scenario.name.c_str(), mutations.size(),
               static_cast<unsigned long long>(seed));
  const auto results = drill::run_mutations(scenario, mutations, seed, [](const drill::MutationResult& r) {
    std::fprintf(stderr, "drctl: %s %s\n", r.caught ? "caught" : "MISSED", r.mutation.name.c_str());
  }, jobs);
  std::fputs(drill::mutations_text(results).c_str(), stdout);
  if (!junit.empty()) runbook::write_private_file(junit, drill::mutations_junit(scenario.name, results));
  for (const auto& r : results)
    if (!r.caught || !r.where_expected) return kFailed;
  return kOk;
}

int cmd_drill(const std::vector<std::string>& files, const std::string& seeds_text, const std::string& shard,
              const std::string& junit, const std::string& report, int jobs, const std::string& mutations) {
  std::vector<drill::Scenario> scenarios;
  for (const auto& f : files) scenarios.push_back(drill::load_scenario(f));
  auto seeds = parse_seeds(seeds_text);
  if (!shard.empty()) {
    if (!mutations.empty()) throw InputError("--shard: is for seed sweeps, not --mutations");
    seeds = shard_of(seeds, shard);
    if (seeds.empty()) {  // more shards than seeds: this one has nothing to run, which is not a failure
      std::printf("No drill runs: shard %s of %s has no seeds.\n", shard.c_str(), seeds_text.c_str());
      if (!junit.empty()) runbook::write_private_file(junit, drill::junit_report({}));
      if (!report.empty()) runbook::write_private_file(report, drill::json_report({}).dump(2) + "\n");
      return kOk;
    }
  }
  if (!mutations.empty()) {
    if (scenarios.size() != 1) throw InputError("--mutations: give one scenario (each mutation runs it once)");
    if (!report.empty()) throw InputError("--mutations: --report is for drills; use --junit for the mutations");
    return cmd_mutations(scenarios.front(), mutations, seeds.front(), junit, jobs);
  }
  const bool single = scenarios.size() == 1 && seeds.size() == 1;
  // Runs are independent simulations: as many at once as there are cores; reported in order.
  std::vector<std::pair<const drill::Scenario*, std::uint64_t>> work;
  for (const auto& sc : scenarios)
    for (auto seed : seeds) work.push_back({&sc, seed});
  std::vector<drill::RunResult> runs(work.size());
  drill::run_parallel(
      work.size(),
      [&](std::size_t i) {
        const auto& [sc, seed] = work[i];
        runs[i] = drill::run_drill(*sc, seed, [&, sc = sc, seed = seed](const std::string& phase) {
          if (single) std::fprintf(stderr, "drctl: %s (seed %llu): %s\n", sc->name.c_str(), static_cast<unsigned long long>(seed), phase.c_str());
        }, jobs);
      },
      [&](std::size_t i) {
        if (!single) std::fprintf(stderr, "drctl: %s\n", drill::verdict(runs[i]).c_str());
      });
  std::fputs(drill::text_report(runs, single).c_str(), stdout);
  if (!junit.empty()) runbook::write_private_file(junit, drill::junit_report(runs));
  if (!report.empty())
    runbook::write_private_file(report, drill::json_report(runs).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  for (const auto& r : runs)
    if (!r.passed) return kFailed;
  return kOk;
}

}  // namespace

void add_drill_command(CLI::App& app, Action& run) {
  struct Args {
    std::vector<std::string> files;
    std::string seeds = "1", shard, junit, report, mutations;
    int jobs = 0;
  };
  auto a = std::make_shared<Args>();
  auto* d = app.add_subcommand("drill", "Run disaster scenarios against the simulated site: backup, disaster, rebuild, checks");
  d->add_option("SCENARIO", a->files, "Scenario files (runbooks/homelab/drills/*.yaml)")->required();
  d->add_option("--seeds", a->seeds, "A seed or a range A..B: one run per scenario and seed")->capture_default_str();
  d->add_option("--shard", a->shard,
                "I/N: run only shard I of N of the seeds (every N-th, starting at the I-th), so a sweep splits over a CI matrix "
                "without overlap or gaps");
  d->add_option("--junit", a->junit, "Write JUnit XML for CI");
  d->add_option("--report", a->report, "Write every result as JSON");
  d->add_option("--mutations", a->mutations,
                "A catalogue of misconfigurations (runbooks/homelab/mutations.yaml): run the scenario once per "
                "entry, each applied alone to a copy of the site's files; report each as caught (where, why) or missed");
  d->add_option("-j,--jobs", a->jobs, "Rebuild steps at once (1: the serial plan, for comparing RTO; default: all that can)")
      ->check(CLI::Validator([](std::string& v) { return whole_number_problem(v, "-j", 1, INT_MAX); }, "", "COUNT"));
  d->callback([&run, a] { run = [a] { return cmd_drill(a->files, a->seeds, a->shard, a->junit, a->report, a->jobs, a->mutations); }; });
}

}  // namespace drctl::cli
