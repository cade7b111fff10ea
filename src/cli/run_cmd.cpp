// `drctl run`, `drctl plan`, `drctl actions`: argument wiring for the runbook engine.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>

#include "actions/action.hpp"
#include "base/error.hpp"
#include "base/yaml_json.hpp"
#include "cli/commands.hpp"
#include "cli/console_observer.hpp"
#include "cli/format.hpp"
#include "cli/site_hosts.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/plan.hpp"
#include "runbook/private_output.hpp"
#include "runbook/set_var.hpp"
#include "runbook/validate.hpp"
#include "sim/sim_world.hpp"
#include "world/real/real_world.hpp"

namespace drctl::cli {

using namespace drctl::runbook;

namespace {

std::atomic<world::Cancel*> g_cancel{nullptr};

void on_interrupt(int) {
  static std::atomic<int> count{0};
  if (++count > 1) {  // a second Ctrl-C: stop now, and take the commands along
    world::real::kill_all_command_groups();
    ::_exit(130);
  }
  if (auto* c = g_cancel.load()) c->request();
}

/// What the command line changes in a runbook's vars: --set (declared vars only), --set-new
/// (new ones), --snapshot (the var `snapshot`).
struct VarArgs {
  std::vector<std::string> sets, adds;
  std::string snapshot;
};

/// Loads, applies the vars and validates, and checks --only/--from against the steps: every
/// mistake is bad input (exit 2) before anything runs or is written. A LoadError keeps its
/// file:line:col.
Runbook load_checked(const std::string& path, const VarArgs& vars = {}, const ExecOptions* selection = nullptr) {
  try {
    Runbook rb = load_runbook(path);
    for (const auto& s : vars.adds) set_var(rb, s, true);
    for (const auto& s : vars.sets) set_var(rb, s);
    if (!vars.snapshot.empty()) {
      if (!rb.merged_vars().contains("snapshot"))
        throw InputError("--snapshot " + vars.snapshot + ": " + rb.file + " declares no var 'snapshot' (it restores from no snapshot)");
      set_var(rb, "snapshot=" + vars.snapshot);
    }
    if (selection) check_selection(rb, *selection);
    validate(rb, actions::Registry::builtin());
    return rb;
  } catch (const LoadError& e) {
    throw InputError(e.what());
  }
}

std::string default_state_dir(const Runbook& rb) {
  std::string name = std::filesystem::path(rb.file).stem().string();
  return ".drctl/state/" + name;
}

/// Runs, prints the summary, writes the report; the exit code.
/// -q, -v and --json of `drctl run` (one command per process).
ConsoleMode g_console;

int execute_and_report(const Runbook& rb, world::World& world, ExecOptions options, const std::string& report) {
  g_cancel = &world.cancel();
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  RunSummary summary;
  {
    ConsoleObserver observer(g_console);
    summary = execute(rb, actions::Registry::builtin(), world, options, observer);
  }
  g_cancel = nullptr;
  if (options.dry_run) {
    std::map<Status, std::size_t> count;
    for (const auto& r : summary.results) ++count[r.status];
    std::printf("dry run: rendered %zu step instances into %s (%zu would run, %zu unchanged, %zu skipped by when:); "
                "nothing was run\n",
                summary.results.size() - count[Status::Skipped], options.render_dir.c_str(), count[Status::NotSelected],
                count[Status::Unchanged], count[Status::Skipped]);
    return kOk;
  }
  print_summary(summary, g_console);
  // Text a step printed need not be UTF-8: such bytes show as U+FFFD in the report.
  if (!report.empty())
    write_private_file(report, summary.to_json(rb).dump(2, ' ', false, json::error_handler_t::replace) + "\n");
  if (summary.interrupted) return 130;
  return summary.ok() ? kOk : kFailed;
}

/// The site of a runbook (or a site file) as the simulator builds it; bad content is bad input.
std::unique_ptr<sim::SimWorld> simulate(const Site& site, std::uint64_t seed) {
  try {
    return std::make_unique<sim::SimWorld>(site.world_json(), seed);
  } catch (const sim::SiteError& e) {
    throw InputError(site.file + ": " + e.what());
  }
}

int cmd_run_sim(const std::string& path, ExecOptions options, const std::string& report, std::uint64_t seed,
                const std::string& events, const VarArgs& vars) {
  Runbook rb = load_checked(path, vars, &options);
  if (!rb.site) throw InputError(path + ": --target sim needs a runbook with a site (`site:`) to simulate");
  if (options.resume) throw InputError("--resume: a simulated run always starts from empty hardware; run it again instead");
  auto world = simulate(*rb.site, seed);
  if (options.state_dir.empty()) options.state_dir = default_state_dir(rb) + ".sim";
  std::filesystem::remove(options.state_dir / "journal.jsonl");  // each simulated run starts afresh
  if (options.dry_run && options.render_dir.empty()) options.render_dir = options.state_dir / "rendered";
  const auto wall = std::chrono::steady_clock::now();
  int code = execute_and_report(rb, *world, options, report);
  if (!events.empty()) write_private_file(events, world->engine().log_jsonl());
  std::printf("simulated %s of site %s (seed %llu) in %.2f s of wall time\n",
              format_duration(world->engine().now()).c_str(), rb.site->name.c_str(),
              static_cast<unsigned long long>(seed),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count());
  return code;
}

int cmd_sim_show(const std::string& path, std::uint64_t seed, bool as_json) {
  Site site;
  try {
    site = load_site(path);
  } catch (const LoadError& e) {
    throw InputError(e.what());
  }
  auto world = simulate(site, seed);
  if (as_json) std::printf("%s\n", world->describe_json().dump(2).c_str());
  else std::fputs(world->describe().c_str(), stdout);
  return kOk;
}

int cmd_run(const std::string& path, const std::string& target, ExecOptions options, const std::string& report,
            const VarArgs& vars, const std::string& ssh_config) {
  if (target != "real")
    throw InputError("--target must be real or sim, not '" + target + "'" + did_you_mean(target, {"real", "sim"}));
  Runbook rb = load_checked(path, vars, &options);
  if (rb.site && !rb.site->secrets_file.empty()) {  // as ssh does for a private key, but a warning: the run may go on
    struct stat st {};
    if (::stat(rb.site->secrets_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
      warn(rb.site->secrets_file + " is readable by others (mode " + mode + "): chmod 600 " + rb.site->secrets_file);
    }
  }
  world::real::RealWorld world;
  if (rb.site) {
    for (const auto& h : rb.site->hosts)
      if (h.connection == "local") world.add_local_alias(h.name);
    for (const auto& spec : site_ssh_specs(*rb.site, ssh_config)) {
      try {
        world.add_ssh_host(spec);
      } catch (const world::real::SshConfigError& e) {
        throw InputError(rb.site->file + ": host " + spec.name + ": " + e.what());
      }
    }
    // Templates see a host's port and user as the connection will use them: where the site gives
    // none, the SSH config's (else 22 and the local user), as `ssh -G` resolves them.
    for (auto& h : rb.site->hosts)
      if (const world::real::SshHost* ssh = world.ssh_host(h.name)) {
        if (!h.port_given) h.port = ssh->endpoint().port;
        if (h.user.empty()) h.user = ssh->endpoint().user;
      }
    if (auto hv = site_hypervisor(*rb.site)) world.set_hypervisor(world::real::make_hypervisor(*hv));
  }
  if (options.state_dir.empty()) options.state_dir = default_state_dir(rb);
  world.set_host_keys_dir((options.state_dir / "host-keys").string());  // kept with the run's state, owner only
  if (options.dry_run && options.render_dir.empty()) options.render_dir = options.state_dir / "rendered";
  return execute_and_report(rb, world, options, report);
}

/// "install-nodes (~14m, at most 25m)": a step's estimate and timeout as the plan shows them.
std::string plan_weight(const Step& s) {
  std::string out;
  if (s.estimate) out = "~" + format_duration(*s.estimate);
  if (s.timeout.count()) out += (out.empty() ? "at most " : ", at most ") + format_duration(s.timeout);
  return out.empty() ? "?" : out;
}

int cmd_plan(const std::string& path, const std::string& format, const VarArgs& vars) {
  Runbook rb = load_checked(path, vars);
  if (format == "dot") {
    std::fputs(to_dot(rb).c_str(), stdout);
    return kOk;
  }
  if (format != "text" && format != "json")
    throw InputError("--format must be text, json or dot, not '" + format + "'" + did_you_mean(format, {"text", "json", "dot"}));
  // What `when:` decides with these vars (after --set) is decided here too: those steps take
  // no time, and the ones it leaves to the run are marked.
  const std::set<std::string> skipped = steps_skipped_by_when(rb);
  auto ws = waves(rb);
  if (format == "json") {
    CriticalPath cp = critical_path(rb, skipped);
    json out = {{"runbook", rb.name}, {"waves", json::array()}, {"critical_path", json::array()},
                {"total_seconds", std::chrono::duration<double>(cp.total).count()},
                {"bound_seconds", std::chrono::duration<double>(cp.bound).count()}, {"complete", cp.complete}};
    for (const auto& wave : ws) {
      json steps = json::array();
      for (const auto& id : wave) {
        const Step& s = *rb.step(id);
        json step = {{"id", id}, {"skipped", skipped.contains(id)}};
        if (s.when) step["when"] = *s.when, step["decided_at_run_time"] = !skipped.contains(id) && !skipped_by_when(rb, s);
        steps.push_back(step);
      }
      out["waves"].push_back(steps);
    }
    for (const auto& id : cp.steps) out["critical_path"].push_back({{"id", id}, {"weight", plan_weight(*rb.step(id))}});
    std::printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  for (std::size_t i = 0; i < ws.size(); ++i) {
    std::string ids;
    for (const auto& id : ws[i]) {
      const Step& s = *rb.step(id);
      std::string mark = skipped.contains(id) ? " (skipped: when " + *s.when + ")"
                         : !skipped_by_when(rb, s)  ? " (when " + *s.when + ": decided at run time)"
                                                    : "";
      ids += (ids.empty() ? "" : ", ") + id + mark;
    }
    std::printf("wave %zu: %s\n", i + 1, ids.c_str());
  }
  CriticalPath cp = critical_path(rb, skipped);
  std::string chain;
  for (const auto& id : cp.steps) chain += (chain.empty() ? "" : " → ") + id + " (" + plan_weight(*rb.step(id)) + ")";
  std::printf("critical path: %s = %s%s%s\n", chain.c_str(), format_duration(cp.total).c_str(),
              cp.bound != cp.total ? (", at most " + format_duration(cp.bound) + " by its timeouts").c_str() : "",
              cp.complete ? "" : " (steps marked ? have no timeout or estimate: give them `estimate:`)");
  return kOk;
}

int cmd_actions(bool as_json) {
  if (as_json) {
    json out = json::array();
    for (const auto* a : actions::Registry::builtin().all()) {
      const auto& spec = a->spec();
      json inputs = json::array(), outputs = json::array();
      for (const auto& in : spec.inputs) {
        json i = {{"name", in.name}, {"type", actions::type_name(in.type)}, {"required", in.required}, {"help", in.help}};
        if (in.default_value) i["default"] = *in.default_value;
        inputs.push_back(i);
      }
      for (const auto& o : spec.outputs) outputs.push_back({{"name", o.name}, {"help", o.help}});
      out.push_back({{"name", spec.name}, {"summary", spec.summary}, {"inputs", inputs}, {"outputs", outputs}});
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kOk;
  }
  for (const auto* a : actions::Registry::builtin().all()) {
    const auto& spec = a->spec();
    std::printf("%s\n  %s\n", spec.name.c_str(), spec.summary.c_str());
    for (const auto& in : spec.inputs) {
      std::string dflt = in.default_value ? " (default " + in.default_value->dump() + ")" : "";
      std::printf("  with %-14s %-9s %s%s%s\n", in.name.c_str(), actions::type_name(in.type),
                  in.required ? "required. " : "", in.help.c_str(), dflt.c_str());
    }
    for (const auto& out : spec.outputs) std::printf("  out  %-14s %s\n", out.name.c_str(), out.help.c_str());
  }
  return kOk;
}

}  // namespace

void add_run_commands(CLI::App& app, Action& run) {
  struct RunArgs {
    std::string path, target = "real", report, state, render, events, ssh_config;
    VarArgs vars;
    std::uint64_t seed = 1;
    ExecOptions options;
    ConsoleMode console;
  };
  auto a = std::make_shared<RunArgs>();
  auto* r = app.add_subcommand("run", "Run a runbook: its steps in dependency order, in parallel, resumable");
  r->add_option("RUNBOOK", a->path, "The runbook (YAML)")->required();
  r->add_option("--target", a->target, "real (this machine and the site's hosts) or sim")->capture_default_str();
  r->add_option("-j,--jobs", a->options.jobs, "Steps to run at once (default: all that can run)")
      ->check(CLI::Validator([](std::string& v) { return whole_number_problem(v, "-j", 1, INT_MAX); }, "", "COUNT"));
  r->add_flag("--resume", a->options.resume, "Continue the last run: finished steps are not run again");
  r->add_flag("--dry-run", a->options.dry_run,
              "Render every template into --render-dir and say per step what would happen: skipped (its when: is "
              "false), unchanged or would change (its check, which only looks); nothing is applied");
  r->add_option("--render-dir", a->render, "Where --dry-run writes (default: STATE/rendered)");
  r->add_option("--state", a->state, "State directory with the journal (default: .drctl/state/RUNBOOK)");
  r->add_option("--only", a->options.only, "Run only this step (repeatable)");
  r->add_option("--from", a->options.from, "Run this step and everything that needs it (repeatable)");
  r->add_option("--report", a->report, "Write the summary as JSON to this file");
  r->add_flag("-q,--quiet", a->console.quiet, "Show only failed steps and the closing count");
  r->add_flag("-v,--verbose", a->console.verbose, "Also show what each step prints, as it prints it");
  r->add_flag("--json", a->console.json,
              "JSON lines on stdout: {\"event\":\"finished\",\"step\",\"host\",\"status\",…} per step, then {\"event\":\"summary\",…}");
  r->add_option("--seed", a->seed, "--target sim: the simulation's seed (same seed, same run)")
      ->capture_default_str()
      ->check(CLI::Validator([](std::string& v) { return whole_number_problem(v, "", 0, UINT64_MAX); }, "", "SEED"));
  r->add_option("--events", a->events, "--target sim: write the simulator's event log (JSON lines) to this file");
  r->add_option("--set", a->vars.sets,
                "KEY=VALUE: override a var the runbook or its site declares (dotted keys reach into maps, e.g. "
                "metallb.pool=10.0.20.200-10.0.20.210); an undeclared KEY is refused as a typo");
  r->add_option("--set-new", a->vars.adds, "KEY=VALUE: add a var the runbook and its site do not declare");
  r->add_option("--ssh-config", a->ssh_config, "An OpenSSH client configuration for the site's SSH hosts (as ssh -F; default ~/.ssh/config)");
  r->add_option("--snapshot", a->vars.snapshot, "The snapshot to restore from (sets the var `snapshot`; default: the runbook's, e.g. latest)");
  r->callback([&run, a] {
    run = [a] {
      if (a->console.quiet && a->console.verbose) throw InputError("-q and -v: choose one");
      g_console = a->console;
      ExecOptions o = a->options;
      o.state_dir = a->state;
      o.render_dir = a->render;
      if (a->target == "sim") return cmd_run_sim(a->path, o, a->report, a->seed, a->events, a->vars);
      return cmd_run(a->path, a->target, o, a->report, a->vars, a->ssh_config);
    };
  });

  auto sim_args = std::make_shared<std::pair<std::string, std::uint64_t>>("", 1);
  auto* sim = app.add_subcommand("sim", "The built-in simulator of a site");
  sim->require_subcommand(1);
  auto* show = sim->add_subcommand("show", "Print the simulated site: hosts, networks, addresses, services");
  show->add_option("SITE", sim_args->first, "The site file (YAML)")->required();
  auto show_json = std::make_shared<bool>(false);
  show->add_flag("--json", *show_json, "As JSON: site, hypervisor, networks, hosts (kind, address, state, services …)");
  show->callback([&run, sim_args, show_json] {
    run = [sim_args, show_json] { return cmd_sim_show(sim_args->first, sim_args->second, *show_json); };
  });

  struct PlanArgs {
    std::string path, format = "text";
    VarArgs vars;
    bool json = false;
  };
  auto p = std::make_shared<PlanArgs>();
  auto* plan = app.add_subcommand("plan", "Show a runbook's waves and critical path, with its estimates and timeouts (or --format dot)");
  plan->add_option("RUNBOOK", p->path, "The runbook (YAML)")->required();
  plan->add_option("--format", p->format, "text, json or dot")->capture_default_str();
  plan->add_flag("--json", p->json, "The plan as JSON (as --format json)");
  plan->add_option("--set", p->vars.sets, "KEY=VALUE: as for run; `when:` is decided with it (e.g. --set restore=true)");
  plan->add_option("--set-new", p->vars.adds, "KEY=VALUE: add a var the runbook and its site do not declare");
  plan->callback([&run, p] { run = [p] { return cmd_plan(p->path, p->json ? "json" : p->format, p->vars); }; });

  auto* acts = app.add_subcommand("actions", "List the built-in actions with their inputs and outputs");
  auto acts_json = std::make_shared<bool>(false);
  acts->add_flag("--json", *acts_json, "As a JSON array: name, summary, inputs (name, type, required, help, default), outputs");
  acts->callback([&run, acts_json] { run = [acts_json] { return cmd_actions(*acts_json); }; });
}

}  // namespace drctl::cli
