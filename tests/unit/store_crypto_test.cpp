// Encryption at rest (store/crypto.hpp, FORMAT.md "Encryption"): sealing, keyed ids, keys/
// files, and an encrypted Repository in process. Oracles are libsodium's own primitives called
// directly (its HMAC-SHA-256, its AEAD decrypt) and the bytes on disk.
#include <doctest/doctest.h>
#include <pty.h>
#include <sodium.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "base/error.hpp"
#include "store/crypto.hpp"
#include "store/files.hpp"
#include "store/key_source.hpp"
#include "store/repository.hpp"
#include "support/fs_tree.hpp"

using namespace drctl::store;

namespace {

SecretKey key_of(std::uint8_t fill) {
  SecretKey k;
  k.fill(fill);
  return k;
}

std::span<const std::uint8_t> bytes_of(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

Credential passphrase(std::string secret) { return {Credential::Kind::Passphrase, std::move(secret), "test"}; }

/// The credential files this process's repositories open with; cleared at the end of a test.
struct CredentialFiles {
  CredentialFiles(const std::string& password_file, const std::string& key_file) {
    set_credential_files(password_file, key_file);
  }
  ~CredentialFiles() { set_credential_files("", ""); }
};

}  // namespace

TEST_CASE("store crypto: a sealed object opens with its key and AD, and libsodium agrees on the layout") {
  const SecretKey k = key_of(7);
  const std::string plain = "the bytes of a blob";
  const Bytes ad{1, 2, 3};
  const Bytes sealed = seal(k, bytes_of(plain), ad);
  REQUIRE(sealed.size() == plain.size() + 24 + 16);
  CHECK(open_sealed(k, sealed, ad) == Bytes(plain.begin(), plain.end()));
  // The layout FORMAT.md gives: nonce | ciphertext | tag, decrypted by libsodium directly.
  Bytes out(plain.size());
  unsigned long long n = 0;
  REQUIRE(crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &n, nullptr, sealed.data() + 24, sealed.size() - 24,
                                                     ad.data(), ad.size(), sealed.data(), k.data()) == 0);
  CHECK(std::string(out.begin(), out.end()) == plain);
  // Two seals of the same bytes differ (random nonces).
  CHECK(seal(k, bytes_of(plain), ad) != sealed);
}

TEST_CASE("store crypto: any flipped byte, another AD or another key is refused, never opened into other bytes") {
  const SecretKey k = key_of(9);
  const Bytes ad{'i', 'n', 'd', 'e', 'x'};
  const Bytes sealed = seal(k, bytes_of("index entries"), ad);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    Bytes bad = sealed;
    bad[i] ^= 0x01;
    CHECK_THROWS_AS(open_sealed(k, bad, ad), drctl::Failure);
  }
  CHECK_THROWS_AS(open_sealed(k, sealed, Bytes{'s'}), drctl::Failure);
  CHECK_THROWS_AS(open_sealed(key_of(10), sealed, ad), drctl::Failure);
  CHECK_THROWS_AS(open_sealed(k, Bytes(39, 0), ad), drctl::Failure);
}

TEST_CASE("store crypto: keyed ids are HMAC-SHA-256 under the id key, not the content's SHA-256") {
  const SecretKey k = key_of(3);
  const std::string data = "a chunk someone could guess";
  unsigned char expected[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, k.data(), k.size());
  crypto_auth_hmacsha256_update(&st, bytes_of(data).data(), data.size());
  crypto_auth_hmacsha256_final(&st, expected);
  const Id id = keyed_id(k, bytes_of(data));
  CHECK(std::memcmp(id.bytes.data(), expected, 32) == 0);
  CHECK(id != sha256(data));
  CHECK(keyed_id(key_of(4), bytes_of(data)) != id);
}

