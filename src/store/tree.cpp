#include "store/tree.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <nlohmann/json.hpp>

#include "store/error.hpp"

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
    if (m == 0) return static_cast<std::int64_t>(v);
    if (m == 1) return -1 - static_cast<std::int64_t>(v);
    throw Failure("tree: expected an integer");
  }
  std::string text() { return take(expect(3)); }
  std::string bytes() { return take(expect(2)); }
  Id id() {
    std::string b = bytes();
    if (b.size() != 32) throw Failure("tree: an id is not 32 bytes");
    Id out;
    std::memcpy(out.bytes.data(), b.data(), 32);
    return out;
  }
  /// Skips one item of any type (keys this version does not know).
  void skip_item() {
    auto [m, v] = head();
    if (m == 2 || m == 3) take(v);
    else if (m == 4) for (std::uint64_t i = 0; i < v; ++i) skip_item();
    else if (m == 5) for (std::uint64_t i = 0; i < 2 * v; ++i) skip_item();
    else if (m == 6) skip_item();
  }
  bool done() const { return p_ == end_; }

 private:
  void need(std::size_t n) const {
    if (static_cast<std::size_t>(end_ - p_) < n) throw Failure("tree: truncated CBOR");
  }
  std::string take(std::uint64_t n) {
    need(static_cast<std::size_t>(n));
    std::string out(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
    p_ += n;
    return out;
  }
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

Node decode_node(CborReader& r) {
  Node n;
  const std::uint64_t keys = r.expect(5);
  for (std::uint64_t k = 0; k < keys; ++k) {
    const std::string key = r.text();
    if (key == "n") n.name = r.bytes();
    else if (key == "t") n.type = type_of(r.text());
    else if (key == "m") n.mode = static_cast<std::uint32_t>(r.uint());
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
      const std::uint64_t count = r.expect(4);
      n.content.reserve(static_cast<std::size_t>(count));
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
    } else {
      r.skip_item();
    }
  }
  return n;
}

}  // namespace

Tree decode_tree(std::span<const std::uint8_t> data) {
  CborReader r(data);
  Tree tree;
  bool version_ok = false;
  const std::uint64_t keys = r.expect(5);
  for (std::uint64_t k = 0; k < keys; ++k) {
    const std::string key = r.text();
    if (key == "v") {
      version_ok = r.uint() == 1;
    } else if (key == "nodes") {
      const std::uint64_t count = r.expect(4);
      tree.nodes.reserve(static_cast<std::size_t>(count));
      for (std::uint64_t i = 0; i < count; ++i) tree.nodes.push_back(decode_node(r));
    } else {
      r.skip_item();
    }
  }
  if (!version_ok) throw Failure("tree: missing or unsupported version");
  if (!r.done()) throw Failure("tree: trailing bytes");
  return tree;
}

}  // namespace drctl::store
