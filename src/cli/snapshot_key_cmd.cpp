// `drctl snapshot init` and `snapshot key list|add|remove|passwd`: making a repository and its keys.
#include <cstdio>
#include <optional>
#include <vector>

#include "base/error.hpp"
#include "cli/commands.hpp"
#include "cli/format.hpp"
#include "cli/snapshot_common.hpp"
#include "store/key_source.hpp"

namespace drctl::cli::snapshot_detail {

using namespace drctl::store;

namespace {

/// The new credential of `key add` / `key passwd`: --new-password-file, --new-key-file, or a prompt.
Credential new_credential(const std::string& password_file, const std::string& key_file) {
  if (!password_file.empty() && !key_file.empty())
    throw InputError("give either --new-password-file or --new-key-file, not both");
  if (!password_file.empty()) return read_credential(Credential::Kind::Passphrase, password_file, "--new-password-file");
  if (!key_file.empty()) return read_credential(Credential::Kind::KeyFile, key_file, "--new-key-file");
  std::optional<Credential> typed = prompt_passphrase("New passphrase: ", true);
  if (!typed) throw InputError("give the new key with --new-password-file FILE or --new-key-file FILE");
  return *typed;
}

/// A key named by a unique prefix of its id (at least 4 hex digits).
Id find_key(const Repository& repo, const std::string& ref) {
  if (ref.size() < 4 || ref.size() > 64 || ref.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw InputError("'" + ref + "' is not a key id (4 to 64 hex digits, as `snapshot key list` shows)");
  std::vector<Id> matches;
  for (const RepoKey& k : repo.keys())
    if (k.id.hex().starts_with(ref)) matches.push_back(k.id);
  if (matches.empty()) throw InputError("no key " + ref + " in " + repo.path().string());
  if (matches.size() > 1) throw InputError("key id prefix " + ref + " is ambiguous; give more digits");
  return matches.front();
}

}  // namespace

int cmd_init(const Common& c, const RepoConfig& config, bool encrypt) {
  if (!encrypt) {
    Repository::init(c.path(), config);
    std::printf("initialised repository %s\n", c.path().c_str());
    return kOk;
  }
  if (fs::exists(c.path() / "config")) throw InputError(c.path().string() + " is already a drctl repository");
  std::optional<Credential> cred = find_credential(c.path(), true);
  if (!cred)
    throw InputError("init --encrypt needs a passphrase or key file: --password-file FILE or --key-file FILE (or "
                     "DRCTL_PASSWORD_FILE / DRCTL_KEY_FILE, or run on a terminal to be asked)");
  Repository::init(c.path(), config, &*cred);
  std::printf("initialised encrypted repository %s (its key opens with %s; keep it safe: without it the data is lost)\n",
              c.path().c_str(), cred->origin.c_str());
  return kOk;
}

int cmd_key_list(const Common& c) {
  Repository repo(c.path());
  std::printf("%-2s%-10s%-22s%-12s%s\n", "", "ID", "CREATED (UTC)", "KIND", "HOST");
  for (const RepoKey& k : repo.keys())
    std::printf("%-2s%-10s%-22s%-12s%s\n", k.in_use ? "*" : "", k.id.short_hex().c_str(), printable(k.info.created).c_str(),
                printable(k.info.kind).c_str(), printable(k.info.host).c_str());
  return kOk;
}

int cmd_key_add(const Common& c, const std::string& password_file, const std::string& key_file) {
  Repository repo(c.path());
  if (!repo.encrypted()) throw InputError(c.path().string() + " is not encrypted: it has no keys to add to");
  const Credential cred = new_credential(password_file, key_file);
  RepoLock lock = c.lock();
  std::printf("added key %s\n", repo.add_key(cred).short_hex().c_str());
  return kOk;
}

int cmd_key_remove(const Common& c, const std::string& ref, bool force) {
  Repository repo(c.path());
  const Id id = find_key(repo, ref);
  RepoLock lock = c.lock();
  repo.remove_key(id, force);
  std::printf("removed key %s\n", id.short_hex().c_str());
  return kOk;
}

int cmd_key_passwd(const Common& c, const std::string& password_file, const std::string& key_file) {
  Repository repo(c.path());
  if (!repo.encrypted()) throw InputError(c.path().string() + " is not encrypted: it has no keys to change");
  const Credential cred = new_credential(password_file, key_file);
  RepoLock lock = c.lock();
  const Id old = [&] {
    for (const RepoKey& k : repo.keys())
      if (k.in_use) return k.id;
    throw Failure("the key this command opened the repository with is gone");
  }();
  const Id added = repo.add_key(cred);  // durable before the old one goes
  repo.remove_key(old, true);
  std::printf("changed key %s to %s\n", old.short_hex().c_str(), added.short_hex().c_str());
  return kOk;
}

}  // namespace drctl::cli::snapshot_detail
