#include "store/tree.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>

#include "store/chunker.hpp"
#include "base/error.hpp"

namespace drctl::store {

using json = nlohmann::json;

namespace {
constexpr std::array<std::string_view, 7> kTypeNames = {"file", "dir", "symlink", "hardlink",
                                                         "fifo", "chardev", "blockdev"};

json bin(std::string_view s) { return json::binary(std::vector<std::uint8_t>(s.begin(), s.end())); }
json bin(std::span<const std::uint8_t> s) { return json::binary(std::vector<std::uint8_t>(s.begin(), s.end())); }

NodeType type_of(const std::string& s) {
  for (std::size_t i = 0; i < kTypeNames.size(); ++i)
    if (kTypeNames[i] == s) return static_cast<NodeType>(i);
  throw Failure("tree: unknown node type '" + s + "'");
}
}  // namespace

std::string_view type_name(NodeType t) { return kTypeNames[static_cast<std::size_t>(t)]; }

bool Node::unchanged_since(const Node& e) const {
  return type == e.type && size == e.size && mtime_ns == e.mtime_ns && ctime_ns == e.ctime_ns && inode == e.inode;
}

const Node* Tree::find(std::string_view name) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), name,
                             [](const Node& n, std::string_view v) { return n.name < v; });
  return it != nodes.end() && it->name == name ? &*it : nullptr;
}

Bytes encode_tree(const Tree& tree) {
  json nodes = json::array();
  for (const auto& n : tree.nodes) {
    json j = {{"n", bin(n.name)}, {"t", type_name(n.type)}, {"m", n.mode}, {"u", n.uid}, {"g", n.gid},
              {"mt", n.mtime_ns}, {"ct", n.ctime_ns}, {"i", n.inode}};
    if (n.type == NodeType::File) j["s"] = n.size;
    if (n.type == NodeType::CharDev || n.type == NodeType::BlockDev) j["rd"] = n.rdev;
    if (n.type == NodeType::Symlink || n.type == NodeType::Hardlink) j["l"] = bin(n.target);
    if (!n.xattrs.empty()) {
      json x = json::array();
      for (const auto& [k, v] : n.xattrs) x.push_back(json::array({bin(k), bin(v)}));
      j["x"] = std::move(x);
    }
    if (n.type == NodeType::File) {
      json c = json::array();
      for (const auto& p : n.content)
        c.push_back(p.blob ? json::array({bin(p.blob->bytes), p.size}) : json::array({p.size}));
      j["c"] = std::move(c);
    }
    if (n.subtree) j["sub"] = bin(n.subtree->bytes);
    nodes.push_back(std::move(j));
  }
  return json::to_cbor(json{{"v", 1}, {"nodes", std::move(nodes)}});
}

namespace {

/// Values of keys this version does not know may nest this deep (arrays, maps and tags).
constexpr std::size_t kMaxSkipDepth = 64;

/// A reader for the CBOR subset trees use (definite lengths; see FORMAT.md). Decoding without
/// building a JSON document first keeps a no-change backup cheap: it reads every tree again.
class CborReader {
 public:
  explicit CborReader(std::span<const std::uint8_t> data) : p_(data.data()), end_(data.data() + data.size()) {}

