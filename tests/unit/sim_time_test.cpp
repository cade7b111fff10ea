// Time as data moves in the simulator: a transfer over SSH takes its bytes over the slowest
// segment of its path, a read of the NAS's disks its bytes over the pool's throughput, and data
// a drill declares larger than its sample weighs what it stands for — in `zfs list` and in time.
// The expected times are the declared sizes over the declared rates, worked out here.
#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>

#include "runbook/loader.hpp"
#include "sim/site_model.hpp"
#include "support/homelab.hpp"

using namespace drctl;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

double seconds(world::Duration d) { return static_cast<double>(d.count()) / 1000.0; }

/// The homelab (or a copy of it at `dir`) rebuilt in the simulator, with mail's 20 sample files.
struct Site {
  support::TempDir tmp{"sim-time"};
  std::unique_ptr<sim::SimWorld> world;
  explicit Site(const fs::path& dir = support::homelab()) {
    world = std::make_unique<sim::SimWorld>(runbook::load_site((dir / "site.yaml").string()).world_json(), 1);
    auto run = support::rebuild_homelab(*world, tmp.path() / "state", dir);
    REQUIRE_MESSAGE(run.ok(), support::failures(run));
    for (int i = 0; i < 20; ++i)
      world->system("truenas")->put_file("/mnt/tank/mail/item-" + std::to_string(i), std::string(4096, 'm'), 0644);
  }
  /// `script` on the NAS over drctl's SSH, as a step runs it; the virtual time it took.
  world::Duration timed(const std::string& script, world::CommandResult* out = nullptr) {
    world::Duration took{};
    world->engine().spawn("step", [&] {
      const auto start = world->engine().now();
      auto r = world->host("truenas").run(world::shell_command(script));
      took = world->engine().now() - start;
      if (out) *out = r;
    });
    world->engine().run();
    return took;
  }
};

}  // namespace

TEST_CASE("sim time: rates are bits per second (1Gbit) or bytes per second (200MB/s), anything else refused") {
  CHECK(sim::parse_rate("1Gbit") == doctest::Approx(125e6));
  CHECK(sim::parse_rate("100Mbit") == doctest::Approx(12.5e6));
  CHECK(sim::parse_rate("2.5Gbit/s") == doctest::Approx(312.5e6));
  CHECK(sim::parse_rate("200MB/s") == doctest::Approx(200e6));
  for (const char* bad : {"1G", "fast", "-1Gbit", "0Mbit", "Gbit", "1 Gbit", "10GB"}) {
    CAPTURE(bad);
    try {
      sim::parse_rate(bad);
      FAIL("accepted");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("1Gbit, 100Mbit") != std::string::npos);
    }
  }
}

TEST_CASE("sim time: a site's bandwidth that is not a rate is refused naming the field") {
  auto site = runbook::load_site((support::homelab() / "site.yaml").string()).world_json();
  site["networks"]["wan"]["bandwidth"] = "1G";
  CHECK_THROWS_WITH_AS(sim::read_site(site), doctest::Contains("networks.wan.bandwidth: '1G' is not a rate"), sim::SiteError);
  site["networks"]["wan"]["bandwidth"] = 1000;
  CHECK_THROWS_WITH_AS(sim::read_site(site), doctest::Contains("networks.wan.bandwidth: expected a rate"), sim::SiteError);
}

