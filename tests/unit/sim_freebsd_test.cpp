// The simulator's FreeBSD appliances (pfSense, TrueNAS CORE) against the real programs this
// machine has: bsdtar (libarchive-tools, FreeBSD's tar) and tcsh (the csh family root logs in
// with). What the simulated host prints is compared with what the real program prints for the
// same command, and with the fixtures kept from them in tests/fixtures/freebsd/.
#include <doctest/doctest.h>

#include <filesystem>

#include "capture/digest.hpp"
#include "sim/host.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/login_shell.hpp"

using namespace drctl;
using support::RunResult;

namespace {

const std::filesystem::path kFixtures = std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures/freebsd";

world::CommandResult run(sim::SimHost& h, const std::string& script) { return h.run({script, "", {}, {}, ""}); }

/// What sshd does on the simulated host with `line` (the login shell reads it) in `cwd`.
world::CommandResult login(sim::SimHost& h, const std::string& line, const std::string& cwd = "") {
  world::Command c = world::shell_command("(the script the line carries)");
  c.cwd = cwd;
  return h.login(line, c);
}

/// The real tcsh reading `line` as sshd has it read (`tcsh -c LINE`), in a scratch directory.
RunResult real_tcsh(const std::string& line, const std::filesystem::path& cwd) {
  support::RunOptions o;
  o.cwd = cwd.string();
  return support::run({"/usr/bin/tcsh", "-c", line}, o);
}

/// A FreeBSD host as an appliance image makes it.
struct Bsd {
  sim::Engine engine{1};
  sim::SimHost host{engine, "truenas"};
  Bsd() { host.set_os(sim::SimHost::Os::freebsd); }
};

}  // namespace

TEST_CASE("sim freebsd: uname says FreeBSD there and Linux elsewhere, and the host's system is learned from it") {
  Bsd bsd;
  sim::Engine e(1);
  sim::SimHost linux_host(e, "node");
  CHECK(run(bsd.host, "uname -s").out == "FreeBSD\n");
  CHECK(run(linux_host, "uname -s").out == "Linux\n");

  const world::HostSystem s = bsd.host.system();
  CHECK(s.kernel == "FreeBSD");
  CHECK(s.tar == world::HostSystem::Tar::bsdtar);
  CHECK(s.hasher == world::HostSystem::Hasher::sha256);
  const world::HostSystem l = linux_host.system();
  CHECK(l.kernel == "Linux");
  CHECK(l.tar == world::HostSystem::Tar::gnu);
  CHECK(l.hasher == world::HostSystem::Hasher::sha256sum);
}

TEST_CASE("sim freebsd: tar is bsdtar — GNU's --sparse is refused with bsdtar's own words and exit status") {
  Bsd bsd;
  bsd.host.put_file("/mnt/tank/mail/a", "mail\n", 0644);
  const std::string gnu_capture = "tar --format=pax --xattrs --sparse --numeric-owner -cf - -C /mnt/tank/mail .";
  const auto sim = run(bsd.host, gnu_capture);

  // The real bsdtar, called `tar` as on FreeBSD, on a real directory.
  support::TempDir t("bsdtar");
  std::filesystem::create_directories(t / "bin");
  std::filesystem::create_directories(t / "mail");
  std::filesystem::create_symlink("/usr/bin/bsdtar", t / "bin/tar");
  support::RunOptions o;
  o.cwd = t.path().string();
  const RunResult real = support::run({(t / "bin/tar").string(), "--format=pax", "--xattrs", "--sparse",
                                       "--numeric-owner", "-cf", "-", "-C", (t / "mail").string(), "."}, o);
  CHECK(real.exit_code == 1);
  CHECK(real.out.empty());
  CHECK(sim.exit_code == real.exit_code);
  CHECK(sim.out.empty());
  CHECK(sim.err == real.err);
  CHECK(sim.err == support::read_file(kFixtures / "bsdtar-3.6.2-sparse.stderr"));

  const RunResult version = support::run({(t / "bin/tar").string(), "--version"});
  CHECK(run(bsd.host, "tar --version").out == version.out);
  CHECK(version.out == support::read_file(kFixtures / "bsdtar-3.6.2-version.stdout"));

  // What drctl sends a bsdtar host is taken, and the GNU host still takes the GNU form.
  const world::HostSystem s = bsd.host.system();
  const auto ok = run(bsd.host, s.tar_create("/mnt/tank/mail"));
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.size() >= 1024);
  const RunResult real_ok = support::run({(t / "bin/tar").string(), "--format=pax", "--xattrs", "--numeric-owner", "-cf",
                                          "-", "-C", (t / "mail").string(), "."});
  CHECK(real_ok.exit_code == 0);
  sim::Engine e(1);
  sim::SimHost gnu(e, "node");
  gnu.put_file("/d/a", "x", 0644);
  CHECK(run(gnu, gnu_capture.substr(0, gnu_capture.find(" -C ")) + " -C /d .").exit_code == 0);
}

