// A real network boot of a homelab node through what the rebuild lays out: the PXE server's
// steps of runbooks/homelab/rebuild.yaml run for real over SSH against a PXE server in a
// network namespace (tests/support/pxe_lab.hpp), then qemu boots the node's MAC from the
// network: iPXE, DHCP from the dnsmasq configuration drctl rendered, pxelinux.0 and the menu over
// TFTP from tftpd-hpa, Debian's kernel and the test's initramfs, which fetches the kickstart that
// `ks=` names over NFS and prints the host name and the authorized key's SHA-256. Both are
// compared with the site. The site is the homelab's with its addresses moved into the test's
// namespace and dnsmasq on the PXE server as its DHCP server; its boot kit holds real files.
#include <doctest/doctest.h>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/pxe_lab.hpp"
#include "support/run.hpp"

namespace {

namespace fs = std::filesystem;
using namespace support;

fs::path homelab() { return fs::path(DRCTL_SOURCE_DIR) / "runbooks/homelab"; }

/// `text` with every `from` replaced; throws when there is none (the homelab changed under the test).
std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  std::size_t at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("the homelab no longer has '" + from + "'");
  for (; at != std::string::npos; at = text.find(from, at + to.size())) text.replace(at, from.size(), to);
  return text;
}

/// A copy of the homelab runbooks whose site lives in the lab: the management and cluster
/// networks moved to TEST-NET-2 and -3, DHCP served by dnsmasq on the PXE server, and a boot
/// kit of real files (syslinux's, Debian's kernel, the test's initramfs) under the names the
/// site's boot_files give.
fs::path lab_runbooks(const PxeLab& lab) {
  const fs::path dir = lab.dir() / "homelab";
  fs::copy(homelab(), dir, fs::copy_options::recursive);
  std::string site = read_file(dir / "site.yaml");
  site = replace_all(site, "10.0.10.", "198.51.100.");
  site = replace_all(site, "10.0.20.", "203.0.113.");
  site = replace_all(site, "dhcp: {kind: pfsense, host: pfsense}", "dhcp: {kind: dnsmasq, host: pxe}");
  write_file(dir / "site.yaml", site);

  const fs::path tftp = dir / "kit/tftpboot";
  for (const auto& item : YAML::LoadFile((dir / "site.yaml").string())["vars"]["boot_files"]) {
    const std::string name = item.as<std::string>();
    const fs::path to = tftp / name;
    fs::remove(to);
    if (name == "pxelinux.0") fs::copy_file("/usr/lib/PXELINUX/pxelinux.0", to);
    else if (to.extension() == ".c32") fs::copy_file("/usr/lib/syslinux/modules/bios/" + to.filename().string(), to);
    else if (to.filename() == "linux") fs::copy_file(PxeLab::kit() / "vmlinuz", to);
    else if (to.filename() == "initrd.gz") {
      const RunResult r = run({(PxeLab::scripts() / "build-initramfs").string(), to.string(), (PxeLab::kit() / "modules").string()});
      if (r.exit_code != 0) throw std::runtime_error("build-initramfs: " + r.describe());
    } else
      throw std::runtime_error("the test has no real file for boot_files entry " + name);
  }
  return dir;
}

/// The PXE server's steps of the rebuild, run for real over SSH from inside the lab.
RunResult run_pxe_steps(const PxeLab& lab, const fs::path& runbooks) {
  std::vector<std::string> argv = lab.in(drctl_argv({"run", (runbooks / "rebuild.yaml").string(), "--ssh-config",
                                                     lab.ssh_config().string(), "--state", (lab.dir() / "state").string()}));
  for (const char* step : {"tftp-root", "nfs-export", "boot-files", "dhcp-server", "dhcp-config", "pxe-config"})
    argv.insert(argv.end(), {"--only", step});
  return run(argv);
}

/// The site's MAC for `host` and the SHA-256 of the key the kickstart must authorize, read
/// from the site's own files.
std::string mac_of(const fs::path& runbooks, const std::string& host) {
  return YAML::LoadFile((runbooks / "site.yaml").string())["hosts"][host]["vm"]["nics"][0]["mac"].as<std::string>();
}
std::string address_of(const fs::path& runbooks, const std::string& host) {
  return YAML::LoadFile((runbooks / "site.yaml").string())["hosts"][host]["address"].as<std::string>();
}
std::string site_key_sha256(const fs::path& runbooks) {
  return oracle_sha256_hex(YAML::LoadFile((runbooks / "secrets.yaml").string())["ssh_key"].as<std::string>());
}

}  // namespace

