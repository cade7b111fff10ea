// Quoting for the POSIX shell every Host runs its commands with (sh on Debian, FreeBSD's sh, and
// the `/bin/sh -c` that wraps commands for csh-login hosts).
#pragma once
#include <string>
#include <string_view>

namespace drctl {

/// `s` as one word for a POSIX shell: as it is when it holds only characters no shell treats
/// specially, else in single quotes (a ' inside becomes '\'').
std::string shell_quote(std::string_view s);

}  // namespace drctl
