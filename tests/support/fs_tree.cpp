#include "support/fs_tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <stdexcept>
#include <utility>

namespace support {

namespace {

[[noreturn]] void throw_errno(const std::string& what, const fs::path& p) {
  int e = errno;
  throw std::runtime_error(what + " " + escape(p.string()) + ": " + std::strerror(e));
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

void write_all(int fd, const char* data, std::size_t n, const fs::path& p) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("write", p);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

void pwrite_all(int fd, const std::string& data, off_t off, const fs::path& p) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_errno("pwrite", p);
    }
    done += static_cast<std::size_t>(w);
  }
}

std::string hex(const unsigned char* d, std::size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[d[i] >> 4]);
    out.push_back(digits[d[i] & 15]);
  }
  return out;
}

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (!ctx_ || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("EVP sha256 init failed");
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* d, std::size_t n) { EVP_DigestUpdate(ctx_, d, n); }
  std::string hex_digest() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    return hex(md, len);
  }

 private:
  EVP_MD_CTX* ctx_;
};

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

inline std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

std::string fmt_time(std::int64_t ns) {
  char buf[64];
  std::int64_t sec = ns / 1000000000;
  std::int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    sec -= 1;
  }
  std::snprintf(buf, sizeof buf, "%lld.%09lld", static_cast<long long>(sec),
                static_cast<long long>(rem));
  return buf;
}

std::string fmt_mode(mode_t m) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m));
  return buf;
}

std::string join_rel(const std::string& dir, const std::string& name) {
  return dir.empty() || dir == "." ? name : dir + "/" + name;
}

std::vector<std::string> list_dir(const fs::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) throw_errno("opendir", dir);
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::map<std::string, std::string> read_xattrs(const fs::path& p) {
  std::map<std::string, std::string> out;
  ssize_t n = ::llistxattr(p.c_str(), nullptr, 0);
  if (n < 0) {
    if (errno == ENOTSUP) return out;
    throw_errno("llistxattr", p);
  }
  if (n == 0) return out;
  std::string names(static_cast<std::size_t>(n), '\0');
  n = ::llistxattr(p.c_str(), names.data(), names.size());
  if (n < 0) throw_errno("llistxattr", p);
  names.resize(static_cast<std::size_t>(n));
  std::size_t pos = 0;
  while (pos < names.size()) {
    std::string name = names.c_str() + pos;
    pos += name.size() + 1;
    if (name.empty()) continue;
    ssize_t vn = ::lgetxattr(p.c_str(), name.c_str(), nullptr, 0);
    if (vn < 0) throw_errno("lgetxattr " + name, p);
    std::string value(static_cast<std::size_t>(vn), '\0');
    if (vn > 0) {
      vn = ::lgetxattr(p.c_str(), name.c_str(), value.data(), value.size());
      if (vn < 0) throw_errno("lgetxattr " + name, p);
      value.resize(static_cast<std::size_t>(vn));
    }
    out[name] = value;
  }
  return out;
}

char type_of(mode_t m) {
  if (S_ISREG(m)) return 'f';
  if (S_ISDIR(m)) return 'd';
  if (S_ISLNK(m)) return 'l';
  if (S_ISFIFO(m)) return 'p';
  if (S_ISCHR(m)) return 'c';
  if (S_ISBLK(m)) return 'b';
  if (S_ISSOCK(m)) return 's';
  return '?';
}

const char* type_name(char t) {
  switch (t) {
    case 'f': return "regular file";
    case 'd': return "directory";
    case 'l': return "symlink";
    case 'p': return "fifo";
    case 'c': return "char device";
    case 'b': return "block device";
    case 's': return "socket";
    default: return "unknown";
  }
}

Entry entry_from_stat(const fs::path& p, const struct stat& st, bool hash_content) {
  Entry e;
  e.type = type_of(st.st_mode);
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  e.size = e.type == 'd' ? 0 : static_cast<std::uint64_t>(st.st_size);
  e.allocated = static_cast<std::uint64_t>(st.st_blocks) * 512;
  if (e.type == 'c' || e.type == 'b') e.rdev = st.st_rdev;
  if (e.type == 'f' && hash_content) e.sha256 = sha256_file(p);
  if (e.type == 'l') {
    std::string buf(static_cast<std::size_t>(st.st_size) + 256, '\0');
    ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size());
    if (n < 0) throw_errno("readlink", p);
    buf.resize(static_cast<std::size_t>(n));
    e.link_target = buf;
  }
  e.xattrs = read_xattrs(p);
  return e;
}

