#include "world/real/known_hosts.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

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

// The name a known_hosts line gives the host: "host", or "[host]:port" off port 22.
std::string known_hosts_name(const SshEndpoint& ep) {
  return ep.port == 22 ? ep.hostname : "[" + ep.hostname + "]:" + std::to_string(ep.port);
}

std::string remove_command(const SshEndpoint& ep) {
  return "ssh-keygen -R " + shell_quote(known_hosts_name(ep)) + " -f " + shell_quote(ep.known_hosts);
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

}  // namespace

std::string sha256_fingerprint(ssh_key key) {
  unsigned char* hash = nullptr;
  std::size_t len = 0;
  if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) != SSH_OK)
    throw SshError("cannot compute the host key's fingerprint");
  char* text = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
  ssh_clean_pubkey_hash(&hash);
  if (!text) throw SshError("cannot format the host key's fingerprint");
  std::string out = text;
  ssh_string_free_char(text);
  return normalize_fingerprint(out);
}

HostKey offered_host_key(ssh_session session) {
  ssh_key raw = nullptr;
  if (ssh_get_server_publickey(session, &raw) != SSH_OK || !raw)
    throw SshError(std::string("the server offered no host key: ") + ssh_get_error(session));
  KeyPtr key(raw);
  const char* type = ssh_key_type_to_char(ssh_key_type(key.get()));
  return {type ? type : "unknown", sha256_fingerprint(key.get())};
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

void verify_host_key(ssh_session session, const SshEndpoint& ep) {
  const ssh_known_hosts_e state = ssh_session_is_known_server(session);
  if (state == SSH_KNOWN_HOSTS_OK) return;
  if (state == SSH_KNOWN_HOSTS_ERROR)
    throw HostKeyError("cannot check the host key of " + ep.host_and_port() + " against " + ep.known_hosts + ": " +
                       ssh_get_error(session));
  const HostKey key = offered_host_key(session);
  const std::string offered = "it offered an " + key.type + " key with fingerprint " + key.fingerprint;
  const std::string compare = "Compare that with the host's own fingerprint (on its console: " + console_hint(key.type) +
                              "); if they match, ";
  if (state == SSH_KNOWN_HOSTS_CHANGED || state == SSH_KNOWN_HOSTS_OTHER) {
    const std::string what = state == SSH_KNOWN_HOSTS_CHANGED ? "a different key" : "a key of another type";
    throw HostKeyError("the host key of " + ep.host_and_port() + " has CHANGED: " + offered + ", but " +
                       ep.known_hosts + " holds " + what +
                       " for it. Either the host was reinstalled or someone is intercepting the connection; drctl "
                       "refuses to connect. " + compare + "remove the old key (" + remove_command(ep) +
                       ") and trust the new one: " + trust_command(ep, key.fingerprint));
  }
  const std::string missing = state == SSH_KNOWN_HOSTS_NOT_FOUND ? " (the file does not exist yet)" : "";
  throw HostKeyError("the host key of " + ep.host_and_port() + " is not known: " + offered + ", and " + ep.known_hosts +
                     missing + " holds no key for it. drctl does not trust a key on first use. " + compare +
                     "trust it: " + trust_command(ep, key.fingerprint));
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
  const ssh_known_hosts_e state = ssh_session_is_known_server(session.get());
  if (state == SSH_KNOWN_HOSTS_OK) return out;
  char* entry = nullptr;
  if (ssh_session_export_known_hosts_entry(session.get(), &entry) != SSH_OK || !entry)
    throw SshError("cannot form the known_hosts line of " + ep.host_and_port() + ": " + ssh_get_error(session.get()));
  out.line = entry;
  ssh_string_free_char(entry);
  append_line(ep.known_hosts, out.line);
  out.written = true;
  out.other_keys = state == SSH_KNOWN_HOSTS_CHANGED || state == SSH_KNOWN_HOSTS_OTHER;
  if (out.other_keys) out.remove_hint = remove_command(ep);
  return out;
}

}  // namespace drctl::world::real
