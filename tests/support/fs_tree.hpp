// Test support: temporary directories, deterministic random data, a generator of file trees
// with every file kind drctl must preserve, and a metadata-exact tree comparator.
//
// Paths are handled as raw byte strings (std::string / std::filesystem::path on POSIX), so
// names with newlines or invalid UTF-8 work everywhere. Nothing here follows symlinks.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace support {

namespace fs = std::filesystem;

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = 1024 * 1024;

// A fresh directory made with mkdtemp under /tmp ("/tmp/drctl-test-TAG-XXXXXX"), removed
// recursively on destruction. Set DRCTL_TEST_KEEP_TMP=1 to keep it for debugging.
class TempDir {
 public:
  explicit TempDir(std::string_view tag = "t");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  fs::path operator/(const fs::path& rel) const { return path_ / rel; }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// Small, fast, seedable PRNG (xoshiro256**), so every test's data is reproducible.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  // Uniform in [lo, hi] (inclusive).
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi);
  double unit();  // [0, 1)
  void fill(void* buf, std::size_t n);
  std::string bytes(std::size_t n);

 private:
  std::uint64_t s_[4];
};

// `n` reproducible random bytes.
std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed);

// A seed for tests that want variety between runs: $DRCTL_TEST_SEED if set, else random.
std::uint64_t test_seed();

// --- file helpers (all throw std::runtime_error with errno text on failure) -------------
void write_file(const fs::path& p, std::string_view data, mode_t mode = 0644);
void write_random_file(const fs::path& p, std::uint64_t size, Rng& rng, mode_t mode = 0644);
std::string read_file(const fs::path& p);
/// XORs the byte at `offset` of the file with 0x5a, in place (damage for a test to find).
void flip_byte(const fs::path& p, std::uint64_t offset);
// SHA-256 in hex with the tests' own hasher, independent of drctl's: an oracle, not the code under test.
std::string oracle_sha256_hex(std::string_view data);
std::string sha256_file(const fs::path& p);
// Sets mtime (and atime) with nanosecond precision, not following symlinks.
void set_mtime(const fs::path& p, std::int64_t sec, long nsec);
// lstat, throwing on error.
struct stat lstat_or_throw(const fs::path& p);

// --- generators -------------------------------------------------------------------------
struct TreeInfo {
  fs::path root;
  std::vector<std::string> regular_files;  // relative paths of regular files (each link name)
  std::string sparse_file;                  // relative path of the 100 MiB sparse file ("" if none)
  std::uint64_t content_bytes = 0;          // sum of regular file sizes, each inode once,
                                            // sparse files counted by their data only
};

struct FullTreeOptions {
  std::uint64_t seed = 1;
  bool sparse = true;                 // include the 100 MiB (and a 20 MiB) sparse file
  std::uint64_t sparse_size = 100 * MiB;
  bool ownership = true;              // lchown entries to non-root ids
  bool devices = true;                // a char and a block device node (skipped without CAP_MKNOD)
};

// Every file kind: regular files of varied size and content (compressible and random,
// duplicates), nested and empty dirs, symlinks (relative, absolute, dangling, to dir, odd
// targets), hard links (3 names for one inode across dirs, plus a pair), sparse files, names
// with spaces, a newline, tab, backslash, invalid UTF-8 and non-ASCII, user.* xattrs (binary
// values, empty value, 1000-byte value) on files and directories, modes (0000, 0600, 0640,
// 0755, 04755, 02755 dir, 01777 dir), non-root uid/gid (lchown), nanosecond mtimes (set last,
// directories deepest-first), a FIFO, and char/block device nodes. `root` must not exist or be an empty directory.
TreeInfo make_full_tree(const fs::path& root, const FullTreeOptions& opt = {});

struct RandomTreeOptions {
  std::uint64_t seed = 1;
  int files = 300;
  std::uint64_t min_size = 64 * KiB;
  std::uint64_t max_size = 1 * MiB;
  int dirs = 10;           // files are spread over this many subdirectories ("d00"...)
};
// Regular files of incompressible random content, spread over a few directories.
TreeInfo make_random_tree(const fs::path& root, const RandomTreeOptions& opt);

// --- scanning and comparing -------------------------------------------------------------
struct Entry {
  char type = '?';  // 'f' file, 'd' dir, 'l' symlink, 'p' fifo, 'c' chr, 'b' blk, 's' socket
  mode_t mode = 0;  // permission bits incl. setuid/setgid/sticky (st_mode & 07777)
  uid_t uid = 0;
  gid_t gid = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t size = 0;
  std::uint64_t allocated = 0;  // st_blocks * 512
  dev_t rdev = 0;
  std::string sha256;           // regular files (when hashing)
  std::string link_target;      // symlinks
  std::map<std::string, std::string> xattrs;
  std::vector<std::string> hardlinks;  // all paths in the tree sharing this inode, sorted;
                                       // empty unless there are at least two
  bool sparse() const { return type == 'f' && size >= 1 * MiB && allocated < size / 4; }
};

// Keyed by path relative to the scanned root; the root itself is stored under "." .
using Manifest = std::map<std::string, Entry>;

Manifest scan_tree(const fs::path& root, bool hash_content = true);

struct CompareOptions {
  bool root = false;        // also compare the root directory's own metadata
  bool mtime = true;        // compare mtimes of non-directories
  bool dir_mtime = true;    // compare mtimes of directories
  bool ownership = true;    // compare uid/gid
  bool xattrs = true;
  bool hardlinks = true;
  bool sparseness = true;   // a sparse expected file must be sparse in actual too
};

// Human-readable differences, "expected" being the source and "actual" the copy; empty when
// identical. Paths in messages are escaped (see escape()).
std::vector<std::string> compare_manifests(const Manifest& expected, const Manifest& actual,
                                           const CompareOptions& opt = {});
std::vector<std::string> compare_trees(const fs::path& expected, const fs::path& actual,
                                       const CompareOptions& opt = {});
// Compare a single entry (e.g. a file restored with --include).
std::vector<std::string> compare_entries(const std::string& name, const Entry& expected,
                                         const Entry& actual, const CompareOptions& opt = {});
Entry scan_entry(const fs::path& p, bool hash_content = true);

// Printable form of a byte string: C-like escapes for control and non-ASCII bytes.
std::string escape(std::string_view s);
// The first `max` differences joined by newlines (plus a count of the rest).
std::string join_diffs(const std::vector<std::string>& diffs, std::size_t max = 25);

// du-like: sum of st_blocks*512 over everything under root (each inode once).
std::uint64_t disk_usage(const fs::path& root);
// Sum of st_size of regular files under root (each inode once).
std::uint64_t apparent_size(const fs::path& root);
// Entries under root (root included) whose mode has any group/other permission bit.
std::vector<std::string> group_or_world_accessible(const fs::path& root);

}  // namespace support
