#include "world/real/ssh_pattern.hpp"

#include <cctype>
#include <sstream>

namespace drctl::world::real {

namespace {

char fold(char c, bool ignore_case) {
  return ignore_case ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

bool match_here(const char* t, const char* p, bool ignore_case) {
  for (; *p; ++p, ++t) {
    if (*p == '*') {
      while (p[1] == '*') ++p;
      if (!p[1]) return true;
      for (; *t; ++t)
        if (match_here(t, p + 1, ignore_case)) return true;
      return false;
    }
    if (!*t) return false;
    if (*p != '?' && fold(*p, ignore_case) != fold(*t, ignore_case)) return false;
  }
  return *t == '\0';
}

}  // namespace

bool ssh_pattern_match(const std::string& text, const std::string& pattern) {
  return match_here(text.c_str(), pattern.c_str(), true);
}

bool ssh_pattern_match_case(const std::string& text, const std::string& pattern) {
  return match_here(text.c_str(), pattern.c_str(), false);
}

SshListMatch ssh_pattern_list_match(const std::string& text, const std::string& list, bool ignore_case) {
  bool positive = false;
  std::istringstream in(list);
  for (std::string pattern; std::getline(in, pattern, ',');) {
    const bool negated = !pattern.empty() && pattern[0] == '!';
    if (!match_here(text.c_str(), pattern.c_str() + (negated ? 1 : 0), ignore_case)) continue;
    if (negated) return SshListMatch::negated;
    positive = true;
  }
  return positive ? SshListMatch::positive : SshListMatch::none;
}

}  // namespace drctl::world::real
