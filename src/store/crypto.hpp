// Encryption at rest (FORMAT.md, "Encryption"): sealing objects with XChaCha20-Poly1305, keyed
// blob ids, and the keys/ files that wrap one master key for each passphrase or key file.
//
// libsodium does the cryptography; this file only fixes how its pieces are put together, so
// that the byte layouts FORMAT.md documents are written down in one place.
#pragma once
#include <array>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "store/bytes.hpp"

namespace drctl::store {

/// A 256-bit secret key.
using SecretKey = std::array<std::uint8_t, 32>;

/// The master key of an encrypted repository, the same in every keys/ file.
struct MasterKey {
  SecretKey encrypt{};  // XChaCha20-Poly1305 key for every object
  SecretKey ids{};      // HMAC-SHA-256 key for blob, index and snapshot ids
};

/// What the user gives to unlock a repository. The secret never appears in a message.
struct Credential {
  enum class Kind : std::uint8_t {
    Passphrase,  // stretched with Argon2id
    KeyFile,     // at least 32 random bytes, hashed with keyed BLAKE2b
  };
  Kind kind = Kind::Passphrase;
  std::string secret;
  std::string origin;  // where it came from, for messages: "--password-file F", "the prompt", ...
};

/// Bytes a sealed object has on top of its plaintext: the 24-byte nonce and the 16-byte tag.
constexpr std::size_t kSealOverhead = 24 + 16;

/// nonce || XChaCha20-Poly1305(plain, ad) || tag, with a random nonce.
Bytes seal(const SecretKey& key, std::span<const std::uint8_t> plain, std::span<const std::uint8_t> ad);
/// The plaintext of what seal() made with the same key and `ad`; throws Failure when a byte of
/// `sealed` or `ad` differs (the tag does not match), never returns other bytes.
Bytes open_sealed(const SecretKey& key, std::span<const std::uint8_t> sealed, std::span<const std::uint8_t> ad);

/// HMAC-SHA-256 of `data` under `key`: ids in an encrypted repository, which say nothing of the
/// content to someone without the key.
Id keyed_id(const SecretKey& key, std::span<const std::uint8_t> data);

/// A fresh random master key.
MasterKey random_master_key();

/// Argon2id parameters written into new passphrase keys (stored in each key, so they can change).
struct KdfLimits {
  std::uint64_t opslimit = 3;
  std::uint64_t memlimit = 64ull << 20;  // 64 MiB: about 0.2 s on a current core
};

/// What a keys/ file says about itself (never its secret).
struct KeyInfo {
  std::string created;  // ISO 8601 UTC
  std::string host;
  std::string kind;  // "passphrase" or "key file"
};

/// The bytes of a keys/ file that wraps `master` with `cred` for repository `repo_id`.
std::string wrap_master_key(const MasterKey& master, const Credential& cred, std::string_view repo_id,
                            const KdfLimits& limits = {});
/// The master key a keys/ file wraps, or nullopt when `cred` does not open it (wrong secret or
/// a key of the other kind). Throws Failure when the file is malformed.
std::optional<MasterKey> unwrap_master_key(std::string_view key_file, const Credential& cred, std::string_view repo_id);
/// The public fields of a keys/ file; throws Failure when it is malformed.
KeyInfo key_info(std::string_view key_file);

}  // namespace drctl::store
