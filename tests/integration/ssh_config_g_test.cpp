// drctl's reading of OpenSSH client configs against the real one: `ssh -G` (OpenSSH prints the
// options it resolved for a host, without connecting) and resolve_ssh_endpoint run on the same
// config files, host names, -p and -l, and must agree on hostname, user, port, the identity
// files, the known_hosts file and StrictHostKeyChecking (drctl refusing exactly where ssh would
// not check the key).
//
// ssh(1) takes ~ from the passwd entry of its uid, not from $HOME, so it runs in a mount
// namespace of its own where a passwd with a test user "alice" (this uid, home a temp dir)
// hides /etc/passwd: ~/.ssh is the test's, and nothing of the real home is read. Needs root
// (unshare --mount) and ssh; without them the test fails.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "base/text.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/real/ssh_config.hpp"

using namespace drctl::world::real;

namespace {

/// A home directory with ~/.ssh, and the passwd that makes it the home of "alice" for ssh.
struct Home {
  support::TempDir dir{"sshg"};
  SshLocalEnv env;

  Home() {
    support::fs::create_directories(dir / ".ssh");
    env.home = dir.str();
    env.user = "alice";
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    env.hostname = host;
    // getpwuid() returns the first entry with the uid: alice's, ahead of the real file.
    support::write_file(dir / "passwd", "alice:x:" + std::to_string(::getuid()) + ":" + std::to_string(::getgid()) +
                                            ":alice:" + dir.str() + ":/bin/sh\n" + support::read_file("/etc/passwd"));
  }

  /// Writes ~/.ssh/NAME and returns its path.
  std::string file(const std::string& name, const std::string& text) {
    const auto path = dir / ".ssh" / name;
    support::fs::create_directories(path.parent_path());
    support::write_file(path, text);
    return path.string();
  }
};

/// What ssh asked about: -F config, -p port (0: none), -l user ("": none), the host.
struct Query {
  std::string config, alias;
  int port = 0;
  std::string user;
};

Query query(std::string config, std::string alias, int port = 0, std::string user = "") {
  return {std::move(config), std::move(alias), port, std::move(user)};
}

std::string describe(const Query& q) {
  return "ssh -G -F " + q.config + (q.port ? " -p " + std::to_string(q.port) : "") +
         (q.user.empty() ? "" : " -l " + q.user) + " " + q.alias;
}

/// `ssh -G` as alice: each line's value (all after the option's name) by option name, repeated
/// options in order.
std::map<std::string, std::vector<std::string>> ssh_g(const Home& home, const Query& q) {
  std::vector<std::string> argv = {"unshare", "--mount", "sh", "-c",
                                   "mount --bind \"$0\" /etc/passwd && exec ssh -G \"$@\"", (home.dir / "passwd").string(),
                                   "-F", q.config};
  if (q.port) argv.insert(argv.end(), {"-p", std::to_string(q.port)});
  if (!q.user.empty()) argv.insert(argv.end(), {"-l", q.user});
  argv.push_back(q.alias);
  support::RunOptions opt;
  opt.env["HOME"] = home.dir.str();  // what Include's ~ is (glob's GLOB_TILDE)
  const support::RunResult r = support::run(argv, opt);
  if (r.exit_code != 0) throw std::runtime_error(describe(q) + " failed:\n" + r.describe());
  std::map<std::string, std::vector<std::string>> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    const auto blank = line.find(' ');
    if (blank != std::string::npos) out[line.substr(0, blank)].push_back(line.substr(blank + 1));
  }
  return out;
}

/// An identity file as ssh -G prints it (unexpanded), with ~ and the tokens expanded the way
/// ssh(1) expands them before it reads the key, from the values ssh itself printed.
std::string expand_like_ssh(const std::string& path, const Home& home, const std::map<std::string, std::string>& tokens) {
  std::string out;
  std::size_t i = 0;
  if (path == "~" || path.rfind("~/", 0) == 0) {
    out = home.dir.str();
    i = 1;
  }
  for (; i < path.size(); ++i) {
    if (path[i] != '%' || i + 1 >= path.size()) {
      out += path[i];
      continue;
    }
    const std::string token(1, path[++i]);
    out += token == "%" ? "%" : tokens.at(token);
  }
  return out;
}

