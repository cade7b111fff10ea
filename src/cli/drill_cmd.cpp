// `drctl drill`: scenarios run in the simulator, with their reports.
#include <cstdio>
#include <fstream>

#include "cli/commands.hpp"
#include "drill/report.hpp"
#include "drill/runner.hpp"
#include "store/error.hpp"

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

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out.flush()) throw Failure("cannot write " + path);
}

int cmd_drill(const std::vector<std::string>& files, const std::string& seeds_text, const std::string& junit,
              const std::string& report) {
  std::vector<drill::Scenario> scenarios;
  for (const auto& f : files) scenarios.push_back(drill::load_scenario(f));
  const auto seeds = parse_seeds(seeds_text);
  const bool single = scenarios.size() == 1 && seeds.size() == 1;
  std::vector<drill::RunResult> runs;
  for (const auto& sc : scenarios)
    for (auto seed : seeds) {
      runs.push_back(drill::run_drill(sc, seed, [&](const std::string& phase) {
        if (single) std::fprintf(stderr, "drctl: %s (seed %llu): %s\n", sc.name.c_str(), static_cast<unsigned long long>(seed), phase.c_str());
      }));
      if (!single) std::fprintf(stderr, "drctl: %s\n", drill::verdict(runs.back()).c_str());
    }
  std::fputs(drill::text_report(runs, single).c_str(), stdout);
  if (!junit.empty()) write_file(junit, drill::junit_report(runs));
  if (!report.empty()) write_file(report, drill::json_report(runs).dump(2) + "\n");
  for (const auto& r : runs)
    if (!r.passed) return kFailed;
  return kOk;
}

}  // namespace

void add_drill_command(CLI::App& app, Action& run) {
  struct Args {
    std::vector<std::string> files;
    std::string seeds = "1", junit, report;
  };
  auto a = std::make_shared<Args>();
  auto* d = app.add_subcommand("drill", "Run disaster scenarios against the simulated site: backup, disaster, rebuild, checks");
  d->add_option("SCENARIO", a->files, "Scenario files (runbooks/homelab/drills/*.yaml)")->required();
  d->add_option("--seeds", a->seeds, "A seed or a range A..B: one run per scenario and seed")->capture_default_str();
  d->add_option("--junit", a->junit, "Write JUnit XML for CI");
  d->add_option("--report", a->report, "Write every result as JSON");
  d->callback([&run, a] { run = [a] { return cmd_drill(a->files, a->seeds, a->junit, a->report); }; });
}

}  // namespace drctl::cli
