// SshHost against a private sshd on 127.0.0.1 (tests/support/sshd.hpp): commands with exit
// codes, stdin, stderr, env and cwd; 100 MB of output and a 1 GiB SFTP round trip in constant
// memory; timeouts and cancel killing the remote process group; atomic put_file; connection
// reuse and reconnect; the strict host-key check; `drctl hosts trust` and `hosts check`
// through the binary; and a site host reached at the port its SSH config names.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"
#include "world/real/real_world.hpp"
#include "world/real/ssh_config.hpp"
#include "world/real/ssh_host.hpp"

using namespace drctl::world;
using namespace drctl::world::real;
using namespace std::chrono_literals;
using support::fs::path;

namespace {

constexpr long kMiB = 1024 * 1024;

/// A private sshd and the settings that reach it: this test's key, known_hosts and an empty
/// SSH config (so nothing of ~/.ssh is read).
struct Lab {
  support::Sshd sshd;
  support::TempDir tmp{"sshhost"};
  Cancel cancel;
  std::string config;

  explicit Lab(std::string log_level = "VERBOSE") : sshd(std::move(log_level)) {
    config = (tmp / "ssh_config").string();
    support::write_file(config, "");
  }

  SshHostSpec spec() const {
    SshHostSpec s;
    s.name = "box";
    s.address = "127.0.0.1";
    s.port = sshd.port();
    s.user = sshd.user();
    s.identity_file = sshd.client_key().string();
    s.known_hosts = sshd.known_hosts().string();
    s.ssh_config = config;
    return s;
  }

