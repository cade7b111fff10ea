#include "capture/digest.hpp"

#include <cctype>
#include <stdexcept>

#include "capture/section_reader.hpp"
#include "store/bytes.hpp"
#include "store/tree.hpp"

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

/// "HASH NAME": 64 hex digits and a blank.
bool hash_line(const std::string& line) {
  if (line.size() < 65 || line[64] != ' ') return false;
  for (std::size_t i = 0; i < 64; ++i)
    if (!std::isxdigit(static_cast<unsigned char>(line[i]))) return false;
  return true;
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
  const world::HostSystem system = host.system();
  world::Command c;
  c.script = system.hash_files(dir);
  c.timeout = timeout;
  const auto r = host.run(c);
  if (!r.ok())
    throw std::runtime_error(host.name() + ": cannot hash the files of " + dir + ": " +
                             (r.timed_out ? "timed out" : r.err.substr(0, r.err.find('\n'))));
  return parse_file_hashes(system.hasher, dir, r.out);
}

std::map<std::string, std::string> parse_file_hashes(world::HostSystem::Hasher hasher, const std::string& dir,
                                                     const std::string& out) {
  const bool gnu = hasher == world::HostSystem::Hasher::sha256sum;
  const std::string prefix = dir.back() == '/' ? dir : dir + "/";
  std::map<std::string, std::string> raw;  // full path → digest
  std::string last;                        // the path of the line before
  std::size_t start = 0;
  while (start < out.size()) {
    std::size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    std::string line = out.substr(start, end - start);
    start = end + 1;
    if (!gnu && !hash_line(line) && !last.empty()) {
      // sha256 -r writes a name as it is: a line that is no "HASH NAME" goes on the name before.
      const std::string digest = raw[last];
      raw.erase(last);
      last += "\n" + line;
      raw[last] = digest;
      continue;
    }
    const bool escaped = gnu && !line.empty() && line[0] == '\\';
    if (escaped) line.erase(0, 1);
    // sha256sum: "HASH  NAME" (the second blank is the text-mode mark); sha256 -r: "HASH NAME".
    const std::size_t name_at = gnu ? 66 : 65;
    if (line.size() < name_at || line[64] != ' ' || (gnu && line[65] != ' ' && line[65] != '*')) continue;
    last = line.substr(name_at);
    if (escaped) last = unescape(last);
    raw[last] = line.substr(0, 64);
  }
  std::map<std::string, std::string> hashes;
  for (auto& [path, digest] : raw) hashes[path.rfind(prefix, 0) == 0 ? path.substr(prefix.size()) : path] = digest;
  return hashes;
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
