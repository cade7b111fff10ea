#include "boot/menu_lint.hpp"

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "base/text.hpp"
#include "boot/elf_needed.hpp"
#include "boot/location.hpp"
#include "boot/pxelinux.hpp"

namespace drctl::boot {

namespace {

std::string first_word(const std::string& s) {
  const auto w = text::words(s);
  return w.empty() ? "" : w.front();
}

std::string unquote(const std::string& s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

// "ROOT/" as messages name the tree's files, "" for a root with no name.
std::string shown_root(const Serving& s) {
  const std::string& root = s.shown_root.empty() ? s.tftp_root : s.shown_root;
  return root.empty() || root.ends_with('/') ? root : root + "/";
}

// The extensions load_kernel() tries, in order, for a command naming no label and no extension
// (ldlinux.c file_extensions[] through get_extension()).
const char* const kImplicitExtensions[] = {".c32", ".img", ".bss", ".bin", ".bs", ".0"};

// One config file's lint: the tree, what the server serves, and the errors so far.
class MenuLint {
 public:
  MenuLint(const TftpTree& tree, const Serving& serving) : tree_(tree), serving_(serving) {}

  std::vector<std::string> run(const std::string& rel, const std::string& text) {
    const PxeMenu menu = parse_pxelinux(text, rel, [&](const std::string& name) -> std::optional<std::string> {
      const std::string path = tftp_path(name);
      if (!tree_.files.count(path) || !tree_.read) return std::nullopt;
      return tree_.read(path);
    });
    search_dirs_ = {""};
    if (menu.path.set())
      for (const auto& dir : text::split_nonempty(menu.path.value, ':')) search_dirs_.push_back(tftp_path(dir.back() == '/' ? dir : dir + "/"));
    const BootPlan plan = plan_boot(menu);
    check_plan(menu, plan);
    check_default(menu, menu.default_directive, "DEFAULT", menu.default_at, plan);
    if (menu.ontimeout.set()) check_default(menu, menu.ontimeout.value, "ONTIMEOUT", menu.ontimeout.where, plan);
    if (!menu.ui.empty()) need_module(first_word(menu.ui), menu.ui_at, "UI");
    else if (is_menu_module(first_word(menu.default_directive)) && !find_label(menu, menu.default_directive))
      need_module(first_word(menu.default_directive), menu.default_at, "DEFAULT");
    for (const auto& e : menu.entries) check_entry(e);
    return std::move(errors_);
  }

 private:
  const TftpTree& tree_;
  const Serving& serving_;
  std::vector<std::string> search_dirs_;
  std::vector<std::string> errors_;

  void error(const Where& at, const std::string& message) {
    errors_.push_back(shown(at.file) + ":" + std::to_string(at.line) + ": " + message);
  }
  std::string shown(const std::string& rel) const { return shown_root(serving_) + rel; }

  // A name as pxelinux opens it over TFTP: from the root with "::" or "/", else relative to
  // the directory of pxelinux.0, which is the root here.
  static std::string tftp_path(const std::string& name) {
    std::string path = name.starts_with("::") ? name.substr(2) : name;
    path.erase(0, path.find_first_not_of('/'));
    return path;
  }
  bool in_tree(const std::string& name) const { return tree_.files.count(tftp_path(name)) > 0; }

  // A module or library as ldlinux finds it: the name itself, else in each PATH directory.
  std::optional<std::string> find_module(const std::string& name) const {
    if (in_tree(name)) return tftp_path(name);
    if (name.find('/') != std::string::npos) return std::nullopt;
    for (const auto& dir : search_dirs_)
      if (tree_.files.count(dir + name)) return dir + name;
    return std::nullopt;
  }

  void check_plan(const PxeMenu& menu, const BootPlan& plan) {
    if (plan.waits_forever && plan.stop.starts_with("has no DEFAULT or UI")) {
      error(plan.wait_at, "no DEFAULT or UI: a real pxelinux prints 'No DEFAULT or UI configuration directive found!' "
                          "and waits forever at the boot: prompt");
      return;
    }
    if (plan.waits_forever) {
      const std::string where = plan.module.empty() ? "the boot: prompt (PROMPT 1)" : "the " + plan.module + " menu";
      error(plan.wait_at, (menu.timeout.set() ? "TIMEOUT " + menu.timeout.value : std::string("no TIMEOUT")) +
                              " and no TOTALTIMEOUT: a real pxelinux waits forever at " + where +
                              " for a key, and nothing boots unattended (TIMEOUT counts 1/10 s: TIMEOUT 50 is 5 s)");
    } else if (!plan.stop.empty()) {
      error(plan.module_at.line ? plan.module_at : Where{menu.file, 1},
            plan.stop.starts_with("has no labels") ? "the " + plan.module + " menu has no labels to show: a real pxelinux "
                                                     "shows an empty menu and boots nothing"
                                                   : plan.stop);
    }
    const auto visible = std::count_if(menu.entries.begin(), menu.entries.end(),
                                       [](const BootEntry& e) { return e.top_level && !e.hidden; });
    if (!plan.module.empty() && plan.chosen_by == "the first label" && visible > 1 && !menu.ontimeout.set())
      error(plan.module_at, std::to_string(visible) + " labels and no MENU DEFAULT, ONTIMEOUT or DEFAULT naming one: "
                                "which one boots is an accident — a real pxelinux boots the first, '" +
                                plan.entry->label + "' (" + shown(plan.entry->file) + " line " +
                                std::to_string(plan.entry->line) + ")");
  }

  // DEFAULT or ONTIMEOUT naming no label: without UI pxelinux loads a file of that name
  // (trying load_kernel()'s extensions); with UI the menu ignores a DEFAULT that names no label.
  void check_default(const PxeMenu& menu, const std::string& cmd, const std::string& directive, const Where& at,
                     const BootPlan& plan) {
    const std::string word = first_word(cmd);
    if (word.empty() || find_label(menu, cmd)) return;
    if (is_menu_module(word) && directive == "DEFAULT" && menu.ui.empty()) return;
    const bool ignored = directive == "DEFAULT" && !menu.ui.empty();
    if (!ignored) {
      if (in_tree(word) || find_module(word)) return;
      for (const char* ext : kImplicitExtensions)
        if (in_tree(word + ext)) return;
    }
    std::string message = directive + " " + word + " names no label";
    for (const auto& e : menu.entries)
      if (e.label != word && text::lower(unquote(e.label)) == text::lower(unquote(word))) {
        message += " (LABEL " + e.label + " at " + shown(e.file) + " line " + std::to_string(e.line) +
                   " is another label: pxelinux compares labels byte for byte, case and quotes included)";
        break;
      }
    if (ignored)
      message += ": the " + first_word(menu.ui) + " menu ignores it and highlights " +
                 (plan.entry ? "'" + plan.entry->label + "' (" + plan.chosen_by + ")" : "nothing");
    else
      message += " and no file in the TFTP tree: a real pxelinux fails to load it ('Could not find kernel image: " +
                 word + "') and waits at the boot: prompt";
    error(at, message);
  }

  // A COM32 module and, when it is a real ELF file, the libraries it needs (DT_NEEDED), each
  // of which ldlinux must load first.
  void need_module(const std::string& name, const Where& at, const std::string& directive) {
    const auto found = find_module(name);
    if (!found) {
      error(at, directive + " " + name + " is not in the TFTP tree: a real pxelinux stops with 'Failed to load COM32 file " +
                    name + "'");
      return;
    }
    std::set<std::string> seen;
    need_libraries(name, *found, at, seen);
  }
  void need_libraries(const std::string& module, const std::string& path, const Where& at, std::set<std::string>& seen) {
    if (!seen.insert(path).second || !tree_.read) return;
    const auto bytes = tree_.read(path);
    const auto needed = bytes ? elf_needed(*bytes) : std::nullopt;
    if (!needed) return;  // not an ELF file (a placeholder): nothing to follow
    for (const auto& lib : *needed) {
      const auto found = find_module(lib);
      if (!found) {
        error(at, module + " needs " + lib + " (ELF DT_NEEDED), which is not in the TFTP tree: a real pxelinux fails to "
                  "load " + module + " ('Failed to load " + lib + "')");
        continue;
      }
      need_libraries(lib, *found, at, seen);
    }
  }

  void check_entry(const BootEntry& e) {
    const std::string label = "label " + e.label;
    if (e.localboot || e.kernel_type == "none") return;
    if (e.kernel_type == "com32" || e.kernel.ends_with(".c32")) {
      need_module(e.kernel, e.kernel_at, label + ": " + upper(e.kernel_type));
    } else if (!in_tree(e.kernel)) {
      const bool named = e.kernel_at.line != e.line;
      error(e.kernel_at, label + (named ? ": " + upper(e.kernel_type) + " " + e.kernel
                                        : " has no KERNEL, so pxelinux loads a file named " + e.kernel + ", which") +
                             " is not in the TFTP tree: booting it fails at 'Loading " + e.kernel + "... failed!'");
    }
    for (const auto& initrd : text::split_nonempty(e.initrd, ','))
      if (!in_tree(initrd)) error(e.initrd_at, label + ": INITRD " + initrd + " is not in the TFTP tree: " + initrd_fails(initrd));
    for (const auto& word : text::words(e.append)) {
      if (word.starts_with("initrd="))
        for (const auto& initrd : text::split_nonempty(word.substr(7), ','))
          if (!in_tree(initrd)) error(e.append_at, label + ": initrd=" + initrd + " is not in the TFTP tree: " + initrd_fails(initrd));
      for (const char* key : {"ks=", "url="})
        if (word.starts_with(key)) check_location(e, word, word.substr(std::string(key).size()), "");
      if (word.starts_with("ds=")) check_datasource(e, word);
    }
  }
  static std::string upper(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
    return s;
  }
  static std::string initrd_fails(const std::string& initrd) {
    return "the kernel is loaded, then 'Loading " + initrd + "...failed!' and the boot stops";
  }

  // cloud-init's NoCloud seed: "nocloud-net;s=URL/" (";" may be escaped as "\;"): user-data
  // and meta-data under URL.
  void check_datasource(const BootEntry& e, const std::string& word) {
    std::string ds;
    for (std::size_t i = 3; i < word.size(); ++i)
      if (!(word[i] == '\\' && i + 1 < word.size() && word[i + 1] == ';')) ds += word[i];
    const auto parts = text::split_nonempty(ds, ';');
    if (parts.empty() || (parts[0] != "nocloud" && parts[0] != "nocloud-net")) return;
    for (std::size_t i = 1; i < parts.size(); ++i)
      if (parts[i].starts_with("s=") || parts[i].starts_with("seedfrom="))
        for (const char* file : {"user-data", "meta-data"})
          check_location(e, word, parts[i].substr(parts[i].find('=') + 1) + file, file);
  }

  // A location the installer reads its answers from: on the PXE server, by a scheme it serves,
  // and there.
  void check_location(const BootEntry& e, const std::string& word, const std::string& value, const std::string& file) {
    const std::string head = "label " + e.label + ": " + word + (file.empty() ? "" : " (" + file + ")") + ": ";
    const std::string stops = ": the installer cannot read its answers and stops to ask";
    Location loc;
    try {
      loc = parse_location(value);
    } catch (const std::invalid_argument& ex) {
      return error(e.append_at, head + ex.what() + stops);
    }
    const auto& servers = serving_.servers;
    if (!servers.empty() && std::find(servers.begin(), servers.end(), loc.server) == servers.end()) {
      std::string list;
      for (const auto& s : servers) list += (list.empty() ? "" : ", ") + s;
      return error(e.append_at, head + loc.server + " is not the PXE server (" + list + ")" + stops);
    }
    if (loc.scheme == "tftp") {
      if (!in_tree(loc.path)) error(e.append_at, head + loc.path + " is not in the TFTP tree" + stops);
      return;
    }
    if (loc.scheme == "nfs" && serving_.exports && !exported(loc.path))
      return error(e.append_at, head + loc.path + " is under no /etc/exports entry of the PXE server: the NFS mount is "
                                                  "refused" + stops);
    const std::string path = loc.scheme == "http" ? serving_.web_root + loc.path : loc.path;
    if (!exists(path)) error(e.append_at, head + "the PXE server has no " + path + stops);
  }

  bool exported(const std::string& path) const {
    std::istringstream in(*serving_.exports);
    for (std::string line; std::getline(in, line);) {
      const std::string dir = first_word(line);
      if (dir.empty() || dir[0] == '#') continue;
      if (path == dir || path.starts_with(dir.back() == '/' ? dir : dir + "/")) return true;
    }
    return false;
  }

  bool exists(const std::string& abs) const {
    const std::string root = serving_.tftp_root.ends_with('/') ? serving_.tftp_root : serving_.tftp_root + "/";
    if (abs.starts_with(root)) return tree_.files.count(abs.substr(root.size())) > 0;
    return !serving_.exists || serving_.exists(abs);
  }
};

}  // namespace

std::vector<std::string> lint_menu(const std::string& rel, const std::string& text, const TftpTree& tree,
                                   const Serving& serving) {
  return MenuLint(tree, serving).run(rel, text);
}

bool is_client_config(const std::string& rel) {
  static const std::regex client("pxelinux\\.cfg/(default|01-[0-9a-f]{2}(-[0-9a-f]{2}){5}|[0-9A-F]{1,8})");
  return std::regex_match(rel, client);
}

std::vector<std::string> lint_tree(const TftpTree& tree, const Serving& serving) {
  std::vector<std::string> errors;
  auto add = [&](const std::string& e) {
    if (std::find(errors.begin(), errors.end(), e) == errors.end()) errors.push_back(e);
  };
  const std::string root = shown_root(serving);
  if (!tree.files.count("pxelinux.0"))
    add(root + "pxelinux.0: not in the TFTP tree: the firmware's TFTP read fails (PXE-E32) and nothing boots");
  if (!tree.files.count("ldlinux.c32"))
    add(root + "ldlinux.c32: not in the TFTP tree: pxelinux.0 stops with 'Failed to load ldlinux.c32'");
  bool any = false;
  for (const auto& rel : tree.files) {
    if (!is_client_config(rel)) continue;
    any = true;
    const auto text = tree.read ? tree.read(rel) : std::nullopt;
    if (!text) {
      add(root + rel + ": cannot be read");
      continue;
    }
    for (const auto& e : lint_menu(rel, *text, tree, serving)) add(e);
  }
  if (!any)
    add(root + "pxelinux.cfg/default: not in the TFTP tree, nor any per-client file: pxelinux stops with 'Unable to "
               "locate configuration file'");
  return errors;
}

}  // namespace drctl::boot
