#include <doctest/doctest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <barrier>
#include <thread>

#include "base/error.hpp"
#include "store/files.hpp"
#include "store/index.hpp"
#include "store/lock.hpp"
#include "store/repository.hpp"
#include "support/fs_tree.hpp"

using namespace drctl::store;

namespace {
void no_warn(const std::string&) {}
}  // namespace

TEST_CASE("blobs written by one repository object are read back by another") {
  support::TempDir t("repo-unit");
  fs::path path = t.path() / "repo";
  RepoConfig config;
  config.pack_size = 1 << 20;  // several packs
  Repository::init(path, config);
  std::vector<std::pair<Id, Bytes>> blobs;
  {
    Repository repo(path);
    for (int i = 0; i < 40; ++i) {
      Bytes b = i % 2 ? support::random_bytes(100000, i) : Bytes(100000, static_cast<std::uint8_t>(i));
      Id id = sha256(b);
      CHECK(repo.add_blob(BlobType::Data, id, b) > 0);
      CHECK(repo.add_blob(BlobType::Data, id, b) == 0);  // deduplicated
      blobs.emplace_back(id, std::move(b));
    }
    repo.flush();
  }
  Repository again(path);
  CHECK(again.index().size() == 40);
  CHECK(again.list_packs().size() >= 2);
  for (const auto& [id, b] : blobs) CHECK(again.read_blob(id) == b);
  CHECK_THROWS_AS(again.read_blob(sha256("absent")), drctl::Failure);

  // Every file is private to its owner.
  for (const auto& e : fs::recursive_directory_iterator(path)) {
    struct stat st;
    REQUIRE(::lstat(e.path().c_str(), &st) == 0);
    CHECK_MESSAGE((st.st_mode & 077) == 0, e.path());
  }
}

TEST_CASE("after blobs stored from several threads at once, flush leaves one partly filled pack of each type") {
  // Each storing thread fills a pack of its own; flush must not leave one small pack per thread,
  // whatever sizes they were left at. Blobs of 0.6 pack size, stored by six threads in rounds that
  // start together, leave packs that no two of which fit in one. The oracle is the pack files:
  // their sizes on disk, the temporary directory, and the blobs another repository object reads.
  support::TempDir t("repo-unit");
  fs::path path = t.path() / "repo";
  RepoConfig config;
  config.pack_size = 1 << 20;
  Repository::init(path, config);
  constexpr int kThreads = 6, kRounds = 5;
  constexpr std::size_t kBlob = (1 << 20) * 6 / 10;
  std::vector<std::vector<std::pair<Id, Bytes>>> blobs(kThreads);
  for (int th = 0; th < kThreads; ++th)
    for (int i = 0; i < kRounds; ++i) {
      Bytes b = support::random_bytes(kBlob, th * kRounds + i);
      blobs[th].emplace_back(sha256(b), std::move(b));
    }
  {
    Repository repo(path);
    std::barrier round(kThreads);
    std::vector<std::thread> threads;
    for (int th = 0; th < kThreads; ++th)
      threads.emplace_back([&, th] {
        for (const auto& [id, b] : blobs[th]) {
          round.arrive_and_wait();
          repo.add_blob(BlobType::Data, id, b);
          const Bytes tree(b.begin(), b.begin() + kBlob / 2);
          repo.add_blob(BlobType::Tree, sha256(tree), tree);
        }
      });
    for (auto& th : threads) th.join();
    repo.flush();
  }
  std::size_t small = 0, packs = 0;
  for (const auto& e : fs::recursive_directory_iterator(path / "data"))
    if (e.is_regular_file()) {
      ++packs;
      if (e.file_size() < config.pack_size) ++small;
    }
  CHECK(packs >= 10);
  CHECK_MESSAGE(small <= 2, small, " of ", packs, " packs are under the pack size");  // one of data, one of trees
  CHECK(fs::is_empty(path / "tmp"));
  Repository again(path);
  CHECK(again.index().size() == 2 * kThreads * kRounds);
  for (const auto& per_thread : blobs)
    for (const auto& [id, b] : per_thread) CHECK(again.read_blob(id) == b);
}

