// A simulated installed host: its file system (files, directories, storage limits and the
// events the site's models watch) and its services. The shell is sh_syntax/sh_interpreter,
// the commands coreutils.cpp and tar.cpp.
#include "sim/host.hpp"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "sim/host_paths.hpp"

namespace drctl::sim {

SimHost::SimHost(Engine& engine, std::string name) : engine_(engine), name_(std::move(name)) {
  // What every installed system has, so that mktemp, redirections and the like find their directories.
  for (const char* d : {"/etc", "/home", "/root", "/tmp", "/usr", "/usr/bin", "/usr/sbin", "/var", "/var/lib", "/var/log",
                        "/var/tmp"})
    dirs_.insert(d);
}

bool SimHost::is_dir(const std::string& path) const { return dirs_.contains(path); }

std::vector<std::string> SimHost::list_dir(const std::string& path) const {
  std::set<std::string> names;
  if (!is_dir(path)) return {};
  const std::string prefix = path == "/" ? "/" : path + "/";
  auto add = [&](const std::string& p) {
    if (p.size() <= prefix.size() || p.compare(0, prefix.size(), prefix) != 0) return;
    names.insert(p.substr(prefix.size(), p.find('/', prefix.size()) - prefix.size()));
  };
  for (auto it = files_.lower_bound(prefix); it != files_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    add(it->first);
  for (auto it = dirs_.lower_bound(prefix); it != dirs_.end() && it->compare(0, prefix.size(), prefix) == 0; ++it) add(*it);
  return {names.begin(), names.end()};
}

std::string SimHost::absolute(const std::string& path) const {
  if (path.empty()) return "";
  const std::string full = path[0] == '/' ? path : (cwd_ == "/" ? "/" : cwd_ + "/") + path;
  std::vector<std::string> parts;
  std::stringstream in(full);
  for (std::string part; std::getline(in, part, '/');) {
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out.empty() ? "/" : out;
}

void SimHost::notify(const std::string& op, const std::string& path, const std::string& to) {
  for (const auto& fn : file_events_) fn(op, path, to);
}


void SimHost::set_service(const std::string& unit, bool active) {
  if (!installed_.contains(unit)) throw std::runtime_error("sim: " + name_ + ": no unit " + unit);
  if (active_.contains(unit) == active) return;
  if (active)
    active_.insert(unit);
  else
    active_.erase(unit);
  engine_.log(name_, active ? "service-started" : "service-stopped", {{"unit", unit}});
  if (on_service_) on_service_(unit, active);
}

namespace {
std::int64_t weighted(std::int64_t bytes, double weight) {
  return weight == 1.0 ? bytes : std::llround(static_cast<double>(bytes) * weight);
}
}  // namespace

void SimHost::charge_io(const std::string& path, std::size_t bytes, bool disk, bool streamed) {
  const auto n = static_cast<std::int64_t>(bytes);
  const std::int64_t w = weighted(n, weight(path));
  if (disk) io_.disk += w;
  if (streamed) io_.stream_extra += w - n;
}

bool SimHost::store(const std::string& path, const std::string& content, unsigned mode, std::string* why) {
  auto it = files_.find(path);
  // The storage sees the bytes the file stands for (a declared dataset's weight).
  const std::int64_t delta = weighted(static_cast<std::int64_t>(content.size()) -
                                          static_cast<std::int64_t>(it == files_.end() ? 0 : it->second.content.size()),
                                      weight(path));
  if (fits_ && !fits_(path, delta, why)) {
    engine_.log(name_, "write-refused", {{"path", path}, {"bytes", content.size()}, {"reason", *why}});
    return false;
  }
  for (std::string dir = parent_of(path); !is_dir(dir); dir = parent_of(dir)) dirs_.insert(dir);
  files_[path] = File{content, mode};
  if (commit_) commit_(path, delta);
  charge_io(path, content.size(), true, false);
  engine_.log(name_, "file-put", {{"path", path}, {"bytes", content.size()}});
  notify("put", path);
  return true;
}

void SimHost::load_file(const std::string& path, const std::string& content, unsigned mode) {
  for (std::string dir = parent_of(path); !is_dir(dir); dir = parent_of(dir)) dirs_.insert(dir);
  files_[path] = File{content, mode};
}

void SimHost::make_dir(const std::string& path) {
  std::string dir;
  std::stringstream parts(path);
  for (std::string part; std::getline(parts, part, '/');)
    if (!part.empty()) dirs_.insert(dir += "/" + part);
}

void SimHost::remove_file(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return;
  if (commit_) commit_(path, -weighted(static_cast<std::int64_t>(it->second.content.size()), weight(path)));
  files_.erase(it);
  notify("remove", path);
}

void SimHost::put_file(const std::string& path, const std::string& content, unsigned mode) {
  std::string why;
  if (!store(path, content, mode, &why)) throw std::runtime_error(path + ": " + why);
}

std::optional<std::string> SimHost::get_file(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return std::nullopt;
  return it->second.content;
}

}  // namespace drctl::sim
