// Incremental capture over SSH (issue 20, section 1) against a private sshd on 127.0.0.1, once
// with GNU tar and once with bsdtar (a PATH of the server's own where `tar` is bsdtar): a tree
// captured, changed (a file rewritten at the same size, one added, one deleted, one renamed, a
// new hard-link pair, a member of a link group changed, a new sparse file, a file appended to
// while tar reads it) and captured again; each snapshot restores to the tree as it was, holes as
// holes. The oracle for "a no-change run moves no data" is what the processes the SSH sessions
// ran on the host read (/proc/PID/io rchar of a wrapper shell that reaped them: Linux adds a
// reaped child's counts to its parent's), written by the server side, outside drctl.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "support/fs_tree.hpp"
#include "support/host_io.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;

namespace {

/// Stand-in for FreeBSD's stat(1) -f with the formats drctl sends (the probe's %z and the
/// listing's), over one GNU stat per call as FreeBSD's is one process per xargs batch: st_mode
/// printed in octal as FreeBSD's %p does, times with nine digits of fraction as %.9Fm, the
/// name as given (every file named must exist: GNU stat's lines carry no name to pair them by).
constexpr const char* kBsdStatStandIn =
    "#!/bin/sh\n"
    "# Stand-in for FreeBSD's stat -f (tests/integration/incremental_capture_test.cpp).\n"
    "[ \"$1\" = -f ] || { echo 'stat stand-in: only -f' >&2; exit 64; }\n"
    "fmt=$2; shift 2\n"
    "case $fmt in\n"
    "  %z) exec /usr/bin/stat -c %s \"$@\" ;;\n"
    "  '%d %i %p %l %u %g %z %.9Fm %.9Fc %N') ;;\n"
    "  *) echo \"stat stand-in: format $fmt not modelled\" >&2; exit 64 ;;\n"
    "esac\n"
    "lines=$(/usr/bin/stat -c '%d %i %f %h %u %g %s %.9Y %.9Z' -- \"$@\") || exit 1\n"
    "nl='\n'\n"
    "for f; do\n"
    "  line=${lines%%\"$nl\"*}; lines=${lines#*\"$nl\"}\n"
    "  set -- $line\n"
    "  printf '%s %s %o %s %s %s %s %s %s %s\\n' \"$1\" \"$2\" \"0x$3\" \"$4\" \"$5\" \"$6\" \"$7\" \"$8\" \"$9\" \"$f\"\n"
    "done\n";

/// Stand-in for FreeBSD's find: no -printf (its own words), the rest is find's.
constexpr const char* kBsdFindStandIn =
    "#!/bin/sh\n"
    "for a; do [ \"$a\" = -printf ] && { echo 'find: -printf: unknown primary or operator' >&2; exit 1; }; done\n"
    "exec /usr/bin/find \"$@\"\n";

/// A PATH where tar is bsdtar and the other tools are this machine's; with `bsd_listing`, find
/// and stat are FreeBSD's stand-ins, so the host is listed with find -print0 | xargs stat -f.
fs::path bsdtar_bin(const fs::path& dir, bool bsd_listing) {
  fs::create_directories(dir);
  fs::create_symlink("/usr/bin/bsdtar", dir / "tar");
  for (const char* tool : {"sh", "mkdir", "xargs", "cat", "uname", "sha256sum", "printf"})
    fs::create_symlink(fs::path("/usr/bin") / tool, dir / tool);
  if (bsd_listing) {
    write_file(dir / "find", kBsdFindStandIn, 0755);
    write_file(dir / "stat", kBsdStatStandIn, 0755);
  } else {
    fs::create_symlink("/usr/bin/find", dir / "find");
    fs::create_symlink("/usr/bin/stat", dir / "stat");
  }
  return dir;
}


struct Lab {
  TempDir t{"incremental"};
  std::unique_ptr<Sshd> sshd;
  fs::path tree, repo, config;
  std::size_t io_lines = 0;

