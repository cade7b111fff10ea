// Which cipher drctl's SSH connections use, as a real sshd (tests/support/sshd.hpp, logging at
// DEBUG1) reports it: "kex: server->client cipher: NAME". Without a Ciphers line drctl offers
// OpenSSH's default set with AES-GCM first when the CPU has AES-NI and PCLMULQDQ (the oracle is
// /proc/cpuinfo's flags, not drctl's own check); a Ciphers line is followed as ssh(1) follows it;
// a server that allows other ciphers only is met by the next one offered; with no cipher in
// common the connection fails naming both lists; a bad Ciphers line fails before connecting.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "support/fs_tree.hpp"
#include "support/sshd.hpp"
#include "world/real/ssh_config.hpp"
#include "world/real/ssh_host.hpp"

using namespace drctl::world;
using namespace drctl::world::real;

namespace {

/// True when /proc/cpuinfo's first "flags" line (x86; "Features" on arm64) lists both.
bool cpuinfo_has(const std::string& a, const std::string& b) {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0 && line.rfind("Features", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    bool has_a = false, has_b = false;
    for (std::string w; words >> w;) {
      has_a = has_a || w == a;
      has_b = has_b || w == b;
    }
    return has_a && has_b;
  }
  return false;
}

/// The cipher the server's log says it chose for its last connection ("" when none).
std::string last_cipher(const support::Sshd& sshd) {
  std::ifstream in(sshd.log());
  std::string found;
  const std::string key = "kex: server->client cipher: ";
  for (std::string line; std::getline(in, line);) {
    const auto at = line.find(key);
    if (at == std::string::npos) continue;
    found = line.substr(at + key.size());
    found = found.substr(0, found.find(' '));
  }
  return found;
}

struct Lab {
  support::Sshd sshd;
  support::TempDir tmp{"sshcipher"};
  Cancel cancel;

  explicit Lab(std::vector<std::string> server_config = {}) : sshd(place(std::move(server_config)), "DEBUG1") {}

  static support::SshdPlace place(std::vector<std::string> server_config) {
    support::SshdPlace p;
    p.extra_config = std::move(server_config);
    return p;
  }

  /// Runs `echo ok` on the server with `config` as the SSH config; the command's result.
  CommandResult echo(const std::string& config) {
    const std::string file = (tmp / "ssh_config").string();
    support::write_file(file, config);
    SshHostSpec s;
    s.name = "box";
    s.address = "127.0.0.1";
    s.port = sshd.port();
    s.user = sshd.user();
    s.identity_file = sshd.client_key().string();
    s.known_hosts = sshd.known_hosts().string();
    s.ssh_config = file;
    SshHost host(resolve_ssh_endpoint(s), cancel);
    Command c;
    c.script = "echo ok";
    return host.run(c);
  }
};

}  // namespace

TEST_CASE("ssh ciphers: without a Ciphers line AES-GCM is chosen where the CPU has AES-NI, else chacha20") {
  Lab lab;
  const CommandResult r = lab.echo("");
  REQUIRE_MESSAGE(r.ok(), r.err);
  CHECK(r.out == "ok\n");
  const bool aes = cpuinfo_has("aes", "pclmulqdq") || cpuinfo_has("aes", "pmull");
  CHECK(last_cipher(lab.sshd) == std::string(aes ? "aes128-gcm@openssh.com" : "chacha20-poly1305@openssh.com"));
}

TEST_CASE("ssh ciphers: a Ciphers line decides, with OpenSSH's + ^ and - forms") {
  Lab lab;
  const struct {
    const char* line;
    const char* chosen;
  } cases[] = {
      {"Ciphers aes256-ctr\n", "aes256-ctr"},
      {"Ciphers ^chacha20-poly1305@openssh.com\n", "chacha20-poly1305@openssh.com"},
      {"Ciphers -chacha20-poly1305@openssh.com\n", "aes128-ctr"},  // ssh(1)'s order for the rest
      {"Host 127.0.0.1\n  Ciphers aes192-ctr,aes128-ctr\n", "aes192-ctr"},
  };
  for (const auto& c : cases) {
    INFO(c.line);
    const CommandResult r = lab.echo(c.line);
    REQUIRE_MESSAGE(r.ok(), r.err);
    CHECK(last_cipher(lab.sshd) == c.chosen);
  }
}

TEST_CASE("ssh ciphers: a server allowing only aes256-ctr gets it, and with none in common the error names both") {
  Lab lab({"Ciphers aes256-ctr"});
  const CommandResult r = lab.echo("");
  REQUIRE_MESSAGE(r.ok(), r.err);
  CHECK(last_cipher(lab.sshd) == "aes256-ctr");

  const CommandResult none = lab.echo("Ciphers aes128-gcm@openssh.com\n");
  CHECK_FALSE(none.ok());
  CHECK(none.transport_error.find("aes256-ctr") != std::string::npos);
  CHECK(none.transport_error.find("aes128-gcm@openssh.com") != std::string::npos);
  CHECK(lab.sshd.accepted_logins() == 1);  // the first connection only
}

TEST_CASE("ssh ciphers: a bad Ciphers line is refused with its file and line before any connection") {
  Lab lab;
  const int connections = lab.sshd.log_lines_with("Connection from");
  const std::string at = (lab.tmp / "ssh_config").string() + ":1: ";
  for (const char* line : {"Ciphers aes128-ctr,bogus\n", "Ciphers -*\n", "Ciphers aes128-ctr aes256-ctr\n"}) {
    INFO(line);
    CHECK_THROWS_WITH_AS(lab.echo(line), doctest::Contains(at.c_str()), SshConfigError);
  }
  CHECK(lab.sshd.log_lines_with("Connection from") == connections);
}
