// runbooks/homelab/rebuild.yaml against the simulated homelab: from empty hardware to services
// answering through the shared VIP, and a second run on the rebuilt site changing nothing.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>

#include "actions/action.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "sim/sim_world.hpp"
#include "support/fs_tree.hpp"

using namespace drctl;
namespace fs = std::filesystem;

namespace {

fs::path homelab() { return fs::path(__FILE__).parent_path().parent_path().parent_path() / "runbooks/homelab"; }

class Quiet : public runbook::Observer {
 public:
  void started(const runbook::InstanceResult&, std::size_t, std::size_t) override {}
  void finished(const runbook::InstanceResult&, std::size_t, std::size_t) override {}
  void note(const std::string&) override {}
};

runbook::RunSummary rebuild(sim::SimWorld& world, const fs::path& state) {
  runbook::Runbook rb = runbook::load_runbook((homelab() / "rebuild.yaml").string());
  runbook::validate(rb, actions::Registry::builtin());
  runbook::ExecOptions options;
  options.state_dir = state;
  Quiet quiet;
  return runbook::execute(rb, actions::Registry::builtin(), world, options, quiet);
}

std::string failures(const runbook::RunSummary& s) {
  std::string out;
  for (const auto& r : s.results)
    if (!r.error.empty()) out += r.id + ": " + r.error + "\n";
  return out;
}

}  // namespace

TEST_CASE("homelab: rebuild.yaml takes the simulated site from empty hardware to services on the shared VIP") {
  support::TempDir t("homelab");
  sim::SimWorld world(runbook::load_site((homelab() / "site.yaml").string()).to_json(), 1);
  const auto wall = std::chrono::steady_clock::now();
  auto first = rebuild(world, t.path() / "state");
  CHECK(std::chrono::steady_clock::now() - wall < std::chrono::seconds(2));
  REQUIRE_MESSAGE(first.ok(), failures(first));
  CHECK(world.engine().now() < std::chrono::minutes(45));
  // Every web host answers through the ingress VIP from its own backend.
  for (const std::string app : {"blog", "hackmd", "privatebin"}) {
    const std::string host = app == "blog" ? "www.viktorbarzin.me" : app + ".viktorbarzin.me";
    auto r = world.http("drctl", "10.0.20.200", 80, false, host, "/");
    CHECK_MESSAGE(r.status == 200, std::string(host + ": " + r.error));
    CHECK(r.body.find(app) != std::string::npos);
  }
  CHECK(world.http("drctl", "10.0.20.200", 443, true, "www.viktorbarzin.me", "/").status == 200);
  // IMAPS and wireguard share the ingress's IP.
  CHECK(world.net().connect("drctl", "10.0.20.200", 993, sim::Proto::tcp).outcome == sim::SimNetwork::Outcome::connected);
  CHECK(world.net().connect("drctl", "10.0.20.200", 51820, sim::Proto::udp).outcome == sim::SimNetwork::Outcome::connected);
  CHECK(world.load_balancer_ips().at("mail/mailserver") == "10.0.20.200");
  CHECK(world.load_balancer_ips().at("wireguard/wireguard") == "10.0.20.200");
  CHECK(world.check_invariants(true).empty());
  // The same runbook on the rebuilt site finds everything in place.
  auto second = rebuild(world, t.path() / "state");
  REQUIRE_MESSAGE(second.ok(), failures(second));
  std::string applied;
  for (const auto& r : second.results)
    if (r.status == runbook::Status::Done) applied += r.id + " ";
  CHECK_MESSAGE(applied.empty(), std::string("applied again: " + applied));
}
