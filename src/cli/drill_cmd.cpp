// `drctl drill`: scenarios run in the simulator, with their reports.
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstdio>
#include <mutex>

#include "base/shell.hpp"
#include "cli/commands.hpp"
#include "cli/console_observer.hpp"
#include "cli/format.hpp"
#include "cli/progress.hpp"
#include "drill/html_report.hpp"
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

/// The scenario's `expect:`, as the reports carry it.
drill::Expectations expectations(const drill::Scenario& s) {
  drill::Expectations e;
  if (s.max_rto) e.max_rto_min = static_cast<double>(s.max_rto->count()) / 60000.0;
  e.fail_at = s.fail_at;
  e.reason = s.reason;
  return e;
}

/// One line of text folded at spaces to `width` columns; continuation lines indented 4 more than
/// the line's own indentation. A word longer than a line is cut where the line ends.
std::string fold(const std::string& line, std::size_t width) {
  if (text_columns(line) <= width || width < 20) return line + "\n";  // narrower: the terminal's own wrapping is all there is
  const std::string indent(std::min(line.find_first_not_of(' '), width / 2) + 4, ' ');
  std::string out, rest = line;
  while (text_columns(rest) > width) {
    std::string head = cut_to_columns(rest, width);
    const auto space = head.rfind(' ');
    if (space != std::string::npos && space > indent.size()) head = head.substr(0, space);
    out += head + "\n";
    rest = rest.substr(head.size());
    rest = indent + rest.substr(std::min(rest.find_first_not_of(' '), rest.size()));
  }
  return out + rest + "\n";
}

/// The text report on stdout; on a terminal folded to its width (a 70-column pane shows each line
/// once, not wrapped by the terminal mid-word). A replay command stays on one line, to be copied.
void print_wrapped(const std::string& text) {
  if (::isatty(STDOUT_FILENO) != 1) {
    std::fputs(text.c_str(), stdout);
    return;
  }
  const std::size_t width = terminal_columns(STDOUT_FILENO);
  const bool colour = use_colour(STDOUT_FILENO);
  std::string out;
  std::size_t from = 0;
  for (std::size_t nl; (nl = text.find('\n', from)) != std::string::npos; from = nl + 1) {
    const std::string line = text.substr(from, nl - from);
    const bool command = line.rfind("  replay: ", 0) == 0 || line.rfind("Replay: ", 0) == 0;
    std::string shown = command ? line + "\n" : fold(line, width);
    // A verdict's first word in colour (after folding: the escapes take no columns).
    for (const auto& [word, sgr] : {std::pair{"PASS ", "32"}, std::pair{"FAIL ", "1;31"}})
      if (colour && shown.rfind(word, 0) == 0) shown = "\033[" + std::string(sgr) + "m" + std::string(word, 4) + "\033[0m" + shown.substr(4);
    out += shown;
  }
  out += text.substr(from);  // a last line without a newline, as it is
  std::fputs(out.c_str(), stdout);
}

/// What a drill shows on stderr while it runs. On a terminal: one status line rewritten in place,
/// "[3/12] running 2, passed 1, failed 0: total-loss seed 4: rebuilding", never wider than the
/// terminal. Otherwise a single run's phases as plain lines (a CI log), and nothing per run of a
/// batch: the report on stdout has each result once.
class DrillProgress {
 public:
  /// `good`/`bad`: what the two outcomes are called ("passed"/"failed", "caught"/"missed").
  explicit DrillProgress(std::size_t total, std::string good = "passed", std::string bad = "failed")
      : tty_(::isatty(STDERR_FILENO) == 1), single_(total == 1), width_(terminal_columns(STDERR_FILENO)), total_(total),
        good_(std::move(good)), bad_(std::move(bad)) {}
  ~DrillProgress() {
    if (shown_) std::fputs("\r\033[K", stderr);
  }
  DrillProgress(const DrillProgress&) = delete;
  DrillProgress& operator=(const DrillProgress&) = delete;

  void started(const std::string& what) {
    std::lock_guard lock(mutex_);
    started_ = true;
    ++running_;
    last_ = what;
    draw();
  }
  void phase(const std::string& what, const std::string& phase) {
    std::lock_guard lock(mutex_);
    if (!tty_) {
      if (single_) std::fprintf(stderr, "drctl: %s: %s\n", printable(what).c_str(), printable(phase).c_str());
      return;
    }
    last_ = what + ": " + phase;
    draw();
  }
  void finished(bool passed, const std::string& what = "") {
    std::lock_guard lock(mutex_);
    if (running_ > 0) --running_;
    ++(passed ? passed_ : failed_);
    if (!what.empty()) last_ = what;
    draw();
  }

