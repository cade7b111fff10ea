// known_hosts variants against the private sshd (tests/support/sshd.hpp), with the real OpenSSH
// client's verdict beside drctl's: for each file, `ssh -o StrictHostKeyChecking=yes` and drctl's
// SSH connection must agree on accepting or refusing the host, a revoked key must be refused by
// both as revoked, and drctl's reason must name the @revoked or @cert-authority line. Then
// `drctl hosts check` and `drctl hosts trust` through the binary with a revoked key.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"
#include "world/real/ssh_config.hpp"
#include "world/real/ssh_host.hpp"

using namespace drctl::world;
using namespace drctl::world::real;

namespace {

/// A private sshd, an empty SSH config (nothing of ~/.ssh or /etc/ssh is read) and the host's
/// key as known_hosts lines hold it ("TYPE BASE64").
struct Lab {
  support::Sshd sshd;
  support::TempDir tmp{"knownhosts"};
  std::string config, key, other_key, port;
  int files = 0;

  Lab() {
    config = (tmp / "ssh_config").string();
    support::write_file(config, "");
    key = key_of(support::read_file(sshd.known_hosts()));
    other_key = key_of(sshd.other_key_line());
    port = std::to_string(sshd.port());
  }

  // "TYPE BASE64" of a line "HOST TYPE BASE64\n".
  static std::string key_of(const std::string& line) {
    std::istringstream in(line);
    std::string host, type, base64;
    in >> host >> type >> base64;
    return type + " " + base64;
  }

  /// A new known_hosts file holding `text`.
  std::string known_hosts(const std::string& text) {
    const auto p = tmp / ("known_hosts_" + std::to_string(++files));
    support::write_file(p, text, 0600);
    return p.string();
  }

  /// What the real ssh(1) does with the host given this known_hosts file.
  support::RunResult openssh(const std::string& known_hosts) const {
    return support::run({"ssh", "-F", config, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
                         "UserKnownHostsFile=" + known_hosts, "-o", "GlobalKnownHostsFile=/dev/null", "-o",
                         "IdentitiesOnly=yes", "-p", port, "-i", sshd.client_key().string(),
                         sshd.user() + "@127.0.0.1", "true"});
  }

  /// What drctl's SSH connection does: `true` run on the host with this known_hosts file.
  CommandResult drctl(const std::string& known_hosts) const {
    SshHostSpec s;
    s.name = "box";
    s.address = "127.0.0.1";
    s.port = sshd.port();
    s.user = sshd.user();
    s.identity_file = sshd.client_key().string();
    s.known_hosts = known_hosts;
    s.ssh_config = config;
    Cancel cancel;
    SshHost host(resolve_ssh_endpoint(s), cancel);
    return host.run(shell_command("true"));
  }

  /// The first line of the OpenSSH known_hosts `text` hashed by `ssh-keygen -H`.
  std::string hashed(const std::string& text) {
    const std::string file = known_hosts(text);
    support::expect_exit(support::run({"ssh-keygen", "-H", "-f", file}), 0);
    const std::string out = support::read_file(file);
    REQUIRE(out.rfind("|1|", 0) == 0);
    return out.substr(0, out.find('\n') + 1);
  }
};

struct Variant {
  std::string what;
  std::string text;
};

/// What drctl's SSH connection does with the host `box` as the SSH config `config` alone
/// describes it: `true` run there.
CommandResult run_true_on_box(const std::string& config) {
  SshHostSpec s;
  s.name = "box";
  s.ssh_config = config;
  Cancel cancel;
  SshHost host(resolve_ssh_endpoint(s), cancel);
  return host.run(shell_command("true"));
}

}  // namespace

