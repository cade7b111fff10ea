// The pxelinux menu lint: before anything boots, the mistakes in a TFTP tree's menus that make
// a real network boot hang or fail, each as one line "FILE:LINE: what a real boot does". Run
// by pxe.render on what it is about to write and by `drctl pxe lint` on a tree on this machine.
#pragma once
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace drctl::boot {

/// The TFTP tree as pxelinux sees it (pxelinux.0 at its root, so names are relative to it).
struct TftpTree {
  std::set<std::string> files;  // every file under the root, relative ("pxelinux.cfg/default")
  std::function<std::optional<std::string>(const std::string& rel)> read;  // a file's content; nullopt: unreadable
};

/// What the PXE server serves besides its TFTP tree, for the installer's answers (ks=, url=, ds=).
struct Serving {
  std::string tftp_root = "/tftpboot";     // the TFTP root on the server: tftp: paths and the tree
  std::string shown_root;                  // how messages name the tree's root; empty: tftp_root
  std::vector<std::string> servers;        // addresses and names that reach the server; empty: not checked
  std::optional<std::string> exports;      // its /etc/exports; nullopt: unknown, not checked
  std::string web_root = "/var/www/html";  // where its HTTP server serves http: paths from
  /// Whether a file outside the TFTP root exists on the server; unset: not checked.
  std::function<bool(const std::string& abs_path)> exists;
};

/// Lints one pxelinux.cfg file (`rel` under the TFTP root, `text` its content), following its
/// INCLUDEs through the tree. Errors read "ROOT/FILE:LINE: message".
std::vector<std::string> lint_menu(const std::string& rel, const std::string& text, const TftpTree& tree,
                                   const Serving& serving);

/// Lints a tree: pxelinux.0 and ldlinux.c32 are there, and every config file a client reads by
/// itself (pxelinux.cfg/default, 01-<mac>, hex IP prefixes) passes lint_menu. No duplicates.
std::vector<std::string> lint_tree(const TftpTree& tree, const Serving& serving);

/// True for the pxelinux.cfg/ names pxelinux looks up for a client (default, 01-<mac>, 0A0014…),
/// as opposed to files only INCLUDEd.
bool is_client_config(const std::string& rel);

}  // namespace drctl::boot
