// Test support: a real network boot. One network namespace the test makes holds a bridge with
// the PXE server's address (198.51.100.5, TEST-NET-2) and the nodes' gateway (203.0.113.1,
// TEST-NET-3), and a tap device for the VM. The PXE server (tests/support/pxe/pxe-server) is a
// machine of its own inside it: its own mount and PID namespaces and root, sshd for drctl,
// tftpd-hpa, an NFS server and dnsmasq, started the way Debian starts them. A VM (qemu, TCG,
// e1000) boots from the network there and writes its serial console to a file. Nothing leaves
// the namespace. The destructor kills what it started (the PXE server's PID namespace goes with
// its first process) and deletes the namespace. Needs root. Header-only.
#pragma once
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

namespace support {

class PxeLab {
 public:
  static constexpr const char* kServer = "198.51.100.5";
  static constexpr const char* kNodeGateway = "203.0.113.1";

  /// The tools and files the lab needs; throws naming what is missing and how to get it.
  static std::filesystem::path kit() {
    const std::filesystem::path kit = DRCTL_PXE_KIT;
    for (const auto& need : {kit / "vmlinuz", kit / "tftpd-hpa/in.tftpd", kit / "modules/e1000.ko"})
      if (!std::filesystem::exists(need))
        throw std::runtime_error(need.string() + " is missing: run tools/setup --tests (it fetches the PXE kit)");
    for (const char* tool : {"/usr/bin/qemu-system-x86_64", "/usr/sbin/dnsmasq", "/usr/bin/ganesha.nfsd",
                             "/usr/lib/PXELINUX/pxelinux.0", "/usr/lib/syslinux/modules/bios/ldlinux.c32", "/bin/busybox"})
      if (!std::filesystem::exists(tool)) throw std::runtime_error(std::string(tool) + " is missing: run tools/setup --tests");
    return kit;
  }

