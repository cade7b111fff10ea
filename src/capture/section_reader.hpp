// Reading a snapshot's section straight from the store, file by file: for checking restored
// data (digests) and for small sections read whole (configuration exports, Kubernetes objects).
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "store/repository.hpp"
#include "store/snapshot.hpp"

namespace drctl::capture {

using KeepFn = std::function<bool(const std::string& path)>;

/// Calls `on_file(path, node)` for every regular file of a section in tree order ("a/b"
/// relative paths); a hard link comes as its own path with its first name's node. With `keep`,
/// only the paths it accepts. Throws Failure when a link's first name is missing.
void for_each_file(const store::Repository& repo, const store::Section& section, const KeepFn& keep,
                   const std::function<void(const std::string& path, const store::Node& file)>& on_file);

/// Hands a file's content to `sink` blob by blob; holes come as zeros.
void read_content(const store::Repository& repo, const store::Node& file,
                  const std::function<void(const std::uint8_t* data, std::size_t size)>& sink);

/// The regular files of a section (hard links included), path → content. With `keep`, only
/// the paths it accepts are read.
std::map<std::string, std::string> section_files(const store::Repository& repo, const store::Section& section,
                                                 const KeepFn& keep = nullptr);

}  // namespace drctl::capture
