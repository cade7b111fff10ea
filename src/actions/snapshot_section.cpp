#include "actions/snapshot_section.hpp"

#include <chrono>
#include <filesystem>

#include "capture/section_reader.hpp"

namespace drctl::actions {

namespace {

const world::Duration kLong(30 * 60000);  // a dataset's hashing may take a while

/// A reader's share of the repository at `repo` (none where there is no repository: opening it
/// says so). A step waits up to half an hour for a prune to finish: its own timeout rules.
std::optional<store::ReadLock> read_share(const std::string& repo) {
  if (!std::filesystem::exists(std::filesystem::path(repo) / "config")) return std::nullopt;
  return store::ReadLock::shared(repo, std::chrono::minutes(30), [](const std::string&) {});
}

}  // namespace

OpenSection::OpenSection(const json& inputs)
    : reading(read_share(inputs.at("repo").get<std::string>())),
      repo(inputs.at("repo").get<std::string>()),
      snap(repo.find_snapshot(inputs.value("snapshot", "latest"))),
      section(snap.section(inputs.at("section").get<std::string>())) {
  if (!section)
    throw ActionError("snapshot " + snap.id.short_hex() + " has no section " + inputs.at("section").get<std::string>());
}

capture::DataDiff OpenSection::compare(world::Host& host, const std::string& path) const {
  return capture::compare_digests(capture::section_digests(repo, *section), capture::host_digests(host, path, kLong));
}

std::map<std::string, std::string> snapshot_files(const std::string& repo_path, const std::string& snapshot,
                                                  const std::string& section,
                                                  const std::function<bool(const std::string&)>& keep) {
  if (!std::filesystem::exists(std::filesystem::path(repo_path) / "config")) throw ActionError("no snapshot repository at " + repo_path);
  const auto reading = read_share(repo_path);
  store::Repository repo(repo_path);
  const store::Snapshot snap = repo.find_snapshot(snapshot);
  const store::Section* s = snap.section(section);
  if (!s) throw ActionError("snapshot " + snap.id.short_hex() + " has no section " + section);
  return capture::section_files(repo, *s, keep);
}

}  // namespace drctl::actions
