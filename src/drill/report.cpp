// Drill results and their reports: summaries over seeds, text, JSON and JUnit XML.
#include "drill/report.hpp"

#include <fmt/format.h>
#include <pugixml.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string_view>

#include "base/shell.hpp"

namespace drctl::drill {

std::string bytes_text(double bytes) {
  if (bytes >= 1e9) return fmt::format("{:.1f} GB", bytes / 1e9);
  if (bytes >= 1e6) return fmt::format("{:.1f} MB", bytes / 1e6);
  return fmt::format("{:.0f} kB", bytes / 1e3);
}

using json = nlohmann::json;

namespace {

/// Nearest-rank percentile `p` (1..100) of sorted, non-empty `values`.
double percentile(const std::vector<double>& sorted, std::size_t p) {
  std::size_t rank = (p * sorted.size() + 99) / 100;  // ceil(p/100 * n), at least 1 for n ≥ 1
  return sorted[rank - 1];
}

std::string plural(std::uint64_t n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

/// "restore-data on truenas after 3 attempts: no space left on device"
std::string describe_step(const StepTiming& s) {
  std::string out = s.id;
  if (!s.host.empty()) out += " on " + s.host;
  if (s.attempts > 1) out += " after " + plural(s.attempts, "attempt");
  if (!s.error.empty()) out += ": " + s.error;
  return out;
}

void append_timeline(std::string& out, const RunResult& r) {
  std::vector<StepTiming> steps = r.timeline;
  std::stable_sort(steps.begin(), steps.end(),
                   [](const StepTiming& a, const StepTiming& b) { return a.start_min < b.start_min; });
  out += "Timeline (virtual minutes):\n";
  // Columns as wide as the longest step id and host of this run: a long id never pushes its
  // row's host and attempts out of line.
  std::size_t id_width = 30, host_width = 14;
  for (const StepTiming& s : steps) id_width = std::max(id_width, s.id.size()), host_width = std::max(host_width, s.host.size());
  for (const StepTiming& s : steps) {
    out += fmt::format("  {:6.1f}-{:<6.1f} {:<9} {:<{}} {:<{}} {}\n", s.start_min, s.end_min, s.status, s.id, id_width,
                       s.host, host_width, plural(s.attempts, "attempt"));
    if (!s.error.empty()) out += fmt::format("                 error: {}\n", s.error);
  }
}

/// The steps the RTO waited for, in order, with their share of it: where to spend effort.
void append_critical_path(std::string& out, const RunResult& r) {
  if (r.critical_path.empty()) return;
  out += "Critical path (what the RTO waited for):\n";
  for (const std::string& id : r.critical_path) {
    auto s = std::find_if(r.timeline.begin(), r.timeline.end(), [&](const StepTiming& t) { return t.id == id; });
    if (s == r.timeline.end()) continue;
    const double took = s->end_min - s->start_min;
    out += fmt::format("  {:6.1f}-{:<6.1f} {:5.1f} min {:3.0f}%  {}{}\n", s->start_min, s->end_min, took,
                       r.rto_min > 0 ? 100 * took / r.rto_min : 0.0, s->id,
                       s->attempts > 1 ? " (" + plural(s->attempts, "attempt") + ")" : "");
    if (!s->note.empty()) out += "                 " + s->note + "\n";
  }
}

void append_faults(std::string& out, const RunResult& r) {
  if (r.faults.empty()) out += "Faults: none\n";
  else out += "Faults (virtual minutes):\n";
  for (const FaultEvent& f : r.faults) {
    out += fmt::format("  {:6.1f}  {} {}", f.at_min, f.action, f.target);
    if (!f.trigger.empty()) out += " (" + f.trigger + ")";
    out += f.undone ? ", undone\n" : "\n";
  }
  for (const std::string& name : r.not_fired) out += "  never fired: " + name + "\n";
}

/// The block of one run: timeline (optional), faults, RTO/RPO, data lost, failures, verdict.
std::string run_block(const RunResult& r, bool timeline) {
  std::string out = fmt::format("== {} seed {} ({})\n", r.scenario, r.seed, r.file);
  if (timeline) append_timeline(out, r);
  if (timeline) append_critical_path(out, r);
  append_faults(out, r);
  const std::string not_reached = rto_not_reached(r);
  if (r.expected_failure) out += "RTO n/a (the rebuild was expected to fail)\n";
  else if (!not_reached.empty()) out += "RTO: not reached (" + not_reached + ")\n";
  else out += fmt::format("RTO {:.1f} min (disaster to services verified)\n", r.rto_min);
  out += fmt::format("RPO {:.1f} min (last snapshot to disaster): {}, {} lost as expected\n", r.rpo_min,
                     plural(r.writes_lost, "write"), plural(r.bytes_lost_expected, "byte"));
  out += fmt::format("Lost beyond RPO: {}, {}\n", plural(r.files_differing, "file"),
                     plural(r.bytes_differing, "byte"));
  if (const std::string backups = backups_text(r); !backups.empty()) out += "Backups: " + backups + "\n";
  if (r.failover) out += "Failover: " + failover_text(*r.failover) + "\n";
  if (r.first_failure) out += "First failing step: " + describe_step(*r.first_failure) + "\n";
  if (!r.failures.empty()) out += "Failed expectations:\n";
  for (const std::string& f : r.failures) out += "  - " + f + "\n";
  if (!r.passed && !r.replay.empty()) out += "Replay: " + r.replay + "\n";
  out += verdict(r) + "\n";
  return out;
}

/// The verdict line, and for a failure the command that replays it.
std::string verdict_lines(const RunResult& r) {
  std::string out = verdict(r) + "\n";
  if (!r.passed && !r.replay.empty()) out += "  replay: " + r.replay + "\n";
  return out;
}

std::string summary_line(const std::string& scenario, const Summary& s) {
  std::string out = fmt::format("{}: {}, {} passed; ", scenario, plural(s.runs, "run"), s.passed);
  if (s.rto_runs == 0) return out + "RTO n/a";
  return out + fmt::format("RTO min {:.1f} / p50 {:.1f} / p95 {:.1f} / max {:.1f} min", s.rto_min, s.rto_p50,
                           s.rto_p95, s.rto_max);
}

/// Length of the UTF-8 sequence at s[i] when it encodes a character XML 1.0 allows (≥ U+0080),
/// else 0.
std::size_t xml_char_length(std::string_view s, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  std::size_t n = 0;
  char32_t cp = 0;
  if ((byte(i) & 0xE0) == 0xC0) {
    n = 2;
    cp = byte(i) & 0x1F;
  } else if ((byte(i) & 0xF0) == 0xE0) {
    n = 3;
    cp = byte(i) & 0x0F;
  } else if ((byte(i) & 0xF8) == 0xF0) {
    n = 4;
    cp = byte(i) & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};  // shorter forms are overlong
  bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  if (cp < smallest[n] || cp > 0x10FFFF || surrogate || cp == 0xFFFE || cp == 0xFFFF) return 0;
  return n;
}

/// `s` as XML 1.0 character data or (with `attribute`) an attribute value in double quotes.
std::string xml_escape(std::string_view s, bool attribute) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = xml_char_length(s, i);
      if (n == 0) {
        out += fmt::format("\\x{:02x}", c);  // invalid UTF-8: one byte at a time
        n = 1;
      } else {
        out.append(s, i, n);
      }
      i += n;
      continue;
    }
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      case '\r': out += "&#13;"; break;
      case '\n': out += attribute ? "&#10;" : "\n"; break;  // attribute values would turn them into spaces
      case '\t': out += attribute ? "&#9;" : "\t"; break;
      default:
        if (c < 0x20) out += fmt::format("\\x{:02x}", c);  // not allowed in XML 1.0, even as &#N;
        else out += static_cast<char>(c);
    }
    ++i;
  }
  return out;
}

