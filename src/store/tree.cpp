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

std::string str_of(const json& j) {
  const auto& b = j.get_binary();
  return std::string(b.begin(), b.end());
}

Id id_of(const json& j) {
  const auto& b = j.get_binary();
  if (b.size() != 32) throw Failure("tree: an id is not 32 bytes");
  Id id;
  std::memcpy(id.bytes.data(), b.data(), 32);
  return id;
}

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

Tree decode_tree(std::span<const std::uint8_t> data) {
  try {
    json doc = json::from_cbor(data.begin(), data.end());
    if (doc.at("v").get<int>() != 1) throw Failure("tree: unsupported version");
    Tree tree;
    for (const auto& j : doc.at("nodes")) {
      Node n;
      n.name = str_of(j.at("n"));
      n.type = type_of(j.at("t").get<std::string>());
      n.mode = j.at("m").get<std::uint32_t>();
      n.uid = j.at("u").get<std::uint32_t>();
      n.gid = j.at("g").get<std::uint32_t>();
      n.mtime_ns = j.at("mt").get<std::int64_t>();
      n.ctime_ns = j.at("ct").get<std::int64_t>();
      n.inode = j.at("i").get<std::uint64_t>();
      if (j.contains("s")) n.size = j["s"].get<std::uint64_t>();
      if (j.contains("rd")) n.rdev = j["rd"].get<std::uint64_t>();
      if (j.contains("l")) n.target = str_of(j["l"]);
      if (j.contains("x"))
        for (const auto& x : j["x"]) n.xattrs.emplace_back(str_of(x.at(0)), x.at(1).get_binary());
      if (j.contains("c"))
        for (const auto& p : j["c"]) {
          if (p.size() == 2) n.content.push_back({id_of(p[0]), p[1].get<std::uint64_t>()});
          else n.content.push_back({std::nullopt, p.at(0).get<std::uint64_t>()});
        }
      if (j.contains("sub")) n.subtree = id_of(j["sub"]);
      tree.nodes.push_back(std::move(n));
    }
    return tree;
  } catch (const json::exception& e) {
    throw Failure(std::string("tree object is malformed: ") + e.what());
  }
}

}  // namespace drctl::store
