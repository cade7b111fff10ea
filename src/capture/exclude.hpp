// Exclude patterns for directory captures, with restic's meaning (`backup --exclude`):
//
//   *.tmp          a glob on a name: any entry so named, at any depth
//   cache/*.bin    a glob on the last components of a path, at any depth
//   /var/log       anchored: the path from the source's root (not the host's root)
//   /**/build      `**` as a whole component: any number of directories (also none)
//
// `*`, `?`, `[...]` and `\` escapes match within one component (as fnmatch without FNM_PERIOD:
// `*` matches a leading dot too). An excluded directory is not walked, so all it holds is left
// out with it. A trailing `/` is dropped (it matches files as well). Not supported, and refused
// rather than misread: negation (`!pattern`), restic's `$VAR` expansion in exclude files.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace drctl::capture {

class ExcludeMatcher {
 public:
  /// Adds a pattern; throws InputError naming `origin` ("--exclude", "FILE:LINE") and the
  /// pattern when it is empty, only a slash, negated, or a malformed glob (an unclosed `[`, a
  /// trailing `\`).
  void add(const std::string& pattern, const std::string& origin);
  /// Adds the patterns of an exclude file: one a line, surrounding blanks trimmed, empty lines
  /// and lines starting with `#` ignored. InputError when it cannot be read or a line is bad.
  void add_file(const std::string& file);

  bool empty() const { return patterns_.empty(); }
  /// The patterns as given, in order (recorded in the snapshot's section).
  const std::vector<std::string>& patterns() const { return texts_; }

  /// The first pattern that matches the entry at `path` ("a/b/c", relative to the source's
  /// root, no leading slash) itself; nullptr when none does. A walk asks this of each entry
  /// and does not enter an excluded directory.
  const std::string* match(std::string_view path) const;
  /// The first pattern that matches `path` or one of its parent directories: for a flat
  /// listing (a remote host's tar stream or find output) where a directory's entries come
  /// without the walk that would have skipped them.
  const std::string* excluded(std::string_view path) const;

 private:
  struct Pattern {
    bool anchored = false;
    std::vector<std::string> parts;  // components; "**" any number of them
  };
  std::vector<Pattern> patterns_;
  std::vector<std::string> texts_;
};

}  // namespace drctl::capture