TEST_CASE("known hosts against the real ssh client: both accept or both refuse, and revoked keys are refused as revoked") {
  Lab lab;
  const std::string at_port = "[127.0.0.1]:" + lab.port;
  const std::string line = at_port + " " + lab.key + "\n";
  const std::string base64 = lab.key.substr(lab.key.find(' ') + 1);
  const std::vector<Variant> variants = {
      {"plain entry", line},
      {"the same key also marked @revoked", line + "@revoked " + at_port + " " + lab.key + "\n"},
      {"@revoked before the key line, with a wildcard", "@revoked * " + lab.key + "\n" + line},
      {"@revoked with a different host pattern", line + "@revoked other.lan " + lab.key + "\n"},
      {"@revoked naming only another key", line + "@revoked " + at_port + " " + lab.other_key + "\n"},
      {"hashed entry", lab.hashed(line)},
      {"hashed @revoked entry", line + "@revoked " + lab.hashed(line)},
      {"@cert-authority only", "@cert-authority " + at_port + " " + lab.key + "\n"},
      {"@cert-authority for every host", "@cert-authority * " + lab.key + "\n"},
      {"@cert-authority beside the key line", "@cert-authority * " + lab.other_key + "\n" + line},
      {"wildcard pattern", "[127.0.0.?]:* " + lab.key + "\n"},
      {"star", "* " + lab.key + "\n"},
      {"negated pattern", "*,!127.0.0.1,!" + at_port + " " + lab.key + "\n"},
      {"negated other host", at_port + ",!other.lan " + lab.key + "\n"},
      {"only a negation", "!other.lan " + lab.key + "\n"},
      {"comma list with comments and blank lines", "# known hosts\n\n  other.lan," + at_port + " " + lab.key + " c\n"},
      {"host without the port", "127.0.0.1 " + lab.key + "\n"},
      {"host without the port, revoked there", "127.0.0.1 " + lab.key + "\n@revoked 127.0.0.1 " + lab.key + "\n"},
      {"[host]:port entry, revoked without the port", line + "@revoked 127.0.0.1 " + lab.key + "\n"},
      {"changed key", at_port + " " + lab.other_key + "\n"},
      {"unknown marker", "@revokedx " + at_port + " " + lab.key + "\n" + line},
      {"key line naming the wrong key type", at_port + " ssh-rsa " + base64 + "\n"},
      {"@revoked line naming the wrong key type", line + "@revoked " + at_port + " ssh-rsa " + base64 + "\n"},
      {"empty file", ""},
  };
  int accepted = 0, revoked = 0;
  for (const auto& v : variants) {
    CAPTURE(v.what);
    CAPTURE(v.text);
    const std::string file = lab.known_hosts(v.text);
    const support::RunResult ssh = lab.openssh(file);
    const bool ssh_accepts = ssh.exit_code == 0;
    if (!ssh_accepts)
      REQUIRE_MESSAGE(ssh.err.find("Host key verification failed.") != std::string::npos, ssh.describe());
    const bool ssh_says_revoked = ssh.err.find("REVOKED HOST KEY DETECTED") != std::string::npos;

    const int logins = lab.sshd.accepted_logins();
    const CommandResult mine = lab.drctl(file);
    CAPTURE(mine.err);
    const bool drctl_accepts = mine.ok() && mine.transport_error.empty();
    CHECK(drctl_accepts == ssh_accepts);
    if (drctl_accepts) {
      ++accepted;
      continue;
    }
    CHECK(lab.sshd.accepted_logins() == logins);  // refused before any login
    const bool drctl_says_revoked = mine.transport_error.find("was REVOKED") != std::string::npos;
    CHECK(drctl_says_revoked == ssh_says_revoked);
    if (drctl_says_revoked) {
      ++revoked;
      CHECK(mine.transport_error.find(lab.sshd.host_fingerprint()) != std::string::npos);
      CHECK(mine.transport_error.find(" marks @revoked") != std::string::npos);
      // The @revoked line's number, found in the file itself.
      std::istringstream in(v.text);
      int number = 0, revoked_line = 0;
      for (std::string l; std::getline(in, l) && !revoked_line;) {
        ++number;
        if (l.rfind("@revoked ", 0) == 0 && l.find(lab.key) != std::string::npos) revoked_line = number;
      }
      CHECK(mine.transport_error.find(file + ":" + std::to_string(revoked_line)) != std::string::npos);
      CHECK(mine.transport_error.find("drctl hosts trust") == std::string::npos);
    }
    if (v.what.rfind("@cert-authority", 0) == 0) {
      CHECK(mine.transport_error.find(file + ":1 trusts a certificate authority for it with @cert-authority, but host "
                                      "certificates are not supported") != std::string::npos);
      CHECK(mine.transport_error.find("unknown key") == std::string::npos);
    }
  }
  // The variants cover both outcomes and revocation, so agreement means something.
  CHECK(accepted >= 8);
  CHECK(revoked >= 4);
}

