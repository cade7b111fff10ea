#include "boot/pxelinux.hpp"

#include <algorithm>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "base/ipv4.hpp"
#include "base/text.hpp"

namespace drctl::boot {

namespace {

// syslinux's my_isspace(): every byte up to ' ' (so the end of a line counts as space too).
bool is_space(char c) { return static_cast<unsigned char>(c) <= ' '; }

std::string skipspace(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size() && is_space(s[i])) ++i;
  return std::string(s.substr(i));
}

std::string first_word(std::string_view s) {
  std::size_t end = 0;
  while (end < s.size() && !is_space(s[end])) ++end;
  return std::string(s.substr(0, end));
}

// readconfig.c looking_at(): the keyword in any case, then whitespace or the end of the line;
// the rest of the line after its leading spaces, or nullopt. There is no comment syntax: a '#'
// line matches no keyword, and a '#' after a value is part of the value.
std::optional<std::string> keyword(std::string_view line, std::string_view kw) {
  if (line.size() < kw.size()) return std::nullopt;
  for (std::size_t i = 0; i < kw.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(line[i])) != kw[i]) return std::nullopt;
  if (line.size() > kw.size() && !is_space(line[kw.size()])) return std::nullopt;
  return skipspace(line.substr(kw.size()));
}

// readconfig.c kernel_types[]: the directives that name what a label boots.
constexpr std::string_view kKernelTypes[] = {"none", "localboot", "kernel", "linux", "boot", "bss",
                                             "pxe",  "fdimage",   "comboot", "com32", "config"};

// ldlinux/kernel.c new_linux_kernel(): strstr(cmdline, "initrd=") — the first occurrence only,
// its comma-separated names up to the next space.
std::vector<std::string> loaded_initrds(const std::string& cmdline) {
  std::vector<std::string> out;
  auto at = cmdline.find("initrd=");
  if (at == std::string::npos) return out;
  std::string list = first_word(std::string_view(cmdline).substr(at + 7));
  std::istringstream in(list);
  for (std::string name; std::getline(in, name, ',');)
    if (!name.empty()) out.push_back(name);
  return out;
}

// One pass over a file and the files it includes, with the parser state readconfig.c keeps
// global "so that including multiple files works as if they had been concatenated".
class Parser {
 public:
  explicit Parser(const ReadInclude& read) : read_(read) {}

  void parse(const std::string& text, const std::string& file) {
    std::istringstream in(text);
    std::string line;
    for (int lineno = 1; std::getline(in, line); ++lineno) {
      if (auto cr = line.find('\r'); cr != std::string::npos) line.erase(cr);
      const std::string p = skipspace(line);
      if (keyword(p, "text")) {
        // TEXT HELP … ENDTEXT: the lines between are help text, never directives.
        while (std::getline(in, line) && (++lineno, !keyword(skipspace(line), "endtext"))) {
        }
        continue;
      }
      directive(p, {file, lineno});
    }
  }

  PxeMenu finish() {
    record();
    return std::move(menu_);
  }

 private:
  const ReadInclude& read_;
  PxeMenu menu_;
  std::optional<BootEntry> label_;  // readconfig.c's `ld`: recorded at the next LABEL, MENU BEGIN/END or EOF
  std::string global_append_;
  int submenu_depth_ = 0;
  int include_depth_ = 0;

  void directive(const std::string& p, const Where& at) {
    if (auto rest = keyword(p, "menu")) return menu_directive(*rest, at);
    if (auto rest = keyword(p, "include")) return include(*rest, at, false);
    if (auto rest = keyword(p, "append")) {
      (label_ ? label_->append : global_append_) = *rest;
      if (label_) label_->append_at = at;
      return;
    }
    if (auto rest = keyword(p, "initrd")) {
      if (label_) label_->initrd = *rest, label_->initrd_at = at;  // outside a label: ignored
      return;
    }
    if (auto rest = keyword(p, "label")) return start_label(*rest, at);
    for (std::string_view type : kKernelTypes)
      if (auto rest = keyword(p, type)) {
        if (label_) set_kernel(*label_, type, *rest, at);
        return;
      }
    const std::pair<std::string_view, Setting*> settings[] = {
        {"timeout", &menu_.timeout}, {"totaltimeout", &menu_.totaltimeout}, {"ontimeout", &menu_.ontimeout},
        {"prompt", &menu_.prompt},   {"path", &menu_.path}};
    for (const auto& [name, setting] : settings)
      if (auto rest = keyword(p, name)) {
        *setting = {*rest, at};
        return;
      }
    if (auto rest = keyword(p, "default")) {
      menu_.default_directive = *rest;
      menu_.default_at = at;
    } else if (auto rest = keyword(p, "ui")) {
      menu_.ui = *rest;
      menu_.ui_at = at;
    }
  }

