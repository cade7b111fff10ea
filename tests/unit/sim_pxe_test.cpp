#include <doctest/doctest.h>

#include <algorithm>
#include <map>

#include "sim/pxe.hpp"

using namespace drctl::sim;

extern const std::string kSeedKickstart;  // sim_kickstart_test.cpp

namespace {
const std::string kMac = "00:50:56:AA:00:14";
const std::string kIp = "10.0.20.20";
const std::string kPxe = "10.0.10.5";

// The seed's pxelinux.cfg/default, as written.
const std::string kSeedMenu = R"(# --- BEGIN bootstrap settings ---
DEFAULT vesamenu.c32
TIMEOUT 100
PROMPT 0
MENU INCLUDE pxelinux.cfg/pxe.conf
NOESCAPE 1
LABEL BootLocal
localboot 0
TEXT HELP
Boot to local hard disk
ENDTEXT
# --- END bootstrap settings ---
# --- BEGIN Ubuntu20.04 ---
MENU TITLE Ubuntu20.04
LABEL "Ubuntu20.04"
MENU DEFAULT # Set as default option. Last one is applied
MENU LABEL Ubuntu20.04
KERNEL Ubuntu20.04/linux
APPEND method=nfs://pxe.viktorbarzin.lan/tftpboot/Ubuntu20.04 initrd=Ubuntu20.04/initrd.gz ks=nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg hostname=ubuntu2004
MENU END
# --- END Ubuntu20.04 ---
)";

// The PXE server's files, keyed by Location::str().
struct Site {
  std::map<std::string, std::string> files;

  void put(const std::string& tftp_path, const std::string& content = "binary") {
    files["tftp://" + kPxe + "/" + tftp_path] = content;
  }
  void remove(const std::string& tftp_path) { REQUIRE(files.erase("tftp://" + kPxe + "/" + tftp_path) == 1); }
  PxeOutcome boot(const std::string& filename = "pxelinux.0", const Version* ubuntu = nullptr) const {
    return follow_pxe(
        kMac, kIp, kPxe, filename,
        [this](const Location& l) {
          auto it = files.find(l.str());
          return it == files.end() ? Fetched{false, "", "file not found"} : Fetched{true, it->second, ""};
        },
        ubuntu);
  }
};

Site seed_site() {
  Site s;
  for (const char* f : {"pxelinux.0", "ldlinux.c32", "vesamenu.c32", "Ubuntu20.04/linux", "Ubuntu20.04/initrd.gz"})
    s.put(f);
  s.put("pxelinux.cfg/default", kSeedMenu);
  s.files["nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg"] = kSeedKickstart;
  return s;
}

// A site whose default config is `menu`.
Site site_with_menu(const std::string& menu) {
  Site s = seed_site();
  s.put("pxelinux.cfg/default", menu);
  return s;
}

bool in_trail(const PxeOutcome& o, const std::string& entry) {
  return std::find(o.trail.begin(), o.trail.end(), entry) != o.trail.end();
}
}  // namespace

TEST_CASE("sim pxe: the seed's menu and ks.cfg followed end to end") {
  PxeOutcome o = seed_site().boot();
  INFO(o.error);
  REQUIRE(o.ok);
  CHECK_FALSE(o.localboot);
  CHECK(o.config_path == "pxelinux.cfg/default");
  CHECK(o.label == "\"Ubuntu20.04\"");  // syslinux keeps a label's quotes (readconfig.c __refdup_word)
  REQUIRE(o.plan);
  CHECK(o.plan->installer == "kickstart");
  CHECK(o.plan->hostname == "ubuntu2004");  // from APPEND: the kickstart names none
  CHECK(o.plan->users.at(0).name == "wizard");
  CHECK(o.plan->users.at(0).authorized_keys.size() == 1);
  CHECK(o.plan->ssh_server);
  CHECK(o.trail.front() == "tftp://10.0.10.5/pxelinux.0");
  CHECK(o.trail[2] == "tftp://10.0.10.5/pxelinux.cfg/01-00-50-56-aa-00-14 (file not found)");
  CHECK(in_trail(o, "tftp://10.0.10.5/pxelinux.cfg/pxe.conf (file not found)"));  // a missing include is skipped
  CHECK(o.trail.back() == "nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg");
}

