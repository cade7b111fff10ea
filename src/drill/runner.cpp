#include "drill/runner.hpp"

#include <yaml-cpp/yaml.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "actions/action.hpp"
#include "base/duration.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "sim/sim_world.hpp"
#include "base/error.hpp"
#include "base/shell.hpp"
#include "base/suggest.hpp"
#include "sim/nas.hpp"
#include "drill/data_check.hpp"
#include "drill/work.hpp"
#include "schedule/after_run.hpp"
#include "store/repository.hpp"

namespace drctl::drill {

namespace fs = std::filesystem;
using json = nlohmann::json;
using world::Duration;

namespace {

double minutes(Duration d) { return static_cast<double>(d.count()) / 60000.0; }

/// A snapshot's time ("2024-01-01T01:00:00.123456789Z", store::utc_text) as a time point.
std::chrono::system_clock::time_point utc_time(const std::string& text) {
  if (auto t = store::parse_utc_text(text)) return *t;
  throw Failure("the snapshot's time '" + text + "' is not ISO 8601 UTC");
}

/// Records when each step instance started and ended, in virtual minutes.
class Timeline : public runbook::Observer {
 public:
  Timeline(world::Clock& clock, Duration origin, std::string prefix) : clock_(clock), origin_(origin), prefix_(std::move(prefix)) {}
  void started(const runbook::InstanceResult& r, std::size_t, std::size_t) override { start_[r.id] = now(); }
  void finished(const runbook::InstanceResult& r, std::size_t, std::size_t) override {
    StepTiming s{prefix_ + r.id, r.host, runbook::status_name(r.status), start_.count(r.id) ? start_[r.id] : now(), now(),
                 r.attempts, cause(r), ""};
    steps.push_back(s);
  }
  void note(const std::string&) override {}
  std::vector<StepTiming> steps;