 private:
  void draw() {
    if (!tty_) return;
    std::string line = fmt::format("[{}/{}] ", passed_ + failed_, total_);
    if (started_) line += fmt::format("running {}, ", running_);  // mutations report only their ends
    line += fmt::format("{} {}, {} {}", good_, passed_, bad_, failed_);
    if (!last_.empty()) line += ": " + printable(last_);
    // One column short of the width: a terminal that wraps at the last column would scroll.
    std::fprintf(stderr, "\r\033[K%s", cut_to_columns(line, width_ > 1 ? width_ - 1 : 1).c_str());
    std::fflush(stderr);
    shown_ = true;
  }

  std::mutex mutex_;
  const bool tty_, single_;
  const std::size_t width_, total_;
  const std::string good_, bad_;
  std::size_t running_ = 0, passed_ = 0, failed_ = 0;
  bool started_ = false;
  std::string last_;
  bool shown_ = false;
};

/// `drill SCENARIO --mutations FILE`: the scenario once per catalogue entry, each on its own copy.
int cmd_mutations(const drill::Scenario& scenario, const std::string& file, const std::string& catalogue, std::uint64_t seed,
                  const std::string& junit, int jobs) {
  const auto mutations = drill::load_mutations(catalogue, scenario.site.parent_path());  // every entry checked first
  std::fprintf(stderr, "drctl: %s: %zu mutations, seed %llu\n", scenario.name.c_str(), mutations.size(),
               static_cast<unsigned long long>(seed));
  std::vector<drill::MutationResult> results;
  {
    // Each result is printed once, on stdout at the end; on a terminal a progress line meanwhile.
    DrillProgress progress(mutations.size(), "caught", "missed");
    results = drill::run_mutations(scenario, mutations, seed, [&](const drill::MutationResult& r) {
      progress.finished(r.caught && r.where_expected, r.mutation.name);
    }, jobs);
  }
  print_wrapped(drill::mutations_text(results));
  if (!junit.empty()) runbook::write_private_file(junit, drill::mutations_junit(scenario.name, results));
  for (const auto& r : results)
    if (!r.caught || !r.where_expected) {
      std::printf("replay: %s --mutations %s\n", drill::replay_command(file, seed, jobs).c_str(), shell_quote(catalogue).c_str());
      return kFailed;
    }
  return kOk;
}

/// Where the results go, as the options ask.
struct Outputs {
  std::string junit, report, html;
  bool json = false;  // JSON lines on stdout instead of the text report
};

