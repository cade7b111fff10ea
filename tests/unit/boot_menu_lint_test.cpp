// The pxelinux menu lint: each error with a menu a real pxelinux 6.04 boots wrongly, named by
// the file and line; the ELF reader against readelf; the real modules' DT_NEEDED rule.
#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "boot/elf_needed.hpp"
#include "boot/menu_lint.hpp"
#include "support/run.hpp"

using namespace drctl::boot;
namespace fs = std::filesystem;

namespace {

const fs::path kBiosModules = "/usr/lib/syslinux/modules/bios";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in, "cannot read " << p.string() << " (packages syslinux-common and pxelinux)");
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A PXE server's TFTP tree with the homelab kit's placeholder boot files and a kickstart.
struct Tree {
  std::map<std::string, std::string> files = {{"pxelinux.0", "pxelinux"},          {"ldlinux.c32", "ldlinux"},
                                              {"vesamenu.c32", "vesamenu"},         {"menu.c32", "menu"},
                                              {"Ubuntu20.04/linux", "kernel"},      {"Ubuntu20.04/initrd.gz", "initrd"},
                                              {"ks.cfg", "lang en_US\n"}};
  Serving serving;

  Tree() {
    serving.tftp_root = "/tftpboot";
    serving.servers = {"10.0.10.5", "pxe", "pxe.viktorbarzin.lan"};
    serving.exports = "/tftpboot 10.0.20.0/24(ro,no_subtree_check)\n";
    serving.exists = [](const std::string&) { return false; };
  }
  std::vector<std::string> lint(const std::string& menu) {
    files["pxelinux.cfg/default"] = menu;
    return lint();
  }
  std::vector<std::string> lint() const {
    TftpTree t;
    for (const auto& [rel, content] : files) t.files.insert(rel);
    t.read = [this](const std::string& rel) -> std::optional<std::string> {
      auto it = files.find(rel);
      return it == files.end() ? std::nullopt : std::optional(it->second);
    };
    return lint_tree(t, serving);
  }
};

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// The one error of `errors`, which must name `file_line` and say `what`.
void one_error(const std::vector<std::string>& errors, const std::string& file_line, const std::string& what) {
  INFO(joined(errors));
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].starts_with(file_line + ": "));
  CHECK(errors[0].find(what) != std::string::npos);
  CHECK(errors[0].find('\n') == std::string::npos);
}

const std::string kLabels = "LABEL disk\n  LOCALBOOT 0\nLABEL install\n  KERNEL Ubuntu20.04/linux\n"
                            "  APPEND initrd=Ubuntu20.04/initrd.gz ks=nfs:10.0.10.5:/tftpboot/ks.cfg\n";

}  // namespace

TEST_CASE("boot lint: a sound menu has no errors") {
  Tree t;
  CHECK(joined(t.lint("UI vesamenu.c32\nTIMEOUT 50\nDEFAULT install\n" + kLabels)) == "");
  CHECK(joined(t.lint("DEFAULT install\n" + kLabels)) == "");  // PROMPT 0: DEFAULT boots at once
}

TEST_CASE("boot lint: TIMEOUT 0 at a menu waits forever, and not where nothing waits") {
  Tree t;
  one_error(t.lint("UI vesamenu.c32\nDEFAULT install\nTIMEOUT 0\n" + kLabels), "/tftpboot/pxelinux.cfg/default:3",
            "waits forever at the vesamenu.c32 menu");
  one_error(t.lint("PROMPT 1\nTIMEOUT 0\nDEFAULT install\n" + kLabels), "/tftpboot/pxelinux.cfg/default:2",
            "waits forever at the boot: prompt");
  // No TIMEOUT line is the same as TIMEOUT 0: the error names the line that shows the menu.
  one_error(t.lint("# the menu\nDEFAULT menu.c32\n" + kLabels + "  MENU DEFAULT\n"), "/tftpboot/pxelinux.cfg/default:2",
            "no TIMEOUT and no TOTALTIMEOUT");
  // PROMPT 0 boots DEFAULT at once, and TOTALTIMEOUT ends a menu even with TIMEOUT 0.
  CHECK(t.lint("TIMEOUT 0\nDEFAULT install\n" + kLabels).empty());
  CHECK(t.lint("UI menu.c32\nTIMEOUT 0\nTOTALTIMEOUT 600\nDEFAULT install\n" + kLabels).empty());
}

