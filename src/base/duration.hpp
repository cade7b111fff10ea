// The one duration grammar of drctl, for runbooks (timeouts, waits), drill scenarios (fault times)
// and the command line (--lock-wait):
//
//   duration := NUMBER                 seconds ("90")
//             | (NUMBER UNIT)+         summed ("90s", "1h30m", "1.5s", "2m30s", "250ms")
//   NUMBER   := DIGITS [ "." DIGITS ]  at most 9 digits before the point
//   UNIT     := "h" | "m" | "s" | "ms"
//
// No sign, no spaces; the result is rounded to whole milliseconds. In YAML, a bare number
// (`timeout: 90`) is read as a number and means seconds too (duration_value).
#pragma once
#include <chrono>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>

namespace drctl {

/// How an error names the grammar to the operator: "(e.g. 90, 90s, 1h30m, 1.5s)".
inline constexpr std::string_view kDurationExamples = "e.g. 90, 90s, 1h30m, 1.5s";

/// `text` in the grammar above, nullopt when it is not in it.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// A duration as YAML or JSON gives it: a string in the grammar above, or a number of seconds
/// (YAML reads `timeout: 90` as the number 90); nullopt for anything else or a negative number.
std::optional<std::chrono::milliseconds> duration_value(const nlohmann::json& value);

}  // namespace drctl
