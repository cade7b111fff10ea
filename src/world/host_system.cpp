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