// A created entry of the generated tree, remembered for the ownership/mode/mtime pass.
struct Made {
  std::string rel;
  char type;
  mode_t mode;
};

class TreeBuilder {
 public:
  TreeBuilder(const fs::path& root, Rng& rng) : root_(root), rng_(rng) {}

  fs::path abs(const std::string& rel) const { return root_ / rel; }

  void dir(const std::string& rel, mode_t mode = 0755) {
    if (::mkdir(abs(rel).c_str(), 0700) != 0) throw_errno("mkdir", abs(rel));
    made_.push_back({rel, 'd', mode});
  }
  void file(const std::string& rel, std::string_view content, mode_t mode = 0644) {
    write_file(abs(rel), content, 0600);
    made_.push_back({rel, 'f', mode});
    info_.regular_files.push_back(rel);
    info_.content_bytes += content.size();
  }
  void random_file(const std::string& rel, std::uint64_t size, mode_t mode = 0644) {
    write_random_file(abs(rel), size, rng_, 0600);
    made_.push_back({rel, 'f', mode});
    info_.regular_files.push_back(rel);
    info_.content_bytes += size;
  }
  void hardlink(const std::string& existing, const std::string& rel) {
    if (::link(abs(existing).c_str(), abs(rel).c_str()) != 0) throw_errno("link", abs(rel));
    made_.push_back({rel, 'h', 0});
    info_.regular_files.push_back(rel);
  }
  void symlink(const std::string& target, const std::string& rel) {
    if (::symlink(target.c_str(), abs(rel).c_str()) != 0) throw_errno("symlink", abs(rel));
    made_.push_back({rel, 'l', 0777});
  }
  void fifo(const std::string& rel, mode_t mode) {
    if (::mkfifo(abs(rel).c_str(), 0600) != 0) throw_errno("mkfifo", abs(rel));
    made_.push_back({rel, 'p', mode});
  }
  void device(const std::string& rel, mode_t kind, dev_t dev, mode_t mode) {
    if (::mknod(abs(rel).c_str(), kind | 0600, dev) != 0) {
      if (errno == EPERM) return;  // not allowed here (e.g. a container): leave it out
      throw_errno("mknod", abs(rel));
    }
    made_.push_back({rel, kind == S_IFCHR ? 'c' : 'b', mode});
  }
  void sparse(const std::string& rel, std::uint64_t size,
              const std::vector<std::pair<std::uint64_t, std::uint64_t>>& islands) {
    fs::path p = abs(rel);
    Fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (fd.fd < 0) throw_errno("open", p);
    if (::ftruncate(fd.fd, static_cast<off_t>(size)) != 0) throw_errno("ftruncate", p);
    for (auto [off, len] : islands) {
      pwrite_all(fd.fd, rng_.bytes(len), static_cast<off_t>(off), p);
      info_.content_bytes += len;
    }
    made_.push_back({rel, 'f', 0644});
    info_.regular_files.push_back(rel);
  }
  void xattr(const std::string& rel, const std::string& name, std::string_view value) {
    if (::lsetxattr(abs(rel).c_str(), name.c_str(), value.data(), value.size(), 0) != 0)
      throw_errno("lsetxattr " + name, abs(rel));
  }
  void mtime(const std::string& rel, std::int64_t sec, long nsec) { fixed_mtime_[rel] = {sec, nsec}; }

  // Ownership, modes, then mtimes (non-directories first, then directories deepest first).
  void finish(bool ownership) {
    static const std::pair<uid_t, gid_t> owners[] = {
        {1000, 1000}, {1234, 5678}, {65534, 65534}, {0, 100}, {70000, 70001}, {0, 0}, {33, 34}};
    std::size_t i = 0;
    for (const Made& m : made_) {
      fs::path p = abs(m.rel);
      if (ownership && m.type != 'h') {
        auto [u, g] = owners[i++ % (sizeof owners / sizeof owners[0])];
        if (::lchown(p.c_str(), u, g) != 0) throw_errno("lchown", p);
      }
      if (m.type != 'l' && m.type != 'h') {
        if (::chmod(p.c_str(), m.mode) != 0) throw_errno("chmod", p);
      }
    }
    std::vector<const Made*> dirs;
    for (const Made& m : made_) {
      if (m.type == 'd') {
        dirs.push_back(&m);
        continue;
      }
      apply_mtime(m.rel);
    }
    std::stable_sort(dirs.begin(), dirs.end(), [](const Made* a, const Made* b) {
      return std::count(a->rel.begin(), a->rel.end(), '/') >
             std::count(b->rel.begin(), b->rel.end(), '/');
    });
    for (const Made* d : dirs) apply_mtime(d->rel);
  }

