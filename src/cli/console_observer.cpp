#include "cli/console_observer.hpp"

#include <cstdio>

namespace drctl::cli {

using namespace drctl::runbook;

namespace {

std::string format_seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, s < 10 ? "%.1fs" : "%.0fs", s);
  return buf;
}

/// "[done/total] status id on host (seconds)", with a failure's error, command and output tail.
std::string finished_text(const InstanceResult& r, std::size_t done, std::size_t total) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "[%zu/%zu] ", done, total);
  std::string text = buf + std::string(status_name(r.status)) + " " + r.id + (r.host != "local" ? " on " + r.host : "") +
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

ConsoleObserver::ConsoleObserver() : status_([this] { return line(); }) {}

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
  status_.print(finished_text(r, done, total));
}

void ConsoleObserver::note(const std::string& l) { status_.print("drctl: " + l); }

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

void print_summary(const RunSummary& s) {
  std::size_t width = 4;
  for (const auto& r : s.results) width = std::max(width, r.id.size());
  std::printf("%-*s  %-12s  %-11s  %8s  %s\n", static_cast<int>(width), "STEP", "HOST", "STATUS", "SECONDS", "ATTEMPTS");
  std::map<std::string, int> counts;
  for (const auto& r : s.results) {
    std::printf("%-*s  %-12s  %-11s  %8.1f  %d\n", static_cast<int>(width), r.id.c_str(), r.host.c_str(),
                status_name(r.status), r.seconds, r.attempts);
    counts[status_name(r.status)]++;
  }
  std::string line;
  for (const auto& [k, v] : counts) line += (line.empty() ? "" : ", ") + std::to_string(v) + " " + k;
  std::printf("%s\n", line.c_str());
}

}  // namespace drctl::cli
