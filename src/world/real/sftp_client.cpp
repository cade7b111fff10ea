#include "world/real/sftp_client.hpp"

#include <algorithm>
#include <cstdint>
#include <deque>

#include "world/real/ssh_connection.hpp"

namespace drctl::world::real {

namespace {

// Packet types and attribute flags of SFTP version 3 (draft-ietf-secsh-filexfer-02).
enum : std::uint8_t {
  FXP_INIT = 1, FXP_VERSION = 2, FXP_OPEN = 3, FXP_CLOSE = 4, FXP_READ = 5, FXP_WRITE = 6, FXP_SETSTAT = 9,
  FXP_REMOVE = 13, FXP_MKDIR = 14, FXP_STAT = 17, FXP_STATUS = 101, FXP_HANDLE = 102, FXP_DATA = 103,
  FXP_ATTRS = 105, FXP_EXTENDED = 200
};
constexpr std::uint32_t ATTR_SIZE = 0x1, ATTR_UIDGID = 0x2, ATTR_PERMISSIONS = 0x4, ATTR_ACMODTIME = 0x8,
                        ATTR_EXTENDED = 0x80000000;
constexpr std::uint32_t FX_OK = 0, FX_EOF = 1;

constexpr std::size_t kChunk = 64 * 1024;      // bytes per READ/WRITE request
constexpr std::size_t kInFlight = 32;          // requests on the wire at once (2 MiB, sshd's window)
constexpr std::size_t kMaxPacket = 256 * 1024; // OpenSSH's limit for one SFTP message
constexpr int kStallMs = 120000;               // no reply for this long: the host is gone

void put_u32(std::string& b, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<char>((v >> s) & 0xff));
}
void put_u64(std::string& b, std::uint64_t v) {
  put_u32(b, static_cast<std::uint32_t>(v >> 32));
  put_u32(b, static_cast<std::uint32_t>(v));
}
void put_str(std::string& b, const std::string& s) {
  put_u32(b, static_cast<std::uint32_t>(s.size()));
  b += s;
}
std::string mode_attrs(unsigned mode) {
  std::string a;
  put_u32(a, ATTR_PERMISSIONS);
  put_u32(a, mode & 07777);
  return a;
}

const char* status_text(std::uint32_t code) {
  switch (code) {
    case 1: return "end of file";
    case 2: return "no such file or directory";
    case 3: return "permission denied";
    case 4: return "failure";
    case 5: return "bad message";
    case 6: return "no connection";
    case 7: return "connection lost";
    case 8: return "operation not supported";
  }
  return "error";
}

}  // namespace

std::uint32_t SftpClient::Packet::u32() {
  if (pos + 4 > body.size()) throw SshError("malformed SFTP reply (too short)");
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(body[pos++]);
  return v;
}

std::uint64_t SftpClient::Packet::u64() {
  const std::uint64_t hi = u32();
  return (hi << 32) | u32();
}

std::string SftpClient::Packet::str() {
  const std::uint32_t n = u32();
  if (pos + n > body.size()) throw SshError("malformed SFTP reply (string past its end)");
  std::string s = body.substr(pos, n);
  pos += n;
  return s;
}

SftpClient::SftpClient(ssh_session session, std::string where) : where_(std::move(where)) {
  channel_ = ssh_channel_new(session);
  if (!channel_) throw SshError(where_ + ": cannot create a channel: " + ssh_get_error(session));
  if (ssh_channel_open_session(channel_) != SSH_OK || ssh_channel_request_subsystem(channel_, "sftp") != SSH_OK) {
    const std::string e = ssh_get_error(session);
    ssh_channel_free(channel_);
    channel_ = nullptr;
    throw SshError(where_ + ": cannot start SFTP: " + e);
  }
  try {
    std::string packet;
    put_u32(packet, 5);
    packet.push_back(static_cast<char>(FXP_INIT));
    put_u32(packet, 3);  // the version drctl speaks
    if (ssh_channel_write(channel_, packet.data(), static_cast<std::uint32_t>(packet.size())) !=
        static_cast<int>(packet.size()))
      throw SshError(where_ + ": cannot start SFTP: " + ssh_get_error(session));
    Packet version = receive();
    if (version.type != FXP_VERSION)
      throw SshError(where_ + ": the SFTP server answered INIT with message " + std::to_string(version.type));
    version.u32();
    extensions_ = "\n";
    while (version.pos < version.body.size()) {
      extensions_ += version.str() + "\n";
      version.str();
    }
  } catch (...) {
    ssh_channel_free(channel_);
    channel_ = nullptr;
    throw;
  }
}

SftpClient::~SftpClient() {
  if (!channel_) return;
  if (ssh_channel_is_open(channel_)) {
    ssh_channel_send_eof(channel_);
    ssh_channel_close(channel_);
  }
  ssh_channel_free(channel_);
}

bool SftpClient::has_extension(const std::string& name) const {
  return extensions_.find("\n" + name + "\n") != std::string::npos;
}