TEST_CASE("boot lint: several labels and nothing choosing one names the label a real pxelinux boots") {
  Tree t;
  one_error(t.lint("DEFAULT vesamenu.c32\nTIMEOUT 100\n" + kLabels), "/tftpboot/pxelinux.cfg/default:1",
            "a real pxelinux boots the first, 'disk' (/tftpboot/pxelinux.cfg/default line 3)");
  // MENU DEFAULT or ONTIMEOUT choose one.
  CHECK(t.lint("DEFAULT vesamenu.c32\nTIMEOUT 100\n" + kLabels + "  MENU DEFAULT\n").empty());
  CHECK(t.lint("DEFAULT vesamenu.c32\nTIMEOUT 100\nONTIMEOUT install\n" + kLabels).empty());
}

TEST_CASE("boot lint: DEFAULT naming no label, compared as syslinux compares labels") {
  Tree t;
  // The seed's own habit: LABEL "Ubuntu20.04" keeps its quotes, so DEFAULT Ubuntu20.04 is no label.
  const std::string quoted = "DEFAULT Ubuntu20.04\nLABEL \"Ubuntu20.04\"\n  KERNEL Ubuntu20.04/linux\n";
  one_error(t.lint(quoted), "/tftpboot/pxelinux.cfg/default:1",
            "(LABEL \"Ubuntu20.04\" at /tftpboot/pxelinux.cfg/default line 2 is another label");
  one_error(t.lint("DEFAULT Install\n" + kLabels), "/tftpboot/pxelinux.cfg/default:1", "DEFAULT Install names no label");
  // With UI the menu ignores it and says which label it highlights instead.
  one_error(t.lint("UI menu.c32\nTIMEOUT 50\nDEFAULT instal\n" + kLabels + "  MENU DEFAULT\n"),
            "/tftpboot/pxelinux.cfg/default:3", "ignores it and highlights 'install' (MENU DEFAULT)");
  // A DEFAULT naming a file in the tree is a kernel pxelinux loads: no error.
  t.files["memtest"] = "memtest86";
  CHECK(t.lint("DEFAULT memtest\n" + kLabels).empty());
}

TEST_CASE("boot lint: a module, KERNEL, INITRD or initrd= not in the TFTP tree") {
  Tree t;
  t.files.erase("menu.c32");
  one_error(t.lint("UI menu.c32\nTIMEOUT 50\nDEFAULT install\n" + kLabels), "/tftpboot/pxelinux.cfg/default:1",
            "UI menu.c32 is not in the TFTP tree");
  one_error(t.lint("DEFAULT x\nLABEL x\n  KERNEL Ubuntu22.04/linux\n"), "/tftpboot/pxelinux.cfg/default:3",
            "label x: KERNEL Ubuntu22.04/linux is not in the TFTP tree");
  one_error(t.lint("DEFAULT x\nLABEL x\n  LINUX Ubuntu20.04/linux\n  INITRD Ubuntu20.04/initrd.img\n"),
            "/tftpboot/pxelinux.cfg/default:4", "INITRD Ubuntu20.04/initrd.img is not in the TFTP tree");
  one_error(t.lint("DEFAULT x\nLABEL x\n  KERNEL Ubuntu20.04/linux\n  APPEND quiet initrd=Ubuntu20.04/initrd\n"),
            "/tftpboot/pxelinux.cfg/default:4", "initrd=Ubuntu20.04/initrd is not in the TFTP tree");
  one_error(t.lint("DEFAULT x\nLABEL x\n  COM32 pxechn.c32\n"), "/tftpboot/pxelinux.cfg/default:3",
            "COM32 pxechn.c32 is not in the TFTP tree");
  // An INCLUDEd file's mistakes are named by that file and its line.
  t.files["pxelinux.cfg/ubuntu.conf"] = "LABEL y\n  KERNEL gone/linux\n";
  const auto errors = t.lint("DEFAULT x\nINCLUDE pxelinux.cfg/ubuntu.conf\nLABEL x\n  LOCALBOOT 0\n");
  one_error(errors, "/tftpboot/pxelinux.cfg/ubuntu.conf:2", "KERNEL gone/linux");
}

TEST_CASE("boot lint: pxelinux.0 and ldlinux.c32 must be in the tree") {
  Tree t;
  t.files.erase("ldlinux.c32");
  one_error(t.lint("DEFAULT install\n" + kLabels), "/tftpboot/ldlinux.c32", "Failed to load ldlinux.c32");
  t.files["ldlinux.c32"] = "ldlinux";
  t.files.erase("pxelinux.0");
  one_error(t.lint("DEFAULT install\n" + kLabels), "/tftpboot/pxelinux.0", "PXE-E32");
}

