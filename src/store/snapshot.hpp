// Snapshot manifests: what was captured, when, from where, and what was skipped.
#pragma once
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "store/bytes.hpp"

namespace drctl::store {

/// One captured source, e.g. nas/media from /mnt/tank/media.
struct Section {
  std::string name;    // "nas/NAME"
  std::string source;  // where it was read from
  Id tree;             // root directory tree (the entries)
  std::optional<Id> root;  // a tree of one node "." with the root directory's own metadata
  std::uint64_t files = 0, dirs = 0, bytes = 0;
  // What exclude patterns left out (manifest fields written only when there are patterns, so
  // manifests without them keep their bytes and ids): the patterns as given, how many entries
  // they matched (an excluded directory counts once, with all it holds), and the first
  // kMaxExcludedPaths of those entries with the pattern that matched each.
  std::vector<std::string> excludes{};
  std::uint64_t excluded = 0;
  std::vector<std::pair<std::string, std::string>> excluded_paths{};  // (path in the section, pattern)
};

/// A section as its manifest records it (name, source, tree, counts, and what exclude patterns
/// left out when there were patterns), without the root tree's id.
nlohmann::json section_json(const Section& s);

/// How many excluded paths a section's manifest names at most (the count covers the rest).
inline constexpr std::size_t kMaxExcludedPaths = 1000;

/// A file that could not be read and is missing from the snapshot.
struct Skipped {
  std::string section;
  std::string path;
  std::string error;
};

struct Snapshot {
  Id id;  // SHA-256 of the manifest's JSON; not part of it
  std::string time;  // ISO 8601 UTC with nanoseconds; orders snapshots
  std::string host;
  std::vector<std::string> tags;
  std::vector<Section> sections;
  std::vector<Skipped> skipped;
  std::optional<Id> parent;
  std::optional<Id> original;  // the snapshot this one replaced when its tags were changed
  std::uint64_t added_bytes = 0;  // stored bytes this snapshot added to the repository

  const Section* section(std::string_view name) const;
  std::string to_json() const;
  static Snapshot from_json(std::string_view text, const Id& id);  // throws Failure, also when validate() does
  /// Throws Failure unless the time is ISO 8601 UTC, every section has a valid name, no section
  /// lies inside another (restore puts each in a directory of its name) and skipped entries
  /// name a section.
  void validate() const;
};

/// Whether `name` can name a section: components of ASCII letters, digits and `._+:@-` (the
/// first a letter, digit or `_`), joined by single slashes; at most 255 bytes a component
/// and 1024 in all. What drctl writes: nas/NAME, kube, vm, appliance/NAME.
bool valid_section_name(std::string_view name);

/// Throws InputError unless `name` is a valid section name; capturing calls it first.
void require_section_name(const std::string& name);

/// Current time as ISO 8601 UTC with nanoseconds: 2026-11-26T12:00:00.123456789Z.
std::string precise_utc_now();
/// `t` as snapshots record their time: ISO 8601 in UTC with nanoseconds ("2026-12-02T03:43:03.123456789Z").
std::string utc_text(std::chrono::system_clock::time_point t);
/// The newest snapshot time of each section name among `snapshots` (what `status` and a
/// scheduled run report as each source's last backup).
std::map<std::string, std::string> newest_by_section(const std::vector<Snapshot>& snapshots);

/// The inverse: "2026-12-02T03:00:01.5Z" (ISO 8601 UTC, any fraction of a second) as a time
/// point; nullopt when the text is not one.
std::optional<std::chrono::system_clock::time_point> parse_utc_text(std::string_view text);

}  // namespace drctl::store