  /// Major type and argument of the next item's head.
  std::pair<int, std::uint64_t> head() {
    need(1);
    const int major = *p_ >> 5, info = *p_ & 31;
    ++p_;
    if (info < 24) return {major, static_cast<std::uint64_t>(info)};
    if (info > 27) throw Failure("tree: indefinite or reserved CBOR length");
    const int n = 1 << (info - 24);
    need(static_cast<std::size_t>(n));
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | *p_++;
    return {major, v};
  }
  std::uint64_t expect(int major) {
    auto [m, v] = head();
    if (m != major) throw Failure("tree: unexpected CBOR type " + std::to_string(m) + " (wanted " + std::to_string(major) + ")");
    return v;
  }
  std::uint64_t uint() { return expect(0); }
  std::int64_t integer() {
    auto [m, v] = head();
    if (v > static_cast<std::uint64_t>(INT64_MAX)) throw Failure("tree: an integer is out of range");
    if (m == 0) return static_cast<std::int64_t>(v);
    if (m == 1) return -1 - static_cast<std::int64_t>(v);
    throw Failure("tree: expected an integer");
  }
  /// A text string, valid until the reader moves on (map keys: no copy).
  std::string_view text() { return view(expect(3)); }
  std::string bytes() { return std::string(view(expect(2))); }
  Id id() {
    std::string_view b = view(expect(2));
    if (b.size() != 32) throw Failure("tree: an id is not 32 bytes");
    Id out;
    std::memcpy(out.bytes.data(), b.data(), 32);
    return out;
  }
  /// Skips one item of any type (values of keys this version does not know), iteratively:
  /// the items still to skip at each open level are counted, never recursed into.
  void skip_item() {
    std::array<std::uint64_t, kMaxSkipDepth> outer{};
    std::size_t depth = 0;
    std::uint64_t left = 1;  // items still to skip at the current level
    while (true) {
      while (left == 0) {
        if (depth == 0) return;
        left = outer[--depth];
      }
      --left;
      auto [m, v] = head();
      if (m == 2 || m == 3) {
        view(v);
        continue;
      }
      if (m < 4 || m == 7) continue;
      // Every item takes a byte at least: a count beyond the bytes left is a truncated item.
      if (v > remaining() || (m == 5 && 2 * v > remaining())) throw Failure("tree: truncated CBOR");
      const std::uint64_t items = m == 4 ? v : m == 5 ? 2 * v : 1;
      if (items == 0) continue;
      if (depth == kMaxSkipDepth)
        throw Failure("tree: an unknown value nests deeper than " + std::to_string(kMaxSkipDepth) + " levels");
      outer[depth++] = left;
      left = items;
    }
  }
  bool done() const { return p_ == end_; }
  std::uint64_t remaining() const { return static_cast<std::uint64_t>(end_ - p_); }