void write_files(const Outputs& out, const std::vector<drill::RunResult>& runs, const std::vector<drill::ScenarioError>& errors) {
  if (!out.junit.empty()) runbook::write_private_file(out.junit, drill::junit_report(runs, errors));
  if (!out.report.empty())
    runbook::write_private_file(out.report, drill::json_report(runs, errors).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  if (!out.html.empty()) runbook::write_private_file(out.html, drill::html_report(runs, errors));
}

/// Each scenario read and checked before anything runs. One that is bad is its error (one line
/// on stderr now, and in the reports), and the others still run: a batch in CI reports them all.
std::vector<drill::Scenario> load_scenarios(const std::vector<std::string>& files, std::vector<std::string>& typed,
                                            std::vector<drill::ScenarioError>& errors) {
  std::vector<drill::Scenario> out;
  for (const auto& f : files) try {
      out.push_back(drill::load_scenario(f));
      typed.push_back(f);
    } catch (const InputError& e) {
      std::fprintf(stderr, "drctl: error: %s\n", printable(e.what()).c_str());
      errors.push_back({f, e.what()});
    }
  return out;
}

int cmd_drill(const std::vector<std::string>& files, const std::string& seeds_text, const std::string& shard, const Outputs& out,
              int jobs, const std::string& mutations) {
  auto seeds = parse_seeds(seeds_text);
  if (!shard.empty() && !mutations.empty()) throw InputError("--shard: is for seed sweeps, not --mutations");
  if (!shard.empty()) seeds = shard_of(seeds, shard);
  if (!mutations.empty()) {
    if (files.size() != 1) throw InputError("--mutations: give one scenario (each mutation runs it once)");
    if (!out.report.empty() || !out.html.empty() || out.json)
      throw InputError("--mutations: --report, --html and --json are for drills; use --junit for the mutations");
    return cmd_mutations(drill::load_scenario(files.front()), files.front(), mutations, seeds.front(), out.junit, jobs);
  }
  std::vector<std::string> typed;  // each scenario's file as given, for its replay command
  std::vector<drill::ScenarioError> errors;
  const std::vector<drill::Scenario> scenarios = load_scenarios(files, typed, errors);
  const int bad = errors.empty() ? kOk : kBadInput;
  if (out.json)
    for (const auto& e : errors) std::printf("%s\n", drill::json_line(e).c_str());
  if (seeds.empty()) {  // more shards than seeds: this one has nothing to run, which is not a failure
    if (!out.json) std::printf("No drill runs: shard %s of %s has no seeds.\n", shard.c_str(), seeds_text.c_str());
    write_files(out, {}, errors);
    return bad;
  }
  // Runs are independent simulations: as many at once as there are cores; reported in order.
  struct Work {
    const drill::Scenario* scenario;
    const std::string* file;
    std::uint64_t seed;
  };
  std::vector<Work> work;
  for (std::size_t i = 0; i < scenarios.size(); ++i)
    for (auto seed : seeds) work.push_back({&scenarios[i], &typed[i], seed});
  std::vector<drill::RunResult> runs(work.size());
  {
    DrillProgress progress(work.size());
    drill::run_parallel(
        work.size(),
        [&](std::size_t i) {
          const Work& w = work[i];
          const std::string what = fmt::format("{} seed {}", w.scenario->name, w.seed);
          progress.started(what);
          drill::RunResult r = drill::run_drill(*w.scenario, w.seed, [&](const std::string& phase) { progress.phase(what, phase); }, jobs);
          r.expect = expectations(*w.scenario);
          r.replay = drill::replay_command(*w.file, w.seed, jobs);
          runs[i] = std::move(r);
        },
        [&](std::size_t i) {  // one at a time
          progress.finished(runs[i].passed);
          if (out.json) {
            std::printf("%s\n", drill::json_line(runs[i]).c_str());
            std::fflush(stdout);  // a line per run as it ends, for a script reading along
          }
        });
  }
  if (!out.json && !runs.empty()) print_wrapped(drill::text_report(runs, work.size() == 1));
  write_files(out, runs, errors);
  if (bad != kOk) return bad;
  for (const auto& r : runs)
    if (!r.passed) return kFailed;
  return kOk;
}

}  // namespace

void add_drill_command(CLI::App& app, Action& run) {
  struct Args {
    std::vector<std::string> files;
    std::string seeds = "1", shard, mutations;
    Outputs out;
    int jobs = 0;
  };
  auto a = std::make_shared<Args>();
  // pointers into *a: the callback below runs while `a` lives
  auto* d = app.add_subcommand("drill", "Run disaster scenarios against the simulated site: backup, disaster, rebuild, checks");
  d->add_option("SCENARIO", a->files, "Scenario files (runbooks/homelab/drills/*.yaml)")->required();
  d->add_option("--seeds", a->seeds, "A seed or a range A..B: one run per scenario and seed")->capture_default_str();
  d->add_option("--shard", a->shard,
                "I/N: run only shard I of N of the seeds (every N-th, starting at the I-th), so a sweep splits over a CI matrix "
                "without overlap or gaps");
  d->add_option("--junit", a->out.junit, "Write JUnit XML for CI (RTO, RPO and seed as properties; a bad scenario as its <error>)");
  d->add_option("--report", a->out.report, "Write every result as JSON (with the replay command of each run)");
  d->add_option("--html", a->out.html,
                "Write one self-contained HTML page: each run's timeline, critical path, faults, RTO/RPO against the "
                "targets; per scenario the RTO over the seeds");
  d->add_flag("--json", a->out.json, "Print one JSON line per run to stdout (instead of the text report), as each run ends");
  d->add_option("--mutations", a->mutations,
                "A catalogue of misconfigurations (runbooks/homelab/mutations.yaml): run the scenario once per "
                "entry, each applied alone to a copy of the site's files; report each as caught (where, why) or missed");
  d->add_option("-j,--jobs", a->jobs, "Rebuild steps at once (1: the serial plan, for comparing RTO; default: all that can)")
      ->check(CLI::Validator([](std::string& v) { return whole_number_problem(v, "-j", 1, INT_MAX); }, "", "COUNT"));
  d->callback([&run, a] { run = [a] { return cmd_drill(a->files, a->seeds, a->shard, a->out, a->jobs, a->mutations); }; });
}

}  // namespace drctl::cli