TEST_CASE("sim pxe: a missing pxelinux.0 stops the firmware, naming server and file") {
  Site s = seed_site();
  s.remove("pxelinux.0");
  PxeOutcome o = s.boot();
  CHECK_FALSE(o.ok);
  CHECK(o.error == "PXE-E32: TFTP open failed for boot file pxelinux.0: tftp://10.0.10.5/pxelinux.0: file not found");
  CHECK(s.boot("grubx64.efi").error.find("grubx64.efi") != std::string::npos);
}

TEST_CASE("sim pxe: a missing ldlinux.c32 stops pxelinux") {
  Site s = seed_site();
  s.remove("ldlinux.c32");
  CHECK(s.boot().error == "Failed to load ldlinux.c32: tftp://10.0.10.5/ldlinux.c32: file not found");
}

TEST_CASE("sim pxe: a missing vesamenu.c32 stops the menu") {
  Site s = seed_site();
  s.remove("vesamenu.c32");
  CHECK(s.boot().error == "Failed to load COM32 file vesamenu.c32: tftp://10.0.10.5/vesamenu.c32: file not found");
}

TEST_CASE("sim pxe: no config file found names the default path") {
  Site s = seed_site();
  s.remove("pxelinux.cfg/default");
  PxeOutcome o = s.boot();
  CHECK_FALSE(o.ok);
  CHECK(o.error.starts_with("Unable to locate configuration file: none of the 10 pxelinux.cfg files"));
  CHECK(o.error.ends_with("not even pxelinux.cfg/default"));
  CHECK(o.trail.size() == 2 + 10);
}

TEST_CASE("sim pxe: a per-MAC config file is preferred over the default") {
  Site s = seed_site();
  s.put("pxelinux.cfg/01-00-50-56-aa-00-14", "DEFAULT disk\nLABEL disk\n  LOCALBOOT 0\n");
  PxeOutcome o = s.boot();
  CHECK(o.ok);
  CHECK(o.config_path == "pxelinux.cfg/01-00-50-56-aa-00-14");
  CHECK(o.localboot);
  CHECK(o.label == "disk");
  CHECK_FALSE(o.plan);
}

TEST_CASE("sim pxe: DEFAULT naming a label boots it, a menu boots the last MENU DEFAULT or the first label") {
  const std::string labels =
      "LABEL one\n LOCALBOOT 0\n MENU DEFAULT\nLABEL two\n LOCALBOOT 0\n MENU DEFAULT\nLABEL three\n LOCALBOOT 0\n";
  CHECK(site_with_menu("DEFAULT three\n" + labels).boot().label == "three");
  Site text_menu = site_with_menu("DEFAULT menu.c32\nTIMEOUT 50\n" + labels);
  text_menu.put("menu.c32");
  CHECK(text_menu.boot().label == "two");
  CHECK(site_with_menu("UI vesamenu.c32\nTIMEOUT 50\nDEFAULT three\nLABEL one\n LOCALBOOT 0\nLABEL three\n LOCALBOOT 0\n")
            .boot()
            .label == "three");
  CHECK(site_with_menu("DEFAULT vesamenu.c32\nTIMEOUT 50\nLABEL one\n LOCALBOOT 0\nLABEL two\n LOCALBOOT 0\n").boot().label ==
        "one");
}

TEST_CASE("sim pxe: with UI, a DEFAULT naming a label wins over MENU DEFAULT, and ONTIMEOUT over both") {
  // com32/menu/readconfig.c parse_configs(): "Handle global default" runs after every MENU DEFAULT.
  const std::string labels = "LABEL one\n LOCALBOOT 0\n MENU DEFAULT\nLABEL two\n LOCALBOOT 0\n";
  CHECK(site_with_menu("UI vesamenu.c32\nTIMEOUT 50\nDEFAULT two\n" + labels).boot().label == "two");
  CHECK(site_with_menu("UI vesamenu.c32\nTIMEOUT 50\nONTIMEOUT two\n" + labels).boot().label == "two");
}

