// The simulator's VM disks as images: read a machine's disks, write them into a new VM, boot it —
// the same system comes back (files and modes, pfSense's configuration applied, TrueNAS's datasets,
// quotas, shares and files); the same seed gives the same bytes; a damaged or foreign image halts
// the boot with its reason; appliances' interactive installers wait for someone at the console.
// The oracle is what the machine showed before (its own commands' output, the fixture files).
#include <doctest/doctest.h>

#include <chrono>

#include "sim/disk_image.hpp"
#include "sim/sim_world.hpp"
#include "support/sim_lab.hpp"
#include "world/vm_spec.hpp"

using namespace drctl;
using namespace std::chrono_literals;
using support::command;
using Lab = support::SimLab;

namespace {

std::string read_disk(Lab& lab, const std::string& vm, std::size_t disk) {
  std::string bytes;
  const auto n = lab.w().hv().read_disk(vm, disk, [&](const char* d, std::size_t s) { bytes.append(d, s); });
  CHECK(n == static_cast<std::int64_t>(bytes.size()));
  return bytes;
}

void write_disk(Lab& lab, const std::string& vm, std::size_t disk, const std::string& bytes) {
  std::size_t at = 0;
  lab.w().hv().write_disk(vm, disk, [&](char* buf, std::size_t size) {
    const std::size_t n = std::min(size, bytes.size() - at);
    std::copy_n(bytes.data() + at, n, buf);
    at += n;
    return n;
  }, static_cast<std::int64_t>(bytes.size()));
}

/// The VM destroyed, defined again as the site has it, its disks written from `images`, powered on.
void restore(Lab& lab, const std::string& vm, const std::vector<std::string>& images, world::Duration run = 2min) {
  lab.w().hv().destroy(vm);
  lab.define(vm);
  for (std::size_t i = 0; i < images.size(); ++i) write_disk(lab, vm, i, images[i]);
  lab.w().hv().start(vm);
  lab.engine().run_for(run);
}

std::string run_ok(Lab& lab, const std::string& host, const std::string& script) {
  auto r = lab.w().system(host)->run(command(script));
  const std::string why = script + ": " + r.err;
  CHECK_MESSAGE(r.exit_code == 0, why);
  return r.out;
}

}  // namespace

TEST_CASE("sim disk image: pfSense restored from its disk boots with its config.xml applied, not an install") {
  Lab lab(3);
  lab.infra();  // pfSense installed from its ISO and given the lab's configuration
  const std::string image = read_disk(lab, "pfsense", 0);
  CHECK(image.find("/cf/conf/config.xml") != std::string::npos);
  restore(lab, "pfsense", {image});
  REQUIRE(lab.w().state("pfsense") == "up");
  CHECK(*lab.w().system("pfsense")->get_file("/cf/conf/config.xml") == lab.pf_config);
  CHECK(!lab.events("pfsense", "disk-image-booted").empty());
  std::size_t installs = 0;
  for (const auto& e : lab.engine().events())
    if (e["component"] == "pfsense" && e["event"] == "appliance-install-started") ++installs;
  CHECK(installs == 1);  // only the first one: the restore installed nothing
  // pfSense applied it at boot: a node installs through its DHCP (netboot on the cluster VLAN),
  // which its factory default does not serve.
  lab.install("k8s-node1");
  CHECK_MESSAGE(lab.w().state("k8s-node1") == "up", lab.w().diagnose("k8s-node1"));
}

TEST_CASE("sim disk image: the PXE server's files, modes, packages and running units come back") {
  Lab lab(4);
  lab.infra();
  lab.w().system("pxe")->put_file("/etc/site.key", "secret", 0600);
  run_ok(lab, "pxe", "mkdir -p /srv/empty");
  const std::string before_files = run_ok(lab, "pxe", "stat -c %a /etc/site.key && cat /etc/site.key /etc/exports /etc/default/tftpd-hpa");
  const std::string before_tree = run_ok(lab, "pxe", "ls -1 /tftpboot /srv");
  const auto before_units = lab.w().system("pxe")->services();
  const std::string image = read_disk(lab, "pxe", 0);
  restore(lab, "pxe", {image});
  REQUIRE(lab.w().state("pxe") == "up");
  CHECK(run_ok(lab, "pxe", "stat -c %a /etc/site.key && cat /etc/site.key /etc/exports /etc/default/tftpd-hpa") == before_files);
  CHECK(run_ok(lab, "pxe", "ls -1 /tftpboot /srv") == before_tree);
  CHECK(lab.w().system("pxe")->services() == before_units);
  // tftpd-hpa read /etc/default/tftpd-hpa at boot: a node installs from /tftpboot.
  lab.install("k8s-node2");
  CHECK_MESSAGE(lab.w().state("k8s-node2") == "up", lab.w().diagnose("k8s-node2"));
}

