#include "runbook/executor.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "actions/generic.hpp"
#include "actions/redact.hpp"
#include "runbook/loader.hpp"
#include "runbook/private_output.hpp"
#include "runbook/template.hpp"
#include "runbook/validate.hpp"

namespace drctl::runbook {

namespace fs = std::filesystem;
using actions::ActionError;
using actions::InputType;

const char* status_name(Status s) {
  switch (s) {
    case Status::Pending: return "pending";
    case Status::Running: return "running";
    case Status::Done: return "done";
    case Status::Unchanged: return "unchanged";
    case Status::Skipped: return "skipped";
    case Status::Failed: return "failed";
    case Status::Blocked: return "blocked";
    case Status::Interrupted: return "interrupted";
    case Status::NotSelected: return "not selected";
    case Status::Reused: return "reused";
  }
  return "?";
}

bool RunSummary::ok() const {
  if (interrupted) return false;
  return std::none_of(results.begin(), results.end(), [](const InstanceResult& r) {
    return r.status == Status::Failed || r.status == Status::Blocked || r.status == Status::Interrupted;
  });
}

json RunSummary::to_json(const Runbook& rb) const {
  json steps = json::array();
  for (const auto& r : results)
    steps.push_back({{"id", r.id}, {"step", r.step}, {"host", r.host}, {"status", status_name(r.status)},
                     {"attempts", r.attempts}, {"seconds", r.seconds}, {"error", r.error}});
  return {{"runbook", rb.name}, {"file", rb.file}, {"ok", ok()}, {"interrupted", interrupted}, {"steps", steps}};
}

namespace {

/// An instance id as one directory name: no '/', and no name of only dots.
std::string safe_dir_name(std::string id) {
  for (char& c : id)
    if (c == '/' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
  if (id.find_first_not_of('.') == std::string::npos) id = "_" + id;
  return id;
}

/// The rendered, typed inputs of a step for its action. A `run:` step is shell.run with the
/// rendered command (the loader refuses `with` on it; `uses: shell.run` takes creates/unless).
json step_inputs(const Runbook& rb, const Step& s, const actions::Action& action, const json& context) {
  if (!s.run) return render_inputs(rb, s, action.spec(), context);
  actions::ActionSpec spec = action.spec();
  for (auto& in : spec.inputs)
    if (in.name == "command") in.required = false;
  json inputs = render_inputs(rb, s, spec, context);
  inputs["command"] = render(*s.run, context, s.run_pos);
  return inputs;
}

class Runner {
 public:
  Runner(const Runbook& rb, const actions::Registry& registry, world::World& world, const ExecOptions& options,
         Observer& observer)
      : rb_(rb), registry_(registry), world_(world), options_(options), observer_(observer),
        instances_(expand(rb)) {
    if (rb.site)
      for (const auto& [name, value] : rb.site->secrets) redact_.add(name, value);
    results_.resize(instances_.size());
    for (std::size_t i = 0; i < instances_.size(); ++i) {
      results_[i].id = instances_[i].id;
      results_[i].step = instances_[i].step->id;
      results_[i].host = instances_[i].host;
    }
  }

  RunSummary run() {
    if (options_.dry_run) return dry_run();
    JournalState previous = summarize(Journal::read(options_.state_dir));
    select(previous);  // bad --only/--from are reported before anything is written
    journal_ = std::make_unique<Journal>(options_.state_dir);
    // Commands carry the state directory as a tag: what a killed run left running is ended
    // before its steps are checked and applied again.
    const std::string tag = fs::absolute(options_.state_dir).lexically_normal().string();
    if (!previous.last_run_finished)
      if (int n = world_.kill_tagged(tag); n > 0)
        observer_.note("stopped " + std::to_string(n) + " processes the interrupted run left behind");
    world_.tag_commands(tag);
    journal_->write({{"event", "run"}, {"runbook", rb_.file}, {"resume", options_.resume}});
    for (std::size_t i = 0; i < instances_.size(); ++i)
      if (results_[i].status == Status::Reused) record(i, {{"event", "reused"}});
    schedule();
    RunSummary summary;
    summary.interrupted = world_.cancel().requested();
    summary.results = results_;
    journal_->write({{"event", "finish"}, {"ok", summary.ok()}, {"interrupted", summary.interrupted}});
    return summary;
  }

 private:
  /// Marks what this run leaves alone: finished steps on --resume, unselected ones with --only/--from.
  void select(const JournalState& previous) {
    previous_ = previous.last_success;
    if (options_.resume)
      for (std::size_t i = 0; i < instances_.size(); ++i) {
        auto it = previous.last_status.find(instances_[i].id);
        if (it != previous.last_status.end() &&
            (it->second == "done" || it->second == "unchanged" || it->second == "skipped" || it->second == "reused")) {
          results_[i].status = Status::Reused;
          if (auto p = previous_.find(instances_[i].id); p != previous_.end())
            results_[i].outputs = p->second.value("outputs", json::object());
        }
      }
    if (options_.only.empty() && options_.from.empty()) return;
    std::set<std::string> chosen(options_.only.begin(), options_.only.end());
    if (!options_.from.empty()) {
      std::set<std::string> from(options_.from.begin(), options_.from.end());
      for (const Step& s : rb_.steps) {  // steps are in dependency order
        bool after = from.contains(s.id);
        for (const auto& [need, pos] : s.needs) after = after || chosen.contains(need);
        if (after) chosen.insert(s.id);
      }
    }
    check_selection(rb_, options_);
    std::set<std::string> needed_steps;
    for (const auto& id : chosen)
      for (const auto& dep : dependencies(rb_, id)) needed_steps.insert(dep);
    for (std::size_t i = 0; i < instances_.size(); ++i) {
      if (chosen.contains(instances_[i].step->id)) continue;
      const bool needed = needed_steps.contains(instances_[i].step->id);
      results_[i].status = Status::NotSelected;
      if (auto p = previous_.find(instances_[i].id); p != previous_.end())
        results_[i].outputs = p->second.value("outputs", json::object());
      if (needed)
        observer_.note("not running " + instances_[i].id + ", which a selected step needs" +
                       (previous_.contains(instances_[i].id) ? " (using the outputs of its last successful run)"
                                                              : " (it has never succeeded here: its outputs are missing)"));
    }
  }

  bool settled(Status s) const {
    return s == Status::Done || s == Status::Unchanged || s == Status::Skipped || s == Status::Reused ||
           s == Status::NotSelected;
  }

  void schedule() {
    world::Tasks& tasks = world_.tasks();
    tasks.run([&] { schedule_loop(tasks); });
    for (auto& r : results_)
      if (r.status == Status::Pending) r.status = world_.cancel().requested() ? Status::Interrupted : Status::Blocked;
  }

  /// Starts every instance whose needs are met, up to -j at once, until none is left.
  void schedule_loop(world::Tasks& tasks) {
    std::unique_lock lock(mutex_);
    const std::size_t limit = options_.jobs > 0 ? static_cast<std::size_t>(options_.jobs) : instances_.size();
    std::size_t running = 0;
    while (true) {
      bool progress = false;
      if (!world_.cancel().requested()) {
        for (std::size_t i = 0; i < instances_.size() && running < limit; ++i) {
          if (results_[i].status != Status::Pending) continue;
          bool ready = true, blocked = false;
          for (std::size_t d : instances_[i].deps) {
            Status s = results_[d].status;
            if (s == Status::Failed || s == Status::Blocked || s == Status::Interrupted) blocked = true;
            else if (!settled(s)) ready = false;
          }
          if (blocked) {
            results_[i].status = Status::Blocked;
            results_[i].error = "a step it needs failed";
            ++finished_;
            observer_.finished(results_[i], finished_, instances_.size());
            progress = true;
            continue;
          }
          if (!ready) continue;
          results_[i].status = Status::Running;
          ++running;
          progress = true;
          observer_.started(results_[i], finished_, instances_.size());
          tasks.start(instances_[i].id, [this, i, &running, &tasks] {
            run_instance(i);
            {
              std::lock_guard l(mutex_);
              --running;
              ++finished_;
              observer_.finished(results_[i], finished_, instances_.size());
            }
            tasks.notify();
          });
        }
      }
      if (running == 0 && !progress) break;
      if (!progress) {
        lock.unlock();
        tasks.wait(world::Duration(100));
        lock.lock();
      }
    }
  }

  /// The template context of instance i. A fanned-out step's outputs are those of the
  /// instance this one waited for (the same host's), else of its first instance with outputs.
  json context_for(std::size_t i, const json* outputs_override = nullptr) {
    const Instance& inst = instances_[i];
    const SiteHost* host = inst.step->on && rb_.site ? rb_.site->host(inst.host) : nullptr;
    const json* item = inst.item ? &*inst.item : nullptr;
    if (outputs_override) return render_context(rb_, *inst.step, host, item, *outputs_override);
    json outputs = json::object();
    {
      std::lock_guard lock(mutex_);
      for (std::size_t d : inst.deps)
        if (const auto& r = results_[d]; !outputs.contains(r.step) && !r.outputs.empty()) outputs[r.step] = r.outputs;
      for (const auto& r : results_)
        if (!outputs.contains(r.step) && !r.outputs.empty()) outputs[r.step] = r.outputs;
    }
    return render_context(rb_, *inst.step, host, item, outputs);
  }

  void record(std::size_t i, const json& event) {
    json e = redact_.apply_json(event);
    e["step"] = instances_[i].id;
    journal_->write(e);
  }

  void run_instance(std::size_t i) {
    InstanceResult& r = results_[i];
    const Instance& inst = instances_[i];
    const Step& s = *inst.step;
    const auto started = world_.clock().now();  // virtual time in the simulator
    std::string output, partial;  // partial: the last line printed, not yet passed on (below)
    json outputs = json::object();  // published under the mutex: other steps read results_
    auto finish = [&](Status st) {
      if (!partial.empty()) observer_.output(r, redact_.apply(partial + "\n"));
      output = redact_.apply(output);
      r.error = redact_.apply(r.error);
      r.detail = redact_.apply(r.detail);
      outputs = redact_.apply_json(outputs);
      r.seconds = std::chrono::duration<double>(world_.clock().now() - started).count();
      json e = {{"event", status_name(st)}, {"attempts", r.attempts}, {"seconds", r.seconds}, {"output", output}};
      if (st == Status::Done || st == Status::Unchanged) e["outputs"] = outputs;
      if (!r.error.empty()) e["error"] = r.error;
      record(i, e);
      std::lock_guard lock(mutex_);
      r.outputs = std::move(outputs);
      r.status = st;
    };
    try {
      json ctx = context_for(i);
      if (s.when && when_false(render(*s.when, ctx, s.when_pos))) {
        r.error.clear();
        return finish(Status::Skipped);
      }
      const actions::Action* action = registry_.find(s.uses ? *s.uses : "shell.run");
      if (!action) throw ActionError("unknown action " + *s.uses);
      json inputs = step_inputs(rb_, s, *action, ctx);
      if (s.run) r.command = redact_.apply(inputs["command"].get<std::string>());
      world::Host& host = world_.host(inst.host);
      json previous = previous_.contains(inst.id) ? previous_[inst.id] : json();
      // What the step prints: kept whole for the journal, and passed on line by line (so a
      // secret is never redacted in two halves) to the observer.
      auto log = [&](const std::string& text) {
        output += text;
        partial += text;
        if (const auto end = partial.rfind('\n'); end != std::string::npos) {
          observer_.output(results_[i], redact_.apply(partial.substr(0, end + 1)));
          partial.erase(0, end + 1);
        }
      };
      actions::Context actx = action_context(i, host, inputs, previous, ctx, log);
      actx.progress = [this, i](const std::string& text) { observer_.progress(results_[i], redact_.apply(text)); };

      record(i, {{"event", "started"}, {"host", inst.host}, {"action", action->spec().name}});
      // Each attempt checks first: the state may have come about meanwhile. A host that
      // cannot be reached yet fails the attempt like a failed apply, and is retried.
      for (r.attempts = 1;; ++r.attempts) {
        try {
          if (action->check(actx)) {
            outputs = previous.is_object() ? previous.value("outputs", json::object()) : json::object();
            if (r.attempts == 1) {
              r.attempts = 0;
              return finish(Status::Unchanged);
            }
            r.error.clear();
            return finish(Status::Done);
          }
          outputs = action->apply(actx);
          if (!outputs.is_object()) outputs = json::object();
          r.error.clear();
          return finish(Status::Done);
        } catch (const std::exception& e) {
          r.error = redact_.apply(e.what());
          const auto* failure = dynamic_cast<const ActionError*>(&e);
          r.detail = failure ? failure->detail : "";
          if (world_.cancel().requested()) return finish(Status::Interrupted);
          if (r.attempts > s.retries) return finish(Status::Failed);
          auto delay = s.retry_delay * (1LL << std::min(r.attempts - 1, 10));
          record(i, {{"event", "retry"}, {"attempt", r.attempts}, {"error", r.error}, {"delay_ms", delay.count()}});
          observer_.note(inst.id + ": attempt " + std::to_string(r.attempts) + " failed (" + r.error + "); retrying in " +
                         format_duration(std::chrono::duration_cast<world::Duration>(delay)));
          if (!world_.clock().sleep(std::chrono::duration_cast<world::Duration>(delay))) return finish(Status::Interrupted);
        }
      }
    } catch (const std::exception& e) {
      r.error = redact_.apply(e.what());
      finish(world_.cancel().requested() ? Status::Interrupted : Status::Failed);
    }
  }

  /// Renders every instance into render_dir and says what would happen to it, as `terraform plan`
  /// does: skipped (its `when:` is false with these vars), unchanged (its check finds the site as
  /// the step wants) or would change; "decided at run time" when its `when:` or inputs read the
  /// outputs of steps that have not run. Checks only look; nothing is applied.
  RunSummary dry_run() {
    // Rendered files hold the secrets they were given (that is what they are for): owner only.
    make_private_dirs(options_.render_dir);
    json outputs = json::object();  // not known before the run: placeholders name them
    std::vector<std::string> placeholders;
    for (const Step& other : rb_.steps)
      for (const auto& o : declared_outputs(other, registry_)) {
        outputs[other.id][o] = "<" + other.id + "." + o + ">";
        placeholders.push_back("<" + other.id + "." + o + ">");
      }
    auto reads_outputs = [&](const std::string& text) {
      return std::any_of(placeholders.begin(), placeholders.end(), [&](const std::string& p) { return text.find(p) != std::string::npos; });
    };
    world_.tasks().run([&] {  // a check may wait (in the simulator, in virtual time)
      for (std::size_t i = 0; i < instances_.size(); ++i) dry_run_instance(i, outputs, reads_outputs);
    });
    RunSummary summary;
    summary.results = results_;
    return summary;
  }

  void dry_run_instance(std::size_t i, const json& outputs, const std::function<bool(const std::string&)>& reads_outputs) {
    const Instance& inst = instances_[i];
    const Step& s = *inst.step;
    InstanceResult& r = results_[i];
    r.status = Status::NotSelected;
    json ctx = context_for(i, &outputs);
    std::string when_note;
    if (s.when) {
      const std::string rendered = render(*s.when, ctx, s.when_pos);
      if (reads_outputs(rendered)) {
        when_note = "  (when " + *s.when + ": decided at run time)";
      } else if (when_false(rendered)) {
        r.status = Status::Skipped;
        observer_.note(redact_.apply("would skip " + inst.id + " on " + inst.host + ": when " + *s.when + " is false"));
        return;
      }
    }
    const actions::Action* action = registry_.find(s.uses ? *s.uses : "shell.run");
    fs::path dir = options_.render_dir / safe_dir_name(inst.id);
    make_private_dirs(dir);
    json inputs = step_inputs(rb_, s, *action, ctx);
    // inputs.json is for reading: bytes that are not UTF-8 show as U+FFFD there, while
    // command.sh and content keep them as the step would run them.
    write_private_file(dir / "inputs.json", inputs.dump(2, ' ', false, json::error_handler_t::replace) + "\n");
    if (inputs.contains("command")) write_private_file(dir / "command.sh", inputs["command"].get<std::string>() + "\n");
    if (inputs.contains("content") && inputs["content"].is_string())
      write_private_file(dir / "content", inputs["content"].get<std::string>());
    if (inputs.contains("template") && inputs["template"].is_string()) {
      try {
        write_private_file(dir / "content", actions::render_template_file(
            inputs["template"].get<std::string>(), [&](const std::string& text) { return render(text, ctx, s.with_pos); }));
      } catch (const ActionError& e) {
        throw LoadError(s.with_pos, e.what());  // a dry run reports it as bad input, before anything runs
      }
    }
    std::string what = s.run ? "run: " + inputs["command"].get<std::string>() : action->spec().name;
    if (inputs.contains("then") && inputs["then"].is_string() && !inputs["then"].get<std::string>().empty())
      what += "  then (when it changes): " + inputs["then"].get<std::string>();
    std::string verdict = "would run ";
    std::string why;
    if (!when_note.empty() || reads_outputs(inputs.dump(-1, ' ', false, json::error_handler_t::replace))) {
      why = when_note.empty() ? "  (its inputs read earlier steps' outputs: decided at run time)" : when_note;
    } else if (action->spec().name == "shell.run" && !inputs.contains("creates") && !inputs.contains("unless")) {
      why = "  (no creates/unless to check: the command runs every time)";
    } else {
      const auto [unchanged, problem] = dry_check(i, *action, inputs, ctx);
      if (unchanged) {
        r.status = Status::Unchanged;
        verdict = "unchanged ";
        why = "  (its check finds it done)";
      } else {
        why = problem.empty() ? "  (its check says it would change)" : "  (its check could not tell: " + problem + ")";
      }
    }
    observer_.note(redact_.apply(verdict + inst.id + " on " + inst.host + ": " + what.substr(0, 200) + why));
  }

  /// What an action of instance `i` works with on `host`: templates rendered with `ctx`, values
  /// it learns redacted from then on. `inputs`, `previous` and `ctx` must outlive it.
  actions::Context action_context(std::size_t i, world::Host& host, const json& inputs, const json& previous, const json& ctx,
                                  std::function<void(const std::string&)> log) {
    const Step& s = *instances_[i].step;
    return actions::Context{world_, host, inputs, s.timeout, std::move(log), previous,
                            [this, &ctx, &s](const std::string& text) { return render(text, ctx, s.with_pos); },
                            s.on && ctx.contains("host") ? ctx["host"] : json(),
                            [this](const std::string& name, const std::string& value) { redact_.add(name, value); },
                            [this, &ctx, &s](const std::string& text, const json& extra) {
                              json c = ctx;
                              c.update(extra);
                              return render(text, c, s.with_pos);
                            },
                            ctx.contains("site") ? ctx["site"] : json()};
  }

  /// The step's check, run as the real run's first attempt runs it: {true, ""} when the site is
  /// already as the step wants, {false, ""} when the step would change it, {false, why} when
  /// the check itself failed (a host not there yet, say).
  std::pair<bool, std::string> dry_check(std::size_t i, const actions::Action& action, const json& inputs, const json& ctx) {
    const Instance& inst = instances_[i];
    try {
      world::Host& host = world_.host(inst.host);
      const json previous = previous_.contains(inst.id) ? previous_[inst.id] : json();
      actions::Context actx = action_context(i, host, inputs, previous, ctx, [](const std::string&) {});
      return {action.check(actx), ""};
    } catch (const std::exception& e) {
      std::string why = redact_.apply(e.what());
      return {false, why.substr(0, why.find('\n'))};
    }
  }

  const Runbook& rb_;
  const actions::Registry& registry_;
  world::World& world_;
  const ExecOptions& options_;
  Observer& observer_;
  std::vector<Instance> instances_;
  std::vector<InstanceResult> results_;
  std::map<std::string, json> previous_;
  std::unique_ptr<Journal> journal_;
  actions::Redactor redact_;
  std::mutex mutex_;
  std::size_t finished_ = 0;
};

}  // namespace

void check_selection(const Runbook& rb, const ExecOptions& options) {
  std::vector<std::string> ids;
  for (const Step& s : rb.steps) ids.push_back(s.id);
  for (const auto& [option, list] : {std::pair{"--only", &options.only}, {"--from", &options.from}})
    for (const auto& id : *list)
      if (!rb.step(id))
        throw InputError(std::string(option) + " " + id + ": " + rb.file + " has no step '" + id + "'" + did_you_mean(id, ids));
}

RunSummary execute(const Runbook& rb, const actions::Registry& registry, world::World& world,
                   const ExecOptions& options, Observer& observer) {
  return Runner(rb, registry, world, options, observer).run();
}

}  // namespace drctl::runbook
