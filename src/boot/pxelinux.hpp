// pxelinux (syslinux 6.04) configuration as ldlinux.c32 and its menu modules read it: the
// parser, the client's config search order, label lookup, and what an unattended boot does
// with a configuration. Shared by the simulated firmware (sim/pxe.cpp) and the menu lint, so
// both read a menu the same way; each rule cites the syslinux source it follows
// (sim/CONFORMANCE.md, section "syslinux / pxelinux").
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace drctl::boot {

/// Where a directive was read: the config file (as pxelinux names it) and its line (1-based).
struct Where {
  std::string file;
  int line = 0;
};

/// A global directive's value and where it was last set; line 0 when no file sets it.
struct Setting {
  std::string value;
  Where where;
  bool set() const { return where.line > 0; }
};

/// One LABEL of a pxelinux menu.
struct BootEntry {
  std::string label;                 // the first word after LABEL, quotes and case kept
  std::string kernel;                // first word of KERNEL/LINUX/COM32/…; empty for LOCALBOOT
  std::string kernel_type;           // the keyword that named it, lower case ("kernel", "linux", "com32", …)
  std::string initrd;                // the INITRD directive's value, "" without one
  std::vector<std::string> initrds;  // what the kernel loader reads: the first initrd= of the command line
  std::string append;                // the APPEND line (the global APPEND when the label has none)
  bool localboot = false;
  bool menu_default = false;         // MENU DEFAULT inside the label
  bool hidden = false;               // MENU HIDE: not shown, not a menu default
  bool top_level = true;             // outside MENU BEGIN … MENU END (and titled MENU INCLUDEs)
  int line = 0;                      // the LABEL line
  std::string file;                  // the config file the LABEL is in
  Where kernel_at, initrd_at, append_at;
};

/// A parsed pxelinux.cfg file, with the files it INCLUDEs read in place.
struct PxeMenu {
  std::vector<BootEntry> entries;
  std::string default_directive;      // what DEFAULT names (a label, or a module like vesamenu.c32)
  std::string ui;                     // the module UI names (then DEFAULT names the default label)
  std::string menu_default;           // the last top-level label marked MENU DEFAULT (the last one applies)
  std::vector<std::string> includes;  // MENU INCLUDE / INCLUDE paths, found or not
  Where default_at, ui_at;
  Setting timeout;       // TIMEOUT in 1/10 s; 0 or unset: no timeout
  Setting totaltimeout;  // TOTALTIMEOUT in 1/10 s, not cancelled by a key; 0 or unset: none
  Setting ontimeout;     // the command line booted when the timeout expires
  Setting prompt;        // PROMPT 1: the boot: prompt is shown even with a DEFAULT
  Setting path;          // PATH: colon-separated directories modules are searched in
  std::string file;      // the file parsed (as given to parse_pxelinux)
};

/// Reads an INCLUDEd file by the name the config gives; nullopt when it does not exist.
using ReadInclude = std::function<std::optional<std::string>(const std::string& name)>;

/// Parses a pxelinux.cfg file named `file` (for the entries' Where). Without `read_include`,
/// INCLUDE lines are only listed; with it, the included files are parsed where they stand.
PxeMenu parse_pxelinux(const std::string& text, const std::string& file = "", const ReadInclude& read_include = {});

/// The label a command line (DEFAULT, ONTIMEOUT, a typed line) names by its first word,
/// compared as pxelinux compares labels (byte for byte); nullptr when none.
const BootEntry* find_label(const PxeMenu& menu, const std::string& command_line);

/// True for menu.c32 and vesamenu.c32 (in any directory): modules that show the labels.
bool is_menu_module(const std::string& name);

/// pxelinux's search order for a client: "pxelinux.cfg/01-aa-bb-cc-dd-ee-ff" (lower case), then the
/// IP in upper-case hex dropping one digit at a time ("pxelinux.cfg/0A001414" … "pxelinux.cfg/0"),
/// then "pxelinux.cfg/default". Throws std::invalid_argument for a malformed MAC or IP.
std::vector<std::string> pxelinux_config_paths(const std::string& mac, const std::string& ip);

/// What pxelinux does with a configuration when nobody touches the keyboard.
struct BootPlan {
  std::string module;                // the menu module run first (UI, or DEFAULT naming one); "" for none
  Where module_at;
  bool waits_forever = false;        // a prompt or menu with no timeout: nothing boots unattended
  Where wait_at;                     // the TIMEOUT line, else the line that shows the prompt or menu
  const BootEntry* entry = nullptr;  // the label booted (when it waits forever: the one highlighted)
  std::string chosen_by;             // "DEFAULT", "MENU DEFAULT", "ONTIMEOUT" or "the first label"
  std::string image;                 // a DEFAULT/ONTIMEOUT naming no label: the file loaded instead
  std::string image_directive;       // "DEFAULT" or "ONTIMEOUT"
  Where image_at;
  std::string stop;                  // when no label can be chosen: why, e.g. "has no DEFAULT or UI: …"
};

/// Follows ldlinux.c32's main() and the menu module's defaults for `menu` (no key pressed).
BootPlan plan_boot(const PxeMenu& menu);

}  // namespace drctl::boot
