// The homelab's runbooks (runbooks/homelab) for tests that rebuild it in the simulator: where it
// is, its rebuild run against a SimWorld, a copy with one edit of its site, and a run's results.
// Header-only, like the other support headers.
#pragma once
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "actions/action.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "sim/sim_world.hpp"
#include "support/fs_tree.hpp"

namespace support {

inline std::filesystem::path homelab() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() / "runbooks/homelab";
}

/// rebuild.yaml of `dir` (the homelab by default) against `world`, with `vars` over its own.
inline drctl::runbook::RunSummary rebuild_homelab(drctl::sim::SimWorld& world, const std::filesystem::path& state,
                                                  const std::filesystem::path& dir = homelab(),
                                                  const nlohmann::json& vars = nlohmann::json::object()) {
  using namespace drctl;
  runbook::Runbook rb = runbook::load_runbook((dir / "rebuild.yaml").string());
  for (const auto& [k, v] : vars.items()) rb.vars[k] = v;
  runbook::validate(rb, actions::Registry::builtin());
  runbook::ExecOptions options;
  options.state_dir = state;
  runbook::Observer quiet;
  return runbook::execute(rb, actions::Registry::builtin(), world, options, quiet);
}

/// Each failed step's id and error, one a line (for CHECK messages).
inline std::string failures(const drctl::runbook::RunSummary& s) {
  std::string out;
  for (const auto& r : s.results)
    if (!r.error.empty()) out += r.id + ": " + r.error + "\n";
  return out;
}

/// The result of step `id` (its first instance); nullptr when it has none.
inline const drctl::runbook::InstanceResult* result_of(const drctl::runbook::RunSummary& run, const std::string& id) {
  for (const auto& r : run.results)
    if (r.id == id) return &r;
  return nullptr;
}

/// A copy of the homelab in `dir` whose site.yaml has `from` replaced by `to` (the text must be there).
inline std::filesystem::path homelab_with(const std::filesystem::path& dir, const std::string& from, const std::string& to) {
  std::filesystem::copy(homelab(), dir, std::filesystem::copy_options::recursive);
  std::string site = read_file(dir / "site.yaml");
  REQUIRE(site.find(from) != std::string::npos);
  site.replace(site.find(from), from.size(), to);
  std::ofstream(dir / "site.yaml") << site;
  return dir;
}

}  // namespace support