TEST_CASE("drctl hosts check prints FAILED saying revoked for a revoked host key, and hosts trust will not add it") {
  Lab lab;
  const std::string at_port = "[127.0.0.1]:" + lab.port;
  const std::string revoked_file =
      lab.known_hosts(at_port + " " + lab.key + "\n@revoked " + at_port + " " + lab.key + "\n");
  const std::string site = (lab.tmp / "site.yaml").string();
  support::write_file(site, "name: lab\nhosts:\n  box:\n    address: 127.0.0.1\n    port: " + lab.port +
                                "\n    user: " + lab.sshd.user() + "\n    identity_file: " +
                                lab.sshd.client_key().string() + "\n    known_hosts_file: " + revoked_file + "\n");
  const support::RunResult check = support::drctl({"hosts", "check", site, "--ssh-config", lab.config});
  CHECK(check.exit_code == 1);
  const auto lines = check.out_lines();
  REQUIRE_MESSAGE(lines.size() == 1, check.describe());
  CHECK(lines[0].rfind("box ", 0) == 0);
  CHECK(lines[0].find("FAILED  ssh: box: the host key of 127.0.0.1 port " + lab.port + " was REVOKED") !=
        std::string::npos);
  CHECK(lines[0].find(revoked_file + ":2 marks @revoked") != std::string::npos);
  CHECK(lines[0].find(lab.sshd.host_fingerprint()) != std::string::npos);

  // hosts trust with the right fingerprint: refused while any @revoked line holds the key, even
  // one naming other hosts; the file is left as it was.
  auto trust = [&](const std::string& known) {
    return support::drctl({"hosts", "trust", "127.0.0.1", "--port", lab.port, "--known-hosts", known, "--ssh-config",
                           lab.config, "--fingerprint", lab.sshd.host_fingerprint()});
  };
  for (const std::string& text : {"@revoked " + at_port + " " + lab.key + "\n",
                                 "# other hosts\n@revoked other.lan,*.example " + lab.key + "\n"}) {
    CAPTURE(text);
    const std::string known = lab.known_hosts(text);
    const support::RunResult r = trust(known);
    CHECK(r.exit_code == 1);
    CHECK(support::is_one_error_line(r.err));
    CHECK(r.err.find("marks @revoked") != std::string::npos);
    CHECK(r.err.find(known + ":" + (text[0] == '#' ? "2" : "1")) != std::string::npos);
    CHECK(r.err.find("nothing was written") != std::string::npos);
    CHECK(support::read_file(known) == text);
  }
  // The same file without the revocation: trusted, and then ssh(1) accepts the host.
  const std::string clean = lab.known_hosts("@revoked other.lan " + lab.other_key + "\n");
  support::expect_exit(trust(clean), 0);
  CHECK(lab.openssh(clean).exit_code == 0);
}

TEST_CASE("known hosts in several files, as UserKnownHostsFile and GlobalKnownHostsFile list them: drctl and ssh agree") {
  // ssh(1) reads every file both lists name (by default ~/.ssh/known_hosts2 and /etc/ssh's too)
  // before it decides; drctl read only the first. The oracle is the real client on the same config.
  Lab lab;
  const std::string at_port = "[127.0.0.1]:" + lab.port;
  const std::string right = at_port + " " + lab.key + "\n", changed = at_port + " " + lab.other_key + "\n";
  const std::string revoked = "@revoked " + at_port + " " + lab.key + "\n";
  struct Files {
    std::string what;
    std::optional<std::string> first, second, global;  // nullopt: the file does not exist
  };
  const std::vector<Files> variants = {
      {"the key in the second file only", "", right, std::nullopt},
      {"the first file missing, the key in the second", std::nullopt, right, std::nullopt},
      {"another key in the first, the key in the second", changed, right, std::nullopt},
      {"the key in the first, revoked in the second", right, revoked, std::nullopt},
      {"the key in the global file only", "", std::nullopt, right},
      {"revoked in the global file", right, "", revoked},
      {"another key in the second only", "", changed, std::nullopt},
      {"in none of them", "", "", ""},
      {"the key in the first, the second a directory (unreadable: passed over)", right, "<dir>", std::nullopt},
  };
  int accepted = 0, refused = 0;
  for (const auto& v : variants) {
    CAPTURE(v.what);
    auto file = [&](const std::optional<std::string>& text, const std::string& name) {
      const std::filesystem::path p = lab.tmp / (name + std::to_string(++lab.files));
      if (text && *text == "<dir>") std::filesystem::create_directories(p);
      else if (text) support::write_file(p, *text, 0600);
      return p.string();
    };
    const std::string first = file(v.first, "first"), second = file(v.second, "second"), global = file(v.global, "global");
    const std::string config = (lab.tmp / ("config" + std::to_string(lab.files))).string();
    support::write_file(config, "Host box\n  HostName 127.0.0.1\n  Port " + lab.port + "\n  User " + lab.sshd.user() +
                                    "\n  IdentityFile " + lab.sshd.client_key().string() + "\n  IdentitiesOnly yes\n"
                                    "  UserKnownHostsFile " + first + " " + second + "\n  GlobalKnownHostsFile " + global +
                                    "\n  StrictHostKeyChecking yes\n  BatchMode yes\n");
    const support::RunResult ssh = support::run({"ssh", "-F", config, "box", "true"});
    const bool ssh_accepts = ssh.exit_code == 0;
    if (!ssh_accepts) REQUIRE_MESSAGE(ssh.err.find("Host key verification failed.") != std::string::npos, ssh.describe());

    const CommandResult mine = run_true_on_box(config);
    CAPTURE(mine.transport_error);
    const bool drctl_accepts = mine.ok() && mine.transport_error.empty();
    CHECK(drctl_accepts == ssh_accepts);
    (drctl_accepts ? accepted : refused)++;
    if (drctl_accepts) continue;
    CHECK((mine.transport_error.find("was REVOKED") != std::string::npos) ==
          (ssh.err.find("REVOKED HOST KEY DETECTED") != std::string::npos));
    if (v.what == "another key in the second only") {  // the line that holds the other key, in its own file
      CHECK(mine.transport_error.find("has CHANGED") != std::string::npos);
      CHECK(mine.transport_error.find(second + ":1 holds a different key") != std::string::npos);
    }
    if (v.what == "in none of them")
      CHECK(mine.transport_error.find("holds no key for it (nor does " + second + " or " + global + ")") != std::string::npos);
  }
  CHECK(accepted >= 3);
  CHECK(refused >= 3);
}