  TreeInfo& info() { return info_; }

 private:
  void apply_mtime(const std::string& rel) {
    auto it = fixed_mtime_.find(rel);
    if (it != fixed_mtime_.end()) {
      set_mtime(abs(rel), it->second.first, it->second.second);
    } else {
      std::int64_t sec = 1500000000 + static_cast<std::int64_t>(rng_.uniform(0, 200000000));
      long nsec = static_cast<long>(rng_.uniform(0, 999999999));
      set_mtime(abs(rel), sec, nsec);
    }
  }

  fs::path root_;
  Rng& rng_;
  std::vector<Made> made_;
  std::map<std::string, std::pair<std::int64_t, long>> fixed_mtime_;
  TreeInfo info_;
};

std::string compressible_text(std::size_t n, Rng& rng) {
  static const char* words[] = {"backup ", "restore ", "snapshot ", "chunk ", "pack ",
                                "index ", "tree ", "verify ", "prune ", "lorem ", "ipsum\n"};
  std::string s;
  s.reserve(n + 16);
  while (s.size() < n) s += words[rng.uniform(0, 10)];
  s.resize(n);
  return s;
}

void make_root(const fs::path& root) {
  struct stat st;
  if (::lstat(root.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode) || !list_dir(root).empty())
      throw std::runtime_error("tree root exists and is not an empty directory: " + root.string());
  } else {
    fs::create_directories(root);
  }
}

void walk(const fs::path& root, const std::string& rel, bool hash, Manifest& out,
          std::map<std::pair<dev_t, ino_t>, std::vector<std::string>>& inodes) {
  fs::path p = rel == "." ? root : root / rel;
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) throw_errno("lstat", p);
  out[rel] = entry_from_stat(p, st, hash);
  if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) inodes[{st.st_dev, st.st_ino}].push_back(rel);
  if (S_ISDIR(st.st_mode)) {
    for (const std::string& name : list_dir(p)) walk(root, join_rel(rel, name), hash, out, inodes);
  }
}

template <typename F>
void walk_stat(const fs::path& p, F&& f) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) throw_errno("lstat", p);
  f(p, st);
  if (S_ISDIR(st.st_mode))
    for (const std::string& name : list_dir(p)) walk_stat(p / name, f);
}

}  // namespace

// ---------------------------------------------------------------------------------------
TempDir::TempDir(std::string_view tag) {
  std::string tmpl = "/tmp/drctl-test-" + std::string(tag) + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw_errno("mkdtemp", tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  const char* keep = std::getenv("DRCTL_TEST_KEEP_TMP");
  if (keep && *keep && std::string(keep) != "0") {
    std::fprintf(stderr, "keeping %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  // Make everything writable/searchable first (root does not need it, but be safe).
  fs::remove_all(path_, ec);
  if (ec) std::fprintf(stderr, "warning: could not remove %s: %s\n", path_.c_str(), ec.message().c_str());
}

// ---------------------------------------------------------------------------------------
Rng::Rng(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

std::uint64_t Rng::uniform(std::uint64_t lo, std::uint64_t hi) {
  if (hi <= lo) return lo;
  std::uint64_t span = hi - lo + 1;
  if (span == 0) return next();
  return lo + next() % span;
}

double Rng::unit() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }

void Rng::fill(void* buf, std::size_t n) {
  auto* p = static_cast<unsigned char*>(buf);
  while (n >= 8) {
    std::uint64_t v = next();
    std::memcpy(p, &v, 8);
    p += 8;
    n -= 8;
  }
  if (n) {
    std::uint64_t v = next();
    std::memcpy(p, &v, n);
  }
}

std::string Rng::bytes(std::size_t n) {
  std::string s(n, '\0');
  fill(s.data(), n);
  return s;
}

std::uint64_t test_seed() {
  if (const char* s = std::getenv("DRCTL_TEST_SEED"); s && *s) return std::strtoull(s, nullptr, 0);
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

// ---------------------------------------------------------------------------------------
void write_file(const fs::path& p, std::string_view data, mode_t mode) {
  Fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.fd < 0) throw_errno("open", p);
  write_all(fd.fd, data.data(), data.size(), p);
}

void write_random_file(const fs::path& p, std::uint64_t size, Rng& rng, mode_t mode) {
  Fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (fd.fd < 0) throw_errno("open", p);
  std::string buf(std::min<std::uint64_t>(size, 1 * MiB), '\0');
  std::uint64_t left = size;
  while (left > 0) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size()));
    rng.fill(buf.data(), n);
    write_all(fd.fd, buf.data(), n, p);
    left -= n;
  }
}

