// drctl as a CronJob of the site's own cluster: the manifest `drctl schedule install
// --kubernetes` writes is accepted by the simulated cluster of the homelab (which validates
// objects as Kubernetes 1.28's API server does), and what it stores is what the job needs.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "runbook/loader.hpp"
#include "schedule/schedule.hpp"
#include "support/homelab.hpp"

using namespace drctl;

namespace {

schedule::Spec spec(const std::string& name) {
  schedule::Spec s;
  s.name = name;
  s.runbook = "/etc/drctl/homelab/backup.yaml";
  s.drctl = "/usr/local/bin/drctl";
  s.state_dir = "/var/lib/drctl/" + name;
  s.every = "daily";
  s.at = "02:15";
  return s;
}

world::CommandResult kubectl(sim::SimWorld& w, const std::string& args) {
  return w.system("k8s-master")->run(world::shell_command("kubectl --kubeconfig /etc/kubernetes/admin.conf " + args));
}

}  // namespace

TEST_CASE("schedule cronjob: the manifest is accepted by the homelab's cluster, Forbid and the schedule kept") {
  support::TempDir t("cronjob");
  sim::SimWorld world(runbook::load_site((support::homelab() / "site.yaml").string()).world_json(), 1);
  auto run = support::rebuild_homelab(world, t.path() / "state");
  REQUIRE_MESSAGE(run.ok(), support::failures(run));
  schedule::KubeSpec k;
  k.image = "registry.example/drctl:0.1";
  k.nfs_server = "10.0.10.6";
  k.nfs_path = "/mnt/tank/drctl";
  k.secret = "drctl-homelab-backup-site";
  k.sets = {"repo_dir=/repo/snapshots"};
  world.system("k8s-master")->put_file("/tmp/cronjob.yaml", schedule::cronjob_yaml(spec("homelab-backup"), k), 0644);
  auto applied = kubectl(world, "apply -f /tmp/cronjob.yaml");
  REQUIRE_MESSAGE(applied.ok(), applied.err);
  CHECK(applied.out.find("cronjob.batch/drctl-homelab-backup created") != std::string::npos);
  auto got = kubectl(world, "get cronjob -n drctl drctl-homelab-backup -o json");
  REQUIRE_MESSAGE(got.ok(), got.err);
  const auto cj = nlohmann::json::parse(got.out);
  CHECK(cj["spec"]["schedule"] == "15 2 * * *");
  CHECK(cj["spec"]["concurrencyPolicy"] == "Forbid");
  const auto& pod = cj["spec"]["jobTemplate"]["spec"]["template"]["spec"];
  CHECK(pod["restartPolicy"] == "Never");
  CHECK(pod["containers"][0]["args"][2] == "/site/backup.yaml");
  CHECK(pod["volumes"][0]["nfs"]["server"] == "10.0.10.6");
  CHECK(pod["volumes"][1]["secret"]["secretName"] == "drctl-homelab-backup-site");
  // The cluster holds a bad edit of it to the API's rules: a concurrencyPolicy it does not know.
  std::string bad = schedule::cronjob_yaml(spec("homelab-backup"), k);
  bad.replace(bad.find("concurrencyPolicy: Forbid"), 25, "concurrencyPolicy: Never ");
  world.system("k8s-master")->put_file("/tmp/bad.yaml", bad, 0644);
  auto refused = kubectl(world, "apply -f /tmp/bad.yaml");
  CHECK_FALSE(refused.ok());
  CHECK_MESSAGE(refused.err.find("spec.concurrencyPolicy: Unsupported value: \"Never\"") != std::string::npos, refused.err);
  // A name Kubernetes would refuse is refused before anything is written.
  CHECK_THROWS_WITH_AS(schedule::cronjob_yaml(spec(std::string(47, 'n')), k), doctest::Contains("52 characters"), std::invalid_argument);
}
