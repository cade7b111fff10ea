// The one "did you mean" of drctl: runbook keys and step ids, drill scenario keys and fault
// kinds, command-line words all suggest the same way.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace drctl {

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters ("metalb" → "metallb" is 1, "paht" → "path" is 1).
std::size_t edit_distance(const std::string& a, const std::string& b);

/// The candidate closest to `word` when it is within two edits and closer than the word is long
/// (so "a" never suggests "b"); the first such candidate on a tie.
std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& candidates);

/// " (did you mean 'x'?)" for closest(word, candidates), "" when there is none: ready to append
/// to an error line.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace drctl
