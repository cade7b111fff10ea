#include <doctest/doctest.h>

#include "base/error.hpp"
#include "store/index.hpp"
#include "store/pack.hpp"
#include "store/tree.hpp"

using namespace drctl::store;

TEST_CASE("tree objects round-trip names and targets of any bytes") {
  Tree t;
  Node a;
  a.name = "bad \xff\xfe name\nwith newline";  // any bytes but / and NUL
  a.type = NodeType::File;
  a.mode = 04755;
  a.size = 10;
  a.mtime_ns = -5;
  a.xattrs = {{"user.bin", Bytes{0, 1, 2, 255}}};
  a.content = {{sha256("x"), 4}, {std::nullopt, 6}};
  Node b;
  b.name = "link";
  b.type = NodeType::Symlink;
  b.target = std::string("\x01target", 7);
  t.nodes = {a, b};
  Tree back = decode_tree(encode_tree(t));
  REQUIRE(back.nodes.size() == 2);
  CHECK(back.nodes[0].name == a.name);
  CHECK(back.nodes[0].mode == 04755);
  CHECK(back.nodes[0].mtime_ns == -5);
  CHECK(back.nodes[0].xattrs == a.xattrs);
  REQUIRE(back.nodes[0].content.size() == 2);
  CHECK(back.nodes[0].content[0].blob == sha256("x"));
  CHECK_FALSE(back.nodes[0].content[1].blob.has_value());
  CHECK(back.nodes[0].content[1].size == 6);
  CHECK(back.nodes[1].target == b.target);
  CHECK_THROWS_AS(decode_tree(Bytes{1, 2, 3}), drctl::Failure);
}

TEST_CASE("index files round-trip and reject damage") {
  PackContents pc;
  Id pack = sha256("pack");
  pc[pack] = {BlobEntry{BlobType::Data, Compression::Zstd, sha256("a"), 0, 10, 20},
              BlobEntry{BlobType::Tree, Compression::None, sha256("b"), 10, 5, 5}};
  Bytes enc = encode_index(pc);
  auto back = decode_index(enc);
  REQUIRE(back.size() == 1);
  CHECK(back[pack].size() == 2);
  CHECK(back[pack][1].id == sha256("b"));
  CHECK(back[pack][1].type == BlobType::Tree);
  enc.pop_back();
  CHECK_THROWS_AS(decode_index(enc), drctl::Failure);

  Index idx;
  idx.add(pc);
  REQUIRE(idx.find(sha256("a")));
  CHECK(idx.pack_id(*idx.find(sha256("a"))) == pack);
  CHECK_FALSE(idx.contains(sha256("c")));
}

TEST_CASE("ids parse and print as hex") {
  Id id = sha256("abc");
  CHECK(id.hex() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Id::from_hex(id.hex()) == id);
  CHECK_FALSE(Id::is_hex("xyz"));
  CHECK_THROWS(Id::from_hex("zz"));
}
