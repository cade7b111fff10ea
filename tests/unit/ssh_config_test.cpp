// The SSH client config as drctl reads it (like `ssh -F FILE`): Host patterns, Match, Include,
// first value wins, tokens and ~, the site's explicit settings over the file over the
// defaults, and the refusal of settings that would connect to an unverified host or run a
// command. tests/integration/ssh_config_g_test.cpp compares the same reading with `ssh -G`.
#include <doctest/doctest.h>

#include <string>

#include "support/fs_tree.hpp"
#include "world/real/known_hosts.hpp"
#include "world/real/ssh_config.hpp"

using namespace drctl::world::real;
using support::TempDir;

namespace {

// A made-up local user whose home is a fresh directory (so ~/.ssh is the test's).
struct Local {
  TempDir dir{"sshcfg"};
  SshLocalEnv env;
  Local() {
    env.home = dir.str();
    env.user = "alice";
    env.hostname = "box";
    support::fs::create_directories(dir / ".ssh");
  }
  std::string config(const std::string& text, const std::string& name = "config") {
    const auto path = dir / name;
    support::write_file(path, text);
    return path.string();
  }
  SshEndpoint resolve(SshHostSpec spec) { return resolve_ssh_endpoint(spec, env); }
};

SshHostSpec host(const std::string& name, const std::string& config = "") {
  SshHostSpec s;
  s.name = name;
  s.ssh_config = config;
  return s;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const SshConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("ssh config: Host patterns with star and question mark and negation match like ssh(1), case by case") {
  CHECK(ssh_pattern_match("nas.lab", "*.lab"));
  CHECK(ssh_pattern_match("NAS.Lab", "nas.*"));
  CHECK(ssh_pattern_match("node1", "node?"));
  CHECK_FALSE(ssh_pattern_match("node12", "node?"));
  CHECK(ssh_pattern_match("anything", "*"));
  CHECK(ssh_pattern_match("a", "**a"));
  CHECK_FALSE(ssh_pattern_match("nas", "nas?"));
  CHECK_FALSE(ssh_pattern_match_case("NAS.Lab", "nas.*"));  // a Host line compares case by case
  CHECK(ssh_pattern_match_case("NAS.Lab", "NAS.*"));
  CHECK(ssh_pattern_list_match("db1", "db*,!db2", true) == SshListMatch::positive);
  CHECK(ssh_pattern_list_match("DB2", "db*,!db2", true) == SshListMatch::negated);
  CHECK(ssh_pattern_list_match("Root", "root", false) == SshListMatch::none);

  Local l;
  const auto cfg = l.config(
      "Host node? !node9\n"
      "  User worker\n"
      "Host *.lab nas\n"
      "  Port 2200\n");
  CHECK(l.resolve(host("node1", cfg)).user == "worker");
  CHECK(l.resolve(host("node9", cfg)).user == "alice");  // negated: the block does not apply
  CHECK(l.resolve(host("node10", cfg)).user == "alice");
  CHECK(l.resolve(host("nas", cfg)).port == 2200);
  CHECK(l.resolve(host("NAS", cfg)).port == 22);  // ssh(1) matches Host patterns against the name as typed
  CHECK(l.resolve(host("NAS", cfg)).hostname == "nas");  // and connects to it in lower case
  CHECK(l.resolve(host("pxe.lab", cfg)).port == 2200);
  CHECK(l.resolve(host("pxe.lan", cfg)).port == 22);
}

TEST_CASE("ssh config: the first value wins and lines before any Host apply to every host") {
  Local l;
  const auto cfg = l.config(
      "User everyone\n"
      "Host nas\n"
      "  User nasadmin\n"
      "  Port 2222\n"
      "Host *\n"
      "  Port 22\n"
      "  HostName from-star\n"
      "Host nas\n"
      "  HostName 10.0.0.5\n");
  const SshEndpoint nas = l.resolve(host("nas", cfg));
  CHECK(nas.user == "everyone");  // the top line came first
  CHECK(nas.port == 2222);
  CHECK(nas.hostname == "from-star");  // Host * came before the second Host nas
  CHECK(nas.alias == "nas");
  const SshEndpoint other = l.resolve(host("pxe", cfg));
  CHECK(other.port == 22);
  CHECK(other.hostname == "from-star");
}

TEST_CASE("ssh config: Key=Value and quotes and comments and HostName with %h") {
  Local l;
  const auto cfg = l.config(
      "# a comment\n"
      "Host=nas   # trailing comment\n"
      "  HostName=%h.lab.example\n"
      "  IdentityFile \"~/keys/with space\"\n"
      "  USER='root'\n");
  const SshEndpoint ep = l.resolve(host("nas", cfg));
  CHECK(ep.hostname == "nas.lab.example");
  CHECK(ep.user == "root");
  REQUIRE(ep.identity_files.size() == 1);
  CHECK(ep.identity_files[0] == l.dir.str() + "/keys/with space");
}

TEST_CASE("ssh config: IdentityFile and UserKnownHostsFile expand ~ and %d %h %p %r %u %n %l %%") {
  Local l;
  const auto cfg = l.config(
      "Host nas\n"
      "  HostName 10.0.0.5\n"
      "  Port 2022\n"
      "  User root\n"
      "  IdentityFile ~/.ssh/%h-%p-%r\n"
      "  IdentityFile %d/keys/%u@%l-%n\n"
      "  UserKnownHostsFile ~/.ssh/known_%h_100%%\n");
  const SshEndpoint ep = l.resolve(host("nas", cfg));
  REQUIRE(ep.identity_files.size() == 2);  // every IdentityFile line, in order
  CHECK(ep.identity_files[0] == l.dir.str() + "/.ssh/10.0.0.5-2022-root");
  CHECK(ep.identity_files[1] == l.dir.str() + "/keys/alice@box-nas");
  CHECK(ep.known_hosts == l.dir.str() + "/.ssh/known_10.0.0.5_100%");

  const auto bad = l.config("Host *\n  IdentityFile ~/.ssh/id_%z\n", "bad");
  const std::string e = error_of([&] { l.resolve(host("nas", bad)); });
  CHECK(e.find(bad + ":2:") == 0);
  CHECK(e.find("%z") != std::string::npos);
}

TEST_CASE("ssh config: the site's explicit settings win over the file and the file over the defaults") {
  Local l;
  const auto cfg = l.config(
      "Host nas\n"
      "  HostName 10.0.0.5\n"
      "  Port 2222\n"
      "  User nasadmin\n"
      "  IdentityFile ~/.ssh/nas_key\n"
      "  UserKnownHostsFile ~/.ssh/nas_known\n");
  SshHostSpec spec = host("nas", cfg);
  spec.port = 22022;
  spec.user = "root";
  spec.identity_file = "~/site_key";
  spec.known_hosts = "/etc/drctl/known_hosts";
  const SshEndpoint ep = l.resolve(spec);
  CHECK(ep.hostname == "10.0.0.5");  // the address is what you would type after ssh: HostName still applies
  CHECK(ep.port == 22022);
  CHECK(ep.user == "root");
  REQUIRE(ep.identity_files.size() == 1);
  CHECK(ep.identity_files[0] == l.dir.str() + "/site_key");
  CHECK(ep.known_hosts == "/etc/drctl/known_hosts");
  CHECK(ep.explicit_port);
  CHECK(ep.explicit_known_hosts);

  // The site's address is what the patterns see; the name is used when there is none.
  SshHostSpec by_address = host("storage", cfg);
  by_address.address = "nas";
  CHECK(l.resolve(by_address).hostname == "10.0.0.5");
  CHECK(l.resolve(host("storage", cfg)).hostname == "storage");
}

TEST_CASE("ssh config: without a file the defaults of ssh(1) apply and only default keys that exist are tried") {
  Local l;
  SshEndpoint ep = l.resolve(host("10.0.0.7"));  // no ~/.ssh/config: nothing read
  CHECK(ep.config_file.empty());
  CHECK(ep.hostname == "10.0.0.7");
  CHECK(ep.port == 22);
  CHECK(ep.user == "alice");
  CHECK(ep.known_hosts == l.dir.str() + "/.ssh/known_hosts");
  CHECK(ep.identity_files.empty());
  CHECK_FALSE(ep.explicit_port);

  support::write_file(l.dir / ".ssh/id_rsa", "x", 0600);
  support::write_file(l.dir / ".ssh/id_ed25519", "x", 0600);
  ep = l.resolve(host("10.0.0.7"));
  REQUIRE(ep.identity_files.size() == 2);
  CHECK(ep.identity_files[0] == l.dir.str() + "/.ssh/id_ed25519");
  CHECK(ep.identity_files[1] == l.dir.str() + "/.ssh/id_rsa");

  // ~/.ssh/config is read when it exists.
  support::write_file(l.dir / ".ssh/config", "Host 10.0.0.7\n  Port 2200\n");
  ep = l.resolve(host("10.0.0.7"));
  CHECK(ep.port == 2200);
  CHECK(ep.config_file == l.dir.str() + "/.ssh/config");
  CHECK_FALSE(ep.explicit_config);
}

TEST_CASE("ssh config: StrictHostKeyChecking no or off or accept-new is refused with file:line") {
  Local l;
  for (const std::string value : {"no", "off", "accept-new", "NO"}) {
    CAPTURE(value);
    const auto cfg = l.config("Host *.lab\n  Port 22\nHost nas.lab\n  StrictHostKeyChecking " + value + "\n");
    const std::string e = error_of([&] { l.resolve(host("nas.lab", cfg)); });
    CHECK(e.find(cfg + ":4: StrictHostKeyChecking " + value) == 0);
    CHECK(e.find("never connects to a host whose key it cannot verify") != std::string::npos);
    // A line for another host is no concern of this one.
    CHECK(error_of([&] { l.resolve(host("pxe.lab", cfg)); }).empty());
  }
  // First value wins: an earlier "yes" for the host stands.
  const auto cfg = l.config("Host nas\n  StrictHostKeyChecking yes\nHost *\n  StrictHostKeyChecking no\n");
  CHECK(error_of([&] { l.resolve(host("nas", cfg)); }).empty());
  CHECK(error_of([&] { l.resolve(host("other", cfg)); }).find(cfg + ":4:") == 0);
  // ask and yes are strict (drctl never asks: an unknown key is refused either way).
  CHECK(error_of([&] { l.resolve(host("nas", l.config("StrictHostKeyChecking ask\n", "ask"))); }).empty());
}

TEST_CASE("ssh config: bad values and ProxyJump and a missing --ssh-config are errors that say where") {
  Local l;
  const auto port = l.config("Host nas\n  Port twenty-two\n", "port");
  CHECK(error_of([&] { l.resolve(host("other", port)); }).find(port + ":2: Port 'twenty-two' is not a port number") == 0);
  const auto value = l.config("Host nas\n  User\n", "value");
  CHECK(error_of([&] { l.resolve(host("nas", value)); }).find(value + ":2: User needs a value") == 0);
  const auto quote = l.config("Host \"nas\n", "quote");
  CHECK(error_of([&] { l.resolve(host("nas", quote)); }).find(quote + ":1: unterminated quote") == 0);
  const auto jump = l.config("Host nas\n  ProxyJump bastion\n", "jump");
  const std::string e = error_of([&] { l.resolve(host("nas", jump)); });
  CHECK(e.find(jump + ":2: ProxyJump bastion applies to nas") == 0);
  CHECK(error_of([&] { l.resolve(host("pxe", jump)); }).empty());
  const std::string missing = (l.dir / "nope").string();
  CHECK(error_of([&] { l.resolve(host("nas", missing)); }).find("cannot read the SSH config file " + missing) == 0);
}

TEST_CASE("ssh config: Include relative to ~/.ssh with globs applies only where the including block does") {
  Local l;
  support::fs::create_directories(l.dir / ".ssh/conf.d");
  support::write_file(l.dir / ".ssh/conf.d/10-nas", "Host nas\n  User nasadmin\n");
  support::write_file(l.dir / ".ssh/conf.d/20-pxe", "Host pxe other\n  User pxeadmin\n");
  const auto cfg = l.config(
      "Host nas pxe\n"
      "  Include conf.d/*\n"
      "  Port 2201\n"  // back in the including block after the Include
      "Match all\n"
      "  IdentityFile ~/.ssh/all\n");
  const SshEndpoint nas = l.resolve(host("nas", cfg));
  CHECK(nas.user == "nasadmin");
  CHECK(nas.port == 2201);
  REQUIRE(nas.identity_files.size() == 1);
  CHECK(nas.identity_files[0] == l.dir.str() + "/.ssh/all");
  CHECK(l.resolve(host("pxe", cfg)).user == "pxeadmin");
  // The included files are read only for the hosts of the block that includes them.
  CHECK(l.resolve(host("other", cfg)).user == "alice");
  CHECK(l.resolve(host("other", cfg)).port == 22);
}

TEST_CASE("ssh config: Match host, originalhost, user and localuser with negation, the criteria ANDed, in file order") {
  Local l;
  const auto cfg = l.config(
      "Host db*\n"
      "  HostName %h.Internal\n"
      "Match host db1.internal\n"  // the HostName so far, in lower case
      "  User dbadmin\n"
      "Match user dbadmin localuser alice\n"  // the User set two lines up
      "  Port 3306\n"
      "Match originalhost db2 !user root\n"
      "  Port 2202\n"
      "Match !localuser alice\n"
      "  Port 9\n");
  const SshEndpoint db1 = l.resolve(host("db1", cfg));
  CHECK(db1.hostname == "db1.internal");
  CHECK(db1.user == "dbadmin");
  CHECK(db1.port == 3306);
  CHECK(l.resolve(host("db2", cfg)).port == 2202);
  SshHostSpec as_root = host("db2", cfg);
  as_root.user = "root";  // the site's user is what `Match user` sees, as with ssh -l
  CHECK(l.resolve(as_root).port == 22);
}

TEST_CASE("ssh config: Match final reads the file again for the HostName, where canonical holds too") {
  Local l;
  const auto cfg = l.config(
      "Host web\n"
      "  HostName real-%h.example\n"
      "Host real-web.example\n"  // not in the first reading (the host is `web`), in the second
      "  Port 1111\n"
      "Match final host real-web.example\n"
      "  Port 2222\n"
      "  User final\n"
      "Match canonical\n"
      "  IdentityFile ~/canonical\n");
  const SshEndpoint web = l.resolve(host("web", cfg));
  CHECK(web.port == 1111);
  CHECK(web.user == "final");
  REQUIRE(web.identity_files.size() == 1);
  CHECK(web.identity_files[0] == l.dir.str() + "/canonical");
  // Without `final` anywhere there is one reading, where canonical never holds.
  const SshEndpoint once = l.resolve(host("web", l.config("Match canonical\n  Port 7\n", "once")));
  CHECK(once.port == 22);
}

TEST_CASE("ssh config: Match exec is refused with file:line where ssh would run it, and unknown criteria are errors") {
  Local l;
  const auto cfg = l.config("Host *\n  Port 22\nMatch host nas exec \"test -e /x\"\n  User matched\n");
  const std::string e = error_of([&] { l.resolve(host("nas", cfg)); });
  CHECK(e.find(cfg + ":3: Match exec would run `test -e /x`") == 0);
  CHECK(e.find("never runs a command from an SSH config") != std::string::npos);
  // For another host ssh(1) stops at `host nas` and never runs it: no concern.
  CHECK(error_of([&] { l.resolve(host("pxe", cfg)); }).empty());
  const auto bad = l.config("Match address 10.0.0.0/8\n  User x\n", "bad");
  CHECK(error_of([&] { l.resolve(host("nas", bad)); }).find(bad + ":1: drctl does not know the Match criterion 'address'") ==
        0);
  const auto alone = l.config("Match host nas user root all\n", "alone");
  CHECK(error_of([&] { l.resolve(host("nas", alone)); }).find(alone + ":1: Match all cannot be combined") == 0);
  const auto missing = l.config("Match user\n", "missing");
  CHECK(error_of([&] { l.resolve(host("nas", missing)); }).find(missing + ":1: Match user needs a pattern") == 0);
}

TEST_CASE("ssh config: IdentitiesOnly and IdentityAgent decide whether the agent is used") {
  Local l;
  l.env.agent_socket = "/run/agent.sock";
  CHECK(l.resolve(host("nas")).agent_socket == "/run/agent.sock");
  CHECK(l.resolve(host("nas", l.config("IdentitiesOnly yes\n", "only"))).agent_socket.empty());
  CHECK(l.resolve(host("nas", l.config("IdentityAgent none\n", "none"))).agent_socket.empty());
  CHECK(l.resolve(host("nas", l.config("IdentityAgent ~/agent\n", "path"))).agent_socket == l.dir.str() + "/agent");
}

TEST_CASE("known hosts: fingerprints are normalised and the trust command repeats the settings of the run") {
  CHECK(normalize_fingerprint("SHA256:abc+/09=") == "SHA256:abc+/09");
  CHECK(normalize_fingerprint("SHA256:abc\n") == "SHA256:abc");
  for (const std::string bad : {"abc", "MD5:aa:bb", "SHA256:", "SHA256:ab cd", "sha256:abc"}) {
    CAPTURE(bad);
    CHECK(error_of([&] { normalize_fingerprint(bad); }).find("is not a SHA256 fingerprint") != std::string::npos);
  }
  Local l;
  SshEndpoint ep = l.resolve(host("nas"));
  CHECK(trust_command(ep, "SHA256:x") == "drctl hosts trust nas --fingerprint SHA256:x");
  SshHostSpec spec = host("nas", l.config("Host nas\n  HostName 10.0.0.5\n", "my config"));
  spec.port = 2222;
  spec.known_hosts = "/tmp/known hosts";
  ep = l.resolve(spec);
  CHECK(trust_command(ep, "SHA256:x") == "drctl hosts trust nas --port 2222 --known-hosts '/tmp/known hosts' --ssh-config '" +
                                             l.dir.str() + "/my config' --fingerprint SHA256:x");
  CHECK(ep.host_and_port() == "10.0.0.5 port 2222");
  CHECK(ep.describe() == "alice@10.0.0.5:2222");
}
