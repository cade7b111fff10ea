// Where this process finds the passphrase or key file of an encrypted repository.
//
// About twenty places (runbook actions, CLI commands, the scheduler) open repositories; none of
// them passes a key. A Repository asks here instead: the CLI's --password-file / --key-file
// when given, else $DRCTL_KEY_FILE / $DRCTL_PASSWORD_FILE, else a prompt when stdin is a
// terminal. So `drctl run backup.yaml` works on an encrypted repository with the environment set.
#pragma once
#include <filesystem>
#include <optional>
#include <string>

#include "store/crypto.hpp"

namespace drctl::store {

/// Sets the process-wide credential files (the CLI's flags); an empty string is "not given".
/// InputError when both are given.
void set_credential_files(const std::string& password_file, const std::string& key_file);

/// The credential for `repo`: the flags, else the environment, else (stdin a terminal) a prompt;
/// `confirm` asks a prompted passphrase twice (a new one); `prompt` false never asks. nullopt
/// when nothing is given. InputError naming the flag or variable when a named file cannot be used.
std::optional<Credential> find_credential(const std::filesystem::path& repo, bool confirm = false, bool prompt = true);

/// Reads a passphrase file (one trailing line break dropped) or a key file (at least 32
/// bytes, taken as they are). InputError naming `origin` when it cannot be used.
Credential read_credential(Credential::Kind kind, const std::string& file, const std::string& origin);

/// Asks for a passphrase on the terminal with echo off (twice with `confirm`); nullopt when
/// stdin is not a terminal. InputError when it is empty or the two differ.
std::optional<Credential> prompt_passphrase(const std::string& prompt, bool confirm);

}  // namespace drctl::store
