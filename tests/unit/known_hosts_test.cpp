// known_hosts as drctl reads it, held against OpenSSH's own reading: which lines match a host
// name (and with which marker) is what `ssh-keygen -F NAME -f FILE` reports, a line's key has
// the fingerprint `ssh-keygen -l` prints, and hashed names are the ones `ssh-keygen -H` writes.
// The verdicts follow ssh(1) 9 (the integration test puts the real client beside drctl's check).
#include <doctest/doctest.h>

#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/real/known_hosts_file.hpp"
#include "world/real/ssh_connection.hpp"

using namespace drctl::world::real;
using support::TempDir;
using Status = KnownHostsVerdict::Status;

namespace {

/// Key pairs made by ssh-keygen, each as "TYPE BASE64" the way known_hosts lines hold it.
struct Keys {
  TempDir dir{"knownhosts"};
  int made = 0;

  /// A fresh public key "TYPE BASE64" of `type` (ed25519, ecdsa, rsa) and its .pub file.
  std::pair<std::string, std::string> make(const std::string& type) {
    const std::string file = (dir / ("key" + std::to_string(++made))).string();
    std::vector<std::string> argv{"ssh-keygen", "-q", "-t", type, "-N", "", "-C", "k", "-f", file};
    if (type == "rsa") argv.insert(argv.end(), {"-b", "2048"});
    support::expect_exit(support::run(argv), 0);
    std::istringstream in(support::read_file(file + ".pub"));
    std::string t, b64;
    in >> t >> b64;
    return {t + " " + b64, file + ".pub"};
  }
  std::string key(const std::string& type = "ed25519") { return make(type).first; }

  /// The file `text` in the scratch directory.
  std::string file(const std::string& name, const std::string& text) {
    const auto p = dir / name;
    support::write_file(p, text);
    return p.string();
  }
};

std::string blob_of(const std::string& key_line) { return key_blob_from_base64(key_line.substr(key_line.find(' ') + 1)); }

std::string joined(const std::set<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += (out.empty() ? "" : ", ") + l;
  return out;
}

std::string joined(const std::vector<int>& lines) {
  std::string out;
  for (int l : lines) out += (out.empty() ? "" : ", ") + std::to_string(l);
  return out;
}

/// Lines and markers that `ssh-keygen -F name` finds: "3", "5 REVOKED", "7 CA".
std::set<std::string> openssh_matches(const std::string& file, const std::string& name) {
  const auto r = support::run({"ssh-keygen", "-F", name, "-f", file});
  REQUIRE_MESSAGE((r.exit_code == 0 || r.exit_code == 1), r.describe());
  std::set<std::string> out;
  const std::regex found("^# Host .* found: line ([0-9]+) ?([A-Z]*)");
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, found)) out.insert(m[1].str() + (m[2].length() ? " " + m[2].str() : ""));
  }
  return out;
}

std::set<std::string> drctl_matches(const KnownHostsFile& file, const std::string& name) {
  std::set<std::string> out;
  for (const KnownHostsEntry* e : file.matching(name)) {
    const char* marker = e->marker == KnownHostsMarker::revoked        ? " REVOKED"
                         : e->marker == KnownHostsMarker::cert_authority ? " CA"
                                                                         : "";
    out.insert(std::to_string(e->line) + marker);
  }
  return out;
}

}  // namespace

