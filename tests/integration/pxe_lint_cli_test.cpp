// `drctl pxe lint` against TFTP trees on disk: the homelab kit with its menus passes; a broken
// menu and a real vesamenu.c32 without its libraries fail with FILE:LINE lines and exit 1; bad
// arguments exit 2.
#include <doctest/doctest.h>

#include <filesystem>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

namespace fs = std::filesystem;

namespace {

fs::path repo() { return fs::path(__FILE__).parent_path().parent_path().parent_path(); }

// The homelab kit's tree with its menu, one node's entry (as pxe.render renders them) and a kickstart.
struct KitTree {
  support::TempDir tmp{"pxe-lint"};
  fs::path root = tmp.path() / "tftpboot";
  fs::path exports = tmp.path() / "exports";

  KitTree() {
    fs::copy(repo() / "runbooks/homelab/kit/tftpboot", root, fs::copy_options::recursive);
    fs::create_directories(root / "pxelinux.cfg");
    support::write_file(root / "pxelinux.cfg/default",
                        support::read_file(repo() / "runbooks/homelab/templates/pxelinux-default.mustache"));
    support::write_file(root / "pxelinux.cfg/01-00-50-56-aa-00-01",
                        "DEFAULT install\nLABEL install\nKERNEL Ubuntu20.04/linux\nAPPEND initrd=Ubuntu20.04/initrd.gz "
                        "ks=nfs:pxe.viktorbarzin.lan:/tftpboot/ks.cfg hostname=k8s-master\n");
    support::write_file(root / "ks.cfg", "lang en_US\n");
    support::write_file(exports, "/tftpboot 10.0.20.0/24(ro,no_subtree_check)\n");
  }
  support::RunResult lint(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args = {"pxe", "lint", root.string(), "--exports", exports.string(), "--served-as",
                                     "/tftpboot", "--server", "10.0.10.5", "--server", "pxe.viktorbarzin.lan"};
    args.insert(args.end(), extra.begin(), extra.end());
    return support::drctl(args);
  }
};

}  // namespace

TEST_CASE("pxe lint cli: the homelab kit with its own menus passes") {
  KitTree t;
  const auto r = t.lint();
  INFO(r.describe());
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("no menu lint errors") != std::string::npos);
}

TEST_CASE("pxe lint cli: each error is one FILE:LINE line on stdout, and the exit code is 1") {
  KitTree t;
  support::write_file(t.root / "pxelinux.cfg/default", "DEFAULT ubuntu\nLABEL \"Ubuntu20.04\"\nKERNEL Ubuntu20.04/vmlinuz\n");
  const auto r = t.lint();
  INFO(r.describe());
  CHECK(r.exit_code == 1);
  const auto lines = r.out_lines();
  REQUIRE(lines.size() == 2);
  const std::string file = t.root.string() + "/pxelinux.cfg/default";
  CHECK(lines[0].starts_with(file + ":1: DEFAULT ubuntu names no label"));
  CHECK(lines[1].starts_with(file + ":3: label \"Ubuntu20.04\": KERNEL Ubuntu20.04/vmlinuz is not in the TFTP tree"));
  CHECK(r.err.find("2 menu lint error(s)") != std::string::npos);
}

TEST_CASE("pxe lint cli: the real pxelinux.0, ldlinux.c32 and vesamenu.c32 without libutil.c32 and libcom32.c32") {
  KitTree t;
  const fs::path bios = "/usr/lib/syslinux/modules/bios";
  fs::copy_file("/usr/lib/PXELINUX/pxelinux.0", t.root / "pxelinux.0", fs::copy_options::overwrite_existing);
  for (const char* m : {"ldlinux.c32", "vesamenu.c32"}) fs::copy_file(bios / m, t.root / m, fs::copy_options::overwrite_existing);
  for (const char* m : {"libutil.c32", "libcom32.c32"}) fs::remove(t.root / m);  // the kit's placeholders
  auto r = t.lint();
  INFO(r.describe());
  CHECK(r.exit_code == 1);
  CHECK(r.out.find(":2: vesamenu.c32 needs libutil.c32 (ELF DT_NEEDED)") != std::string::npos);
  CHECK(r.out.find(":2: vesamenu.c32 needs libcom32.c32 (ELF DT_NEEDED)") != std::string::npos);
  for (const char* m : {"libutil.c32", "libcom32.c32"}) fs::copy_file(bios / m, t.root / m);
  r = t.lint();
  CHECK(r.exit_code == 0);
}

TEST_CASE("pxe lint cli: a server the kernel lines do not use, and bad arguments") {
  KitTree t;
  auto r = support::drctl({"pxe", "lint", t.root.string(), "--exports", t.exports.string(), "--served-as", "/tftpboot",
                           "--server", "10.0.10.5"});
  CHECK(r.exit_code == 1);
  CHECK(r.out.find("pxe.viktorbarzin.lan is not the PXE server (10.0.10.5)") != std::string::npos);
  r = support::drctl({"pxe", "lint", (t.tmp.path() / "nowhere").string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("drctl: error: ") == 0);
  CHECK(support::drctl({"pxe", "lint"}).exit_code == 2);
}
