// A known_hosts file read as OpenSSH reads it (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"), and the
// verdict ssh(1) gives a host's key from it. libssh 0.10 reads the file without the markers, so
// it took a `@revoked` line for a host named "@revoked" and accepted the revoked key; drctl reads
// the file itself, line for line as OpenSSH 9 does:
//   - `@revoked` and `@cert-authority` markers (one per line, case-sensitive); a line with any
//     other marker is skipped, as is every line ssh(1) cannot read;
//   - a host field that is a comma list of patterns (`*`, `?`, `!negation`, any case), or one
//     hashed name `|1|salt|hash` (HMAC-SHA1 of the name, `HashKnownHosts yes`);
//   - names "host" on port 22 and "[host]:port" elsewhere; off port 22, a key found under
//     neither a key line nor a revocation for "[host]:port" is looked up under "host" too;
//   - a revoked key is refused even when a plain line for the host holds it; a `@revoked` line
//     applies only to the hosts its pattern matches, exactly like its plain lines.
#pragma once

#include <string>
#include <vector>

namespace drctl::world::real {

/// What a line's marker makes of its key.
enum class KnownHostsMarker {
  none,            // the host's own key: trusted
  revoked,         // `@revoked`: never accepted for the hosts it names
  cert_authority,  // `@cert-authority`: signs host certificates (drctl does not check those)
};

/// One line of the file that ssh(1) can read.
struct KnownHostsEntry {
  int line = 0;  // 1-based
  KnownHostsMarker marker = KnownHostsMarker::none;
  std::string hosts;     // the host field as written: patterns, or one "|1|salt|hash"
  std::string key_type;  // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa", …
  std::string key_blob;  // the public key in SSH wire form (its base64 decoded)
};

/// The lines of one known_hosts file.
struct KnownHostsFile {
  std::string path;
  bool exists = false;
  std::vector<KnownHostsEntry> entries;  // in file order
  std::vector<int> skipped;              // lines neither comments nor readable (ssh(1) skips them too)

  /// Reads `path`; a missing file has no entries and exists == false. Throws SshError when the
  /// file exists but cannot be read.
  static KnownHostsFile load(const std::string& path);
  /// Parses `text` as the file `path` holds.
  static KnownHostsFile parse(const std::string& text, const std::string& path);

  /// The entries whose host field matches `name` ("host" or "[host]:port"), in file order.
  std::vector<const KnownHostsEntry*> matching(const std::string& name) const;
};

/// The name a known_hosts line gives a host: "host" on port 22, else "[host]:port".
std::string known_hosts_name(const std::string& host, int port);

/// True when `name` matches a host field: a comma list of patterns where one positive pattern
/// matches and no negated one does, or a hashed name `|1|salt|hash` whose HMAC matches.
bool known_hosts_field_matches(const std::string& hosts_field, const std::string& name);

/// A key's SSH wire form from its base64 (as `ssh-keygen` and known_hosts write it). Throws
/// SshError when it is not padded base64.
std::string key_blob_from_base64(const std::string& base64);

/// "SHA256:" + base64 without padding of a key in SSH wire form, as `ssh-keygen -l` prints it.
std::string blob_fingerprint(const std::string& key_blob);

/// What ssh(1) makes of a key a host offered.
struct KnownHostsVerdict {
  enum class Status {
    trusted,     // a key line for the host holds it, and no revocation does
    revoked,     // a `@revoked` line for the host holds it
    changed,     // key lines for the host hold other keys, one of the same type
    other_type,  // key lines for the host hold only keys of other types
    unknown,     // no line for the host holds a key (there may be @cert-authority lines)
  };
  Status status = Status::unknown;
  int line = 0;          // trusted/revoked: the line holding the key; changed/other_type: a line with another key
  std::string name;      // the name that line matched: "[host]:port", or "host" when found without the port
  std::vector<int> cert_authority_lines;  // unknown: `@cert-authority` lines for the host
};

/// The verdict for the key (in SSH wire form) that `host` offered on `port`.
KnownHostsVerdict check_known_host(const KnownHostsFile& file, const std::string& host, int port,
                                   const std::string& key_blob);

/// The first `@revoked` line of the file holding this key, whatever hosts it names; 0 when none.
/// (`drctl hosts trust` refuses such a key: the file says it must not be accepted.)
int revoked_line_for_key(const KnownHostsFile& file, const std::string& key_blob);

}  // namespace drctl::world::real
