#include "world/real/known_hosts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "world/real/known_hosts_file.hpp"

namespace drctl::world::real {

namespace {

namespace fs = std::filesystem;

struct KeyDeleter {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};
using KeyPtr = std::unique_ptr<ssh_key_struct, KeyDeleter>;

// Where the operator finds the host's own fingerprint, on the host's console.
std::string console_hint(const std::string& type) {
  std::string file = "ssh_host_ed25519_key.pub";
  if (type.rfind("ecdsa", 0) == 0) file = "ssh_host_ecdsa_key.pub";
  else if (type.find("rsa") != std::string::npos) file = "ssh_host_rsa_key.pub";
  return "ssh-keygen -lf /etc/ssh/" + file;
}

std::string remove_command(const SshEndpoint& ep, const std::string& path) {
  return "ssh-keygen -R " + shell_quote(known_hosts_name(ep.hostname, ep.port)) + " -f " + shell_quote(path);
}
std::string remove_command(const SshEndpoint& ep) { return remove_command(ep, ep.known_hosts); }

// The public key in SSH wire form, as known_hosts lines hold it.
std::string wire_form(ssh_key key) {
  char* base64 = nullptr;
  if (ssh_pki_export_pubkey_base64(key, &base64) != SSH_OK || !base64)
    throw SshError("cannot read the host key's public part");
  const std::string text = base64;
  ssh_string_free_char(base64);
  return key_blob_from_base64(text);
}

KnownHostsFile read_known_hosts(const SshEndpoint& ep) {
  try {
    return KnownHostsFile::load(ep.known_hosts);
  } catch (const SshError& e) {
    throw HostKeyError("cannot check the host key of " + ep.host_and_port() + ": " + e.what());
  }
}

std::string at_line(const std::string& path, int line) { return path + ":" + std::to_string(line); }
std::string at_line(const SshEndpoint& ep, int line) { return at_line(ep.known_hosts, line); }

std::string offered(const HostKey& key) {
  return "it offered an " + key.type + " key with fingerprint " + key.fingerprint;
}

std::string compare_hint(const HostKey& key) {
  return "Compare that with the host's own fingerprint (on its console: " + console_hint(key.type) +
         "); if they match, ";
}

std::string revoked_message(const SshEndpoint& ep, const HostKey& key, const std::string& path, int line) {
  return "the host key of " + ep.host_and_port() + " was REVOKED: " + offered(key) + ", which " + at_line(path, line) +
         " marks @revoked. A revoked key may have been stolen to impersonate the host; drctl refuses to connect, "
         "and it will not trust this key again: the host needs a new key";
}

std::string changed_message(const SshEndpoint& ep, const HostKey& key, const std::string& path, const KnownHostsVerdict& v) {
  const std::string what =
      v.status == KnownHostsVerdict::Status::changed ? "a different key" : "only a key of another type";
  return "the host key of " + ep.host_and_port() + " has CHANGED: " + offered(key) + ", but " + at_line(path, v.line) +
         " holds " + what + " for it. Either the host was reinstalled or someone is intercepting the connection; "
         "drctl refuses to connect. " + compare_hint(key) + "remove the old key (" + remove_command(ep, path) +
         ") and trust the new one: " + trust_command(ep, key.fingerprint);
}

// The file's @cert-authority lines for the host, which drctl cannot use.
std::string cert_authority_note(const SshEndpoint& ep, const KnownHostsVerdict& v) {
  if (v.cert_authority_lines.empty()) return "";
  std::string lines;
  for (int line : v.cert_authority_lines) lines += (lines.empty() ? "" : ", ") + at_line(ep, line);
  return " (" + lines + " trust" + (v.cert_authority_lines.size() == 1 ? "s" : "") +
         " a certificate authority for it with @cert-authority, but host certificates are not supported: drctl "
         "checks the host's own key only)";
}

// The lines ssh(1) and drctl skip, which may have been meant for this host.
std::string skipped_note(const SshEndpoint& ep, const KnownHostsFile& file) {
  if (file.skipped.empty()) return "";
  std::string lines;
  for (std::size_t i = 0; i < file.skipped.size() && i < 3; ++i) lines += (i ? ", " : "") + at_line(ep, file.skipped[i]);
  return " (" + lines + (file.skipped.size() > 3 ? ", …" : "") + " cannot be read, by ssh(1) either)";
}

std::string unknown_message(const SshEndpoint& ep, const HostKey& key, const KnownHostsFile& file,
                            const KnownHostsVerdict& v, const std::vector<std::string>& also_read) {
  const std::string missing = file.exists ? "" : " (the file does not exist yet)";
  std::string others;
  for (const auto& path : also_read) others += (others.empty() ? " (nor does " : " or ") + path;
  if (!others.empty()) others += ")";
  return "the host key of " + ep.host_and_port() + " is not known: " + offered(key) + ", and " + ep.known_hosts +
         missing + " holds no key for it" + others + cert_authority_note(ep, v) + skipped_note(ep, file) +
         ". drctl does not trust a key on first use. " + compare_hint(key) + "trust it: " +
         trust_command(ep, key.fingerprint);
}

// Writes `text` to `fd` whole, syncs and closes it; throws SshError naming `path`.
void write_all_and_close(int fd, const std::string& text, const std::string& path) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      throw SshError("cannot write the host key to " + path + ": " + std::strerror(saved));
    }
    done += static_cast<std::size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!synced) throw SshError("cannot write the host key to " + path + ": " + std::strerror(saved));
}

