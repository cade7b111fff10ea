// LocalHost with real processes: exit status, output capture, stdin, env, cwd, timeouts and
// cancel killing whole process groups, and atomic file writes.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "support/fs_tree.hpp"
#include "world/real/local_host.hpp"
#include "world/real/local_world.hpp"

using namespace drctl::world;
using drctl::world::real::LocalHost;
using std::chrono::milliseconds;

namespace {

CommandResult sh(LocalHost& host, const std::string& script, milliseconds timeout = milliseconds::zero()) {
  Command c;
  c.script = script;
  c.timeout = timeout;
  return host.run(c);
}

double seconds_since(Clock_::time_point start) {
  return std::chrono::duration<double>(Clock_::now() - start).count();
}

// A process is gone once kill(pid, 0) says ESRCH; a zombie waiting for init to reap it is
// dead too (it runs nothing and holds nothing).
bool process_gone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

bool gone_within(pid_t pid, milliseconds limit) {
  const auto end = Clock_::now() + limit;
  while (Clock_::now() < end) {
    if (process_gone(pid)) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return process_gone(pid);
}

pid_t read_pid(const support::TempDir& dir, const char* name) {
  std::ifstream in(dir / name);
  pid_t pid = 0;
  in >> pid;
  return pid;
}

// Starts a grandchild that would outlive the shell, records its pid, then waits.
std::string script_with_grandchild(const support::TempDir& dir) {
  return "sleep 30 & echo $! > '" + (dir / "grandchild.pid").string() +
         "'; sh -c 'echo $$ > \"$0\"; sleep 30' '" + (dir / "nested.pid").string() + "'; sleep 30";
}

}  // namespace

TEST_CASE("local host: exit codes and signals become exit_code") {
  Cancel cancel;
  LocalHost host("local", cancel);
  CHECK(host.name() == "local");
  CommandResult ok = sh(host, "true");
  CHECK(ok.ok());
  CHECK(ok.exit_code == 0);
  CHECK_FALSE(ok.timed_out);
  CHECK_FALSE(ok.cancelled);
  CHECK(sh(host, "exit 3").exit_code == 3);
  CHECK(sh(host, "exit 255").exit_code == 255);
  CHECK(sh(host, "no-such-command-drctl-test").exit_code == 127);
  CommandResult killed = sh(host, "kill -TERM $$");
  CHECK(killed.exit_code == 128 + SIGTERM);
  CHECK_FALSE(killed.timed_out);
}

TEST_CASE("local host: stdout and stderr are captured separately") {
  Cancel cancel;
  LocalHost host("local", cancel);
  CommandResult r = sh(host, "echo out1; echo err1 >&2; printf 'out2'; printf 'err2' >&2");
  CHECK(r.out == "out1\nout2");
  CHECK(r.err == "err1\nerr2");
  CHECK(r.elapsed >= milliseconds::zero());
}

TEST_CASE("local host: 5 MB on both streams at once does not deadlock") {
  Cancel cancel;
  LocalHost host("local", cancel);
  CommandResult r = sh(host,
                       "(head -c 5242880 /dev/zero | tr '\\0' a) & "
                       "head -c 5242880 /dev/zero | tr '\\0' b >&2; wait",
                       milliseconds(20000));
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 0);
  CHECK(r.out.size() == 5242880);
  CHECK(r.err.size() == 5242880);
  CHECK(r.out == std::string(5242880, 'a'));
  CHECK(r.err == std::string(5242880, 'b'));
}

TEST_CASE("local host: stdin is delivered and closed") {
  Cancel cancel;
  LocalHost host("local", cancel);
  Command c;
  c.script = "cat; echo done >&2";
  c.stdin_data = std::string(3 * 1024 * 1024, 'x') + "end";
  c.timeout = milliseconds(20000);
  CommandResult r = host.run(c);
  CHECK(r.exit_code == 0);
  CHECK(r.out == c.stdin_data);
  CHECK(r.err == "done\n");

  c.script = "wc -c";
  c.stdin_data = "";
  CHECK(host.run(c).out.find('0') != std::string::npos);  // empty stdin is an immediate EOF
}