  std::unique_ptr<SshHost> host(const SshHostSpec& s) { return std::make_unique<SshHost>(resolve_ssh_endpoint(s), cancel); }
  std::unique_ptr<SshHost> host() { return host(spec()); }
};

CommandResult sh(Host& host, const std::string& script, Duration timeout = Duration::zero()) {
  Command c;
  c.script = script;
  c.timeout = timeout;
  return host.run(c);
}

// A field of /proc/self/status in KiB ("VmRSS", "VmHWM").
long status_kib(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  return -1;
}

// Makes VmHWM (the peak) start again from the current RSS, so a test sees its own peak.
void reset_peak_rss() { std::ofstream("/proc/self/clear_refs") << "5"; }

/// Incremental SHA-256 (hex).
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void add(const void* data, std::size_t n) { EVP_DigestUpdate(ctx_, data, n); }
  std::string hex() {
    unsigned char md[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (unsigned i = 0; i < len; ++i) s += {digits[md[i] >> 4], digits[md[i] & 15]};
    return s;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// A process on this machine (where the test sshd runs its commands) is gone, or a zombie.
bool remote_process_gone(Host& host, const std::string& pid) {
  CommandResult r = sh(host, "s=$(cut -d' ' -f3 /proc/" + pid + "/stat 2>/dev/null); [ -z \"$s\" ] || [ \"$s\" = Z ]");
  return r.exit_code == 0;
}

/// Whether `pid` ends within a generous minute: a signalled process takes a moment to go, longer
/// on a busy machine.
bool remote_process_ends(Host& host, const std::string& pid) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!remote_process_gone(host, pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

bool wait_for_file(const path& p, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (support::fs::exists(p) && support::fs::file_size(p) > 0) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

std::string first_word(const std::string& s) { return s.substr(0, s.find_first_of(" \n")); }

}  // namespace

TEST_CASE("ssh host: exit codes and stdout apart from stderr and stdin and env and cwd") {
  Lab lab;
  auto host = lab.host();
  CHECK(host->name() == "box");

  CommandResult r = sh(*host, "echo out; echo err >&2");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");  // the wrapper's process-group line is not in it
  CHECK_FALSE(r.timed_out);

  CHECK(sh(*host, "exit 3").exit_code == 3);
  CHECK(sh(*host, "true").ok());
  CHECK(sh(*host, "kill -KILL $$").exit_code == 128 + 9);  // a signal, as LocalHost reports it

  Command c;
  c.script = "cat";
  c.stdin_data = support::Rng(7).bytes(3 * kMiB + 17);  // more than the channel windows
  r = host->run(c);
  CHECK(r.exit_code == 0);
  CHECK(r.out == c.stdin_data);

  c = {};
  c.script = "printf %s \"$GREETING\"; printf '|%s' \"$EMPTY\"; pwd >&2";
  c.env = {{"GREETING", "it's \"quoted\" $HOME `x` \\ ;"}, {"EMPTY", ""}};
  c.cwd = lab.tmp.str();
  r = host->run(c);
  CHECK(r.out == "it's \"quoted\" $HOME `x` \\ ;|");
  CHECK(r.err == lab.tmp.str() + "\n");

  // Env values reach the command intact (newlines, quotes, UTF-8, trailing newlines) with its
  // stdin after them, and never stand in any process's arguments on the host while it runs.
  c = {};
  const std::string token = "s3cr3t-\xc3\xa9\n'two' \"lines\" %s \\0101 $(id)\n\n";
  c.script =
      "p=s3c; p=${p}r3t; n=0; for f in /proc/[0-9]*/cmdline; do a=$(tr '\\0' ' ' < \"$f\" 2>/dev/null); "
      "case \"$a\" in *\"$p\"*) n=$((n+1));; esac; done; printf '%s|%s|' \"$TOKEN\" \"$n\"; cat";
  c.env = {{"TOKEN", token}, {"OTHER", "x"}};
  c.stdin_data = "stdin after env\n";
  r = host->run(c);
  CHECK(r.exit_code == 0);
  CHECK(r.out == token + "|0|stdin after env\n");
  // … also when stdin is pulled piece by piece.
  int pieces = 0;
  c.stdin_data.clear();
  std::string streamed;
  r = host->run_stream(c, [&](const char* d, std::size_t n) { streamed.append(d, n); },
                       [&]() -> std::string { return pieces++ < 2 ? "piece\n" : ""; });
  CHECK(streamed == token + "|0|piece\npiece\n");

  c = {};
  c.script = "echo never";
  c.cwd = (lab.tmp / "missing").string();
  r = host->run(c);
  CHECK(r.exit_code == 127);
  CHECK(r.out.empty());
  CHECK(r.err.find("missing") != std::string::npos);

  c = {};
  c.script = "true";
  c.env = {{"NOT VALID", "x"}};
  CHECK(host->run(c).exit_code == 127);

  // A command that does not read its input ends all the same.
  c = {};
  c.script = "exit 4";
  c.stdin_data = std::string(8 * kMiB, 'x');
  CHECK(host->run(c).exit_code == 4);
  long pulled = 0;
  r = host->run_stream(c, [](const char*, std::size_t) {}, [&] {
    ++pulled;
    return std::string(kMiB, 'y');  // endless
  });
  CHECK(r.exit_code == 4);
  CHECK(pulled < 100);
}

TEST_CASE("ssh host: run_stream moves 100 MB out and 100 MB in with bounded memory") {
  Lab lab;
  auto host = lab.host();
  CHECK(sh(*host, "true").ok());  // connected before measuring
  reset_peak_rss();
  const long rss_before = status_kib("VmRSS");

  std::uint64_t received = 0;
  bool all_zero = true;
  const auto t0 = std::chrono::steady_clock::now();
  Command out;
  out.script = "head -c 104857600 /dev/zero";
  CommandResult r = host->run_stream(out, [&](const char* d, std::size_t n) {
    received += n;
    for (std::size_t i = 0; i < n && all_zero; i += 4096) all_zero = d[i] == 0;
  });
  const double out_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.exit_code == 0);
  CHECK(r.out.empty());
  CHECK(received == 100ull * kMiB);
  CHECK(all_zero);

  support::Rng rng(42);
  Sha256 sent;
  int pieces = 0;
  const auto t1 = std::chrono::steady_clock::now();
  Command in;
  in.script = "sha256sum";
  std::string digest;
  r = host->run_stream(in, [&](const char* d, std::size_t n) { digest.append(d, n); }, [&]() -> std::string {
    if (pieces++ == 100) return "";
    std::string piece = rng.bytes(kMiB);
    sent.add(piece.data(), piece.size());
    return piece;
  });
  const double in_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  CHECK(r.exit_code == 0);
  CHECK(first_word(digest) == sent.hex());

  const long growth_mib = (status_kib("VmHWM") - rss_before) / 1024;
  MESSAGE("100 MiB out in " << out_s << " s, 100 MiB in in " << in_s << " s; peak RSS growth " << growth_mib << " MiB");
  CHECK(growth_mib < 64);
}

TEST_CASE("ssh host: a timeout kills the remote process group and a new command sees it gone") {
  Lab lab;
  auto host = lab.host();
  const std::string pidfile = (lab.tmp / "sleep.pid").string();
  CommandResult r = sh(*host, "echo started; sleep 300 & echo $! > " + pidfile + "; wait", 1s);
  CHECK(r.timed_out);
  CHECK_FALSE(r.cancelled);
  CHECK(r.exit_code == -1);
  CHECK(r.out == "started\n");
  const std::string pid = support::read_file(pidfile).substr(0, support::read_file(pidfile).find('\n'));
  REQUIRE(!pid.empty());
  CHECK(remote_process_ends(*host, pid));

  // A command that ignores SIGTERM gets SIGKILL.
  r = sh(*host, "trap '' TERM; sleep 300 & echo $! > " + pidfile + ".2; wait; wait", 500ms);
  CHECK(r.timed_out);
  const std::string pid2 = support::read_file(pidfile + ".2").substr(0, support::read_file(pidfile + ".2").find('\n'));
  CHECK(remote_process_ends(*host, pid2));
  CHECK(sh(*host, "echo still usable").out == "still usable\n");
}

TEST_CASE("ssh host: cancel ends a running command and kills what it started") {
  Lab lab;
  auto host = lab.host();
  const path pidfile = lab.tmp / "cancel.pid";
  CommandResult r;
  std::thread t([&] { r = sh(*host, "sleep 300 & echo $! > " + pidfile.string() + "; wait"); });
  const bool started = wait_for_file(pidfile, 10s);
  lab.cancel.request();
  t.join();
  REQUIRE(started);
  CHECK(r.cancelled);
  CHECK(r.exit_code == -1);  // `cancelled` and no exit status: the cancel ended it, not sleep 300
  const std::string pid = support::read_file(pidfile).substr(0, support::read_file(pidfile).find('\n'));
  Cancel fresh;
  SshHost checker(resolve_ssh_endpoint(lab.spec()), fresh);
  CHECK(remote_process_ends(checker, pid));
  CHECK(sh(*host, "true").cancelled);  // cancel stays requested: nothing new starts
}

TEST_CASE("ssh host: put_file writes atomically with the mode and creates parents and get_file reads back") {
  Lab lab;
  auto host = lab.host();
  const path file = lab.tmp / "a/b/c/file.conf";
  host->put_file(file.string(), "first\n", 0640);
  CHECK(support::read_file(file) == "first\n");
  CHECK((support::lstat_or_throw(file).st_mode & 07777) == 0640);
  CHECK((support::lstat_or_throw(lab.tmp / "a/b").st_mode & 07777) == 0755);

  // Replaced by a rename: a reader of the old file keeps the old content.
  std::ifstream old_reader(file);
  const ino_t old_inode = support::lstat_or_throw(file).st_ino;
  host->put_file(file.string(), "second, longer\n", 0600);
  CHECK(support::read_file(file) == "second, longer\n");
  CHECK((support::lstat_or_throw(file).st_mode & 07777) == 0600);
  CHECK(support::lstat_or_throw(file).st_ino != old_inode);
  std::string old_content;
  std::getline(old_reader, old_content);
  CHECK(old_content == "first");
  int entries = 0;
  for (const auto& e : support::fs::directory_iterator(file.parent_path())) entries += e.path() == file ? 1 : 100;
  CHECK(entries == 1);  // no temporary file left

  host->put_file(file.string(), "", 0644);
  CHECK(host->get_file(file.string()) == std::optional<std::string>(""));
  const std::string binary = support::Rng(3).bytes(700 * 1024 + 3);
  host->put_file(file.string(), binary, 0644);
  CHECK(host->get_file(file.string()) == binary);

  CHECK(host->get_file((lab.tmp / "missing").string()) == std::nullopt);
  CHECK(host->get_file((lab.tmp / "no/such/dir/file").string()) == std::nullopt);

  // A parent that is a file: an error naming the host and the path.
  try {
    host->put_file((file / "below").string(), "x", 0644);
    FAIL("put_file below a file succeeded");
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    CHECK(m.find("box (") == 0);
    CHECK(m.find("not a directory") != std::string::npos);
  }
}

TEST_CASE("ssh host: a 1 GiB file goes up and back over SFTP in constant memory") {
  Lab lab;
  auto host = lab.host();
  const std::string file = (lab.tmp / "big/one-gib.bin").string();
  constexpr int kPieces = 1024;  // 1 MiB each
  CHECK(sh(*host, "true").ok());
  reset_peak_rss();
  const long rss_before = status_kib("VmRSS");

  support::Rng rng(2024);
  Sha256 up;
  int piece = 0;
  const auto t0 = std::chrono::steady_clock::now();
  host->put_stream(file, 0600, [&]() -> std::string {
    if (piece++ == kPieces) return "";
    std::string data = rng.bytes(kMiB);
    up.add(data.data(), data.size());
    return data;
  });
  const double up_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(support::fs::file_size(file) == 1024ull * kMiB);
  CHECK((support::lstat_or_throw(file).st_mode & 07777) == 0600);

  Sha256 down;
  std::uint64_t bytes = 0;
  const auto t1 = std::chrono::steady_clock::now();
  CHECK(host->get_stream(file, [&](const char* d, std::size_t n) {
    down.add(d, n);
    bytes += n;
  }));
  const double down_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  CHECK(bytes == 1024ull * kMiB);
  CHECK(down.hex() == up.hex());
  const long growth_mib = (status_kib("VmHWM") - rss_before) / 1024;
  MESSAGE("1 GiB up in " << up_s << " s (" << 1024 / up_s << " MiB/s), down in " << down_s << " s ("
                         << 1024 / down_s << " MiB/s); peak RSS growth " << growth_mib << " MiB");
  CHECK(growth_mib < 64);
  CHECK_FALSE(host->get_stream((lab.tmp / "big/none").string(), [](const char*, std::size_t) {}));
  support::fs::remove(file);
}

TEST_CASE("ssh host: one connection serves many steps and side-by-side commands get their own") {
  Lab lab;
  auto host = lab.host();
  const int before = lab.sshd.accepted_logins();
  for (int i = 0; i < 5; ++i) CHECK(sh(*host, "echo " + std::to_string(i)).out == std::to_string(i) + "\n");
  host->put_file((lab.tmp / "f").string(), "x", 0644);
  CHECK(host->get_file((lab.tmp / "f").string()) == std::optional<std::string>("x"));
  CHECK(host->connections_opened() == 1);
  CHECK(lab.sshd.accepted_logins() == before + 1);

  // Three commands that can only finish together: each waits until all three have started.
  const std::string dir = (lab.tmp / "together").string();
  support::fs::create_directories(dir);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 3; ++i)
    threads.emplace_back([&, i] {
      const std::string script = "touch " + dir + "/" + std::to_string(i) + "; while [ $(ls " + dir +
                                 " | wc -l) -lt 3 ]; do sleep 0.05; done";
      if (sh(*host, script, 20s).ok()) ++ok;
    });
  for (auto& t : threads) t.join();
  CHECK(ok == 3);
  CHECK(host->connections_opened() == 3);  // the idle one was reused, two more opened
  CHECK(sh(*host, "true").ok());
  CHECK(host->connections_opened() == 3);
}

TEST_CASE("ssh host: after the server drops the connection the next command reconnects once") {
  Lab lab;
  auto host = lab.host();
  CHECK(sh(*host, "true").ok());
  const int logins = lab.sshd.accepted_logins();
  CHECK(lab.sshd.drop_connections() > 0);
  CommandResult r = sh(*host, "echo again");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "again\n");
  CHECK(lab.sshd.accepted_logins() == logins + 1);
  CHECK(host->connections_opened() == 2);

  CHECK(lab.sshd.drop_connections() > 0);
  host->put_file((lab.tmp / "after-drop").string(), "sftp too\n", 0644);
  CHECK(support::read_file(lab.tmp / "after-drop") == "sftp too\n");

  // A command that was running when the connection dropped is reported, not run again.
  const path marker = lab.tmp / "ran";
  std::thread t([&] { r = sh(*host, "echo ran >> " + marker.string() + "; sleep 30"); });
  const bool started = wait_for_file(marker, 10s);
  lab.sshd.drop_connections();
  t.join();
  REQUIRE(started);
  CHECK(r.exit_code == 255);
  CHECK(r.err.find("ssh: box: the connection to ") == 0);
  CHECK(r.err.find("was lost while the command was running") != std::string::npos);
  CHECK(support::read_file(marker) == "ran\n");
  CHECK(sh(*host, "true").ok());
}

TEST_CASE("ssh host: an unknown host key is refused with its SHA256 fingerprint and the trust command") {
  Lab lab;
  SshHostSpec s = lab.spec();
  s.known_hosts = (lab.tmp / "empty_known_hosts").string();
  support::write_file(s.known_hosts, "");
  auto host = lab.host(s);
  const int logins = lab.sshd.accepted_logins();
  CommandResult r = sh(*host, "echo must not run");
  CHECK(r.exit_code == 255);
  CHECK(r.out.empty());
  const std::string fp = lab.sshd.host_fingerprint();
  REQUIRE(fp.rfind("SHA256:", 0) == 0);
  CAPTURE(r.err);
  CHECK(r.err.find("ssh: box: the host key of 127.0.0.1 port " + std::to_string(lab.sshd.port()) + " is not known") == 0);
  CHECK(r.err.find("ssh-ed25519 key with fingerprint " + fp) != std::string::npos);
  CHECK(r.err.find("drctl hosts trust 127.0.0.1 --port " + std::to_string(lab.sshd.port()) + " --known-hosts " +
                   s.known_hosts + " --ssh-config " + lab.config + " --fingerprint " + fp) != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(lab.sshd.accepted_logins() == logins);  // no login to an unverified host

  CHECK_THROWS_WITH_AS(host->get_file("/etc/hostname"), doctest::Contains("is not known"), std::runtime_error);
}

TEST_CASE("ssh host: a changed host key is refused") {
  Lab lab;
  SshHostSpec s = lab.spec();
  s.known_hosts = (lab.tmp / "stale_known_hosts").string();
  support::write_file(s.known_hosts, lab.sshd.other_key_line());
  auto host = lab.host(s);
  CommandResult r = sh(*host, "echo must not run");
  CHECK(r.exit_code == 255);
  CAPTURE(r.err);
  CHECK(r.err.find("has CHANGED") != std::string::npos);
  CHECK(r.err.find(lab.sshd.host_fingerprint()) != std::string::npos);
  CHECK(r.err.find("ssh-keygen -R '[127.0.0.1]:" + std::to_string(lab.sshd.port()) + "' -f " + s.known_hosts) !=
        std::string::npos);
}

TEST_CASE("ssh host: a key the server does not accept fails the login with what was tried") {
  Lab lab;
  SshHostSpec s = lab.spec();
  const path stranger = lab.tmp / "stranger";
  support::expect_exit(support::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", stranger.string()}), 0);
  s.identity_file = stranger.string();
  CommandResult r = sh(*lab.host(s), "true");
  CHECK(r.exit_code == 255);
  CHECK(r.err.find("ssh: box: public-key login as " + lab.sshd.user() + " to 127.0.0.1 port " +
                   std::to_string(lab.sshd.port()) + " failed (" + stranger.string() + ": refused)") == 0);
  s.identity_file = (lab.tmp / "nope").string();
  r = sh(*lab.host(s), "true");
  CHECK(r.err.find(s.identity_file + ": no such file") != std::string::npos);
}

TEST_CASE("drctl hosts trust writes nothing for a wrong fingerprint and trusts the right one") {
  Lab lab;
  const std::string known = (lab.tmp / "dir/known_hosts").string();
  const std::string port = std::to_string(lab.sshd.port());
  const std::string fp = lab.sshd.host_fingerprint();
  auto trust = [&](const std::string& fingerprint) {
    return support::drctl({"hosts", "trust", "127.0.0.1", "--port", port, "--known-hosts", known, "--ssh-config",
                           lab.config, "--fingerprint", fingerprint});
  };

  const std::string wrong = "SHA256:" + std::string(43, 'A');
  support::RunResult r = trust(wrong);
  CHECK(r.exit_code == 1);
  CHECK(support::is_one_error_line(r.err));
  CHECK(r.err.find(fp) != std::string::npos);
  CHECK(r.err.find(wrong) != std::string::npos);
  CHECK(r.err.find("nothing was written") != std::string::npos);
  CHECK_FALSE(support::fs::exists(known));

  r = trust("MD5:00:11");
  CHECK(r.exit_code == 2);
  CHECK(support::is_one_error_line(r.err));

  r = trust(fp);
  support::expect_exit(r, 0);
  CHECK(r.out.find("trusted 127.0.0.1 port " + port) == 0);
  CHECK((support::lstat_or_throw(known).st_mode & 07777) == 0600);
  const std::string line = support::read_file(known);
  CHECK(line.rfind("[127.0.0.1]:" + port + " ssh-ed25519 ", 0) == 0);

  SshHostSpec s = lab.spec();
  s.known_hosts = known;
  CHECK(sh(*lab.host(s), "echo trusted").out == "trusted\n");

  r = trust(fp);  // again: nothing to add
  support::expect_exit(r, 0);
  CHECK(r.out.find("already trusted") != std::string::npos);
  CHECK(support::read_file(known) == line);

  // After a reinstall: the old key stays (and is said to), the new one is added.
  support::write_file(known, lab.sshd.other_key_line());
  r = trust(fp);
  support::expect_exit(r, 0);
  CHECK(r.err.find("still holds an older key") != std::string::npos);
  CHECK(sh(*lab.host(s), "echo again").out == "again\n");
}

TEST_CASE("ssh host: kill_tagged ends what a killed run left behind") {
  Lab lab;
  auto host = lab.host();
  host->set_tag("/state/of/run 1");
  CommandResult r = sh(*host, "setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $!");
  REQUIRE(r.ok());
  const std::string pid = r.out.substr(0, r.out.find('\n'));
  CHECK_FALSE(remote_process_gone(*host, pid));
  CHECK(host->kill_tagged("/state/of/other run") == 0);
  CHECK(host->kill_tagged("/state/of/run 1") >= 1);
  CHECK(remote_process_ends(*host, pid));
}

TEST_CASE("ssh host: keepalives go out during a silent command and on idle connections") {
  Lab lab("DEBUG");  // logs each global request, keepalives included
  support::write_file(lab.config, "Host 127.0.0.1\n  ServerAliveInterval 1\n");
  auto host = lab.host();
  CHECK(host->endpoint().keepalive_interval == 1s);
  const std::string keepalive = "rtype keepalive@openssh.com";
  CHECK(sh(*host, "sleep 2.2; echo done").out == "done\n");
  const int during = lab.sshd.log_lines_with(keepalive);
  CHECK(during >= 1);
  // Idle in the pool: one goes out about a second later (allow for a loaded machine).
  const auto end = std::chrono::steady_clock::now() + 8s;
  while (lab.sshd.log_lines_with(keepalive) == during && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(100ms);
  CHECK(lab.sshd.log_lines_with(keepalive) > during);
  CHECK(sh(*host, "echo idle").out == "idle\n");
  CHECK(host->connections_opened() == 1);
}

TEST_CASE("real world: site hosts over ssh next to the local host") {
  Lab lab;
  RealWorld world;
  world.add_local_alias("controller");
  world.add_ssh_host(lab.spec());
  CHECK(dynamic_cast<SshHost*>(&world.host("box")) != nullptr);
  CHECK(world.ssh_host("box") == &world.host("box"));
  CHECK(world.ssh_host("controller") == nullptr);
  CHECK(world.host("controller").name() == "local");
  CHECK_THROWS_AS(world.host("nobody"), std::out_of_range);
  CHECK(sh(world.host("box"), "echo remote").out == "remote\n");

  support::write_file(lab.config, "Host 127.0.0.1\n  StrictHostKeyChecking no\n");
  const std::string refusal = lab.config + ":2: StrictHostKeyChecking no";
  CHECK_THROWS_WITH_AS(world.add_ssh_host(lab.spec()), doctest::Contains(refusal.c_str()), SshConfigError);
}

TEST_CASE("drctl run: a site's SSH host runs steps over SSH, and an unknown host key stops the run with its fingerprint") {
  support::Sshd sshd;
  support::TempDir t("run-ssh");
  auto site = [&](const std::filesystem::path& known_hosts) {
    support::write_file(t / "site.yaml", "name: lab\nhosts:\n  box:\n    address: 127.0.0.1\n    port: " +
                                             std::to_string(sshd.port()) + "\n    user: " + sshd.user() +
                                             "\n    identity_file: " + sshd.client_key().string() +
                                             "\n    known_hosts_file: " + known_hosts.string() + "\n");
  };
  site(sshd.known_hosts());
  support::write_file(t / "rb.yaml", "site: site.yaml\nsteps:\n"
                                     "  - {id: conf, on: box, uses: file.put, with: {path: \"" + (t / "out/app.conf").string() +
                                     "\", content: \"over ssh\\n\", mode: \"0640\"}}\n"
                                     "  - {id: who, on: box, needs: conf, run: \"echo $SSH_CONNECTION > " +
                                     (t / "out/who").string() + "\"}\n");
  auto r = support::drctl({"run", (t / "rb.yaml").string(), "--state", (t / "state").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(support::read_file(t / "out/app.conf") == "over ssh\n");
  CHECK(support::read_file(t / "out/who").find("127.0.0.1") != std::string::npos);  // it came in over SSH
  CHECK(sshd.accepted_logins() >= 1);

  // A host whose key the site's known_hosts does not hold: refused, with the fingerprint and how to trust it.
  support::write_file(t / "empty_known_hosts", "");
  site(t / "empty_known_hosts");
  auto refused = support::drctl({"run", (t / "rb.yaml").string(), "--state", (t / "state2").string()});
  CHECK(refused.exit_code == 1);
  const std::string said = refused.out + refused.err;
  CHECK_MESSAGE(said.find(sshd.host_fingerprint()) != std::string::npos, refused.describe());
  CHECK(said.find("drctl hosts trust") != std::string::npos);
}

TEST_CASE("ssh host: become sudo runs commands and file transfers through sudo -n, and kills through it") {
  Lab lab;
  SshHostSpec s = lab.spec();
  s.sudo = true;
  auto host = lab.host(s);
  // sudo names who asked: the command ran through it (the test logs in as root, whom sudo lets in).
  CHECK(sh(*host, "echo \"$SUDO_USER:$(id -u)\"").out == lab.sshd.user() + ":0\n");
  CHECK(sh(*lab.host(), "echo \"${SUDO_USER-none}\"").out == "none\n");
  CHECK(sh(*host, "exit 7").exit_code == 7);

  // Files: written atomically with the mode through a temporary file, parents made; read back.
  const path file = lab.tmp / "sudo/a/b/file.conf";
  const std::string big(3 * 1024 * 1024 + 17, 'q');  // more than one piece of put_file
  host->put_file(file.string(), big, 0640);
  CHECK(support::read_file(file) == big);
  CHECK((support::lstat_or_throw(file).st_mode & 07777) == 0640);
  host->put_file(file.string(), "second\n", 0600);
  CHECK(support::read_file(file) == "second\n");
  CHECK((support::lstat_or_throw(file).st_mode & 07777) == 0600);
  int entries = 0;
  for ([[maybe_unused]] const auto& e : support::fs::directory_iterator(file.parent_path())) ++entries;
  CHECK(entries == 1);  // no temporary file left
  CHECK(host->get_file(file.string()) == std::optional<std::string>("second\n"));
  const path odd = lab.tmp / "sudo/it's \"$(echo x)\" `y` $HOME.conf";  // quoted, never run
  host->put_file(odd.string(), "odd\n", 0644);
  CHECK(support::read_file(odd) == "odd\n");
  CHECK(host->get_file(odd.string()) == std::optional<std::string>("odd\n"));
  CHECK(host->get_file((lab.tmp / "sudo/none").string()) == std::nullopt);
  const std::string not_a_file = "get " + (lab.tmp / "sudo/a").string() + " (sudo): cat:";
  CHECK_THROWS_WITH(host->get_file((lab.tmp / "sudo/a").string()), doctest::Contains(not_a_file.c_str()));

  // A timeout kills the command's whole group, as root.
  const std::string pidfile = (lab.tmp / "sudo.pid").string();
  CommandResult r = sh(*host, "sleep 300 & echo $! > " + pidfile + "; wait", 500ms);
  CHECK(r.timed_out);
  const std::string pid = support::read_file(pidfile).substr(0, support::read_file(pidfile).find('\n'));
  REQUIRE(!pid.empty());
  CHECK(remote_process_ends(*host, pid));
}

TEST_CASE("drctl run: a site host with become: sudo runs its steps through sudo, and another value is refused") {
  support::Sshd sshd;
  support::TempDir t("run-sudo");
  auto site = [&](const std::string& become) {
    support::write_file(t / "site.yaml", "name: lab\nhosts:\n  box:\n    address: 127.0.0.1\n    port: " +
                                             std::to_string(sshd.port()) + "\n    user: " + sshd.user() +
                                             "\n    identity_file: " + sshd.client_key().string() +
                                             "\n    known_hosts_file: " + sshd.known_hosts().string() +
                                             "\n    become: " + become + "\n");
  };
  site("sudo");
  support::write_file(t / "rb.yaml", "site: site.yaml\nsteps:\n"
                                     "  - {id: conf, on: box, uses: file.put, with: {path: \"" + (t / "out/app.conf").string() +
                                     "\", content: \"as root\\n\", mode: \"0600\"}}\n"
                                     "  - {id: who, on: box, needs: conf, run: \"echo $SUDO_USER > " + (t / "out/who").string() + "\"}\n");
  auto r = support::drctl({"run", (t / "rb.yaml").string(), "--state", (t / "state").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(support::read_file(t / "out/app.conf") == "as root\n");
  CHECK(support::read_file(t / "out/who") == sshd.user() + "\n");

  site("doas");
  auto refused = support::drctl({"run", (t / "rb.yaml").string(), "--state", (t / "state2").string()});
  CHECK(refused.exit_code == 2);
  CHECK_MESSAGE(support::is_one_error_line(refused.err), refused.describe());
  CHECK(refused.err.find("site.yaml: host box: become: must be 'sudo'") != std::string::npos);
}

TEST_CASE("ssh host: a stream sink that throws ends the remote command, and the host stays usable") {
  Lab lab;
  auto host = lab.host();
  const std::string pidfile = (lab.tmp / "yes.pid").string();
  Command c;
  c.script = "echo $$ > " + pidfile + "; exec yes 'endless output'";
  std::size_t got = 0;
  struct Enough {};
  CHECK_THROWS_AS(host->run_stream(c,
                                   [&](const char*, std::size_t n) {
                                     got += n;
                                     if (got > 1024 * 1024) throw Enough{};
                                   }),
                  Enough);
  const std::string pid = support::read_file(pidfile).substr(0, support::read_file(pidfile).find('\n'));
  REQUIRE(!pid.empty());
  CHECK(remote_process_ends(*host, pid));
  CHECK(sh(*host, "echo still usable").out == "still usable\n");
}

TEST_CASE("drctl hosts check: every SSH host of a site answers with a known key and a login, or is named with why not") {
  support::Sshd sshd;
  support::TempDir t("hosts-check");
  support::write_file(t / "empty_known_hosts", "");
  // A port nothing listens on: bound and closed again.
  int closed_port = 0;
  {
    support::Sshd other;
    closed_port = other.port();
  }
  auto host = [&](const std::string& name, int port, const std::filesystem::path& known, const std::string& extra) {
    return "  " + name + ":\n    address: 127.0.0.1\n    port: " + std::to_string(port) + "\n    user: " + sshd.user() +
           "\n    identity_file: " + sshd.client_key().string() + "\n    known_hosts_file: " + known.string() + "\n" + extra;
  };
  support::write_file(t / "site.yaml", "name: lab\nhosts:\n  me: {connection: local}\n" +
                                           host("good", sshd.port(), sshd.known_hosts(), "    become: sudo\n") +
                                           host("stranger", sshd.port(), t / "empty_known_hosts", "") +
                                           host("gone", closed_port, sshd.known_hosts(), ""));
  auto r = support::drctl({"hosts", "check", (t / "site.yaml").string()});
  CHECK(r.exit_code == 1);
  const auto lines = r.out_lines();
  REQUIRE_MESSAGE(lines.size() == 4, r.describe());
  CHECK(lines[0].rfind("me ", 0) == 0);
  CHECK(lines[0].find(" ok ") != std::string::npos);
  CHECK(lines[1].find("good") == 0);
  CHECK(lines[1].find(" ok      " + sshd.user() + "@127.0.0.1:" + std::to_string(sshd.port()) + ", root through sudo") !=
        std::string::npos);
  CHECK(lines[2].find("stranger") == 0);
  CHECK(lines[2].find("FAILED  ssh: stranger: the host key of 127.0.0.1 port " + std::to_string(sshd.port()) +
                      " is not known") != std::string::npos);
  CHECK(lines[2].find(sshd.host_fingerprint()) != std::string::npos);
  CHECK(lines[3].find("FAILED  ssh: gone: cannot connect to " + sshd.user() + "@127.0.0.1:" + std::to_string(closed_port) +
                      ": Connection refused") != std::string::npos);
  CHECK(r.err == "drctl: 2 of 3 SSH hosts of " + (t / "site.yaml").string() + " cannot be used\n");

  // Through a runbook naming the site; all good: exit 0.
  support::write_file(t / "good.yaml", "name: lab\nhosts:\n" + host("good", sshd.port(), sshd.known_hosts(), ""));
  support::write_file(t / "rb.yaml", "site: good.yaml\nsteps:\n  - {id: hi, on: good, run: \"true\"}\n");
  auto ok = support::drctl({"hosts", "check", (t / "rb.yaml").string()});
  CHECK_MESSAGE(ok.exit_code == 0, ok.describe());
  CHECK(ok.out.find("good") == 0);
}

TEST_CASE("ssh host: become sudo for users who are not root: with a NOPASSWD entry as root, without one sudo's refusal") {
  // Two users that exist only for this sshd and what it runs (sudo included): a passwd, group,
  // shadow and sudoers.d bind-mounted in a mount namespace of the server's own.
  support::TempDir t("sudo-users");
  const std::string passwd = support::read_file("/etc/passwd") +
                             "drctl-op:x:4242:4242:drctl test operator:/nonexistent:/bin/sh\n"
                             "drctl-nosudo:x:4243:4243:drctl test user:/nonexistent:/bin/sh\n";
  support::write_file(t / "passwd", passwd, 0644);
  support::write_file(t / "group", support::read_file("/etc/group") + "drctl-op:x:4242:\ndrctl-nosudo:x:4243:\n", 0644);
  support::write_file(t / "shadow",
                      support::read_file("/etc/shadow") + "drctl-op:*:19000:0:99999:7:::\ndrctl-nosudo:*:19000:0:99999:7:::\n",
                      0640);
  support::fs::create_directories(t / "sudoers.d");
  support::write_file(t / "sudoers.d/drctl-op", "drctl-op ALL=(ALL) NOPASSWD: ALL\n", 0440);
  support::SshdPlace place;
  place.bind_mounts = {{(t / "passwd").string(), "/etc/passwd"},
                       {(t / "group").string(), "/etc/group"},
                       {(t / "shadow").string(), "/etc/shadow"},
                       {(t / "sudoers.d").string(), "/etc/sudoers.d"}};
  support::Sshd sshd(place);
  // The users read authorized_keys themselves (sshd drops to them for it).
  ::chmod(sshd.dir().c_str(), 0755);
  ::chmod((sshd.dir() / "authorized_keys").c_str(), 0644);
  auto spec = [&](const std::string& user, bool sudo) {
    SshHostSpec s;
    s.name = user;
    s.address = "127.0.0.1";
    s.port = sshd.port();
    s.user = user;
    s.identity_file = sshd.client_key().string();
    s.known_hosts = sshd.known_hosts().string();
    s.ssh_config = "/dev/null";
    s.sudo = sudo;
    return s;
  };
  Cancel cancel;
  const path root_only = t / "root-only/app.conf";  // t is 0700 root: no way in for the users
  SshHost plain(resolve_ssh_endpoint(spec("drctl-op", false)), cancel);
  CommandResult r = sh(plain, "id -u");
  REQUIRE_MESSAGE(r.ok(), r.err);
  CHECK(r.out == "4242\n");
  CHECK_THROWS(plain.put_file(root_only.string(), "x\n", 0600));
  CHECK_FALSE(support::fs::exists(root_only));

  SshHost become(resolve_ssh_endpoint(spec("drctl-op", true)), cancel);
  r = sh(become, "echo \"$(id -u) $SUDO_USER\"");
  CHECK(r.out == "0 drctl-op\n");
  become.put_file(root_only.string(), "as root\n", 0600);
  CHECK(support::read_file(root_only) == "as root\n");
  CHECK(support::lstat_or_throw(root_only).st_uid == 0);
  CHECK(become.get_file(root_only.string()) == std::optional<std::string>("as root\n"));

  SshHost refused(resolve_ssh_endpoint(spec("drctl-nosudo", true)), cancel);
  r = sh(refused, "true");
  CHECK(r.exit_code == 1);
  CHECK_MESSAGE(r.err.find("sudo: a password is required") != std::string::npos, r.err);
  const std::string put_refused = "put " + (t / "x").string() + " (sudo): sudo: a password is required";
  CHECK_THROWS_WITH(refused.put_file((t / "x").string(), "x", 0600), doctest::Contains(put_refused.c_str()));
}

TEST_CASE("drctl hosts check and drctl run: a site host without a port is reached at the port its SSH config names") {
  support::Sshd sshd;
  support::TempDir t("config-port");
  // Everything but the name comes from the config, as `ssh box` would take it.
  support::write_file(t / "ssh_config", "Host box\n  HostName 127.0.0.1\n  Port=" + std::to_string(sshd.port()) +
                                            "\n  User " + sshd.user() + "\n  IdentityFile " + sshd.client_key().string() +
                                            "\n  UserKnownHostsFile " + sshd.known_hosts().string() + "\n");
  support::write_file(t / "site.yaml", "name: lab\nhosts:\n  box: {}\n");
  const std::string config = (t / "ssh_config").string();
  auto check = support::drctl({"hosts", "check", (t / "site.yaml").string(), "--ssh-config", config});
  CHECK_MESSAGE(check.exit_code == 0, check.describe());
  CHECK(check.out.find("box            ok      " + sshd.user() + "@127.0.0.1:" + std::to_string(sshd.port())) == 0);

  support::write_file(t / "rb.yaml", "site: site.yaml\nsteps:\n  - {id: who, on: box, run: \"echo $SSH_CONNECTION > " +
                                         (t / "who").string() + "; echo {{host.port}} {{host.user}} $(id -un) > " +
                                         (t / "templates").string() + "\"}\n");
  auto run = support::drctl({"run", (t / "rb.yaml").string(), "--state", (t / "state").string(), "--ssh-config", config});
  REQUIRE_MESSAGE(run.exit_code == 0, run.describe());
  // SSH_CONNECTION: client address, client port, server address, server port.
  std::istringstream words(support::read_file(t / "who"));
  std::string client, client_port, server, server_port;
  words >> client >> client_port >> server >> server_port;
  CHECK(server_port == std::to_string(sshd.port()));
  CHECK(sshd.accepted_logins() >= 2);
  // Templates saw the port and user the connection used (they said 22 and nothing before).
  std::istringstream seen(support::read_file(t / "templates"));
  std::string template_port, template_user, login;
  seen >> template_port >> template_user >> login;
  CHECK(template_port == server_port);
  CHECK(template_user == login);

  // A port the site gives wins over the config's, as `ssh -p` does: here one nothing listens on.
  int closed_port = 0;
  {
    support::Sshd other;
    closed_port = other.port();
  }
  support::write_file(t / "site.yaml", "name: lab\nhosts:\n  box: {port: " + std::to_string(closed_port) + "}\n");
  auto refused = support::drctl({"hosts", "check", (t / "site.yaml").string(), "--ssh-config", config});
  CHECK(refused.exit_code == 1);
  CHECK_MESSAGE(refused.out.find("127.0.0.1:" + std::to_string(closed_port) + ": Connection refused") != std::string::npos,
                refused.describe());
}