TEST_CASE("opening something that is not a repository is bad input") {
  support::TempDir t("repo-unit");
  CHECK_THROWS_AS(Repository(t.path() / "missing"), drctl::InputError);
  CHECK_THROWS_AS(Repository(t.path()), drctl::InputError);
  Repository::init(t.path() / "r", RepoConfig{});
  CHECK_THROWS_AS(Repository::init(t.path() / "r", RepoConfig{}), drctl::InputError);
  {
    FILE* f = std::fopen((t.path() / "r" / "config").c_str(), "w");
    std::fputs("{\"format\": \"drctl-repo\", \"version\": 1", f);
    std::fclose(f);
  }
  CHECK_THROWS_WITH_AS(Repository(t.path() / "r"), doctest::Contains("damaged repository config"), drctl::InputError);
}

TEST_CASE("a lock held by a live process blocks, and one left by a dead process is taken over") {
  support::TempDir t("repo-unit");
  fs::path path = t.path() / "repo";
  Repository::init(path, RepoConfig{});

  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t child = ::fork();
  if (child == 0) {
    RepoLock lock = RepoLock::acquire(path, std::chrono::milliseconds(0), no_warn);
    (void)!::write(ready[1], "x", 1);
    ::pause();  // holds the lock until killed
    ::_exit(0);
  }
  char c;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  CHECK_THROWS_WITH_AS(RepoLock::acquire(path, std::chrono::milliseconds(100), no_warn),
                       doctest::Contains(("pid " + std::to_string(child)).c_str()), drctl::Failure);
  CHECK_FALSE(lock_is_stale(path));
  CHECK_THROWS_AS(remove_lock(path, false), drctl::Failure);

  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  CHECK(lock_is_stale(path));
  std::string warned;
  {
    RepoLock lock = RepoLock::acquire(path, std::chrono::milliseconds(0), [&](const std::string& m) { warned = m; });
    CHECK(warned.find("stale lock") != std::string::npos);
    CHECK(warned.find(std::to_string(child)) != std::string::npos);
  }
  CHECK_FALSE(read_lock(path).has_value());  // released on destruction
  ::close(ready[0]);
  ::close(ready[1]);
}

TEST_CASE("an index that gives a blob more bytes than a blob can be is damage, found before allocating them") {
  support::TempDir t("repo-huge-index");
  fs::path path = t.path() / "repo";
  Repository::init(path, RepoConfig{});
  const Bytes blob = support::random_bytes(1000, 7);
  const Id id = sha256(blob);
  {
    Repository repo(path);
    repo.add_blob(BlobType::Data, id, blob);
    repo.flush();
  }
  // Rewrite the one index file as a hostile writer would: the entry claims ~4 GiB.
  fs::path index_file;
  for (const auto& e : fs::directory_iterator(path / "index")) index_file = e.path();
  REQUIRE(!index_file.empty());
  PackContents packs = decode_index(read_file(index_file));
  REQUIRE(packs.size() == 1);
  for (auto& [pack, entries] : packs)
    for (auto& entry : entries) entry.length = entry.raw_length = 0xfffffff0u;
  const Bytes forged = encode_index(packs);
  fs::remove(index_file);
  write_file_atomic(path / "tmp", path / "index" / sha256(forged).hex(), forged);

  Repository repo(path);
  CHECK(repo.index_problems().empty());  // well-formed, and named by its hash: only the sizes lie
  std::string error;
  try {
    repo.read_blob(id);
  } catch (const drctl::Failure& e) {
    error = e.what();
  }
  CHECK_MESSAGE(error.find("more than a blob can be") != std::string::npos, error);
}