TEST_CASE("sim disk image: TrueNAS's pool comes back from its data disk: datasets, quotas, shares and files") {
  Lab lab(5);
  lab.start("truenas");
  lab.engine().run_for(6min);
  REQUIRE(lab.w().state("truenas") == "up");
  run_ok(lab, "truenas",
         "zfs create -o quota=1M tank/mail && zfs create -p tank/apps/wiki && "
         "midclt call sharing.nfs.create '{\"path\": \"/mnt/tank/mail\", \"networks\": [\"10.0.20.0/24\"]}'");
  lab.w().system("truenas")->put_file("/mnt/tank/mail/inbox", std::string(300000, 'm'), 0640);
  lab.w().system("truenas")->put_file("/mnt/tank/apps/wiki/page", "hello\n", 0644);
  const std::string list = "zfs list -H -p -o name,used,quota";
  const std::string shares = "midclt call sharing.nfs.query";
  const std::string before_list = run_ok(lab, "truenas", list), before_shares = run_ok(lab, "truenas", shares);
  const std::string system = read_disk(lab, "truenas", 0), pool = read_disk(lab, "truenas", 1);
  CHECK(system.find("/mnt/tank/mail/inbox") == std::string::npos);  // the pool's files are on its own disk
  CHECK(pool.find("/mnt/tank/mail/inbox") != std::string::npos);
  restore(lab, "truenas", {system, pool});
  REQUIRE(lab.w().state("truenas") == "up");
  CHECK(!lab.events("truenas", "pool-imported").empty());
  CHECK(run_ok(lab, "truenas", list) == before_list);
  CHECK(run_ok(lab, "truenas", shares) == before_shares);
  CHECK(*lab.w().system("truenas")->get_file("/mnt/tank/mail/inbox") == std::string(300000, 'm'));
  CHECK(run_ok(lab, "truenas", "stat -f %Lp /mnt/tank/mail/inbox") == "640\n");
  // The quota holds as before: 1M, of which the inbox uses 300000 bytes.
  CHECK_THROWS_WITH_AS(lab.w().system("truenas")->put_file("/mnt/tank/mail/big", std::string(800000, 'x'), 0644),
                       doctest::Contains("Disk quota exceeded"), std::runtime_error);
  // The data disk left empty: the same system, an empty pool.
  restore(lab, "truenas", {system, ""});
  REQUIRE(lab.w().state("truenas") == "up");
  CHECK(run_ok(lab, "truenas", "zfs list -H -o name") == "tank\n");
}

TEST_CASE("sim disk image: the same seed gives the same bytes, and an image reads back as written") {
  Lab a(7), b(7);
  a.infra();
  b.infra();
  for (const char* vm : {"pfsense", "pxe"}) {
    const std::string image = read_disk(a, vm, 0);
    CHECK(!image.empty());
    CHECK(image == read_disk(b, vm, 0));
    CHECK(sim::encode_disk_image(sim::decode_disk_image(image)) == image);
  }
  CHECK(read_disk(a, "pfsense", 0) != read_disk(a, "pxe", 0));
  // A disk with nothing on it: a VM never booted, a disk the simulator keeps nothing on.
  a.define("k8s-node1");
  CHECK(read_disk(a, "k8s-node1", 0).empty());
  CHECK_THROWS_WITH_AS(read_disk(a, "k8s-node1", 1), doctest::Contains("has no disk 1"), std::runtime_error);
  // Written but not booted yet, a disk reads as written.
  const std::string pf = read_disk(a, "pfsense", 0);
  a.w().hv().destroy("pfsense");
  a.define("pfsense");
  write_disk(a, "pfsense", 0, pf);
  CHECK(read_disk(a, "pfsense", 0) == pf);
}