TEST_CASE("a homelab node boots from the network for real through what the rebuild rendered, as itself") {
  PxeLab lab;
  const fs::path runbooks = lab_runbooks(lab);
  const RunResult steps = run_pxe_steps(lab, runbooks);
  INFO(steps.describe());
  REQUIRE(steps.exit_code == 0);

  const std::string serial = lab.boot(mac_of(runbooks, "k8s-master"));
  INFO("serial console:\n" << serial);
  CHECK(serial.find("PXELINUX") != std::string::npos);  // through pxelinux and the menu, not a shortcut
  // DHCP from the dnsmasq configuration drctl rendered: the address the site reserves for this MAC.
  CHECK(PxeLab::reported(serial, "address").rfind(address_of(runbooks, "k8s-master") + " ", 0) == 0);
  CHECK(PxeLab::reported(serial, "hostname") == "k8s-master");
  CHECK(PxeLab::reported(serial, "key-sha256") == site_key_sha256(runbooks));
  CHECK(serial.find("drctl-boot: done") != std::string::npos);

  {  // the host key the node installs is the one drctl trusted before the boot, as ssh-keygen reads both
    const std::string ks = read_file(lab.server_root() / "tftpboot/ks/k8s-master.cfg");
    const auto begin = ks.find("-----BEGIN OPENSSH PRIVATE KEY-----"), end = ks.find("-----END OPENSSH PRIVATE KEY-----");
    REQUIRE(begin != std::string::npos);
    REQUIRE(end != std::string::npos);
    write_file(lab.dir() / "node_key", ks.substr(begin, end - begin) + "-----END OPENSSH PRIVATE KEY-----\n", 0600);
    const RunResult pub = run({"ssh-keygen", "-y", "-f", (lab.dir() / "node_key").string()});
    REQUIRE_MESSAGE(pub.exit_code == 0, pub.describe());
    const std::string key = pub.out.substr(0, pub.out.find(' ', pub.out.find(' ') + 1));  // "ssh-ed25519 BASE64"
    CHECK(PxeLab::reported(serial, "host-key").rfind(key, 0) == 0);
    const RunResult known = run({"ssh-keygen", "-F", address_of(runbooks, "k8s-master"), "-f", (lab.dir() / "known_hosts").string()});
    CHECK_MESSAGE(known.out.find(key) != std::string::npos, known.describe());
  }

  {  // the check has teeth: with a wrong per-MAC file the node boots as the host that file names
    const fs::path cfg = lab.server_root() / "tftpboot/pxelinux.cfg";
    const std::string master = "01-" + std::regex_replace(mac_of(runbooks, "k8s-master"), std::regex(":"), "-");
    const std::string node1 = "01-" + std::regex_replace(mac_of(runbooks, "k8s-node1"), std::regex(":"), "-");
    fs::copy_file(cfg / node1, cfg / master, fs::copy_options::overwrite_existing);
    const std::string wrong = lab.boot(mac_of(runbooks, "k8s-master"));
    INFO("serial console:\n" << wrong);
    CHECK(PxeLab::reported(wrong, "hostname") == "k8s-node1");
  }
}

TEST_CASE("without the tftpd-hpa restart the rebuild's files are there but a real boot stops at TFTP") {
  // tftpd-hpa reads /etc/default/tftpd-hpa when it starts: left running, it keeps serving
  // /srv/tftp, as the simulator's drill of the same runbook reports (drill_test.cpp).
  PxeLab lab;
  const fs::path runbooks = lab_runbooks(lab);
  const std::string rebuild = read_file(runbooks / "rebuild.yaml");
  const std::string restart = "      then: mkdir -p /tftpboot && systemctl restart tftpd-hpa";
  const auto at = rebuild.find(restart);
  REQUIRE(at != std::string::npos);
  write_file(runbooks / "rebuild.yaml", rebuild.substr(0, at) + rebuild.substr(rebuild.find('\n', at) + 1));
  const RunResult steps = run_pxe_steps(lab, runbooks);
  INFO(steps.describe());
  REQUIRE(steps.exit_code == 0);  // every file is where the rebuild puts it
  CHECK(fs::exists(lab.server_root() / "tftpboot/pxelinux.0"));

  const std::string serial = lab.boot(mac_of(runbooks, "k8s-master"));
  INFO("serial console:\n" << serial);
  CHECK(serial.find("pxelinux.0... No such file or directory") != std::string::npos);
  CHECK(serial.find("PXELINUX") == std::string::npos);
  CHECK(PxeLab::reported(serial, "hostname").empty());
}
