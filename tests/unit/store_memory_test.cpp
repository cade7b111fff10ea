// The index and the NAS capture at the scale of a real NAS: the compact index answers as a map
// would, costs about its entries' bytes, and the capture gives the same trees however many
// threads read the files.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string>

#include "base/error.hpp"
#include "capture/nas.hpp"
#include "store/index.hpp"
#include "store/repository.hpp"
#include "support/fs_tree.hpp"

using namespace drctl::store;

namespace {

Id random_id(support::Rng& rng) {
  Id id;
  rng.fill(id.bytes.data(), id.bytes.size());
  return id;
}

BlobEntry entry_for(const Id& id, std::uint32_t n) {
  BlobEntry e;
  e.type = n % 3 ? BlobType::Data : BlobType::Tree;
  e.compression = n % 2 ? Compression::Zstd : Compression::None;
  e.id = id;
  e.offset = n * 7;
  e.length = n % 100000;
  e.raw_length = n % 100000 + 1;
  return e;
}

bool same(const BlobEntry& a, const BlobEntry& b) {
  return a.type == b.type && a.compression == b.compression && a.id == b.id && a.offset == b.offset &&
         a.length == b.length && a.raw_length == b.raw_length;
}

/// This process's resident anonymous memory (heap and private mappings), from the kernel.
std::uint64_t rss_anon_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  std::uint64_t kib = 0;
  while (status >> key) {
    if (key == "RssAnon:") {
      status >> kib;
      return kib * 1024;
    }
    status.ignore(1 << 12, '\n');
  }
  FAIL("no RssAnon in /proc/self/status");
  return 0;
}

}  // namespace

TEST_CASE("index: every blob of a large index is found where it was added, and adding it again moves it") {
  support::Rng rng(20);
  std::vector<Id> packs;
  for (int i = 0; i < 40; ++i) packs.push_back(random_id(rng));
  std::map<Id, std::pair<Id, BlobEntry>> expected;  // the oracle: a plain map
  Index index;
  for (std::uint32_t n = 0; n < 200000; ++n) {
    const Id id = random_id(rng);
    const Id& pack = packs[rng.uniform(0, packs.size() - 1)];
    const BlobEntry e = entry_for(id, n);
    index.add(pack, e);
    expected[id] = {pack, e};
  }
  // Some again, elsewhere: prune's new copy of a blob replaces the old location.
  std::uint32_t n = 0;
  for (auto& [id, where] : expected) {
    if (++n % 97) continue;
    const BlobEntry e = entry_for(id, 1000000 + n);
    index.add(packs[n % packs.size()], e);
    where = {packs[n % packs.size()], e};
  }
  CHECK(index.size() == expected.size());
  std::size_t wrong = 0;
  for (const auto& [id, where] : expected) {
    const Index::Location* l = index.find(id);
    if (!l || index.pack_id(*l) != where.first || !same(l->entry, where.second)) ++wrong;
  }
  CHECK(wrong == 0);
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(index.contains(random_id(rng)));

  // by_pack lists each blob once, under its pack.
  std::size_t listed = 0;
  for (const auto& [pack, entries] : index.by_pack()) {
    for (const BlobEntry& e : entries) {
      ++listed;
      auto it = expected.find(e.id);
      REQUIRE(it != expected.end());
      CHECK(it->second.first == pack);
    }
  }
  CHECK(listed == expected.size());
}

TEST_CASE("index: an index file is added entry by entry, and a damaged one adds nothing") {
  support::Rng rng(21);
  PackContents contents;
  for (int p = 0; p < 3; ++p) {
    auto& entries = contents[random_id(rng)];
    for (std::uint32_t n = 0; n < 500; ++n) entries.push_back(entry_for(random_id(rng), n));
  }
  const Bytes file = encode_index(contents);
  CHECK(file.size() == 12 + 3 * 36 + 1500 * kEntrySize);  // FORMAT.md's layout, sized exactly

  Index index;
  index.add_encoded(file);
  CHECK(index.size() == 1500);
  for (const auto& [pack, entries] : contents)
    for (const BlobEntry& e : entries) {
      const Index::Location* l = index.find(e.id);
      REQUIRE(l);
      CHECK(index.pack_id(*l) == pack);
      CHECK(same(l->entry, e));
    }

  Bytes truncated(file.begin(), file.end() - 1);
  Bytes bad_type = file;
  bad_type[file.size() - kEntrySize] = 7;  // the last entry's type
  Bytes trailing = file;
  trailing.push_back(0);
  for (const Bytes* damaged : {&truncated, &bad_type, &trailing}) {
    Index fresh;
    CHECK_THROWS_AS(fresh.add_encoded(*damaged), drctl::Failure);
    CHECK(fresh.size() == 0);
    CHECK_FALSE(fresh.contains(contents.begin()->second.back().id));
  }
}

TEST_CASE("index: a million blobs take less than 64 bytes each of resident memory") {
  support::Rng rng(22);
  const Id pack = random_id(rng);
  const std::uint64_t before = rss_anon_bytes();
  Index index;
  for (std::uint32_t n = 0; n < 1000000; ++n) index.add(pack, entry_for(random_id(rng), n));
  const std::uint64_t after = rss_anon_bytes();
  const double per_blob = double(after > before ? after - before : 0) / 1e6;
  MESSAGE("index of 1,000,000 blobs: " << per_blob << " bytes a blob resident (an entry is "
                                       << sizeof(Index::Location) << ")");
  CHECK(index.size() == 1000000);
  CHECK(per_blob < 64);
}

TEST_CASE("nas capture: one reading thread or many store the same trees, and an unchanged tree is reused") {
  support::TempDir t("nas-threads");
  const fs::path src = t / "src";
  // Many small directories (files queued from many at once) and a few large files.
  support::Rng rng(23);
  for (int d = 0; d < 60; ++d) {
    const fs::path dir = src / ("d" + std::to_string(d % 6)) / ("e" + std::to_string(d));
    fs::create_directories(dir / "empty");
    for (int f = 0; f < 12; ++f) support::write_random_file(dir / ("f" + std::to_string(f)), rng.uniform(0, 3000), rng);
  }
  for (int f = 0; f < 3; ++f) support::write_random_file(src / ("big" + std::to_string(f)), 3 * support::MiB, rng);
  fs::create_symlink("d0", src / "link");

  Repository::init(t / "repo", RepoConfig{});
  Repository repo(t / "repo");
  drctl::capture::Progress progress;
  std::vector<std::string> warnings;
  auto warn = [&](const std::string& w) { warnings.push_back(w); };
  const auto one = drctl::capture::capture_nas(repo, "nas/a", src.string(), std::nullopt, progress, warn, 1);
  const auto many = drctl::capture::capture_nas(repo, "nas/a", src.string(), std::nullopt, progress, warn, 5);
  CHECK(warnings.empty());
  CHECK(one.section.tree == many.section.tree);
  CHECK(one.section.files == 60 * 12 + 3 + 1);
  CHECK(one.section.dirs == 6 + 60 + 60);
  CHECK(many.section.files == one.section.files);
  CHECK(many.section.dirs == one.section.dirs);

  // With the first as parent, nothing is read again: no file byte, and the same trees.
  repo.flush();  // the parent's trees are read back from the packs
  drctl::capture::Progress again;
  const auto reused = drctl::capture::capture_nas(repo, "nas/a", src.string(), one.section.tree, again, warn, 3);
  CHECK(reused.section.tree == one.section.tree);
  CHECK(again.bytes_read.load() == 0);
  CHECK(again.bytes_seen.load() == one.section.bytes);
  CHECK(warnings.empty());
}
