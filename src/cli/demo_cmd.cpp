// `drctl demo`: a tour of the snapshot store — back up a generated sample tree, change it, back
// it up again, verify the repository and restore, then check the restore is identical. (The
// built-in default job is the total-loss drill, README.md.)
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>

#include "capture/nas.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "store/checker.hpp"
#include "base/error.hpp"
#include "store/files.hpp"
#include "store/lock.hpp"
#include "store/restorer.hpp"

namespace drctl::cli {

using namespace drctl::store;

namespace {

void write_text(const fs::path& p, const std::string& s) {
  Fd fd = open_or_throw(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  write_all(fd.get(), std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()), p);
}

/// A small NAS-like tree: documents, photos (random bytes), a sparse disk image, links.
void generate(const fs::path& root, std::mt19937_64& rng) {
  const char* words[] = {"backup", "restore", "cluster", "ingress", "metallb", "pfsense", "truenas", "pxe"};
  for (int d = 0; d < 8; ++d) {
    fs::path dir = root / "documents" / ("project-" + std::to_string(d));
    fs::create_directories(dir);
    for (int f = 0; f < 25; ++f) {
      std::string text;
      for (int w = 0; w < 400 + static_cast<int>(rng() % 4000); ++w) text += std::string(words[rng() % 8]) + " ";
      write_text(dir / ("notes " + std::to_string(f) + ".txt"), text);
    }
  }
  fs::create_directories(root / "photos");
  for (int f = 0; f < 12; ++f) {
    std::string bytes(256 * 1024 + rng() % (2 << 20), '\0');
    for (auto& c : bytes) c = static_cast<char>(rng());
    write_text(root / "photos" / ("IMG_" + std::to_string(1000 + f) + ".jpg"), bytes);
  }
  fs::create_directories(root / "vm");
  {
    Fd fd = open_or_throw(root / "vm" / "disk.img", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (::ftruncate(fd.get(), 64 << 20) != 0) throw_errno("cannot size", root / "vm" / "disk.img", errno);
    std::string boot(4096, 'B');
    pwrite_all(fd.get(), std::span(reinterpret_cast<const std::uint8_t*>(boot.data()), boot.size()), 0, "disk.img");
  }
  fs::create_directories(root / "empty");
  fs::create_symlink("documents/project-0", root / "latest-project");
  fs::create_hard_link(root / "photos" / "IMG_1000.jpg", root / "documents" / "cover.jpg");
}

/// Content and mode of every regular file and symlink under `a` equal those under `b`.
std::size_t compare(const fs::path& a, const fs::path& b) {
  std::size_t checked = 0;
  for (const auto& e : fs::recursive_directory_iterator(a)) {
    fs::path rel = e.path().lexically_relative(a);
    fs::path other = b / rel;
    struct stat sa, sb;
    if (::lstat(e.path().c_str(), &sa) != 0 || ::lstat(other.c_str(), &sb) != 0)
      throw Failure("demo: " + rel.string() + " is missing from the restore");
    if (sa.st_mode != sb.st_mode) throw Failure("demo: " + rel.string() + " has another type or mode after restore");
    if (S_ISREG(sa.st_mode) && read_file(e.path()) != read_file(other))
      throw Failure("demo: " + rel.string() + " has other content after restore");
    if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)
      throw Failure("demo: " + rel.string() + " has another mtime after restore");
    ++checked;
  }
  return checked;
}

int run_demo(std::string dir, bool keep) {
  bool made = dir.empty();
  if (made) {
    char tmpl[] = "/tmp/drctl-demo-XXXXXX";
    if (!::mkdtemp(tmpl)) throw_errno("cannot create", "/tmp/drctl-demo-XXXXXX", errno);
    dir = tmpl;
  }
  const fs::path root = dir, data = root / "nas-data", repo_path = root / "repo", target = root / "restore";
  if (fs::exists(repo_path) || fs::exists(data)) throw InputError(dir + " already holds a demo; pick an empty --dir");
  std::mt19937_64 rng(2026);
  auto step = [](const std::string& s) { std::printf("==> %s\n", s.c_str()); std::fflush(stdout); };

  step("generating a sample NAS tree in " + data.string());
  generate(data, rng);
  step("drctl snapshot init --repo " + repo_path.string());
  Repository::init(repo_path, RepoConfig{});
  Repository repo(repo_path);
  capture::Progress progress;
  std::optional<Id> parent;
  for (int round = 1; round <= 2; ++round) {
    if (round == 2) {
      step("changing a few files");
      write_text(data / "documents" / "project-3" / "notes 7.txt", "rewritten after the first backup\n");
      write_text(data / "documents" / "new-file.txt", "added after the first backup\n");
    }
    step("drctl snapshot create --nas data=" + data.string());
    RepoLock lock = RepoLock::acquire(repo_path, std::chrono::seconds(5), warn);
    auto before = repo.added_bytes();
    auto t0 = std::chrono::steady_clock::now();
    auto result = capture::capture_nas(repo, "nas/data", data.string(), parent, progress, warn);
    repo.flush();
    Snapshot snap;
    snap.host = local_hostname();
    snap.time = precise_utc_now();
    snap.sections.push_back(result.section);
    snap.added_bytes = repo.added_bytes() - before;
    repo.save_snapshot(snap);
    parent = result.section.tree;
    std::printf("    snapshot %s: %llu files, %s, %s added in %.2fs\n", snap.id.short_hex().c_str(),
                static_cast<unsigned long long>(result.section.files), human_bytes(result.section.bytes).c_str(),
                human_bytes(snap.added_bytes).c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  step("drctl snapshot verify --read-data");
  auto report = verify_repository(repo, true);
  if (!report.ok()) throw Failure("demo: verify found damage: " + report.errors.front());
  std::printf("    %llu blobs re-hashed, no damage\n", static_cast<unsigned long long>(report.blobs_checked));
  step("drctl snapshot restore latest --section nas/data --to " + target.string());
  fs::create_directories(target);
  RestoreStats stats;
  restore_tree(repo, *parent, target.string(), {}, stats, warn);
  if (!stats.errors.empty()) throw Failure("demo: restore failed: " + stats.errors.front());
  std::size_t checked = compare(data, target);
  step("restore is identical to the source (" + std::to_string(checked) + " entries compared)");
  if (made && !keep) fs::remove_all(root);
  else std::printf("    kept everything in %s\n", dir.c_str());
  return kOk;
}

}  // namespace

void add_demo_command(CLI::App& app, Action& run) {
  auto dir = std::make_shared<std::string>();
  auto keep = std::make_shared<bool>(false);
  auto* demo = app.add_subcommand("demo", "A tour of the snapshot store: back up, verify and restore a generated sample tree");
  demo->add_option("--dir", *dir, "Work in this empty directory (default: a temporary one, removed afterwards)");
  demo->add_flag("--keep", *keep, "Keep the temporary directory");
  demo->callback([&run, dir, keep] { run = [=] { return run_demo(*dir, *keep); }; });
}

}  // namespace drctl::cli
