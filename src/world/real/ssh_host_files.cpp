// SshHost's files: over SFTP on a connection of the pool, or as root through sudo as commands
// (cat into a temporary file, then fsync and rename) when the host has become: sudo.
#include <algorithm>
#include <cstdio>
#include <limits>
#include <random>

#include "base/shell.hpp"
#include "world/real/sftp_client.hpp"
#include "world/real/ssh_connection.hpp"
#include "world/real/ssh_exec.hpp"
#include "world/real/ssh_host.hpp"

namespace drctl::world::real {

namespace {

using OutFn = SshOutFn;
using InFn = SshInFn;

constexpr std::size_t kPutPiece = 1024 * 1024;  // put_file hands its content over in pieces this big

/// Why a helper command failed, for a message: its last line of stderr, else its exit status.
std::string last_line(const std::string& err, int exit_code) {
  std::string text = err;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text.empty()) return exit_code < 0 ? "killed" : "exit status " + std::to_string(exit_code);
  const auto nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

std::string parent_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string random_suffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* hex = "0123456789abcdef";
  std::string s;
  std::uint64_t v = rng();
  for (int i = 0; i < 12; ++i, v >>= 4) s += hex[v & 15];
  return s;
}

}  // namespace

template <class F>
auto SshHost::with_sftp(const std::string& what, F&& f) {
  for (int attempt = 0;; ++attempt) {
    std::optional<SshPool::Lease> lease;
    try {
      lease.emplace(pool_.acquire(Clock_::time_point::max()));
    } catch (const SshCancelled&) {
      throw std::runtime_error(where() + ": " + what + ": cancelled");
    } catch (const std::exception& e) {
      throw std::runtime_error(where() + ": " + what + ": " + e.what());
    }
    SshConnection& conn = lease->conn();
    SftpClient* sftp = nullptr;
    try {
      sftp = &conn.sftp("SFTP");
    } catch (const SshError& e) {
      const bool lost = !conn.alive();
      if (lost) conn.mark_dead();
      if (lost && lease->reused() && attempt == 0) continue;  // nothing was done yet: once more, on a new connection
      throw std::runtime_error(where() + ": " + what + ": " + e.what());
    }
    try {
      return f(conn, *sftp);
    } catch (const SftpStatusError& e) {
      conn.drop_sftp();
      throw std::runtime_error(where() + ": " + what + ": " + e.what());
    } catch (const SshError& e) {
      conn.drop_sftp();
      if (!conn.alive()) conn.mark_dead();
      throw std::runtime_error(where() + ": " + what + ": " + e.what() +
                               (conn.alive() ? "" : " (" + conn.last_error() + ")"));
    } catch (...) {
      conn.drop_sftp();  // replies may still be in flight
      throw;
    }
  }
}

namespace {

// Creates `dir` and its missing parents (0755), like mkdir -p.
void make_dirs(SftpClient& sftp, const std::string& dir) {
  if (dir.empty() || dir == "/" || dir == ".") return;
  if (auto st = sftp.stat(dir); st && st->is_dir()) return;
  std::string prefix = dir[0] == '/' ? "/" : "";
  std::size_t pos = dir[0] == '/' ? 1 : 0;
  while (pos <= dir.size()) {
    const auto slash = dir.find('/', pos);
    const std::string part = dir.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? dir.size() + 1 : slash + 1;
    if (part.empty() || part == ".") continue;
    prefix += (prefix.empty() || prefix.back() == '/' ? "" : "/") + part;
    auto st = sftp.stat(prefix);
    if (!st) {
      try {
        sftp.mkdir(prefix, 0755);
        continue;
      } catch (const SftpStatusError&) {
        st = sftp.stat(prefix);  // made by someone else meanwhile?
        if (!st) throw;
      }
    }
    if (!st->is_dir()) throw SftpStatusError(4, "cannot create the directory " + dir + ": " + prefix + " is not a directory");
  }
}

}  // namespace

void SshHost::put_file(const std::string& path, const std::string& content, unsigned mode) {
  std::size_t pos = 0;
  put_stream(path, mode, [&]() -> std::string {
    const std::size_t n = std::min(kPutPiece, content.size() - pos);
    std::string piece = content.substr(pos, n);
    pos += n;
    return piece;
  });
}