  PxeLab() : ns_("drctl-" + std::to_string(::getpid()) + "-pxe"), dir_("pxe-lab") {
    const auto kit_dir = kit();
    try {
      ip({"netns", "add", ns_});
      made_ = true;
      ip({"-n", ns_, "link", "set", "lo", "up"});
      ip({"-n", ns_, "link", "add", "br0", "type", "bridge"});
      ip({"-n", ns_, "addr", "add", std::string(kServer) + "/24", "dev", "br0"});
      ip({"-n", ns_, "addr", "add", std::string(kNodeGateway) + "/24", "dev", "br0"});
      ip({"-n", ns_, "addr", "add", "fd00:5::1/64", "dev", "br0"});  // for dnsmasq's router advertisements
      ip({"-n", ns_, "tuntap", "add", "dev", "tap0", "mode", "tap"});
      ip({"-n", ns_, "link", "set", "tap0", "master", "br0"});
      ip({"-n", ns_, "link", "set", "tap0", "up"});
      ip({"-n", ns_, "link", "set", "br0", "up"});
      const RunResult key = run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "drctl-test-client", "-f", (dir() / "client_ed25519").string()});
      if (key.exit_code != 0) throw std::runtime_error("ssh-keygen: " + key.describe());
      server_ = std::make_unique<Process>(std::vector<std::string>{"ip", "netns", "exec", ns_, scripts().string() + "/pxe-server",
                                                                   dir().string(), kit_dir.string(), kServer});
      wait_for_server();
      write_file(dir() / "known_hosts", std::string(kServer) + " " + read_file(dir() / "host_ed25519.pub"), 0600);
      write_file(dir() / "ssh_config",
                 "Host *\n  IdentityFile " + (dir() / "client_ed25519").string() + "\n  UserKnownHostsFile " +
                     (dir() / "known_hosts").string() + "\n  StrictHostKeyChecking yes\n  ConnectTimeout 10\n",
                 0600);
    } catch (...) {
      stop();
      throw;
    }
  }
  ~PxeLab() { stop(); }
  PxeLab(const PxeLab&) = delete;
  PxeLab& operator=(const PxeLab&) = delete;

  const std::filesystem::path& dir() const { return dir_.path(); }
  /// The PXE server's root as its processes see it ("/" inside); its /etc is an overlay that
  /// only they see, but /tftpboot and the rest are plain directories here.
  std::filesystem::path server_root() const { return dir() / "root"; }
  /// Its /etc as drctl changed it (the overlay's upper layer).
  std::filesystem::path server_etc_changes() const { return dir() / "upper/etc"; }
  std::filesystem::path ssh_config() const { return dir() / "ssh_config"; }
  static std::filesystem::path scripts() { return std::filesystem::path(DRCTL_SOURCE_DIR) / "tests/support/pxe"; }

  /// argv run inside the lab's namespace.
  std::vector<std::string> in(std::vector<std::string> argv) const {
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns_});
    return argv;
  }

  /// What one network boot of a VM with `mac` printed on its serial console, up to the test's
  /// initramfs powering off ("drctl-boot: done" or "drctl-boot: error: …"), iPXE giving up, or
  /// pxelinux stopping at its prompt; at most `limit`.
  std::string boot(const std::string& mac, std::chrono::seconds limit = std::chrono::seconds(150)) {
    const auto serial = dir() / ("serial-" + std::to_string(++boots_) + ".log");
    Process vm(in({"qemu-system-x86_64", "-accel", "tcg", "-m", "256", "-nographic", "-monitor", "none",
                   "-serial", "file:" + serial.string(), "-no-reboot", "-boot", "n", "-netdev",
                   "tap,id=n0,ifname=tap0,script=no,downscript=no", "-device", "e1000,netdev=n0,mac=" + mac}));
    const auto end = std::chrono::steady_clock::now() + limit;
    std::string text;
    while (std::chrono::steady_clock::now() < end) {
      text = std::filesystem::exists(serial) ? read_file(serial) : "";
      if (finished(text) || !vm.running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    vm.kill_after(std::chrono::milliseconds(0));
    return std::filesystem::exists(serial) ? read_file(serial) : text;
  }

  /// The value of the initramfs's "drctl-boot: KEY: VALUE" line ("" when it printed none).
  static std::string reported(const std::string& serial, const std::string& key) {
    const std::string tag = "drctl-boot: " + key + ": ";
    const auto at = serial.find(tag);
    if (at == std::string::npos) return "";
    const auto end = serial.find_first_of("\r\n", at);
    return serial.substr(at + tag.size(), end == std::string::npos ? std::string::npos : end - at - tag.size());
  }

 private:
  static bool finished(const std::string& serial) {
    return serial.find("drctl-boot: done") != std::string::npos || serial.find("drctl-boot: error") != std::string::npos ||
           serial.find("No more network devices") != std::string::npos || serial.find("\nboot: ") != std::string::npos;
  }

  static void ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    const RunResult r = run(args);
    if (r.exit_code != 0)
      throw std::runtime_error("the test's network could not be made (network namespaces need root): " + r.describe());
  }

  void wait_for_server() {
    const auto log = server_root() / "var/log/sshd.log";
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < end) {
      if (std::filesystem::exists(log) && read_file(log).find("Server listening on") != std::string::npos) return;
      if (!server_->running()) throw std::runtime_error("the PXE server did not start: " + server_->wait().describe());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("the PXE server's sshd did not listen within 60 s");
  }

  void stop() {
    server_.reset();  // SIGKILLs the PXE server's first process: its PID namespace ends with it
    if (!made_) return;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < end && !run({"ip", "netns", "pids", ns_}).out.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    run({"ip", "netns", "del", ns_});
    made_ = false;
  }

  std::string ns_;
  TempDir dir_;
  bool made_ = false;
  int boots_ = 0;
  std::unique_ptr<Process> server_;
};

}  // namespace support
