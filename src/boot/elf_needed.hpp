// The shared libraries an ELF file names in its dynamic section (DT_NEEDED): what a syslinux
// 6 COM32 module (vesamenu.c32 → libutil.c32, libcom32.c32) makes ldlinux load before it runs.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace drctl::boot {

/// The DT_NEEDED names of an ELF32 or ELF64 file (either byte order), in file order; nullopt
/// when `bytes` is not an ELF file (a placeholder, a script). A damaged ELF yields what it could read.
std::optional<std::vector<std::string>> elf_needed(const std::string& bytes);

}  // namespace drctl::boot