TEST_CASE("local host: a command that ignores its stdin does not break drctl with SIGPIPE") {
  Cancel cancel;
  LocalHost host("local", cancel);
  // The test main ignores SIGPIPE; drctl may not, so let SIGPIPE kill us if it is raised.
  auto previous = std::signal(SIGPIPE, SIG_DFL);
  Command c;
  c.script = "exec 0<&-; sleep 0.1; echo fine";
  c.stdin_data = std::string(4 * 1024 * 1024, 'y');
  c.timeout = milliseconds(10000);
  CommandResult r = host.run(c);
  std::signal(SIGPIPE, previous);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "fine\n");
}

TEST_CASE("local host: children start with default signals and no blocked signals") {
  Cancel cancel;
  LocalHost host("local", cancel);
  // The test main ignores SIGPIPE (inherited through exec unless reset); block one too.
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &block, &old);
  CommandResult r = sh(host, "grep -E '^Sig(Blk|Ign)' /proc/self/status");
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  REQUIRE(r.exit_code == 0);
  INFO(r.out);
  CHECK(r.out.find("SigBlk:\t0000000000000000") != std::string::npos);
  const auto ign = r.out.find("SigIgn:\t");
  REQUIRE(ign != std::string::npos);
  const unsigned long long ignored = std::stoull(r.out.substr(ign + 8, 16), nullptr, 16);
  CHECK((ignored & (1ULL << (SIGPIPE - 1))) == 0);
}

TEST_CASE("local host: env is added to the inherited environment and cwd is honoured") {
  Cancel cancel;
  LocalHost host("local", cancel);
  support::TempDir dir("localhost");
  Command c;
  c.script = "printf '%s|%s|' \"$DRCTL_A\" \"$DRCTL_B\"; command -v sh >/dev/null && printf 'path|'; pwd";
  c.env = {{"DRCTL_A", "hello world"}, {"DRCTL_B", "it's \"quoted\" $HOME"}};
  c.cwd = dir.str();
  CommandResult r = host.run(c);
  CHECK(r.exit_code == 0);
  const std::string real_dir = std::filesystem::canonical(dir.path()).string();
  CHECK(r.out == "hello world|it's \"quoted\" $HOME|path|" + real_dir + "\n");

  c.cwd = (dir / "missing").string();
  CommandResult bad = host.run(c);
  INFO(bad.err);
  CHECK(bad.exit_code == 127);
  CHECK(bad.err.find(c.cwd) != std::string::npos);
  CHECK(bad.out.empty());
}

TEST_CASE("local host: output of a background child is read until it closes the pipe") {
  Cancel cancel;
  LocalHost host("local", cancel);
  CommandResult r = sh(host, "echo a; (sleep 0.3; echo b) &", milliseconds(10000));
  CHECK(r.exit_code == 0);
  CHECK(r.out == "a\nb\n");
}

TEST_CASE("local host: timeout kills the whole process group") {
  Cancel cancel;
  LocalHost host("local", cancel);
  support::TempDir dir("localhost");
  const auto start = Clock_::now();
  CommandResult r = sh(host, "echo started; " + script_with_grandchild(dir), milliseconds(300));
  const double took = seconds_since(start);
  CHECK(r.timed_out);
  CHECK_FALSE(r.cancelled);
  CHECK(r.exit_code == -1);
  CHECK_FALSE(r.ok());
  CHECK(r.out == "started\n");
  CHECK(took >= 0.29);
  CHECK(r.elapsed >= milliseconds(300));
  const pid_t grandchild = read_pid(dir, "grandchild.pid");
  const pid_t nested = read_pid(dir, "nested.pid");
  REQUIRE(grandchild > 0);
  REQUIRE(nested > 0);
  CHECK(gone_within(grandchild, std::chrono::seconds(60)));
  CHECK(gone_within(nested, std::chrono::seconds(60)));
}

