#include "cli/format.hpp"

#include <charconv>
#include <cstdio>

#include "store/bytes.hpp"
#include "store/error.hpp"

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

std::int64_t parse_duration_ms(const std::string& text, const std::string& what) {
  std::size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  std::string unit = text.substr(pos);
  double scale = unit.empty() || unit == "s" ? 1000 : unit == "ms" ? 1 : unit == "m" ? 60000 : unit == "h" ? 3600000 : -1;
  if (pos == 0 || scale < 0 || value < 0)
    throw InputError(what + ": '" + text + "' is not a duration (e.g. 30s, 5m, 1h)");
  return static_cast<std::int64_t>(value * scale);
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