std::uint32_t SftpClient::send(std::uint8_t type, const std::string& payload) {
  const std::uint32_t id = next_id_++;
  std::string packet;
  packet.reserve(payload.size() + 9);
  put_u32(packet, static_cast<std::uint32_t>(payload.size() + 5));
  packet.push_back(static_cast<char>(type));
  put_u32(packet, id);
  packet += payload;
  std::size_t done = 0;
  while (done < packet.size()) {
    const std::size_t n = std::min<std::size_t>(packet.size() - done, 1u << 20);
    const int w = ssh_channel_write(channel_, packet.data() + done, static_cast<std::uint32_t>(n));
    if (w == SSH_ERROR || w == 0)
      throw SshError(where_ + ": SFTP request failed: " + ssh_get_error(ssh_channel_get_session(channel_)));
    done += static_cast<std::size_t>(w);
  }
  return id;
}

void SftpClient::read_exact(char* out, std::size_t n) {
  while (n > 0) {
    const int r = ssh_channel_read_timeout(channel_, out, static_cast<std::uint32_t>(n), 0, kStallMs);
    if (r == SSH_ERROR)
      throw SshError(where_ + ": SFTP connection failed: " + ssh_get_error(ssh_channel_get_session(channel_)));
    if (r == 0) {
      if (ssh_channel_is_eof(channel_) || !ssh_channel_is_open(channel_))
        throw SshError(where_ + ": the SFTP server closed the channel");
      throw SshError(where_ + ": no answer from the SFTP server for " + std::to_string(kStallMs / 1000) + " s");
    }
    out += r;
    n -= static_cast<std::size_t>(r);
  }
}

SftpClient::Packet SftpClient::receive() {
  char len_bytes[4];
  read_exact(len_bytes, 4);
  std::uint32_t len = 0;
  for (char c : len_bytes) len = (len << 8) | static_cast<unsigned char>(c);
  if (len < 1 || len > kMaxPacket + 1024) throw SshError(where_ + ": malformed SFTP reply (length " + std::to_string(len) + ")");
  Packet p;
  p.body.resize(len);
  read_exact(p.body.data(), len);
  p.type = static_cast<std::uint8_t>(p.body[0]);
  p.pos = 1;
  return p;
}

SftpClient::Packet SftpClient::reply(std::uint32_t id) {
  Packet p = receive();
  const std::uint32_t got = p.u32();
  if (got != id)
    throw SshError(where_ + ": SFTP reply " + std::to_string(got) + " arrived where " + std::to_string(id) +
                   " was expected (drctl needs a server that answers in order)");
  return p;
}

void SftpClient::fail_status(Packet& p, const std::string& what) {
  if (p.type != FXP_STATUS) throw SshError(where_ + ": " + what + ": unexpected SFTP reply " + std::to_string(p.type));
  const std::uint32_t code = p.u32();
  std::string message;
  if (p.pos < p.body.size()) message = p.str();
  if (message.empty()) message = status_text(code);
  throw SftpStatusError(code, what + ": " + message);
}

void SftpClient::expect_ok(std::uint32_t id, const std::string& what) {
  Packet p = reply(id);
  if (p.type == FXP_STATUS) {
    const std::size_t at = p.pos;
    if (p.u32() == FX_OK) return;
    p.pos = at;
  }
  fail_status(p, what);
}

std::optional<SftpClient::Attrs> SftpClient::stat(const std::string& path) {
  std::string payload;
  put_str(payload, path);
  Packet p = reply(send(FXP_STAT, payload));
  if (p.type == FXP_STATUS) {
    const std::size_t at = p.pos;
    if (p.u32() == kNoSuchFile) return std::nullopt;
    p.pos = at;
  }
  if (p.type != FXP_ATTRS) fail_status(p, "stat " + path);
  Attrs a;
  const std::uint32_t flags = p.u32();
  if (flags & ATTR_SIZE) a.size = p.u64();
  if (flags & ATTR_UIDGID) p.u64();
  if (flags & ATTR_PERMISSIONS) a.permissions = p.u32();
  if (flags & ATTR_ACMODTIME) p.u64();
  (void)ATTR_EXTENDED;  // extended attributes, if any, follow and are not needed
  return a;
}

void SftpClient::mkdir(const std::string& path, unsigned mode) {
  std::string payload;
  put_str(payload, path);
  payload += mode_attrs(mode);
  expect_ok(send(FXP_MKDIR, payload), "mkdir " + path);
}

std::string SftpClient::open(const std::string& path, std::uint32_t flags, unsigned mode) {
  std::string payload;
  put_str(payload, path);
  put_u32(payload, flags);
  payload += mode_attrs(mode);
  Packet p = reply(send(FXP_OPEN, payload));
  if (p.type != FXP_HANDLE) fail_status(p, "open " + path);
  return p.str();
}

void SftpClient::close(const std::string& handle) {
  std::string payload;
  put_str(payload, handle);
  expect_ok(send(FXP_CLOSE, payload), "close");
}

