#include "world/real/known_hosts_file.hpp"

#include <fcntl.h>
#include <libssh/libssh.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "base/text.hpp"
#include "world/real/ssh_config.hpp"
#include "world/real/ssh_connection.hpp"

namespace drctl::world::real {

namespace {

constexpr const char* kRevokedMarker = "@revoked";
constexpr const char* kCaMarker = "@cert-authority";
constexpr const char* kHashMagic = "|1|";
constexpr std::size_t kSha1Bytes = 20;

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Splits a line into its whitespace-separated words.
std::vector<std::string> words_of(const std::string& line) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// Strict base64 (padded, as known_hosts holds it); false for anything else.
bool base64_decode(const std::string& text, std::string& out) {
  if (text.empty() || text.size() % 4 != 0 ||
      text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != std::string::npos)
    return false;
  const std::size_t pad = text.size() - text.find_last_not_of('=') - 1;
  if (pad > 2 || text.find('=') < text.size() - pad) return false;  // '=' only as the padding
  std::string buf(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != buf.size()) return false;
  buf.resize(buf.size() - pad);
  out = std::move(buf);
  return true;
}

std::string base64_encode(const unsigned char* data, std::size_t len) {
  std::string out(4 * ((len + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(len));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// The key type a wire-form key names in its first string; "" when the blob is too short.
std::string blob_type(const std::string& blob) {
  if (blob.size() < 4) return "";
  const auto* p = reinterpret_cast<const unsigned char*>(blob.data());
  const std::size_t len = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
  if (len == 0 || len > blob.size() - 4) return "";
  return blob.substr(4, len);
}

// The marker a line opens with, moving `words` past it; false for a marker ssh(1) does not know
// (the line is then skipped). A line holds at most one marker.
bool take_marker(std::vector<std::string>& words, KnownHostsMarker& marker) {
  marker = KnownHostsMarker::none;
  if (words.empty() || words[0][0] != '@') return true;
  if (words[0] == kRevokedMarker) marker = KnownHostsMarker::revoked;
  else if (words[0] == kCaMarker) marker = KnownHostsMarker::cert_authority;
  else return false;
  words.erase(words.begin());
  return words.empty() || words[0][0] != '@';
}

// True when libssh reads `base64` as a whole public key of the named type.
bool is_public_key(const std::string& type_name, const std::string& base64) {
  const ssh_keytypes_e type = ssh_key_type_from_name(type_name.c_str());
  if (type == SSH_KEYTYPE_UNKNOWN) return false;
  ssh_key key = nullptr;
  const bool ok = ssh_pki_import_pubkey_base64(base64.c_str(), type, &key) == SSH_OK && key;
  ssh_key_free(key);
  return ok;
}

// One line, or false when ssh(1) cannot read it: an unknown marker, a missing field, a key that
// is not base64 of a whole key of the type the line names.
bool parse_entry(const std::string& line, KnownHostsEntry& entry) {
  std::vector<std::string> words = words_of(line);
  if (!take_marker(words, entry.marker) || words.size() < 3) return false;
  entry.hosts = words[0];
  entry.key_type = words[1];
  return base64_decode(words[2], entry.key_blob) && blob_type(entry.key_blob) == entry.key_type &&
         is_public_key(entry.key_type, words[2]);
}

// "|1|salt|hash": the HMAC-SHA1 of `name` keyed with the salt equals the hash.
bool hashed_name_matches(const std::string& field, const std::string& name) {
  const std::size_t magic = std::strlen(kHashMagic);
  if (field.compare(0, magic, kHashMagic) != 0) return false;
  const std::size_t bar = field.find('|', magic);
  if (bar == std::string::npos) return false;
  std::string salt, hash;
  if (!base64_decode(field.substr(magic, bar - magic), salt) || salt.size() != kSha1Bytes ||
      !base64_decode(field.substr(bar + 1), hash) || hash.size() != kSha1Bytes)
    return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha1(), salt.data(), static_cast<int>(salt.size()), reinterpret_cast<const unsigned char*>(name.data()),
            name.size(), mac, &mac_len))
    return false;
  return mac_len == kSha1Bytes && std::memcmp(mac, hash.data(), kSha1Bytes) == 0;
}

// Looks `key_blob` up under one name, as ssh(1)'s check_key_in_hostkeys does: a key line with
// the key trusts it, one with another key makes it changed, and a matching revocation overrides
// both.
KnownHostsVerdict check_name(const KnownHostsFile& file, const std::string& name, const std::string& key_blob) {
  const std::string key_type = blob_type(key_blob);
  KnownHostsVerdict v;
  v.name = name;
  for (const KnownHostsEntry* e : file.matching(name)) {
    if (e->marker == KnownHostsMarker::revoked && e->key_blob == key_blob) {
      v.status = KnownHostsVerdict::Status::revoked;
      v.line = e->line;
      return v;
    }
    if (e->marker == KnownHostsMarker::cert_authority) v.cert_authority_lines.push_back(e->line);
    if (e->marker != KnownHostsMarker::none || v.status == KnownHostsVerdict::Status::trusted) continue;
    if (e->key_blob == key_blob) {
      v.status = KnownHostsVerdict::Status::trusted;
      v.line = e->line;
    } else if (e->key_type == key_type) {
      v.status = KnownHostsVerdict::Status::changed;
      v.line = e->line;
    } else if (v.status == KnownHostsVerdict::Status::unknown) {
      v.status = KnownHostsVerdict::Status::other_type;
      v.line = e->line;
    }
  }
  return v;
}

}  // namespace

KnownHostsFile KnownHostsFile::parse(const std::string& text, const std::string& path) {
  KnownHostsFile file;
  file.path = path;
  file.exists = true;
  std::istringstream in(text);
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    const std::size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;
    KnownHostsEntry entry;
    entry.line = number;
    if (parse_entry(line, entry)) file.entries.push_back(std::move(entry));
    else file.skipped.push_back(number);
  }
  return file;
}

KnownHostsFile KnownHostsFile::load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    KnownHostsFile missing;
    missing.path = path;
    return missing;
  }
  if (fd < 0) throw SshError("cannot read the known_hosts file " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      throw SshError("cannot read the known_hosts file " + path + ": " + std::strerror(saved));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse(text, path);
}

