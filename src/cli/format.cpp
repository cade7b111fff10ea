#include "cli/format.hpp"

#include <charconv>
#include <cstdio>

#include "base/duration.hpp"
#include "base/error.hpp"
#include "store/bytes.hpp"

namespace drctl::cli {

std::string human_bytes(std::uint64_t n) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string printable(std::string_view s) { return store::escape_bytes(s); }

std::int64_t duration_option(const std::string& text, const std::string& what) {
  const auto d = parse_duration(text);
  if (!d) throw InputError(what + ": '" + text + "' is not a duration (" + std::string(kDurationExamples) + ")");
  return d->count();
}

std::string control_character_problem(std::string_view value) {
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != 0x7f) continue;
    // Named in words: the error line itself is escaped, and "\\n" there would read badly.
    char name[24];
    std::snprintf(name, sizeof name, "byte 0x%02x", c);
    const std::string what = c == '\n' ? "a newline" : c == '\t' ? "a tab" : c == '\r' ? "a carriage return"
                             : c == 0x1b ? "ESC" : c == 0x7f ? "DEL" : name;
    return "holds a control character (" + what + "): values are one line of printable text";
  }
  return "";
}

std::string whole_number_problem(std::string_view value, const std::string& what, std::uint64_t min, std::uint64_t max) {
  std::uint64_t n = 0;
  const char* end = value.data() + value.size();
  const bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits && std::from_chars(value.data(), end, n).ec == std::errc() && n >= min && n <= max) return "";
  return (what.empty() ? "" : what + " ") + "must be a whole number from " + std::to_string(min) + " to " +
         std::to_string(max) + ", not '" + printable(value) + "'";
}

}  // namespace drctl::cli
