// The patterns of OpenSSH (match.c): `*` any run of characters, `?` one, and comma lists with
// `!` negation. Host lines compare case by case, Match host and known_hosts ignore case.
#pragma once
#include <string>

namespace drctl::world::real {

/// True when `text` matches an ssh pattern: `*` any run, `?` one character; case-insensitive
/// (as known_hosts and `Match host` compare host names).
bool ssh_pattern_match(const std::string& text, const std::string& pattern);

/// As ssh_pattern_match, but case-sensitive, as ssh(1) compares a `Host` line's patterns with
/// the host name as typed.
bool ssh_pattern_match_case(const std::string& text, const std::string& pattern);

/// How a comma-separated pattern list ("a*,!ab,c") judges `text`, as match_pattern_list does.
enum class SshListMatch { none, positive, negated };

/// Judges `text` against `list`: negated when a `!` pattern matches, else positive when another
/// one does. `ignore_case`: the comparison of `Match host`; else that of `Match user`.
SshListMatch ssh_pattern_list_match(const std::string& text, const std::string& list, bool ignore_case);

}  // namespace drctl::world::real