TEST_CASE("boot lint: the ELF reader lists DT_NEEDED as readelf does, for the real modules") {
  for (const char* module : {"vesamenu.c32", "menu.c32", "libutil.c32", "ldlinux.c32"}) {
    const fs::path path = kBiosModules / module;
    const auto r = support::run({"readelf", "-d", path.string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    std::vector<std::string> from_readelf;
    static const std::regex needed(R"(\(NEEDED\)\s+Shared library: \[([^\]]+)\])");
    for (std::sregex_iterator it(r.out.begin(), r.out.end(), needed), end; it != end; ++it) from_readelf.push_back((*it)[1]);
    INFO(module);
    const auto ours = elf_needed(slurp(path));
    REQUIRE(ours);
    CHECK(*ours == from_readelf);
  }
  CHECK_FALSE(elf_needed("vesamenu"));  // the homelab kit's placeholders are not ELF
  CHECK_FALSE(elf_needed(slurp("/usr/lib/PXELINUX/pxelinux.0")));
}

TEST_CASE("boot lint: a real vesamenu.c32 without its libraries fails to load, and with them it passes") {
  Tree t;
  t.files["vesamenu.c32"] = slurp(kBiosModules / "vesamenu.c32");
  const std::string menu = "UI vesamenu.c32\nTIMEOUT 50\nDEFAULT install\n" + kLabels;
  const auto errors = t.lint(menu);
  INFO(joined(errors));
  REQUIRE(errors.size() == 2);
  for (const char* lib : {"libutil.c32", "libcom32.c32"})
    CHECK(std::count_if(errors.begin(), errors.end(), [&](const std::string& e) {
            return e.starts_with("/tftpboot/pxelinux.cfg/default:1: vesamenu.c32 needs " + std::string(lib));
          }) == 1);
  for (const char* lib : {"libutil.c32", "libcom32.c32"}) t.files[lib] = slurp(kBiosModules / lib);
  CHECK(joined(t.lint(menu)) == "");
}

TEST_CASE("boot lint: an APPEND whose ks=, url= or ds= the site cannot serve") {
  Tree t;
  auto menu = [](const std::string& append) { return "DEFAULT x\nLABEL x\n  KERNEL Ubuntu20.04/linux\n  APPEND " + append + "\n"; };
  one_error(t.lint(menu("ks=nfs:pxe.example.org:/tftpboot/ks.cfg")), "/tftpboot/pxelinux.cfg/default:4",
            "pxe.example.org is not the PXE server (10.0.10.5, pxe, pxe.viktorbarzin.lan)");
  one_error(t.lint(menu("ks=nfs:pxe.viktorbarzin.lan:/srv/ks.cfg")), "/tftpboot/pxelinux.cfg/default:4",
            "/srv/ks.cfg is under no /etc/exports entry");
  one_error(t.lint(menu("ks=nfs:10.0.10.5:/tftpboot/kickstart.cfg")), "/tftpboot/pxelinux.cfg/default:4",
            "the PXE server has no /tftpboot/kickstart.cfg");
  one_error(t.lint(menu("ks=tftp://10.0.10.5/ks/node.cfg")), "/tftpboot/pxelinux.cfg/default:4",
            "ks/node.cfg is not in the TFTP tree");
  one_error(t.lint(menu("url=http://10.0.10.5/ubuntu.iso")), "/tftpboot/pxelinux.cfg/default:4",
            "the PXE server has no /var/www/html/ubuntu.iso");
  one_error(t.lint(menu("ks=/tftpboot/ks.cfg")), "/tftpboot/pxelinux.cfg/default:4", "no scheme");
  const auto seed = t.lint(menu("autoinstall ds=nocloud-net\\;s=http://10.0.10.5/ubuntu/"));
  INFO(joined(seed));
  REQUIRE(seed.size() == 2);  // user-data and meta-data
  CHECK(seed[0].find("(user-data): the PXE server has no /var/www/html/ubuntu/user-data") != std::string::npos);
  // What the server has: under the TFTP root, or (through `exists`) elsewhere.
  CHECK(t.lint(menu("ks=tftp://pxe/ks.cfg")).empty());
  t.serving.exists = [](const std::string& p) { return p == "/var/www/html/ubuntu.iso"; };
  CHECK(t.lint(menu("url=http://pxe.viktorbarzin.lan/ubuntu.iso")).empty());
}

TEST_CASE("boot lint: only the files a client looks up are linted by themselves") {
  CHECK(is_client_config("pxelinux.cfg/default"));
  CHECK(is_client_config("pxelinux.cfg/01-00-50-56-aa-00-01"));
  CHECK(is_client_config("pxelinux.cfg/0A0014"));
  CHECK_FALSE(is_client_config("pxelinux.cfg/pxe.conf"));
  CHECK_FALSE(is_client_config("pxelinux.cfg/01-00-50-56-AA-00-01"));  // pxelinux asks in lower case
}