// Appends `line` to `path` (created 0600, its directory 0700), on a line of its own.
void append_line(const std::string& path, const std::string& line) {
  const fs::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    if (!fs::exists(p.parent_path(), ec)) {
      fs::create_directories(p.parent_path(), ec);
      if (ec) throw SshError("cannot create the directory of " + path + ": " + ec.message());
      ::chmod(p.parent_path().c_str(), 0700);
    }
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) throw SshError("cannot open " + path + " to add the host key: " + std::strerror(errno));
  std::string text = line;
  if (text.empty() || text.back() != '\n') text += '\n';
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    char last = '\n';
    if (::pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') text = "\n" + text;
  }
  write_all_and_close(fd, text, path);
}

}  // namespace

HostKey offered_host_key(ssh_session session) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(session, &raw) != SSH_OK || !raw)
    throw SshError(std::string("the server offered no host key: ") + ssh_get_error(session));
  KeyPtr key(raw);
  const char* type = ssh_key_type_to_char(ssh_key_type(key.get()));
  std::string blob = wire_form(key.get());
  std::string fingerprint = blob_fingerprint(blob);
  return {type ? type : "unknown", std::move(fingerprint), std::move(blob)};
}

std::string normalize_fingerprint(const std::string& typed) {
  const std::string prefix = "SHA256:";
  std::string fp = typed;
  while (!fp.empty() && (fp.back() == '=' || fp.back() == ' ' || fp.back() == '\n')) fp.pop_back();
  const bool ok = fp.size() > prefix.size() && fp.compare(0, prefix.size(), prefix) == 0 &&
                  fp.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                                       prefix.size()) == std::string::npos;
  if (!ok)
    throw SshConfigError("'" + typed + "' is not a SHA256 fingerprint like SHA256:x3b… (ssh-keygen -lf KEY.pub prints "
                         "one; MD5 fingerprints are not accepted)");
  return fp;
}

std::string trust_command(const SshEndpoint& ep, const std::string& fingerprint) {
  std::string cmd = "drctl hosts trust " + shell_quote(ep.alias);
  if (ep.explicit_port) cmd += " --port " + std::to_string(ep.port);
  if (ep.explicit_known_hosts) cmd += " --known-hosts " + shell_quote(ep.known_hosts);
  if (ep.explicit_config) cmd += " --ssh-config " + shell_quote(ep.config_file);
  return cmd + " --fingerprint " + fingerprint;
}

namespace {

/// One known_hosts file and what it says of the key a host offered.
struct CheckedFile {
  KnownHostsFile file;
  KnownHostsVerdict verdict;
};

/// Every file ssh(1) reads for `ep` (read_every_known_hosts_file), each with its verdict on `blob`.
std::vector<CheckedFile> check_every_file(const SshEndpoint& ep, const std::string& blob) {
  std::vector<CheckedFile> out;
  for (KnownHostsFile& file : read_every_known_hosts_file(ep)) {
    const KnownHostsVerdict v = check_known_host(file, ep.hostname, ep.port, blob);
    out.push_back({std::move(file), v});
  }
  return out;
}

}  // namespace

std::vector<KnownHostsFile> read_every_known_hosts_file(const SshEndpoint& ep) {
  std::vector<KnownHostsFile> out;
  out.push_back(read_known_hosts(ep));
  for (const auto& path : ep.more_known_hosts) {
    try {
      KnownHostsFile file = KnownHostsFile::load(path);
      if (file.exists) out.push_back(std::move(file));
    } catch (const SshError&) {  // ssh(1) passes over a further file it cannot read
    }
  }
  return out;
}

