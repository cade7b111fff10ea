#include "store/pack.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <unistd.h>

#include <cstring>
#include <utility>

#include "base/error.hpp"
#include "store/files.hpp"

namespace drctl::store {

void encode_entry(Bytes& out, const BlobEntry& e) {
  out.push_back(static_cast<std::uint8_t>(e.type));
  out.push_back(static_cast<std::uint8_t>(e.compression));
  out.insert(out.end(), e.id.bytes.begin(), e.id.bytes.end());
  put_u32(out, e.offset);
  put_u32(out, e.length);
  put_u32(out, e.raw_length);
}

BlobEntry decode_entry(const std::uint8_t* p) {
  BlobEntry e;
  if (p[0] > 1 || p[1] > 1) throw Failure("bad blob entry (type or compression out of range)");
  e.type = static_cast<BlobType>(p[0]);
  e.compression = static_cast<Compression>(p[1]);
  std::memcpy(e.id.bytes.data(), p + 2, 32);
  e.offset = get_u32(p + 34);
  e.length = get_u32(p + 38);
  e.raw_length = get_u32(p + 42);
  return e;
}

PackWriter::PackWriter(std::filesystem::path tmp_path)
    : tmp_path_(std::move(tmp_path)), hash_(std::make_unique<Sha256>()) {
  fd_ = open_or_throw(tmp_path_, O_WRONLY | O_CREAT | O_EXCL, 0600).release();
}

PackWriter::PackWriter(PackWriter&& o) noexcept
    : tmp_path_(std::move(o.tmp_path_)), fd_(std::exchange(o.fd_, -1)), hash_(std::move(o.hash_)),
      size_(o.size_), entries_(std::move(o.entries_)), finished_(std::exchange(o.finished_, true)) {}

PackWriter::~PackWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!finished_ && !tmp_path_.empty()) ::unlink(tmp_path_.c_str());
}

void PackWriter::add(BlobType type, Compression c, const Id& id, std::span<const std::uint8_t> stored,
                     std::uint32_t raw_length) {
  write_all(fd_, stored, tmp_path_);
  hash_->update(stored);
  entries_.push_back(BlobEntry{type, c, id, static_cast<std::uint32_t>(size_),
                               static_cast<std::uint32_t>(stored.size()), raw_length});
  size_ += stored.size();
}

void PackWriter::read_back(const std::function<void(const BlobEntry&, std::span<const std::uint8_t>)>& fn) const {
  const Fd in = open_or_throw(tmp_path_, O_RDONLY);
  Bytes stored;
  for (const auto& e : entries_) {
    stored.resize(e.length);
    pread_all(in.get(), stored.data(), stored.size(), static_cast<off_t>(e.offset), tmp_path_);
    fn(e, stored);
  }
}

namespace {
/// What a sealed pack header is bound to (FORMAT.md).
constexpr std::string_view kHeaderAd = "drctl-pack-header";
std::span<const std::uint8_t> header_ad() { return {reinterpret_cast<const std::uint8_t*>(kHeaderAd.data()), kHeaderAd.size()}; }
}  // namespace

Id PackWriter::finish(const SecretKey* key) {
  Bytes tail;
  tail.reserve(entries_.size() * kEntrySize + kPackTrailerSize + kSealOverhead);
  for (const auto& e : entries_) encode_entry(tail, e);
  if (key) {
    tail = seal(*key, tail, header_ad());
    put_u32(tail, static_cast<std::uint32_t>(tail.size()));  // the sealed header's length
    put_u32(tail, 0);
    tail.insert(tail.end(), kSealedPackMagic, kSealedPackMagic + 8);
  } else {
    put_u32(tail, static_cast<std::uint32_t>(entries_.size()));
    put_u32(tail, 0);
    tail.insert(tail.end(), kPackMagic, kPackMagic + 8);
  }
  write_all(fd_, tail, tmp_path_);
  hash_->update(tail);
  if (::fsync(fd_) != 0) throw_errno("cannot fsync", tmp_path_, errno);
  ::close(fd_);
  fd_ = -1;
  finished_ = true;
  return hash_->finish();
}

std::vector<BlobEntry> read_pack_header(const std::filesystem::path& pack, const SecretKey* key) {
  Fd fd = open_or_throw(pack, O_RDONLY);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) throw_errno("cannot stat", pack, errno);
  auto read_at = [&](std::uint64_t offset, std::size_t length) {
    Bytes out(length);
    pread_all(fd.get(), out.data(), out.size(), static_cast<off_t>(offset), pack);
    return out;
  };
  return read_pack_header(static_cast<std::uint64_t>(st.st_size), read_at, pack.string(), key);
}

std::vector<BlobEntry> read_pack_header(std::uint64_t size, const std::function<Bytes(std::uint64_t, std::size_t)>& read_at,
                                        const std::string& name, const SecretKey* key) {
  if (size < kPackTrailerSize) throw Failure("pack too short: " + name);
  const Bytes trailer = read_at(size - kPackTrailerSize, kPackTrailerSize);
  if (std::memcmp(trailer.data() + 8, key ? kSealedPackMagic : kPackMagic, 8) != 0)
    throw Failure("pack trailer damaged: " + name);
  // Sealed: the trailer gives the sealed header's length; plain: the count of entries.
  const std::uint64_t header_size = key ? get_u32(trailer.data()) : get_u32(trailer.data()) * std::uint64_t(kEntrySize);
  if (header_size + kPackTrailerSize > size) throw Failure("pack header damaged: " + name);
  Bytes header = read_at(size - kPackTrailerSize - header_size, static_cast<std::size_t>(header_size));
  if (key) {
    try {
      header = open_sealed(*key, header, header_ad());
    } catch (const Failure& e) {
      throw Failure("pack header damaged (" + std::string(e.what()) + "): " + name);
    }
    if (header.size() % kEntrySize != 0) throw Failure("pack header damaged: " + name);
  }
  const std::uint64_t count = header.size() / kEntrySize;
  std::vector<BlobEntry> out;
  out.reserve(count);
  const std::uint64_t data_end = size - kPackTrailerSize - header_size;
  for (std::uint64_t i = 0; i < count; ++i) {
    BlobEntry e = decode_entry(header.data() + i * kEntrySize);
    if (std::uint64_t(e.offset) + e.length > data_end) throw Failure("pack header damaged: " + name);
    out.push_back(e);
  }
  return out;
}

}  // namespace drctl::store
