// Output that may hold site details (run and drill reports, event logs, rendered templates,
// the journal): files 0600 and the directories drctl creates for them 0700, whatever the umask.
#pragma once
#include <filesystem>
#include <string_view>

namespace drctl::runbook {

/// Writes `text` to `path`, replacing what was there; the file ends up 0600 even if it existed
/// with another mode. Throws drctl::Failure naming the path.
void write_private_file(const std::filesystem::path& path, std::string_view text);

/// Creates `dir` and its missing parents, each 0700; directories that exist are left as they are.
/// Throws drctl::Failure naming the directory that could not be made.
void make_private_dirs(const std::filesystem::path& dir);

/// Opens `path` for writing (O_CREAT plus `flags`) and makes it 0600; the descriptor. Throws
/// drctl::Failure naming the path.
int open_private_file(const std::filesystem::path& path, int flags);

}  // namespace drctl::runbook
