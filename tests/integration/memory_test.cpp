// Issue 20, section 2: a backup's memory follows the directory being worked on, not the tree.
// A deep and wide tree round-trips through a first, a no-change and a changed create (the
// no-change run adds no byte to data/, the changed one captures the change), and the peak RSS
// of `snapshot create` (ru_maxrss from wait4) grows by far less than the old ~1 KB a file.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;

extern char** environ;

namespace {

/// Sum of the sizes of the files under the repository's data/ (the packs): what a run stored.
std::uint64_t data_bytes(const fs::path& repo) { return apparent_size(repo / "data"); }

/// The snapshot manifest as the repository holds it on disk.
nlohmann::json manifest(const fs::path& repo, const std::string& id) {
  return nlohmann::json::parse(read_file(repo / "snapshots" / id));
}

/// Runs drctl with `args` as a child and returns its peak resident set (ru_maxrss, bytes);
/// throws unless it exits 0. Spawned here, not through support::drctl, for wait4's rusage.
std::uint64_t drctl_peak_rss(const std::vector<std::string>& args) {
  std::vector<std::string> argv = drctl_argv(args);
  std::vector<char*> raw;
  for (auto& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + argv[0]);
  int status = 0;
  struct rusage usage {};
  if (::wait4(pid, &status, 0, &usage) != pid) throw std::runtime_error("wait4 failed");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw std::runtime_error("drctl " + args[0] + " " + args[1] + " did not exit 0 (status " + std::to_string(status) + ")");
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
}

/// Files `first`..`last`-1 of a small-file dataset: 30 a directory, 3 levels, 16 B-1 KiB of
/// content of their own (one blob each).
void add_small_files(const fs::path& root, int first, int last) {
  for (int i = first; i < last; ++i) {
    const int leaf = i / 30;
    const fs::path dir = root / ("p" + std::to_string(leaf % 10)) / ("q" + std::to_string(leaf / 10 % 10)) /
                         ("r" + std::to_string(leaf / 100));
    if (i % 30 == 0 || i == first) fs::create_directories(dir);
    Rng rng(static_cast<std::uint64_t>(i) + 1);
    write_file(dir / ("f" + std::to_string(i)), std::to_string(i) + "\n" + rng.bytes(rng.uniform(16, 1024)));
  }
}

}  // namespace

TEST_CASE("memory: a deep and wide tree restores identical, a no-change create stores nothing, a change is captured") {
  TempDir t("memory");
  const fs::path src = t / "src";
  // Every file kind (hard links across directories, holes, xattrs, devices …) …
  make_full_tree(src / "kinds", {.seed = 20, .sparse = true, .sparse_size = 4 * MiB});
  // … 2,000 directories side by side …
  Rng rng(2020);
  for (int a = 0; a < 40; ++a)
    for (int b = 0; b < 50; ++b) {
      const fs::path dir = src / "wide" / ("a" + std::to_string(a)) / ("b" + std::to_string(b));
      fs::create_directories(dir);
      write_random_file(dir / "one", rng.uniform(0, 2000), rng);
      if (b % 5 == 0) write_random_file(dir / "two", rng.uniform(0, 20000), rng);
    }
  // … and 400 nested in one another.
  fs::path deep = src / "deep", near_bottom;
  for (int level = 0; level < 400; ++level) {
    deep /= "d";
    fs::create_directories(deep);
    if (level % 10 == 0) write_random_file(deep / ("at" + std::to_string(level)), 3000, rng);
    if (level == 390) near_bottom = deep / "at390";
  }

  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id1 = create_snapshot(repo, {{"data", src}});
  const Manifest before = scan_tree(src);
  auto d1 = restore_and_compare(repo, id1, "nas/data", before, t.path());
  CHECK_MESSAGE(d1.empty(), join_diffs(d1));

  // Nothing changed: the parent's trees and contents are reused, no pack grows or appears.
  const std::uint64_t stored1 = data_bytes(repo);
  const std::size_t packs1 = pack_files(repo).size();
  const std::string id2 = create_snapshot(repo, {{"data", src}});
  CHECK(data_bytes(repo) == stored1);
  CHECK(pack_files(repo).size() == packs1);
  CHECK(manifest(repo, id2).value("parent", "") == id1);
  auto d2 = restore_and_compare(repo, id2, "nas/data", before, t.path());
  CHECK_MESSAGE(d2.empty(), join_diffs(d2));

  // Changes at the bottom of the deep chain, in the wide part and among the kinds: new content of
  // the same size (one keeps its mtime: only its ctime tells), a file added, a file removed.
  std::uint64_t changed = 0;
  for (const fs::path& p : {near_bottom, src / "wide/a17/b25/two", src / "wide/a3/b0/two"}) {
    const struct stat st = lstat_or_throw(p);
    write_random_file(p, static_cast<std::uint64_t>(st.st_size), rng);
    if (p.filename() == "at390") set_mtime(p, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    changed += static_cast<std::uint64_t>(st.st_size);
  }
  write_random_file(deep / "new", 5000, rng);
  changed += 5000;
  fs::remove(src / "wide/a39/b49/one");
  const Manifest after = scan_tree(src);
  const std::string id3 = create_snapshot(repo, {{"data", src}});
  const std::uint64_t added = data_bytes(repo) - stored1;
  MESSAGE("changed " << changed << " bytes of random content; the create stored " << added << " bytes");
  CHECK(added >= changed);  // random content does not compress: less would mean a change was missed
  auto d3 = restore_and_compare(repo, id3, "nas/data", after, t.path());
  CHECK_MESSAGE(d3.empty(), join_diffs(d3));
}

TEST_CASE("memory: the peak RSS of snapshot create grows by less than 400 bytes a file from N to 4N files") {
  TempDir t("memory-rss");
  const fs::path src = t / "src";
  constexpr int kSmall = 20000, kLarge = 4 * kSmall;
  // Per phase (initial, no-change): the peak at kSmall files, then at kLarge in a fresh repository.
  std::uint64_t peak[2][2] = {};
  for (int size = 0; size < 2; ++size) {
    add_small_files(src, size == 0 ? 0 : kSmall, size == 0 ? kSmall : kLarge);
    const fs::path repo = t / ("repo" + std::to_string(size));
    init_repo(repo);
    const std::vector<std::string> create = {"snapshot", "create", "--repo", repo.string(), "--nas", "data=" + src.string()};
    peak[0][size] = drctl_peak_rss(create);
    peak[1][size] = drctl_peak_rss(create);
  }
  const std::string phases[] = {"initial", "no-change"};
  for (int phase = 0; phase < 2; ++phase) {
    const double per_file = (double(peak[phase][1]) - double(peak[phase][0])) / (kLarge - kSmall);
    MESSAGE(phases[phase] << " create: peak RSS " << peak[phase][0] / 1024 << " KiB at " << kSmall << " files, "
                          << peak[phase][1] / 1024 << " KiB at " << kLarge << ": " << per_file << " bytes a file");
    CHECK_MESSAGE(per_file < 400, phases[phase] << " create grows by " << per_file << " bytes a file");
  }
}
