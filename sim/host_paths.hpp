// Absolute paths on a simulated host's file system, as its commands take them apart.
#pragma once
#include <string>

namespace drctl::sim {

/// The directory holding `path` ("/" for a top-level one).
inline std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

/// The last component of `path`.
inline std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// `path` is `dir` or inside it.
inline bool under(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/');
}

}  // namespace drctl::sim
