// Restore stays inside its target. Hostile trees (written straight into a repository, past any
// validation, as a crafted export or a compromised writer would leave them) and hostile targets
// (symlinks and other entries in the way of a --force restore) never make it create, change or
// remove anything outside the target, and a file that cannot be restored whole never appears
// under its real name. Every test compares everything around the target before and after.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "base/error.hpp"
#include "store/repository.hpp"
#include "store/restorer.hpp"
#include "support/fs_tree.hpp"

using namespace drctl::store;
using support::Manifest;

namespace {

constexpr std::int64_t kMtime = 1'600'000'000'123'456'789;

/// Trees and data written straight into a repository, as a crafted export would hold them.
class Forge {
 public:
  explicit Forge(const fs::path& path) {
    Repository::init(path, RepoConfig{});
    repo_.emplace(path);
  }
  Repository& repo() { return *repo_; }

  Id tree(std::vector<Node> nodes) {
    Tree t;
    t.nodes = std::move(nodes);
    Bytes b = encode_tree(t);
    Id id = sha256(b);
    repo_->add_blob(BlobType::Tree, id, b);
    return id;
  }
  Part blob(std::string_view data) {
    Id id = sha256(data);
    repo_->add_blob(BlobType::Data, id, Bytes(data.begin(), data.end()));
    return {id, data.size()};
  }
  Node file(std::string name, std::string_view content, std::uint32_t mode = 0644) {
    Node n = base(std::move(name), NodeType::File, mode);
    n.size = content.size();
    if (!content.empty()) n.content.push_back(blob(content));
    return n;
  }
  Node file_of(std::string name, std::vector<Part> parts) {
    Node n = base(std::move(name), NodeType::File, 0644);
    for (const Part& p : parts) n.size += p.size;
    n.content = std::move(parts);
    return n;
  }
  Node dir(std::string name, const Id& subtree, std::uint32_t mode = 0755) {
    Node n = base(std::move(name), NodeType::Dir, mode);
    n.subtree = subtree;
    return n;
  }
  Node symlink(std::string name, std::string target) {
    Node n = base(std::move(name), NodeType::Symlink, 0777);
    n.target = std::move(target);
    return n;
  }
  Node fifo(std::string name, std::uint32_t mode) { return base(std::move(name), NodeType::Fifo, mode); }
  Node hardlink(std::string name, std::string first) {
    Node n = base(std::move(name), NodeType::Hardlink, 0644);
    n.target = std::move(first);
    return n;
  }

 private:
  static Node base(std::string name, NodeType type, std::uint32_t mode) {
    Node n;
    n.name = std::move(name);
    n.type = type;
    n.mode = mode;
    n.uid = ::getuid();
    n.gid = ::getgid();
    n.mtime_ns = kMtime;
    return n;
  }
  std::optional<Repository> repo_;
};

void scan_outside(const fs::path& dir, const std::string& rel, const fs::path& target, Manifest& out) {
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string r = rel.empty() ? e.path().filename().string() : rel + "/" + e.path().filename().string();
    support::Entry entry = support::scan_entry(e.path());
    if (e.path() == target) {
      entry.mtime_ns = 0;  // restoring into the target changes its mtime, nothing else of it
      out[r] = entry;
      continue;
    }
    out[r] = entry;
    if (entry.type == 'd') scan_outside(e.path(), r, target, out);
  }
}

/// Everything under `root` except what is inside `target`: paths, types, modes, owners,
/// mtimes, contents, symlink targets, xattrs.
Manifest surroundings(const fs::path& root, const fs::path& target) {
  Manifest out;
  out["."] = support::scan_entry(root);
  scan_outside(root, "", target, out);
  return out;
}

/// Relative paths of everything under `dir`, not following symlinks.
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.insert(fs::relative(e.path(), dir).string());
  return out;
}

bool decoder_refuses(const Repository& repo, const Id& tree) {
  try {
    repo.load_tree(tree);
    return false;
  } catch (const drctl::Failure&) {
    return true;
  }
}

struct Outcome {
  bool refused = false;  // restore_tree threw
  std::string refusal;
  std::vector<std::string> errors;
};

/// A temporary directory holding a repository, a target and precious things outside it.
struct Scene {
  support::TempDir t{"confined"};
  fs::path target = t / "target";
  fs::path outside = t / "outside";
  Forge forge{t / "repo"};
  Manifest before;

  Scene() {
    fs::create_directories(outside / "dir");
    fs::create_directories(target);
    support::write_file(outside / "keep", "precious\n");
    support::write_file(outside / "dir" / "inner", "inner\n");
    REQUIRE(::chmod((outside / "dir").c_str(), 0755) == 0);
  }

