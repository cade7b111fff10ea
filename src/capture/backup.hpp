// One backup pipeline for `drctl snapshot create` and the backup.snapshot action: sources (a
// directory of a host, a cluster's Kubernetes objects with etcd beside them, the hypervisor's VM
// definitions) into one new snapshot of a repository, read through the World.
//
// For each source, in order: the parent (the newest earlier snapshot of the same machine with a
// section of that name from the same origin), the `pre` hook on the source's host, the capture,
// the `post` hook (also when the capture failed). A directory of the machine drctl runs on is
// read from the file system, reusing the parent's trees (a no-change run re-reads nothing);
// any other host's directory arrives as its tar stream. The snapshot is stamped with the machine
// drctl runs on and the World's clock, so a simulated backup carries virtual time.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "capture/kube.hpp"
#include "capture/nas.hpp"
#include "store/repository.hpp"
#include "store/snapshot.hpp"
#include "world/world.hpp"

namespace drctl::capture {

/// A command run on a source's host around its capture (e.g. a ZFS snapshot taken, then released).
struct Hook {
  std::string label;    // how messages name it: "--pre" for the CLI, "pre" for the action
  std::string command;  // empty: none
};

/// One section of a backup and where it is read.
struct BackupSource {
  enum class Kind { Directory, Kube, Vms };
  Kind kind = Kind::Directory;
  std::string section;         // "nas/mail", "kube", "vm"
  std::string host = "local";  // the World host holding the directory or running kubectl
  std::string origin;          // recorded as the section's source; parents are found by it
  std::string path;            // Directory: the directory on the host
  KubeTarget kube;             // Kube: the cluster …
  KubeFilter filter;           // … the objects taken …
  std::vector<std::string> exclude;  // … and those left out (shell patterns of their paths)
  bool etcd = false;           // Kube: etcd's own snapshot beside the objects (etcd.db, etcd.json)
  std::vector<std::string> disks;  // Vms: the VMs whose disk images are captured too ("*": every VM)
  Hook pre, post;              // Directory and Kube: run on `host`
};

/// Where a backup tells what happens; either may be empty.
struct BackupMessages {
  std::function<void(const std::string&)> warn;  // an entry left out; a post hook failing after a failed capture
  std::function<void(const std::string&)> note;  // a section captured (one line, no newline)
};

class Backup {
 public:
  /// A backup into `repo` (opened and locked by the caller) of sources read through `world`.
  Backup(world::World& world, store::Repository& repo, BackupMessages messages = {});

  /// Captures `sources` in order into one snapshot tagged `tags`, saves it and returns it.
  /// Throws drctl::Failure (a hook failed, no hypervisor for `vms`) or what a capture throws;
  /// nothing is saved then (blobs aside).
  store::Snapshot run(const std::vector<BackupSource>& sources, const std::vector<std::string>& tags,
                      Progress& progress);

  /// The name the snapshot is stamped with: this machine's host name when the World is this
  /// machine, else the World's own name for its local host (the simulator's controller).
  const std::string& machine() const { return machine_; }

 private:
  NasResult capture(const BackupSource& source, const std::optional<store::Id>& parent_tree, Progress& progress);
  NasResult capture_kube_source(const BackupSource& source, Progress& progress);

  world::World& world_;
  store::Repository& repo_;
  BackupMessages messages_;
  std::string machine_;
};

}  // namespace drctl::capture