TEST_CASE("sim pxe: a menu or PROMPT 1 without a timeout waits forever, and the boot says so") {
  PxeOutcome menu = site_with_menu("UI vesamenu.c32\nTIMEOUT 0\nLABEL one\n LOCALBOOT 0\n").boot();
  CHECK_FALSE(menu.ok);
  CHECK(menu.error ==
        "pxelinux.cfg/default has no timeout (TIMEOUT 0 or none): the vesamenu.c32 menu waits forever for a key");
  CHECK(site_with_menu("PROMPT 1\nDEFAULT one\nLABEL one\n LOCALBOOT 0\n").boot().error ==
        "pxelinux.cfg/default has PROMPT 1 and no timeout (TIMEOUT 0 or none): the boot: prompt waits forever");
  // PROMPT 0 (the default) boots DEFAULT at once: TIMEOUT plays no part.
  CHECK(site_with_menu("TIMEOUT 0\nDEFAULT one\nLABEL one\n LOCALBOOT 0\n").boot().label == "one");
}

TEST_CASE("sim pxe: labels are compared byte for byte, quotes and case included") {
  CHECK(site_with_menu("DEFAULT Ubuntu20.04\nLABEL \"Ubuntu20.04\"\n LOCALBOOT 0\n").boot().error ==
        "pxelinux.cfg/default: DEFAULT names 'Ubuntu20.04', which is no label there");
  CHECK(site_with_menu("DEFAULT \"Ubuntu20.04\"\nLABEL \"Ubuntu20.04\"\n LOCALBOOT 0\n").boot().ok);
}

TEST_CASE("sim pxe: DEFAULT naming an unknown label is an error naming it") {
  PxeOutcome o = site_with_menu("DEFAULT ubuntu\nLABEL Ubuntu20.04\n LOCALBOOT 0\n").boot();
  CHECK_FALSE(o.ok);
  CHECK(o.error == "pxelinux.cfg/default: DEFAULT names 'ubuntu', which is no label there");
  CHECK(site_with_menu("LABEL a\n LOCALBOOT 0\n").boot().error ==
        "pxelinux.cfg/default has no DEFAULT or UI: pxelinux stops at the boot: prompt");
}

TEST_CASE("sim pxe: a missing kernel names the file and the label") {
  Site s = seed_site();
  s.remove("Ubuntu20.04/linux");
  CHECK(s.boot().error ==
        "label '\"Ubuntu20.04\"' (pxelinux.cfg/default line 15): cannot load kernel Ubuntu20.04/linux: "
        "tftp://10.0.10.5/Ubuntu20.04/linux: file not found");
}

TEST_CASE("sim pxe: a missing initrd names the file and the label") {
  Site s = seed_site();
  s.remove("Ubuntu20.04/initrd.gz");
  CHECK(s.boot().error ==
        "label '\"Ubuntu20.04\"' (pxelinux.cfg/default line 15): cannot load initrd Ubuntu20.04/initrd.gz: "
        "tftp://10.0.10.5/Ubuntu20.04/initrd.gz: file not found");
}

TEST_CASE("sim pxe: a ks= path that cannot be read names the location and the fetch error") {
  Site s = seed_site();
  s.files.erase("nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg");
  PxeOutcome o = s.boot();
  CHECK_FALSE(o.ok);
  CHECK(o.error.ends_with(": cannot read kickstart nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg: file not found"));
}

TEST_CASE("sim pxe: a malformed ks= location is an error naming it") {
  Site s = site_with_menu("DEFAULT u\nLABEL u\n KERNEL linux\n APPEND ks=/tftpboot/ks.cfg\n");
  s.put("linux");
  CHECK(s.boot().error == "label 'u' (pxelinux.cfg/default line 2): ks=: cannot read location '/tftpboot/ks.cfg': "
                          "no scheme (expected nfs:, http:// or tftp://)");
}