TEST_CASE("store crypto: a keys/ file opens with its passphrase or key file only, for its repository only") {
  const MasterKey m = random_master_key();
  const std::string pw_key = wrap_master_key(m, passphrase("correct horse"), "repo-a", {.opslimit = 1, .memlimit = 8 << 20});
  auto opened = unwrap_master_key(pw_key, passphrase("correct horse"), "repo-a");
  REQUIRE(opened);
  CHECK(opened->encrypt == m.encrypt);
  CHECK(opened->ids == m.ids);
  CHECK_FALSE(unwrap_master_key(pw_key, passphrase("correct horse!"), "repo-a"));
  CHECK_FALSE(unwrap_master_key(pw_key, passphrase("correct horse"), "repo-b"));
  CHECK_FALSE(unwrap_master_key(pw_key, {Credential::Kind::KeyFile, "correct horse", "t"}, "repo-a"));
  CHECK(pw_key.find("correct horse") == std::string::npos);
  CHECK(key_info(pw_key).kind == "passphrase");

  const Credential file{Credential::Kind::KeyFile, std::string(32, '\x5a'), "t"};
  const std::string file_key = wrap_master_key(m, file, "repo-a");
  REQUIRE(unwrap_master_key(file_key, file, "repo-a"));
  CHECK_FALSE(unwrap_master_key(file_key, {Credential::Kind::KeyFile, std::string(32, '\x5b'), "t"}, "repo-a"));
  CHECK(key_info(file_key).kind == "key file");

  // Limits out of range are damage, refused before any derivation.
  std::string greedy = pw_key;
  greedy.replace(greedy.find("\"memlimit\": 8388608"), 19, "\"memlimit\": 999999999999");
  CHECK_THROWS_AS(unwrap_master_key(greedy, passphrase("correct horse"), "repo-a"), drctl::Failure);
  CHECK_THROWS_AS(unwrap_master_key("{}", passphrase("x"), "repo-a"), drctl::Failure);
}

TEST_CASE("store crypto: passphrase and key files are read as FORMAT.md says, and bad ones are named") {
  support::TempDir t("crypto-files");
  support::write_file(t / "pw", "secret words\r\n", 0600);
  CHECK(read_credential(Credential::Kind::Passphrase, (t / "pw").string(), "--password-file").secret == "secret words");
  support::write_file(t / "empty", "\n", 0600);
  CHECK_THROWS_AS(read_credential(Credential::Kind::Passphrase, (t / "empty").string(), "--password-file"), drctl::InputError);
  support::write_file(t / "short", std::string(31, 'k'), 0600);
  try {
    read_credential(Credential::Kind::KeyFile, (t / "short").string(), "--key-file");
    FAIL("a 31-byte key file was accepted");
  } catch (const drctl::InputError& e) {
    CHECK(std::string(e.what()).find("--key-file") != std::string::npos);
    CHECK(std::string(e.what()).find("kkkk") == std::string::npos);
  }
  CHECK_THROWS_AS(read_credential(Credential::Kind::KeyFile, (t / "missing").string(), "DRCTL_KEY_FILE"), drctl::InputError);
}

TEST_CASE("store crypto: an encrypted repository stores no plaintext, reads back, and refuses a flipped byte") {
  support::TempDir t("crypto-repo");
  support::write_file(t / "pw", "unit passphrase\n", 0600);
  const fs::path path = t / "repo";
  RepoConfig config;
  const Credential cred = read_credential(Credential::Kind::Passphrase, (t / "pw").string(), "test");
  Repository::init(path, config, &cred);
  CredentialFiles files((t / "pw").string(), "");
  const std::string marker = "UNIT-PLAINTEXT-MARKER-0123456789";
  std::string content;
  for (int i = 0; i < 2000; ++i) content += marker;  // compressible: zstd runs before the seal
  Id id;
  {
    Repository repo(path);
    REQUIRE(repo.encrypted());
    id = repo.blob_id(content);
    CHECK(id != sha256(content));
    CHECK(repo.add_blob(BlobType::Data, id, bytes_of(content)) > 0);
    repo.flush();
  }
  Repository repo(path);
  CHECK(repo.read_blob(id) == Bytes(content.begin(), content.end()));
  const std::string plain_id = sha256(content).hex();
  for (const auto& e : fs::recursive_directory_iterator(path)) {
    if (!e.is_regular_file()) continue;
    const std::string bytes = support::read_file(e.path());
    CHECK_MESSAGE(bytes.find("PLAINTEXT-MARKER") == std::string::npos, e.path());
    CHECK_MESSAGE(bytes.find(plain_id) == std::string::npos, e.path());
    CHECK_MESSAGE(bytes.find(std::string(reinterpret_cast<const char*>(sha256(content).bytes.data()), 32)) == std::string::npos, e.path());
  }
  // The one data pack: its blob starts at offset 0; flip a byte inside it.
  const std::vector<Id> packs = repo.list_packs();
  REQUIRE(packs.size() == 1);
  const fs::path pack = repo.pack_path(packs[0]);
  std::string bytes = support::read_file(pack);
  bytes[30] = static_cast<char>(bytes[30] ^ 0x40);
  support::write_file(pack, bytes, 0600);
  Repository damaged(path);
  CHECK_THROWS_AS(damaged.read_blob(id), drctl::Failure);
}

