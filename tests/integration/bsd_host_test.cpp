// A NAS that is a FreeBSD appliance as far as drctl can tell (issue 15, acceptance 3): a private
// sshd on 127.0.0.1 whose commands find, on a PATH of their own (sshd's SetEnv), `tar` as bsdtar
// (libarchive-tools: the tar of FreeBSD), `sha256` and no `sha256sum`. The NAS capture over SSH,
// `snapshot restore --to ssh://`, nas.restore and verify.data give the same trees as against a
// GNU tar host — every file kind, xattrs, holes, hard links, checked against the file system.
// The same again with root's login shell tcsh (a passwd naming /usr/bin/tcsh, bind-mounted over
// /etc/passwd in the server's own mount namespace: nothing outside the test sees it, nothing to
// clean up), which reads the line sshd gets with csh's rules.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <string>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;

namespace {

/// The stand-in for FreeBSD's sha256(1) -r ("HASH NAME" per file, the name as it is, exit 1
/// when one cannot be read), written over `openssl dgst`; only what drctl uses of it.
constexpr const char* kSha256StandIn =
    "#!/bin/sh\n"
    "# Stand-in for FreeBSD's sha256 -r (tests/integration/bsd_host_test.cpp).\n"
    "[ \"$1\" = -r ] || { echo 'sha256 stand-in: only -r' >&2; exit 64; }\n"
    "shift; status=0\n"
    "for f in \"$@\"; do\n"
    "  if h=$(/usr/bin/openssl dgst -sha256 -r < \"$f\"); then printf '%s %s\\n' \"${h%% *}\" \"$f\"\n"
    "  else echo \"sha256: $f: No such file or directory\" >&2; status=1; fi\n"
    "done\n"
    "exit $status\n";

/// A directory with what the appliance's commands may find: tar is bsdtar, sha256 the stand-in,
/// the POSIX tools drctl's scripts use; no sha256sum (PATH holds nothing else: /bin is /usr/bin).
fs::path freebsd_bin(const fs::path& dir) {
  fs::create_directories(dir);
  fs::create_symlink("/usr/bin/bsdtar", dir / "tar");
  for (const char* tool : {"mkdir", "find", "ls", "cat", "uname", "sleep", "rm", "touch", "openssl"})
    fs::create_symlink(fs::path("/usr/bin") / tool, dir / tool);
  write_file(dir / "sha256", kSha256StandIn, 0755);
  return dir;
}

/// /etc/passwd with root's login shell made tcsh.
fs::path passwd_with_tcsh_root(const fs::path& file) {
  std::ifstream in("/etc/passwd");
  std::ostringstream out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("root:", 0) == 0) line = line.substr(0, line.rfind(':') + 1) + "/usr/bin/tcsh";
    out << line << "\n";
  }
  write_file(file, out.str(), 0644);
  return file;
}



/// A site whose host `nas` is `sshd`.
fs::path site_for(const Sshd& sshd, const fs::path& file) {
  write_file(file, "name: lab\nhosts:\n  nas:\n    address: 127.0.0.1\n    port: " + std::to_string(sshd.port()) +
                       "\n    user: " + sshd.user() + "\n    identity_file: " + sshd.client_key().string() +
                       "\n    known_hosts_file: " + sshd.known_hosts().string() + "\n");
  return file;
}

/// What the host's sh says to `script` when the ssh client hands the login shell a line
/// csh and sh read alike.
RunResult over_ssh(const fs::path& config, const std::string& script) {
  return run({"ssh", "-F", config.string(), "-o", "BatchMode=yes", "nas", "/bin/sh -c '" + script + "'"});
}