std::uint64_t SftpClient::write_all(const std::string& handle, const std::function<std::string()>& next_chunk,
                                    const std::function<void()>& poll) {
  std::deque<std::uint32_t> in_flight;
  std::uint64_t offset = 0;
  std::string pending;  // bytes from next_chunk not sent yet
  std::size_t pending_pos = 0;
  bool input_done = false;
  // The next block of at most kChunk bytes; empty at the end of the input.
  auto next_block = [&](std::string& block) {
    block.clear();
    while (block.size() < kChunk) {
      if (pending_pos == pending.size()) {
        if (input_done) break;
        if (poll) poll();
        pending = next_chunk();
        pending_pos = 0;
        if (pending.empty()) {
          input_done = true;
          break;
        }
      }
      const std::size_t n = std::min(kChunk - block.size(), pending.size() - pending_pos);
      block.append(pending, pending_pos, n);
      pending_pos += n;
    }
  };
  std::string block, payload;
  for (;;) {
    while (in_flight.size() < kInFlight) {
      next_block(block);
      if (block.empty()) break;
      payload.clear();
      put_str(payload, handle);
      put_u64(payload, offset);
      put_str(payload, block);
      in_flight.push_back(send(FXP_WRITE, payload));
      offset += block.size();
    }
    if (in_flight.empty()) return offset;
    expect_ok(in_flight.front(), "write");
    in_flight.pop_front();
  }
}

std::uint64_t SftpClient::read_all(const std::string& handle,
                                   const std::function<void(const char*, std::size_t)>& sink,
                                   const std::function<void()>& poll) {
  return read_range(handle, 0, UINT64_MAX, sink, poll);
}

std::uint64_t SftpClient::read_range(const std::string& handle, std::uint64_t offset, std::uint64_t length,
                                     const std::function<void(const char*, std::size_t)>& sink,
                                     const std::function<void()>& poll) {
  struct Request {
    std::uint32_t id;
    std::uint64_t offset;
    std::uint32_t length;
  };
  const std::uint64_t end = length > UINT64_MAX - offset ? UINT64_MAX : offset + length;
  std::deque<Request> in_flight;
  std::uint64_t next = offset, delivered = offset;
  bool eof = false, resync = false;
  std::string payload;
  for (;;) {
    while (!eof && !resync && next < end && in_flight.size() < kInFlight) {
      const auto n = static_cast<std::uint32_t>(std::min<std::uint64_t>(kChunk, end - next));
      payload.clear();
      put_str(payload, handle);
      put_u64(payload, next);
      put_u32(payload, n);
      in_flight.push_back({send(FXP_READ, payload), next, n});
      next += n;
    }
    if (in_flight.empty()) {
      if (!resync) return delivered - offset;
      resync = false;  // every reply after the short read is in: ask again from where it ended
      next = delivered;
      continue;
    }
    const Request r = in_flight.front();
    in_flight.pop_front();
    Packet p = reply(r.id);
    if (resync || eof) continue;  // replies for offsets past a short read or the end: dropped
    if (p.type == FXP_DATA) {
      const std::string data = p.str();
      if (r.offset != delivered || data.size() > r.length) throw SshError(where_ + ": SFTP read replies out of order");
      if (poll) poll();
      if (!data.empty()) sink(data.data(), data.size());
      delivered += data.size();
      if (data.size() < r.length) resync = true;  // a short read: later requests start at the wrong offsets
      continue;
    }
    if (p.type == FXP_STATUS) {
      const std::size_t at = p.pos;
      if (p.u32() == FX_EOF) {
        eof = true;
        continue;
      }
      p.pos = at;
    }
    fail_status(p, "read");
  }
}

void SftpClient::chmod(const std::string& path, unsigned mode) {
  std::string payload;
  put_str(payload, path);
  payload += mode_attrs(mode);
  expect_ok(send(FXP_SETSTAT, payload), "chmod " + path);
}

void SftpClient::fsync(const std::string& handle) {
  if (!has_extension("fsync@openssh.com")) return;
  std::string payload;
  put_str(payload, "fsync@openssh.com");
  put_str(payload, handle);
  expect_ok(send(FXP_EXTENDED, payload), "fsync");
}

void SftpClient::posix_rename(const std::string& from, const std::string& to) {
  if (!has_extension("posix-rename@openssh.com"))
    throw SftpStatusError(8, "rename " + from + " to " + to + ": the SFTP server has no posix-rename@openssh.com");
  std::string payload;
  put_str(payload, "posix-rename@openssh.com");
  put_str(payload, from);
  put_str(payload, to);
  expect_ok(send(FXP_EXTENDED, payload), "rename to " + to);
}

void SftpClient::remove(const std::string& path) {
  std::string payload;
  put_str(payload, path);
  expect_ok(send(FXP_REMOVE, payload), "remove " + path);
}

}  // namespace drctl::world::real