TEST_CASE("store crypto: keys can be added and removed, never the last, the one in use only with force") {
  support::TempDir t("crypto-keys");
  support::write_file(t / "pw1", "first\n", 0600);
  support::write_file(t / "kf", std::string(40, '\x11'), 0600);
  const fs::path path = t / "repo";
  const Credential first = read_credential(Credential::Kind::Passphrase, (t / "pw1").string(), "test");
  Repository::init(path, RepoConfig{}, &first);
  CredentialFiles files((t / "pw1").string(), "");
  Repository repo(path);
  REQUIRE(repo.keys().size() == 1);
  const Id in_use = repo.keys()[0].id;
  CHECK(repo.keys()[0].in_use);
  CHECK_THROWS_AS(repo.remove_key(in_use, true), drctl::InputError);  // the last key
  const Id added = repo.add_key(read_credential(Credential::Kind::KeyFile, (t / "kf").string(), "test"));
  CHECK(repo.keys().size() == 2);
  CHECK(fs::exists(path / "keys" / added.hex()));
  CHECK_THROWS_AS(repo.remove_key(in_use, false), drctl::InputError);
  repo.remove_key(in_use, true);
  CHECK_FALSE(fs::exists(path / "keys" / in_use.hex()));
  // The key file now opens it (checked afresh: another credential than the cached one).
  set_credential_files("", (t / "kf").string());
  Repository by_file(path);
  CHECK(by_file.keys().size() == 1);
  CHECK(by_file.keys()[0].in_use);
  // And the removed passphrase no longer does.
  set_credential_files((t / "pw1").string(), "");
  CHECK_THROWS_AS(Repository{path}, drctl::InputError);
}

TEST_CASE("store crypto: an unencrypted repository keeps SHA-256 ids and has no keys") {
  support::TempDir t("crypto-plain");
  Repository::init(t / "repo", RepoConfig{});
  Repository repo(t / "repo");
  CHECK_FALSE(repo.encrypted());
  CHECK(repo.blob_id(std::string_view("abc")) == sha256("abc"));
  CHECK_THROWS_AS(repo.keys(), drctl::InputError);
  CHECK_FALSE(fs::exists(t / "repo" / "keys"));
  CHECK(support::read_file(t / "repo" / "config").find("\"encryption\": \"none\"") != std::string::npos);
}

TEST_CASE("store crypto: a passphrase typed on a terminal is not echoed, and is asked twice for a new one") {
  int master = -1, slave = -1;
  REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
  int result[2];
  REQUIRE(::pipe(result) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child's stdin and stderr are the terminal, as for a user at a shell.
    ::dup2(slave, STDIN_FILENO);
    ::dup2(slave, STDERR_FILENO);
    ::close(master);
    int code = 0;
    try {
      auto c = prompt_passphrase("Passphrase: ", true);
      const std::string got = c ? c->secret : "<none>";
      if (::write(result[1], got.data(), got.size()) < 0) code = 3;
    } catch (const drctl::InputError&) {
      code = 2;
    }
    ::_exit(code);
  }
  ::close(slave);
  ::close(result[1]);
  std::string screen;
  // What the terminal shows: wait for a prompt, then type the line.
  auto type_after = [&](const std::string& prompt, const std::string& line) {
    char buf[256];
    while (screen.find(prompt) == std::string::npos) {
      const ssize_t n = ::read(master, buf, sizeof buf);
      REQUIRE(n > 0);
      screen.append(buf, static_cast<std::size_t>(n));
    }
    REQUIRE(::write(master, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
  };
  type_after("Passphrase: ", "typed on a terminal\n");
  type_after("Again", "typed on a terminal\n");
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  char buf[256];
  for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) screen.append(buf, static_cast<std::size_t>(n));
  std::string got;
  for (ssize_t n; (n = ::read(result[0], buf, sizeof buf)) > 0;) got.append(buf, static_cast<std::size_t>(n));
  ::close(master);
  ::close(result[0]);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(got == "typed on a terminal");
  CHECK_MESSAGE(screen.find("typed on") == std::string::npos, "the terminal echoed the passphrase: " << screen);
}
