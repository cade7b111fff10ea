// The store's backends (store/backend.hpp): the local one reads what the disk holds, and a
// repository opened through a registered scheme reads through it, only the ranges blobs need,
// and refuses every write.
#include <doctest/doctest.h>

#include <atomic>

#include "base/error.hpp"
#include "store/backend.hpp"
#include "store/lock.hpp"
#include "store/repository.hpp"
#include "support/fs_tree.hpp"

using namespace drctl::store;

namespace {

/// A remote stand-in: the files of a local directory, read-only, counting the bytes it is asked for.
class CountingBackend : public Backend {
 public:
  CountingBackend(fs::path dir, std::atomic<std::uint64_t>& ranged, std::atomic<std::uint64_t>& whole)
      : inner_(local_backend(std::move(dir))), ranged_(ranged), whole_(whole) {}
  std::string describe() const override { return "counting://repo"; }
  std::optional<Bytes> read(const std::string& rel) const override {
    auto data = inner_->read(rel);
    if (data) whole_ += data->size();
    return data;
  }
  Bytes read_range(const std::string& rel, std::uint64_t offset, std::size_t length) const override {
    ranged_ += length;
    return inner_->read_range(rel, offset, length);
  }
  std::optional<std::uint64_t> size(const std::string& rel) const override { return inner_->size(rel); }
  std::vector<std::string> list(const std::string& rel) const override { return inner_->list(rel); }
  bool is_dir(const std::string& rel) const override { return inner_->is_dir(rel); }

 private:
  std::unique_ptr<Backend> inner_;
  std::atomic<std::uint64_t>& ranged_;
  std::atomic<std::uint64_t>& whole_;
};

void no_warn(const std::string&) {}

}  // namespace

TEST_CASE("store backend: the local backend reads whole files, ranges, sizes and listings as the disk holds them") {
  support::TempDir t("backend-local");
  support::write_file(t.path() / "config", "0123456789");
  fs::create_directories(t.path() / "data/ab");
  support::write_file(t.path() / "data/ab/pack", "abcdefghij");
  auto b = local_backend(t.path());

  REQUIRE(b->local_dir());
  CHECK(*b->local_dir() == t.path());
  const auto whole = b->read("config");
  REQUIRE(whole);
  CHECK(std::string(whole->begin(), whole->end()) == "0123456789");
  CHECK(!b->read("missing"));
  const Bytes part = b->read_range("data/ab/pack", 3, 4);
  CHECK(std::string(part.begin(), part.end()) == "defg");
  CHECK_THROWS_AS(b->read_range("data/ab/pack", 8, 4), drctl::Failure);  // ends before the range does
  CHECK_THROWS_AS(b->read_range("data/ab/none", 0, 1), drctl::Failure);
  CHECK(b->size("data/ab/pack") == std::optional<std::uint64_t>(10));
  CHECK(!b->size("data/ab/none"));
  CHECK(b->list("data") == std::vector<std::string>{"ab"});
  CHECK(b->list("nowhere").empty());
  CHECK(b->is_dir("data/ab"));
  CHECK(!b->is_dir("config"));
}

TEST_CASE("store backend: a repository read through a registered scheme reads blob ranges and refuses every write") {
  support::TempDir t("backend-remote");
  const fs::path dir = t.path() / "repo";
  Repository::init(dir, RepoConfig{});
  std::vector<std::pair<Id, Bytes>> blobs;
  {
    Repository repo(dir);
    for (int i = 0; i < 20; ++i) {
      Bytes b = support::random_bytes(50000, 100 + i);  // random: stored as it is, 50000 bytes each
      blobs.emplace_back(sha256(b), b);
      repo.add_blob(BlobType::Data, blobs.back().first, b);
    }
    repo.flush();
  }
  std::atomic<std::uint64_t> ranged{0}, whole{0};
  register_backend("counting", [&](const std::string&) { return std::make_unique<CountingBackend>(dir, ranged, whole); });

  Repository remote(fs::path("counting://repo"));
  CHECK(!remote.writable());
  CHECK(remote.index().size() == blobs.size());
  std::uint64_t pack_bytes = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "data"))
    if (e.is_regular_file()) pack_bytes += e.file_size();
  CHECK(pack_bytes > 20 * 50000);
  ranged = 0;
  CHECK(remote.read_blob(blobs[7].first) == blobs[7].second);
  CHECK(ranged == 50000);  // that blob's bytes, not its pack

  Bytes more = support::random_bytes(1000, 7);
  CHECK_THROWS_AS(remote.add_blob(BlobType::Data, sha256(more), more), drctl::InputError);
  CHECK_THROWS_AS(remote.flush(), drctl::InputError);
  CHECK_THROWS_AS(remote.remove_snapshot(blobs[0].first), drctl::InputError);
  CHECK_THROWS_AS(remote.clean_tmp(), drctl::InputError);
  CHECK_THROWS_AS(RepoLock::acquire("counting://repo", std::chrono::milliseconds(0), no_warn), drctl::InputError);
  CHECK_THROWS_AS(ReadLock::exclusive("counting://repo", std::chrono::milliseconds(0), no_warn), drctl::InputError);
  CHECK_THROWS_AS(Repository::init("counting://other", RepoConfig{}), drctl::InputError);
  CHECK(!fs::exists("counting:"));  // nothing made on this machine under the URL's name
}

TEST_CASE("store backend: a scheme nothing registered is bad input naming it") {
  try {
    Repository r(fs::path("nosuch://host/repo"));
    FAIL("opened");
  } catch (const drctl::InputError& e) {
    CHECK(std::string(e.what()).find("nosuch://") != std::string::npos);
  }
  CHECK(location_scheme("sftp://h/p") == "sftp");
  CHECK(location_scheme("/srv/repo") == "");
  CHECK(location_scheme("relative/sftp://x") == "");
  CHECK(location_scheme("://x") == "");
}