  void menu_directive(const std::string& p, const Where& at) {
    if (keyword(p, "default")) {
      if (label_) label_->menu_default = true;
    } else if (keyword(p, "hide")) {
      if (label_) label_->hidden = true;
    } else if (auto rest = keyword(p, "include")) {
      include(*rest, at, true);
    } else if (keyword(p, "begin")) {
      record();
      ++submenu_depth_;
    } else if (keyword(p, "end")) {
      record();
      submenu_depth_ = std::max(0, submenu_depth_ - 1);
    }
  }

  // do_include() / do_include_menu(): a file that cannot be opened is skipped without a word;
  // MENU INCLUDE FILE TITLE puts the file's labels in a submenu called TITLE.
  void include(const std::string& rest, const Where&, bool menu) {
    const std::string name = first_word(rest);
    const bool submenu = menu && !skipspace(rest.substr(name.size())).empty();
    menu_.includes.push_back(name);
    if (!read_ || include_depth_ >= 16) return;  // 16 deep is a loop, not a menu
    const auto text = read_(name);
    if (!text) return;
    if (submenu) record(), ++submenu_depth_;
    ++include_depth_;
    parse(*text, name);
    --include_depth_;
    if (submenu) record(), submenu_depth_ = std::max(0, submenu_depth_ - 1);
  }

  // LABEL: the label is the first word, as written (__refdup_word: quotes and case kept).
  void start_label(const std::string& rest, const Where& at) {
    record();
    BootEntry e;
    e.label = first_word(rest);
    e.kernel = e.label;  // ld.kernel starts as the label: a label without KERNEL boots a file of its name
    e.kernel_type = "kernel";
    e.line = at.line;
    e.file = at.file;
    e.kernel_at = at;
    label_ = std::move(e);
  }

  static void set_kernel(BootEntry& e, std::string_view type, const std::string& rest, const Where& at) {
    e.kernel_type = std::string(type);
    e.localboot = type == "localboot";
    e.kernel = e.localboot ? "" : first_word(rest);
    e.kernel_at = at;
  }

  // record(): the label's APPEND, else the global one ("-" is none); INITRD goes after it as
  // " initrd=…", so an initrd= in APPEND is the one the kernel loader reads.
  void record() {
    if (!label_) return;
    BootEntry e = std::move(*label_);
    label_.reset();
    if (!e.append_at.line) e.append = global_append_;
    if (e.append == "-") e.append.clear();
    e.initrds = loaded_initrds(e.append + (e.initrd.empty() ? "" : " initrd=" + e.initrd));
    e.top_level = submenu_depth_ == 0;
    if (e.menu_default && e.top_level && !e.hidden) menu_.menu_default = e.label;
    menu_.entries.push_back(std::move(e));
  }
};

int tenths(const Setting& s) { return s.set() ? std::atoi(s.value.c_str()) : 0; }

const BootEntry* first_visible(const PxeMenu& m) {
  for (const auto& e : m.entries)
    if (e.top_level && !e.hidden) return &e;
  return nullptr;
}

// A command line (DEFAULT or ONTIMEOUT) as load_kernel() runs it: a label, a menu module, or a file.
void resolve(const PxeMenu& m, BootPlan& plan, const std::string& cmd, const std::string& directive, const Where& at);

// The menu module (com32/menu/readconfig.c parse_configs(), menumain.c): the default entry is
// DEFAULT's label when the config has a UI line, else the last MENU DEFAULT, else the first
// entry; with no TIMEOUT (or 0) and no TOTALTIMEOUT it waits for a key forever.
void plan_menu(const PxeMenu& m, BootPlan& plan) {
  const BootEntry* def = nullptr;
  if (!m.ui.empty() && !m.default_directive.empty())
    if (const BootEntry* e = find_label(m, m.default_directive); e && !e->hidden) def = e, plan.chosen_by = "DEFAULT";
  if (!def && !m.menu_default.empty()) def = find_label(m, m.menu_default), plan.chosen_by = "MENU DEFAULT";
  if (!def && (def = first_visible(m))) plan.chosen_by = "the first label";
  if (!def) {
    plan.stop = "has no labels for the menu " + plan.module + " to show";
    return;
  }
  plan.entry = def;
  if (tenths(m.timeout) <= 0 && tenths(m.totaltimeout) <= 0) {
    plan.waits_forever = true;
    plan.wait_at = m.timeout.set() ? m.timeout.where : plan.module_at;
    plan.stop = "has no timeout (TIMEOUT 0 or none): the " + plan.module + " menu waits forever for a key";
    return;
  }
  if (m.ontimeout.set() && !m.ontimeout.value.empty()) {
    plan.entry = nullptr;
    resolve(m, plan, m.ontimeout.value, "ONTIMEOUT", m.ontimeout.where);
  }
}

