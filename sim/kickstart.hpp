// The installer's answer files as the simulator reads them: a kickstart (Ubuntu's kickseed /
// anaconda) or Ubuntu autoinstall user-data, reduced to what the installed host will be —
// hostname, users and their keys, packages, whether it reboots, whether the disk is answered.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace drctl::sim {

/// An account the installer creates.
struct InstallUser {
  std::string name;
  std::string password_hash;               // "" when none/locked; the password itself when plaintext_password
  bool plaintext_password = false;         // kickstart `user --password` without --iscrypted
  std::vector<std::string> authorized_keys;
};

/// What an installer run produces.
struct InstallPlan {
  std::string installer;                  // "kickstart" or "autoinstall"
  std::string hostname;                   // may be empty (then the caller uses DHCP's/APPEND's)
  std::vector<InstallUser> users;         // keys given for root appear as a user "root"
  bool root_locked = true;
  std::vector<std::string> packages;      // as listed, groups with their "@" stripped
  bool ssh_server = false;                // openssh-server is installed
  bool ssh_allow_pw = true;               // sshd accepts passwords (autoinstall ssh.allow-pw)
  bool reboot = false;                    // reboots at the end instead of halting/powering off
  bool partitioned = false;               // the disk layout is answered; else the installer stops and waits
  std::string timezone;
  std::vector<std::string> warnings;      // what the installer logged and went past ("LINE: Unrecognised kickstart command: X")
};

/// A rejected answer file: the 1-based line and why. what() is "LINE: message".
struct AnswerError : std::runtime_error {
  AnswerError(int line, const std::string& message, std::string file = "");
  int line;
  std::string message;
  std::string file;  // autoinstall: "user-data" or "meta-data"; kickstart: ""
};

/// Parses a kickstart as Ubuntu's debian-installer reads it with kickseed (kickseed.sh, 0.58ubuntu1:
/// the kickseed of the d-i Ubuntu 20.04 netboots): a command kickseed has no handler for is logged
/// ("Unrecognised kickstart command: X", in `warnings`) and skipped — anaconda's `sshkey`,
/// `autopart`, `shutdown` among them; %packages, %pre and %post sections (closed by %end or the
/// next section; a `-package` exclusion is logged and ignored); another %word is read as a command
/// (and so skipped). Keys come from %post lines writing a user's .ssh/authorized_keys
/// (here-document or echo; `>` replaces, `>>` appends) — in the installed system, or under /target
/// from a `%post --nochroot`. Keys for a user the kickstart does not create (other than root) are
/// an error.
InstallPlan parse_kickstart(const std::string& text);

/// Parses Ubuntu autoinstall user-data ("#cloud-config" with `autoinstall:` and `version: 1`):
/// identity, ssh, packages, storage, shutdown, timezone. meta-data must be YAML (may be empty).
/// Errors name the key path, the line and the file.
InstallPlan parse_autoinstall(const std::string& user_data, const std::string& meta_data);

}  // namespace drctl::sim
