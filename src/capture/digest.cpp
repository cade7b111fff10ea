#include "capture/digest.hpp"

#include <stdexcept>

#include "capture/section_reader.hpp"
#include "store/bytes.hpp"
#include "store/tree.hpp"
#include "base/shell.hpp"

namespace drctl::capture {

using store::Node;
using store::NodeType;

namespace {

/// sha256sum escapes a name holding a backslash or a line break: the line starts with '\'.
std::string unescape(const std::string& name) {
  std::string out;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name[i] == '\\' && i + 1 < name.size()) {
      ++i;
      out += name[i] == 'n' ? '\n' : name[i] == 'r' ? '\r' : name[i];
    } else {
      out += name[i];
    }
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> section_digests(const store::Repository& repo, const store::Section& section) {
  std::map<std::string, std::string> out;
  for_each_file(repo, section, nullptr, [&](const std::string& path, const Node& n) {
    store::Sha256 h;
    read_content(repo, n, [&](const std::uint8_t* d, std::size_t size) { h.update({d, size}); });
    out[path] = h.finish().hex();
  });
  return out;
}

std::map<std::string, std::string> host_digests(world::Host& host, const std::string& dir, world::Duration timeout) {
  world::Command c;
  c.script = "find " + shell_quote(dir) + " -type f -exec sha256sum {} +";
  c.timeout = timeout;
  const auto r = host.run(c);
  if (!r.ok())
    throw std::runtime_error(host.name() + ": cannot hash the files of " + dir + ": " +
                             (r.timed_out ? "timed out" : r.err.substr(0, r.err.find('\n'))));
  const std::string prefix = dir.back() == '/' ? dir : dir + "/";
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start < r.out.size()) {
    std::size_t end = r.out.find('\n', start);
    if (end == std::string::npos) end = r.out.size();
    std::string line = r.out.substr(start, end - start);
    start = end + 1;
    const bool escaped = !line.empty() && line[0] == '\\';
    if (escaped) line.erase(0, 1);
    if (line.size() < 66 || line.compare(64, 2, "  ") != 0) continue;
    std::string path = line.substr(66);
    if (escaped) path = unescape(path);
    if (path.rfind(prefix, 0) == 0) path.erase(0, prefix.size());
    out[path] = line.substr(0, 64);
  }
  return out;
}

std::string DataDiff::describe(std::size_t names) const {
  auto part = [names](const std::vector<std::string>& v, const char* what) {
    if (v.empty()) return std::string();
    std::string s = std::to_string(v.size()) + " " + what + " (";
    for (std::size_t i = 0; i < v.size() && i < names; ++i) s += (i ? ", " : "") + v[i];
    return s + (v.size() > names ? ", …)" : ")");
  };
  std::string out;
  for (const auto& p : {part(missing, "missing"), part(changed, "changed"), part(extra, "not in the snapshot")})
    if (!p.empty()) out += (out.empty() ? "" : ", ") + p;
  return out.empty() ? "no differences" : out;
}

DataDiff compare_digests(const std::map<std::string, std::string>& snapshot, const std::map<std::string, std::string>& host) {
  DataDiff d;
  for (const auto& [path, digest] : snapshot) {
    auto it = host.find(path);
    if (it == host.end()) d.missing.push_back(path);
    else if (it->second != digest) d.changed.push_back(path);
    else ++d.same;
  }
  for (const auto& [path, digest] : host)
    if (!snapshot.contains(path)) d.extra.push_back(path);
  return d;
}

}  // namespace drctl::capture