 private:
  void need(std::uint64_t n) const {
    if (remaining() < n) throw Failure("tree: truncated CBOR");
  }
  std::string_view view(std::uint64_t n) {
    need(n);
    std::string_view out(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
    p_ += n;
    return out;
  }
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

/// An entry name for a message, quoted and escaped, cut at 64 bytes.
std::string shown(std::string_view s) {
  return "\"" + escape_bytes(s.substr(0, 64)) + (s.size() > 64 ? "…\"" : "\"");
}

void decode_content(CborReader& r, Node& n) {
  const std::uint64_t count = r.expect(4);
  n.content.reserve(static_cast<std::size_t>(std::min(count, r.remaining() / 2)));  // a part takes 2 bytes at least
  for (std::uint64_t i = 0; i < count; ++i) {
    const std::uint64_t len = r.expect(4);
    if (len == 2) {
      Id id = r.id();
      n.content.push_back({id, r.uint()});
    } else if (len == 1) {
      n.content.push_back({std::nullopt, r.uint()});
    } else {
      throw Failure("tree: a content part has " + std::to_string(len) + " fields");
    }
  }
}

/// The keys a node had, for the checks that depend on its type.
struct Seen {
  bool name = false, type = false, content = false;
};

Node decode_node(CborReader& r, Seen& seen) {
  Node n;
  const std::uint64_t keys = r.expect(5);
  for (std::uint64_t k = 0; k < keys; ++k) {
    const std::string_view key = r.text();
    if (key == "n") n.name = r.bytes(), seen.name = true;
    else if (key == "t") n.type = type_of(std::string(r.text())), seen.type = true;
    else if (key == "m") n.mode = static_cast<std::uint32_t>(std::min<std::uint64_t>(r.uint(), UINT32_MAX));
    else if (key == "u") n.uid = static_cast<std::uint32_t>(r.uint());
    else if (key == "g") n.gid = static_cast<std::uint32_t>(r.uint());
    else if (key == "mt") n.mtime_ns = r.integer();
    else if (key == "ct") n.ctime_ns = r.integer();
    else if (key == "i") n.inode = r.uint();
    else if (key == "s") n.size = r.uint();
    else if (key == "rd") n.rdev = r.uint();
    else if (key == "l") n.target = r.bytes();
    else if (key == "sub") n.subtree = r.id();
    else if (key == "x") {
      const std::uint64_t count = r.expect(4);
      for (std::uint64_t i = 0; i < count; ++i) {
        if (r.expect(4) != 2) throw Failure("tree: an xattr is not a [name, value] pair");
        std::string name = r.bytes(), value = r.bytes();
        n.xattrs.emplace_back(std::move(name), Bytes(value.begin(), value.end()));
      }
    } else if (key == "c") {
      if (seen.content) throw Failure("tree: a node has two content lists");
      seen.content = true;
      decode_content(r, n);
    } else {
      r.skip_item();
    }
  }
  return n;
}

/// The fields a node of its type must (and must not) have; throws Failure naming the node.
void check_fields(const Node& n, const Seen& seen) {
  auto bad = [&](const std::string& what) { throw Failure("tree: entry " + shown(n.name) + ": " + what); };
  if (!seen.name) throw Failure("tree: an entry has no name");
  if (!seen.type) bad("no type");
  if (n.mode > 07777) bad("mode " + std::to_string(n.mode) + " holds more than permission bits");
  if ((n.type == NodeType::Dir) != n.subtree.has_value())
    bad(n.type == NodeType::Dir ? "a directory without its tree" : "a subtree on something that is not a directory");
  if (n.type != NodeType::File && seen.content) bad("content on something that is not a regular file");
  for (const auto& [name, value] : n.xattrs)
    if (name.empty() || name.find('\0') != std::string::npos) bad("an extended attribute name is empty or holds NUL");
  if (n.type == NodeType::Symlink && (n.target.empty() || n.target.find('\0') != std::string::npos))
    bad("a symlink target that is empty or holds NUL");
  if (n.type == NodeType::Hardlink && !valid_relative_path(n.target))
    bad("hard link target " + shown(n.target) + " is not a path inside the section");
  if (n.type == NodeType::File) {
    std::uint64_t total = 0;
    for (const Part& p : n.content) {
      if (p.blob && p.size > kMaxChunkSize) bad("a content chunk of " + std::to_string(p.size) + " bytes");
      if (total + p.size < total) bad("content sizes overflow");
      total += p.size;
    }
    if (total != n.size) bad("content adds up to " + std::to_string(total) + " bytes, not its size " + std::to_string(n.size));
  }
}

/// A name may be "." only as the single directory of a section's root tree.
void check_names(const Tree& tree) {
  if (tree.is_section_root()) return;
  for (std::size_t i = 0; i < tree.nodes.size(); ++i) {
    const std::string& name = tree.nodes[i].name;
    if (!valid_node_name(name)) throw Failure("tree: entry name " + shown(name) + " is not a name (empty, . or .., or holds / or NUL)");
    if (i > 0 && !(tree.nodes[i - 1].name < name))
      throw Failure("tree: entry " + shown(name) + (tree.nodes[i - 1].name == name ? " appears twice" : " is out of order"));
  }
}

}  // namespace

bool valid_node_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return false;
  return std::memchr(name.data(), '/', name.size()) == nullptr && std::memchr(name.data(), '\0', name.size()) == nullptr;
}

bool valid_relative_path(std::string_view path) {
  while (true) {
    const std::size_t slash = path.find('/');
    if (!valid_node_name(path.substr(0, slash))) return false;
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

bool Tree::is_section_root() const {
  return nodes.size() == 1 && nodes[0].name == "." && nodes[0].type == NodeType::Dir;
}

Tree decode_tree(std::span<const std::uint8_t> data) {
  if (data.size() > kMaxTreeSize) throw Failure("tree: " + std::to_string(data.size()) + " bytes, more than a tree may hold");
  CborReader r(data);
  Tree tree;
  bool version_ok = false, nodes_seen = false;
  const std::uint64_t keys = r.expect(5);
  for (std::uint64_t k = 0; k < keys; ++k) {
    const std::string_view key = r.text();
    if (key == "v") {
      version_ok = r.uint() == 1;
    } else if (key == "nodes") {
      if (nodes_seen) throw Failure("tree: two node lists");
      nodes_seen = true;
      const std::uint64_t count = r.expect(4);
      tree.nodes.reserve(static_cast<std::size_t>(std::min(count, r.remaining() / 8)));  // a valid node takes 8 bytes at least
      for (std::uint64_t i = 0; i < count; ++i) {
        Seen seen;
        tree.nodes.push_back(decode_node(r, seen));
        check_fields(tree.nodes.back(), seen);
      }
    } else {
      r.skip_item();
    }
  }
  if (!version_ok) throw Failure("tree: missing or unsupported version");
  if (!r.done()) throw Failure("tree: trailing bytes");
  check_names(tree);
  return tree;
}

}  // namespace drctl::store
