#include "world/real/ssh_connection.hpp"

#include <libssh/server.h>  // declares ssh_send_keepalive, which clients may use too
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "world/real/known_hosts.hpp"
#include "world/real/known_hosts_file.hpp"
#include "world/real/sftp_client.hpp"

namespace drctl::world::real {

namespace {

// Once logged in, a blocking libssh call (opening a channel, an SFTP request) that gets no
// answer for this long fails: the host or the network is gone.
constexpr long kStallSeconds = 120;
// The kernel gives up on a connection whose sent data stays unacknowledged this long, and
// probes an idle one after kKeepIdle seconds (so a vanished host is noticed mid-command).
constexpr int kUserTimeoutMs = 60000;
constexpr int kKeepIdle = 30, kKeepInterval = 10, kKeepCount = 3;

void set_option(ssh_session s, ssh_options_e option, const void* value, const char* what) {
  if (ssh_options_set(s, option, value) != SSH_OK)
    throw SshError(std::string("cannot set the SSH option ") + what + ": " + ssh_get_error(s));
}

void tune_socket(ssh_session s) {
  const int fd = ssh_get_fd(s);
  if (fd < 0) return;
  const int on = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &kKeepIdle, sizeof kKeepIdle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &kKeepInterval, sizeof kKeepInterval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &kKeepCount, sizeof kKeepCount);
  ::setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &kUserTimeoutMs, sizeof kUserTimeoutMs);
}

// Offers ep.ciphers in both directions. libssh leaves out the names it does not implement and
// refuses a list with none left.
void set_ciphers(ssh_session s, const SshEndpoint& ep) {
  std::string list;
  for (const auto& c : ep.ciphers) list += (list.empty() ? "" : ",") + c;
  if (list.empty()) return;  // libssh's own defaults
  for (auto option : {SSH_OPTIONS_CIPHERS_C_S, SSH_OPTIONS_CIPHERS_S_C})
    if (ssh_options_set(s, option, list.c_str()) != SSH_OK)
      throw SshError((ep.ciphers_where.empty() ? std::string() : ep.ciphers_where + ": ") + "none of the ciphers " + list +
                     " is one drctl's SSH library (libssh) implements: " + ssh_get_error(s));
}

/// Asks for the host-key algorithms of the keys the known_hosts files hold for the host first,
/// as ssh(1) orders them (sshconnect.c, order_hostkeyalgs, over every file it reads): libssh
/// orders by its one UserKnownHostsFile only, so a host known by an ECDSA key in a second file
/// would be asked for its Ed25519 key, which no file holds. Nothing known: libssh's own order.
void set_hostkeys(ssh_session s, const SshEndpoint& ep) {
  static const std::vector<std::string> preference = {"ssh-ed25519",  "ecdsa-sha2-nistp521", "ecdsa-sha2-nistp384",
                                                      "ecdsa-sha2-nistp256", "rsa-sha2-512", "rsa-sha2-256"};
  std::vector<std::string> known;
  std::vector<std::string> names = {known_hosts_name(ep.hostname, ep.port)};
  if (ep.port != 22) names.push_back(ep.hostname);  // read under the bare name too (known_hosts_file.hpp)
  std::vector<KnownHostsFile> files;
  try {
    files = read_every_known_hosts_file(ep);
  } catch (const HostKeyError&) {
    return;  // the host-key check says so, naming the file
  }
  for (const KnownHostsFile& file : files)
    for (const auto& name : names)
      for (const KnownHostsEntry* e : file.matching(name)) {
        if (e->marker != KnownHostsMarker::none) continue;
        if (e->key_type == "ssh-rsa") known.insert(known.end(), {"rsa-sha2-512", "rsa-sha2-256"});
        else known.push_back(e->key_type);
      }
  if (known.empty()) return;
  std::string list;
  for (const bool first : {true, false})
    for (const auto& a : preference)
      if ((std::find(known.begin(), known.end(), a) != known.end()) == first) list += (list.empty() ? "" : ",") + a;
  if (ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, list.c_str()) != SSH_OK)
    throw SshError("cannot ask for the host-key algorithms " + list + ": " + ssh_get_error(s));
}

struct KeyDeleter {
  void operator()(ssh_key k) const { ssh_key_free(k); }
};