TEST_CASE("sim disk image: a damaged, foreign or other machine's image halts the boot with the reason") {
  Lab lab(8);
  lab.infra();
  const std::string pf = read_disk(lab, "pfsense", 0), pxe = read_disk(lab, "pxe", 0);
  std::string damaged = pxe;
  damaged[damaged.size() / 2] ^= 0x20;
  restore(lab, "pxe", {damaged});
  CHECK(lab.w().state("pxe") == "halted");
  CHECK(lab.w().halted("pxe").find("checksum does not match") != std::string::npos);
  restore(lab, "pxe", {pxe.substr(0, pxe.size() / 3)});
  CHECK(lab.w().halted("pxe").find("without its checksum") != std::string::npos);
  restore(lab, "pxe", {"MZ\x90\x00 not a disk image at all"});
  CHECK(lab.w().halted("pxe").find("not a drctl simulator disk image") != std::string::npos);
  restore(lab, "pxe", {pf});
  CHECK(lab.w().halted("pxe").find("holds a pfsense system, but pxe is the site's pxe-server appliance") != std::string::npos);
  CHECK_THROWS_WITH_AS(write_disk(lab, "pxe", 0, pxe), doctest::Contains("the VM is powered on"), std::runtime_error);
  // The good image, again: the machine comes up.
  restore(lab, "pxe", {pxe});
  CHECK(lab.w().state("pxe") == "up");
}

TEST_CASE("sim appliances: with nobody at the console their installers wait at the first question, the PXE server's installs itself") {
  Lab lab(9);
  lab.w().set_console_operator(false);
  lab.start("pfsense");
  lab.start("truenas");
  lab.start("pxe");
  lab.engine().run_for(6min);
  CHECK(lab.w().state("pfsense") == "halted");
  CHECK(lab.w().halted("pfsense").find("pfSense's installer waits at its first screen (Copyright and distribution notice") !=
        std::string::npos);
  CHECK(lab.w().halted("truenas").find("Install/Upgrade") != std::string::npos);
  lab.engine().run_for(8min);  // an unattended install: about 10 minutes
  CHECK(lab.w().state("pxe") == "up");
  CHECK(lab.events("pfsense", "appliance-install-started").empty());
  // Someone comes to the console: the next boot installs, and the log says who answered.
  lab.w().set_console_operator(true);
  lab.w().hv().stop("pfsense");
  lab.w().hv().start("pfsense");
  lab.engine().run_for(6min);
  CHECK(lab.w().state("pfsense") == "up");
  CHECK(lab.events("pfsense", "installer-answered").find("someone at the console") != std::string::npos);
}

TEST_CASE("sim site: a real hypervisor's settings load in the simulator, a datastore name leaves the default capacity") {
  nlohmann::json site = support::lab_site();
  site["hypervisor"]["kind"] = "vsphere";
  site["hypervisor"]["url"] = "https://vcenter.example.lan/sdk";
  site["hypervisor"]["datacenter"] = "DC0";
  site["hypervisor"]["cluster"] = "DC0_C0";
  site["hypervisor"]["host"] = "DC0_C0_H0";
  site["hypervisor"]["thumbprint"] = "AB:CD:EF";
  site["hypervisor"]["ca_file"] = "/etc/ssl/vcenter.pem";
  site["hypervisor"]["user"] = "administrator@vsphere.local";
  site["hypervisor"]["credentials"] = "secrets.vcenter_password";
  site["hypervisor"]["datastore"] = "LocalDS_0";
  sim::SimWorld named(site, 1);
  CHECK(named.site().capacity.datastore_gb == sim::HostCapacity{}.datastore_gb);
  CHECK(named.site().capacity.threads == 12);
  site["hypervisor"]["datastore"] = "3T";
  sim::SimWorld sized(site, 1);
  CHECK(sized.site().capacity.datastore_gb == 3 * 1024);
  site["hypervisor"]["datastore"] = "3X";
  CHECK_THROWS_AS(sim::SimWorld(site, 1), sim::SiteError);
}