/// Everything drctl does with a NAS's data, against the FreeBSD-like host, compared with a GNU tar host.
void check_freebsd_like_host(bool tcsh_login) {
  TempDir t(tcsh_login ? "bsd-host-tcsh" : "bsd-host");
  SshdPlace bsd_place;
  bsd_place.extra_config = {"SetEnv PATH=" + freebsd_bin(t / "bin").string()};
  if (tcsh_login) bsd_place.bind_mounts = {{passwd_with_tcsh_root(t / "passwd").string(), "/etc/passwd"}};
  Sshd bsd(bsd_place);
  Sshd gnu;
  const fs::path bsd_config = write_client_config(bsd, t / "bsd_ssh_config");
  const fs::path gnu_config = write_client_config(gnu, t / "gnu_ssh_config");

  // The host is what it should be: bsdtar, sha256, no sha256sum, and the login shell asked for.
  RunResult tools = over_ssh(bsd_config, "tar --version; command -v sha256; command -v sha256sum || echo no-sha256sum");
  REQUIRE_MESSAGE(tools.exit_code == 0, tools.describe());
  CHECK(tools.out.rfind("bsdtar 3.", 0) == 0);
  CHECK(tools.out.find((t / "bin/sha256").string()) != std::string::npos);
  CHECK(tools.out.find("no-sha256sum") != std::string::npos);
  RunResult shell = run({"ssh", "-F", bsd_config.string(), "-o", "BatchMode=yes", "nas", "echo $shell"});
  CHECK(shell.out == (tcsh_login ? "/usr/bin/tcsh\n" : "\n"));  // $shell is csh's own variable

  make_full_tree(t / "tree", {.seed = 31, .sparse_size = 8 * MiB});
  const fs::path repo = t / "repo";
  init_repo(repo, small_chunks());

  // The NAS capture over SSH: the same snapshot tree as from the GNU tar host.
  RunResult from_gnu = drctl({"snapshot", "create", "--repo", repo.string(), "--nas", "data=ssh://nas" + (t / "tree").string(),
                              "--ssh-config", gnu_config.string()});
  REQUIRE_MESSAGE(from_gnu.exit_code == 0, from_gnu.describe());
  RunResult from_bsd = drctl({"snapshot", "create", "--repo", repo.string(), "--nas", "data=ssh://nas" + (t / "tree").string(),
                              "--ssh-config", bsd_config.string()});
  REQUIRE_MESSAGE(from_bsd.exit_code == 0, from_bsd.describe());
  const std::string gnu_id = parse_snapshot_id(from_gnu.out), bsd_id = parse_snapshot_id(from_bsd.out);
  RunResult ls_gnu = drctl({"snapshot", "ls", gnu_id, "nas/data", "--repo", repo.string()});
  RunResult ls_bsd = drctl({"snapshot", "ls", bsd_id, "nas/data", "--repo", repo.string()});
  CHECK(ls_gnu.exit_code == 0);
  CHECK(ls_bsd.out == ls_gnu.out);
  restore_section(repo, bsd_id, "nas/data", t / "from-bsd");
  auto d = compare_trees(t / "tree", t / "from-bsd");
  CHECK_MESSAGE(d.empty(), "the capture through bsdtar differs from its source:\n" << join_diffs(d));

  // snapshot restore --to ssh://: bsdtar unpacks the stream.
  RunResult to_ssh = drctl({"snapshot", "restore", bsd_id, "--repo", repo.string(), "--section", "nas/data", "--to",
                            "ssh://nas" + (t / "to-ssh").string(), "--ssh-config", bsd_config.string()});
  REQUIRE_MESSAGE(to_ssh.exit_code == 0, to_ssh.describe());
  d = compare_trees(t / "tree", t / "to-ssh");
  CHECK_MESSAGE(d.empty(), "the restore through bsdtar differs from the source:\n" << join_diffs(d));

  // nas.restore and verify.data in a runbook (hashed on the host with sha256).
  const fs::path site = site_for(bsd, t / "site.yaml");
  const fs::path target = t / "restored";
  write_file(t / "restore.yaml", "site: site.yaml\nsteps:\n"
                                 "  - id: restore\n    on: nas\n    uses: nas.restore\n"
                                 "    with: {repo: " + repo.string() + ", snapshot: " + bsd_id + ", section: nas/data, path: \"" +
                                     target.string() + "\"}\n"
                                 "  - id: verify\n    on: nas\n    needs: restore\n    uses: verify.data\n"
                                 "    with: {repo: " + repo.string() + ", snapshot: " + bsd_id + ", section: nas/data, path: \"" +
                                     target.string() + "\"}\n");
  RunResult restore = drctl({"run", (t / "restore.yaml").string(), "--state", (t / "state-restore").string()});
  REQUIRE_MESSAGE(restore.exit_code == 0, restore.describe());
  d = compare_trees(t / "tree", target);
  CHECK_MESSAGE(d.empty(), "nas.restore through bsdtar differs from the source:\n" << join_diffs(d));

  // verify.data has teeth on this host: one changed file (its name holds a newline, which
  // sha256 -r prints as it is) fails the check, naming it.
  fs::path victim;
  for (const auto& e : fs::recursive_directory_iterator(target))
    if (fs::is_regular_file(e.symlink_status()) && e.path().filename().string().find('\n') != std::string::npos)
      victim = e.path();
  REQUIRE_MESSAGE(!victim.empty(), "make_full_tree has a file whose name holds a newline");
  write_file(victim, "changed on the NAS\n");
  write_file(t / "verify.yaml", "site: site.yaml\nsteps:\n"
                                "  - id: verify\n    on: nas\n    uses: verify.data\n"
                                "    with: {repo: " + repo.string() + ", snapshot: " + bsd_id + ", section: nas/data, path: \"" +
                                    target.string() + "\"}\n");
  RunResult bad = drctl({"run", (t / "verify.yaml").string(), "--state", (t / "state-verify").string()});
  CHECK(bad.exit_code == 1);
  CHECK_MESSAGE(bad.err.find("1 changed") != std::string::npos, bad.describe());
  CHECK_MESSAGE(bad.err.find("missing") == std::string::npos, bad.describe());
}

}  // namespace

TEST_CASE("bsd host: capture, restore --to ssh, nas.restore and verify.data against bsdtar without sha256sum") {
  check_freebsd_like_host(false);
}

TEST_CASE("bsd host: the same with root's login shell tcsh") { check_freebsd_like_host(true); }