void resolve(const PxeMenu& m, BootPlan& plan, const std::string& cmd, const std::string& directive, const Where& at) {
  if (const BootEntry* e = find_label(m, cmd)) {
    plan.entry = e;
    plan.chosen_by = directive;
    return;
  }
  const std::string word = first_word(cmd);
  if (plan.module.empty() && is_menu_module(word)) {
    plan.module = word;
    plan.module_at = at;
    return plan_menu(m, plan);
  }
  plan.image = word;
  plan.image_directive = directive;
  plan.image_at = at;
}

}  // namespace

PxeMenu parse_pxelinux(const std::string& text, const std::string& file, const ReadInclude& read_include) {
  Parser parser(read_include);
  parser.parse(text, file);
  PxeMenu menu = parser.finish();
  menu.file = file;
  return menu;
}

// readconfig.c find_label(): the command's first word against each label with strncmp, so
// "ubuntu" does not find LABEL Ubuntu and Ubuntu20.04 does not find LABEL "Ubuntu20.04".
const BootEntry* find_label(const PxeMenu& menu, const std::string& command_line) {
  const std::string word = first_word(skipspace(command_line));
  for (const auto& e : menu.entries)
    if (e.label == word) return &e;
  return nullptr;
}

bool is_menu_module(const std::string& name) {
  const std::string base = name.substr(name.rfind('/') + 1);
  return base == "menu.c32" || base == "vesamenu.c32";
}

std::vector<std::string> pxelinux_config_paths(const std::string& mac, const std::string& ip) {
  static const std::regex mac_re("^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$");
  if (!std::regex_match(mac, mac_re)) throw std::invalid_argument("'" + mac + "' is not a MAC address");
  std::string m = text::lower(mac);
  std::replace(m.begin(), m.end(), ':', '-');
  std::vector<std::string> paths = {"pxelinux.cfg/01-" + m};
  const auto addr = parse_ipv4(ip);
  if (!addr) throw std::invalid_argument("'" + ip + "' is not an IPv4 address");
  std::string hex;
  for (int shift = 28; shift >= 0; shift -= 4) hex += "0123456789ABCDEF"[*addr >> shift & 15];
  for (std::size_t n = hex.size(); n >= 1; --n) paths.push_back("pxelinux.cfg/" + hex.substr(0, n));
  paths.push_back("pxelinux.cfg/default");
  return paths;
}

// ldlinux.c main(): with UI the module runs at once; with PROMPT 0 (and no Shift held) the
// DEFAULT boots at once, TIMEOUT unused; with PROMPT 1, or no DEFAULT, enter_cmdline() shows
// boot: and on timeout runs ONTIMEOUT, else the DEFAULT — with no timeout it waits forever.
BootPlan plan_boot(const PxeMenu& m) {
  BootPlan plan;
  if (!m.ui.empty()) {
    plan.module = first_word(m.ui);
    plan.module_at = m.ui_at;
    plan_menu(m, plan);
    return plan;
  }
  const bool prompt = tenths(m.prompt) != 0;
  if (!prompt && !m.default_directive.empty()) {
    resolve(m, plan, m.default_directive, "DEFAULT", m.default_at);
    return plan;
  }
  if (tenths(m.timeout) <= 0 && tenths(m.totaltimeout) <= 0) {
    plan.waits_forever = true;
    plan.wait_at = m.timeout.set() ? m.timeout.where : m.prompt.set() ? m.prompt.where : Where{m.file, 1};
    plan.stop = m.default_directive.empty() ? "has no DEFAULT or UI: pxelinux stops at the boot: prompt"
                                            : "has PROMPT 1 and no timeout (TIMEOUT 0 or none): the boot: prompt waits forever";
    return plan;
  }
  if (m.ontimeout.set() && !m.ontimeout.value.empty()) {
    resolve(m, plan, m.ontimeout.value, "ONTIMEOUT", m.ontimeout.where);
  } else if (m.default_directive.empty()) {
    plan.stop = "has no DEFAULT or UI: pxelinux stops at the boot: prompt";
  } else {
    resolve(m, plan, m.default_directive, "DEFAULT", m.default_at);
  }
  return plan;
}

}  // namespace drctl::boot
