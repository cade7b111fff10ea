// LibvirtHypervisor's disk streams against a real libvirtd (Debian's libvirt-daemon): a session
// daemon the test starts as an unprivileged user with every directory (runtime, config, cache)
// under the test's own, reached through its socket (?socket=), a `dir` pool there too. No
// systemd, nothing under /run or /var. The test driver refuses virStorageVolDownload/Upload, so
// this is where the disk round trip is real; the oracle is the volume's file itself.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "support/run.hpp"
#include "world/real/libvirt_hypervisor.hpp"

using namespace drctl;
namespace fs = std::filesystem;

namespace {

/// A private libvirtd for one test; stopped (SIGTERM, then its group SIGKILLed) when it ends.
struct Libvirtd {
  fs::path dir;
  std::unique_ptr<support::Process> process;
  std::string uri;

  Libvirtd() {
    char tmpl[] = "/tmp/drctl-libvirtd-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    dir = tmpl;
    fs::create_directories(dir / "pool");
    support::RunOptions opt;
    // As root the daemon would use /run/libvirt and /var/lib/libvirt: run it as nobody, whose
    // session daemon keeps everything under the XDG directories given here.
    if (geteuid() == 0) {
      opt.uid = 65534;
      opt.gid = 65534;
      for (const auto& p : fs::recursive_directory_iterator(dir)) REQUIRE(chown(p.path().c_str(), 65534, 65534) == 0);
      REQUIRE(chown(dir.c_str(), 65534, 65534) == 0);
    }
    opt.env = {{"HOME", dir.string()}, {"XDG_RUNTIME_DIR", (dir / "run").string()},
               {"XDG_CONFIG_HOME", (dir / "config").string()}, {"XDG_CACHE_HOME", (dir / "cache").string()}};
    opt.cwd = dir.string();
    process = std::make_unique<support::Process>(std::vector<std::string>{"/usr/sbin/libvirtd"}, opt);
    fs::path sock = dir / "run/libvirt/libvirt-sock";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!fs::exists(sock) && process->running() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    REQUIRE_MESSAGE(fs::exists(sock), "libvirtd did not start: " << process->err_so_far());
    uri = "qemu:///session?socket=" + sock.string();
  }
  ~Libvirtd() {
    process->signal(SIGTERM);
    process->wait(std::chrono::seconds(20));
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void virsh(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"virsh", "-q", "-c", uri};
    argv.insert(argv.end(), args.begin(), args.end());
    support::RunResult r = support::run(argv);
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  }
};

std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("libvirtd: a VM's disk written and read back through volume upload and download") {
  Libvirtd daemon;
  daemon.virsh({"pool-define-as", "default", "dir", "--target", (daemon.dir / "pool").string()});
  daemon.virsh({"pool-start", "default"});
  fs::path net_xml = daemon.dir / "net.xml";
  std::ofstream(net_xml) << "<network><name>cluster</name><bridge name='virbr-drctl'/></network>";
  daemon.virsh({"net-define", net_xml.string()});

  world::real::HypervisorConfig c;
  c.kind = "libvirt";
  c.url = daemon.uri;
  c.networks = {"cluster"};
  world::real::LibvirtHypervisor h(c);
  CHECK(h.check().find("(QEMU driver) at " + daemon.uri + ": pool default, networks cluster") != std::string::npos);

  world::VmSpec vm;
  vm.name = "appliance";
  vm.disks.push_back({"disk0", 1, "", "", false});  // thick raw: no qemu-img needed
  vm.nics.push_back({"cluster", "52:54:00:aa:bb:01", 0, ""});
  h.define(vm);
  fs::path volume = daemon.dir / "pool/appliance-disk0.img";
  REQUIRE(fs::exists(volume));
  CHECK(fs::file_size(volume) == (1ULL << 30));

  // The streams on a 16 MiB disk (a VmSpec's disks are whole GiB, and a GiB takes a minute
  // through libvirt's stream on this machine): a VM virsh defines on a volume virsh creates.
  daemon.virsh({"vol-create-as", "default", "small-disk0.img", "16M", "--format", "raw"});
  fs::path small_xml = daemon.dir / "small.xml";
  std::ofstream(small_xml) << "<domain type='qemu'><name>small</name><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os>"
                              "<devices><disk type='volume' device='disk'><source pool='default' volume='small-disk0.img'/>"
                              "<target dev='vda' bus='virtio'/></disk></devices></domain>";
  daemon.virsh({"define", small_xml.string()});
  fs::path small_volume = daemon.dir / "pool/small-disk0.img";
  std::string image(16u << 20, '\0');
  std::mt19937_64 rng(16);
  for (std::size_t i = 0; i < image.size() / 2; i += 8) {  // the second half stays zero, as a fresh disk's tail
    std::uint64_t x = rng();
    std::memcpy(image.data() + i, &x, 8);
  }
  std::size_t at = 0;
  auto t0 = std::chrono::steady_clock::now();
  h.write_disk("small", 0, [&](char* buf, std::size_t size) {
    std::size_t n = std::min(size, image.size() - at);
    std::memcpy(buf, image.data() + at, n);
    at += n;
    return n;
  }, static_cast<std::int64_t>(image.size()));
  auto t1 = std::chrono::steady_clock::now();
  CHECK((file_bytes(small_volume) == image));  // what libvirtd wrote is what was sent (a bool: no 16 MiB message)

  std::string back;
  std::int64_t n = h.read_disk("small", 0, [&](const char* p, std::size_t size) { back.append(p, size); });
  auto t2 = std::chrono::steady_clock::now();
  CHECK(n == static_cast<std::int64_t>(image.size()));
  CHECK((back == image));
  MESSAGE("16 MiB upload " << std::chrono::duration<double>(t1 - t0).count() << " s, download "
                           << std::chrono::duration<double>(t2 - t1).count() << " s");

  h.destroy("appliance");
  CHECK_FALSE(fs::exists(volume));  // destroy deletes the disks drctl created
}
