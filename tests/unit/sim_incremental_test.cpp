// The incremental capture path (capture/remote_tree.hpp) against simulated hosts: their files
// have inodes, mtimes and ctimes on the simulator's clock, GNU/Linux hosts answer drctl's
// `find . -printf` listing and FreeBSD hosts its `find -print0 | xargs -0 sh -c '…stat -f…'`,
// and both tars take the NUL-separated -T list. The oracle for "what was read" is the simulated
// host's own disk accounting (SimHost::io), not drctl's counters; for "what was captured", a
// restore compared with the simulated directory byte for byte. The listing's shape is checked
// against the real GNU find on this machine, the sh `for` loop and xargs against the real dash
// and xargs.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <chrono>
#include <map>
#include <regex>
#include <thread>

#include "base/shell.hpp"
#include "capture/remote.hpp"
#include "capture/remote_tree.hpp"
#include "drill/runner.hpp"
#include "drill/scenario.hpp"
#include "sim/engine.hpp"
#include "sim/host.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/host_system.hpp"

using namespace drctl;
using namespace std::chrono_literals;
using Os = sim::SimHost::Os;

namespace {

const char* os_name(Os os) { return os == Os::freebsd ? "FreeBSD" : "GNU/Linux"; }

/// A file's bytes and permission bits.
using Tree = std::map<std::string, std::pair<std::string, unsigned>>;

/// A simulated NAS with a repository beside it.
struct Nas {
  support::TempDir tmp{"sim-incremental"};
  sim::Engine engine{1};
  sim::SimHost host{engine, "nas"};
  store::Repository repo = [this] {
    store::Repository::init(tmp / "repo", store::RepoConfig{});
    return store::Repository(tmp / "repo");
  }();
  std::vector<std::string> warnings;

  explicit Nas(Os os) { host.set_os(os); }

  world::CommandResult sh(const std::string& script) { return host.run(world::shell_command(script)); }
  void ok(const std::string& script) {
    const auto r = sh(script);
    REQUIRE_MESSAGE(r.exit_code == 0, (script + ": " + r.err));
  }
  /// Lets virtual time pass, as it does between a night's backup and the next day's changes.
  void later() { engine.run_for(60s); }

  struct Capture {
    capture::NasResult result;
    std::int64_t read = 0;  // bytes the host read from its disk while it was captured
  };
  Capture capture(const std::optional<store::Id>& parent = std::nullopt) {
    capture::Progress progress;
    const std::int64_t before = host.io().disk;
    Capture c{capture::capture_host_dir(repo, "nas/data", "nas:/data", host, "/data", progress,
                                        [&](const std::string& w) { warnings.push_back(w); }, parent),
              0};
    c.read = host.io().disk - before;
    repo.flush();
    return c;
  }

