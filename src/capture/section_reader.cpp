#include "capture/section_reader.hpp"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/error.hpp"
#include "store/restorer.hpp"
#include "store/walk.hpp"

namespace drctl::capture {

using store::Node;
using store::NodeType;

using FileFn = std::function<void(const std::string&, const Node&)>;

void for_each_file(const store::Repository& repo, const store::Section& section, const KeepFn& keep,
                   const FileFn& on_file) {
  std::vector<std::pair<std::string, std::string>> links;  // a name → its first name (rare: looked up)
  store::WalkGuard guard(store::node_budget(section));
  try {
    store::walk_tree(repo, section.tree, guard, [&](const std::string& path, const Node& n) {
      if (keep && !keep(path)) return true;  // a directory left out may hold files kept
      if (n.type == NodeType::File) on_file(path, n);
      else if (n.type == NodeType::Hardlink) links.emplace_back(path, n.target);
      return true;
    });
  } catch (const store::TreeDamage& d) {
    throw Failure(d.in_section(section.name));
  }
  for (const auto& [path, target] : links) {
    auto first = store::find_node(repo, section.tree, target);
    if (!first || first->type != NodeType::File)
      throw Failure("hard link target " + store::escape_bytes(target) + " is missing from section " + section.name);
    on_file(path, *first);
  }
}

void read_content(const store::Repository& repo, const Node& file,
                  const std::function<void(const std::uint8_t*, std::size_t)>& sink) {
  static const std::uint8_t zeros[64 * 1024] = {};
  for (const auto& part : file.content) {
    if (part.blob) {
      const store::Bytes b = repo.read_blob(*part.blob);
      sink(b.data(), b.size());
      continue;
    }
    for (std::uint64_t left = part.size; left > 0;) {
      const auto piece = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof zeros));
      sink(zeros, piece);
      left -= piece;
    }
  }
}

std::map<std::string, std::string> section_files(const store::Repository& repo, const store::Section& section,
                                                 const KeepFn& keep) {
  std::map<std::string, std::string> out;
  for_each_file(repo, section, keep, [&](const std::string& path, const Node& n) {
    std::string& content = out[path];
    content.reserve(n.size);
    read_content(repo, n, [&](const std::uint8_t* d, std::size_t size) { content.append(reinterpret_cast<const char*>(d), size); });
  });
  return out;
}

}  // namespace drctl::capture
