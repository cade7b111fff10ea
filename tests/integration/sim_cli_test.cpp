// `drctl run --target sim` and `drctl sim show` as a user runs them: the lab from empty hardware
// to installed nodes, the same seed giving the same event log, and bad sites refused.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "support/run.hpp"

namespace fs = std::filesystem;

namespace {

fs::path fixtures() { return fs::path(__FILE__).parent_path().parent_path() / "fixtures/sim"; }


support::RunResult run_lab(const fs::path& dir, const std::string& seed, const std::string& events) {
  return support::drctl({"run", (fixtures() / "install-lab.yaml").string(), "--target", "sim", "--seed", seed,
                         "--events", (dir / events).string(), "--state", (dir / ("state-" + events)).string()});
}

}  // namespace

TEST_CASE("sim cli: the lab goes from empty hardware to installed nodes, the same seed giving the same event log") {
  support::TempDir t("sim-cli");
  auto a = run_lab(t.path(), "5", "a.jsonl");
  support::expect_exit(a, 0);
  CHECK(a.out.find("33 done") != std::string::npos);
  CHECK(a.out.find("simulated ") != std::string::npos);
  const std::string log_a = support::read_file(t.path() / "a.jsonl");
  for (const std::string node : {"k8s-master", "k8s-node1", "k8s-node5"})
    CHECK(log_a.find("{\"component\":\"" + node + "\",\"event\":\"install-finished\"") != std::string::npos);
  support::expect_exit(run_lab(t.path(), "5", "b.jsonl"), 0);
  CHECK(support::read_file(t.path() / "b.jsonl") == log_a);
  support::expect_exit(run_lab(t.path(), "6", "c.jsonl"), 0);
  CHECK(support::read_file(t.path() / "c.jsonl") != log_a);
}

TEST_CASE("sim cli: sim show prints the hosts, networks and addresses of the site") {
  auto r = support::drctl({"sim", "show", (fixtures() / "lab.yaml").string()});
  support::expect_exit(r, 0);
  for (const std::string want : {"hypervisor: 12 threads, 80 GB memory", "cluster  10.0.20.0/24  port group on dLAN, VLAN 20",
                                 "k8s-node1 (worker)  VM 1 vCPU", "NIC 00:50:56:aa:00:02 on cluster",
                                 "forwards [2a00:4802:360::136]:443/tcp -> 10.0.20.200:443", "[drctl runs here]"})
    CHECK_MESSAGE(r.out.find(want) != std::string::npos, want);
}

TEST_CASE("sim cli: a site the simulator cannot build is refused with the file and the field") {
  support::TempDir t("sim-cli-bad");
  std::string site = support::read_file(fixtures() / "lab.yaml");
  const std::string from = "nics: [{network: cluster, mac: \"00:50:56:aa:00:02\"}]";
  REQUIRE(site.find(from) != std::string::npos);
  site.replace(site.find(from), from.size(), "nics: [{network: clustr, mac: \"00:50:56:aa:00:02\"}]");
  std::ofstream(t.path() / "site.yaml") << site;
  auto r = support::drctl({"sim", "show", (t.path() / "site.yaml").string()});
  support::expect_exit(r, 2);
  CHECK(support::is_one_error_line(r.err));
  CHECK(r.err.find("site.yaml: hosts.k8s-node1.vm.nics[0].network: 'clustr' is not a port group") != std::string::npos);
}