void SshHost::put_stream(const std::string& path, unsigned mode, const InFn& next_chunk) {
  const auto slash = path.rfind('/');
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  if (base.empty() || base == "." || base == "..") throw std::runtime_error(where() + ": put " + path + ": not a file path");
  const std::string dir = parent_of(path);
  if (endpoint_.sudo) {
    // As root: the content streams into a temporary file next to the target (cat on the
    // command's stdin), which is then fsynced and renamed over it; SFTP would write as the user.
    char octal[8];
    std::snprintf(octal, sizeof octal, "%04o", mode & 07777);
    Command put;
    put.script = "set -e; p=" + shell_quote(path) + "; d=" + shell_quote(dir.empty() ? "." : dir) +
                 "; b=" + shell_quote(base) + "; mkdir -p -- \"$d\"; t=$(mktemp \"$d/.$b.drctl-XXXXXX\"); "
                 "trap 'rm -f -- \"$t\"' EXIT; cat > \"$t\"; chmod " + octal + " \"$t\"; "
                 "sync -- \"$t\" 2>/dev/null || sync; mv -f -- \"$t\" \"$p\"; trap - EXIT";
    CommandResult r = execute(put, nullptr, &next_chunk, true);
    if (r.cancelled) throw std::runtime_error(where() + ": put " + path + ": cancelled");
    if (!r.ok()) throw std::runtime_error(where() + ": put " + path + " (sudo): " + last_line(r.err, r.exit_code));
    return;
  }
  const std::string temp = (dir.empty() ? "" : dir == "/" ? "/" : dir + "/") + "." + base + ".drctl-" + random_suffix();
  auto poll = [this] {
    if (cancel_.requested()) throw SshError("cancelled");
  };
  const bool renamed = with_sftp("put " + path, [&](SshConnection& conn, SftpClient& sftp) {
    make_dirs(sftp, dir);
    std::string handle = sftp.open(temp, SftpClient::kWrite | SftpClient::kCreate | SftpClient::kExclusive, 0600);
    try {
      sftp.write_all(handle, next_chunk, poll);
      sftp.fsync(handle);
      sftp.close(handle);
      sftp.chmod(temp, mode);
      if (!sftp.has_extension("posix-rename@openssh.com")) return false;
      sftp.posix_rename(temp, path);
      return true;
    } catch (...) {
      // Leave no temporary file behind, on a fresh channel (the old one may hold replies).
      if (conn.alive()) {
        conn.drop_sftp();
        try {
          conn.sftp("SFTP").remove(temp);
        } catch (...) {
        }
      }
      throw;
    }
  });
  if (renamed) return;
  // A server without posix-rename: plain SFTP rename refuses an existing target; mv renames atomically.
  Command mv;
  mv.script = "mv -f -- " + shell_quote(temp) + " " + shell_quote(path);
  mv.timeout = std::chrono::minutes(2);
  CommandResult r = run(mv);
  if (!r.ok()) {
    Command rm;
    rm.script = "rm -f -- " + shell_quote(temp);
    run(rm);
    throw std::runtime_error(where() + ": put " + path + ": rename failed: " + r.err);
  }
}

std::optional<std::string> SshHost::get_file(const std::string& path) {
  std::string content;
  if (!get_stream(path, [&](const char* d, std::size_t n) { content.append(d, n); })) return std::nullopt;
  return content;
}

bool SshHost::get_stream(const std::string& path, const OutFn& sink) {
  return get_range(path, 0, std::numeric_limits<std::uint64_t>::max(), sink);
}

bool SshHost::get_range(const std::string& path, std::uint64_t offset, std::uint64_t length, const OutFn& sink) {
  if (endpoint_.sudo) {  // tail and head take byte counts on GNU and FreeBSD alike
    Command get;
    const bool whole = offset == 0 && length == std::numeric_limits<std::uint64_t>::max();
    get.script = "p=" + shell_quote(path) + "; [ -e \"$p\" ] || exit 3; " +
                 (whole ? std::string("exec cat -- \"$p\"")
                        : "tail -c +" + std::to_string(offset + 1) + " -- \"$p\" | head -c " + std::to_string(length));
    CommandResult r = execute(get, &sink, nullptr, true);
    if (r.exit_code == 3 && r.err.empty()) return false;
    if (r.cancelled) throw std::runtime_error(where() + ": get " + path + ": cancelled");
    if (!r.ok()) throw std::runtime_error(where() + ": get " + path + " (sudo): " + last_line(r.err, r.exit_code));
    return true;
  }
  auto poll = [this] {
    if (cancel_.requested()) throw SshError("cancelled");
  };
  return with_sftp("get " + path, [&](SshConnection&, SftpClient& sftp) {
    std::string handle;
    try {
      handle = sftp.open(path, SftpClient::kRead, 0);
    } catch (const SftpStatusError& e) {
      if (e.code == SftpClient::kNoSuchFile) return false;
      throw;
    }
    sftp.read_range(handle, offset, length, sink, poll);
    sftp.close(handle);
    return true;
  });
}

std::optional<std::uint64_t> SshHost::file_size(const std::string& path) {
  return with_sftp("stat " + path, [&](SshConnection&, SftpClient& sftp) -> std::optional<std::uint64_t> {
    const auto st = sftp.stat(path);
    if (!st) return std::nullopt;
    return st->size;
  });
}

}  // namespace drctl::world::real
