#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <map>

#include "capture/nas.hpp"
#include "capture/tar_stream.hpp"
#include "base/error.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace drctl::capture;
using namespace drctl::store;

namespace {

void no_warn(const std::string&) {}

void sparse_file(const fs::path& p, std::uint64_t size, std::uint64_t at, const std::string& data) {
  int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
  if (!data.empty()) REQUIRE(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(at)) == ssize_t(data.size()));
  ::close(fd);
}

/// Files of several sizes (one over the chunker's 4 MiB maximum), an empty file, sparse files, symlinks, a file
/// with two names, a fifo, odd names, modes, owners (as root), nanosecond mtimes and, where the file system takes
/// them, user xattrs. Returns whether the xattrs were set.
bool make_source(const fs::path& root) {
  support::Rng rng(7);
  fs::create_directories(root / "docs");
  fs::create_directories(root / "links");
  fs::create_directories(root / "z-first");
  support::write_random_file(root / "big-6m.bin", 6 * support::MiB + 123, rng, 0640);
  support::write_file(root / "docs/empty", "");
  support::write_file(root / "docs/small.txt", "hello\n", 0600);
  support::write_random_file(root / "docs/1m.bin", support::MiB, rng, 0755);
  support::write_file(root / "docs/name with space\nnewline \xff\xfe", "odd name\n");
  sparse_file(root / "sparse.img", 24 * support::MiB, 10 * support::MiB + 100, rng.bytes(5000));
  sparse_file(root / "hole-only.img", 3 * support::MiB, 0, "");
  support::write_random_file(root / "z-first/a", 100 * support::KiB, rng);
  REQUIRE(::link((root / "z-first/a").c_str(), (root / "b-link").c_str()) == 0);  // sorts before z-first/a
  REQUIRE(::symlink("../docs/small.txt", (root / "links/sym").c_str()) == 0);
  REQUIRE(::symlink("nowhere \xff", (root / "links/dangling").c_str()) == 0);
  REQUIRE(::mkfifo((root / "fifo").c_str(), 0640) == 0);
  REQUIRE(::chmod((root / "fifo").c_str(), 0640) == 0);

  bool xattrs = ::lsetxattr((root / "docs/small.txt").c_str(), "user.note", "hi", 2, 0) == 0;
  if (xattrs) {
    REQUIRE(::lsetxattr((root / "docs/small.txt").c_str(), "user.binary", "\0\x01\xff", 3, 0) == 0);
    REQUIRE(::lsetxattr((root / "docs").c_str(), "user.dir", "directory", 9, 0) == 0);
    REQUIRE(::lsetxattr((root / "b-link").c_str(), "user.shared", "", 0, 0) == 0);
  }
  if (::geteuid() == 0) REQUIRE(::lchown((root / "docs/small.txt").c_str(), 1234, 5678) == 0);

  std::int64_t sec = 1700000000;
  for (const char* p : {"big-6m.bin", "docs/empty", "docs/small.txt", "docs/1m.bin", "sparse.img", "hole-only.img",
                        "z-first/a", "links/sym", "fifo"})
    support::set_mtime(root / p, sec++, 123456789);
  for (const char* d : {"docs", "links", "z-first", "."}) support::set_mtime(root / d, sec++, 999999999);
  REQUIRE(::chmod((root / "docs").c_str(), 0750) == 0);
  REQUIRE(::chmod(root.c_str(), 0711) == 0);
  return xattrs;
}

/// The real tar's view of `dir`, as a remote host sends it.
std::string tar_of(const fs::path& dir, const fs::path& scratch, const std::vector<std::string>& extra = {}) {
  fs::path out = scratch / "stream.tar";
  std::vector<std::string> argv = {"tar", "--format=pax", "--xattrs", "--sparse", "--numeric-owner"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), {"-cf", out.string(), "-C", dir.string(), "."});
  support::RunResult r = support::run(argv);
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  std::string tar = support::read_file(out);
  fs::remove(out);
  return tar;
}