void verify_host_key(ssh_session session, const SshEndpoint& ep) {
  const HostKey key = offered_host_key(session);
  // Every file ssh(1) reads, as one list (sshconnect.c loads them all before it decides): a
  // revoked key anywhere is refused; else a line with this key anywhere trusts it; else a line
  // with another key for the host is a changed key; else it is unknown.
  const std::vector<CheckedFile> checked = check_every_file(ep, key.blob);
  std::vector<std::string> also_read;  // the further files that exist, for the message
  for (std::size_t i = 1; i < checked.size(); ++i) also_read.push_back(checked[i].file.path);
  using Status = KnownHostsVerdict::Status;
  for (const auto& c : checked)
    if (c.verdict.status == Status::revoked) throw HostKeyError(revoked_message(ep, key, c.file.path, c.verdict.line));
  for (const auto& c : checked)
    if (c.verdict.status == Status::trusted) return;
  for (const auto& c : checked)
    if (c.verdict.status == Status::changed || c.verdict.status == Status::other_type)
      throw HostKeyError(changed_message(ep, key, c.file.path, c.verdict));
  throw HostKeyError(unknown_message(ep, key, checked.front().file, checked.front().verdict, also_read));
}

TrustOutcome trust_host_key(const SshEndpoint& ep, const std::string& fingerprint, std::chrono::milliseconds timeout) {
  const std::string wanted = normalize_fingerprint(fingerprint);
  SshSessionPtr session = open_transport(ep, timeout);
  TrustOutcome out;
  out.key = offered_host_key(session.get());
  if (out.key.fingerprint != wanted)
    throw HostKeyError(ep.host_and_port() + " offers an " + out.key.type + " key with fingerprint " +
                       out.key.fingerprint + ", not the " + wanted + " you gave; nothing was written to " +
                       ep.known_hosts + ". Check the fingerprint on the host's console (" +
                       console_hint(out.key.type) + ")");
  // Every file the connection will read: whatever hosts an @revoked line in any of them names,
  // this key must never be accepted; a key one of them already holds is trusted as it is.
  const std::vector<CheckedFile> checked = check_every_file(ep, out.key.blob);
  for (const auto& c : checked)
    if (const int line = revoked_line_for_key(c.file, out.key.blob))
      throw HostKeyError(ep.host_and_port() + " offers the " + out.key.type + " key " + out.key.fingerprint + ", which " +
                         at_line(c.file.path, line) + " marks @revoked; a revoked key is never trusted again, and nothing was "
                         "written. The host needs a new key");
  for (const auto& c : checked)
    if (c.verdict.status == KnownHostsVerdict::Status::trusted) {
      out.trusted_in = c.file.path;
      return out;
    }
  const KnownHostsVerdict& v = checked.front().verdict;
  char* entry = nullptr;
  if (ssh_session_export_known_hosts_entry(session.get(), &entry) != SSH_OK || !entry)
    throw SshError("cannot form the known_hosts line of " + ep.host_and_port() + ": " + ssh_get_error(session.get()));
  out.line = entry;
  ssh_string_free_char(entry);
  append_line(ep.known_hosts, out.line);
  out.written = true;
  out.other_keys =
      v.status == KnownHostsVerdict::Status::changed || v.status == KnownHostsVerdict::Status::other_type;
  if (out.other_keys) out.remove_hint = remove_command(ep);
  return out;
}

bool expect_host_key(const SshEndpoint& ep, const std::string& public_line) {
  std::istringstream fields(public_line);
  std::string type, base64;
  fields >> type >> base64;
  const std::string blob = key_blob_from_base64(base64);
  const KnownHostsFile file = read_known_hosts(ep);
  if (const int line = revoked_line_for_key(file, blob))
    throw HostKeyError("the key drctl made for " + ep.host_and_port() + " is marked @revoked " + at_line(ep, line));
  const std::string name = known_hosts_name(ep.hostname, ep.port);
  std::vector<int> drop;
  bool trusted = false;
  for (const auto* e : file.matching(name)) {
    if (e->marker != KnownHostsMarker::none) continue;
    if (e->key_blob == blob && !trusted) {
      trusted = true;
      continue;
    }
    drop.push_back(e->line);
  }
  if (trusted && drop.empty()) return false;
  std::string text;
  if (file.exists) {
    std::ifstream in(ep.known_hosts, std::ios::binary);
    std::ostringstream all;
    all << in.rdbuf();
    std::istringstream lines(all.str());
    int number = 0;
    for (std::string line; std::getline(lines, line);)
      if (std::find(drop.begin(), drop.end(), ++number) == drop.end()) text += line + "\n";
  }
  if (!trusted) text += name + " " + type + " " + base64 + "\n";
  const std::string tmp = ep.known_hosts + ".drctl-tmp";
  const fs::path p(ep.known_hosts);
  std::error_code ec;
  if (p.has_parent_path() && !fs::exists(p.parent_path(), ec)) {
    fs::create_directories(p.parent_path(), ec);
    ::chmod(p.parent_path().c_str(), 0700);
  }
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw SshError("cannot write " + tmp + ": " + std::strerror(errno));
  write_all_and_close(fd, text, tmp);
  if (::rename(tmp.c_str(), ep.known_hosts.c_str()) != 0)
    throw SshError("cannot replace " + ep.known_hosts + ": " + std::strerror(errno));
  return true;
}

}  // namespace drctl::world::real