/// A number as JSON writes it (shortest form that reads back as the same double), so that a
/// JUnit property and the JSON report agree to the bit.
std::string number_text(double v) { return fmt::format("{}", v); }

void add_property(pugi::xml_node properties, const std::string& name, const std::string& value) {
  pugi::xml_node p = properties.append_child("property");
  p.append_attribute("name") = name.c_str();
  p.append_attribute("value") = xml_safe_text(value).c_str();
}

/// <testsuite name tests failures errors time>, attributes in the order CI readers show them.
pugi::xml_node add_suite(pugi::xml_node parent, const std::string& name, std::size_t tests, std::size_t failures,
                         std::size_t errors, double seconds) {
  pugi::xml_node suite = parent.append_child("testsuite");
  suite.append_attribute("name") = xml_safe_text(name).c_str();
  suite.append_attribute("tests") = tests;
  suite.append_attribute("failures") = failures;
  suite.append_attribute("errors") = errors;
  suite.append_attribute("time") = fmt::format("{:.3f}", seconds).c_str();
  return suite;
}

/// The <failure> element of a run that did not pass.
void add_failure(pugi::xml_node testcase, const RunResult& r) {
  std::string body;
  for (const std::string& f : r.failures) body += f + "\n";
  if (r.first_failure) body += "first failing step: " + describe_step(*r.first_failure) + "\n";
  if (!r.replay.empty()) body += "replay: " + r.replay + "\n";
  std::string message = !r.failures.empty() ? r.failures.front()
                        : r.first_failure   ? "step " + describe_step(*r.first_failure)
                                            : "the drill did not pass";
  pugi::xml_node failure = testcase.append_child("failure");
  failure.append_attribute("message") = xml_safe_text(message).c_str();
  failure.append_attribute("type") = "drill";
  failure.text() = xml_safe_text(body).c_str();
}

