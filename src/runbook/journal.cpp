#include "runbook/journal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <stdexcept>

#include "runbook/private_output.hpp"

namespace drctl::runbook {

namespace fs = std::filesystem;

namespace {
double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

Journal::Journal(const fs::path& dir) : path_(dir / "journal.jsonl") {
  make_private_dirs(dir);
  fd_ = open_private_file(path_, O_WRONLY | O_APPEND);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd_);  // the destructor does not run for a constructor that throws
    throw std::runtime_error("another drctl run is using the state directory " + dir.string() +
                             " (wait for it, or give this run another --state)");
  }
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
}

void Journal::write(json event) {
  event["t"] = unix_now();
  std::string line = event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::lock_guard lock(mutex_);
  std::size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot write journal " + path_.string());
    }
    done += static_cast<std::size_t>(n);
  }
  ::fdatasync(fd_);
}

std::vector<json> Journal::read(const fs::path& dir) {
  std::vector<json> out;
  std::ifstream in(dir / "journal.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    try {
      out.push_back(json::parse(line));
    } catch (const json::exception&) {
      // a line cut short by a crash: everything before it stands
    }
  }
  return out;
}

JournalState summarize(const std::vector<json>& events) {
  JournalState s;
  for (const auto& e : events) {
    const std::string kind = e.value("event", "");
    if (kind == "run") {
      // A resumed run continues the one before it; a fresh run starts over.
      if (!e.value("resume", false)) s.last_status.clear();
      s.last_run_finished = false;
      s.last_runbook_hash = e.value("runbook_hash", "");
    } else if (kind == "finish") {
      s.last_run_finished = true;
    } else if (e.contains("step")) {
      const std::string id = e["step"];
      s.last_status[id] = kind;
      if (kind == "done" || kind == "unchanged") s.last_success[id] = e;
    }
  }
  return s;
}

}  // namespace drctl::runbook