std::string read_file(const fs::path& p) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.fd < 0) throw_errno("open", p);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", p);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string oracle_sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data.data(), data.size());
  return h.hex_digest();
}

std::string sha256_file(const fs::path& p) {
  Fd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (fd.fd < 0) throw_errno("open", p);
  Sha256 h;
  std::vector<char> buf(1 * MiB);
  for (;;) {
    ssize_t n = ::read(fd.fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read", p);
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<std::size_t>(n));
  }
  return h.hex_digest();
}

void set_mtime(const fs::path& p, std::int64_t sec, long nsec) {
  struct timespec ts[2];
  ts[0].tv_sec = static_cast<time_t>(sec);
  ts[0].tv_nsec = nsec;
  ts[1] = ts[0];
  if (::utimensat(AT_FDCWD, p.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0) throw_errno("utimensat", p);
}

struct stat lstat_or_throw(const fs::path& p) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) throw_errno("lstat", p);
  return st;
}

// ---------------------------------------------------------------------------------------
TreeInfo make_full_tree(const fs::path& root, const FullTreeOptions& opt) {
  make_root(root);
  Rng rng(opt.seed);
  TreeBuilder b(root, rng);
  b.info().root = root;

  // Regular files of varied sizes and content.
  b.dir("plain");
  b.file("plain/empty.txt", "");
  b.file("plain/one-byte", "x");
  b.random_file("plain/4095.bin", 4095);
  b.random_file("plain/4096.bin", 4096);
  b.random_file("plain/4097.bin", 4097);
  b.random_file("plain/64k.bin", 64 * KiB);
  std::string mb7 = rng.bytes(1 * MiB + 7);
  b.file("plain/1m+7.bin", mb7);
  b.file("plain/dup-of-1m+7.bin", mb7);  // same content, separate inode (dedup)
  b.random_file("plain/random-3m.bin", 3 * MiB, 0640);
  b.file("plain/text-2m.txt", compressible_text(2 * MiB, rng));
  b.file("plain/zeros-1m.bin", std::string(1 * MiB, '\0'));
  b.file("plain/text-small.txt", "hello, world\n");

  // Modes.
  b.dir("modes", 0750);
  b.file("modes/m0000", "no permissions\n", 0000);
  b.file("modes/m0400", "read only\n", 0400);
  b.file("modes/m0600", "private\n", 0600);
  b.file("modes/m0640", "group read\n", 0640);
  b.file("modes/m0755", "#!/bin/sh\necho hi\n", 0755);
  b.file("modes/m0777", "everyone\n", 0777);
  b.file("modes/setuid", "setuid\n", 04755);
  b.file("modes/setgid-file", "setgid\n", 02755);
  b.dir("modes/setgid-dir", 02775);
  b.file("modes/setgid-dir/inside", "in setgid dir\n", 0664);
  b.dir("modes/sticky-dir", 01777);
  b.file("modes/sticky-dir/tmpfile", "sticky\n", 0666);
  b.dir("modes/private-dir", 0700);
  b.dir("modes/noaccess-dir", 0000);
  b.file("modes/noaccess-dir/hidden", "behind a 0000 dir\n", 0644);

  // Names.
  b.dir("names");
  b.file("names/with space.txt", "spaces\n");
  b.file("names/ leading and trailing ", "lt\n");
  b.file("names/new\nline", "newline in name\n");
  b.file("names/tab\tname", "tab\n");
  b.file("names/back\\slash", "backslash\n");
  b.file("names/bad-\xff\xfe-utf8", "invalid utf-8 name\n");
  b.file("names/\xc3\x28-overlong-\xc0\xaf", "more invalid utf-8\n");
  b.file("names/\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac.txt", "utf-8 name\n");
  b.file("names/-starts-with-dash", "dash\n");
  b.file("names/*?[glob]'\"$x", "shell chars\n");
  b.file("names/.hidden", "hidden\n");
  b.file("names/..dotdot", "dotdot\n");
  b.file("names/" + std::string(250, 'n') + ".txt", "long name\n");
  b.dir("names/dir with space");
  b.file("names/dir with space/inner file", "inner\n");
  b.dir("names/bad-dir-\xff\x80");
  b.file("names/bad-dir-\xff\x80/inner\nnewline", "inner of invalid dir\n");

  // Symlinks.
  b.dir("links");
  b.symlink("../plain/64k.bin", "links/sym-rel");
  b.symlink("/nonexistent/absolute/target", "links/sym-abs");
  b.symlink("no-such-file", "links/dangling");
  b.symlink("../plain", "links/sym-dir");
  b.symlink("odd target\nwith newline \xff\xfe", "links/sym-odd");
  b.symlink(std::string(1000, 'x'), "links/sym-long");
  b.symlink("sym-loop", "links/sym-loop");
  b.symlink("../names/with space.txt", "links/sym to spaced");

  // Hard links: three names for one inode across directories, and a pair with xattrs.
  b.dir("hard");
  b.dir("hard/sub");
  b.dir("hard-other");
  b.random_file("hard/a", 100 * KiB, 0640);
  b.hardlink("hard/a", "hard/sub/b");
  b.hardlink("hard/a", "hard-other/c");
  b.file("hard/pair1", "pair content\n", 0600);
  b.hardlink("hard/pair1", "hard/pair2");
  b.xattr("hard/pair1", "user.shared", "both names see this");

  // Empty directories.
  b.dir("empty-dirs");
  b.dir("empty-dirs/e1");
  b.dir("empty-dirs/nested");
  b.dir("empty-dirs/nested/deeper");
  b.dir("empty-dirs/nested/deeper/e2", 0700);
  b.xattr("empty-dirs/nested/deeper/e2", "user.empty-dir", "yes");

  // Deep nesting.
  {
    std::string d = "deep";
    b.dir(d);
    for (int i = 1; i <= 12; ++i) {
      d += "/l" + std::to_string(i);
      b.dir(d);
    }
    b.file(d + "/leaf.txt", "deep leaf\n");
  }

  // Many small files in one directory.
  b.dir("many");
  for (int i = 0; i < 200; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "many/f%03d", i);
    if (i % 3 == 0)
      b.file(name, compressible_text(rng.uniform(1, 3000), rng));
    else
      b.random_file(name, rng.uniform(1, 2000));
  }

  // Special files (device nodes only where mknod is allowed).
  b.dir("special");
  b.fifo("special/fifo", 0640);
  if (opt.devices) {
    b.device("special/null-like", S_IFCHR, makedev(1, 3), 0666);
    b.device("special/block-like", S_IFBLK, makedev(7, 200), 0660);
  }

  // Extended attributes.
  b.dir("xattr");
  b.file("xattr/file-with-xattrs", "has xattrs\n");
  b.xattr("xattr/file-with-xattrs", "user.text", "hello");
  b.xattr("xattr/file-with-xattrs", "user.binary", std::string("\0\x01\xff\xfe\n bin\0", 10));
  b.xattr("xattr/file-with-xattrs", "user.empty", "");
  b.xattr("xattr/file-with-xattrs", "user.big", rng.bytes(1000));
  b.dir("xattr/dir-with-xattrs");
  b.xattr("xattr/dir-with-xattrs", "user.dir", "directory attribute");
  b.file("xattr/dir-with-xattrs/plain", "plain in xattr dir\n");

  // Times: nanoseconds, epoch, far future.
  b.dir("times");
  b.file("times/epoch-plus-1", "1970\n");
  b.mtime("times/epoch-plus-1", 1, 0);
  b.file("times/year-2100", "2100\n");
  b.mtime("times/year-2100", 4102444800, 1);
  b.file("times/ns-999999999", "ns\n");
  b.mtime("times/ns-999999999", 1700000000, 999999999);
  b.file("times/ns-1", "ns\n");
  b.mtime("times/ns-1", 1700000000, 1);

  // Sparse files.
  if (opt.sparse) {
    b.dir("sparse");
    std::uint64_t sz = opt.sparse_size;
    b.sparse("sparse/sparse-100m.img", sz,
             {{0, 4096}, {30 * MiB + 4096, 64 * KiB}, {70 * MiB + 12345, 1000}, {sz - 4096, 4096}});
    b.info().sparse_file = "sparse/sparse-100m.img";
    // Leading and trailing holes.
    b.sparse("sparse/sparse-tail-20m.img", 20 * MiB, {{5 * MiB + 100, 10000}});
  }

  b.finish(opt.ownership);

  if (opt.sparse) {
    struct stat st = lstat_or_throw(root / "sparse/sparse-100m.img");
    if (static_cast<std::uint64_t>(st.st_blocks) * 512 > 4 * MiB)
      throw std::runtime_error("test file system did not keep sparse file sparse");
  }
  return b.info();
}

