// Small text helpers shared across drctl (configuration files, command output, HTTP headers).
#pragma once
#include <cctype>
#include <string>
#include <string_view>
#include <vector>

namespace drctl::text {

/// ASCII lower case ("Port" → "port"); other bytes unchanged.
inline std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// `s` without leading and trailing whitespace (space, tab, CR, LF, FF, VT).
inline std::string trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(ws) - b + 1));
}

/// The non-empty parts of `s` between `sep`s ("a,,b" → {"a", "b"}).
std::vector<std::string> split_nonempty(std::string_view s, char sep);

/// `parts` with `sep` between them ({"a", "b"}, ", " → "a, b").
std::string join(const std::vector<std::string>& parts, std::string_view sep);

/// The whitespace-separated words of `s`.
std::vector<std::string> words(std::string_view s);

/// The SHA-256 of `data` in lower-case hex, as sha256sum prints it.
std::string sha256_hex(std::string_view data);

}  // namespace drctl::text
