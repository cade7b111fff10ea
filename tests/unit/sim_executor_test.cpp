// The real executor on the simulator's engine: parallel steps interleave in virtual time,
// deterministically, without wall time.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>

#include "actions/action.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "sim/tasks.hpp"
#include "support/fs_tree.hpp"

using namespace drctl;
using namespace std::chrono_literals;

namespace {

/// A host that knows no command: enough for steps whose actions only wait.
class NoCommands : public world::Host {
 public:
  const std::string& name() const override { return name_; }
  world::CommandResult run(const world::Command& c) override {
    world::CommandResult r;
    r.exit_code = 127;
    r.err = "sim: local: unknown command '" + c.script + "'\n";
    return r;
  }
  void put_file(const std::string&, const std::string&, unsigned) override {}
  std::optional<std::string> get_file(const std::string&) override { return std::nullopt; }

 private:
  std::string name_ = "local";
};

class NoNetwork : public world::Network {
 public:
  bool tcp_probe(const std::string&, int, world::Duration) override { return false; }
  world::HttpResponse http_get(const std::string&, const std::string&, world::Duration) override { return {}; }
  std::vector<std::string> resolve(const std::string&) override { return {}; }
  world::DnsAnswer dns_query(const std::string&, int, const std::string&, world::Duration) override { return {}; }
};

class EngineWorld : public world::World {
 public:
  explicit EngineWorld(sim::Engine& e) : clock_(e), tasks_(e) {}
  world::Host& host(const std::string&) override { return host_; }
  world::Clock& clock() override { return clock_; }
  world::Network& network() override { return network_; }
  world::Network& network_from(const std::string&) override { return network_; }
  world::Hypervisor* hypervisor() override { return nullptr; }
  world::Tasks& tasks() override { return tasks_; }

 private:
  sim::EngineClock clock_;
  sim::EngineTasks tasks_;
  NoCommands host_;
  NoNetwork network_;
};

/// test.install: waits a seeded 9–11 minutes of virtual time and logs it.
class Install : public actions::Action {
 public:
  explicit Install(sim::Engine& e) : engine_(e) {}
  const actions::ActionSpec& spec() const override {
    static const actions::ActionSpec s{"test.install", "wait like an installer", {{"vm", actions::InputType::String, true, std::nullopt, ""}}, {}};
    return s;
  }
  bool check(actions::Context&) const override { return false; }
  actions::json apply(actions::Context& ctx) const override {
    const std::string vm = ctx.inputs.at("vm");
    engine_.log(vm, "install-start");
    ctx.world.clock().sleep(engine_.rng().between(9min, 11min));
    engine_.log(vm, "install-done");
    return actions::json::object();
  }

 private:
  sim::Engine& engine_;
};

/// Runs the runbook `yaml` (written into `dir`) with `registry`'s actions on the engine's world.
runbook::RunSummary run_text(const support::TempDir& dir, const std::string& yaml, const actions::Registry& registry,
                             sim::Engine& engine, runbook::Observer& observer) {
  std::ofstream(dir.path() / "rb.yaml") << yaml;
  runbook::Runbook rb = runbook::load_runbook((dir.path() / "rb.yaml").string());
  runbook::validate(rb, registry);
  EngineWorld world(engine);
  runbook::ExecOptions options;
  options.state_dir = dir.path() / "state";
  return runbook::execute(rb, registry, world, options, observer);
}

struct Outcome {
  std::string log;
  world::Duration virtual_time;
  bool ok;
};

Outcome run_six(std::uint64_t seed) {
  support::TempDir t("sim-exec");
  sim::Engine engine(seed);
  actions::Registry registry;
  registry.add(std::make_unique<Install>(engine));
  runbook::Observer quiet;
  auto summary = run_text(t,
                          "name: six\nsteps:\n"
                          "  - id: install\n    uses: test.install\n    for_each: [vm1, vm2, vm3, vm4, vm5, vm6]\n"
                          "    with:\n      vm: \"{{item}}\"\n"
                          "  - id: after\n    uses: test.install\n    needs: install\n    with:\n      vm: last\n",
                          registry, engine, quiet);
  return {engine.log_jsonl(), engine.now(), summary.ok()};
}

}  // namespace

TEST_CASE("sim executor: six parallel installs take one install of virtual time and no wall time") {
  auto t0 = std::chrono::steady_clock::now();
  Outcome a = run_six(11);
  auto wall = std::chrono::steady_clock::now() - t0;
  CHECK(a.ok);
  CHECK(a.virtual_time >= world::Duration(18min));  // the six in parallel, then `after`
  CHECK(a.virtual_time <= world::Duration(22min));
  CHECK(wall < a.virtual_time);  // an engine that really slept would take at least the virtual time
  CHECK(std::count(a.log.begin(), a.log.end(), '\n') == 14);
}

TEST_CASE("sim executor: the same seed gives the same event log") {
  Outcome a = run_six(5), b = run_six(5), c = run_six(6);
  CHECK(a.log == b.log);
  CHECK(a.log != c.log);
  CHECK(c.ok);
}

namespace {

/// test.progress: learns a secret, then reports how far it got, naming it.
class Reports : public actions::Action {
 public:
  const actions::ActionSpec& spec() const override {
    static const actions::ActionSpec s{"test.progress", "report progress", {}, {}};
    return s;
  }
  bool check(actions::Context&) const override { return false; }
  actions::json apply(actions::Context& ctx) const override {
    ctx.secret("token", "hunter2-token");
    ctx.progress("half way, token hunter2-token");
    return actions::json::object();
  }
};

class Recorder : public runbook::Observer {
 public:
  void progress(const runbook::InstanceResult& r, const std::string& text) override { seen += r.id + ": " + text + "\n"; }
  std::string seen;
};

}  // namespace

TEST_CASE("executor: an action's progress reaches the observer under the instance's id, secrets redacted") {
  support::TempDir t("sim-progress");
  sim::Engine engine(1);
  actions::Registry registry;
  registry.add(std::make_unique<Reports>());
  Recorder recorder;
  CHECK(run_text(t, "name: p\nsteps:\n  - {id: long, uses: test.progress, for_each: [a, b]}\n", registry, engine, recorder)
            .ok());
  CHECK(recorder.seen == "long[a]: half way, token «secret:token»\nlong[b]: half way, token «secret:token»\n");
}