TEST_CASE("sim freebsd: sha256 exists and sha256sum does not, as FreeBSD 13's sh reports it") {
  Bsd bsd;
  bsd.host.put_file("/etc/motd", "hi\n", 0644);
  const auto missing = run(bsd.host, "sha256sum /etc/motd");
  CHECK(missing.exit_code == 127);
  CHECK(missing.err == "sha256sum: not found\n");
  CHECK(run(bsd.host, "command -v sha256sum").exit_code == 1);
  CHECK(run(bsd.host, "command -v sha256").out == "/sbin/sha256\n");
  // SHA-256 of "hi\n", as sha256sum here computes it.
  const std::string hash = "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4";
  CHECK(run(bsd.host, "sha256 -r /etc/motd").out == hash + " /etc/motd\n");
  CHECK(run(bsd.host, "sha256 /etc/motd").out == "SHA256 (/etc/motd) = " + hash + "\n");
  CHECK(run(bsd.host, "sha256 -q /etc/motd").out == hash + "\n");

  // find -exec runs the tool as the host has it: GNU's is not there.
  bsd.host.put_file("/mnt/tank/d/a", "hi\n", 0644);
  bsd.host.put_file("/mnt/tank/d/sub/b", "", 0600);
  const auto gnu = run(bsd.host, "find /mnt/tank/d -type f -exec sha256sum {} +");
  CHECK(gnu.exit_code == 1);
  CHECK(gnu.err == "find: sha256sum: No such file or directory\n");
  CHECK(run(bsd.host, "find /mnt/tank/d -printf '%p\\n'").err == "find: -printf: unknown primary or operator\n");

  // verify.data's hashing on the host: what the host's system takes, read back per file.
  const auto digests = capture::host_digests(bsd.host, "/mnt/tank/d", world::Duration(1000));
  CHECK(digests.size() == 2);
  CHECK(digests.at("a") == hash);
  CHECK(digests.at("sub/b") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("sim freebsd: stat is BSD's (-f, no -c)") {
  Bsd bsd;
  bsd.host.put_file("/cf/conf/config.xml", "<pfsense/>", 0640);
  const auto gnu = run(bsd.host, "stat -c %a /cf/conf/config.xml");
  CHECK(gnu.exit_code == 1);
  CHECK(gnu.err.rfind("stat: illegal option -- c\n", 0) == 0);
  CHECK(run(bsd.host, bsd.host.system().file_mode("/cf/conf/config.xml")).out == "640\n");
  sim::Engine e(1);
  sim::SimHost node(e, "node");
  node.put_file("/etc/x", "", 0600);
  CHECK(run(node, node.system().file_mode("/etc/x")).out == "600\n");
}

TEST_CASE("sim freebsd: the login shell is tcsh — sh-only syntax fails as the real tcsh fails it") {
  Bsd bsd;
  support::TempDir t("tcsh");
  bsd.host.put_file("/data/f", "x\n", 0644);
  // Each line: what the simulated tcsh and the real one print and exit with.
  for (const std::string& line : {std::string("ls /nonexistent > /dev/null 2>&1"), std::string("cat /data/f 2>&1 | cat"),
                                 std::string("echo '!x'"), std::string("echo 'a\nb'"), std::string("echo \"a\nb\"")}) {
    CAPTURE(line);
    const RunResult real = real_tcsh(line, t.path());
    const auto sim = login(bsd.host, line);
    CHECK(sim.exit_code == real.exit_code);
    CHECK(sim.err == real.err);
    CHECK(sim.out == real.out);
  }
  // `2>&1` alone: the word 2 and both outputs into a file named 1.
  const RunResult real = real_tcsh("echo hi 2>&1", t.path());
  CHECK(real.exit_code == 0);
  CHECK(support::read_file(t / "1") == "hi 2\n");
  const auto sim = login(bsd.host, "echo hi 2>&1", "/data");
  CHECK(sim.exit_code == 0);
  CHECK(bsd.host.get_file("/data/1") == "hi 2\n");
}

TEST_CASE("sim freebsd: the line drctl sends runs the script with sh under tcsh and sh alike") {
  // Newlines, `!`, quotes, backslashes, $? and 2>&1: everything csh would mangle.
  const std::string script =
      "x='it'\\''s'; echo \"$x\"\n"
      "! false && echo 'not !false'\n"
      "printf '%s\\n' 'back\\slash'\n"
      "cat /nonexistent >/dev/null 2>&1; echo \"status $?\"\n";
  const std::string line = world::any_login_shell_line(script);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find('!') == std::string::npos);
  const std::string expected = "it's\nnot !false\nback\\slash\nstatus 1\n";

  support::TempDir t("any-shell");
  for (const char* shell : {"/usr/bin/tcsh", "/bin/sh", "/bin/bash"}) {
    CAPTURE(shell);
    const RunResult real = support::run({shell, "-c", line});
    CHECK(real.exit_code == 0);
    CHECK(real.err.empty());
    CHECK(real.out == expected);
  }
  Bsd bsd;
  const auto csh = login(bsd.host, line);
  CHECK(csh.exit_code == 0);
  CHECK(csh.err.empty());
  CHECK(csh.out == expected);
  sim::Engine e(1);
  sim::SimHost node(e, "node");
  const auto sh = login(node, line);
  CHECK(sh.exit_code == 0);
  CHECK(sh.out == csh.out);

  // The same script sent bare (as a client that does not wrap it would) breaks under tcsh.
  CHECK(login(bsd.host, script).exit_code != 0);
}

TEST_CASE("sim freebsd: the system probe reads the real programs as it reads the simulated ones") {
  // The probe run by the real sh with a PATH like the appliance's (tar → bsdtar, a `sha256`, no
  // sha256sum) and with this machine's own PATH (GNU tar, sha256sum).
  support::TempDir t("probe");
  std::filesystem::create_directories(t / "bin");
  std::filesystem::create_symlink("/usr/bin/bsdtar", t / "bin/tar");
  std::filesystem::create_symlink("/usr/bin/uname", t / "bin/uname");
  support::write_file(t / "bin/sha256", "#!/bin/sh\nexit 0\n", 0755);
  support::RunOptions bsd_path;
  bsd_path.env["PATH"] = (t / "bin").string();
  const RunResult bsd = support::run({"/bin/sh", "-c", world::system_probe_script()}, bsd_path);
  REQUIRE(bsd.exit_code == 0);
  const auto learned = world::parse_system_probe(bsd.out);
  REQUIRE(learned);
  CHECK(learned->tar == world::HostSystem::Tar::bsdtar);
  CHECK(learned->hasher == world::HostSystem::Hasher::sha256);
  CHECK(learned->kernel == "Linux");

  const RunResult gnu = support::run({"/bin/sh", "-c", world::system_probe_script()});
  const auto here = world::parse_system_probe(gnu.out);
  REQUIRE(here);
  CHECK(here->tar == world::HostSystem::Tar::gnu);
  CHECK(here->hasher == world::HostSystem::Hasher::sha256sum);
  CHECK_FALSE(world::parse_system_probe("ssh: nas: Connection refused\n"));

  // And what the simulated FreeBSD host answers to it is what a FreeBSD host would.
  Bsd sim_bsd;
  const auto sim_out = run(sim_bsd.host, world::system_probe_script());
  CHECK(sim_out.exit_code == 0);
  const auto sim_learned = world::parse_system_probe(sim_out.out);
  REQUIRE(sim_learned);
  CHECK(sim_learned->tar == learned->tar);
  CHECK(sim_learned->hasher == learned->hasher);
}