/// Every node of a section by path, without what only a local capture knows (inode, ctime) and without the
/// subtree ids (which hash those).
std::map<std::string, Node> flatten(const Repository& repo, const Section& section) {
  std::map<std::string, Node> out;
  auto keep = [&](Node n, const std::string& path) {
    n.inode = 0;
    n.ctime_ns = 0;
    n.subtree.reset();
    out[path] = std::move(n);
  };
  std::function<void(const Id&, const std::string&)> walk = [&](const Id& id, const std::string& prefix) {
    for (const Node& n : repo.load_tree(id).nodes) {
      if (n.subtree) walk(*n.subtree, prefix + n.name + "/");
      keep(n, prefix + n.name);
    }
  };
  keep(repo.load_tree(*section.root).nodes.at(0), ".");
  walk(section.tree, "");
  return out;
}

std::string describe(const Node& n) {
  std::string parts;
  for (const Part& p : n.content) parts += (p.blob ? p.blob->short_hex() : "hole") + ":" + std::to_string(p.size) + " ";
  return std::string(type_name(n.type)) + " mode " + std::to_string(n.mode) + " " + std::to_string(n.uid) + ":" +
         std::to_string(n.gid) + " mtime " + std::to_string(n.mtime_ns) + " size " + std::to_string(n.size) +
         " target " + n.target + " xattrs " + std::to_string(n.xattrs.size()) + " parts " + parts;
}

struct Crafted {
  std::string name;
  mode_t type = AE_IFREG;
  mode_t perm = 0644;
  std::string data;
};

/// A pax stream with exactly these entries, which the real tar would not write (it sanitizes names).
std::string crafted_tar(const std::vector<Crafted>& entries) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax(a);
  archive_write_open(a, &out, nullptr,
                     [](struct archive*, void* client, const void* data, std::size_t size) -> la_ssize_t {
                       static_cast<std::string*>(client)->append(static_cast<const char*>(data), size);
                       return static_cast<la_ssize_t>(size);
                     },
                     nullptr);
  for (const Crafted& c : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, c.name.c_str());
    archive_entry_set_filetype(e, c.type);
    archive_entry_set_perm(e, c.perm);
    archive_entry_set_size(e, static_cast<la_int64_t>(c.data.size()));
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (!c.data.empty()) archive_write_data(a, c.data.data(), c.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

struct Fixture {
  support::TempDir tmp{"tar-stream"};
  fs::path src = tmp / "src";
  bool xattrs = make_source(src);
  Repository repo = [this] {
    Repository::init(tmp / "repo", RepoConfig{});
    return Repository(tmp / "repo");
  }();
};

}  // namespace

TEST_CASE("tar stream: capture_tar of GNU tar's stream stores what capture_nas stores for the directory") {
  Fixture f;
  Progress nas_progress, tar_progress;
  NasResult local = capture_nas(f.repo, "nas/local", f.src.string(), std::nullopt, nas_progress, no_warn);
  std::vector<std::string> warnings;
  NasResult remote = capture_tar_bytes(f.repo, "nas/remote", "nas:/src", tar_of(f.src, f.tmp.path()), tar_progress,
                                       [&](const std::string& w) { warnings.push_back(w); });
  f.repo.flush();
  CHECK(warnings.empty());
  CHECK(remote.skipped.empty());
  CHECK(remote.section.name == "nas/remote");
  CHECK(remote.section.source == "nas:/src");
  CHECK(remote.section.files == local.section.files);
  CHECK(remote.section.dirs == local.section.dirs);
  CHECK(remote.section.bytes == local.section.bytes);

  auto expected = flatten(f.repo, local.section);
  auto actual = flatten(f.repo, remote.section);
  REQUIRE(expected.size() == actual.size());
  REQUIRE(expected.size() == 16);  // ".", 14 entries below the root and the second name of the linked file
  for (const auto& [path, node] : expected) {
    auto it = actual.find(path);
    REQUIRE_MESSAGE(it != actual.end(), support::escape(path));
    std::string diff = support::escape(path) + ": expected " + describe(node) + ", got " + describe(it->second);
    CHECK_MESSAGE(it->second == node, diff);
  }
  // The file with two names: the content belongs to the first in depth-first name order, whatever tar's order.
  CHECK(actual["b-link"].type == NodeType::File);
  CHECK(actual["z-first/a"].type == NodeType::Hardlink);
  CHECK(actual["z-first/a"].target == "b-link");
  CHECK(actual["sparse.img"].content.size() == 3);  // hole, data, hole
  CHECK(actual["big-6m.bin"].content.size() >= 2);  // more than the chunker's maximum
  CHECK(actual["docs/small.txt"].xattrs.size() == (f.xattrs ? 2u : 0u));
  // Every chunk was already there: capture_nas stored the same ones.
  CHECK(tar_progress.bytes_added == 0);
  CHECK(tar_progress.bytes_read == nas_progress.bytes_read);
}