TEST_CASE("local host: a group that ignores SIGTERM is killed with SIGKILL") {
  Cancel cancel;
  LocalHost host("local", cancel);
  support::TempDir dir("localhost");
  CommandResult r = sh(host, "trap '' TERM; sleep 30 & echo $! > '" + (dir / "grandchild.pid").string() + "'; sleep 30",
                       milliseconds(300));
  CHECK(r.timed_out);
  CHECK(r.exit_code == -1);
  const pid_t grandchild = read_pid(dir, "grandchild.pid");
  REQUIRE(grandchild > 0);
  CHECK(gone_within(grandchild, std::chrono::seconds(60)));
}

TEST_CASE("local host: cancel from another thread kills the whole process group") {
  Cancel cancel;
  LocalHost host("local", cancel);
  support::TempDir dir("localhost");
  std::thread canceller([&cancel] {
    std::this_thread::sleep_for(milliseconds(300));
    cancel.request();
  });
  CommandResult r = sh(host, script_with_grandchild(dir), milliseconds(60000));
  canceller.join();
  CHECK(r.cancelled);  // ended by the kill, not by its sleep 30
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == -1);
  const pid_t grandchild = read_pid(dir, "grandchild.pid");
  REQUIRE(grandchild > 0);
  CHECK(gone_within(grandchild, std::chrono::seconds(60)));
  CHECK(gone_within(read_pid(dir, "nested.pid"), std::chrono::seconds(60)));

  // Once cancelled, nothing more is started.
  CommandResult after = sh(host, "echo never");
  CHECK(after.cancelled);
  CHECK(after.exit_code == -1);
  CHECK(after.out.empty());
}