/// One run: its properties (seed, RTO or why there is none, RPO, replay), failure, text report.
void add_testcase(pugi::xml_node suite, const std::string& scenario, const RunResult& r) {
  pugi::xml_node c = suite.append_child("testcase");
  c.append_attribute("name") = fmt::format("seed {}", r.seed).c_str();
  c.append_attribute("classname") = xml_safe_text("drill." + scenario).c_str();
  c.append_attribute("time") = fmt::format("{:.3f}", r.wall_seconds).c_str();
  pugi::xml_node props = c.append_child("properties");
  add_property(props, "seed", std::to_string(r.seed));
  const std::string not_reached = rto_not_reached(r);
  if (r.expected_failure) add_property(props, "rto", "n/a (the rebuild was expected to fail)");
  else if (!not_reached.empty()) add_property(props, "rto", "not reached (" + not_reached + ")");
  else add_property(props, "rto_min", number_text(r.rto_min));
  add_property(props, "rpo_min", number_text(r.rpo_min));
  if (r.failover && !r.failover->new_holder.empty()) {
    add_property(props, "failover_seconds", number_text(r.failover->seconds));
    add_property(props, "failover_new_holder", r.failover->new_holder);
  }
  if (!r.passed && !r.replay.empty()) add_property(props, "replay", r.replay);
  if (!r.passed) add_failure(c, r);
  c.append_child("system-out").text() = xml_safe_text(text_report({r}, true)).c_str();
}

/// The scenario's expectations and RTO over its seeds, as <properties> of its testsuite.
void add_suite_properties(pugi::xml_node suite, const RunResult& first, const Summary& s) {
  pugi::xml_node props = suite.append_child("properties");
  add_property(props, "drctl_version", kVersion);
  add_property(props, "file", first.file);
  if (first.expect.max_rto_min) add_property(props, "max_rto_min", number_text(*first.expect.max_rto_min));
  if (!first.expect.fail_at.empty()) add_property(props, "fail_at", first.expect.fail_at);
  if (s.rto_runs == 0) return;
  add_property(props, "rto_p50_min", number_text(s.rto_p50));
  add_property(props, "rto_p95_min", number_text(s.rto_p95));
  add_property(props, "rto_max_min", number_text(s.rto_max));
}

}  // namespace