TEST_CASE("a host known only by its ECDSA key, in a second known_hosts file, is asked for that key, as ssh asks") {
  // The server has an Ed25519 and an ECDSA key; the client's second file holds only the ECDSA
  // one. ssh(1) asks first for the key types its files hold; libssh alone, reading one file, would
  // ask for Ed25519 and meet a key no file holds.
  support::TempDir keys("knownhosts-ecdsa");
  const std::filesystem::path ecdsa = keys / "host_ecdsa";
  support::expect_exit(support::run({"ssh-keygen", "-q", "-t", "ecdsa", "-N", "", "-f", ecdsa.string()}), 0);
  support::Sshd sshd(support::SshdPlace{.extra_config = {"HostKey " + ecdsa.string()}}, "DEBUG1");
  const std::string first = (keys / "known_hosts").string(), second = (keys / "known_hosts2").string();
  support::write_file(first, "", 0600);
  support::write_file(second, sshd.known_hosts_line(std::filesystem::path(ecdsa.string() + ".pub")), 0600);
  const std::string config = (keys / "ssh_config").string();
  support::write_file(config, "Host box\n  HostName 127.0.0.1\n  Port " + std::to_string(sshd.port()) + "\n  User " +
                                  sshd.user() + "\n  IdentityFile " + sshd.client_key().string() +
                                  "\n  IdentitiesOnly yes\n  UserKnownHostsFile " + first + " " + second +
                                  "\n  GlobalKnownHostsFile none\n  StrictHostKeyChecking yes\n  BatchMode yes\n");
  const support::RunResult ssh = support::run({"ssh", "-F", config, "box", "true"});
  REQUIRE_MESSAGE(ssh.exit_code == 0, ssh.describe());
  const CommandResult mine = run_true_on_box(config);
  CHECK_MESSAGE((mine.ok() && mine.transport_error.empty()), mine.transport_error);
  // Both logins used the ECDSA host key: sshd's own log says which it was asked for.
  std::istringstream log(support::read_file(sshd.log()));
  int ecdsa_kex = 0;
  for (std::string line; std::getline(log, line);)
    if (line.find("kex: host key algorithm: ecdsa-sha2-nistp256") != std::string::npos) ++ecdsa_kex;
  CHECK(ecdsa_kex == 2);
}

TEST_CASE("drctl hosts trust reads every file the connection reads: a key in the second file is already trusted, one revoked there is never added") {
  Lab lab;
  const std::string at_port = "[127.0.0.1]:" + lab.port;
  auto trust_with = [&](const std::string& second_text) {
    const std::string first = lab.known_hosts(""), second = lab.known_hosts(second_text);
    const std::string config = (lab.tmp / ("trust_config" + std::to_string(lab.files))).string();
    support::write_file(config, "Host box\n  HostName 127.0.0.1\n  Port " + lab.port + "\n  UserKnownHostsFile " + first +
                                    " " + second + "\n  GlobalKnownHostsFile none\n");
    const support::RunResult r = support::drctl({"hosts", "trust", "box", "--ssh-config", config, "--fingerprint",
                                                 lab.sshd.host_fingerprint()});
    return std::make_tuple(r, first, second);
  };
  // The second file holds the key: nothing is written to the first, and the output says where it is.
  auto [known, first, second] = trust_with(at_port + " " + lab.key + "\n");
  CHECK_MESSAGE(known.exit_code == 0, known.describe());
  CHECK(known.out.find("is already trusted") != std::string::npos);
  CHECK(known.out.find("is in " + second + ";") != std::string::npos);
  CHECK(support::read_file(first).empty());
  // The second file revokes it: refused, naming that line; the first stays empty.
  auto [revoked, first2, second2] = trust_with("@revoked " + at_port + " " + lab.key + "\n");
  CHECK(revoked.exit_code == 1);
  CHECK(support::is_one_error_line(revoked.err));
  CHECK_MESSAGE(revoked.err.find(second2 + ":1 marks @revoked") != std::string::npos, revoked.describe());
  CHECK(support::read_file(first2).empty());
}