// Logs in with the agent, then each identity file; a list of what each attempt got otherwise.
void authenticate(ssh_session s, const SshEndpoint& ep) {
  int rc = ssh_userauth_none(s, nullptr);
  if (rc == SSH_AUTH_SUCCESS) return;
  if (rc == SSH_AUTH_ERROR) throw SshError("login to " + ep.host_and_port() + " failed: " + ssh_get_error(s));
  const int methods = ssh_userauth_list(s, nullptr);
  if (!(methods & SSH_AUTH_METHOD_PUBLICKEY))
    throw SshError(ep.host_and_port() + " does not offer public-key login to " + ep.user +
                   "; drctl logs in with keys only, never with passwords");
  std::vector<std::string> tried;
  auto outcome = [&](const std::string& what, int result) {
    if (result == SSH_AUTH_SUCCESS) return true;
    if (result == SSH_AUTH_ERROR)
      throw SshError("login to " + ep.host_and_port() + " with " + what + " failed: " + ssh_get_error(s));
    tried.push_back(what + (result == SSH_AUTH_PARTIAL ? ": accepted, but the server wants another method too"
                                                       : ": refused"));
    return false;
  };
  if (!ep.agent_socket.empty()) {
    // $SSH_AUTH_SOCK, or the config's IdentityAgent.
    set_option(s, SSH_OPTIONS_IDENTITY_AGENT, ep.agent_socket.c_str(), "IdentityAgent");
    if (outcome("the ssh-agent", ssh_userauth_agent(s, nullptr))) return;
  }
  for (const auto& file : ep.identity_files) {
    std::error_code ec;
    if (!std::filesystem::exists(file, ec)) {
      tried.push_back(file + ": no such file");
      continue;
    }
    if (::access(file.c_str(), R_OK) != 0) {
      tried.push_back(file + ": cannot be read: " + std::strerror(errno));
      continue;
    }
    ssh_key raw = nullptr;
    if (ssh_pki_import_privkey_file(file.c_str(), nullptr, nullptr, nullptr, &raw) != SSH_OK || !raw) {
      tried.push_back(file + ": not a private key drctl can use without a passphrase (drctl asks for none: load an "
                             "encrypted key into ssh-agent with `ssh-add " + shell_quote(file) + "`)");
      continue;
    }
    std::unique_ptr<ssh_key_struct, KeyDeleter> key(raw);
    if (outcome(file, ssh_userauth_publickey(s, nullptr, key.get()))) return;
  }
  std::string detail;
  for (const auto& t : tried) detail += (detail.empty() ? "" : "; ") + t;
  if (tried.empty()) detail = "no key to try: no ssh-agent, and none of ~/.ssh/id_ed25519, id_ecdsa, id_rsa exists";
  throw SshError("public-key login as " + ep.user + " to " + ep.host_and_port() + " failed (" + detail + ")");
}

}  // namespace

void SshSessionDeleter::operator()(ssh_session s) const {
  if (ssh_is_connected(s)) ssh_disconnect(s);
  ssh_free(s);
}

SshSessionPtr open_transport(const SshEndpoint& ep, std::chrono::milliseconds timeout) {
  SshSessionPtr s(ssh_new());
  if (!s) throw SshError("cannot create an SSH session (out of memory)");
  const bool no = false;
  const int yes = 1;
  const long seconds = std::max<long>(1, static_cast<long>((timeout.count() + 999) / 1000));
  const unsigned port = static_cast<unsigned>(ep.port);
  set_option(s.get(), SSH_OPTIONS_PROCESS_CONFIG, &no, "ProcessConfig");
  set_option(s.get(), SSH_OPTIONS_HOST, ep.hostname.c_str(), "HostName");
  set_option(s.get(), SSH_OPTIONS_PORT, &port, "Port");
  set_option(s.get(), SSH_OPTIONS_USER, ep.user.c_str(), "User");
  set_option(s.get(), SSH_OPTIONS_KNOWNHOSTS, ep.known_hosts.c_str(), "UserKnownHostsFile");
  set_option(s.get(), SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null", "GlobalKnownHostsFile");
  set_option(s.get(), SSH_OPTIONS_TIMEOUT, &seconds, "ConnectTimeout");
  set_option(s.get(), SSH_OPTIONS_NODELAY, &yes, "TCP_NODELAY");  // else small SFTP requests wait for delayed ACKs
  set_ciphers(s.get(), ep);
  set_hostkeys(s.get(), ep);
  if (ssh_connect(s.get()) != SSH_OK)
    throw SshError("cannot connect to " + ep.describe() + ": " + ssh_get_error(s.get()));
  return s;
}

std::unique_ptr<SshConnection> SshConnection::open(const SshEndpoint& ep, std::chrono::milliseconds timeout) {
  SshSessionPtr s = open_transport(ep, timeout);
  verify_host_key(s.get(), ep);
  authenticate(s.get(), ep);
  const long stall = kStallSeconds;
  set_option(s.get(), SSH_OPTIONS_TIMEOUT, &stall, "Timeout");
  tune_socket(s.get());
  return std::unique_ptr<SshConnection>(new SshConnection(std::move(s)));
}

SshConnection::SshConnection(SshSessionPtr session) : session_(std::move(session)) {}

SshConnection::~SshConnection() { sftp_.reset(); }  // its channel before the session

bool SshConnection::alive() const {
  return !dead_ && ssh_is_connected(session_.get()) != 0 &&
         (ssh_get_status(session_.get()) & (SSH_CLOSED | SSH_CLOSED_ERROR)) == 0;
}

bool SshConnection::keepalive() {
  if (!alive()) return false;
  // Non-blocking: the answer is taken in by the next read, and a lost connection shows as an
  // error there (or here, when the peer already closed it).
  ssh_set_blocking(session_.get(), 0);
  ssh_send_keepalive(session_.get());
  ssh_set_blocking(session_.get(), 1);
  return alive();
}

std::string SshConnection::last_error() const {
  const char* e = ssh_get_error(session_.get());
  return e && *e ? e : "the connection was closed";
}

SftpClient& SshConnection::sftp(const std::string& where) {
  if (!sftp_) sftp_ = std::make_unique<SftpClient>(session_.get(), where);
  return *sftp_;
}

void SshConnection::drop_sftp() { sftp_.reset(); }

}  // namespace drctl::world::real
