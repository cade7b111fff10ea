// The keys of an encrypted repository: unlocking it with the credential this process was given
// (store/key_source.hpp), and the keys/ files that `snapshot key` lists, adds and removes.
#include <unistd.h>

#include <algorithm>
#include <map>
#include <mutex>

#include "base/error.hpp"
#include "store/key_source.hpp"
#include "store/repository.hpp"

namespace drctl::store {

namespace {

/// Master keys this process has unlocked, by repository id: a runbook opens its repository
/// many times, and a prompt or an Argon2id derivation each time would be wrong.
struct Unlocked {
  MasterKey key;
  Id key_file;
  Id credential;  // fingerprint of the credential that opened it: another one is checked anew
};

Id fingerprint(const Credential& c) {
  return sha256(std::string(1, static_cast<char>(c.kind)) + c.secret);
}
std::mutex unlocked_mutex;
std::map<std::string, Unlocked> unlocked;

std::span<const std::uint8_t> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

std::string shown_dir(const fs::path& p) {
  std::string s = p.string();
  return s.ends_with("/") ? s : s + "/";
}

}  // namespace

void Repository::unlock() {
  if (!backend_->is_dir("keys"))
    throw InputError(path_.string() + " is not a complete drctl repository (missing keys/)");
  std::optional<Credential> cred = find_credential(path_, false, false);
  {
    std::lock_guard lock(unlocked_mutex);
    if (auto it = unlocked.find(config_.id); it != unlocked.end() && (!cred || fingerprint(*cred) == it->second.credential)) {
      key_ = it->second.key;
      key_in_use_ = it->second.key_file;
      return;
    }
  }
  if (!cred) cred = find_credential(path_);
  if (!cred)
    throw InputError(shown_dir(path_) + ": the repository is encrypted; give its passphrase or key file with "
                     "--password-file FILE or --key-file FILE (or DRCTL_PASSWORD_FILE / DRCTL_KEY_FILE, or run on a "
                     "terminal to be asked)");
  for (const Id& id : list_ids("keys")) {
    std::optional<MasterKey> m;
    try {
      Bytes text = read_required("keys/" + id.hex());
      m = unwrap_master_key(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()), *cred, config_.id);
    } catch (const Failure&) {
      continue;  // a damaged key: another may open it; `key list` names it
    }
    if (!m) continue;
    key_ = *m;
    key_in_use_ = id;
    std::lock_guard lock(unlocked_mutex);
    unlocked[config_.id] = {*m, id, fingerprint(*cred)};
    return;
  }
  throw InputError(shown_dir(path_) + ": wrong passphrase or key file (no key in keys/ opens with it)");
}

void Repository::need_encryption(const char* what) const {
  if (!key_) throw InputError(path_.string() + " is not encrypted: it has no keys to " + what);
}

std::vector<RepoKey> Repository::keys() const {
  need_encryption("list");
  std::vector<RepoKey> out;
  for (const Id& id : list_ids("keys")) {
    Bytes text = read_required("keys/" + id.hex());
    RepoKey k{id, {}, id == key_in_use_};
    try {
      if (sha256(text) != id) throw Failure("its bytes do not hash to its name");
      k.info = key_info(std::string_view(reinterpret_cast<const char*>(text.data()), text.size()));
    } catch (const Failure& e) {
      k.info.kind = std::string("damaged: ") + e.what();
    }
    out.push_back(std::move(k));
  }
  return out;
}

Id Repository::add_key(const Credential& cred) {
  need_writable();
  need_encryption("add to");
  const std::string key = wrap_master_key(*key_, cred, config_.id);
  const Id id = sha256(key);
  write_file_atomic(tmp_dir(), path_ / "keys" / id.hex(), as_bytes(key));
  return id;
}

void Repository::remove_key(const Id& id, bool force) {
  need_writable();
  need_encryption("remove");
  const std::vector<Id> all = list_ids("keys");
  if (std::find(all.begin(), all.end(), id) == all.end()) throw InputError("no key " + id.short_hex() + " in " + shown_dir(path_) + "keys/");
  if (all.size() == 1) throw InputError("key " + id.short_hex() + " is the repository's only key; add another first");
  if (id == key_in_use_ && !force)
    throw InputError("key " + id.short_hex() + " is the one this command opened the repository with (use --force to remove it anyway)");
  const fs::path p = path_ / "keys" / id.hex();
  if (::unlink(p.c_str()) != 0) throw_errno("cannot remove", p, errno);
  fsync_dir(p.parent_path());
}

}  // namespace drctl::store
