#include "store/crypto.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "base/error.hpp"

namespace drctl::store {

using json = nlohmann::json;

namespace {

constexpr std::size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr std::size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;
static_assert(kNonce + kTag == kSealOverhead);

// Bounds on what a keys/ file may ask of us: a file from elsewhere must not make us allocate
// gigabytes or spin for minutes before the passphrase is even checked.
constexpr std::uint64_t kMaxMemlimit = 4ull << 30;
constexpr std::uint64_t kMaxOpslimit = 64;

void init_sodium() {
  static const int rc = sodium_init();
  if (rc < 0) throw Failure("libsodium could not be initialised");
}


Bytes from_hex_field(const json& j, const char* name, std::size_t want) {
  const std::string hex = j.at(name).get<std::string>();
  if (hex.size() != 2 * want || hex.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw Failure(std::string("field ") + name + " is not " + std::to_string(want) + " bytes of hex");
  Bytes out(want);
  for (std::size_t i = 0; i < want; ++i) out[i] = static_cast<std::uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return out;
}

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string host_name() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

/// AD of the master key's wrapping: binds a keys/ file to its repository.
Bytes wrap_ad(std::string_view repo_id) {
  std::string ad = "drctl-key";
  ad.push_back('\0');
  ad += repo_id;
  return Bytes(ad.begin(), ad.end());
}

/// The key-encryption key for `cred` with the keys/ file's KDF parameters.
SecretKey derive_kek(const Credential& cred, const json& kdf) {
  SecretKey kek{};
  const std::string algorithm = kdf.at("algorithm").get<std::string>();
  if (algorithm == "argon2id") {
    const Bytes salt = from_hex_field(kdf, "salt", crypto_pwhash_SALTBYTES);
    const auto ops = kdf.at("opslimit").get<std::uint64_t>();
    const auto mem = kdf.at("memlimit").get<std::uint64_t>();
    if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > kMaxOpslimit || mem < crypto_pwhash_MEMLIMIT_MIN || mem > kMaxMemlimit)
      throw Failure("its Argon2id limits are out of range");
    if (crypto_pwhash(kek.data(), kek.size(), cred.secret.data(), cred.secret.size(), salt.data(), ops,
                      static_cast<std::size_t>(mem), crypto_pwhash_ALG_ARGON2ID13) != 0)
      throw Failure("out of memory deriving the key from the passphrase");
  } else if (algorithm == "blake2b") {
    const Bytes salt = from_hex_field(kdf, "salt", crypto_generichash_KEYBYTES);
    crypto_generichash(kek.data(), kek.size(), reinterpret_cast<const unsigned char*>(cred.secret.data()),
                       cred.secret.size(), salt.data(), salt.size());
  } else {
    throw Failure("unknown key derivation '" + algorithm + "'");
  }
  return kek;
}

const char* kind_name(Credential::Kind k) { return k == Credential::Kind::Passphrase ? "passphrase" : "key file"; }

json parse_key_file(std::string_view text) {
  try {
    json j = json::parse(text);
    if (j.at("format") != "drctl-key" || j.at("version") != 1) throw Failure("not a drctl key (format or version)");
    return j;
  } catch (const json::exception& e) {
    std::string what = e.what();
    throw Failure("malformed key (" + what.substr(what.find(']') + 2) + ")");
  }
}

}  // namespace

Bytes seal(const SecretKey& key, std::span<const std::uint8_t> plain, std::span<const std::uint8_t> ad) {
  init_sodium();
  Bytes out(kNonce + plain.size() + kTag);
  randombytes_buf(out.data(), kNonce);
  unsigned long long len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(out.data() + kNonce, &len, plain.data(), plain.size(), ad.data(),
                                             ad.size(), nullptr, out.data(), key.data());
  return out;
}

Bytes open_sealed(const SecretKey& key, std::span<const std::uint8_t> sealed, std::span<const std::uint8_t> ad) {
  init_sodium();
  if (sealed.size() < kSealOverhead) throw Failure("too short to be encrypted data");
  Bytes out(sealed.size() - kSealOverhead);
  unsigned long long len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(out.data(), &len, nullptr, sealed.data() + kNonce,
                                                 sealed.size() - kNonce, ad.data(), ad.size(), sealed.data(),
                                                 key.data()) != 0)
    throw Failure("authentication failed: its bytes were changed");
  return out;
}

