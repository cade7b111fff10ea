// Acceptance 3: one byte flipped in a pack → `verify --read-data` exits 1 naming the affected
// file; an unaffected file still restores. Also: a missing pack is found without --read-data.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;

TEST_CASE("acceptance 3: a flipped byte in a data pack is found and named, and unaffected files restore") {
  TempDir t("damage");
  const fs::path src = t / "src";
  fs::create_directories(src / "sub");
  Rng rng(3);
  // The first snapshot holds only victim.bin, so every data blob written by it is victim's.
  write_random_file(src / "victim.bin", 700 * KiB, rng);
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const std::string id1 = create_snapshot(repo, {{"data", src}});

  std::vector<std::pair<fs::path, PackBlob>> victim_blobs;
  std::set<fs::path> first_packs;
  for (const auto& p : pack_files(repo)) {
    first_packs.insert(p);
    for (const auto& b : parse_pack(p))
      if (b.type == 0) victim_blobs.push_back({p, b});
  }
  REQUIRE_MESSAGE(!victim_blobs.empty(), "no data blobs found in the packs");
  MESSAGE("victim.bin is stored as " << victim_blobs.size() << " data blobs");

  write_random_file(src / "keeper1.bin", 500 * KiB, rng);
  write_file(src / "keeper2.txt", "keep this text\n");
  write_random_file(src / "sub/keeper3.bin", 300 * KiB, rng);
  const Manifest expected = scan_tree(src);
  const std::string id2 = create_snapshot(repo, {{"data", src}});

  RunResult r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  REQUIRE_MESSAGE(r.exit_code == 0, "verify before damage: " << r.describe());

  // Flip one byte in the middle of one of victim's blobs.
  const auto& [pack, blob] = victim_blobs[victim_blobs.size() / 2];
  flip_byte(pack, blob.offset + blob.length / 2);

  r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  const std::string all = r.out + r.err;
  CHECK_MESSAGE(all.find("victim.bin") != std::string::npos, "verify does not name the damaged file:\n" << r.describe());
  CHECK_MESSAGE(all.find(id1.substr(0, 8)) != std::string::npos, "verify does not name snapshot " << id1 << ":\n" << r.describe());
  CHECK_MESSAGE(all.find(id2.substr(0, 8)) != std::string::npos, "verify does not name snapshot " << id2 << ":\n" << r.describe());
  CHECK_MESSAGE(all.find("keeper") == std::string::npos, "verify names an undamaged file:\n" << r.describe());

  // Unaffected files restore identically.
  const fs::path to = t / "restore";
  r = drctl({"snapshot", "restore", id2, "--repo", repo.string(), "--section", "nas/data", "--include", "keeper1.bin",
             "--include", "keeper2.txt", "--include", "sub/keeper3.bin", "--to", to.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  for (const char* f : {"keeper1.bin", "keeper2.txt", "sub/keeper3.bin"}) {
    auto d = compare_entries(f, expected.at(f), scan_entry(to / f));
    CHECK_MESSAGE(d.empty(), join_diffs(d));
  }

  // Restoring the damaged file must not succeed silently.
  const fs::path to2 = t / "restore-victim";
  r = drctl({"snapshot", "restore", id2, "--repo", repo.string(), "--section", "nas/data", "--include", "victim.bin",
             "--to", to2.string()});
  CHECK_MESSAGE(r.exit_code != 0, "restoring a damaged file reported success:\n" << r.describe());
  if (fs::exists(to2 / "victim.bin"))
    CHECK_MESSAGE(sha256_file(to2 / "victim.bin") != expected.at("victim.bin").sha256, "damaged restore is intact?");
}

TEST_CASE("verify without --read-data finds a missing pack and names the file") {
  TempDir t("missing-pack");
  const fs::path src = t / "src";
  fs::create_directories(src);
  Rng rng(4);
  write_random_file(src / "lost.bin", 200 * KiB, rng);
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());
  const std::string id1 = create_snapshot(repo, {{"data", src}});
  std::vector<fs::path> data_packs;
  for (const auto& p : pack_files(repo)) {
    auto blobs = parse_pack(p);
    if (std::any_of(blobs.begin(), blobs.end(), [](const PackBlob& b) { return b.type == 0; })) data_packs.push_back(p);
  }
  write_random_file(src / "safe.bin", 200 * KiB, rng);
  const std::string id2 = create_snapshot(repo, {{"data", src}});
  REQUIRE(!data_packs.empty());
  for (const auto& p : data_packs) fs::remove(p);

  RunResult r = drctl({"snapshot", "verify", "--repo", repo.string()});
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  const std::string all = r.out + r.err;
  CHECK_MESSAGE(all.find("lost.bin") != std::string::npos, r.describe());
  CHECK_MESSAGE(all.find("safe.bin") == std::string::npos, r.describe());
  CHECK_MESSAGE(all.find(id2.substr(0, 8)) != std::string::npos, r.describe());
}

TEST_CASE("damaged tree and snapshot objects are named by verify, and other snapshots still restore") {
  TempDir t("damage-meta");
  const fs::path src = t / "src";
  fs::create_directories(src / "sub");
  write_file(src / "sub/b.txt", "one\n");
  write_file(src / "a.txt", "a\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id1 = create_snapshot(repo, {{"data", src}});
  write_file(src / "sub/b.txt", "two\n");
  const Manifest m2 = scan_tree(src);
  const std::string id2 = create_snapshot(repo, {{"data", src}});
  SUBCASE("a flipped byte in a tree blob names the snapshots whose directory it is") {
    // Flip a byte in the first tree blob found; every tree belongs to one snapshot or both.
    bool flipped = false;
    for (const auto& p : pack_files(repo))
      for (const auto& b : parse_pack(p))
        if (b.type == 1 && !flipped) {
          flip_byte(p, b.offset + b.length / 2);
          flipped = true;
        }
    REQUIRE(flipped);
    RunResult r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
    CHECK_MESSAGE(r.exit_code == 1, r.describe());
    const std::string all = r.out + r.err;
    CHECK_MESSAGE((all.find(id1.substr(0, 8)) != std::string::npos || all.find(id2.substr(0, 8)) != std::string::npos),
                  r.describe());
  }

  SUBCASE("a damaged snapshot manifest is named, and the other snapshot still restores") {
    const fs::path manifest = repo / "snapshots" / id1;
    REQUIRE_MESSAGE(fs::exists(manifest), "no " << manifest);
    std::string text = read_file(manifest);
    text[text.size() / 2] ^= 1;
    write_file(manifest, text, 0600);
    RunResult r = drctl({"snapshot", "verify", "--repo", repo.string()});
    CHECK_MESSAGE(r.exit_code == 1, r.describe());
    CHECK_MESSAGE((r.out + r.err).find(id1.substr(0, 8)) != std::string::npos, r.describe());
    auto d = restore_and_compare(repo, id2, "nas/data", m2, t.path());
    CHECK_MESSAGE(d.empty(), "the undamaged snapshot:\n" << join_diffs(d));
    // One bad manifest must not lock the operator out of the rest of the repository.
    d = restore_and_compare(repo, "latest", "nas/data", m2, t.path());
    CHECK_MESSAGE(d.empty(), "restore latest (undamaged) with another snapshot damaged:\n" << join_diffs(d));
    r = drctl({"snapshot", "list", "--repo", repo.string(), "--json"});
    CHECK_MESSAGE(r.exit_code == 0, r.describe());
    CHECK_MESSAGE(r.out.find(id2) != std::string::npos, r.describe());
  }
}

namespace {

std::uint32_t get_u32(const std::string& s, std::size_t pos) {
  auto* u = reinterpret_cast<const unsigned char*>(s.data()) + pos;
  return static_cast<std::uint32_t>(u[0]) | static_cast<std::uint32_t>(u[1]) << 8 |
         static_cast<std::uint32_t>(u[2]) << 16 | static_cast<std::uint32_t>(u[3]) << 24;
}

void put_u32(std::string& s, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Index file (FORMAT.md): "DRCTLIX1" | u32 pack count | per pack: 32-byte id, u32 n, n x 46 bytes.
using IndexPacks = std::vector<std::pair<std::string, std::string>>;  // raw pack id, raw entries

IndexPacks read_index_file(const fs::path& p) {
  std::string d = read_file(p);
  REQUIRE_MESSAGE(d.compare(0, 8, "DRCTLIX1") == 0, "not an index file: " << p);
  IndexPacks out;
  std::size_t pos = 12;
  for (std::uint32_t i = 0, n = get_u32(d, 8); i < n; ++i) {
    std::string id = d.substr(pos, 32);
    std::uint32_t count = get_u32(d, pos + 32);
    pos += 36;
    out.push_back({id, d.substr(pos, std::size_t(count) * 46)});
    pos += std::size_t(count) * 46;
  }
  return out;
}

fs::path write_index_file(const fs::path& repo, const IndexPacks& packs) {
  std::string d = "DRCTLIX1";
  put_u32(d, static_cast<std::uint32_t>(packs.size()));
  for (const auto& [id, entries] : packs) {
    d += id;
    put_u32(d, static_cast<std::uint32_t>(entries.size() / 46));
    d += entries;
  }
  fs::path p = repo / "index" / oracle_sha256_hex(d);
  write_file(p, d, 0600);
  return p;
}

}  // namespace

// The index is only a map of what the packs' own headers say. If an index file goes missing
// (a partial copy of the repository, an operator removing a damaged one), the data is still in
// the packs; prune must not turn that into permanent loss by deleting them as "unindexed".
TEST_CASE("prune does not delete packs holding needed data when an index file is missing") {
  TempDir t("lost-index");
  const fs::path src = t / "src";
  fs::create_directories(src / "sub");
  Rng rng(9);
  write_random_file(src / "a.bin", 300 * KiB, rng);
  write_file(src / "sub/b.txt", "b\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", src}});
  const Manifest expected = scan_tree(src);

  // Rewrite the index as two files, one for the data packs and one for the tree packs (an
  // equivalent, valid repository), then lose the data one.
  IndexPacks data, trees;
  for (const auto& e : fs::directory_iterator(repo / "index")) {
    for (auto& pk : read_index_file(e.path())) (pk.second.at(0) == 0 ? data : trees).push_back(pk);
    fs::remove(e.path());
  }
  REQUIRE(!data.empty());
  REQUIRE(!trees.empty());
  const fs::path data_index = write_index_file(repo, data);
  write_index_file(repo, trees);
  RunResult r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  REQUIRE_MESSAGE(r.exit_code == 0, "the split index is not valid (test bug?):\n" << r.describe());
  const std::string saved = read_file(data_index);
  fs::remove(data_index);

  r = drctl({"snapshot", "verify", "--repo", repo.string()});
  CHECK_MESSAGE(r.exit_code == 1, r.describe());
  RunResult p = drctl({"snapshot", "prune", "--repo", repo.string()});
  // Whatever prune did, putting the index file back must make the repository whole again.
  write_file(data_index, saved, 0600);
  r = drctl({"snapshot", "verify", "--repo", repo.string(), "--read-data"});
  CHECK_MESSAGE(r.exit_code == 0, "prune deleted packs a snapshot needs:\n" << p.describe() << "\n" << r.describe());
  auto d = restore_and_compare(repo, id, "nas/data", expected, t.path());
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}