std::string backups_text(const RunResult& r) {
  if (r.backup_reads.size() < 2 && !r.retention_forgotten && !r.retention_packs_repacked) return "";
  std::string reads;
  for (std::size_t i = 0; i < r.backup_reads.size(); ++i)
    reads += (i == 0 ? "" : i + 1 == r.backup_reads.size() ? " and " : ", ") + bytes_text(static_cast<double>(r.backup_reads[i]));
  std::string text;
  if (r.backup_reads.size() < 2) {
    text = fmt::format("{}, which read {} from the NAS's disks", r.backup_reads.size(), reads);
  } else {
    const double hours = r.backup_every_min / 60;
    const std::string apart =
        hours == std::floor(hours) ? fmt::format("{:.0f} h", hours) : fmt::format("{:.1f} min", r.backup_every_min);
    text = fmt::format("{}, {} apart, restored from the last; they read {} from the NAS's disks", r.backup_reads.size(), apart, reads);
  }
  if (r.retention_forgotten && !r.retention_packs_repacked)
    text += fmt::format("; the site's retention forgot {} and pruned {}", plural(r.retention_forgotten, "snapshot"),
                        plural(r.retention_packs_deleted, "pack"));
  else if (r.retention_forgotten || r.retention_packs_repacked)
    text += fmt::format("; the site's retention forgot {}, deleted {} and rewrote {} into full ones",
                        plural(r.retention_forgotten, "snapshot"), plural(r.retention_packs_deleted, "pack"),
                        plural(r.retention_packs_repacked, "small pack"));
  return text;
}

std::string junit_escape(std::string_view s, bool attribute) { return xml_escape(s, attribute); }

std::string xml_safe_text(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = c >= 0x80 ? xml_char_length(s, i) : 1;
    const bool allowed = c >= 0x80 ? n > 0 : (c >= 0x20 || c == '\t' || c == '\n' || c == '\r');
    if (allowed) {
      out.append(s, i, n);
    } else {
      out += fmt::format("\\x{:02x}", c);  // one byte at a time
      n = 1;
    }
    i += n;
  }
  return out;
}

std::string replay_command(const std::string& file, std::uint64_t seed, int jobs) {
  std::string out = "drctl drill " + shell_quote(file) + " --seeds " + std::to_string(seed);
  if (jobs != 0) out += " -j " + std::to_string(jobs);
  return out;
}

std::string failover_text(const Failover& f) {
  if (f.new_holder.empty()) return fmt::format("nobody took {} over after {} died", f.vip, f.old_holder);
  return fmt::format("{} moved from {} to {} in {:.1f} s", f.vip, f.old_holder, f.new_holder, f.seconds);
}

std::string rto_not_reached(const RunResult& r) {
  if (r.first_failure) return "failed at " + r.first_failure->id;
  for (const std::string& f : r.failures)
    if (f.rfind("the rebuild failed", 0) == 0) return "the rebuild failed";
  // The runner stops before the rebuild when the site, its data or the backup fail: a failure,
  // and no step of the rebuild in the timeline.
  const bool rebuilt = std::any_of(r.timeline.begin(), r.timeline.end(), [](const StepTiming& s) {
    return s.id.rfind("before:", 0) != 0 && s.id.rfind("backup:", 0) != 0;
  });
  if (!rebuilt && !r.failures.empty()) return "the rebuild did not run";
  return "";
}

std::map<std::string, Summary> summarize(const std::vector<RunResult>& runs) {
  std::map<std::string, Summary> out;
  std::map<std::string, std::vector<double>> rtos;
  for (const RunResult& r : runs) {
    Summary& s = out[r.scenario];
    ++s.runs;
    if (r.passed) ++s.passed;
    if (!r.expected_failure && rto_not_reached(r).empty()) rtos[r.scenario].push_back(r.rto_min);
  }
  for (auto& [scenario, values] : rtos) {
    std::sort(values.begin(), values.end());
    Summary& s = out[scenario];
    s.rto_runs = values.size();
    s.rto_min = values.front();
    s.rto_p50 = percentile(values, 50);
    s.rto_p95 = percentile(values, 95);
    s.rto_max = values.back();
  }
  return out;
}

