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
};

/// Trees are stored as CBOR (RFC 8949); see FORMAT.md.
Bytes encode_tree(const Tree& tree);
Tree decode_tree(std::span<const std::uint8_t> data);  // throws Failure when malformed

}  // namespace drctl::store