TreeInfo make_random_tree(const fs::path& root, const RandomTreeOptions& opt) {
  make_root(root);
  Rng rng(opt.seed);
  TreeInfo info;
  info.root = root;
  int dirs = std::max(1, opt.dirs);
  for (int d = 0; d < dirs; ++d) {
    char name[16];
    std::snprintf(name, sizeof name, "d%02d", d);
    fs::create_directory(root / name);
  }
  for (int i = 0; i < opt.files; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "d%02d/f%05d.bin", i % dirs, i);
    std::uint64_t size = rng.uniform(opt.min_size, opt.max_size);
    write_random_file(root / name, size, rng);
    info.regular_files.push_back(name);
    info.content_bytes += size;
  }
  return info;
}

// ---------------------------------------------------------------------------------------
Entry scan_entry(const fs::path& p, bool hash_content) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) throw_errno("lstat", p);
  return entry_from_stat(p, st, hash_content);
}

Manifest scan_tree(const fs::path& root, bool hash_content) {
  Manifest out;
  std::map<std::pair<dev_t, ino_t>, std::vector<std::string>> inodes;
  walk(root, ".", hash_content, out, inodes);
  for (auto& [ino, paths] : inodes) {
    if (paths.size() < 2) continue;
    std::sort(paths.begin(), paths.end());
    for (const std::string& p : paths) out[p].hardlinks = paths;
  }
  return out;
}

