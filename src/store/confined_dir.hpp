// File system access confined beneath one directory. Everything below it is reached from a
// directory descriptor one plain name at a time (or by openat2 with RESOLVE_BENEATH), never
// through a symlink, so names from an untrusted snapshot cannot lead anywhere else.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "store/files.hpp"

namespace drctl::store {

/// Opens the directory `name` inside `dir` without following a symlink. Throws Failure.
Fd open_subdir(int dir, const std::string& name);

/// Opens the directory at `rel` ("a/b/c" of plain names; "" is `root` itself) beneath `root`,
/// refusing symlinks on the way: openat2 with RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS, or name by
/// name where the kernel lacks openat2. Throws Failure.
Fd open_beneath(int root, std::string_view rel);

/// Removes the entry `name` of `dir` (nothing when absent); a directory with everything in it,
/// at most `max_depth` levels deep. A symlink is removed, never followed. Throws Failure.
void remove_beneath(int dir, const std::string& name, std::size_t max_depth);

/// Whether the directory `dir` has no entries.
bool is_empty_dir(int dir);

/// The directories from a root down to the one being worked in, each opened inside the one
/// above it. However deep it goes, at most `window` of them stay open (a tree may be nested
/// thousands of levels); the others are opened again, name by name, when it comes back up.
class DirStack {
 public:
  DirStack(int root, std::size_t window) : root_(root), window_(window) {}

  /// Goes down into `name`, a directory of top(), opened as `dir`. `name` must outlive its level.
  void push(const std::string& name, Fd dir);
  /// Goes back up one level.
  void pop();
  /// The directory worked in now (the root when nothing is pushed). Throws Failure when a
  /// closed level cannot be opened again.
  int top();

 private:
  struct Level {
    const std::string* name;
    Fd fd;  // closed once `window` deeper levels are open
  };
  int root_;
  std::size_t window_;
  std::vector<Level> levels_;
};

}  // namespace drctl::store