  /// Every file under `dir` as the simulated host holds it, by path relative to `dir`.
  Tree tree(const std::string& dir) {
    Tree out;
    host.for_each_file([&](const std::string& path, const std::string& content, unsigned mode) {
      if (path.rfind(dir + "/", 0) == 0) out[path.substr(dir.size() + 1)] = {content, mode};
    });
    return out;
  }
  /// `section` restored through the host's own tar -x into a fresh directory, as it reads there.
  Tree restored(const store::Section& section, const std::string& into) {
    capture::restore_host_dir(repo, section, host, into);
    return tree(into);
  }
};

/// A small dataset: files in nested directories, of several sizes.
void fill(Nas& nas) {
  nas.host.put_file("/data/a.txt", std::string(1000, 'a'), 0644);
  nas.host.put_file("/data/b.bin", std::string(3000, 'b'), 0600);
  nas.host.put_file("/data/docs/c.md", std::string(500, 'c'), 0644);
  nas.host.put_file("/data/docs/deep/d", std::string(700, 'd'), 0640);
  nas.host.put_file("/data/mail/e", std::string(1200, 'e'), 0644);
  nas.host.put_file("/data/mail/f", "", 0644);
}

std::int64_t bytes_of(const Tree& t) {
  std::int64_t n = 0;
  for (const auto& [path, file] : t) n += static_cast<std::int64_t>(file.first.size());
  return n;
}

bool listed_by(Nas& nas, const std::string& what) {
  for (const auto& e : nas.engine.events())
    if (e.value("event", "") == "command" && e.value("script", "").find(what) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("sim incremental: a second capture of an unchanged directory reads no file data, GNU/Linux and FreeBSD") {
  for (const Os os : {Os::gnu_linux, Os::freebsd}) {
    CAPTURE(os_name(os));
    Nas nas(os);
    fill(nas);
    const Tree source = nas.tree("/data");
    const auto first = nas.capture();
    CHECK(first.read == bytes_of(source));  // the oracle reads: the first capture read every byte
    nas.later();
    const auto second = nas.capture(first.result.section.tree);
    CHECK(nas.warnings.empty());
    CHECK(second.read == 0);
    // The listing the host answered is its own kind's; the tar was asked by name.
    CHECK(listed_by(nas, os == Os::freebsd ? "xargs -0 sh -c" : "find . -printf"));
    CHECK(listed_by(nas, "--null"));
    CHECK(second.result.section.files == first.result.section.files);
    CHECK(nas.restored(second.result.section, "/back") == source);
    // tar -x sets the mtimes it read, a directory's once its entries are written.
    for (const char* path : {"a.txt", "docs/deep/d", "docs", "docs/deep"})
      CHECK(nas.host.meta(std::string("/back/") + path)->mtime_ns == nas.host.meta(std::string("/data/") + path)->mtime_ns);
  }
}

TEST_CASE("sim incremental: a changed, an added, a deleted and a renamed file, and only the changed and new names read") {
  for (const Os os : {Os::gnu_linux, Os::freebsd}) {
    CAPTURE(os_name(os));
    Nas nas(os);
    fill(nas);
    const auto first = nas.capture();
    nas.later();
    // Same size, new bytes: only mtime, ctime (and the bytes) tell.
    nas.host.put_file("/data/docs/c.md", std::string(500, 'C'), 0644);
    nas.ok("echo new file >/data/mail/new");
    nas.ok("rm /data/b.bin");
    nas.ok("mv /data/mail/e /data/docs/e-moved");
    nas.later();
    const Tree source = nas.tree("/data");
    const auto second = nas.capture(first.result.section.tree);
    CHECK(nas.warnings.empty());
    // What was read: the changed file, the new one, and the renamed one under its new name (the
    // plan compares by path, as restic does: a name it has not seen is read).
    CHECK(second.read == 500 + static_cast<std::int64_t>(std::string("new file\n").size()) + 1200);
    const Tree back = nas.restored(second.result.section, "/back");
    CHECK(back == source);
    CHECK_FALSE(back.contains("b.bin"));
    CHECK(back.at("docs/c.md").first == std::string(500, 'C'));
    CHECK(back.contains("docs/e-moved"));
    CHECK_FALSE(back.contains("mail/e"));
  }
}

TEST_CASE("sim incremental: a chmod or a chown alone moves ctime, and the file is read again with its new mode and owner") {
  for (const Os os : {Os::gnu_linux, Os::freebsd}) {
    CAPTURE(os_name(os));
    Nas nas(os);
    fill(nas);
    const auto first = nas.capture();
    nas.later();
    const auto before = *nas.host.meta("/data/a.txt");
    nas.ok("chmod 600 /data/a.txt");
    const auto after = *nas.host.meta("/data/a.txt");
    CHECK(after.mtime_ns == before.mtime_ns);
    CHECK(after.ctime_ns > before.ctime_ns);
    CHECK(after.inode == before.inode);
    nas.ok("chown 1001:1002 /data/docs/deep/d");
    CHECK(nas.host.meta("/data/docs/deep/d")->ctime_ns == after.ctime_ns);  // the same virtual moment
    nas.later();
    const auto second = nas.capture(first.result.section.tree);
    CHECK(second.read == 1000 + 700);
    const Tree back = nas.restored(second.result.section, "/back");
    CHECK(back.at("a.txt").second == 0600u);
    CHECK(back == nas.tree("/data"));
    CHECK(nas.host.meta("/back/docs/deep/d")->uid == 1001u);
    CHECK(nas.host.meta("/back/docs/deep/d")->gid == 1002u);
    CHECK(nas.host.meta("/back/a.txt")->uid == 0u);
  }
}

TEST_CASE("sim incremental: inodes are unique, kept by writes and renames, new for a new file, and times move as on Linux") {
  Nas nas(Os::gnu_linux);
  nas.ok("mkdir -p /data/d && echo one >/data/d/x && echo two >/data/d/y");
  const auto x = *nas.host.meta("/data/d/x"), y = *nas.host.meta("/data/d/y"), d = *nas.host.meta("/data/d");
  CHECK(x.inode != y.inode);
  CHECK(x.inode != d.inode);
  nas.later();
  nas.ok("echo again >>/data/d/x");  // a write: the same inode, mtime and ctime move
  const auto x2 = *nas.host.meta("/data/d/x");
  CHECK(x2.inode == x.inode);
  CHECK(x2.mtime_ns > x.mtime_ns);
  CHECK(x2.ctime_ns == x2.mtime_ns);
  CHECK(nas.host.meta("/data/d")->mtime_ns == d.mtime_ns);  // no entry added or removed
  nas.later();
  nas.ok("mv /data/d/x /data/d/z");  // a rename: the inode and mtime go with it, ctime moves
  const auto z = *nas.host.meta("/data/d/z");
  CHECK(z.inode == x.inode);
  CHECK(z.mtime_ns == x2.mtime_ns);
  CHECK(z.ctime_ns > x2.ctime_ns);
  CHECK(nas.host.meta("/data/d")->mtime_ns > d.mtime_ns);  // its directory changed
  nas.later();
  nas.ok("rm /data/d/z && echo one >/data/d/x");  // a new file under the old name: a new inode
  CHECK(nas.host.meta("/data/d/x")->inode != x.inode);
  CHECK_FALSE(nas.host.meta("/data/d/z"));
  // A directory moved keeps its inode, and what is in it keeps theirs.
  nas.ok("mv /data/d /data/e");
  CHECK(nas.host.meta("/data/e")->inode == d.inode);
  CHECK(nas.host.meta("/data/e/y")->inode == y.inode);
}

TEST_CASE("sim incremental: the GNU listing has the shape the real GNU find prints for the same command") {
  // The same small tree here and on the simulated host, listed with the command drctl sends.
  support::TempDir tmp("sim-find-shape");
  std::filesystem::create_directories(tmp / "data/sub");
  support::write_file(tmp / "data/a file", "hello");
  support::write_file(tmp / "data/sub/b", "");
  world::HostSystem gnu;
  gnu.lister = world::HostSystem::Lister::find;
  const support::RunResult real = support::run({"/bin/sh", "-c", gnu.list_tree((tmp / "data").string())});
  REQUIRE(real.exit_code == 0);
  Nas nas(Os::gnu_linux);
  nas.host.put_file("/data/a file", "hello", 0644);
  nas.host.put_file("/data/sub/b", "", 0644);
  const auto simulated = nas.sh(gnu.list_tree("/data"));
  REQUIRE(simulated.exit_code == 0);

  // Each record: ten space-separated fields, then the name and the link target, NUL-terminated.
  const std::regex fields(R"((\d+) (\d+) ([fd]) ([0-7]{3,4}) (\d+) (\d+) (\d+) (\d+) (\d+\.\d{10}) (\d+\.\d{10}))");
  auto records = [&](const std::string& out) {
    std::map<std::string, std::string> by_name;  // name → the type letter, mode and size
    std::size_t at = 0;
    while (at < out.size()) {
      const std::size_t a = out.find('\0', at), b = out.find('\0', a + 1), c = out.find('\0', b + 1);
      REQUIRE(c != std::string::npos);
      const std::string meta = out.substr(at, a - at), name = out.substr(a + 1, b - a - 1);
      std::smatch m;
      REQUIRE_MESSAGE(std::regex_match(meta, m, fields), meta);
      by_name[name] = m[3].str() + " " + (m[3] == "f" ? m[4].str() + " " + m[7].str() : m[4].str());
      CHECK(b + 1 == c);  // no symlinks: %l is empty
      at = c + 1;
    }
    return by_name;
  };
  CHECK(nas.sh("find /data -printf '%A@'").err == "sim: nas: find: -printf %A not modelled\n");  // atime
  const auto here = records(real.out), there = records(simulated.out);
  CHECK(there == here);  // the same names ("." "./a file" "./sub" "./sub/b"), types, modes and sizes
  CHECK(there.size() == 4);
  // And drctl reads it: the entries it would compare.
  const auto entries = capture::parse_find_listing(simulated.out);
  CHECK(entries.size() == 4);
  for (const auto& e : entries) {
    const auto meta = *nas.host.meta(e.path.empty() ? "/data" : "/data/" + e.path);
    CHECK(e.inode == meta.inode);
    CHECK(e.mtime_ns == meta.mtime_ns);
    CHECK(e.ctime_ns == meta.ctime_ns);
  }
}

TEST_CASE("sim incremental: FreeBSD answers the stat -f form of its manual, and refuses GNU find's -printf") {
  // FreeBSD stat(1), "Formats": %p "defaults to O" (octal st_mode, type bits included), %Lp the
  // user, group and other bits, %.9Fm "floating point output" with nine digits after the point,
  // %d %i %l %u %g %z decimal, %N the name as given.
  Nas nas(Os::freebsd);
  nas.host.put_file("/data/x", "12345", 0640);
  const auto x = *nas.host.meta("/data/x");
  const auto r = nas.sh("cd /data && stat -f '%d %i %p %l %u %g %z %.9Fm %.9Fc %N' ./x . && stat -f %Lp x");
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::regex line(R"((\d+) (\d+) ([0-7]+) (\d+) 0 0 (\d+) (\d+\.\d{9}) (\d+\.\d{9}) (\S+))");
  std::istringstream lines(r.out);
  std::string first, second, third;
  std::getline(lines, first);
  std::getline(lines, second);
  std::getline(lines, third);
  std::smatch m;
  REQUIRE(std::regex_match(first, m, line));
  CHECK(m[2] == std::to_string(x.inode));
  CHECK(m[3] == "100640");
  CHECK(m[5] == "5");
  CHECK(m[8] == "./x");
  const std::string mtime = m[6];
  CHECK(mtime == std::to_string(x.mtime_ns / 1000000000) + "." + std::to_string(x.mtime_ns % 1000000000 + 1000000000).substr(1));
  REQUIRE(std::regex_match(second, m, line));
  CHECK(m[3] == "40755");
  CHECK(third == "640");
  CHECK(nas.sh("stat -f %z /nowhere").err == "stat: /nowhere: stat: No such file or directory\n");
  CHECK(nas.sh("stat -f %Sm /data/x").err == "sim: nas: stat: directive '%Sm' not modelled\n");  // strftime dates
  CHECK(nas.sh("cd /data && find . -printf '%p\\n'").err == "find: -printf: unknown primary or operator\n");
  // The lister drctl sends parses: names first, then stat's lines, per batch.
  world::HostSystem bsd;
  bsd.lister = world::HostSystem::Lister::bsd_stat;
  const auto listed = nas.sh(bsd.list_tree("/data"));
  REQUIRE_MESSAGE(listed.exit_code == 0, listed.err);
  const auto entries = capture::parse_stat_listing(listed.out);
  REQUIRE(entries.size() == 2);
  CHECK(entries[1].path == "x");
  CHECK(entries[1].inode == x.inode);
  CHECK(entries[1].ctime_ns == x.ctime_ns);
}

TEST_CASE("sim incremental: sh's for loop and \"$@\", and xargs -0, as the real dash and xargs run them") {
  Nas nas(Os::gnu_linux);
  for (const std::string script : {
           "for i in a 'b c' d; do echo \"[$i]\"; done",
           "x='1 2'; for i in $x \"$x\"; do echo \"<$i>\"; done; echo after $i",
           "for i in; do echo never; done; echo $?",
           "sh -c 'for f; do printf \"%s|\" \"$f\"; done; echo' sh 'a b' '' c",
           "sh -c 'printf \"[%s]\" \"$@\"; echo' sh one 'two three'",
           "sh -c 'echo $#; for f do echo $f; done' sh",
           "printf 'a\\0b c\\0\\0d\\0' | xargs -0 sh -c 'for f; do echo \"[$f]\"; done' sh",
           "printf 'a b\\nc' | xargs echo",
       }) {
    CAPTURE(script);
    const support::RunResult real = support::run({"/bin/dash", "-c", script});
    const auto simulated = nas.sh(script);
    CHECK(simulated.out == real.out);
    CHECK(simulated.exit_code == real.exit_code);
  }
  // FreeBSD's xargs runs at most 5000 arguments a command (xargs(1), -n: "The current default
  // value for number is 5000"), and not at all on empty input.
  Nas bsd(Os::freebsd);
  std::string names;
  for (int i = 0; i < 5001; ++i) names += "n" + std::to_string(i) + '\0';
  bsd.host.put_file("/tmp/names", names, 0644);
  CHECK(bsd.sh("xargs -0 sh -c 'echo $#' sh </tmp/names").out == "5000\n1\n");
  CHECK(bsd.sh("printf '' | xargs -0 echo ran").out.empty());
  CHECK(nas.sh("printf '' | xargs -0 echo ran").out == "ran\n");  // GNU's runs once
}

TEST_CASE("sim incremental: the same captures with the same seed give the same snapshot, and a drill the same report") {
  auto run_once = [] {
    Nas nas(Os::freebsd);
    fill(nas);
    const auto first = nas.capture();
    nas.later();
    nas.ok("chmod 600 /data/mail/e && echo more >>/data/a.txt");
    const auto second = nas.capture(first.result.section.tree);
    return std::pair(second.result.section.tree.hex(), nas.engine.log_jsonl());
  };
  CHECK(run_once() == run_once());
  const auto scenario = drill::load_scenario((std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                                              "runbooks/homelab/drills/total-loss.yaml")
                                                 .string());
  auto report = [&] { return drill::text_report({drill::run_drill(scenario, 7, [](const std::string&) {})}, true); };
  const std::string once = report();
  CHECK(once == report());
  CHECK(once.find("PASS") != std::string::npos);
}

TEST_CASE("sim incremental: a write, a chmod, a chown and a rename move mtime and ctime as this machine's kernel does") {
  // POSIX leaves a renamed file's ctime to the implementation ("Some implementations mark for
  // update the last file status change timestamp of renamed files and some do not"): the oracle
  // is what Linux does here. Each step is compared as (inode kept, mtime moved, ctime moved).
  struct Step {
    const char* script;  // run in the directory holding f
    const char* after;   // the file's name afterwards
  };
  const Step steps[] = {{"echo more >>f", "f"}, {"chmod 600 f", "f"}, {"chown 0:0 f", "f"}, {"mv f g", "g"}};
  support::TempDir tmp("sim-times");
  Nas nas(Os::gnu_linux);
  support::write_file(tmp / "f", "x\n");
  nas.host.put_file("/data/f", "x\n", 0644);
  std::string name = "f";
  for (const Step& s : steps) {
    CAPTURE(s.script);
    struct stat before{}, after{};
    REQUIRE(::stat((tmp / name).c_str(), &before) == 0);
    const auto sim_before = *nas.host.meta("/data/" + name);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // beyond the kernel's timestamp tick
    support::RunOptions o;
    o.cwd = tmp.str();
    REQUIRE(support::run({"/bin/sh", "-c", s.script}, o).exit_code == 0);
    nas.later();
    nas.ok(std::string("cd /data && ") + s.script);
    name = s.after;
    REQUIRE(::stat((tmp / name).c_str(), &after) == 0);
    const auto sim_after = *nas.host.meta("/data/" + name);
    auto ns = [](const timespec& t) { return static_cast<std::int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec; };
    CHECK((sim_after.inode == sim_before.inode) == (after.st_ino == before.st_ino));
    CHECK((sim_after.mtime_ns != sim_before.mtime_ns) == (ns(after.st_mtim) != ns(before.st_mtim)));
    CHECK((sim_after.ctime_ns != sim_before.ctime_ns) == (ns(after.st_ctim) != ns(before.st_ctim)));
  }
}

TEST_CASE("sim incremental: the tar of a NUL list sends the entries the real GNU tar and bsdtar send for it") {
  // The same tree here and on the simulated host; the names drctl's plan would ask for: the
  // root, a directory without what is in it, and a file deep inside it.
  support::TempDir tmp("sim-tar-list");
  std::filesystem::create_directories(tmp / "data/docs/deep");
  support::write_file(tmp / "data/a", "a");
  support::write_file(tmp / "data/docs/c", "c");
  support::write_file(tmp / "data/docs/deep/d", "d");
  const std::string names = capture::tar_name_list({".", "./docs", "./docs/deep/d"});
  support::write_file(tmp / "names", names);
  std::filesystem::create_directories(tmp / "bsd");
  std::filesystem::create_symlink("/usr/bin/bsdtar", tmp / "bsd/tar");  // bsdtar as FreeBSD calls it
  for (const Os os : {Os::gnu_linux, Os::freebsd}) {
    CAPTURE(os_name(os));
    world::HostSystem sys;
    sys.tar = os == Os::freebsd ? world::HostSystem::Tar::bsdtar : world::HostSystem::Tar::gnu;
    support::RunOptions o;
    if (os == Os::freebsd) o.env["PATH"] = (tmp / "bsd").string() + ":/usr/bin:/bin";
    // The real tar's archive, listed by GNU tar.
    const std::string real_tar = (tmp / "real.tar").string();
    const auto made = support::run(
        {"/bin/sh", "-c", sys.tar_create_list((tmp / "data").string()) + " <" + shell_quote((tmp / "names").string()) + " >" + real_tar}, o);
    REQUIRE_MESSAGE(made.exit_code == 0, made.err);
    const auto real = support::run({"tar", "-tf", real_tar});
    // The simulated tar's, listed the same way.
    Nas nas(os);
    nas.host.put_file("/data/a", "a", 0644);
    nas.host.put_file("/data/docs/c", "c", 0644);
    nas.host.put_file("/data/docs/deep/d", "d", 0644);
    world::Command c = world::shell_command(sys.tar_create_list("/data"));
    c.stdin_data = names;
    const auto simulated = nas.host.run(c);
    REQUIRE_MESSAGE(simulated.exit_code == 0, simulated.err);
    support::write_file(tmp / "sim.tar", simulated.out);
    const auto listed = support::run({"tar", "-tf", (tmp / "sim.tar").string()});
    CHECK(listed.out == real.out);
    CHECK(listed.out == "./\n./docs/\n./docs/deep/d\n");
  }
}