std::vector<std::string> compare_entries(const std::string& name, const Entry& e, const Entry& a,
                                         const CompareOptions& opt) {
  std::vector<std::string> d;
  const std::string n = escape(name);
  if (e.type != a.type) {
    d.push_back(n + ": type: expected " + type_name(e.type) + ", got " + type_name(a.type));
    return d;
  }
  if (e.mode != a.mode && e.type != 'l')
    d.push_back(n + ": mode: expected " + fmt_mode(e.mode) + ", got " + fmt_mode(a.mode));
  if (opt.ownership && (e.uid != a.uid || e.gid != a.gid))
    d.push_back(n + ": owner: expected " + std::to_string(e.uid) + ":" + std::to_string(e.gid) +
                ", got " + std::to_string(a.uid) + ":" + std::to_string(a.gid));
  bool check_mtime = e.type == 'd' ? opt.dir_mtime : opt.mtime;
  if (check_mtime && e.mtime_ns != a.mtime_ns)
    d.push_back(n + ": mtime: expected " + fmt_time(e.mtime_ns) + ", got " + fmt_time(a.mtime_ns));
  if (e.type == 'f') {
    if (e.size != a.size)
      d.push_back(n + ": size: expected " + std::to_string(e.size) + ", got " + std::to_string(a.size));
    else if (!e.sha256.empty() && !a.sha256.empty() && e.sha256 != a.sha256)
      d.push_back(n + ": content differs (sha256 " + e.sha256.substr(0, 16) + "... vs " +
                  a.sha256.substr(0, 16) + "...)");
    if (opt.sparseness && e.sparse() && !a.sparse())
      d.push_back(n + ": not sparse: " + std::to_string(a.allocated) + " bytes allocated for " +
                  std::to_string(a.size) + " bytes (source had " + std::to_string(e.allocated) + ")");
  }
  if (e.type == 'l' && e.link_target != a.link_target)
    d.push_back(n + ": symlink target: expected \"" + escape(e.link_target) + "\", got \"" +
                escape(a.link_target) + "\"");
  if ((e.type == 'c' || e.type == 'b') && e.rdev != a.rdev)
    d.push_back(n + ": device number differs");
  if (opt.xattrs && e.xattrs != a.xattrs) {
    for (const auto& [k, v] : e.xattrs) {
      auto it = a.xattrs.find(k);
      if (it == a.xattrs.end())
        d.push_back(n + ": xattr " + escape(k) + " missing");
      else if (it->second != v)
        d.push_back(n + ": xattr " + escape(k) + ": expected \"" + escape(v.substr(0, 64)) +
                    "\" (" + std::to_string(v.size()) + " bytes), got \"" +
                    escape(it->second.substr(0, 64)) + "\" (" + std::to_string(it->second.size()) +
                    " bytes)");
    }
    for (const auto& [k, v] : a.xattrs)
      if (!e.xattrs.count(k)) d.push_back(n + ": unexpected xattr " + escape(k));
  }
  if (opt.hardlinks && e.hardlinks != a.hardlinks) {
    auto join = [](const std::vector<std::string>& v) {
      if (v.empty()) return std::string("(none)");
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + escape(x);
      return s;
    };
    d.push_back(n + ": hard links: expected [" + join(e.hardlinks) + "], got [" +
                join(a.hardlinks) + "]");
  }
  return d;
}

