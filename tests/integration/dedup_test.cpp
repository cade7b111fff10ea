// Acceptance 2: deduplication. An unchanged re-create adds < 1% of the tree's size; after
// rewriting 1% of the files the new data stored is within 2x of the changed bytes.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;

TEST_CASE("acceptance 2: unchanged re-create adds <1%, a 1% change stores <2x the changed bytes") {
  TempDir t("dedup");
  const fs::path src = t / "src";
  // Incompressible content, so stored sizes are stable: 300 files of 64 KiB..1 MiB.
  TreeInfo tree = make_random_tree(src, {.seed = 2024, .files = 300, .min_size = 64 * KiB, .max_size = 1 * MiB, .dirs = 12});
  const double size = static_cast<double>(tree.content_bytes);
  MESSAGE("tree: " << tree.regular_files.size() << " files, " << tree.content_bytes << " bytes");

  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id1 = create_snapshot(repo, {{"data", src}});
  const std::uint64_t du1 = disk_usage(repo);
  MESSAGE("repository after the first create: " << du1 << " bytes (du)");
  CHECK_MESSAGE(du1 < size * 1.05, "the first snapshot of random data takes " << du1 << " bytes for " << size);

  const std::string id2 = create_snapshot(repo, {{"data", src}});
  const std::uint64_t du2 = disk_usage(repo);
  const double added_unchanged = static_cast<double>(du2) - static_cast<double>(du1);
  MESSAGE("unchanged re-create added " << added_unchanged << " bytes (" << 100.0 * added_unchanged / size << "%)");
  CHECK(added_unchanged < 0.01 * size);
  CHECK(id1 != id2);

  // Change 1% of the files (3 of 300): new random content, same size. One of them keeps its old
  // mtime, so only its ctime tells it changed.
  Rng rng(99);
  std::uint64_t changed = 0;
  for (std::size_t i : {std::size_t{17}, std::size_t{150}, std::size_t{283}}) {
    const fs::path p = src / tree.regular_files[i];
    struct stat before = lstat_or_throw(p);
    write_random_file(p, static_cast<std::uint64_t>(before.st_size), rng);
    if (i == 150) set_mtime(p, before.st_mtim.tv_sec, before.st_mtim.tv_nsec);
    changed += static_cast<std::uint64_t>(before.st_size);
  }
  const Manifest expected = scan_tree(src);
  const std::string id3 = create_snapshot(repo, {{"data", src}});
  const std::uint64_t du3 = disk_usage(repo);
  const double added_changed = static_cast<double>(du3) - static_cast<double>(du2);
  MESSAGE("changed " << changed << " bytes in 3 files; the create added " << added_changed << " bytes ("
                     << added_changed / static_cast<double>(changed) << "x)");
  CHECK(added_changed <= 2.0 * static_cast<double>(changed));
  // Sanity: random data cannot be stored in much less than its size, so less means a changed file
  // was not captured (e.g. the ctime-only change).
  CHECK(added_changed >= 0.9 * static_cast<double>(changed));

  // And the 1%-changed snapshot holds the new content.
  auto d = restore_and_compare(repo, id3, "nas/data", expected, t.path());
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}
