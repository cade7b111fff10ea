// Directory trees: one object per directory listing its entries and their metadata.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/bytes.hpp"

namespace drctl::store {

enum class NodeType { File, Dir, Symlink, Hardlink, Fifo, CharDev, BlockDev };

std::string_view type_name(NodeType t);

/// A piece of a file's content: a data blob, or a hole of `size` zero bytes (no blob).
struct Part {
  std::optional<Id> blob;  // nullopt: a hole
  std::uint64_t size = 0;
  bool operator==(const Part&) const = default;
};

/// One directory entry. Names and link targets are raw bytes (any byte but '/' and NUL).
struct Node {
  std::string name;
  NodeType type = NodeType::File;
  std::uint32_t mode = 0;  // permission and set-id bits (no type bits)
  std::uint32_t uid = 0, gid = 0;
  std::int64_t mtime_ns = 0;
  std::int64_t ctime_ns = 0;  // for change detection only; not restored
  std::uint64_t inode = 0;    // for change detection only
  std::uint64_t size = 0;
  std::uint64_t rdev = 0;     // devices
  std::string target;         // symlink target, or for Hardlink the section path of the first name
  std::vector<std::pair<std::string, Bytes>> xattrs;
  std::vector<Part> content;  // File
  std::optional<Id> subtree;  // Dir

  /// Same metadata as the last capture: the content can be reused without reading it.
  bool unchanged_since(const Node& earlier) const;
  bool operator==(const Node&) const = default;
};

/// A directory's entries, sorted by name bytes.
struct Tree {
  std::vector<Node> nodes;
  const Node* find(std::string_view name) const;
  /// A section's root tree: a single directory named "." that holds the root's own metadata
  /// (Section::root), never a directory listing.
  bool is_section_root() const;
};

/// The largest tree blob readers accept (some eight million entries in one directory).
inline constexpr std::size_t kMaxTreeSize = std::size_t(1) << 30;

/// Whether `name` can name a directory entry: not empty, `.` or `..`, no `/` or NUL.
bool valid_node_name(std::string_view name);
/// Whether `path` is valid entry names joined by single slashes ("a/b/c": relative, no `..`).
bool valid_relative_path(std::string_view path);

/// Trees are stored as CBOR (RFC 8949); see FORMAT.md.
Bytes encode_tree(const Tree& tree);
/// Decodes and checks a tree (FORMAT.md, "Reading trees"): names valid, unique and in order,
/// fields that fit their node's type. Throws Failure ("tree: …") when it is malformed.
Tree decode_tree(std::span<const std::uint8_t> data);

}  // namespace drctl::store