  /// Flushes the forged repository and takes the picture of everything around the target.
  void ready() {
    forge.repo().flush();
    before = surroundings(t.path(), target);
  }

  Outcome restore(const Id& root, RestoreOptions options = {}) {
    RestoreStats stats;
    Outcome out;
    try {
      restore_tree(forge.repo(), root, target.string(), options, stats, [](const std::string&) {});
    } catch (const drctl::Failure& e) {
      out.refused = true;
      out.refusal = e.what();
    }
    out.errors = stats.errors;
    return out;
  }

  void check_outside_unchanged() const {
    auto d = support::compare_manifests(before, surroundings(t.path(), target), {.root = true});
    CHECK_MESSAGE(d.empty(), "the restore changed something outside its target:\n" << support::join_diffs(d));
  }
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

struct stat lstat_at(const fs::path& p) {
  struct stat st {};
  REQUIRE_MESSAGE(::lstat(p.c_str(), &st) == 0, p << ": " << std::strerror(errno));
  return st;
}

std::int64_t mtime_of(const struct stat& st) {
  return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

}  // namespace

TEST_CASE("restore --force replaces whatever is in its way inside the target and never follows it out") {
  // What the target holds at `a` before the restore.
  const std::vector<std::pair<std::string, std::function<void(const Scene&)>>> in_the_way = {
      {"a symlink to a directory outside",
       [](const Scene& s) { REQUIRE(::symlink(s.outside.c_str(), (s.target / "a").c_str()) == 0); }},
      {"a symlink to a file outside",
       [](const Scene& s) { REQUIRE(::symlink((s.outside / "keep").c_str(), (s.target / "a").c_str()) == 0); }},
      {"a relative symlink leading out",
       [](const Scene& s) { REQUIRE(::symlink("../outside/dir", (s.target / "a").c_str()) == 0); }},
      {"a dangling symlink to a new file outside",
       [](const Scene& s) { REQUIRE(::symlink((s.outside / "new").c_str(), (s.target / "a").c_str()) == 0); }},
      {"a directory holding symlinks out",
       [](const Scene& s) {
         fs::create_directory(s.target / "a");
         REQUIRE(::symlink(s.outside.c_str(), (s.target / "a" / "x").c_str()) == 0);
         REQUIRE(::symlink((s.outside / "keep").c_str(), (s.target / "a" / "y").c_str()) == 0);
       }},
      {"a directory 150 levels deep with a symlink out at the bottom",
       [](const Scene& s) {
         fs::path p = s.target / "a";
         for (int i = 0; i < 150; ++i) p /= "n";
         fs::create_directories(p);
         REQUIRE(::symlink(s.outside.c_str(), (p / "out").c_str()) == 0);
         support::write_file(p / "file", "deep\n");
       }},
      {"a regular file", [](const Scene& s) { support::write_file(s.target / "a", "old\n"); }},
      {"a fifo", [](const Scene& s) { REQUIRE(::mkfifo((s.target / "a").c_str(), 0644) == 0); }},
  };
  // What the snapshot holds at `a`, and how the restored `a` must look.
  struct Kind {
    std::string name;
    std::function<Id(Forge&)> build;
    std::function<void(const fs::path&)> check;
  };
  const std::vector<Kind> kinds = {
      {"a directory with files",
       [](Forge& f) {
         return f.tree({f.dir("a", f.tree({f.file("x", "x restored\n", 0600), f.file("y", "y restored\n")}), 0701)});
       },
       [](const fs::path& to) {
         struct stat st = lstat_at(to / "a");
         CHECK(S_ISDIR(st.st_mode));
         CHECK((st.st_mode & 07777) == 0701);
         CHECK(mtime_of(st) == kMtime);
         CHECK(S_ISREG(lstat_at(to / "a" / "x").st_mode));
         CHECK(support::read_file(to / "a" / "x") == "x restored\n");
         CHECK((lstat_at(to / "a" / "x").st_mode & 07777) == 0600);
         CHECK(support::read_file(to / "a" / "y") == "y restored\n");
       }},
      {"a file",
       [](Forge& f) { return f.tree({f.file("a", "a restored\n", 0640)}); },
       [](const fs::path& to) {
         struct stat st = lstat_at(to / "a");
         CHECK(S_ISREG(st.st_mode));
         CHECK((st.st_mode & 07777) == 0640);
         CHECK(mtime_of(st) == kMtime);
         CHECK(support::read_file(to / "a") == "a restored\n");
       }},
      {"a symlink",
       [](Forge& f) { return f.tree({f.symlink("a", "../elsewhere")}); },
       [](const fs::path& to) {
         struct stat st = lstat_at(to / "a");
         CHECK(S_ISLNK(st.st_mode));
         CHECK(mtime_of(st) == kMtime);
         CHECK(fs::read_symlink(to / "a") == "../elsewhere");
       }},
      {"a fifo",
       [](Forge& f) { return f.tree({f.fifo("a", 0620)}); },
       [](const fs::path& to) {
         struct stat st = lstat_at(to / "a");
         CHECK(S_ISFIFO(st.st_mode));
         CHECK((st.st_mode & 07777) == 0620);
       }},
      {"a hard link",
       [](Forge& f) { return f.tree({f.file("0first", "shared\n"), f.hardlink("a", "0first")}); },
       [](const fs::path& to) {
         CHECK(support::read_file(to / "a") == "shared\n");
         CHECK(lstat_at(to / "a").st_ino == lstat_at(to / "0first").st_ino);
       }},
  };
  for (const auto& [existing, make_existing] : in_the_way) {
    for (const Kind& kind : kinds) {
      CAPTURE(existing);
      CAPTURE(kind.name);
      Scene s;
      make_existing(s);
      Id root = kind.build(s.forge);
      s.ready();
      Outcome r = s.restore(root);
      CHECK_MESSAGE(!r.refused, r.refusal);
      CHECK_MESSAGE(r.errors.empty(), joined(r.errors));
      kind.check(s.target);
      s.check_outside_unchanged();
    }
  }
}

TEST_CASE("entries whose names are not plain names are refused wherever they are in the tree, even with --force") {
  Scene s;
  support::write_file(s.target / "old", "old\n");  // a non-empty target: the "replace what exists" path
  Forge& f = s.forge;
  const Id inner = f.tree({f.file("escaped", "evil\n")});
  const Id sub = f.tree({f.file("..", "evil\n"), f.file("../../outside/keep", "evil\n"), f.file("ok2", "fine 2\n")});
  const Id root = f.tree({
      f.file("", "evil\n"),
      f.dir(".", inner),
      f.file("..", "evil\n"),
      f.dir("..", inner),
      f.file("../outside/keep", "evil\n"),
      f.file((s.outside / "keep").string(), "evil\n"),
      f.dir(s.outside.string(), inner),
      f.file(std::string("nul\0name", 8), "evil\n"),
      f.file("ok", "fine\n"),
      f.dir("sub", sub),
  });
  s.ready();
  Outcome r = s.restore(root);
  s.check_outside_unchanged();
  std::set<std::string> names = names_in(s.target);
  if (decoder_refuses(s.forge.repo(), root)) {
    CHECK(r.refused);
    CHECK(names == std::set<std::string>{"old"});
    return;
  }
  // The restorer itself refuses each bad entry and restores the rest.
  CHECK_MESSAGE(!r.refused, r.refusal);
  if (decoder_refuses(s.forge.repo(), sub)) {
    CHECK_MESSAGE(r.errors.size() == 9, joined(r.errors));
    CHECK(names == std::set<std::string>{"old", "ok"});
  } else {
    CHECK_MESSAGE(r.errors.size() == 10, joined(r.errors));
    CHECK(names == std::set<std::string>{"old", "ok", "sub", "sub/ok2"});
    CHECK(support::read_file(s.target / "sub" / "ok2") == "fine 2\n");
  }
  CHECK(support::read_file(s.target / "ok") == "fine\n");
}

TEST_CASE("a directory's mode never goes through a symlink of the same name, whichever comes first") {
  for (bool symlink_first : {false, true}) {
    CAPTURE(symlink_first);
    Scene s;
    Forge& f = s.forge;
    Node dir = f.dir("a", f.tree({f.file("x", "x\n")}), 0777);
    Node link = f.symlink("a", (s.outside / "dir").string());
    const Id root = symlink_first ? f.tree({link, dir}) : f.tree({dir, link});
    s.ready();
    Outcome r = s.restore(root);
    s.check_outside_unchanged();
    if (decoder_refuses(f.repo(), root)) {
      CHECK(r.refused);
      continue;
    }
    CHECK_MESSAGE(r.errors.size() == 1, joined(r.errors));  // the second `a`
    struct stat st = lstat_at(s.target / "a");
    if (symlink_first) {
      CHECK(S_ISLNK(st.st_mode));
    } else {
      CHECK(S_ISDIR(st.st_mode));
      CHECK((st.st_mode & 07777) == 0777);
      CHECK(support::read_file(s.target / "a" / "x") == "x\n");
    }
  }
}

TEST_CASE("a file whose content cannot be read is left out whole: nothing under its name, no temporary files") {
  Scene s;
  // --force over stale files of the same names: they must not stay either.
  support::write_file(s.target / "broken-missing", "stale\n");
  support::write_file(s.target / "link-to-broken", "stale\n");
  Forge& f = s.forge;
  const std::string start(100000, 's');
  const Part good = f.blob(start);
  const Part damaged = f.blob(support::Rng(5).bytes(200000));
  const Part missing{sha256("never stored"), 5000};
  const Part small = f.blob("short");
  const Part wrong_size{small.blob, 5000};
  const Id root = f.tree({
      f.file_of("broken-damaged", {good, damaged}),
      f.file_of("broken-missing", {good, missing}),
      f.file_of("broken-size", {good, wrong_size}),
      f.file("fine", "fine\n"),
      f.hardlink("link-to-broken", "broken-missing"),
  });
  s.ready();
  {
    // Flip a byte in the middle of the damaged blob where its pack stores it.
    const Index::Location* loc = f.repo().index().find(*damaged.blob);
    REQUIRE(loc != nullptr);
    const fs::path pack = f.repo().pack_path(f.repo().index().pack_id(*loc));
    int fd = ::open(pack.c_str(), O_RDWR | O_CLOEXEC);
    REQUIRE(fd >= 0);
    unsigned char c;
    const off_t at = static_cast<off_t>(loc->entry.offset + loc->entry.length / 2);
    REQUIRE(::pread(fd, &c, 1, at) == 1);
    c ^= 0x5a;
    REQUIRE(::pwrite(fd, &c, 1, at) == 1);
    ::close(fd);
    s.before = surroundings(s.t.path(), s.target);
  }
  REQUIRE_THROWS_AS(f.repo().read_blob(*damaged.blob), drctl::Failure);
  Outcome r = s.restore(root);
  CHECK_MESSAGE(!r.refused, r.refusal);
  CHECK_MESSAGE(r.errors.size() == 4, joined(r.errors));
  for (const char* name : {"broken-damaged", "broken-missing", "broken-size", "link-to-broken"})
    CHECK_MESSAGE(joined(r.errors).find(std::string("/") + name + ": ") != std::string::npos, name);
  CHECK(names_in(s.target) == std::set<std::string>{"fine"});
  CHECK(support::read_file(s.target / "fine") == "fine\n");
  s.check_outside_unchanged();
}

namespace {

/// In its own mount namespace, restores `root` into a 1 MiB tmpfs mounted at `mnt`; returns
/// what went wrong ("" when the outcome is right). Runs in a forked child.
std::string restore_onto_small_tmpfs(const Repository& repo, const Id& root, const fs::path& mnt,
                                     const std::map<std::string, std::string>& fitting) {
  if (::unshare(CLONE_NEWNS) != 0) return std::string("unshare(CLONE_NEWNS): ") + std::strerror(errno);
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    return std::string("mount --make-rprivate /: ") + std::strerror(errno);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=1m") != 0)
    return std::string("mount tmpfs: ") + std::strerror(errno);
  const fs::path target = mnt / "target";
  fs::create_directories(target);
  fs::create_directories(mnt / "outside");
  support::write_file(mnt / "outside" / "keep", "precious\n");
  const Manifest before = surroundings(mnt, target);

  RestoreStats stats;
  RestoreOptions options;
  options.threads = 1;  // one file at a time: the small files always find room
  restore_tree(repo, root, target.string(), options, stats, [](const std::string&) {});

  std::string problems;
  for (const auto& d : support::compare_manifests(before, surroundings(mnt, target), {.root = true}))
    problems += "outside changed: " + d + "\n";
  std::set<std::string> expected = {"d"};
  for (const auto& [name, content] : fitting) {
    expected.insert(name);
    if (support::read_file(target / name) != content) problems += name + ": wrong content\n";
  }
  if (names_in(target) != expected) {
    problems += "the target holds:";
    for (const auto& n : names_in(target)) problems += " " + n;
    problems += "\n";
  }
  const std::string errors = joined(stats.errors);
  if (stats.errors.size() != 2 || errors.find("/big: ") == std::string::npos ||
      errors.find("/d/big2: ") == std::string::npos || errors.find(std::strerror(ENOSPC)) == std::string::npos)
    problems += "errors reported:\n" + errors;
  return problems;
}

}  // namespace

TEST_CASE("a restore that runs out of space leaves no partial file under a real name") {
  support::TempDir t("confined-enospc");
  Forge f(t / "repo");
  std::vector<Part> big, big2;
  support::Rng rng(11);
  for (int i = 0; i < 16; ++i) big.push_back(f.blob(rng.bytes(256 * 1024)));
  for (int i = 0; i < 8; ++i) big2.push_back(f.blob(rng.bytes(256 * 1024)));
  const std::map<std::string, std::string> fitting = {{"a-small", rng.bytes(10000)}, {"z-small", rng.bytes(10000)}};
  const Id root = f.tree({
      f.file("a-small", fitting.at("a-small")),
      f.file_of("big", big),
      f.dir("d", f.tree({f.file_of("big2", big2)})),
      f.file("z-small", fitting.at("z-small")),
  });
  f.repo().flush();
  fs::create_directory(t / "mnt");

  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string report;
    try {
      report = restore_onto_small_tmpfs(f.repo(), root, t / "mnt", fitting);
    } catch (const std::exception& e) {
      report = std::string("exception: ") + e.what();
    }
    std::size_t done = 0;
    while (done < report.size()) {
      ssize_t n = ::write(pipe_fds[1], report.data() + done, report.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) report.append(buf, static_cast<std::size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK_MESSAGE(report.empty(), report);
  // The tmpfs lived only in the child's mount namespace: here the directory is as it was.
  CHECK(fs::is_empty(t / "mnt"));
}

TEST_CASE("trees sharing one subtree 40 levels deep stop at the node budget with an error") {
  Scene s;
  Forge& f = s.forge;
  Id level = f.tree({f.file("f", "leaf\n")});
  for (int i = 0; i < 40; ++i) level = f.tree({f.dir("a", level), f.dir("b", level)});
  s.ready();
  RestoreOptions options;
  options.max_nodes = 1000;
  Outcome r = s.restore(level, options);
  CHECK(r.refused);
  CHECK(names_in(s.target).size() <= 1000);
  s.check_outside_unchanged();

  // The same budget lets an honest tree of fewer entries through.
  Scene honest;
  Forge& g = honest.forge;
  Id small = g.tree({g.file("f", "leaf\n")});
  for (int i = 0; i < 3; ++i) small = g.tree({g.dir("a", small), g.dir("b", small)});
  honest.ready();
  Outcome ok = honest.restore(small, options);
  CHECK_MESSAGE(!ok.refused, ok.refusal);
  CHECK(ok.errors.empty());
  CHECK(names_in(honest.target).size() == 2 + 4 + 8 + 8);
  honest.check_outside_unchanged();
}

TEST_CASE("directories nested 2048 levels deep restore with their files and modes, and one level more is damage") {
  Scene s;
  Forge& f = s.forge;
  // Each level's directory holds `d` (the next level); some also a file `f` naming their depth.
  auto has_file = [](int depth) { return depth % 300 == 0 || depth >= 2047; };
  Id below = f.tree({f.file("f", "level 2049\n")});
  for (int depth = 2048; depth >= 0; --depth) {
    std::vector<Node> nodes = {f.dir("d", below, 0750)};
    if (has_file(depth)) nodes.push_back(f.file("f", "level " + std::to_string(depth) + "\n"));
    below = f.tree(std::move(nodes));
  }
  s.ready();
  RestoreOptions options;
  options.threads = 2;
  Outcome r = s.restore(below, options);
  CHECK_MESSAGE(!r.refused, r.refusal);
  CHECK_MESSAGE(r.errors.size() == 1, joined(r.errors));  // the directory at depth 2049

  // Walk down the restored chain by descriptors (its path is longer than PATH_MAX).
  int fd = ::open(s.target.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  int depth = 0;
  std::string wrong;
  while (true) {
    int file = ::openat(fd, "f", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    char buf[64] = {};
    ssize_t n = file >= 0 ? ::read(file, buf, sizeof buf - 1) : -1;
    if (file >= 0) ::close(file);
    if (has_file(depth) ? n < 0 || std::string(buf) != "level " + std::to_string(depth) + "\n" : file >= 0)
      wrong += "depth " + std::to_string(depth) + ": f is wrong\n";
    int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (next < 0) break;
    struct stat st;
    REQUIRE(::fstat(next, &st) == 0);
    if ((st.st_mode & 07777) != 0750 || mtime_of(st) != kMtime) wrong += "depth " + std::to_string(depth + 1) + ": metadata\n";
    ::close(fd);
    fd = next;
    ++depth;
  }
  ::close(fd);
  CHECK(depth == 2048);
  CHECK_MESSAGE(wrong.empty(), wrong);
  s.check_outside_unchanged();
  // std::filesystem cannot remove paths longer than PATH_MAX; rm can.
  CHECK(std::system(("rm -rf -- '" + s.target.string() + "'").c_str()) == 0);
}