TEST_CASE("known hosts: lines match host names as ssh-keygen -F finds them, markers, hashes and patterns included") {
  Keys keys;
  const std::string k = keys.key(), r = keys.key("rsa");
  const std::string ed_b64 = k.substr(k.find(' ') + 1);
  // Hashed names as OpenSSH writes them (HashKnownHosts yes).
  const std::string plain = keys.file("to_hash", "hashed.lan " + k + "\n[127.0.0.1]:2222 " + k + "\n");
  support::expect_exit(support::run({"ssh-keygen", "-H", "-f", plain}), 0);
  const std::string hashed = support::read_file(plain);
  REQUIRE(hashed.rfind("|1|", 0) == 0);

  const std::string text =
      "nas.lan " + k + "\n"
      "nas,nas.lan,10.0.0.5 " + r + " a comment\n"
      "*.lan " + k + "\n"
      "nas? " + k + "\n"
      "10.0.0.* " + k + "\n"
      "*.lan,!bad.lan " + k + "\n"
      "!bad.lan " + k + "\n"
      "[127.0.0.1]:2222 " + k + "\n"
      "[127.0.0.1]:* " + k + "\n"
      "@revoked *.lan,!good.lan " + k + "\n"
      "@cert-authority nas?,[127.0.0.1]:2222 " + k + "\n"
      "@revokedx nas.lan " + k + "\n"
      "@revoked @revoked nas.lan " + k + "\n"
      "@REVOKED nas.lan " + k + "\n"
      "@revoked\n"
      "# nas.lan " + k + "\n"
      "   # indented comment\n"
      "\n"
      "   \t \n"
      "\tnas.lan\t" + k + "  \n"
      "nas.lan,bad-key ssh-rsa " + ed_b64 + "\n"
      "nas.lan,bad-key ssh-ed25519 " + ed_b64.substr(0, ed_b64.size() - 8) + "\n"
      "nas.lan,bad-key ssh-ed25519 not-base64!\n"
      "nas.lan,bad-key ssh-ed25519\n"
      "crlf.lan " + k + "\r\n"
      "NAS.LAN " + k + "\n"
      "a,,b " + k + "\n" + hashed +
      "@revoked " + hashed.substr(0, hashed.find(' ')) + " " + k + "\n";
  const std::string path = keys.file("known_hosts", text);
  const KnownHostsFile file = KnownHostsFile::load(path);
  CHECK(file.exists);

  // The lines ssh(1) cannot read, and only those, are skipped: a marker it does not know, more
  // than one marker, a key that is not one of the type the line names (ssh(1) reads the key of a
  // line only once its host matched, so `ssh-keygen -F` still lists those for their hosts).
  std::vector<int> unreadable;
  std::set<std::string> bad_keys;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const bool bad_key = line.find("bad-key") != std::string::npos;
    if (bad_key) bad_keys.insert(std::to_string(number));
    if (bad_key || line.find("@revokedx") == 0 || line.find("@revoked @revoked") == 0 || line.find("@REVOKED") == 0 ||
        line == "@revoked")
      unreadable.push_back(number);
  }
  for (const std::string name : {"nas.lan", "bad.lan", "good.lan", "nas", "nas1", "nas12", "10.0.0.5", "10.0.0.77",
                                 "[127.0.0.1]:2222", "[127.0.0.1]:22", "127.0.0.1", "crlf.lan", "hashed.lan",
                                 "other.lan", "a", "b", "lan", "x.lan"}) {
    CAPTURE(name);
    std::set<std::string> expected = openssh_matches(path, name);
    for (const auto& line : bad_keys) expected.erase(line);
    CHECK(joined(drctl_matches(file, name)) == joined(expected));
  }
  // Host names are matched in any case (ssh(1) lowercases the name it looks up).
  CHECK(drctl_matches(file, "NAS.lan") == drctl_matches(file, "nas.lan"));
  CHECK(drctl_matches(file, "HASHED.LAN") == drctl_matches(file, "hashed.lan"));
  CHECK(joined(file.skipped) == joined(unreadable));
}

TEST_CASE("known hosts: a line's key has the fingerprint ssh-keygen prints for it, for every key type") {
  Keys keys;
  for (const std::string type : {"ed25519", "ecdsa", "rsa"}) {
    CAPTURE(type);
    const auto [key, pub] = keys.make(type);
    const KnownHostsFile file = KnownHostsFile::parse("host " + key + "\n", "mem");
    REQUIRE(file.entries.size() == 1);
    CHECK(file.entries[0].key_type == key.substr(0, key.find(' ')));
    const auto r = support::expect_exit(support::run({"ssh-keygen", "-l", "-E", "sha256", "-f", pub}), 0);
    std::istringstream out(r.out);
    std::string bits, fingerprint;
    out >> bits >> fingerprint;
    CHECK(blob_fingerprint(file.entries[0].key_blob) == fingerprint);
  }
}

TEST_CASE("known hosts: a revoked key is refused even beside its own key line, but only for the hosts it names") {
  Keys keys;
  const std::string k = keys.key(), blob = blob_of(k);
  auto verdict = [&](const std::string& text, const std::string& host = "nas.lan", int port = 22) {
    return check_known_host(KnownHostsFile::parse(text, "kh"), host, port, blob);
  };

  KnownHostsVerdict v = verdict("nas.lan " + k + "\n");
  CHECK(v.status == Status::trusted);
  CHECK(v.line == 1);

  v = verdict("nas.lan " + k + "\n@revoked nas.lan " + k + "\n");
  CHECK(v.status == Status::revoked);
  CHECK(v.line == 2);
  v = verdict("@revoked *.lan " + k + "\nnas.lan " + k + "\n");  // before the key line too
  CHECK(v.status == Status::revoked);
  CHECK(v.line == 1);
  CHECK(verdict("@revoked nas.lan " + k + "\n").status == Status::revoked);

  // A revocation for other hosts leaves this one trusted, as in ssh(1).
  const std::string other_host = "nas.lan " + k + "\n@revoked other.lan " + k + "\n";
  CHECK(verdict(other_host).status == Status::trusted);
  CHECK(verdict("nas.lan " + k + "\n@revoked *.lan,!nas.lan " + k + "\n").status == Status::trusted);
  // …but `drctl hosts trust` finds the revocation wherever it is.
  CHECK(revoked_line_for_key(KnownHostsFile::parse(other_host, "kh"), blob) == 2);
  CHECK(revoked_line_for_key(KnownHostsFile::parse("nas.lan " + k + "\n", "kh"), blob) == 0);

  // A revocation of another key does not touch this one.
  CHECK(verdict("nas.lan " + k + "\n@revoked nas.lan " + keys.key() + "\n").status == Status::trusted);
}