/// drctl's StrictHostKeyChecking for the host in the words ssh -G prints.
std::string drctl_strict(const Home& home, const Query& q) {
  const SshConfigValues v = SshConfig::load(q.config, home.env).lookup(q.alias, q.user);
  if (!v.strict_host_key_checking) return "ask";
  const std::string s = drctl::text::lower(v.strict_host_key_checking->text);
  if (s == "yes" || s == "true") return "true";
  if (s == "no" || s == "off" || s == "false") return "false";
  return s;  // ask, accept-new
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "[" : ", [") + s + "]";
  return out;
}

/// Runs both and compares; returns how many options were compared.
int compare(const Home& home, const Query& q) {
  INFO(describe(q));
  const auto ssh = ssh_g(home, q);
  const std::string strict = ssh.at("stricthostkeychecking").at(0);
  CHECK(drctl_strict(home, q) == strict);

  SshHostSpec spec;
  spec.name = q.alias;
  spec.address = q.alias;
  spec.port = q.port;
  spec.user = q.user;
  spec.ssh_config = q.config;
  if (strict == "false" || strict == "accept-new") {
    // ssh would connect without checking the key: drctl refuses, naming the line.
    CHECK_THROWS_WITH_AS(resolve_ssh_endpoint(spec, home.env), doctest::Contains("StrictHostKeyChecking"), SshConfigError);
    return 1;
  }
  const SshEndpoint ep = resolve_ssh_endpoint(spec, home.env);
  CHECK(ep.hostname == ssh.at("hostname").at(0));
  CHECK(ep.user == ssh.at("user").at(0));
  CHECK(std::to_string(ep.port) == ssh.at("port").at(0));
  // ssh reads every file of both lists; drctl too, the first being the one `drctl hosts trust`
  // writes to. (ssh -G prints the user's files expanded, the system's as given, as ssh reads them.)
  std::vector<std::string> known;
  for (const char* option : {"userknownhostsfile", "globalknownhostsfile"}) {
    std::istringstream files(ssh.at(option).at(0));
    for (std::string f; files >> f;)
      if (f != "none") known.push_back(f);
  }
  REQUIRE(!known.empty());
  CHECK(ep.known_hosts == known.front());
  CHECK_MESSAGE(ep.more_known_hosts == std::vector<std::string>(known.begin() + 1, known.end()),
                "drctl: " << join(ep.more_known_hosts) << "; ssh: " << join(known));

  // Without an IdentityFile ssh lists its defaults whether they exist or not; drctl tries the
  // ones that exist (none here).
  const std::vector<std::string> defaults = {"~/.ssh/id_rsa",     "~/.ssh/id_ecdsa", "~/.ssh/id_ecdsa_sk",
                                             "~/.ssh/id_ed25519", "~/.ssh/id_ed25519_sk", "~/.ssh/id_xmss",
                                             "~/.ssh/id_dsa"};
  const auto& files = ssh.at("identityfile");
  std::vector<std::string> expected;
  if (files != defaults) {
    const std::map<std::string, std::string> tokens = {
        {"d", home.dir.str()}, {"u", home.env.user}, {"h", ssh.at("hostname").at(0)}, {"p", ssh.at("port").at(0)},
        {"r", ssh.at("user").at(0)}, {"n", q.alias}};
    for (const auto& f : files) expected.push_back(expand_like_ssh(f, home, tokens));
  }
  CHECK_MESSAGE(ep.identity_files == expected, "drctl: " << join(ep.identity_files) << "; ssh: " << join(expected));
  return 6;
}

}  // namespace

