// The two kinds of error drctl reports: bad input (exit 2) and failure (exit 1).
#pragma once
#include <stdexcept>
#include <string>

namespace drctl {

/// Something the user gave is wrong: a path, an id, a file's contents. Exit code 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The work could not be done (I/O, damage, a held lock). Exit code 1.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace drctl