TEST_CASE("known hosts: changed, other type, unknown and certificate-authority-only verdicts name their lines") {
  Keys keys;
  const std::string k = keys.key(), blob = blob_of(k);
  const std::string other = keys.key(), rsa = keys.key("rsa");
  auto verdict = [&](const std::string& text) {
    return check_known_host(KnownHostsFile::parse(text, "kh"), "nas.lan", 22, blob);
  };

  KnownHostsVerdict v = verdict("x " + k + "\nnas.lan " + other + "\n");
  CHECK(v.status == Status::changed);
  CHECK(v.line == 2);
  v = verdict("nas.lan " + rsa + "\n");
  CHECK(v.status == Status::other_type);
  CHECK(v.line == 1);
  CHECK(verdict("nas.lan " + rsa + "\nnas.lan " + other + "\n").status == Status::changed);
  // Another key beside the host's own: trusted (ssh(1) accepts any key line that holds it).
  CHECK(verdict("nas.lan " + other + "\nnas.lan " + k + "\n").status == Status::trusted);

  v = verdict("@cert-authority *.lan " + k + "\n# x\n@cert-authority nas.* " + other + "\n@cert-authority other " + k + "\n");
  CHECK(v.status == Status::unknown);
  CHECK(v.cert_authority_lines == std::vector<int>{1, 3});
  v = verdict("");
  CHECK(v.status == Status::unknown);
  CHECK(v.cert_authority_lines.empty());
}

TEST_CASE("known hosts: off port 22 a host without a line for [host]:port is looked up as host, as ssh(1) does") {
  Keys keys;
  const std::string k = keys.key(), blob = blob_of(k), other = keys.key();
  auto verdict = [&](const std::string& text, int port = 2222) {
    return check_known_host(KnownHostsFile::parse(text, "kh"), "10.0.0.5", port, blob);
  };

  KnownHostsVerdict v = verdict("10.0.0.5 " + k + "\n");
  CHECK(v.status == Status::trusted);
  CHECK(v.name == "10.0.0.5");
  v = verdict("[10.0.0.5]:2222 " + k + "\n");
  CHECK(v.status == Status::trusted);
  CHECK(v.name == "[10.0.0.5]:2222");
  // Only a name with nothing for it falls back: a changed key under [host]:port stays changed.
  CHECK(verdict("[10.0.0.5]:2222 " + other + "\n10.0.0.5 " + k + "\n").status == Status::changed);
  // A revocation found under "host" refuses; one under "host" does not touch a [host]:port line.
  v = verdict("10.0.0.5 " + k + "\n@revoked 10.0.0.5 " + k + "\n");
  CHECK(v.status == Status::revoked);
  CHECK(v.line == 2);
  CHECK(verdict("[10.0.0.5]:2222 " + k + "\n@revoked 10.0.0.5 " + k + "\n").status == Status::trusted);
  // A different key under "host" leaves [host]:port unknown (not changed).
  CHECK(verdict("10.0.0.5 " + other + "\n").status == Status::unknown);
  // On port 22 the name is "host" and "[host]:22" names nothing.
  CHECK(verdict("[10.0.0.5]:22 " + k + "\n", 22).status == Status::unknown);
  CHECK(verdict("10.0.0.5 " + k + "\n", 22).status == Status::trusted);
  // Certificate authorities under either name are named.
  v = verdict("@cert-authority 10.0.0.5 " + k + "\n@cert-authority [10.0.0.5]:2222 " + k + "\n");
  CHECK(v.status == Status::unknown);
  CHECK(v.cert_authority_lines == std::vector<int>{1, 2});
  CHECK(verdict("@cert-authority * " + k + "\n").cert_authority_lines == std::vector<int>{1});
}

TEST_CASE("known hosts: a missing file is empty and one that cannot be read is an error naming it") {
  TempDir t("knownhosts-load");
  const KnownHostsFile missing = KnownHostsFile::load((t / "nope").string());
  CHECK_FALSE(missing.exists);
  CHECK(missing.entries.empty());
  support::fs::create_directories(t / "dir");
  const std::string said = "cannot read the known_hosts file " + (t / "dir").string() + ": Is a directory";
  CHECK_THROWS_WITH_AS(KnownHostsFile::load((t / "dir").string()), doctest::Contains(said.c_str()), SshError);
  CHECK(known_hosts_name("nas", 22) == "nas");
  CHECK(known_hosts_name("nas", 2222) == "[nas]:2222");
}