TEST_CASE("ssh config as ssh -G reads it: first value wins, Host patterns with * ? and !, = syntax, quotes, keyword case, %h") {
  Home home;
  const std::string cfg = home.file("patterns",
                                    "# the first value obtained wins; keywords in any case; Key=Value with and without blanks\n"
                                    "Host !bastion web? *.lab\n"
                                    "  PORT=2201\n"
                                    "  hostname \"%h.example.org\"\n"
                                    "Host bastion\n"
                                    "  Port = 2022\n"
                                    "  USER \"ops\"\n"
                                    "  HostName 10.0.0.9\n"
                                    "  GlobalKnownHostsFile none\n"
                                    "Host web1 !web1\n"  // excluded by its own negation
                                    "  User never\n"
                                    "Host NAS\n"  // Host patterns are compared case by case
                                    "  User upper\n"
                                    "Host strict-new\n"
                                    "  StrictHostKeyChecking accept-new\n"
                                    "Host strict-no\n"
                                    "  StrictHostKeyChecking no\n"
                                    "Host !x *\n"
                                    "  IdentityFile \"~/.ssh/id %h\"\n"
                                    "  UserKnownHostsFile ~/.ssh/kh_%h %d/.ssh/second\n"
                                    "  GlobalKnownHostsFile /etc/ssh/site_known_hosts /etc/ssh/kh_%h\n"
                                    "  StrictHostKeyChecking=yes\n"
                                    "Host *\n"
                                    "  Port 2200\n"
                                    "  User fallback\n"
                                    "  IdentityFile ~/.ssh/%r_at_%h\n"
                                    "  UserKnownHostsFile='/etc/ssh/kh'\n");
  int compared = 0;
  for (const std::string alias :
       {"web1", "web22", "webx", "nas.lab", "NAS.lab", "NAS", "nas", "bastion", "x", "other", "strict-new", "strict-no"})
    compared += compare(home, query(cfg, alias));
  compared += compare(home, query(cfg, "web1", 2999, ""));
  compared += compare(home, query(cfg, "nas.lab", 0, "root"));
  compared += compare(home, query(cfg, "x", 2998, "someone"));
  CHECK(compared > 60);
}

TEST_CASE("ssh config as ssh -G reads it: Match host, originalhost, user, localuser and all, with negation") {
  Home home;
  const std::string cfg = home.file("match",
                                    "Host db*\n"
                                    "  HostName %h.Internal\n"
                                    "Match host db1.internal\n"  // the HostName so far
                                    "  User dbadmin\n"
                                    "Match user dbadmin localuser alice\n"  // the User set above
                                    "  Port 3306\n"
                                    "Match originalhost db2 !user root\n"
                                    "  Port 2202\n"
                                    "Match !localuser alice\n"
                                    "  Port 9\n"
                                    "Match host *.internal,!db3.internal\n"
                                    "  IdentityFile ~/.ssh/internal\n"
                                    "Match user r*,!root\n"
                                    "  Port 4022\n"
                                    "match ALL\n"
                                    "  StrictHostKeyChecking ask\n"
                                    "  UserKnownHostsFile ~/.ssh/match_%h\n");
  for (const std::string alias : {"db1", "db2", "db3", "DB1", "other"}) compare(home, query(cfg, alias));
  compare(home, query(cfg, "db2", 0, "root"));
  compare(home, query(cfg, "other", 0, "rob"));
  compare(home, query(cfg, "db1", 2022, "someone"));
}

TEST_CASE("ssh config as ssh -G reads it: Match final and canonical read the file again for the HostName") {
  Home home;
  const std::string cfg = home.file("final",
                                    "Host web\n"
                                    "  HostName Real-%h.Example\n"
                                    "  IdentityFile ~/.ssh/k_%h_%r_%u\n"
                                    "Match host real-web.example\n"
                                    "  User m1\n"
                                    "Host real-web.example\n"  // only in the second reading
                                    "  Port 1111\n"
                                    "Match final host real-web.example\n"
                                    "  Port 2222\n"
                                    "  User final\n"
                                    "Match originalhost web !user m1\n"
                                    "  IdentityFile second\n"
                                    "Match user m1 localuser alice\n"
                                    "  IdentityFile third\n"
                                    "Match canonical host other\n"
                                    "  StrictHostKeyChecking no\n"
                                    "Host lower\n"  // LOWER misses it in the first reading, lower matches in the second
                                    "  Port 4444\n"
                                    "Match !final\n"
                                    "  IdentityFile ~/.ssh/first_reading\n");
  for (const std::string alias : {"web", "other", "LOWER", "lower", "Web"}) compare(home, query(cfg, alias));
  compare(home, query(cfg, "web", 0, "m1"));
  // Without `final` in any Match line there is one reading, and canonical never holds.
  const std::string once = home.file("once", "Match canonical\n  Port 7\nHost *\n  User once\n");
  compare(home, query(once, "web"));
}

