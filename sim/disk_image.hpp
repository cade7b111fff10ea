// A simulated VM disk as bytes: what SimHypervisor::read_disk gives and write_disk takes. A disk
// image is a deterministic serialization of what is on the disk (same disk, same bytes), so a
// snapshot of an unchanged disk deduplicates to nothing and the drills stay reproducible.
//
// Format (version 1), text lines, every field %-escaped (%25 '%', %20 ' ', %0A newline, %0D, %09;
// "-" stands for an empty field and %2D for a literal "-"):
//
//   drctl-sim-disk 1
//   system KIND                        pfsense | truenas | pxe-server | vcenter | installed
//   os gnu_linux|freebsd
//   swap on|off
//   package NAME                       every installed package, sorted
//   service UNIT                       every unit started at boot, sorted
//   pool NAME BYTES                    a ZFS pool's data disk (TrueNAS's disk 1) instead of `system`
//   dataset NAME BYTES QUOTA|none      its datasets, parents first, with their own bytes
//   snapshot DATASET NAME BYTES        their snapshots, oldest first
//   share ID enabled|disabled PATH NETWORKS COMMENT   its NFS shares (NETWORKS comma separated)
//   dir PATH                           every directory, sorted
//   file PATH MODE SIZE                a file (MODE octal), followed by SIZE bytes and a newline
//   checksum HEX                       FNV-1a 64 of every byte before this line
//
// A disk with nothing on it is the empty image: zero bytes.
#pragma once
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "sim/host.hpp"
#include "sim/nas.hpp"

namespace drctl::sim {

struct DiskImage {
  enum class Content { empty, system, pool };
  Content content = Content::empty;
  // A system disk.
  std::string system;  // the appliance it is (pfsense, truenas, pxe-server, vcenter), or "installed"
  SimHost::Os os = SimHost::Os::gnu_linux;
  bool swap = false;
  std::set<std::string> packages, services;
  // A pool's data disk.
  PoolState pool;
  // Both: the file system.
  struct File {
    std::string content;
    unsigned mode = 0644;
    bool operator==(const File&) const = default;
  };
  std::set<std::string> dirs;
  std::map<std::string, File> files;
  bool operator==(const DiskImage&) const = default;
};

/// The image's bytes ("" for an empty disk).
std::string encode_disk_image(const DiskImage& image);
/// Reads an image back; std::invalid_argument with one line saying what is wrong ("not a drctl
/// simulator disk image (it begins with …)", "damaged: its checksum does not match", …).
DiskImage decode_disk_image(const std::string& bytes);

}  // namespace drctl::sim