std::vector<std::string> compare_manifests(const Manifest& expected, const Manifest& actual,
                                           const CompareOptions& opt) {
  std::vector<std::string> d;
  for (const auto& [path, e] : expected) {
    if (path == "." && !opt.root) continue;
    auto it = actual.find(path);
    if (it == actual.end()) {
      d.push_back(escape(path) + ": missing (" + type_name(e.type) + ")");
      continue;
    }
    auto sub = compare_entries(path, e, it->second, opt);
    d.insert(d.end(), sub.begin(), sub.end());
  }
  for (const auto& [path, a] : actual)
    if (!expected.count(path)) d.push_back(escape(path) + ": unexpected (" + type_name(a.type) + ")");
  return d;
}

std::vector<std::string> compare_trees(const fs::path& expected, const fs::path& actual,
                                       const CompareOptions& opt) {
  struct stat st;
  if (::lstat(actual.c_str(), &st) != 0)
    return {"restored root " + escape(actual.string()) + " does not exist"};
  return compare_manifests(scan_tree(expected), scan_tree(actual), opt);
}

std::string escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

std::string join_diffs(const std::vector<std::string>& diffs, std::size_t max) {
  std::string s;
  for (std::size_t i = 0; i < diffs.size() && i < max; ++i) s += diffs[i] + "\n";
  if (diffs.size() > max) s += "... and " + std::to_string(diffs.size() - max) + " more\n";
  return s;
}

std::uint64_t disk_usage(const fs::path& root) {
  std::set<std::pair<dev_t, ino_t>> seen;
  std::uint64_t total = 0;
  walk_stat(root, [&](const fs::path&, const struct stat& st) {
    if (seen.insert({st.st_dev, st.st_ino}).second) total += static_cast<std::uint64_t>(st.st_blocks) * 512;
  });
  return total;
}

std::uint64_t apparent_size(const fs::path& root) {
  std::set<std::pair<dev_t, ino_t>> seen;
  std::uint64_t total = 0;
  walk_stat(root, [&](const fs::path&, const struct stat& st) {
    if (S_ISREG(st.st_mode) && seen.insert({st.st_dev, st.st_ino}).second)
      total += static_cast<std::uint64_t>(st.st_size);
  });
  return total;
}

std::vector<std::string> group_or_world_accessible(const fs::path& root) {
  std::vector<std::string> out;
  walk_stat(root, [&](const fs::path& p, const struct stat& st) {
    if (S_ISLNK(st.st_mode)) return;
    if (st.st_mode & 077) out.push_back(escape(p.string()) + " (" + fmt_mode(st.st_mode & 07777) + ")");
  });
  return out;
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint64_t seed) {
  std::vector<std::uint8_t> b(n);
  Rng(seed).fill(b.data(), n);
  return b;
}

void flip_byte(const fs::path& p, std::uint64_t offset) {
  const int fd = ::open(p.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("open " + p.string() + ": " + std::strerror(errno));
  unsigned char c = 0;
  const bool ok = ::pread(fd, &c, 1, static_cast<off_t>(offset)) == 1 && (c ^= 0x5a, ::pwrite(fd, &c, 1, static_cast<off_t>(offset)) == 1);
  ::close(fd);
  if (!ok) throw std::runtime_error("flip_byte " + p.string() + " at " + std::to_string(offset) + ": short read or write");
}

}  // namespace support