 private:
  /// A command's failure is its exit status and what it last said ("exited with status 1: cannot
  /// set property for 'tank/mail': size is less than current used or reserved space").
  static std::string cause(const runbook::InstanceResult& r) {
    if (r.error.rfind("exited with status", 0) != 0 || r.detail.empty()) return r.error;
    std::string text = r.detail;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    const auto nl = text.rfind('\n');
    const std::string last = nl == std::string::npos ? text : text.substr(nl + 1);
    return last.empty() ? r.error : r.error + ": " + last;
  }
  double now() { return minutes(std::chrono::duration_cast<Duration>(clock_.now().time_since_epoch()) - origin_); }
  world::Clock& clock_;
  Duration origin_;
  std::string prefix_;
  std::map<std::string, double> start_;
};

runbook::RunSummary execute(runbook::Runbook& rb, sim::SimWorld& world, const fs::path& state, Timeline& timeline,
                            int jobs = 0) {
  runbook::ExecOptions options;
  options.state_dir = state;
  options.jobs = jobs;
  return runbook::execute(rb, actions::Registry::builtin(), world, options, timeline);
}

/// How each VM came back in the rebuild, from the simulator's events after `since`: "pfsense
/// booted from its restored disk image, pxe installed from its ISO, …".
std::string how_appliances_came_back(sim::SimWorld& world, Duration since) {
  std::map<std::string, std::string> how;
  for (const auto& e : world.engine().events()) {
    if (Duration(e["t"].get<std::int64_t>()) < since) continue;
    const std::string who = e.value("component", ""), what = e.value("event", "");
    if (what == "disk-image-booted") how[who] = "booted from its restored disk image";
    else if (what == "appliance-installed") how[who] = "installed from its ISO";
    else if (what == "install-finished") how[who] = "installed over the network";
  }
  std::string out;
  for (const auto& [vm, text] : how) out += (out.empty() ? "" : ", ") + vm + " " + text;
  return "the machines came back: " + (out.empty() ? std::string("none") : out);
}

/// Where each step's time went: the transfers the simulator logged on its host while it ran
/// ("20.2 GB in 2.7 min at 125.0 MB/s (the network): write disk 1 of truenas").
void note_transfers(std::vector<StepTiming>& steps, sim::SimWorld& world, Duration origin) {
  struct Moved {
    double bytes = 0, seconds = 0, biggest = 0, rate = 0;
    std::string what, limit;
    int count = 0;
  };
  std::map<std::size_t, Moved> moved;
  for (const auto& e : world.engine().events()) {
    if (e.value("event", "") != "transfer") continue;
    const double at = minutes(Duration(e.value("started", e["t"].get<std::int64_t>())) - origin);  // when it began
    const std::string host = e.value("component", "");
    for (std::size_t i = 0; i < steps.size(); ++i) {
      // [start, end): a transfer logged as one step ends belongs to the next.
      if (steps[i].host != host || at < steps[i].start_min - 1e-9 || at >= steps[i].end_min - 1e-9) continue;
      Moved& m = moved[i];
      const double bytes = e.value("bytes", 0.0);
      m.bytes += bytes;
      m.seconds += e.value("seconds", 0.0);
      ++m.count;
      if (bytes >= m.biggest) {
        m.biggest = bytes;
        m.what = e.value("what", "");
        m.limit = e.value("limit", "");
        m.rate = e.value("rate", 0.0);
      }
    }
  }
  for (const auto& [i, m] : moved)
    steps[i].note = fmt::format("{} in {} at {}/s ({}): {}{}", bytes_text(m.bytes),
                                m.seconds < 60 ? fmt::format("{:.1f} s", m.seconds) : fmt::format("{:.1f} min", m.seconds / 60),
                                bytes_text(m.rate),
                                m.limit, m.what, m.count > 1 ? fmt::format(" and {} more", m.count - 1) : "");
}

/// The chain of steps the run's end waited for: from the step that finished last, back through
/// the needed step that finished last, to a step that needed none. Steps that took no time
/// (skipped, unchanged) are passed through but not listed.
std::vector<std::string> critical_path(const std::vector<StepTiming>& steps, const runbook::Runbook& rb) {
  std::map<std::string, std::vector<std::string>> needs;
  for (const auto& step : rb.steps)
    for (const auto& [id, pos] : step.needs) needs[step.id].push_back(id);
  auto base = [](const std::string& id) { return id.substr(0, id.find('[')); };
  const StepTiming* at = nullptr;
  for (const auto& s : steps)
    if (!at || s.end_min > at->end_min) at = &s;
  std::vector<std::string> chain;
  std::set<std::string> seen;
  while (at && seen.insert(at->id).second) {
    if (at->end_min - at->start_min > 0) chain.push_back(at->id);
    const auto& wanted = needs[base(at->id)];
    const StepTiming* before = nullptr;
    for (const auto& s : steps)
      if (std::find(wanted.begin(), wanted.end(), base(s.id)) != wanted.end() && (!before || s.end_min > before->end_min))
        before = &s;
    at = before;
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

std::string first_error(const runbook::RunSummary& s) {
  for (const auto& r : s.results)
    if (r.status == runbook::Status::Failed) return r.id + ": " + r.error;
  return "";
}

}  // namespace

RunResult run_drill(const Scenario& sc, std::uint64_t seed, const std::function<void(const std::string&)>& progress,
                    int jobs) {
  const auto wall = std::chrono::steady_clock::now();
  RunResult out;
  out.scenario = sc.name;
  out.file = sc.file;
  out.seed = seed;
  out.expected_failure = !sc.fail_at.empty();
  auto fail = [&](const std::string& why) {
    out.failures.push_back(why);
    out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    return out;
  };

  const ScratchDir scratch_dir("drctl-drill");
  const fs::path& scratch = scratch_dir.path();

  const runbook::Site site = runbook::load_site(sc.site.string());
  sim::SimWorld world(site.world_json(), seed);
  auto load = [&](const fs::path& file, bool restore, const json& vars) {
    runbook::Runbook rb = runbook::load_runbook(file.string());
    rb.vars["repo_dir"] = (scratch / "repo").string();
    rb.vars["restore"] = restore;
    for (const auto& [k, v] : vars.items()) rb.vars[k] = v;
    runbook::validate(rb, actions::Registry::builtin());
    return rb;
  };

  // 1. The site as it was: built from empty hardware by a person (the appliances' installers are
  // answered at their consoles), then its data.
  progress("bringing up the site");
  world.set_console_operator(true);
  Timeline before(world.clock(), Duration(0), "before:");
  runbook::Runbook up = load(sc.rebuild, false, json::object());
  auto s = execute(up, world, scratch / "state-before", before);
  if (!s.ok()) {
    out.timeline = before.steps;
    for (const auto& step : out.timeline)
      if (step.status == "failed" && !out.first_failure) out.first_failure = step;
    return fail("the site could not be brought up: " + first_error(s));
  }
  // The data the services write, and the drill's own record of it: the oracle the rebuilt site is
  // checked against (not the snapshot, which a wrong backup runbook would make wrong too). The
  // NAS and its pool come from the site (the host whose role is nas), the datasets from its vars.
  std::vector<std::string> datasets;
  for (const auto& d : site.vars.value("datasets", json::array())) datasets.push_back(d.value("name", ""));
  const sim::MachineModel* nas_model = nullptr;
  for (const auto& m : world.site().machines)
    if (m.role == "nas" && !nas_model) nas_model = &m;
  if (!datasets.empty() && !nas_model) return fail("the site declares datasets but no host with role: nas holds them");
  auto dataset_dir = [&](const std::string& ds) { return "/mnt/" + nas_model->pool + "/" + ds; };
  std::vector<DataChange> history;  // what the services did to their files, in order
  std::map<std::string, std::string> live;  // path -> dataset, of the files there now
  sim::SimHost* nas = nas_model ? world.system(nas_model->name) : nullptr;
  if (!datasets.empty() && !nas) return fail("the NAS " + nas_model->name + " has no running system after the bring-up");
  std::uint64_t counter = seed * 1000003;
  auto next = [&] { return counter = counter * 6364136223846793005ULL + 1442695040888963407ULL; };
  auto content = [&](std::size_t size) {
    std::string c(size, ' ');
    for (auto& ch : c) ch = static_cast<char>('a' + next() % 26);
    return c;
  };
  auto now_text = [&] { return store::utc_text(world.clock().calendar_now()); };
  // A write the NAS refuses (a dataset's quota) is why the drill cannot go on.
  auto write_path = [&](const std::string& ds, const std::string& path) -> std::optional<std::string> {
    DataChange c{ds, path, content(sc.file_size), now_text()};
    try {
      nas->put_file(path, *c.content, 0644);
    } catch (const std::runtime_error& e) {
      return "the services' data does not fit on " + nas_model->name + ": " + e.what();
    }
    live[path] = ds;
    history.push_back(std::move(c));
    return std::nullopt;
  };
  auto write = [&](const std::string& ds, const std::string& name) { return write_path(ds, dataset_dir(ds) + "/" + name); };
  for (const auto& ds : datasets)
    for (int i = 0; i < sc.files_per_dataset; ++i)
      if (auto why = write(ds, "item-" + std::to_string(i))) return fail(*why);
  for (const auto& [ds, bytes] : sc.data_sizes) try {
      world.declare_data_size(nas_model->name, dataset_dir(ds), bytes);
    } catch (const std::invalid_argument& e) {
      return fail("data.sizes." + ds + ": " + e.what());
    }
  // Between two nightly backups the services add a file, change one, rename one and remove one,
  // in turn across the datasets; renames and removals go through the NAS's own mv and rm. An
  // error names what could not be done.
  auto change = [&](int i) -> std::optional<std::string> {
    const std::string& ds = datasets[static_cast<std::size_t>(i) % datasets.size()];
    std::vector<std::string> files;
    for (const auto& [path, in] : live)
      if (in == ds) files.push_back(path);
    const int kind = files.empty() ? 0 : i % 4;
    if (kind == 0) return write(ds, "added-" + std::to_string(history.size()));
    const std::string path = files[next() % files.size()];
    if (kind == 1) return write_path(ds, path);
    const bool rename = kind == 2;
    const std::string to = dataset_dir(ds) + "/renamed-" + std::to_string(history.size());
    const auto r = nas->run(world::shell_command(rename ? "mv " + shell_quote(path) + " " + shell_quote(to) : "rm " + shell_quote(path)));
    if (r.exit_code != 0) return "the drill could not " + std::string(rename ? "rename " : "remove ") + path + ": " + r.err;
    live.erase(path);
    history.push_back({ds, path, std::nullopt, now_text()});
    if (rename) {
      live[to] = ds;
      history.push_back({ds, to, nas->get_file(to), now_text()});
    }
    return std::nullopt;
  };

  // 2. The backups: one, or several a night apart with the services' changes between them (the
  // later ones incremental, each from the one before).
  Timeline backup_steps(world.clock(), Duration(0), "backup:");
  runbook::Runbook backup = load(sc.backup, false, sc.backup_vars);
  const store::RetentionPolicy retention = schedule::retention_policy(site.retention);
  const bool repack_small = schedule::retention_repacks_small(site.retention);
  for (int b = 1; b <= sc.backups; ++b) {
    if (b > 1) {
      const Duration step = sc.backup_every / (sc.changes_between_backups + 1);
      for (int i = 0; i < sc.changes_between_backups; ++i) {
        world.engine().run_for(step);
        if (datasets.empty()) continue;
        if (auto why = change((b - 2) * sc.changes_between_backups + i)) return fail(*why);
      }
      world.engine().run_for(sc.backup_every - step * sc.changes_between_backups);
    }
    const std::string which = sc.backups == 1 ? std::string() : " " + std::to_string(b) + " of " + std::to_string(sc.backups);
    progress("backing up" + which);
    const std::int64_t read_before = nas ? nas->io().disk : 0;
    s = execute(backup, world, scratch / ("state-backup" + (b == 1 ? std::string() : "-" + std::to_string(b))), backup_steps);
    if (!s.ok()) return fail("the backup" + which + " failed: " + first_error(s));
    out.backup_reads.push_back(nas ? static_cast<std::uint64_t>(nas->io().disk - read_before) : 0);
    // Then what the scheduled job does after a backup (drctl schedule run): the site's retention,
    // forget and prune, on the repository.
    if (retention.empty() && !repack_small) continue;
    const schedule::RepoStatus kept = schedule::apply_retention((scratch / "repo").string(), retention, std::chrono::seconds(10),
                                                                [](const std::string&) {}, repack_small);
    if (!kept.error.empty()) return fail("the site's retention after the backup" + which + " failed: " + kept.error);
    out.retention_forgotten += kept.forgotten;
    out.retention_packs_deleted += kept.packs_deleted;
    out.retention_packs_repacked += kept.packs_repacked;
  }
  if (sc.backups > 1) out.backup_every_min = minutes(sc.backup_every);
  const Duration backed_up = world.engine().now();

  // 3. The services go on writing until the disaster: those writes are the expected loss (RPO).
  for (int i = 0; i < sc.writes_after_backup && !datasets.empty(); ++i) {
    world.engine().run_for(sc.backup_age / (sc.writes_after_backup + 1));
    if (auto why = write(datasets[i % datasets.size()], "new-" + std::to_string(i))) return fail(*why);
  }
  world.engine().run_for(sc.backup_age - (world.engine().now() - backed_up));
  const Duration disaster = world.engine().now();
  const auto disaster_calendar = world.clock().calendar_now();

  // 4. The disaster.
  progress("disaster: " + (sc.disaster.empty() ? std::string("every VM and disk is lost") : "lost " + std::to_string(sc.disaster.size()) + " VMs"));
  for (const auto& vm : world.hv().list())
    if (sc.disaster.empty() || std::find(sc.disaster.begin(), sc.disaster.end(), vm.spec.name) != sc.disaster.end())
      world.hv().destroy(vm.spec.name);

  // 5. The rebuild, with the scenario's faults.
  auto faults = sim::read_faults(sc.faults);
  for (auto& f : faults)
    if (f.at) f.at = *f.at + disaster;
  world.schedule_faults(faults);
  world.set_console_operator(false);  // a disaster rebuild is unattended: nobody answers an installer
  progress("rebuilding");
  Timeline rebuild_steps(world.clock(), disaster, "");
  runbook::Runbook rebuild = load(sc.rebuild, true, sc.rebuild_vars);
  s = execute(rebuild, world, scratch / "state-rebuild", rebuild_steps, jobs);
  out.timeline = rebuild_steps.steps;
  note_transfers(out.timeline, world, disaster);
  out.critical_path = critical_path(out.timeline, rebuild);
  for (const auto& step : out.timeline)
    if (step.status == "failed" && !out.first_failure) out.first_failure = step;
  for (const auto& e : world.engine().events())
    if (e["component"] == "faults" && (e["event"] == "fault" || e["event"] == "fault-undone"))
      out.faults.push_back({minutes(Duration(e["t"].get<std::int64_t>()) - disaster), e.value("action", ""),
                            e.value("target", ""), e.value("trigger", ""), e["event"] == "fault-undone"});
  out.not_fired = world.faults_not_fired();
  out.rto_min = minutes(world.engine().now() - disaster);
  progress(how_appliances_came_back(world, disaster));

  if (!sc.fail_at.empty()) {  // the scenario expects the rebuild to fail there, for that reason
    if (s.ok()) return fail("the rebuild succeeded, but the scenario expects it to fail at " + sc.fail_at);
    const std::string where = out.first_failure ? out.first_failure->id : "";
    const std::string why = out.first_failure ? out.first_failure->error : "";
    if (where.rfind(sc.fail_at, 0) != 0) return fail("the rebuild failed at " + where + ", not at " + sc.fail_at + ": " + why);
    if (!std::regex_search(why, std::regex(sc.reason, std::regex::icase)))
      return fail("the rebuild failed at " + where + " but not for '" + sc.reason + "': " + why);
    out.passed = true;
    out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
    return out;
  }
  if (!s.ok()) return fail("the rebuild failed: " + first_error(s));

  // 6. The checks: the data the services wrote, the invariants, the recovery time — and, if the
  // scenario says so, the services through their VIP after its node dies.
  progress("checking");
  if (!sc.kill_vip_holder.empty()) {
    const std::string holder = world.vip_holder(sc.kill_vip_holder);
    if (holder.empty()) return fail("nobody answers for " + sc.kill_vip_holder + " after the rebuild");
    const Duration killed = world.engine().now();
    world.hv().stop(holder);
    out.faults.push_back({minutes(killed - disaster), "power_off", holder, "after rebuild", false});
    world.engine().run_for(Duration(30000));
    // The failover, from the simulator's log: the first node to announce the VIP after the kill.
    out.failover = Failover{sc.kill_vip_holder, holder, "", 0};
    for (const auto& e : world.engine().events()) {
      const std::string to = e.value("to", "");
      if (e.value("event", "") != "vip-announced" || e.value("ip", "") != sc.kill_vip_holder || to.empty() || to == holder ||
          Duration(e["t"].get<std::int64_t>()) < killed)
        continue;
      out.failover->new_holder = to;
      out.failover->seconds = static_cast<double>((Duration(e["t"].get<std::int64_t>()) - killed).count()) / 1000.0;
      break;
    }
    for (const auto& h : site.vars.value("web_hosts", json::array())) {
      const std::string host = h.value("host", "");
      auto r = world.http(world.site().controller().name, sc.kill_vip_holder, 80, false, host, "/");
      if (r.status != 200) out.failures.push_back(host + " does not answer 30 s after " + holder + " died: " + r.error);
    }
    const std::string now_holder = world.vip_holder(sc.kill_vip_holder);
    if (now_holder.empty() || now_holder == holder)
      out.failures.push_back(sc.kill_vip_holder + " did not move off " + holder);
  }
  // Every LoadBalancer Service answers on its VIP from the operator's machine (IMAPS and
  // wireguard on the ingress's shared IP too), as a client would reach it.
  const auto lb_ips = world.load_balancer_ips();
  for (const auto& svc : world.kube().objects("Service")) {
    if (svc["spec"].value("type", "") != "LoadBalancer") continue;
    const std::string id = svc["metadata"].value("namespace", "") + "/" + svc["metadata"].value("name", "");
    auto ip = lb_ips.find(id);
    if (ip == lb_ips.end()) {
      out.failures.push_back("service " + id + " has no VIP after the rebuild");
      continue;
    }
    for (const auto& port : svc["spec"].value("ports", json::array())) {
      const bool udp = port.value("protocol", "TCP") == "UDP";
      const int number = port.value("port", 0);
      auto reach = world.net().connect(world.site().controller().name, ip->second, number, udp ? sim::Proto::udp : sim::Proto::tcp);
      if (reach.outcome != sim::SimNetwork::Outcome::connected)
        out.failures.push_back("service " + id + " does not answer on " + ip->second + ":" + std::to_string(number) +
                               (udp ? "/udp" : "/tcp") + ": " + reach.reason);
    }
  }
  // The data: every file as it was when the last snapshot was taken must be back, byte for byte,
  // and every file removed (or renamed away) before it must stay gone; writes made after it are
  // the loss the schedule allows (RPO), measured from what did not come back.
  store::Repository repo(scratch / "repo");
  const std::string snapshot_time = repo.find_snapshot("latest").time;
  nas = nas_model ? world.system(nas_model->name) : nullptr;
  const DataVerdict data = check_data(
      history, snapshot_time, [&](const std::string& path) { return nas ? nas->get_file(path) : std::nullopt; },
      [&](const std::string& path, std::size_t size) {
        return static_cast<std::uint64_t>(std::llround(static_cast<double>(size) * world.data_weight(nas_model->name, path)));
      },
      nas_model ? nas_model->name : "");
  out.files_differing = data.files_differing;
  out.bytes_differing = data.bytes_differing;
  out.writes_lost = data.writes_lost;
  out.bytes_lost_expected = data.bytes_lost_expected;
  out.failures.insert(out.failures.end(), data.failures.begin(), data.failures.end());
  out.rpo_min = minutes(std::chrono::duration_cast<Duration>(disaster_calendar - utc_time(snapshot_time)));  // the repository's last snapshot
  for (const auto& v : world.check_invariants(true)) out.failures.push_back("invariant: " + v);
  if (sc.max_rto && out.rto_min > minutes(*sc.max_rto))
    out.failures.push_back("RTO " + std::to_string(out.rto_min) + " min is over the " + std::to_string(minutes(*sc.max_rto)) + " allowed");
  out.passed = out.failures.empty();
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count();
  return out;
}

}  // namespace drctl::drill