std::string verdict(const RunResult& r) {
  std::string head = fmt::format("{} {} seed {}: ", r.passed ? "PASS" : "FAIL", r.scenario, r.seed);
  if (r.passed && r.expected_failure) {
    if (!r.first_failure) return head + "failed as expected";
    return head + "failed as expected at " + describe_step(*r.first_failure);
  }
  if (r.passed) {
    std::string out = head + fmt::format("RTO {:.1f} min, RPO {:.1f} min, {} lost beyond RPO", r.rto_min, r.rpo_min,
                                         plural(r.files_differing, "file"));
    if (r.failover && !r.failover->new_holder.empty())
      out += fmt::format(", VIP to {} in {:.1f} s", r.failover->new_holder, r.failover->seconds);
    return out;
  }
  if (!r.failures.empty()) {
    std::string more = r.failures.size() > 1 ? fmt::format(" (+{} more)", r.failures.size() - 1) : "";
    return head + r.failures.front() + more;
  }
  if (r.first_failure) return head + "step " + describe_step(*r.first_failure);
  return head + "did not pass";
}

std::string text_report(const std::vector<RunResult>& runs, bool timeline) {
  if (runs.empty()) return "No drill runs.\n";
  if (runs.size() == 1) return run_block(runs.front(), timeline);
  std::string out;
  for (const RunResult& r : runs) out += timeline ? run_block(r, true) + "\n" : verdict_lines(r);
  out += timeline ? "Summary:\n" : "\nSummary:\n";
  for (const auto& [scenario, s] : summarize(runs)) out += "  " + summary_line(scenario, s) + "\n";
  return out;
}

json json_report(const std::vector<RunResult>& runs, const std::vector<ScenarioError>& errors) {
  return {{"drctl_version", kVersion}, {"runs", runs}, {"summary", summarize(runs)}, {"errors", errors}};
}

