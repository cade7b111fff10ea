#include "store/key_source.hpp"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>

#include "base/error.hpp"
#include "store/files.hpp"

namespace drctl::store {

namespace {

constexpr std::size_t kMinKeyFile = 32;
constexpr std::size_t kMaxSecretFile = 1 << 20;

struct Flags {
  std::string password_file, key_file;
};

std::mutex flags_mutex;
Flags flags;

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

/// Reads one line from the terminal with echo off; the line break is not kept. Echo goes off
/// before the prompt shows, and what was typed ahead is kept (no TCSAFLUSH).
std::string read_hidden(const std::string& prompt) {
  termios old{};
  const bool tty = ::tcgetattr(STDIN_FILENO, &old) == 0;
  if (tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::fprintf(stderr, "%s", prompt.c_str());
  std::fflush(stderr);
  std::string line;
  std::getline(std::cin, line);
  if (tty) ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::fprintf(stderr, "\n");
  return line;
}

}  // namespace

void set_credential_files(const std::string& password_file, const std::string& key_file) {
  if (!password_file.empty() && !key_file.empty())
    throw InputError("give either --password-file or --key-file, not both");
  std::lock_guard lock(flags_mutex);
  flags = {password_file, key_file};
}

Credential read_credential(Credential::Kind kind, const std::string& file, const std::string& origin) {
  Bytes data;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) throw InputError(origin + ": " + file + " is not a readable file");
  if (fs::file_size(file, ec) > kMaxSecretFile)
    throw InputError(origin + ": " + file + " is larger than a passphrase or key file can be (1 MiB)");
  try {
    data = read_file(file);
  } catch (const Failure& e) {
    throw InputError(origin + ": " + e.what());
  }
  Credential c{kind, std::string(data.begin(), data.end()), origin};
  std::fill(data.begin(), data.end(), 0);
  if (kind == Credential::Kind::Passphrase) {
    if (c.secret.ends_with("\r\n")) c.secret.resize(c.secret.size() - 2);
    else if (c.secret.ends_with("\n")) c.secret.pop_back();
    if (c.secret.empty()) throw InputError(origin + ": " + file + " holds an empty passphrase");
  } else if (c.secret.size() < kMinKeyFile) {
    throw InputError(origin + ": " + file + " holds " + std::to_string(c.secret.size()) +
                     " bytes; a key file needs at least 32 random bytes (make one with `head -c 32 /dev/urandom > FILE`)");
  }
  return c;
}

std::optional<Credential> prompt_passphrase(const std::string& prompt, bool confirm) {
  if (!::isatty(STDIN_FILENO)) return std::nullopt;
  Credential c{Credential::Kind::Passphrase, read_hidden(prompt), "the passphrase typed"};
  if (c.secret.empty()) throw InputError("the passphrase is empty");
  if (confirm && read_hidden("Again, to confirm: ") != c.secret) throw InputError("the two passphrases differ");
  return c;
}

std::optional<Credential> find_credential(const fs::path& repo, bool confirm, bool prompt) {
  Flags given;
  {
    std::lock_guard lock(flags_mutex);
    given = flags;
  }
  if (!given.password_file.empty())
    return read_credential(Credential::Kind::Passphrase, given.password_file, "--password-file");
  if (!given.key_file.empty()) return read_credential(Credential::Kind::KeyFile, given.key_file, "--key-file");
  const std::string key_file = env("DRCTL_KEY_FILE"), password_file = env("DRCTL_PASSWORD_FILE");
  if (!key_file.empty() && !password_file.empty())
    throw InputError("both DRCTL_KEY_FILE and DRCTL_PASSWORD_FILE are set; set only one");
  if (!key_file.empty()) return read_credential(Credential::Kind::KeyFile, key_file, "DRCTL_KEY_FILE");
  if (!password_file.empty()) return read_credential(Credential::Kind::Passphrase, password_file, "DRCTL_PASSWORD_FILE");
  if (!prompt) return std::nullopt;
  return prompt_passphrase("Passphrase for repository " + repo.string() + ": ", confirm);
}

}  // namespace drctl::store
