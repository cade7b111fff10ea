#include "world/host_system.hpp"

#include <sstream>

#include "base/shell.hpp"
#include "world/world.hpp"

namespace drctl::world {

std::string HostSystem::tar_create(const std::string& dir) const {
  // bsdtar writes holes as pax GNU.sparse 1.0 without being asked and refuses --sparse
  // ("Option --sparse is not supported"); GNU tar reads holes as zeros unless told.
  const char* holes = tar == Tar::bsdtar ? "" : " --sparse";
  return std::string("tar --format=pax --xattrs") + holes + " --numeric-owner -cf - -C " + shell_quote(dir) + " .";
}

std::string HostSystem::tar_create_list(const std::string& dir) const {
  // Names are read verbatim (GNU tar would otherwise unquote backslash escapes in them); they all
  // start with "./", so neither tar takes one for an option (GNU's -T) or a -C line (bsdtar's).
  const char* list = tar == Tar::bsdtar ? " -n --null -T -" : " --sparse --no-recursion --null --no-unquote -T -";
  return "cd " + shell_quote(dir) + " && tar --format=pax --xattrs --numeric-owner" + list + " -cf -";
}

std::string HostSystem::list_tree(const std::string& dir) const {
  switch (lister) {
    case Lister::none:
      return "";
    case Lister::find:
      // GNU find(1) -printf: %D device, %i inode, %y type letter, %m permission bits (octal),
      // %n links, %U %G numeric owner, %s size, %T@ %C@ mtime and ctime in seconds with the
      // fraction; then the name and the symlink target, each ended by NUL (\0).
      return "cd " + shell_quote(dir) + " && find . -printf '%D %i %y %m %n %U %G %s %T@ %C@\\0%p\\0%l\\0'";
    case Lister::bsd_stat:
      // FreeBSD stat(1) -f (usr.bin/stat/stat.1, "Formats"): %d st_dev, %i st_ino, %p st_mode
      // (octal by default, type bits included), %l st_nlink, %u %g st_uid st_gid, %z st_size,
      // %.9Fm %.9Fc mtime and ctime as floating point with 9 digits after the point, %N the name;
      // each file's line ends in a newline. A name may hold a newline, so each batch first
      // prints its names NUL-terminated, then an empty one, then stat's lines in the same order:
      // a line belongs to the name it ends with (stat prints none for a file gone meanwhile).
      return "cd " + shell_quote(dir) +
             " && find . -print0 | xargs -0 sh -c 'for f; do printf \"%s\\0\" \"$f\"; done; printf \"\\0\"; "
             "exec stat -f \"%d %i %p %l %u %g %z %.9Fm %.9Fc %N\" \"$@\"' sh";
  }
  return "";
}

std::string HostSystem::tar_extract(const std::string& dir) const {
  return "mkdir -p " + shell_quote(dir) + " && tar -xpf - --xattrs --numeric-owner -C " + shell_quote(dir);
}

std::string HostSystem::hash_files(const std::string& dir) const {
  const char* tool = hasher == Hasher::sha256 ? "sha256 -r" : "sha256sum";
  return "find " + shell_quote(dir) + " -type f -exec " + tool + " {} +";
}

std::string HostSystem::file_mode(const std::string& path) const {
  const bool bsd = kernel.find("BSD") != std::string::npos || kernel == "Darwin";
  return (bsd ? "stat -f %Lp " : "stat -c %a ") + shell_quote(path);
}

std::string system_probe_script() {
  return "echo \"kernel $(uname -s)\"\n"
         "echo \"tar $(tar --version 2>&1)\"\n"
         "if command -v sha256sum >/dev/null 2>&1; then echo 'hash sha256sum'\n"
         "elif command -v sha256 >/dev/null 2>&1; then echo 'hash sha256'\n"
         "fi\n"
         "if find / -maxdepth 0 -printf '' >/dev/null 2>&1; then echo 'list find'\n"
         "elif stat -f %z / >/dev/null 2>&1 && command -v xargs >/dev/null 2>&1; then echo 'list bsd-stat'\n"
         "fi\n";
}

std::optional<HostSystem> parse_system_probe(const std::string& out) {
  HostSystem s;
  std::istringstream in(out);
  bool kernel = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("kernel ", 0) == 0) {
      s.kernel = line.substr(7);
      kernel = !s.kernel.empty();
    } else if (line.rfind("tar ", 0) == 0) {
      // "bsdtar 3.6.2 - libarchive 3.6.2 …" or "tar (GNU tar) 1.34"
      if (line.find("bsdtar") != std::string::npos || line.find("libarchive") != std::string::npos)
        s.tar = HostSystem::Tar::bsdtar;
    } else if (line == "hash sha256") {
      s.hasher = HostSystem::Hasher::sha256;
    } else if (line == "list find") {
      s.lister = HostSystem::Lister::find;
    } else if (line == "list bsd-stat") {
      s.lister = HostSystem::Lister::bsd_stat;
    }
  }
  if (!kernel) return std::nullopt;
  return s;
}

HostSystem Host::system() {
  {
    std::lock_guard lock(system_mutex_);
    if (system_) return *system_;
  }
  // Not under the lock: the probe may take a while (or, simulated, give other tasks their turn).
  Command probe = shell_command(system_probe_script());
  probe.timeout = Duration(60000);
  const CommandResult r = run(probe);
  std::optional<HostSystem> learned = r.ok() ? parse_system_probe(r.out) : std::nullopt;
  if (!learned) return HostSystem{};  // unreachable now: the command that follows says why
  std::lock_guard lock(system_mutex_);
  system_ = *learned;
  return *system_;
}

}  // namespace drctl::world