TEST_CASE("tar stream: write_tar extracted by GNU tar gives back the source tree, and reads back as the same section") {
  Fixture f;
  Progress progress;
  NasResult captured = capture_tar_bytes(f.repo, "nas/remote", "nas:/src", tar_of(f.src, f.tmp.path()), progress, no_warn);
  f.repo.flush();

  std::string stream = tar_bytes(f.repo, captured.section);
  CHECK(stream.size() < 9 * support::MiB);  // 7.2 MiB of data: the 27 MiB of holes stay out of the stream
  fs::path file = f.tmp / "out.tar", dst = f.tmp / "dst";
  support::write_file(file, stream);
  fs::create_directories(dst);
  support::RunResult r = support::run({"tar", "-xpf", file.string(), "--xattrs", "--numeric-owner", "-C", dst.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  // libarchive marks names that are not text in this process's locale with hdrcharset=BINARY, which GNU tar
  // does not know: it says so and uses the raw bytes, as wanted. Nothing else may bother it.
  for (const std::string& line : r.err_lines())
    CHECK_MESSAGE(line.find("unknown extended header keyword 'hdrcharset'") != std::string::npos, line);

  support::CompareOptions opt;
  opt.root = true;
  opt.ownership = ::geteuid() == 0;
  opt.xattrs = f.xattrs;
  auto diffs = support::compare_trees(f.src, dst, opt);
  CHECK_MESSAGE(diffs.empty(), support::join_diffs(diffs));

  NasResult again = capture_tar_bytes(f.repo, "nas/again", "again", stream, progress, no_warn);
  CHECK(again.section.tree == captured.section.tree);
  CHECK(again.section.root == captured.section.root);
}

TEST_CASE("tar stream: compressed streams and small reads give the same section, and a second capture adds nothing") {
  Fixture f;
  Progress first;
  std::string plain = tar_of(f.src, f.tmp.path());
  NasResult base = capture_tar_bytes(f.repo, "nas/a", "a", plain, first, no_warn);
  CHECK(first.bytes_added > 7 * support::MiB);

  std::uint64_t before = f.repo.added_bytes();
  Progress second;
  std::size_t at = 0, calls = 0;
  auto trickle = [&](char* buf, std::size_t size) {
    std::size_t n = std::min({size, plain.size() - at, std::size_t(1000)});
    plain.copy(buf, n, at);
    at += n;
    ++calls;
    return n;
  };
  NasResult streamed = capture_tar(f.repo, "nas/a", "a", trickle, second, no_warn);
  CHECK(calls > 7000);  // 1000 bytes at a time
  CHECK(streamed.section.tree == base.section.tree);
  CHECK(second.bytes_added == 0);
  CHECK(f.repo.added_bytes() - before < first.bytes_added / 1000);

  for (const char* flag : {"--gzip", "--zstd"}) {
    CAPTURE(flag);
    Progress p;
    NasResult compressed = capture_tar_bytes(f.repo, "nas/a", "a", tar_of(f.src, f.tmp.path(), {flag}), p, no_warn);
    CHECK(compressed.section.tree == base.section.tree);
    CHECK(compressed.section.root == base.section.root);
  }
}

TEST_CASE("tar stream: a truncated stream throws naming the entry it ends in") {
  support::TempDir tmp("tar-stream");
  support::Rng rng(3);
  fs::create_directories(tmp / "src");
  support::write_random_file(tmp / "src/payload.bin", 2 * support::MiB, rng);
  std::string tar = tar_of(tmp / "src", tmp.path());
  Repository::init(tmp / "repo", RepoConfig{});
  Repository repo(tmp / "repo");
  Progress progress;
  CHECK_THROWS_WITH_AS(capture_tar_bytes(repo, "nas/t", "nas:/src", tar.substr(0, tar.size() / 2), progress, no_warn),
                       doctest::Contains("in entry ./payload.bin"), drctl::Failure);
  CHECK_THROWS_WITH_AS(capture_tar_bytes(repo, "nas/t", "nas:/src", "", progress, no_warn),
                       doctest::Contains("tar stream from nas:/src is truncated or corrupt at its start"), drctl::Failure);
}

TEST_CASE("tar stream: names outside the section are skipped and reported, missing parents are implied") {
  support::TempDir tmp("tar-stream");
  Repository::init(tmp / "repo", RepoConfig{});
  Repository repo(tmp / "repo");
  std::string tar = crafted_tar({{"./a/b/c.txt", AE_IFREG, 0600, "deep\n"},
                                 {"../evil", AE_IFREG, 0644, "outside\n"},
                                 {"/etc/evil", AE_IFREG, 0644, "absolute\n"},
                                 {"x/../../evil", AE_IFREG, 0644, "sneaky\n"},
                                 {"./a/", AE_IFDIR, 0700, ""},
                                 {"./", AE_IFDIR, 0750, ""}});
  std::vector<std::string> warnings;
  Progress progress;
  NasResult r = capture_tar_bytes(repo, "nas/t", "crafted", tar, progress,
                                  [&](const std::string& w) { warnings.push_back(w); });
  repo.flush();
  REQUIRE(r.skipped.size() == 3);
  CHECK(r.skipped[0].path == "../evil");
  CHECK(r.skipped[0].section == "nas/t");
  CHECK(r.skipped[0].error.find("..") != std::string::npos);
  CHECK(r.skipped[1].path == "/etc/evil");
  CHECK(r.skipped[1].error.find("absolute") != std::string::npos);
  CHECK(r.skipped[2].path == "x/../../evil");
  REQUIRE(warnings.size() == 3);
  CHECK(warnings[0].find("../evil") != std::string::npos);

  auto nodes = flatten(repo, r.section);
  CHECK(nodes.size() == 4);  // ".", a, a/b, a/b/c.txt: no "x", nothing named evil
  CHECK(nodes["."].mode == 0750);
  CHECK(nodes["a"].mode == 0700);  // its entry came after its contents
  CHECK(nodes["a/b"].type == NodeType::Dir);
  CHECK(nodes["a/b"].mode == 0755);  // implied
  CHECK(nodes["a/b/c.txt"].size == 5);
  CHECK(nodes["a/b/c.txt"].mode == 0600);
  REQUIRE(nodes["a/b/c.txt"].content.size() == 1);
  CHECK(repo.read_blob(*nodes["a/b/c.txt"].content[0].blob) == Bytes{'d', 'e', 'e', 'p', '\n'});
  CHECK(r.section.files == 1);
  CHECK(r.section.dirs == 2);
}

TEST_CASE("tar stream: section_files reads every regular file's content, hard links and holes included, only what keep accepts") {
  Fixture f;
  Progress progress;
  NasResult captured = capture_tar_bytes(f.repo, "nas/remote", "nas:/src", tar_of(f.src, f.tmp.path()), progress, no_warn);
  f.repo.flush();
  auto all = section_files(f.repo, captured.section);
  CHECK(all.at("docs/small.txt") == "hello\n");
  CHECK(all.at("docs/empty").empty());
  CHECK(all.at("big-6m.bin") == support::read_file(f.src / "big-6m.bin"));
  CHECK(all.at("sparse.img") == support::read_file(f.src / "sparse.img"));  // holes read as zeros
  CHECK(all.at("b-link") == support::read_file(f.src / "z-first/a"));       // both names of one file
  CHECK(all.at("z-first/a") == all.at("b-link"));
  CHECK_FALSE(all.contains("links/sym"));  // not regular files
  CHECK_FALSE(all.contains("fifo"));
  CHECK_FALSE(all.contains("docs"));

  // keep: only those paths are read; a hard link whose first name is not kept still has its content.
  auto some = section_files(f.repo, captured.section, [](const std::string& p) { return p == "z-first/a" || p == "docs/small.txt"; });
  CHECK(some.size() == 2);
  CHECK(some.at("z-first/a") == all.at("b-link"));
  CHECK(some.at("docs/small.txt") == "hello\n");
}
