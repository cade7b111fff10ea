// Sections built from files drctl writes itself: a file streamed in pieces of any size comes
// out the same as written (and chunks like the same bytes captured otherwise), files added to a
// section replace those of the same name, and a file reads back piece by piece, holes as zeros.
#include <doctest/doctest.h>

#include <string>

#include "capture/section_builder.hpp"
#include "capture/tar_stream.hpp"
#include "base/error.hpp"
#include "support/fs_tree.hpp"

using namespace drctl;
using namespace drctl::capture;

namespace {

struct Repo {
  support::TempDir tmp{"section-builder"};
  std::unique_ptr<store::Repository> repo;
  Progress progress;
  Repo() {
    store::RepoConfig config;
    config.chunker = {16 * 1024, 64 * 1024, 256 * 1024};  // many chunks from little data
    store::Repository::init(tmp / "repo", config);
    repo = std::make_unique<store::Repository>(tmp / "repo");
  }
};

std::string read_all(const std::function<std::string()>& read) {
  std::string out;
  for (std::string piece = read(); !piece.empty(); piece = read()) out += piece;
  return out;
}

}  // namespace

TEST_CASE("section builder: a file written in pieces of any size is cut the same and reads back whole") {
  Repo r;
  const std::string data = support::Rng(9).bytes(3 * support::MiB + 5);
  FileWriter whole(*r.repo, r.progress);
  whole.write(data.data(), data.size());
  std::string digest;
  store::Node a = whole.finish("a", 0600, 123, &digest);
  CHECK(digest == store::sha256(data).hex());

  FileWriter pieces(*r.repo, r.progress);
  support::Rng rng(1);
  for (std::size_t at = 0; at < data.size();) {
    std::size_t n = std::min<std::size_t>(data.size() - at, rng.uniform(1, 100000));
    pieces.write(data.data() + at, n);
    at += n;
  }
  CHECK(pieces.size() == data.size());
  store::Node b = pieces.finish("b", 0600, 123);
  CHECK(a.content == b.content);  // content-defined: the same chunks whatever the pieces
  CHECK(a.content.size() > 10);
  CHECK(a.size == data.size());
  CHECK(a.mode == 0600);
  CHECK(a.mtime_ns == 123);
  r.repo->flush();
  CHECK(read_all(file_reader(*r.repo, b)) == data);
  CHECK_THROWS_AS(pieces.write("x", 1), Failure);
}

TEST_CASE("section builder: files added to a section replace those of the same name, and the counts follow") {
  Repo r;
  store::Section s = make_section(*r.repo, "kube", "src",
                                  {file_node(*r.repo, r.progress, "b.json", "bb", 0644, 0),
                                   file_node(*r.repo, r.progress, "a.json", "a", 0644, 0)},
                                  77);
  CHECK(s.files == 2);
  CHECK(s.bytes == 3);
  REQUIRE(s.root);
  add_to_section(*r.repo, s,
                 {file_node(*r.repo, r.progress, "b.json", "BBBB", 0600, 0),
                  file_node(*r.repo, r.progress, "etcd.db", "db", 0600, 0)});
  CHECK(s.files == 3);
  CHECK(s.bytes == 7);
  r.repo->flush();
  auto files = section_files(*r.repo, s);
  CHECK(files == std::map<std::string, std::string>{{"a.json", "a"}, {"b.json", "BBBB"}, {"etcd.db", "db"}});
  CHECK(read_section_file(*r.repo, s, "etcd.db") == "db");
  CHECK_FALSE(read_section_file(*r.repo, s, "missing"));
  store::Tree root = r.repo->load_tree(*s.root);  // the root's metadata points at the new tree
  REQUIRE(root.nodes.size() == 1);
  CHECK(root.nodes[0].subtree == s.tree);
  CHECK(root.nodes[0].mtime_ns == 77);
  CHECK(root.nodes[0].mode == 0700);
}

TEST_CASE("section builder: a file's holes read back as zeros") {
  Repo r;
  store::Node n = file_node(*r.repo, r.progress, "f", "data", 0644, 0);
  n.content.insert(n.content.begin(), store::Part{std::nullopt, 3 * support::MiB});
  n.content.push_back(store::Part{std::nullopt, 2});
  n.size += 3 * support::MiB + 2;
  r.repo->flush();
  std::string out = read_all(file_reader(*r.repo, n));
  CHECK(out == std::string(3 * support::MiB, '\0') + "data" + std::string(2, '\0'));
}

TEST_CASE("blob pool: chunks stored by the workers are all there after drain, duplicates once, with a small limit") {
  Repo r;
  support::Rng rng(17);
  std::vector<std::string> pieces;
  for (int i = 0; i < 40; ++i) pieces.push_back(rng.bytes(20000 + static_cast<std::size_t>(i) * 1000));
  pieces.push_back(pieces[3]);  // the same bytes twice
  std::vector<store::Id> ids;
  {
    BlobPool pool(*r.repo, r.progress, 2, 64 * 1024);  // a limit below the total: add() waits
    for (const auto& p : pieces) {
      const auto* b = reinterpret_cast<const std::uint8_t*>(p.data());
      ids.push_back(r.repo->blob_id(p));
      pool.add(ids.back(), store::Bytes(b, b + p.size()));
    }
    pool.drain();
  }
  r.repo->flush();
  store::Repository reopened(r.tmp / "repo");  // what is on disk, not what the writer remembers
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const store::Bytes back = reopened.read_blob(ids[i]);
    CHECK(std::string(back.begin(), back.end()) == pieces[i]);
  }
  CHECK(reopened.index().size() == pieces.size() - 1);
}

TEST_CASE("blob pool: a worker's failure to store is thrown to the caller, not lost") {
  Repo r;
  // The repository's temporary directory gone: the first pack cannot be opened.
  std::filesystem::remove_all(r.tmp / "repo/tmp");
  support::Rng rng(5);
  BlobPool pool(*r.repo, r.progress, 2);
  bool thrown = false;
  try {
    for (int i = 0; i < 20; ++i) {
      const std::string p = rng.bytes(30000);
      const auto* b = reinterpret_cast<const std::uint8_t*>(p.data());
      pool.add(r.repo->blob_id(p), store::Bytes(b, b + p.size()));
    }
    pool.drain();
  } catch (const std::exception& e) {
    thrown = true;
    CHECK(std::string(e.what()).find("tmp") != std::string::npos);
  }
  CHECK(thrown);
}
