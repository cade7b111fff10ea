// One SSH connection made with libssh: TCP, key exchange, the strict host-key check, public-key
// login, keepalives, and the SFTP channel opened on it. Used by one thread at a time.
#pragma once
#include <libssh/libssh.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "world/real/ssh_config.hpp"
#include "world/world.hpp"

namespace drctl::world::real {

class SftpClient;

/// The connection to a host could not be made or was lost; the message says why.
struct SshError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Frees a libssh session (disconnecting it first).
struct SshSessionDeleter {
  void operator()(ssh_session s) const;
};
using SshSessionPtr = std::unique_ptr<ssh_session_struct, SshSessionDeleter>;

/// Opens TCP and runs the key exchange with `ep` within `timeout`: no host-key check and no
/// login yet. libssh reads no config file of its own, and looks host keys up in ep.known_hosts
/// only (the global file is /dev/null). Throws SshError.
SshSessionPtr open_transport(const SshEndpoint& ep, std::chrono::milliseconds timeout);

/// A verified, logged-in connection.
class SshConnection {
 public:
  /// Connects, refuses a host key that ep.known_hosts does not hold or marks @revoked, read as
  /// ssh(1) reads it (HostKeyError, see known_hosts.hpp), and logs in with the agent (when ep has
  /// one) or the identity files; never with a password. Throws SshError with the reason
  /// (libssh's text, and for a failed login what each key got).
  static std::unique_ptr<SshConnection> open(const SshEndpoint& ep, std::chrono::milliseconds timeout);
  ~SshConnection();
  SshConnection(const SshConnection&) = delete;
  SshConnection& operator=(const SshConnection&) = delete;

  ssh_session session() const { return session_.get(); }
  /// False once the transport failed or the peer closed it.
  bool alive() const;
  /// Remembers that the transport failed (the next user opens a new connection).
  void mark_dead() { dead_ = true; }
  /// Sends an SSH keepalive without waiting for the answer and processes what arrived;
  /// false when the connection is gone.
  bool keepalive();
  /// libssh's text for the last error on this session.
  std::string last_error() const;
  /// The SFTP channel of this connection, opened on first use. Throws SshError.
  SftpClient& sftp(const std::string& where);
  /// Closes the SFTP channel (after an SFTP error left it in an unknown state).
  void drop_sftp();

  /// When the connection last did something (for the idle keepalive).
  Clock_::time_point last_used = Clock_::now();

 private:
  explicit SshConnection(SshSessionPtr session);
  SshSessionPtr session_;
  std::unique_ptr<SftpClient> sftp_;
  bool dead_ = false;
};

}  // namespace drctl::world::real