Id keyed_id(const SecretKey& key, std::span<const std::uint8_t> data) {
  Id id;
  unsigned int len = 0;
  // OpenSSL's SHA-256 uses the CPU's SHA extensions: ids cost what plain SHA-256 ids cost.
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), id.bytes.data(), &len) ||
      len != id.bytes.size())
    throw Failure("HMAC-SHA-256 failed");
  return id;
}

MasterKey random_master_key() {
  init_sodium();
  MasterKey m;
  randombytes_buf(m.encrypt.data(), m.encrypt.size());
  randombytes_buf(m.ids.data(), m.ids.size());
  return m;
}

std::string wrap_master_key(const MasterKey& master, const Credential& cred, std::string_view repo_id,
                            const KdfLimits& limits) {
  init_sodium();
  json kdf;
  if (cred.kind == Credential::Kind::Passphrase) {
    Bytes salt(crypto_pwhash_SALTBYTES);
    randombytes_buf(salt.data(), salt.size());
    kdf = {{"algorithm", "argon2id"}, {"opslimit", limits.opslimit}, {"memlimit", limits.memlimit}, {"salt", to_hex(salt)}};
  } else {
    Bytes salt(crypto_generichash_KEYBYTES);
    randombytes_buf(salt.data(), salt.size());
    kdf = {{"algorithm", "blake2b"}, {"salt", to_hex(salt)}};
  }
  const SecretKey kek = derive_kek(cred, kdf);
  Bytes plain(master.encrypt.begin(), master.encrypt.end());
  plain.insert(plain.end(), master.ids.begin(), master.ids.end());
  const Bytes wrapped = seal(kek, plain, wrap_ad(repo_id));
  sodium_memzero(plain.data(), plain.size());
  json j = {{"format", "drctl-key"}, {"version", 1},  {"created", now_iso()},     {"host", host_name()},
            {"kind", kind_name(cred.kind)}, {"kdf", kdf}, {"master", to_hex(wrapped)}};
  return j.dump(2) + "\n";
}

std::optional<MasterKey> unwrap_master_key(std::string_view key_file, const Credential& cred, std::string_view repo_id) {
  init_sodium();
  const json j = parse_key_file(key_file);
  try {
    if (j.at("kind").get<std::string>() != kind_name(cred.kind)) return std::nullopt;
    const SecretKey kek = derive_kek(cred, j.at("kdf"));
    const Bytes wrapped = from_hex_field(j, "master", 64 + kSealOverhead);
    Bytes plain;
    try {
      plain = open_sealed(kek, wrapped, wrap_ad(repo_id));
    } catch (const Failure&) {
      return std::nullopt;
    }
    MasterKey m;
    std::memcpy(m.encrypt.data(), plain.data(), 32);
    std::memcpy(m.ids.data(), plain.data() + 32, 32);
    sodium_memzero(plain.data(), plain.size());
    return m;
  } catch (const json::exception& e) {
    std::string what = e.what();
    throw Failure("malformed key (" + what.substr(what.find(']') + 2) + ")");
  }
}

KeyInfo key_info(std::string_view key_file) {
  const json j = parse_key_file(key_file);
  try {
    return KeyInfo{j.at("created").get<std::string>(), j.at("host").get<std::string>(), j.at("kind").get<std::string>()};
  } catch (const json::exception& e) {
    std::string what = e.what();
    throw Failure("malformed key (" + what.substr(what.find(']') + 2) + ")");
  }
}

}  // namespace drctl::store