TEST_CASE("ssh config as ssh -G reads it: Include relative to ~/.ssh, inside a Host block and at the top") {
  Home home;
  home.file("inc/a.conf",
            "Port 4000\n"  // for the hosts of the including block only
            "Host incb\n"
            "  User b-user\n"
            "Match host inca\n"
            "  IdentityFile ~/.ssh/a_key\n");
  home.file("inc/b.conf", "Match host incb\n  Port 4001\n  HostName b.example\n");
  home.file("top.conf", "Host other\n  Port 5000\nMatch host inc*\n  IdentityFile ~/.ssh/top_key\n");
  const std::string cfg = home.file("include_main",
                                    "Host inc*\n"
                                    "  Include inc/*.conf\n"
                                    "  User inc-user\n"  // back in the including block
                                    "Include top.conf\n"
                                    "Host *\n"
                                    "  Port 22\n"
                                    "  User everyone\n");
  for (const std::string alias : {"inca", "incb", "incc", "other", "zzz"}) compare(home, query(cfg, alias));
}

TEST_CASE("ssh config as ssh -G reads it: Ciphers lists, with + ^ - and wildcards, and the ones ssh refuses") {
  Home home;
  auto split = [](const std::string& list) {
    std::vector<std::string> out;
    std::stringstream in(list);
    for (std::string name; std::getline(in, name, ',');) out.push_back(name);
    return out;
  };
  const std::vector<std::string> values = {"aes128-ctr,aes256-gcm@openssh.com", "+aes128-cbc",
                                           "+aes128-ctr,3des-cbc",              "-aes*-ctr",
                                           "-chacha20*,aes128-gcm@openssh.com", "^aes256-gcm@openssh.com,aes128-ctr",
                                           "aes128-ctr,aes128-ctr",             "-bogus",
                                           "-aes?28-ctr"};
  for (const auto& value : values) {
    const std::string cfg = home.file("ciphers", "Host x\n  Ciphers " + value + "\nHost *\n  Ciphers aes128-ctr\n");
    const Query q = query(cfg, "x");
    INFO(describe(q), " with Ciphers ", value);
    const auto ssh = ssh_g(home, q);
    SshHostSpec spec;
    spec.name = spec.address = "x";
    spec.ssh_config = cfg;
    const SshEndpoint ep = resolve_ssh_endpoint(spec, home.env);
    CHECK(ep.ciphers == split(ssh.at("ciphers").at(0)));
    CHECK(ep.ciphers_where == cfg + ":2");
  }
  // ssh refuses these lines wherever they stand (here in a block that does not apply), and so does drctl.
  for (const std::string value : {"aes*", "bogus", "aes128-ctr,bogus", "AES128-CTR", "^bogus", "+"}) {
    const std::string cfg = home.file("bad_ciphers", "Host elsewhere\n  Ciphers " + value + "\n");
    const Query q = query(cfg, "x");
    INFO(describe(q), " with Ciphers ", value);
    CHECK_THROWS(ssh_g(home, q));
    SshHostSpec spec;
    spec.name = spec.address = "x";
    spec.ssh_config = cfg;
    const std::string message = cfg + ":2: Bad SSH2 cipher spec";
    CHECK_THROWS_WITH_AS(resolve_ssh_endpoint(spec, home.env), doctest::Contains(message.c_str()), SshConfigError);
  }
  // Without a Ciphers line ssh offers its default list; drctl the same names (AES-GCM first on a
  // CPU with AES-NI: ssh_cipher_test checks which one a real server picks).
  const std::string cfg = home.file("no_ciphers", "Host *\n  Port 22\n");
  const Query q = query(cfg, "x");
  auto ssh_list = split(ssh_g(home, q).at("ciphers").at(0));
  SshHostSpec spec;
  spec.name = spec.address = "x";
  spec.ssh_config = cfg;
  auto ours = resolve_ssh_endpoint(spec, home.env).ciphers;
  std::sort(ssh_list.begin(), ssh_list.end());
  std::sort(ours.begin(), ours.end());
  CHECK(ours == ssh_list);
}
