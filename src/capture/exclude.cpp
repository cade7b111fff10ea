#include "capture/exclude.hpp"

#include <fnmatch.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/error.hpp"
#include "store/bytes.hpp"

namespace drctl::capture {

namespace {

std::vector<std::string_view> split(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > start) parts.push_back(path.substr(start, slash - start));  // "a//b" is "a/b"
    start = slash + 1;
  }
  return parts;
}

/// Why `glob` (one component) is malformed, "" when it is not: an unclosed bracket expression
/// or a trailing backslash. fnmatch would take both literally; restic (Go's filepath.Match)
/// refuses them, and a typo should not silently exclude nothing.
std::string glob_problem(std::string_view glob) {
  for (std::size_t i = 0; i < glob.size(); ++i) {
    if (glob[i] == '\\') {
      if (++i == glob.size()) return "it ends in a lone backslash";
    } else if (glob[i] == '[') {
      std::size_t j = i + 1;
      if (j < glob.size() && (glob[j] == '!' || glob[j] == '^')) ++j;
      if (j < glob.size() && glob[j] == ']') ++j;  // a leading ] is a member
      while (j < glob.size() && glob[j] != ']') ++j;
      if (j == glob.size()) return "its '[' has no closing ']'";
      i = j;
    }
  }
  return "";
}

/// Whether `parts[p…]` matches all of `path[q…]`; "**" takes any number of components.
bool match_from(const std::vector<std::string>& parts, std::size_t p, const std::vector<std::string_view>& path,
                std::size_t q) {
  for (; p < parts.size(); ++p, ++q) {
    if (parts[p] == "**") {
      for (std::size_t skip = q; skip <= path.size(); ++skip)
        if (match_from(parts, p + 1, path, skip)) return true;
      return false;
    }
    if (q == path.size()) return false;
    const std::string name(path[q]);
    if (::fnmatch(parts[p].c_str(), name.c_str(), 0) != 0) return false;
  }
  return q == path.size();
}

}  // namespace

void ExcludeMatcher::add(const std::string& pattern, const std::string& origin) {
  const auto bad = [&](const std::string& why) {
    return InputError(origin + ": exclude pattern '" + store::escape_bytes(pattern) + "' " + why);
  };
  if (pattern.empty()) throw bad("is empty");
  if (pattern[0] == '!') throw bad("is negated: re-including (!pattern) is not supported; write the patterns that exclude");
  Pattern p;
  p.anchored = pattern[0] == '/';
  for (std::string_view part : split(pattern)) {
    const std::string problem = glob_problem(part);
    if (!problem.empty()) throw bad("is not a valid glob: " + problem);
    if (part == "**" && !p.parts.empty() && p.parts.back() == "**") continue;  // a/**/**/b is a/**/b
    p.parts.emplace_back(part);
  }
  if (p.parts.empty()) throw bad("names the source's root itself (exclude what is in it instead)");
  patterns_.push_back(std::move(p));
  texts_.push_back(pattern);
}

void ExcludeMatcher::add_file(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw InputError("--exclude-file " + file + " cannot be read (" + std::strerror(errno) + ")");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::size_t last = line.find_last_not_of(" \t\r");
    add(line.substr(first, last - first + 1), file + ":" + std::to_string(number));
  }
  if (in.bad()) throw InputError("--exclude-file " + file + " cannot be read");
}

const std::string* ExcludeMatcher::match(std::string_view path) const {
  const std::vector<std::string_view> parts = split(path);
  for (std::size_t i = 0; i < patterns_.size(); ++i) {
    const Pattern& p = patterns_[i];
    // Unanchored: the pattern may start at any component (restic's "at any depth").
    const std::size_t starts = p.anchored ? 1 : parts.size();
    for (std::size_t start = 0; start < starts; ++start)
      if (match_from(p.parts, 0, parts, start)) return &texts_[i];
  }
  return nullptr;
}

const std::string* ExcludeMatcher::excluded(std::string_view path) const {
  for (std::size_t end = path.find('/'); end != std::string_view::npos; end = path.find('/', end + 1))
    if (end > 0)
      if (const std::string* hit = match(path.substr(0, end))) return hit;
  return match(path);
}

}  // namespace drctl::capture
