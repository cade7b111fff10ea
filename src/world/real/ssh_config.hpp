// Where and how drctl reaches a host over SSH: the site's explicit settings, then an OpenSSH
// client config file (read as `ssh -F FILE` would), then ssh(1)'s defaults.
#pragma once
#include "base/shell.hpp"
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace drctl::world::real {

/// A bad or unsafe SSH setting: the message names the file and line when there is one.
struct SshConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// What a site says about one host reached over SSH; an empty string or 0 means "not given".
struct SshHostSpec {
  std::string name;           // the site's name for the host (in messages)
  std::string address;        // what you would type after `ssh`; empty: `name`
  int port = 0;               // 0: the config's Port, else 22
  std::string user;           // empty: the config's User, else the local user
  std::string identity_file;  // empty: the config's IdentityFile lines, else ~/.ssh/id_{ed25519,ecdsa,rsa}
  std::string known_hosts;    // empty: the config's UserKnownHostsFile, else ~/.ssh/known_hosts
  std::string ssh_config;     // empty: ~/.ssh/config when it exists
  bool sudo = false;          // commands and files as root through `sudo -n` (the site's `become: sudo`)
};

/// The local side that the defaults and the %-tokens depend on.
struct SshLocalEnv {
  std::string home;      // the user's home directory (for ~ and %d)
  std::string user;      // the local user name (%u, and the default remote user)
  std::string hostname;  // this machine's host name (%l)
  std::string agent_socket;  // $SSH_AUTH_SOCK, empty when unset
  /// The environment of this process: passwd entry of the real uid, gethostname, $SSH_AUTH_SOCK.
  static SshLocalEnv current();
};

/// Everything needed to open the connection, after the site, the config and the defaults.
struct SshEndpoint {
  std::string name;       // the site's name for the host
  std::string alias;      // what the config's Host patterns were matched against
  std::string hostname;   // where to connect (the config's HostName, else the alias)
  int port = 22;
  std::string user;
  std::vector<std::string> identity_files;  // tried in order
  std::string known_hosts;                  // the one file host keys are checked against
  std::string agent_socket;                 // empty: no agent
  std::chrono::seconds connect_timeout{15};
  std::chrono::seconds keepalive_interval{15};  // an SSH keepalive after this much silence
  std::string config_file;  // the config file read, "" when none
  bool sudo = false;        // commands and files as root through `sudo -n`

  // What the site gave explicitly, so that messages can repeat it (drctl hosts trust …).
  bool explicit_port = false;
  bool explicit_known_hosts = false;
  bool explicit_config = false;

  /// "user@hostname:port", for messages.
  std::string describe() const;
  /// "hostname" or "hostname port N", as a host's key is known by.
  std::string host_and_port() const;
};

/// The options a config file gives one host: first value wins, like ssh(1).
struct SshConfigValues {
  /// A value with the file:line it came from.
  struct Value {
    std::string text;
    std::string where;  // "FILE:LINE"
  };
  std::optional<Value> hostname, port, user, known_hosts, strict_host_key_checking, identities_only, identity_agent,
      connect_timeout, server_alive_interval, proxy;
  std::vector<Value> identity_files;  // every IdentityFile line that applies, in order
};

/// An OpenSSH client config file: Host blocks with patterns (*, ?, !negation), Include, and the
/// keywords drctl uses (HostName, Port, User, IdentityFile, IdentitiesOnly, IdentityAgent,
/// UserKnownHostsFile, StrictHostKeyChecking, ConnectTimeout, ServerAliveInterval; ProxyJump and
/// ProxyCommand are refused). `Match all` applies; other Match blocks are skipped.
class SshConfig {
 public:
  /// Reads and parses `path`; throws SshConfigError when it cannot be read or a line is bad.
  static SshConfig load(const std::string& path, const SshLocalEnv& env);
  /// Parses `text` as if read from `file` (Include paths are still read from disk).
  static SshConfig parse(const std::string& text, const std::string& file, const SshLocalEnv& env);

  /// The options for `alias` (what you would type after `ssh`).
  SshConfigValues lookup(const std::string& alias) const;

 private:
  struct Line {
    std::string keyword;  // lower case
    std::vector<std::string> args;
    std::string where;
  };
  struct Block {
    // Every one of these Host pattern lists must match (more than one inside an Include);
    // none: applies to every host (lines before the first Host, Match all).
    std::vector<std::vector<std::string>> patterns;
    bool never = false;  // a Match block drctl does not evaluate, or inside one
    std::vector<Line> lines;
  };
  void read(const std::string& text, const std::string& file, const SshLocalEnv& env, int depth, const Block& context);
  std::vector<Block> blocks_;
};

/// True when `text` matches an ssh pattern: `*` any run, `?` one character; case-insensitive.
bool ssh_pattern_match(const std::string& text, const std::string& pattern);

/// Expands a leading ~ or ~user and the tokens %d %h %p %r %u %n %l %i %% in a path the config
/// gives; throws SshConfigError naming `where` for an unknown token.
std::string ssh_expand_path(const std::string& path, const SshEndpoint& ep, const SshLocalEnv& env,
                            const std::string& where);

/// The effective endpoint for a site host. Throws SshConfigError for a bad config, an unsafe one
/// (StrictHostKeyChecking no/off/accept-new: drctl never connects to an unverified host) or one
/// asking for something drctl cannot do (ProxyJump, ProxyCommand).
SshEndpoint resolve_ssh_endpoint(const SshHostSpec& spec, const SshLocalEnv& env = SshLocalEnv::current());

}  // namespace drctl::world::real