  Lab(bool bsdtar, bool bsd_listing) {
    SshdPlace place;
    place.extra_config.push_back("ForceCommand " + io_wrapper(t.path()).string());
    if (bsdtar) place.extra_config.push_back("SetEnv PATH=" + bsdtar_bin(t / "bin", bsd_listing).string());
    sshd = std::make_unique<Sshd>(place);
    tree = t / "tree";
    repo = t / "repo";
    config = write_client_config(*sshd, t.path() / "ssh_config");
    init_repo(repo, small_chunks());
  }

  /// snapshot create over SSH; the id, and drctl's output in `out`.
  std::string capture(RunResult* out = nullptr, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"snapshot", "create", "--repo", repo.string(), "--nas",
                                     "data=ssh://nas" + tree.string(), "--ssh-config", config.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = support::drctl(args);
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    if (out) *out = r;
    return parse_snapshot_id(r.out);
  }

  /// Restores the snapshot and compares it with the tree as it is now.
  void check_restores(const std::string& id, const std::string& label) {
    const fs::path back = t / ("back-" + label);
    restore_section(repo, id, "nas/data", back);
    auto d = compare_trees(tree, back);
    CHECK_MESSAGE(d.empty(), label << ": the restored snapshot differs from the tree:\n" << join_diffs(d));
  }

  HostReads read_on_host() { return bytes_read(t.path(), io_lines); }