TEST_CASE("sim pxe: a kickstart that does not parse names the location and the line") {
  Site s = seed_site();
  s.files["nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg"] = "lang en_US\n%final\n";
  CHECK(s.boot().error.ends_with(
      ": kickstart nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg line 2: %final reserved for internal use"));
  // A misspelt command is only logged by kickseed: the install goes on without it.
  s.files["nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg"] = "lang en_US\nkeybaord us\n";
  const PxeOutcome o = s.boot();
  REQUIRE(o.plan);
  CHECK(o.plan->warnings == std::vector<std::string>{"2: Unrecognised kickstart command: keybaord"});
}

namespace {
const std::string kAutoinstallMenu = R"(DEFAULT focal
LABEL focal
  KERNEL focal/vmlinuz
  INITRD focal/initrd
  APPEND ip=dhcp autoinstall ds=nocloud-net\;s=http://10.0.10.5/ubuntu/ hostname=fallback ---
)";
const std::string kUserData =
    "#cloud-config\nautoinstall:\n  version: 1\n  identity: {hostname: k8s-node3, username: wizard, password: x}\n";

Site autoinstall_site() {
  Site s = site_with_menu(kAutoinstallMenu);
  s.put("focal/vmlinuz");
  s.put("focal/initrd");
  s.files["http://10.0.10.5/ubuntu/user-data"] = kUserData;
  s.files["http://10.0.10.5/ubuntu/meta-data"] = "";
  return s;
}
}  // namespace

TEST_CASE("sim pxe: Ubuntu autoinstall followed through a nocloud-net seed") {
  PxeOutcome o = autoinstall_site().boot();
  INFO(o.error);
  REQUIRE(o.ok);
  REQUIRE(o.plan);
  CHECK(o.plan->installer == "autoinstall");
  CHECK(o.plan->hostname == "k8s-node3");
  CHECK(o.trail.back() == "http://10.0.10.5/ubuntu/user-data");

  Site without_flag = autoinstall_site();
  std::string menu = kAutoinstallMenu;
  without_flag.put("pxelinux.cfg/default", menu.erase(menu.find(" autoinstall"), 12));
  CHECK(without_flag.boot().error.find("ds= without 'autoinstall'") != std::string::npos);
}

TEST_CASE("sim pxe: autoinstall without meta-data fails naming it") {
  Site s = autoinstall_site();
  s.files.erase("http://10.0.10.5/ubuntu/meta-data");
  PxeOutcome o = s.boot();
  CHECK_FALSE(o.ok);
  CHECK(o.error.ends_with("cannot read http://10.0.10.5/ubuntu/meta-data: file not found"));
}

TEST_CASE("sim pxe: a kernel without ks= or ds= has no automated answers") {
  Site s = site_with_menu("DEFAULT u\nLABEL u\n KERNEL linux\n APPEND quiet\n");
  s.put("linux");
  CHECK(s.boot().error ==
        "label 'u' (pxelinux.cfg/default line 2): no automated installer answers (no ks= or autoinstall ds=)");
}

TEST_CASE("sim pxe: pxelinux's config search order") {
  auto paths = pxelinux_config_paths("00:50:56:AA:00:14", "10.0.20.20");
  REQUIRE(paths.size() == 10);
  CHECK(paths[0] == "pxelinux.cfg/01-00-50-56-aa-00-14");
  CHECK(paths[1] == "pxelinux.cfg/0A001414");
  CHECK(paths[2] == "pxelinux.cfg/0A00141");
  CHECK(paths[8] == "pxelinux.cfg/0");
  CHECK(paths[9] == "pxelinux.cfg/default");
  CHECK_THROWS_AS(pxelinux_config_paths("00:50:56:AA:00", "10.0.20.20"), std::invalid_argument);
}