std::vector<const KnownHostsEntry*> KnownHostsFile::matching(const std::string& name) const {
  std::vector<const KnownHostsEntry*> out;
  for (const auto& e : entries)
    if (known_hosts_field_matches(e.hosts, name)) out.push_back(&e);
  return out;
}

std::string known_hosts_name(const std::string& host, int port) {
  return port == 22 ? host : "[" + host + "]:" + std::to_string(port);
}

bool known_hosts_field_matches(const std::string& hosts_field, const std::string& name) {
  // ssh(1) lowercases the host name before it looks it up; patterns match in any case.
  const std::string lowered = text::lower(name);
  if (!hosts_field.empty() && hosts_field[0] == '|') return hashed_name_matches(hosts_field, lowered);
  bool positive = false;
  std::istringstream in(hosts_field);
  for (std::string pattern; std::getline(in, pattern, ',');) {
    if (!pattern.empty() && pattern[0] == '!') {
      if (ssh_pattern_match(lowered, pattern.substr(1))) return false;
    } else if (ssh_pattern_match(lowered, pattern)) {
      positive = true;
    }
  }
  return positive;
}

std::string key_blob_from_base64(const std::string& base64) {
  std::string blob;
  if (!base64_decode(base64, blob)) throw SshError("a public key is not in base64: " + base64.substr(0, 40));
  return blob;
}

std::string blob_fingerprint(const std::string& key_blob) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!EVP_Digest(key_blob.data(), key_blob.size(), digest, &len, EVP_sha256(), nullptr))
    throw SshError("cannot compute a key's SHA256 fingerprint");
  std::string b64 = base64_encode(digest, len);
  while (!b64.empty() && b64.back() == '=') b64.pop_back();
  return "SHA256:" + b64;
}

KnownHostsVerdict check_known_host(const KnownHostsFile& file, const std::string& host, int port,
                                   const std::string& key_blob) {
  KnownHostsVerdict v = check_name(file, known_hosts_name(host, port), key_blob);
  if (v.status != KnownHostsVerdict::Status::unknown || port == 22) return v;
  // ssh(1) looks a host that "[host]:port" finds nothing for up under "host" too, and takes
  // only what that finds trusted or revoked.
  KnownHostsVerdict plain = check_name(file, host, key_blob);
  if (plain.status == KnownHostsVerdict::Status::trusted || plain.status == KnownHostsVerdict::Status::revoked)
    return plain;
  v.cert_authority_lines.insert(v.cert_authority_lines.end(), plain.cert_authority_lines.begin(),
                                plain.cert_authority_lines.end());
  auto& lines = v.cert_authority_lines;  // a line may match both names
  std::sort(lines.begin(), lines.end());
  lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
  return v;
}

int revoked_line_for_key(const KnownHostsFile& file, const std::string& key_blob) {
  for (const auto& e : file.entries)
    if (e.marker == KnownHostsMarker::revoked && e.key_blob == key_blob) return e.line;
  return 0;
}

}  // namespace drctl::world::real
