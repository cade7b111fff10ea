// The drill report as one HTML page: built as an XML tree with pugixml, which escapes every
// string it is given (a step id "<script>" stays text), and written XHTML-compatible.
#include "drill/html_report.hpp"

#include <fmt/format.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>

namespace drctl::drill {

namespace {

using pugi::xml_node;

// No '<', '>' or '&' here: pugixml escapes them in text, and a browser reads <style> verbatim.
constexpr const char* kStyle = R"(
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; max-width: 1000px; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #ccc; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin: .8em 0 .3em; }
.meta, .note { color: #555; }
.pass { color: #1b5e20; } .fail { color: #b71c1c; }
.failure { border-left: 4px solid #c62828; background: #fdecea; padding: .4em .8em; margin: .6em 0; }
.failure pre, pre.replay { background: #fff; border: 1px solid #ddd; padding: .3em .5em; white-space: pre-wrap; word-break: break-all; }
table { border-collapse: collapse; margin: .4em 0; }
td, th { border: 1px solid #ccc; padding: .2em .6em; text-align: right; }
th { background: #f3f3f3; } td.name { text-align: left; }
details { border: 1px solid #ddd; border-radius: 4px; margin: .5em 0; padding: .3em .8em; }
summary { cursor: pointer; font-weight: 600; }
svg { display: block; margin: .4em 0; font: 11px system-ui, sans-serif; }
svg .grid { stroke: #e5e5e5; } svg .axis { fill: #666; }
svg .label { fill: #333; }
svg .bar { stroke: none; } svg .done { fill: #81c784; } svg .unchanged { fill: #b0bec5; }
svg .skipped { fill: #e0e0e0; } svg .failed { fill: #e53935; } svg .other { fill: #ffcc80; }
svg .critical { stroke: #e65100; stroke-width: 2; }
svg .fault { stroke: #6a1b9a; stroke-dasharray: 3 2; } svg .fault-mark, svg .fault-text { fill: #6a1b9a; }
svg .rto { stroke: #1565c0; stroke-width: 2; } svg .rto-text { fill: #1565c0; }
svg .target { stroke: #c62828; stroke-dasharray: 6 3; stroke-width: 2; } svg .target-text { fill: #c62828; }
svg .hist { fill: #64b5f6; } svg .parallel { fill: #1565c0; } svg .serial { fill: #90a4ae; }
.legend span { display: inline-block; margin-right: 1em; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: .3em; vertical-align: middle; }
)";

/// A child element, with `text` (made XML-safe; pugixml escapes the markup) and a class.
xml_node add(xml_node parent, const char* name, const std::string& text = "", const std::string& cls = "") {
  xml_node n = parent.append_child(name);
  if (!cls.empty()) n.append_attribute("class") = cls.c_str();
  if (!text.empty()) n.append_child(pugi::node_pcdata).set_value(xml_safe_text(text).c_str());
  return n;
}

xml_node set(xml_node n, const char* name, const std::string& value) {
  n.append_attribute(name) = xml_safe_text(value).c_str();
  return n;
}

std::string num(double v) { return fmt::format("{:.1f}", v); }
std::string coord(double v) { return fmt::format("{:.2f}", v); }

/// A tooltip: SVG's <title> child.
void tip(xml_node n, const std::string& text) { add(n, "title", text); }

xml_node svg(xml_node parent, double width, double height, const std::string& label) {
  xml_node s = parent.append_child("svg");
  set(s, "xmlns", "http://www.w3.org/2000/svg");
  set(s, "width", coord(width));
  set(s, "height", coord(height));
  set(s, "viewBox", "0 0 " + coord(width) + " " + coord(height));
  set(s, "role", "img");
  set(s, "aria-label", label);
  return s;
}

xml_node rect(xml_node s, double x, double y, double w, double h, const std::string& cls) {
  xml_node r = s.append_child("rect");
  set(r, "x", coord(x));
  set(r, "y", coord(y));
  set(r, "width", coord(std::max(w, 0.0)));
  set(r, "height", coord(std::max(h, 0.0)));
  set(r, "class", cls);
  return r;
}

xml_node line(xml_node s, double x1, double y1, double x2, double y2, const std::string& cls) {
  xml_node l = s.append_child("line");
  set(l, "x1", coord(x1));
  set(l, "y1", coord(y1));
  set(l, "x2", coord(x2));
  set(l, "y2", coord(y2));
  set(l, "class", cls);
  return l;
}

xml_node label(xml_node s, double x, double y, const std::string& text, const std::string& cls, const char* anchor = "start") {
  xml_node t = add(s, "text", text, cls);
  set(t, "x", coord(x));
  set(t, "y", coord(y));
  set(t, "text-anchor", anchor);
  return t;
}

/// `s` cut to `n` characters (UTF-8 aware), with "..." when cut.
std::string shorten(const std::string& s, std::size_t n) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size(); ++i)
    if ((s[i] & 0xC0) != 0x80 && ++chars > n - 3) return s.substr(0, i) + "...";
  return s;
}

/// A step for axis ticks up to `max` minutes: at most about ten ticks, on round minutes.
double tick_step(double max) {
  for (double s : {0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1440.0})
    if (max / s <= 10) return s;
  return std::ceil(max / 10 / 1440) * 1440;
}

void ticks(xml_node s, double max, double x0, double chart_w, double top, double bottom) {
  const double step = tick_step(max);
  for (double t = 0; t <= max + 1e-9; t += step) {
    const double x = x0 + t / max * chart_w;
    line(s, x, top, x, bottom, "grid");
    label(s, x, bottom + 12, fmt::format("{:g}", t), "axis", "middle");
  }
}

bool rebuild_step(const StepTiming& s) { return s.id.rfind("before:", 0) != 0 && s.id.rfind("backup:", 0) != 0; }

/// The rebuild's steps by start time (the bring-up's when that is where the run stopped).
std::vector<StepTiming> gantt_steps(const RunResult& r) {
  std::vector<StepTiming> out;
  for (const auto& s : r.timeline)
    if (rebuild_step(s)) out.push_back(s);
  if (out.empty())
    for (const auto& s : r.timeline)
      if (s.id.rfind("before:", 0) == 0) out.push_back(s);
  std::stable_sort(out.begin(), out.end(), [](const StepTiming& a, const StepTiming& b) { return a.start_min < b.start_min; });
  return out;
}

/// The serial plan's time: the rebuild's steps one after another, each taking what it took.
double serial_minutes(const RunResult& r) {
  double sum = 0;
  for (const auto& s : r.timeline)
    if (rebuild_step(s)) sum += s.end_min - s.start_min;
  return sum;
}

std::string status_class(const std::string& status) {
  for (const char* known : {"done", "unchanged", "skipped", "failed"})
    if (status == known) return known;
  return "other";
}

bool has_rto(const RunResult& r) { return !r.expected_failure && rto_not_reached(r).empty(); }

std::string rto_text(const RunResult& r) {
  if (r.expected_failure) return "RTO n/a (the rebuild was expected to fail)";
  const std::string why = rto_not_reached(r);
  if (!why.empty()) return "RTO: not reached (" + why + ")";
  std::string out = "RTO " + num(r.rto_min) + " min";
  if (r.expect.max_rto_min)
    out += fmt::format(" against a target of {} min ({})", num(*r.expect.max_rto_min),
                       r.rto_min <= *r.expect.max_rto_min ? "met" : "missed");
  else out += " (the scenario sets no max_rto)";
  return out;
}

/// The label of a vertical line at `x`: right of it in the chart's left half, left of it in the
/// right half (so that it stays inside the chart).
void marker_label(xml_node s, double x, double y, const std::string& text, const std::string& cls, double middle) {
  if (x < middle) label(s, x + 4, y, text, cls);
  else label(s, x - 4, y, text, cls, "end");
}

/// Gantt chart of one run: a row per step in virtual minutes since the disaster, the critical
/// path outlined, faults as dashed markers, the RTO and the target as vertical lines.
void gantt(xml_node parent, const RunResult& r) {
  const std::vector<StepTiming> steps = gantt_steps(r);
  if (steps.empty()) {
    add(parent, "p", "No step of the rebuild ran.", "note");
    return;
  }
  const std::set<std::string> critical(r.critical_path.begin(), r.critical_path.end());
  double max = 0;
  for (const auto& s : steps) max = std::max(max, s.end_min);
  for (const auto& f : r.faults) max = std::max(max, f.at_min);
  if (has_rto(r)) max = std::max(max, r.rto_min);
  if (r.expect.max_rto_min) max = std::max(max, *r.expect.max_rto_min);
  max = max > 0 ? max * 1.02 : 1;
  // Above the rows: the RTO's label (y 10), the target's (y 22), the faults' markers and names.
  const double label_w = 230, chart_w = 700, row_h = 16, top = 48;
  const double bottom = top + row_h * static_cast<double>(steps.size());
  xml_node s = svg(parent, label_w + chart_w + 40, bottom + 34, "Timeline of the rebuild of " + r.scenario + " seed " + std::to_string(r.seed));
  set(s, "class", "gantt");
  auto x = [&](double m) { return label_w + m / max * chart_w; };
  ticks(s, max, label_w, chart_w, top - 4, bottom);
  label(s, label_w + chart_w / 2, bottom + 28, "virtual minutes since the disaster", "axis", "middle");
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const StepTiming& st = steps[i];
    const double y = top + row_h * static_cast<double>(i);
    tip(label(s, label_w - 6, y + row_h * 0.72, shorten(st.id, 36), "label", "end"), st.id);
    const bool on_path = critical.count(st.id) > 0;
    xml_node bar = rect(s, x(st.start_min), y + 2, std::max(x(st.end_min) - x(st.start_min), 1.5), row_h - 4,
                        "bar " + status_class(st.status) + (on_path ? " critical" : ""));
    std::string what = fmt::format("{}{}: {}-{} min, {}", st.id, st.host.empty() ? "" : " on " + st.host, num(st.start_min),
                                   num(st.end_min), st.status);
    if (st.attempts > 1) what += fmt::format(", {} attempts", st.attempts);
    if (on_path) what += ", on the critical path";
    if (!st.error.empty()) what += "\n" + st.error;
    if (!st.note.empty()) what += "\n" + st.note;
    tip(bar, what);
  }
  for (const FaultEvent& f : r.faults) {
    const double fx = x(f.at_min);
    xml_node mark = s.append_child("g");
    set(mark, "class", "fault-marker");
    line(mark, fx, top - 4, fx, bottom, "fault");
    xml_node triangle = mark.append_child("polygon");
    set(triangle, "points", coord(fx - 5) + "," + coord(top - 12) + " " + coord(fx + 5) + "," + coord(top - 12) + " " + coord(fx) + "," +
                                coord(top - 3));
    set(triangle, "class", "fault-mark");
    label(mark, fx + 7, top - 7, f.action + " " + f.target, "fault-text");
    tip(mark, fmt::format("fault at {} min: {} {}{}{}", num(f.at_min), f.action, f.target, f.trigger.empty() ? "" : " (" + f.trigger + ")",
                          f.undone ? ", undone" : ""));
  }
  if (has_rto(r)) {
    line(s, x(r.rto_min), top - 8, x(r.rto_min), bottom, "rto");
    marker_label(s, x(r.rto_min), 10, "RTO " + num(r.rto_min), "rto-text", label_w + chart_w / 2);
  }
  if (r.expect.max_rto_min) {
    line(s, x(*r.expect.max_rto_min), top - 8, x(*r.expect.max_rto_min), bottom, "target");
    marker_label(s, x(*r.expect.max_rto_min), 22, "max RTO " + num(*r.expect.max_rto_min), "target-text", label_w + chart_w / 2);
  }
}

void legend(xml_node parent) {
  xml_node p = add(parent, "p", "", "legend");
  auto item = [&](const std::string& color, const std::string& text) {
    xml_node span = add(p, "span");
    set(add(span, "span", "", "swatch"), "style", "background:" + color);
    span.append_child(pugi::node_pcdata).set_value(text.c_str());
  };
  item("#81c784", "done");
  item("#b0bec5", "unchanged");
  item("#e53935", "failed");
  item("#e65100", "critical path (outlined)");
  item("#6a1b9a", "fault");
  item("#1565c0", "RTO");
  item("#c62828", "max RTO (target)");
}

/// One run: verdict, RTO and RPO against the targets, its failure, the Gantt chart, the faults.
void run_section(xml_node parent, const RunResult& r, bool open) {
  xml_node d = add(parent, "details", "", r.passed ? "run pass" : "run fail");
  set(d, "id", fmt::format("run-{}-{}", r.scenario, r.seed));
  if (open) set(d, "open", "open");
  add(d, "summary", verdict(r), r.passed ? "pass" : "fail");
  xml_node facts = add(d, "ul");
  add(facts, "li", rto_text(r));
  add(facts, "li", fmt::format("RPO {} min (last snapshot to disaster; the scenario sets no RPO target): {} writes lost as expected, "
                               "{} files lost beyond it",
                               num(r.rpo_min), r.writes_lost, r.files_differing));
  if (const std::string backups = backups_text(r); !backups.empty()) add(facts, "li", "Backups: " + backups);
  if (r.failover) add(facts, "li", "Failover: " + failover_text(*r.failover));
  if (!r.critical_path.empty()) {
    std::string chain;
    for (const auto& id : r.critical_path) chain += (chain.empty() ? "" : " > ") + id;
    add(facts, "li", "Critical path: " + chain);
  }
  for (const auto& name : r.not_fired) add(facts, "li", "Fault never fired: " + name);
  gantt(d, r);
}

void failures_section(xml_node body, const std::vector<RunResult>& runs, const std::vector<ScenarioError>& errors) {
  const bool any = !errors.empty() || std::any_of(runs.begin(), runs.end(), [](const RunResult& r) { return !r.passed; });
  if (!any) return;
  xml_node sec = add(body, "section");
  set(sec, "id", "failures");
  add(sec, "h2", "Failures");
  for (const ScenarioError& e : errors) {
    xml_node f = add(sec, "div", "", "failure error");
    add(f, "h3", "ERROR " + e.file + ": the scenario could not run");
    add(f, "p", e.message);
  }
  for (const RunResult& r : runs) {
    if (r.passed) continue;
    xml_node f = add(sec, "div", "", "failure");
    add(f, "h3", fmt::format("FAIL {} seed {}", r.scenario, r.seed));
    if (r.first_failure) {
      const StepTiming& s = *r.first_failure;
      add(f, "p", fmt::format("Failed at step {}{} after {} min: {}", s.id, s.host.empty() ? "" : " on " + s.host, num(s.end_min),
                              s.error.empty() ? s.status : s.error));
    }
    xml_node list = add(f, "ul");
    for (const auto& why : r.failures) add(list, "li", why);
    add(f, "p", rto_text(r));
    if (!r.replay.empty()) {
      add(f, "p", "Replay:");
      add(f, "pre", r.replay, "replay");
    }
  }
}

/// A histogram of the scenario's RTO over its seeds, with the target when it falls in range.
void histogram(xml_node parent, std::vector<double> rtos, const std::optional<double>& target) {
  if (rtos.empty()) {
    add(parent, "p", "No RTO to show: no run's rebuild reached its end (or every run was expected to fail).", "note");
    return;
  }
  std::sort(rtos.begin(), rtos.end());
  const double lo = std::floor(rtos.front()), hi = std::max(std::ceil(rtos.back()), lo + 1);
  const std::size_t bins = std::min<std::size_t>(12, static_cast<std::size_t>(hi - lo) * 2);
  const double width = (hi - lo) / static_cast<double>(bins);
  std::vector<std::size_t> counts(bins);
  for (double v : rtos) ++counts[std::min(bins - 1, static_cast<std::size_t>((v - lo) / width))];
  const std::size_t most = *std::max_element(counts.begin(), counts.end());
  const double chart_w = 420, chart_h = 120, x0 = 40, top = 10;
  xml_node s = svg(parent, x0 + chart_w + 20, top + chart_h + 34, "Histogram of the RTO over the seeds");
  set(s, "class", "histogram");
  auto x = [&](double m) { return x0 + (m - lo) / (hi - lo) * chart_w; };
  line(s, x0, top + chart_h, x0 + chart_w, top + chart_h, "grid");
  for (std::size_t b = 0; b < bins; ++b) {
    const double h = chart_h * static_cast<double>(counts[b]) / static_cast<double>(most);
    const double from = lo + width * static_cast<double>(b);
    tip(rect(s, x(from) + 1, top + chart_h - h, chart_w / static_cast<double>(bins) - 2, h, "hist"),
        fmt::format("{} runs with an RTO of {} to {} min", counts[b], num(from), num(from + width)));
  }
  for (double m : {lo, (lo + hi) / 2, hi}) label(s, x(m), top + chart_h + 12, num(m), "axis", "middle");
  label(s, x0 - 4, top + 8, std::to_string(most), "axis", "end");
  label(s, x0 - 4, top + chart_h, "0", "axis", "end");
  label(s, x0 + chart_w / 2, top + chart_h + 28, "RTO, virtual minutes (runs per bin)", "axis", "middle");
  if (target && *target >= lo && *target <= hi) {
    line(s, x(*target), top, x(*target), top + chart_h, "target");
    label(s, x(*target) + 4, top + 10, "max RTO " + num(*target), "target-text");
  } else if (target) {
    const auto within = std::count_if(rtos.begin(), rtos.end(), [&](double v) { return v <= *target; });
    add(parent, "p", fmt::format("max RTO {} min (outside the range shown): {} of {} runs within it", num(*target), within, rtos.size()),
        "note");
  }
}

/// The rebuild as it ran (steps at once) against the serial plan (the same steps one after another).
void parallel_vs_serial(xml_node parent, const std::vector<const RunResult*>& runs) {
  std::vector<double> parallel, serial;
  for (const RunResult* r : runs)
    if (has_rto(*r)) {
      parallel.push_back(r->rto_min);
      serial.push_back(serial_minutes(*r));
    }
  if (parallel.empty()) return;
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[(v.size() - 1) / 2];
  };
  const double p = median(parallel), q = median(serial), most = std::max({p, q, 1e-9});
  const double x0 = 230, chart_w = 420, row = 22;
  xml_node s = svg(parent, x0 + chart_w + 90, row * 2 + 8, "The rebuild in parallel against the serial plan");
  set(s, "class", "parallel-serial");
  const std::pair<const char*, double> rows[] = {{"as run (steps at once), p50", p}, {"serial plan (steps one after another)", q}};
  for (std::size_t i = 0; i < 2; ++i) {
    const double y = 4 + row * static_cast<double>(i);
    label(s, x0 - 6, y + 14, rows[i].first, "label", "end");
    rect(s, x0, y + 3, rows[i].second / most * chart_w, row - 6, i == 0 ? "parallel" : "serial");
    label(s, x0 + rows[i].second / most * chart_w + 4, y + 14, num(rows[i].second) + " min", "label");
  }
  add(parent, "p",
      fmt::format("The serial plan is the sum of the steps' times: {:.1f}x the parallel rebuild. `drctl drill FILE -j 1` runs it.",
                  p > 0 ? q / p : 0.0),
      "note");
}

void scenarios_section(xml_node body, const std::vector<RunResult>& runs) {
  if (runs.empty()) return;
  std::map<std::string, std::vector<const RunResult*>> by_scenario;
  for (const RunResult& r : runs) by_scenario[r.scenario].push_back(&r);
  const auto summaries = summarize(runs);
  xml_node sec = add(body, "section");
  set(sec, "id", "scenarios");
  add(sec, "h2", "Scenarios");
  for (const auto& [name, members] : by_scenario) {
    const Summary& sum = summaries.at(name);
    const RunResult& first = *members.front();
    xml_node div = add(sec, "div", "", "scenario");
    set(div, "id", "scenario-" + name);
    add(div, "h3", name + " (" + first.file + ")");
    xml_node table = add(div, "table");
    xml_node head = add(table, "tr");
    for (const char* h : {"runs", "passed", "failed", "RTO min", "p50", "p95", "max", "max RTO (target)"}) add(head, "th", h);
    xml_node row = add(table, "tr");
    auto cell = [&](const std::string& t) { add(row, "td", t); };
    cell(std::to_string(sum.runs));
    cell(std::to_string(sum.passed));
    cell(std::to_string(sum.runs - sum.passed));
    for (double v : {sum.rto_min, sum.rto_p50, sum.rto_p95, sum.rto_max}) cell(sum.rto_runs ? num(v) : "n/a");
    cell(first.expect.max_rto_min ? num(*first.expect.max_rto_min) : "none");
    if (!first.expect.fail_at.empty())
      add(div, "p", "Expected to fail at " + first.expect.fail_at + (first.expect.reason.empty() ? "" : " (" + first.expect.reason + ")"),
          "note");
    std::vector<double> rtos;
    for (const RunResult* r : members)
      if (has_rto(*r)) rtos.push_back(r->rto_min);
    histogram(div, rtos, first.expect.max_rto_min);
    parallel_vs_serial(div, members);
  }
}

void runs_section(xml_node body, const std::vector<RunResult>& runs) {
  if (runs.empty()) return;
  xml_node sec = add(body, "section");
  set(sec, "id", "runs");
  add(sec, "h2", "Runs");
  legend(sec);
  std::vector<const RunResult*> order;
  for (const RunResult& r : runs) order.push_back(&r);
  std::stable_partition(order.begin(), order.end(), [](const RunResult* r) { return !r->passed; });  // failures first
  std::set<std::string> shown;  // scenarios whose first run is open
  for (const RunResult* r : order) run_section(sec, *r, !r->passed || shown.insert(r->scenario).second);
}

}  // namespace

std::string html_report(const std::vector<RunResult>& runs, const std::vector<ScenarioError>& errors) {
  pugi::xml_document doc;
  doc.append_child(pugi::node_doctype).set_value("html");
  xml_node html = doc.append_child("html");
  set(html, "xmlns", "http://www.w3.org/1999/xhtml");
  set(html, "lang", "en");
  xml_node head = add(html, "head");
  set(add(head, "meta"), "charset", "utf-8");
  add(head, "title", "drctl drill report");
  add(head, "style", kStyle);
  xml_node body = add(html, "body");
  add(body, "h1", "drctl drill report");
  const auto failed = std::count_if(runs.begin(), runs.end(), [](const RunResult& r) { return !r.passed; });
  const auto summaries = summarize(runs);
  add(body, "p",
      fmt::format("drctl {}: {} runs of {} scenarios, {} passed, {} failed{}", kVersion, runs.size(), summaries.size(),
                  static_cast<long>(runs.size()) - failed, failed,
                  errors.empty() ? std::string() : fmt::format(", {} could not run", errors.size())),
      failed || !errors.empty() ? "meta fail" : "meta pass");
  if (runs.empty() && errors.empty()) add(body, "p", "No drill runs.", "note");
  failures_section(body, runs, errors);
  scenarios_section(body, runs);
  runs_section(body, runs);
  std::ostringstream out;
  // Empty elements as <x></x>: an HTML parser reads <div/> as an open tag.
  doc.save(out, "", pugi::format_raw | pugi::format_no_empty_element_tags | pugi::format_no_declaration, pugi::encoding_utf8);
  return out.str() + "\n";
}

}  // namespace drctl::drill
