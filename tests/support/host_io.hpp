// What the commands an sshd ran read on the host: a ForceCommand wrapper runs each SSH command
// as sh would, then appends the bytes it and everything it ran read (rchar of /proc/PID/io:
// Linux adds a reaped child's counts to its parent's) to a log, one line per command. Written by
// the server side, outside drctl: the oracle for "a capture read only what changed".
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "support/fs_tree.hpp"

namespace support {

/// Writes the wrapper and returns its path (for `ForceCommand`); its log is DIR/io.log.
inline std::filesystem::path io_wrapper(const std::filesystem::path& dir) {
  const std::filesystem::path wrapper = dir / "count-io";
  const std::filesystem::path log = dir / "io.log";
  write_file(wrapper,
             "#!/bin/sh\n"
             "/bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n"
             "status=$?\n"
             "while read -r key value; do [ \"$key\" = rchar: ] && echo \"$value\" >> " + log.string() + "; done < /proc/$$/io\n"
             "exit $status\n",
             0755);
  return wrapper;
}

/// What the commands logged since line `from` read: in all, and how many commands.
struct HostReads {
  std::uint64_t bytes = 0;
  std::size_t commands = 0;
};

/// The reads logged in DIR/io.log from line `from` on; `from` moves past them.
inline HostReads bytes_read(const std::filesystem::path& dir, std::size_t& from) {
  std::ifstream in(dir / "io.log");
  HostReads r;
  std::size_t n = 0;
  for (std::string line; std::getline(in, line); ++n)
    if (n >= from) {
      r.bytes += std::stoull(line);
      ++r.commands;
    }
  from = n;
  return r;
}

}  // namespace support