std::string json_line(const RunResult& run) {
  json j = run;
  j["drctl_version"] = kVersion;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string json_line(const ScenarioError& error) {
  return json{{"drctl_version", kVersion}, {"file", error.file}, {"error", error.message}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

std::string junit_report(const std::vector<RunResult>& runs, const std::vector<ScenarioError>& errors) {
  std::map<std::string, std::vector<const RunResult*>> by_scenario;
  std::size_t failures = 0;
  double seconds = 0;
  for (const RunResult& r : runs) {
    by_scenario[r.scenario].push_back(&r);
    if (!r.passed) ++failures;
    seconds += r.wall_seconds;
  }
  pugi::xml_document doc;
  pugi::xml_node decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  pugi::xml_node root = doc.append_child("testsuites");
  root.append_attribute("name") = "drctl drill";
  root.append_attribute("tests") = runs.size() + errors.size();
  root.append_attribute("failures") = failures;
  root.append_attribute("errors") = errors.size();
  root.append_attribute("time") = fmt::format("{:.3f}", seconds).c_str();
  const auto summaries = summarize(runs);
  for (const auto& [scenario, members] : by_scenario) {
    std::size_t suite_failures = 0;
    double suite_seconds = 0;
    for (const RunResult* r : members) {
      if (!r->passed) ++suite_failures;
      suite_seconds += r->wall_seconds;
    }
    pugi::xml_node suite = add_suite(root, scenario, members.size(), suite_failures, 0, suite_seconds);
    add_suite_properties(suite, *members.front(), summaries.at(scenario));
    for (const RunResult* r : members) add_testcase(suite, scenario, *r);
  }
  for (const ScenarioError& e : errors) {  // a scenario that could not run: its file is all it has
    pugi::xml_node suite = add_suite(root, e.file, 1, 0, 1, 0);
    pugi::xml_node c = suite.append_child("testcase");
    c.append_attribute("name") = "load";
    c.append_attribute("classname") = xml_safe_text("drill." + e.file).c_str();
    c.append_attribute("time") = "0.000";
    pugi::xml_node error = c.append_child("error");
    error.append_attribute("message") = xml_safe_text(e.message).c_str();
    error.append_attribute("type") = "invalid scenario";
    error.text() = xml_safe_text(e.message).c_str();
  }
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_indent, pugi::encoding_utf8);
  return out.str();
}

void to_json(json& j, const Expectations& e) {
  j = {{"max_rto_min", e.max_rto_min ? json(*e.max_rto_min) : json(nullptr)}, {"fail_at", e.fail_at}, {"reason", e.reason}};
}

void from_json(const json& j, Expectations& e) {
  const json max = j.value("max_rto_min", json(nullptr));
  if (max.is_null()) e.max_rto_min.reset();
  else e.max_rto_min = max.get<double>();
  e.fail_at = j.value("fail_at", "");
  e.reason = j.value("reason", "");
}

void to_json(json& j, const RunResult& r) {
  j = {{"scenario", r.scenario},
       {"file", r.file},
       {"seed", r.seed},
       {"passed", r.passed},
       {"failures", r.failures},
       {"rto_min", r.rto_min},
       {"rpo_min", r.rpo_min},
       {"writes_lost", r.writes_lost},
       {"bytes_lost_expected", r.bytes_lost_expected},
       {"files_differing", r.files_differing},
       {"bytes_differing", r.bytes_differing},
       {"backup_reads", r.backup_reads},
       {"backup_every_min", r.backup_every_min},
       {"retention_forgotten", r.retention_forgotten},
       {"retention_packs_deleted", r.retention_packs_deleted},
       {"retention_packs_repacked", r.retention_packs_repacked},
       {"timeline", r.timeline},
       {"critical_path", r.critical_path},
       {"faults", r.faults},
       {"first_failure", r.first_failure ? json(*r.first_failure) : json(nullptr)},
       {"not_fired", r.not_fired},
       {"expected_failure", r.expected_failure},
       {"wall_seconds", r.wall_seconds},
       {"rto_reached", !r.expected_failure && rto_not_reached(r).empty()},  // rto_min is disaster to services verified
       {"failover", r.failover ? json(*r.failover) : json(nullptr)},
       {"expect", r.expect},
       {"replay", r.replay}};
}

void from_json(const json& j, RunResult& r) {
  j.at("scenario").get_to(r.scenario);
  j.at("file").get_to(r.file);
  j.at("seed").get_to(r.seed);
  j.at("passed").get_to(r.passed);
  j.at("failures").get_to(r.failures);
  j.at("rto_min").get_to(r.rto_min);
  j.at("rpo_min").get_to(r.rpo_min);
  j.at("writes_lost").get_to(r.writes_lost);
  j.at("bytes_lost_expected").get_to(r.bytes_lost_expected);
  j.at("files_differing").get_to(r.files_differing);
  j.at("bytes_differing").get_to(r.bytes_differing);
  r.backup_reads = j.value("backup_reads", std::vector<std::uint64_t>{});  // reports of older drctl versions have neither
  r.backup_every_min = j.value("backup_every_min", 0.0);
  r.retention_forgotten = j.value("retention_forgotten", std::uint64_t{0});
  r.retention_packs_deleted = j.value("retention_packs_deleted", std::uint64_t{0});
  r.retention_packs_repacked = j.value("retention_packs_repacked", std::uint64_t{0});
  j.at("timeline").get_to(r.timeline);
  r.critical_path = j.value("critical_path", std::vector<std::string>{});
  j.at("faults").get_to(r.faults);
  const json& first = j.at("first_failure");
  if (first.is_null()) r.first_failure.reset();
  else r.first_failure = first.get<StepTiming>();
  j.at("not_fired").get_to(r.not_fired);
  j.at("expected_failure").get_to(r.expected_failure);
  j.at("wall_seconds").get_to(r.wall_seconds);
  r.expect = j.value("expect", Expectations{});  // reports of older drctl versions have neither
  const json failover = j.value("failover", json(nullptr));
  if (failover.is_null()) r.failover.reset();
  else r.failover = failover.get<Failover>();
  r.replay = j.value("replay", "");
}

}  // namespace drctl::drill
