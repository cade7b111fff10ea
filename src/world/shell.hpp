// Quoting for the POSIX shell every Host runs its commands with.
#pragma once
#include <string>

namespace drctl::world {

/// `s` as one word for a POSIX shell: as it is when it holds only safe characters, else in
/// single quotes (a ' inside becomes '\'').
std::string shell_quote(const std::string& s);

}  // namespace drctl::world