TEST_CASE("sim time: a dataset declared 18G holds 18G for zfs and streams 18G over SSH at the path's bandwidth") {
  Site s;
  s.world->declare_data_size("truenas", "/mnt/tank/mail", 18'000'000'000);
  world::CommandResult used;
  s.timed("zfs list -Hp -o used tank/mail", &used);
  REQUIRE(used.ok());
  CHECK(std::stoll(used.out) >= 18'000'000'000);
  // drctl (wan, 1 Gbit) to the NAS (management, 1 Gbit): 18e9 bytes at 125e6 bytes a second.
  world::CommandResult tar;
  const double took = seconds(s.timed("tar -cf - -C /mnt/tank/mail .", &tar));
  REQUIRE(tar.ok());
  CHECK(took >= 18e9 / 125e6);
  CHECK(took < 18e9 / 125e6 + 5);  // the sample's own bytes are not counted twice
  // A small command on the same host takes no noticeable time.
  CHECK(seconds(s.timed("ls /mnt/tank/mail")) < 1);
}

TEST_CASE("sim time: the slowest network on the way decides: the home LAN at 100 Mbit makes the same capture ten times slower") {
  support::TempDir t("sim-time-slow");
  const fs::path dir = support::homelab_with(t.path() / "homelab", "gateway: 192.168.1.1, bandwidth: 1Gbit}",
                                             "gateway: 192.168.1.1, bandwidth: 100Mbit}");
  Site s(dir);
  s.world->declare_data_size("truenas", "/mnt/tank/mail", 18'000'000'000);
  const double took = seconds(s.timed("tar -cf - -C /mnt/tank/mail ."));
  CHECK(took >= 18e9 / 12.5e6);
  CHECK(took < 18e9 / 12.5e6 + 5);
}

TEST_CASE("sim time: hashing a declared dataset on the NAS reads it at the pool's throughput") {
  support::TempDir t("sim-time-pool");
  const fs::path dir = support::homelab_with(t.path() / "homelab", "pool: {name: tank, size: 200G}",
                                             "pool: {name: tank, size: 200G, throughput: 200MB/s}");
  Site s(dir);
  s.world->declare_data_size("truenas", "/mnt/tank/mail", 18'000'000'000);
  std::string files;
  for (int i = 0; i < 20; ++i) files += " /mnt/tank/mail/item-" + std::to_string(i);
  world::CommandResult r;
  const double took = seconds(s.timed("sha256 -q" + files, &r));
  REQUIRE(r.ok());
  CHECK(took >= 18e9 / 200e6);  // 90 s of disk; its 20 hashes are nothing on the network
  CHECK(took < 18e9 / 200e6 + 5);
}

TEST_CASE("sim time: a declared size the dataset's quota cannot hold is refused naming the quota, and changes nothing") {
  Site s;
  world::CommandResult before, after;
  s.timed("zfs list -Hp -o used tank/mail", &before);
  try {
    s.world->declare_data_size("truenas", "/mnt/tank/mail", 25'000'000'000);  // its quota is 20G
    FAIL("accepted");
  } catch (const std::invalid_argument& e) {
    CHECK_MESSAGE(std::string(e.what()).find("Disk quota exceeded") != std::string::npos, e.what());
  }
  s.timed("zfs list -Hp -o used tank/mail", &after);
  CHECK(after.out == before.out);
  CHECK_THROWS_WITH_AS(s.world->declare_data_size("truenas", "/mnt/tank/none", 1'000'000), doctest::Contains("holds no files"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(s.world->declare_data_size("truenas", "/mnt/tank/mail", 1000), doctest::Contains("less than the files"),
                       std::invalid_argument);
}

TEST_CASE("sim time: kubeadm init waits for its images over the internet uplink: at 10 Mbit the control plane takes minutes") {
  // kubeadm 1.28's images are more than 200 MB (crictl images on a 1.28 node, sim/CONFORMANCE.md).
  support::TempDir t("sim-time-uplink");
  const fs::path dir = support::homelab_with(t.path() / "homelab", "\"2a00:4802:360::/64\", bandwidth: 1Gbit}",
                                             "\"2a00:4802:360::/64\", bandwidth: 10Mbit}");
  sim::SimWorld world(runbook::load_site((dir / "site.yaml").string()).world_json(), 1);
  auto run = support::rebuild_homelab(world, t.path() / "state", dir);
  REQUIRE_MESSAGE(run.ok(), support::failures(run));
  double pulled = 0;
  for (const auto& e : world.engine().events())
    if (e.value("event", "") == "transfer" && e.value("what", "") == "kubeadm init's images") pulled = e.value("seconds", 0.0);
  CHECK(pulled >= 200e6 / 1.25e6);
  // The step waited for it: control-plane's instance took at least that long.
  const auto* cp = support::result_of(run, "control-plane");
  REQUIRE(cp);
  CHECK(cp->seconds >= 200e6 / 1.25e6);
}

TEST_CASE("sim time: two transfers at once over one path share it: each takes about twice as long as alone") {
  Site s;
  for (int i = 0; i < 20; ++i)
    s.world->system("truenas")->put_file("/mnt/tank/hackmd/item-" + std::to_string(i), std::string(4096, 'h'), 0644);
  s.world->declare_data_size("truenas", "/mnt/tank/mail", 4'500'000'000);
  s.world->declare_data_size("truenas", "/mnt/tank/hackmd", 4'500'000'000);  // within its 5G quota
  // Alone, 4.5e9 bytes at 125e6 bytes a second: 36 s. Together, half the rate each: about 72 s.
  world::Duration a{}, b{};
  auto capture = [&](const std::string& dir, world::Duration& took) {
    return [&, dir] {
      const auto start = s.world->engine().now();
      REQUIRE(s.world->host("truenas").run(world::shell_command("tar -cf - -C " + dir + " .")).ok());
      took = s.world->engine().now() - start;
    };
  };
  s.world->engine().spawn("mail", capture("/mnt/tank/mail", a));
  s.world->engine().spawn("hackmd", capture("/mnt/tank/hackmd", b));
  s.world->engine().run();
  for (const double took : {seconds(a), seconds(b)}) {
    CHECK(took >= 2 * 4.5e9 / 125e6 - 5);
    CHECK(took < 2 * 4.5e9 / 125e6 + 10);
  }
  // One after the other, each alone: the full rate again.
  const double alone = seconds(s.timed("tar -cf - -C /mnt/tank/mail ."));
  CHECK(alone >= 4.5e9 / 125e6);
  CHECK(alone < 4.5e9 / 125e6 + 5);
}