  /// What one command that reads nothing reads all the same (the shells starting, their
  /// libraries): the floor under every command's count.
  std::uint64_t command_floor() {
    RunResult r = run({"ssh", "-F", config.string(), "nas", "true"});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    return read_on_host().bytes;
  }
};

/// A sparse file: data at the start, in the middle and at the end, holes between.
void make_sparse(const fs::path& p, std::uint64_t size, std::uint64_t seed) {
  Rng rng(seed);
  write_random_file(p, 64 * KiB, rng);
  fs::resize_file(p, size);
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  const auto data = random_bytes(64 * KiB, seed + 1);
  for (std::uint64_t at : {size / 2, size - 64 * KiB}) {
    f.seekp(static_cast<std::streamoff>(at));
    f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  }
}

void incremental_round(bool bsdtar, bool bsd_listing = false) {
  Lab lab(bsdtar, bsd_listing);
  const TreeInfo full = make_full_tree(lab.tree, {.seed = 31, .sparse_size = 8 * MiB});
  const TreeInfo bulk =
      make_random_tree(lab.tree / "bulk", {.seed = 32, .files = 40, .min_size = 256 * KiB, .max_size = 1 * MiB, .dirs = 4});
  fs::create_directories(lab.tree / "links");
  write_file(lab.tree / "links/one", "one of a pair\n");
  fs::create_hard_link(lab.tree / "links/one", lab.tree / "links/two");
  const std::uint64_t dataset = full.content_bytes + bulk.content_bytes;  // data, holes left out

  // First capture: everything crosses.
  const std::string first = lab.capture();
  const std::uint64_t full_read = lab.read_on_host().bytes;
  CHECK(full_read >= dataset);  // the host read the data
  lab.check_restores(first, "first");

  // Changes.
  const fs::path changed = lab.tree / "bulk/d00" / fs::directory_iterator(lab.tree / "bulk/d00")->path().filename();
  const auto size = fs::file_size(changed);
  {
    Rng rng(77);
    write_random_file(changed, size, rng);  // same size, new content, new mtime
  }
  write_file(lab.tree / "bulk/added", "a new file\n");
  const fs::path gone = lab.tree / "bulk/d01" / fs::directory_iterator(lab.tree / "bulk/d01")->path().filename();
  fs::remove(gone);
  const fs::path moved_from = lab.tree / "bulk/d02" / fs::directory_iterator(lab.tree / "bulk/d02")->path().filename();
  fs::rename(moved_from, lab.tree / "bulk/d03/renamed");
  write_file(lab.tree / "links/new-a", "a new pair\n");
  fs::create_hard_link(lab.tree / "links/new-a", lab.tree / "links/new-b");
  {
    std::ofstream append(lab.tree / "links/two", std::ios::app);  // one name of the pair: the group comes again
    append << "more\n";
  }
  make_sparse(lab.tree / "sparse-new", 16 * MiB, 5);
  // A file appended to while tar reads it: a writer runs for the whole capture.
  {
    Rng rng(9);
    write_random_file(lab.tree / "growing", 16 * MiB, rng);
  }
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::ofstream out(lab.tree / "growing", std::ios::app | std::ios::binary);
    while (!stop) {
      out << std::string(4096, 'g') << std::flush;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  RunResult during;
  const std::string second = lab.capture(&during);
  stop = true;
  writer.join();
  const std::uint64_t second_read = lab.read_on_host().bytes;
  CHECK(second_read < full_read);  // what did not change was not read again (the grown file is 16 MiB of some 30)

  // The snapshot holds the tree as it now is, but for the file that grew while it was read:
  // that one is as tar read it, a prefix of what it became.
  {
    const fs::path back = lab.t / "back-second";
    restore_section(lab.repo, second, "nas/data", back);
    auto d = compare_trees(lab.tree, back);
    std::erase_if(d, [](const std::string& line) { return line.find("growing") != std::string::npos; });
    CHECK_MESSAGE(d.empty(), "second: the restored snapshot differs from the tree:\n" << join_diffs(d));
    const std::string got = read_file(back / "growing"), now = read_file(lab.tree / "growing");
    CHECK(got.size() >= 16 * MiB);
    CHECK(now.compare(0, got.size(), got) == 0);
    CHECK(!fs::exists(back / fs::relative(gone, lab.tree)));
    CHECK(read_file(back / "bulk/d03/renamed") == read_file(lab.tree / "bulk/d03/renamed"));
    CHECK(lstat_or_throw(back / "links/new-a").st_ino == lstat_or_throw(back / "links/new-b").st_ino);
    CHECK(lstat_or_throw(back / "links/one").st_ino == lstat_or_throw(back / "links/two").st_ino);
    CHECK(read_file(back / "links/one") == "one of a pair\nmore\n");
    CHECK(lstat_or_throw(back / "sparse-new").st_blocks == lstat_or_throw(lab.tree / "sparse-new").st_blocks);
  }
  if (!bsdtar)  // GNU tar says so; bsdtar does not notice, and the header differs from the listing only if it grew first
    CHECK_MESSAGE(during.err.find("growing") != std::string::npos, during.describe());

  // Again: the grown file is read whole now, and the snapshot is the tree exactly.
  const std::string third = lab.capture();
  lab.read_on_host();
  lab.check_restores(third, "third");

  // No change at all: the host reads (almost) nothing beyond what starting its commands reads.
  const std::uint64_t floor = lab.command_floor();
  const std::string fourth = lab.capture();
  const HostReads idle = lab.read_on_host();
  const std::uint64_t beyond = idle.bytes - std::min(idle.bytes, idle.commands * floor);
  CHECK_MESSAGE(beyond * 100 < dataset, "a no-change capture read " << idle.bytes << " bytes on the host in "
                                                                     << idle.commands << " commands (" << floor
                                                                     << " bytes each to start) of a " << dataset
                                                                     << "-byte dataset");
  lab.check_restores(fourth, "fourth");
  // The same trees: the snapshots list the same entries.
  RunResult ls3 = support::drctl({"snapshot", "ls", third, "nas/data", "--repo", lab.repo.string()});
  RunResult ls4 = support::drctl({"snapshot", "ls", fourth, "nas/data", "--repo", lab.repo.string()});
  CHECK(ls3.exit_code == 0);
  CHECK(ls3.out == ls4.out);

  // Retention keeps only the fourth and prunes: the data only the first three held goes (the
  // deleted file, the old content of the changed one), and the fourth, whose unchanged files
  // the first stored, still restores to the tree; every pack left reads back whole.
  auto data_bytes = [&] {
    std::uint64_t n = 0;
    for (const auto& e : fs::recursive_directory_iterator(lab.repo / "data"))
      if (e.is_regular_file()) n += e.file_size();
    return n;
  };
  const std::uint64_t before_prune = data_bytes();
  RunResult forget = support::drctl({"snapshot", "forget", "--keep-last", "1", "--prune", "--repo", lab.repo.string()});
  REQUIRE_MESSAGE(forget.exit_code == 0, forget.describe());
  CHECK_MESSAGE(data_bytes() < before_prune, forget.describe());
  lab.check_restores(fourth, "after-prune");
  RunResult verify = support::drctl({"snapshot", "verify", "--read-data", "--repo", lab.repo.string()});
  CHECK_MESSAGE(verify.exit_code == 0, verify.describe());
}

}  // namespace

TEST_CASE("incremental capture: changes between captures over SSH with GNU tar restore exactly, a no-change run reads almost nothing") {
  incremental_round(false);
}

TEST_CASE("incremental capture: changes between captures over SSH with bsdtar restore exactly, a no-change run reads almost nothing") {
  incremental_round(true);
}

TEST_CASE("incremental capture: a host listed as FreeBSD lists it (find -print0 | xargs stat -f, stand-ins over GNU stat) captures the same") {
  incremental_round(true, true);
}

TEST_CASE("incremental capture: --exclude over SSH leaves entries out of the snapshot and off the wire, first and incremental runs alike") {
  Lab lab(false, false);
  make_random_tree(lab.tree / "keep", {.seed = 41, .files = 20, .min_size = 1 * KiB, .max_size = 16 * KiB, .dirs = 3});
  fs::create_directories(lab.tree / "cache/deep");
  {
    Rng rng(3);
    write_random_file(lab.tree / "cache/deep/big", 8 * MiB, rng);  // excluded: never read on the host
  }
  write_file(lab.tree / "keep/scratch.tmp", "temporary\n");
  write_file(lab.tree / "top.tmp", "temporary too\n");
  write_file(lab.tree / "notes.txt", "kept\n");
  const std::vector<std::string> excludes = {"--exclude", "*.tmp", "--exclude", "/cache"};
  // What the snapshot must hold: the tree without what the patterns name, made by hand.
  auto expected = [&](const fs::path& to) {
    fs::remove_all(to);
    REQUIRE(run({"cp", "-a", lab.tree.string(), to.string()}).exit_code == 0);
    fs::remove_all(to / "cache");
    std::vector<fs::path> gone;
    for (const auto& e : fs::recursive_directory_iterator(to))
      if (e.path().extension() == ".tmp") gone.push_back(e.path());
    for (const auto& g : gone) fs::remove(g);
    // Removing entries moved the directories' mtimes; the tree's own are what a capture records.
    for (const auto& e : fs::recursive_directory_iterator(to))
      if (e.is_directory()) fs::last_write_time(e.path(), fs::last_write_time(lab.tree / e.path().lexically_relative(to)));
    fs::last_write_time(to, fs::last_write_time(lab.tree));
  };
  auto check = [&](const std::string& id, const std::string& label) {
    expected(lab.t / ("expected-" + label));
    restore_section(lab.repo, id, "nas/data", lab.t / ("back-" + label));
    const auto d = compare_trees(lab.t / ("expected-" + label), lab.t / ("back-" + label));
    CHECK_MESSAGE(d.empty(), label << ": the snapshot holds other than the tree less its excluded entries:\n" << join_diffs(d));
  };
  lab.command_floor();
  const std::string first = lab.capture(nullptr, excludes);
  CHECK(lab.read_on_host().bytes < 8 * MiB);  // the 8 MiB file was listed, never read
  check(first, "first");
  // The manifest records the patterns and each topmost excluded entry (the directory once).
  const auto manifest = nlohmann::json::parse(read_file(lab.repo / "snapshots" / first));
  const auto& section = manifest["sections"][0];
  CHECK(section["excludes"] == nlohmann::json::array({"*.tmp", "/cache"}));
  CHECK(section["excluded"] == 3);  // cache, keep/scratch.tmp, top.tmp

  // An incremental run: a change, a new excluded file, a new kept one.
  write_file(lab.tree / "notes.txt", "kept, and changed\n");
  write_file(lab.tree / "keep/new.tmp", "another temporary\n");
  write_file(lab.tree / "keep/new.txt", "another kept\n");
  const std::string second = lab.capture(nullptr, excludes);
  check(second, "second");
}
