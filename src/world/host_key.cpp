#include "world/host_key.hpp"

#include <openssl/sha.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "world/world.hpp"

namespace drctl::world {

namespace {

// The SSH wire encoding (RFC 4251 §5): uint32 big-endian, and strings as length + bytes.
void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xff);
}
void put_string(std::string& out, const std::string& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out += s;
}

struct Reader {
  const std::string& data;
  std::size_t at = 0;
  std::uint32_t u32() {
    if (at + 4 > data.size()) throw std::invalid_argument("truncated key");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(data[at++]);
    return v;
  }
  std::string string() {
    const std::uint32_t n = u32();
    if (at + n > data.size()) throw std::invalid_argument("truncated key");
    std::string s = data.substr(at, n);
    at += n;
    return s;
  }
};

std::string base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string unbase64(const std::string& text) {
  std::string clean;
  for (char c : text)
    if (c != '\n' && c != '\r' && c != ' ') clean += c;
  if (clean.size() % 4 != 0) throw std::invalid_argument("not base64");
  std::string out(clean.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(clean.data()), static_cast<int>(clean.size()));
  if (n < 0) throw std::invalid_argument("not base64");
  std::size_t pad = 0;
  while (pad < 2 && pad < clean.size() && clean[clean.size() - 1 - pad] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

const std::string kType = "ssh-ed25519";
const std::string kMagic = std::string("openssh-key-v1") + '\0';
const std::string kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----\n", kEnd = "-----END OPENSSH PRIVATE KEY-----\n";

std::string public_blob(const std::string& pub) {
  std::string blob;
  put_string(blob, kType);
  put_string(blob, pub);
  return blob;
}

}  // namespace

HostKeyPair generate_host_key(const std::string& comment, const std::string& seeded) {
  EVP_PKEY* raw = nullptr;
  if (!seeded.empty()) {
    if (seeded.size() != 32) throw std::invalid_argument("an Ed25519 seed has 32 bytes");
    raw = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(seeded.data()),
                                       seeded.size());
  } else {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                                    EVP_PKEY_CTX_free);
    if (ctx && EVP_PKEY_keygen_init(ctx.get()) == 1) EVP_PKEY_keygen(ctx.get(), &raw);
  }
  if (!raw) throw std::runtime_error("OpenSSL could not generate an Ed25519 key");
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, EVP_PKEY_free);
  std::string seed(32, '\0'), pub(32, '\0');
  std::size_t seed_len = seed.size(), pub_len = pub.size();
  if (EVP_PKEY_get_raw_private_key(key.get(), reinterpret_cast<unsigned char*>(seed.data()), &seed_len) != 1 ||
      EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pub.data()), &pub_len) != 1)
    throw std::runtime_error("OpenSSL could not export the Ed25519 key");

  // OpenSSH's PROTOCOL.key: magic, cipher "none", kdf "none", no kdf options, one key, its public
  // blob, then the private section: two equal check words, the key (type, public, seed‖public,
  // comment) and padding 1, 2, 3 … to the cipher's block size (8 for "none").
  std::uint32_t check = 0x64726374;  // "drct": a seeded key is the same file every time
  if (seeded.empty()) RAND_bytes(reinterpret_cast<unsigned char*>(&check), sizeof check);
  std::string priv;
  put_u32(priv, check);
  put_u32(priv, check);
  put_string(priv, kType);
  put_string(priv, pub);
  put_string(priv, seed + pub);
  put_string(priv, comment);
  for (char pad = 1; priv.size() % 8 != 0; ++pad) priv += pad;
  std::string file = kMagic;
  put_string(file, "none");
  put_string(file, "none");
  put_string(file, "");
  put_u32(file, 1);
  put_string(file, public_blob(pub));
  put_string(file, priv);

  std::string body = base64(file), text = kBegin;
  for (std::size_t i = 0; i < body.size(); i += 70) text += body.substr(i, 70) + "\n";
  text += kEnd;
  return {text, kType + " " + base64(public_blob(pub)) + (comment.empty() ? "" : " " + comment)};
}

std::string public_key_of(const std::string& private_key) {
  const auto b = private_key.find(kBegin), e = private_key.find(kEnd);
  if (b == std::string::npos || e == std::string::npos || e < b)
    throw std::invalid_argument("not an OpenSSH private key");
  const std::string file = unbase64(private_key.substr(b + kBegin.size(), e - b - kBegin.size()));
  if (file.compare(0, kMagic.size(), kMagic) != 0) throw std::invalid_argument("not an OpenSSH private key");
  Reader r{file, kMagic.size()};
  if (r.string() != "none") throw std::invalid_argument("the key is encrypted");
  r.string();  // kdf
  r.string();  // kdf options
  if (r.u32() != 1) throw std::invalid_argument("not one key");
  const std::string blob = r.string(), section = r.string();
  Reader p{section};
  if (p.u32() != p.u32()) throw std::invalid_argument("damaged key");
  if (p.string() != kType) throw std::invalid_argument("not an Ed25519 key");
  p.string();  // public
  p.string();  // seed‖public
  const std::string comment = p.string();
  return kType + " " + base64(blob) + (comment.empty() ? "" : " " + comment);
}

HostKeyPair stored_host_key(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path key = fs::path(dir) / name / "ssh_host_ed25519_key";
  std::error_code ec;
  if (fs::exists(key, ec)) {
    std::ifstream in(key, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) throw std::runtime_error("cannot read " + key.string());
    try {
      return {text.str(), public_key_of(text.str())};
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(key.string() + ": " + e.what() + " (drctl keeps an unencrypted Ed25519 key there)");
    }
  }
  HostKeyPair pair = generate_host_key("root@" + name);
  fs::path made;
  for (const auto& part : key.parent_path()) {
    made /= part;
    if (made.empty() || fs::exists(made, ec)) continue;
    if (!fs::create_directory(made, ec) || ec) throw std::runtime_error("cannot create " + made.string() + ": " + ec.message());
    fs::permissions(made, fs::perms::owner_all, ec);
  }
  const fs::path tmp = key.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    fs::permissions(tmp, fs::perms::owner_read | fs::perms::owner_write, ec);
    out << pair.private_key;
    if (!out.flush()) throw std::runtime_error("cannot write " + tmp.string());
  }
  std::ofstream(key.string() + ".pub") << pair.public_key << "\n";
  fs::rename(tmp, key, ec);
  if (ec) throw std::runtime_error("cannot write " + key.string() + ": " + ec.message());
  return pair;
}

HostKeyPair World::host_key(const std::string& host) {
  const std::string label = "drctl simulated host key: " + host;
  std::string seed(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(label.data()), label.size(), reinterpret_cast<unsigned char*>(seed.data()));
  return generate_host_key("root@" + host, seed);
}

}  // namespace drctl::world
