// Where and how drctl reaches a host over SSH: the site's explicit settings, then an OpenSSH
// client config file (read as `ssh -F FILE` would), then ssh(1)'s defaults.
#pragma once
#include "base/shell.hpp"
#include "world/real/ssh_pattern.hpp"
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
  std::string known_hosts;                  // the file host keys are checked against first, and trusted into
  // Read too, as ssh(1) reads them: UserKnownHostsFile's further files (by default
  // ~/.ssh/known_hosts2), then GlobalKnownHostsFile's (by default /etc/ssh/ssh_known_hosts and
  // ssh_known_hosts2). None when the site names its known_hosts_file: that file alone.
  std::vector<std::string> more_known_hosts;
  std::string agent_socket;                 // empty: no agent
  std::chrono::seconds connect_timeout{15};
  std::chrono::seconds keepalive_interval{15};  // an SSH keepalive after this much silence
  std::string config_file;  // the config file read, "" when none
  bool sudo = false;        // commands and files as root through `sudo -n`
  // The ciphers offered, in order: the config's Ciphers line as ssh(1) resolves it, else
  // drctl_default_ciphers (ssh_ciphers.hpp). ciphers_where: that line's FILE:LINE, "" for none.
  std::vector<std::string> ciphers;
  std::string ciphers_where;

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
    std::string where;              // "FILE:LINE"
    std::vector<std::string> more;  // the line's further arguments (a known-hosts line lists several files)
  };
  // hostname: HostName with %h expanded and, unless it is an IPv6 address, in lower case (as
  // ssh(1) connects to it and prints it).
  std::optional<Value> hostname, port, user, known_hosts, global_known_hosts, strict_host_key_checking, identities_only,
      identity_agent, connect_timeout, server_alive_interval, proxy, ciphers;
  std::vector<Value> identity_files;  // every IdentityFile line that applies, in order, each once
};

/// An OpenSSH client config file read as ssh(1) reads it: Host blocks with patterns (*, ?,
/// !negation; case-sensitive), Match blocks (host, originalhost, user, localuser, all,
/// canonical, final, `!` negation, criteria ANDed; with `final` in any Match line the file is
/// read a second time for the host named by HostName, as ssh(1) does), Include, and the
/// keywords drctl uses (HostName, Port, User, IdentityFile, IdentitiesOnly, IdentityAgent,
/// UserKnownHostsFile, GlobalKnownHostsFile, StrictHostKeyChecking, ConnectTimeout, ServerAliveInterval, Ciphers). ProxyJump,
/// ProxyCommand and `Match exec` are refused where they would apply: drctl connects directly
/// and never runs a command from a config to decide.
class SshConfig {
 public:
  /// Reads and parses `path`; throws SshConfigError when it cannot be read or a line is bad.
  static SshConfig load(const std::string& path, const SshLocalEnv& env);
  /// Parses `text` as if read from `file` (Include paths are still read from disk).
  static SshConfig parse(const std::string& text, const std::string& file, const SshLocalEnv& env);

  /// The options for `alias` (what you would type after `ssh`) when logging in as `user` (as
  /// `ssh -l`; "" when not given: the config's User, else the local user, is what `Match user`
  /// sees). Throws SshConfigError for a `Match exec` that ssh(1) would run, or a bad HostName.
  SshConfigValues lookup(const std::string& alias, const std::string& user = "") const;

 private:
  struct Line {
    std::string keyword;  // lower case
    std::vector<std::string> args;
    std::string where;
  };
  /// One criterion of a Match line.
  struct Criterion {
    std::string attribute;  // lower case: all, canonical, final, host, originalhost, user, localuser, exec
    std::string argument;   // the pattern list (the command for exec); "" for all, canonical, final
    bool negated = false;
  };
  enum class Kind { top, host, match, same };
  struct Block {
    Kind kind = Kind::top;
    std::vector<std::string> patterns;  // host: the Host line's patterns
    std::vector<Criterion> criteria;    // match: the Match line's criteria
    std::string where;                  // of the Host or Match line
    // The block in force at the Include that read this block's file (-1: the top file): an
    // included file's blocks apply only when that one did, as in ssh(1).
    int parent = -1;
    int same_as = -1;  // same: goes on with block same_as (after an Include; an included file's start)
    std::vector<Line> lines;
  };
  struct Pass;
  void read(const std::string& text, const std::string& file, int depth, int parent);
  void apply(Pass& pass) const;
  bool criteria_hold(const Block& block, const Pass& pass) const;

  std::vector<Block> blocks_;
  SshLocalEnv env_;
  bool final_pass_ = false;  // a Match line says `final`: ssh(1) reads the file a second time
};

/// Expands a leading ~ or ~user and the tokens %d %h %p %r %u %n %l %i %% in a path the config
/// gives; throws SshConfigError naming `where` for an unknown token.
std::string ssh_expand_path(const std::string& path, const SshEndpoint& ep, const SshLocalEnv& env,
                            const std::string& where);

/// The effective endpoint for a site host. Throws SshConfigError for a bad config, an unsafe one
/// (StrictHostKeyChecking no/off/accept-new: drctl never connects to an unverified host) or one
/// asking for something drctl cannot do (ProxyJump, ProxyCommand).
SshEndpoint resolve_ssh_endpoint(const SshHostSpec& spec, const SshLocalEnv& env = SshLocalEnv::current());

}  // namespace drctl::world::real
