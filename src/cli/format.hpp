// Text for people: sizes, rates, and paths made safe to print.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace drctl::cli {

/// "1.5 GiB"
std::string human_bytes(std::uint64_t n);

/// A path with control characters and invalid UTF-8 escaped (\n, \xff), like `ls -b`.
std::string printable(std::string_view s);

/// "30s", "2m", "1h" or plain seconds → milliseconds; throws InputError naming `what`.
std::int64_t parse_duration_ms(const std::string& text, const std::string& what);

}  // namespace drctl::cli