TEST_CASE("local host: parallel commands do not hold each other's pipes") {
  Cancel cancel;
  LocalHost host("local", cancel);
  // A long command runs beside the others; were its pipes held open in theirs, they could not
  // finish before it does.
  std::atomic<bool> slow_done{false};
  std::thread slow([&host, &slow_done] {
    sh(host, "sleep 120", milliseconds(600000));
    slow_done = true;
  });
  std::this_thread::sleep_for(milliseconds(200));  // let it start first (ordering, not an assertion)
  std::atomic<int> wrong{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&host, &wrong, t] {
      for (int i = 0; i < 15; ++i) {
        CommandResult r = sh(host, "echo " + std::to_string(t * 100 + i), milliseconds(600000));
        if (r.out != std::to_string(t * 100 + i) + "\n") ++wrong;
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK_FALSE(slow_done);  // every echo finished while sleep 120 still ran
  cancel.request();        // ends the sleep
  slow.join();
  CHECK(wrong == 0);
}

TEST_CASE("local host: put_file writes the exact mode whatever the umask") {
  Cancel cancel;
  LocalHost host("local", cancel);
  support::TempDir dir("localhost");
  const mode_t old_umask = ::umask(077);
  const std::string path = (dir / "a/b/c/file.txt").string();
  host.put_file(path, "one", 0644);
  host.put_file((dir / "x.sh").string(), "#!/bin/sh\n", 0755);
  host.put_file((dir / "secret").string(), "s", 0600);
  ::umask(old_umask);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  REQUIRE(::stat((dir / "x.sh").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0755);
  REQUIRE(::stat((dir / "secret").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  CHECK(host.get_file(path) == std::optional<std::string>("one"));
}

TEST_CASE("local host: put_file replaces atomically and leaves no temporary file") {
  Cancel cancel;
  LocalHost host("local", cancel);
  support::TempDir dir("localhost");
  const std::string path = (dir / "conf").string();
  host.put_file(path, "old content", 0640);
  struct stat before {};
  REQUIRE(::stat(path.c_str(), &before) == 0);
  std::ifstream reader(path);  // a reader that opened the old file keeps seeing it whole

  host.put_file(path, std::string(100000, 'n'), 0600);
  struct stat after {};
  REQUIRE(::stat(path.c_str(), &after) == 0);
  CHECK(after.st_ino != before.st_ino);  // a new inode renamed over the old name
  CHECK((after.st_mode & 07777) == 0600);
  std::string old_seen((std::istreambuf_iterator<char>(reader)), std::istreambuf_iterator<char>());
  CHECK(old_seen == "old content");
  CHECK(host.get_file(path) == std::optional<std::string>(std::string(100000, 'n')));

  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    ++entries;
    CHECK(e.path().filename() == "conf");
  }
  CHECK(entries == 1);

  host.put_file(path, "", 0644);
  CHECK(host.get_file(path) == std::optional<std::string>(""));
}

TEST_CASE("local host: get_file of a missing file is nullopt and other errors throw") {
  Cancel cancel;
  LocalHost host("local", cancel);
  support::TempDir dir("localhost");
  CHECK_FALSE(host.get_file((dir / "missing").string()).has_value());
  CHECK_FALSE(host.get_file((dir / "no/such/dir/file").string()).has_value());
  host.put_file((dir / "plain").string(), "x", 0644);
  CHECK_FALSE(host.get_file((dir / "plain/below").string()).has_value());
  try {
    host.get_file(dir.str());
    FAIL("reading a directory must throw");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find(dir.str()) != std::string::npos);
    CHECK(std::string(e.what()).find(std::strerror(EISDIR)) != std::string::npos);
  }
  CHECK_THROWS_AS(host.put_file((dir / "plain/below").string(), "x", 0644), std::runtime_error);
}

TEST_CASE("local world: hosts by name, aliases and no hypervisor") {
  drctl::world::real::LocalWorld world;
  CHECK(world.host("local").name() == "local");
  CHECK_THROWS_AS(world.host("nas"), std::out_of_range);
  world.add_local_alias("pxe");
  CHECK(&world.host("pxe") == &world.host("local"));
  CHECK(world.hypervisor() == nullptr);
  CHECK(world.host("pxe").run(Command{"echo hi", "", milliseconds(5000), {}, ""}).out == "hi\n");
  world.cancel().request();
  CHECK_FALSE(world.clock().sleep(milliseconds(1000)));
  CHECK(world.host("local").run(Command{"echo hi", "", {}, {}, ""}).cancelled);
}

namespace {
long max_rss_kib() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}
}  // namespace

TEST_CASE("local host: run_stream hands stdout over as it comes and pulls stdin piece by piece, holding neither") {
  Cancel cancel;
  LocalHost host("local", cancel);
  const long rss_before = max_rss_kib();
  std::uint64_t got = 0, calls = 0;
  unsigned char last = 0;
  Command out;
  out.script = "head -c 268435456 /dev/zero | tr '\\0' 'x'; echo done >&2";
  CommandResult r = host.run_stream(out, [&](const char* p, std::size_t n) {
    got += n;
    ++calls;
    last = static_cast<unsigned char>(p[n - 1]);
  });
  CHECK(r.exit_code == 0);
  CHECK(got == 268435456u);
  CHECK(calls > 100);
  CHECK(last == 'x');
  CHECK(r.out.empty());
  CHECK(r.err == "done\n");

  // 128 MiB pulled in 1 MiB pieces into wc -c; the command's output still comes back.
  int pieces = 0;
  Command in;
  in.script = "wc -c";
  std::string collected;
  r = host.run_stream(in, [&](const char* p, std::size_t n) { collected.append(p, n); },
                      [&]() -> std::string { return pieces++ < 128 ? std::string(1 << 20, 'y') : std::string(); });
  CHECK(r.exit_code == 0);
  CHECK(pieces == 129);  // every piece and the empty one that ends stdin
  CHECK(collected == "134217728\n");
  const long grew_mib = (max_rss_kib() - rss_before) / 1024;
  const std::string grew = "max RSS grew by " + std::to_string(grew_mib) + " MiB";
  CHECK_MESSAGE(grew_mib < 48, grew);

  // A command that stops reading early: the rest is not pulled for ever, and it ends.
  pieces = 0;
  in.script = "head -c 10 >/dev/null; echo read";
  collected.clear();
  r = host.run_stream(in, [&](const char* p, std::size_t n) { collected.append(p, n); },
                      [&]() -> std::string { return pieces++ < 100000 ? std::string(1 << 16, 'z') : std::string(); });
  CHECK(r.exit_code == 0);
  CHECK(collected == "read\n");
  CHECK(pieces < 100000);
}
