// What several `drctl snapshot …` subcommands share (cli/snapshot_common.hpp), and cli::warn.
#include "cli/snapshot_common.hpp"

#include <cstdio>

#include "base/error.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "world/real/ssh_host.hpp"

namespace drctl::cli {

void warn(const std::string& message) { std::fprintf(stderr, "drctl: warning: %s\n", printable(message).c_str()); }

}  // namespace drctl::cli

namespace drctl::cli::snapshot_detail {

using namespace drctl::store;

fs::path Common::path() const { return default_repo_path(repo); }

RepoLock Common::lock() const {
  return RepoLock::acquire(path(), std::chrono::milliseconds(duration_option(lock_wait, "--lock-wait")), warn);
}

std::optional<ReadLock> Common::reading() const {
  if (!fs::exists(path() / "config")) return std::nullopt;
  return ReadLock::shared(path(), std::chrono::milliseconds(duration_option(lock_wait, "--lock-wait")), warn);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string strip_slashes(std::string p) {
  while (!p.empty() && p.back() == '/') p.pop_back();
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  return p;
}

std::string short_time(const std::string& iso) { return iso.substr(0, 19).replace(10, 1, " "); }

void print_json(const json& j) { std::puts(j.dump(1, ' ', false, json::error_handler_t::replace).c_str()); }

std::string plural(std::uint64_t n, const std::string& word, const std::string& words) {
  return std::to_string(n) + " " + (n == 1 ? word : words.empty() ? word + "s" : words);
}

json snapshot_json(const Snapshot& s) {
  json secs = json::array();
  for (const auto& sec : s.sections) secs.push_back(store::section_json(sec));
  json skipped = json::array();
  for (const auto& k : s.skipped) skipped.push_back({{"section", k.section}, {"path", k.path}, {"error", k.error}});
  json j = {{"id", s.id.hex()}, {"time", s.time},     {"host", s.host},           {"tags", s.tags},
            {"sections", secs}, {"skipped", skipped}, {"added_bytes", s.added_bytes}};
  if (s.parent) j["parent"] = s.parent->hex();
  if (s.original) j["original"] = s.original->hex();
  return j;
}

SshSource parse_ssh_url(const std::string& url, const std::string& what) {
  return world::parse_host_path_url("ssh", url, what);
}

world::real::SshHostSpec url_host_spec(const std::string& user, const std::string& host, int port,
                                       const std::string& ssh_config) {
  world::real::SshHostSpec spec;
  spec.name = (user.empty() ? "" : user + "@") + host + (port ? ":" + std::to_string(port) : "");
  spec.address = host;
  spec.port = port;
  spec.user = user;
  spec.ssh_config = ssh_config;
  return spec;
}

world::Host& SourceHosts::ssh(const SshSource& s) {
  const world::real::SshHostSpec spec = url_host_spec(s.user, s.host, s.port, ssh_config_);
  const std::string& name = spec.name;
  if (!added_.count(name)) {
    try {
      world_.add_ssh_host(spec);
    } catch (const world::real::SshConfigError& e) {
      throw InputError(std::string("--nas ") + name + ": " + e.what());
    }
    added_.insert(name);
  }
  return world_.host(name);
}

}  // namespace drctl::cli::snapshot_detail
