#include "boot/elf_needed.hpp"

#include <cstdint>

namespace drctl::boot {

namespace {

// The ELF fields read here (System V gABI, "Object Files"): the header's class, byte order and
// program header table; PT_DYNAMIC's entries; DT_STRTAB's address mapped back through PT_LOAD.
constexpr std::uint32_t kPtLoad = 1, kPtDynamic = 2;
constexpr std::uint64_t kDtNull = 0, kDtNeeded = 1, kDtStrtab = 5;

class Reader {
 public:
  Reader(const std::string& bytes, bool is64, bool big) : b_(bytes), is64_(is64), big_(big) {}

  bool has(std::uint64_t off, std::uint64_t n) const { return off <= b_.size() && n <= b_.size() - off; }
  std::uint64_t u(std::uint64_t off, int n) const {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      const std::uint64_t byte = static_cast<unsigned char>(b_[off + (big_ ? i : n - 1 - i)]);
      v = v << 8 | byte;
    }
    return v;
  }
  // An address-sized field (Elf32_Addr/Off or Elf64_Addr/Off/Xword).
  std::uint64_t word(std::uint64_t off) const { return u(off, is64_ ? 8 : 4); }
  int word_size() const { return is64_ ? 8 : 4; }
  bool is64() const { return is64_; }
  std::string c_string(std::uint64_t off) const {
    std::string s;
    while (off < b_.size() && b_[off] != '\0') s += b_[off++];
    return s;
  }

 private:
  const std::string& b_;
  bool is64_, big_;
};

struct Segment {
  std::uint32_t type;
  std::uint64_t offset, vaddr, filesz;
};

std::vector<Segment> segments(const Reader& r) {
  const std::uint64_t phoff = r.word(r.is64() ? 32 : 28);
  const std::uint64_t phentsize = r.u(r.is64() ? 54 : 42, 2), phnum = r.u(r.is64() ? 56 : 44, 2);
  std::vector<Segment> out;
  for (std::uint64_t i = 0; i < phnum; ++i) {
    const std::uint64_t at = phoff + i * phentsize;
    if (!r.has(at, r.is64() ? 56 : 32)) break;
    Segment s;
    s.type = static_cast<std::uint32_t>(r.u(at, 4));
    // Elf64_Phdr puts p_flags second; Elf32_Phdr puts it after p_memsz.
    s.offset = r.word(at + (r.is64() ? 8 : 4));
    s.vaddr = r.word(at + (r.is64() ? 16 : 8));
    s.filesz = r.word(at + (r.is64() ? 32 : 16));
    out.push_back(s);
  }
  return out;
}

// The file offset of a virtual address, through the PT_LOAD segment holding it.
std::optional<std::uint64_t> file_offset(const std::vector<Segment>& segs, std::uint64_t vaddr) {
  for (const auto& s : segs)
    if (s.type == kPtLoad && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) return s.offset + (vaddr - s.vaddr);
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<std::string>> elf_needed(const std::string& bytes) {
  if (bytes.size() < 52 || bytes.compare(0, 4, "\x7f" "ELF") != 0) return std::nullopt;
  const char cls = bytes[4], data = bytes[5];
  if ((cls != 1 && cls != 2) || (data != 1 && data != 2)) return std::nullopt;
  const Reader r(bytes, cls == 2, data == 2);
  if (r.is64() && bytes.size() < 64) return std::nullopt;
  const auto segs = segments(r);
  std::vector<std::string> needed;
  for (const auto& dyn : segs) {
    if (dyn.type != kPtDynamic) continue;
    std::vector<std::uint64_t> names;
    std::optional<std::uint64_t> strtab;
    const int entry = 2 * r.word_size();
    for (std::uint64_t at = dyn.offset; at + entry <= dyn.offset + dyn.filesz && r.has(at, entry); at += entry) {
      const std::uint64_t tag = r.word(at), value = r.word(at + r.word_size());
      if (tag == kDtNull) break;
      if (tag == kDtNeeded) names.push_back(value);
      if (tag == kDtStrtab) strtab = value;
    }
    if (!strtab) continue;
    const auto base = file_offset(segs, *strtab);
    if (!base) continue;
    for (auto name : names)
      if (r.has(*base + name, 1)) needed.push_back(r.c_string(*base + name));
  }
  return needed;
}

}  // namespace drctl::boot
