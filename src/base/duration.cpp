#include "base/duration.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

namespace drctl {
namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

/// The milliseconds in one `unit`, 0 when it is not one.
double unit_ms(std::string_view unit) {
  if (unit == "h") return 3600e3;
  if (unit == "m") return 60e3;
  if (unit == "s") return 1e3;
  if (unit == "ms") return 1;
  return 0;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  double total = 0;
  std::size_t i = 0;
  bool bare = false;
  while (i < text.size()) {
    if (bare) return std::nullopt;  // a bare number is the whole text
    const std::size_t start = i;
    while (i < text.size() && digit(text[i])) ++i;
    if (i == start || i - start > 9) return std::nullopt;
    double value = 0;
    for (std::size_t k = start; k < i; ++k) value = value * 10 + (text[k] - '0');
    if (i < text.size() && text[i] == '.') {
      const std::size_t frac = ++i;
      double scale = 0.1;
      while (i < text.size() && digit(text[i])) {
        value += (text[i] - '0') * scale;
        scale /= 10;
        ++i;
      }
      if (i == frac) return std::nullopt;
    }
    const std::size_t unit_start = i;
    while (i < text.size() && !digit(text[i])) ++i;
    const std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      bare = true;
      total += value * 1e3;
      if (start != 0) return std::nullopt;  // "1h30": a number after a unit needs its own unit
      continue;
    }
    const double ms = unit_ms(unit);
    if (ms == 0) return std::nullopt;
    total += value * ms;
  }
  if (text.empty() || total > 1e15) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total)));
}

std::optional<std::chrono::milliseconds> duration_value(const nlohmann::json& value) {
  if (value.is_string()) return parse_duration(value.get<std::string>());
  if (!value.is_number()) return std::nullopt;
  const double seconds = value.get<double>();
  if (!(seconds >= 0) || seconds > 1e12) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1e3)));
}

}  // namespace drctl
