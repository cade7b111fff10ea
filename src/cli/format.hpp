// Text for people: sizes, rates, and paths made safe to print; argument text checked as drctl
// takes it (one contract for every command).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace drctl::cli {

/// "1.5 GiB"
std::string human_bytes(std::uint64_t n);

/// A path with control characters and invalid UTF-8 escaped (\n, \xff), like `ls -b`.
std::string printable(std::string_view s);

/// A duration option (base/duration.hpp's grammar) in milliseconds; throws InputError naming `what`.
std::int64_t duration_option(const std::string& text, const std::string& what);

/// Why an argument value cannot be taken ("" if it can): it holds a control character (< 0x20
/// or 0x7f), named in words ("a newline", "ESC", "byte 0x01"). Values are one line of text.
std::string control_character_problem(std::string_view value);

/// Why `value` is not a whole number from `min` to `max` ("" if it is): only digits (no sign,
/// point or exponent). The message starts with `what` (how the option may have been typed, or
/// "") and quotes the value as given.
std::string whole_number_problem(std::string_view value, const std::string& what, std::uint64_t min, std::uint64_t max);

}  // namespace drctl::cli
