#include "cli/console_observer.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include <nlohmann/json.hpp>

namespace drctl::cli {

using namespace drctl::runbook;

namespace {

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10 ? "%.1fs" : "%.0fs", s);
  return buf;
}

/// A status word in its colour (SGR): failed red, done green, skipped and not run yellow.
std::string coloured(Status st, bool colour) {
  const std::string name = status_name(st);
  if (!colour) return name;
  const char* sgr = st == Status::Failed ? "1;31" : st == Status::Done ? "32" : st == Status::Unchanged ? "" : "33";
  return *sgr ? "\033[" + std::string(sgr) + "m" + name + "\033[0m" : name;
}

/// "[done/total] status id on host (seconds)", with a failure's error, command and output tail.
std::string finished_text(const InstanceResult& r, std::size_t done, std::size_t total, bool colour) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "[%zu/%zu] ", done, total);
  std::string text = buf + coloured(r.status, colour) + " " + r.id + (r.host != "local" ? " on " + r.host : "") +
                     " (" + format_seconds(r.seconds) + ")";
  if (r.status == Status::Unchanged) text += ": already done";
  if (r.status != Status::Failed) return text;
  text += ": " + r.error;
  if (!r.command.empty()) text += "\n    command: " + r.command;
  if (r.detail.empty()) return text;
  text += "\n    output (last lines):";
  for (std::size_t pos = 0; pos < r.detail.size();) {
    const std::size_t nl = r.detail.find('\n', pos);
    text += "\n    | " + r.detail.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return text;
}

}  // namespace

bool use_colour(int fd) {
  const char* no = std::getenv("NO_COLOR");
  return ::isatty(fd) == 1 && !(no && *no);
}

ConsoleObserver::ConsoleObserver(ConsoleMode mode)
    : mode_(mode), colour_(use_colour(STDERR_FILENO)),
      status_(mode.quiet ? std::function<std::string()>() : [this] { return line(); }) {}

void ConsoleObserver::started(const InstanceResult& r, std::size_t, std::size_t total) {
  std::lock_guard lock(mutex_);
  running_[r.id] = std::chrono::steady_clock::now();
  total_ = total;
}

void ConsoleObserver::finished(const InstanceResult& r, std::size_t done, std::size_t total) {
  {
    std::lock_guard lock(mutex_);
    running_.erase(r.id);
    progress_.erase(r.id);
    done_ = done;
    total_ = total;
  }
  if (mode_.json) {
    nlohmann::json j = {{"event", "finished"}, {"step", r.id},        {"host", r.host},
                        {"status", status_name(r.status)}, {"seconds", r.seconds}, {"attempts", r.attempts}};
    if (!r.error.empty()) j["error"] = r.error;
    std::lock_guard lock(mutex_);
    std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
    return;
  }
  if (mode_.quiet && r.status != Status::Failed) return;
  status_.print(finished_text(r, done, total, colour_));
}

void ConsoleObserver::output(const InstanceResult& r, const std::string& lines) {
  if (!mode_.verbose || mode_.json) return;
  std::string text;
  for (std::size_t pos = 0; pos < lines.size();) {
    const std::size_t nl = lines.find('\n', pos);
    text += (text.empty() ? "" : "\n") + r.id + " | " + lines.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  if (!text.empty()) status_.print(text);
}

void ConsoleObserver::note(const std::string& l) {
  if (mode_.json) {
    std::lock_guard lock(mutex_);
    std::printf("%s\n", nlohmann::json({{"event", "note"}, {"text", l}}).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    std::fflush(stdout);
    return;
  }
  if (!mode_.quiet) status_.print("drctl: " + l);
}

void ConsoleObserver::progress(const InstanceResult& r, const std::string& text) {
  std::lock_guard lock(mutex_);
  if (running_.contains(r.id)) progress_[r.id] = text;
}

std::string ConsoleObserver::line() {
  std::lock_guard lock(mutex_);
  std::string out = "[" + std::to_string(done_) + "/" + std::to_string(total_) + "]";
  const auto now = std::chrono::steady_clock::now();
  for (const auto& [id, since] : running_) {
    out += " " + id + " (" + format_seconds(std::chrono::duration<double>(now - since).count());
    if (auto p = progress_.find(id); p != progress_.end()) out += ": " + p->second;
    out += ")";
  }
  return out;
}

void print_summary(const RunSummary& s, ConsoleMode mode) {
  std::map<std::string, int> counts;
  for (const auto& r : s.results) counts[status_name(r.status)]++;
  if (mode.json) {
    std::printf("%s\n", nlohmann::json({{"event", "summary"}, {"ok", s.ok()}, {"interrupted", s.interrupted}, {"counts", counts}}).dump().c_str());
    return;
  }
  std::string count_line;
  for (const auto& [k, v] : counts) count_line += (count_line.empty() ? "" : ", ") + std::to_string(v) + " " + k;
  if (mode.quiet) {
    std::printf("%s\n", count_line.c_str());
    return;
  }
  std::size_t width = 4;
  for (const auto& r : s.results) width = std::max(width, r.id.size());
  std::printf("%-*s  %-12s  %-11s  %8s  %s\n", static_cast<int>(width), "STEP", "HOST", "STATUS", "SECONDS", "ATTEMPTS");
  for (const auto& r : s.results)
    std::printf("%-*s  %-12s  %-11s  %8.1f  %d\n", static_cast<int>(width), r.id.c_str(), r.host.c_str(),
                status_name(r.status), r.seconds, r.attempts);
  std::printf("%s\n", count_line.c_str());
}

}  // namespace drctl::cli