TEST_CASE("sim pxe: reading a pxelinux.cfg") {
  PxeMenu m = parse_pxelinux(kSeedMenu);
  CHECK(m.default_directive == "vesamenu.c32");
  CHECK(m.menu_default == "\"Ubuntu20.04\"");
  CHECK(m.includes == std::vector<std::string>{"pxelinux.cfg/pxe.conf"});
  REQUIRE(m.entries.size() == 2);
  CHECK(m.entries[0].label == "BootLocal");
  CHECK(m.entries[0].localboot);
  CHECK(m.entries[1].kernel == "Ubuntu20.04/linux");
  CHECK(m.entries[1].initrds == std::vector<std::string>{"Ubuntu20.04/initrd.gz"});
  CHECK(m.entries[1].line == 15);
  // INITRD goes after APPEND on the command line and the kernel loader reads the first initrd=
  // only (ldlinux/kernel.c: strstr(cmdline, "initrd=")).
  PxeMenu both = parse_pxelinux("label x\n linux vmlinuz\n initrd a.img\n append initrd=b.img,c.img quiet\n");
  CHECK(both.entries[0].initrds == std::vector<std::string>{"b.img", "c.img"});
  CHECK(parse_pxelinux("label x\n linux vmlinuz\n initrd a.img,d.img\n").entries[0].initrds ==
        std::vector<std::string>{"a.img", "d.img"});
}

TEST_CASE("sim pxe: reading a location") {
  Location nfs = parse_location("nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg");
  CHECK(nfs.scheme == "nfs");
  CHECK(nfs.server == "pxe.viktorbarzin.lan");
  CHECK(nfs.path == "/tftpboot/ks.cfg");
  CHECK(parse_location("nfs://pxe.viktorbarzin.lan/tftpboot/ks.cfg").str() == nfs.str());
  Location http = parse_location("http://10.0.10.5:8080/ubuntu/user-data");
  CHECK(http.port == 8080);
  CHECK(http.path == "/ubuntu/user-data");
  CHECK(http.str() == "http://10.0.10.5:8080/ubuntu/user-data");
  CHECK(parse_location("tftp://10.0.10.5/pxelinux.0").path == "pxelinux.0");
  CHECK_THROWS_WITH_AS(parse_location("cdrom:/ks.cfg"),
                       "cannot read location 'cdrom:/ks.cfg': unknown scheme 'cdrom' (expected nfs, http or tftp)",
                       std::invalid_argument);
  CHECK_THROWS_AS(parse_location("nfs:server"), std::invalid_argument);
  CHECK_THROWS_AS(parse_location("http://10.0.10.5:99999/x"), std::invalid_argument);
  CHECK_THROWS_AS(parse_location("http:///x"), std::invalid_argument);
}

TEST_CASE("sim pxe: Ubuntu 22.04 has no debian-installer, so a ks= boot waits at the installer's first screen") {
  // 20.04 (the site's default) installs from the seed's kickstart; 22.04's installer is subiquity,
  // which reads autoinstall only (Steve Langasek, ubuntu-devel, 2023-02-24: "mini.iso dropped out of
  // the archive as part of an explicit decision to discontinue support for d-i/udebs").
  const Site s = seed_site();
  const Version focal = parse_version("20.04"), jammy = parse_version("22.04");
  CHECK(s.boot("pxelinux.0", &focal).ok);
  const PxeOutcome o = s.boot("pxelinux.0", &jammy);
  CHECK_FALSE(o.ok);
  CHECK(o.error == "label '\"Ubuntu20.04\"' (pxelinux.cfg/default line 15): ks=nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg: "
                   "Ubuntu 22.04 has no debian-installer to read a kickstart (its installer, subiquity, reads only "
                   "autoinstall): the installer ignores ks= and waits at its first screen");
  // An autoinstall boot is what 22.04 installs from.
  const PxeOutcome a = autoinstall_site().boot("pxelinux.0", &jammy);
  CHECK(a.ok);
  REQUIRE(a.plan);
  CHECK(a.plan->installer == "autoinstall");
}
