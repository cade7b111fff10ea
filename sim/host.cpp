// A simulated installed host: its file system (files, directories, storage limits and the
// events the site's models watch) and its services. The shell is sh_syntax/sh_interpreter,
// the commands coreutils.cpp and tar.cpp.
#include "sim/host.hpp"

#include <chrono>
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
  make_dir(parent_of(path));
  File& f = files_[path];
  if (it == files_.end()) {  // a new file: a new inode, and an entry more in its directory
    f.meta.inode = next_inode_++;
    touch_dir(parent_of(path));
  }
  f.content = content;
  f.mode = mode;
  f.meta.mtime_ns = f.meta.ctime_ns = now_ns();  // a write moves both (POSIX write(2))
  if (commit_) commit_(path, delta);
  charge_io(path, content.size(), true, false);
  engine_.log(name_, "file-put", {{"path", path}, {"bytes", content.size()}});
  notify("put", path);
  return true;
}

void SimHost::load_file(const std::string& path, const std::string& content, unsigned mode) {
  make_dir(parent_of(path));
  const std::int64_t now = now_ns();
  files_[path] = File{content, mode, Meta{next_inode_++, now, now}};
}

void SimHost::make_dir(const std::string& path) {
  std::string dir;
  std::stringstream parts(path);
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty()) continue;
    const std::string parent = dir.empty() ? "/" : dir;
    if (dirs_.insert(dir += "/" + part).second) {
      dir_meta(dir);
      touch_dir(parent);
    }
  }
}

namespace {
constexpr std::int64_t kEpochNs = 1704067200LL * 1000000000LL;  // 2024-01-01T00:00:00Z: virtual time 0
}  // namespace

std::int64_t SimHost::now_ns() const {
  return kEpochNs + std::chrono::duration_cast<std::chrono::nanoseconds>(engine_.now()).count();
}

SimHost::Meta& SimHost::dir_meta(const std::string& path) {
  auto it = dir_meta_.find(path);
  if (it == dir_meta_.end()) {
    const std::int64_t now = now_ns();
    it = dir_meta_.emplace(path, Meta{next_inode_++, now, now}).first;
  }
  return it->second;
}

void SimHost::touch_dir(const std::string& dir) {
  if (!is_dir(dir)) return;  // gone (moved or removed with its parent)
  Meta& m = dir_meta(dir);
  m.mtime_ns = m.ctime_ns = now_ns();
}

void SimHost::forget_dirs(const std::string& path) {
  const std::string prefix = path + "/";
  for (auto it = dir_meta_.lower_bound(prefix); it != dir_meta_.end() && it->first.compare(0, prefix.size(), prefix) == 0;)
    it = dir_meta_.erase(it);
  dir_meta_.erase(path);
}

std::optional<SimHost::Meta> SimHost::meta(const std::string& path) {
  if (auto it = files_.find(path); it != files_.end()) return it->second.meta;
  if (is_dir(path)) return dir_meta(path);
  return std::nullopt;
}

bool SimHost::change_mode(const std::string& path, unsigned mode) {
  auto it = files_.find(path);
  if (it == files_.end()) {
    if (!is_dir(path)) return false;
    dir_meta(path).ctime_ns = now_ns();  // the simulated directories keep no mode
    return true;
  }
  it->second.mode = mode & 07777;
  it->second.meta.ctime_ns = now_ns();
  return true;
}

bool SimHost::change_owner(const std::string& path, unsigned uid, std::optional<unsigned> gid) {
  auto it = files_.find(path);
  if (it == files_.end() && !is_dir(path)) return false;
  Meta& m = it != files_.end() ? it->second.meta : dir_meta(path);
  m.uid = uid;
  if (gid) m.gid = *gid;
  m.ctime_ns = now_ns();
  return true;
}

bool SimHost::rename_file(const std::string& src, const std::string& dst, std::string* why) {
  const File f = files_.at(src);
  remove_file(src);
  if (!store(dst, f.content, f.mode, why)) {
    store(src, f.content, f.mode, why);  // it stays where it was, as it was
    files_.at(src).meta = f.meta;
    return false;
  }
  Meta& m = files_.at(dst).meta;
  const std::int64_t now = m.ctime_ns;
  m = f.meta;  // rename(2) moves the name, not the inode: the same inode, owners and mtime
  m.ctime_ns = now;
  return true;
}

void SimHost::remove_file(const std::string& path) {
  auto it = files_.find(path);
  if (it == files_.end()) return;
  if (commit_) commit_(path, -weighted(static_cast<std::int64_t>(it->second.content.size()), weight(path)));
  files_.erase(it);
  touch_dir(parent_of(path));
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
