// `drctl drill` on the homelab's scenarios, as CI runs it: verdicts, exit codes, JUnit, and a
// broken site failing at the right step with its cause.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "support/run.hpp"

namespace fs = std::filesystem;

namespace {

fs::path homelab() { return fs::path(__FILE__).parent_path().parent_path().parent_path() / "runbooks/homelab"; }

std::string scenario(const std::string& name) { return (homelab() / "drills" / (name + ".yaml")).string(); }

/// The homelab copied into `dir` with `from` (which must be in rebuild.yaml) replaced by `to`.
fs::path homelab_with(const fs::path& dir, const std::string& from, const std::string& to) {
  fs::copy(homelab(), dir / "homelab", fs::copy_options::recursive);
  const fs::path rebuild = dir / "homelab/rebuild.yaml";
  std::string text = support::read_file(rebuild);
  REQUIRE_MESSAGE(text.find(from) != std::string::npos, from);
  text.replace(text.find(from), from.size(), to);
  std::ofstream(rebuild) << text;
  return dir / "homelab/drills/total-loss.yaml";
}

}  // namespace

TEST_CASE("drill: total-loss passes with its timeline, RTO and RPO, and restores every file") {
  auto r = support::drctl({"drill", scenario("total-loss")});
  support::expect_exit(r, 0);
  CHECK(r.out.find("PASS total-loss seed 1: RTO ") != std::string::npos);
  CHECK(r.out.find("install-nodes[k8s-node2]") != std::string::npos);  // the timeline
  CHECK(r.out.find("RPO 60.0 min") != std::string::npos);
  CHECK(r.out.find("Lost beyond RPO: 0 files, 0 bytes") != std::string::npos);
}

TEST_CASE("drill: total-loss's rebuild boots pfSense, TrueNAS and vCenter from their restored disks, nobody at the console") {
  auto r = support::drctl({"drill", scenario("total-loss"), "--seeds", "2"});
  support::expect_exit(r, 0);
  // From the simulator's event log, as the runner reports it: booted from disk, not installed.
  CHECK(r.err.find("the machines came back:") != std::string::npos);
  for (const char* vm : {"pfsense", "truenas", "vcenter"}) {
    CHECK_MESSAGE(r.err.find(std::string(vm) + " booted from its restored disk image") != std::string::npos, r.err);
    CHECK(r.err.find(std::string(vm) + " installed from its ISO") == std::string::npos);
  }
  CHECK(r.err.find("pxe installed from its ISO") != std::string::npos);  // the site's own unattended image
  CHECK(r.err.find("k8s-node1 installed over the network") != std::string::npos);
}

TEST_CASE("drill: a rebuild that boots pfSense from its ISO fails, naming the installer's question") {
  support::TempDir t("drill-iso");
  const fs::path copy = homelab_with(t.path(), ", disks: \"{{restore}}\"}", "}");  // create-firewall's, the first
  const std::string rebuild = support::read_file(t.path() / "homelab/rebuild.yaml");
  REQUIRE(rebuild.find("on: pfsense\n    with: {from_snapshot: \"{{restore}}\", repo: \"{{repo_dir}}\", snapshot: \"{{snapshot}}\"}") !=
          std::string::npos);
  auto r = support::drctl({"drill", copy.string()});
  support::expect_exit(r, 1);
  CHECK(r.out.find("FAIL total-loss seed 1") != std::string::npos);
  CHECK_MESSAGE(r.out.find("Copyright and distribution notice") != std::string::npos, r.out);
  CHECK(r.out.find("nobody is at the console") != std::string::npos);
}

TEST_CASE("drill: every scenario holds its expectations over several seeds, with valid JUnit") {
  support::TempDir t("drill");
  std::vector<std::string> args = {"drill"};
  for (const char* s : {"total-loss", "worker-dies-mid-install", "dhcp-outage", "vip-failover", "nas-full", "etcd-restore"})
    args.push_back(scenario(s));
  args.insert(args.end(), {"--seeds", "1..20", "--junit", (t.path() / "junit.xml").string(), "--report",
                           (t.path() / "report.json").string()});
  support::RunOptions slow;
  slow.timeout = std::chrono::minutes(15);  // 120 drills: well under a minute alone, far longer on a busy machine
  auto r = support::drctl_opts(args, slow);
  support::expect_exit(r, 0);
  for (const char* s : {"total-loss", "worker-dies-mid-install", "dhcp-outage", "vip-failover", "nas-full", "etcd-restore"})
    CHECK_MESSAGE(r.out.find(std::string(s) + ": 20 runs, 20 passed") != std::string::npos, r.out);
  const std::string junit = support::read_file(t.path() / "junit.xml");
  CHECK(junit.find("<testsuite name=\"total-loss\" tests=\"20\" failures=\"0\"") != std::string::npos);
  // xmllint (libxml2-utils, installed by tools/setup --tests) checks the XML strictly; a missing one fails here.
  support::expect_exit(support::run({"xmllint", "--noout", (t.path() / "junit.xml").string()}), 0);
  CHECK(support::read_file(t.path() / "report.json").find("\"rto_p50\"") != std::string::npos);
}

TEST_CASE("drill: a worker missing from the DHCP reservations makes total-loss fail at its install, naming why") {
  support::TempDir t("drill-broken");
  fs::copy(homelab(), t.path() / "homelab", fs::copy_options::recursive);
  const fs::path config = t.path() / "homelab/kit/pfsense-config.xml";
  std::string xml = support::read_file(config);
  const std::string mac = "<mac>00:50:56:aa:00:03</mac>";
  REQUIRE(xml.find(mac) != std::string::npos);
  xml.replace(xml.find(mac), mac.size(), "<mac>00:50:56:aa:00:99</mac>");
  std::ofstream(config) << xml;
  auto r = support::drctl({"drill", (t.path() / "homelab/drills/total-loss.yaml").string()});
  support::expect_exit(r, 1);
  CHECK(r.out.find("FAIL total-loss seed 1") != std::string::npos);
  CHECK_MESSAGE(r.out.find("First failing step: before:install-nodes[k8s-node2]") != std::string::npos, r.out);
  CHECK(r.out.find("10.0.20.13") != std::string::npos);  // where drctl expected it
}

TEST_CASE("drill: the blog's TLS secret left out of the snapshot makes total-loss fail at the ingress check, naming TLS") {
  support::TempDir t("drill-tls");
  fs::copy(homelab(), t.path() / "homelab", fs::copy_options::recursive);
  std::string sc = support::read_file(t.path() / "homelab/drills/total-loss.yaml");
  sc += "backup_vars: {kube_exclude: [\"website/*/tls-secret.json\"]}\n";
  std::ofstream(t.path() / "homelab/drills/total-loss.yaml") << sc;
  auto r = support::drctl({"drill", (t.path() / "homelab/drills/total-loss.yaml").string()});
  support::expect_exit(r, 1);
  CHECK(r.out.find("FAIL total-loss seed 1") != std::string::npos);
  CHECK_MESSAGE(r.out.find("First failing step: verify-ingress") != std::string::npos, r.out);
  // ingress-nginx serves its own certificate for a host whose Secret is missing, and the check names it.
  CHECK_MESSAGE(r.out.find("Kubernetes Ingress Controller Fake Certificate") != std::string::npos, r.out);
}

namespace {

/// total-loss in a copy of the homelab at `dir`, with `data` and `expect` as given, and the site's
/// `from` replaced by `to`; the scenario's path.
fs::path sized_drill(const fs::path& dir, const std::string& data, const std::string& expect, const std::string& from = "",
                     const std::string& to = "") {
  fs::create_directories(dir);
  fs::copy(homelab(), dir / "homelab", fs::copy_options::recursive);
  if (!from.empty()) {
    std::string site = support::read_file(dir / "homelab/site.yaml");
    REQUIRE(site.find(from) != std::string::npos);
    site.replace(site.find(from), from.size(), to);
    std::ofstream(dir / "homelab/site.yaml") << site;
  }
  const fs::path file = dir / "homelab/drills/sized.yaml";
  std::ofstream(file) << "name: sized\nsite: ../site.yaml\nbackup: ../backup.yaml\nrebuild: ../rebuild.yaml\n"
                         "data: " << data << "\nbackup_age: 60m\ndisaster: all\nexpect: " << expect << "\n";
  return file;
}

const nlohmann::json& step(const nlohmann::json& run, const std::string& id) {
  for (const auto& s : run["timeline"])
    if (s["id"] == id) return s;
  FAIL("no step " << id);
  static const nlohmann::json none;
  return none;
}

double took(const nlohmann::json& s) { return s["end_min"].get<double>() - s["start_min"].get<double>(); }

}  // namespace

TEST_CASE("drill: declared dataset sizes make the NAS's data take its bytes over the bandwidth, and -j 1 still compares") {
  // mail 18G, hackmd 2G, privatebin 200M: 20.2e9 bytes, over the site's 1 Gbit (125e6 bytes a
  // second) at the least 2.69 minutes. The homelab's NAS data comes back in create-nas, which
  // writes TrueNAS's disks from the snapshot.
  support::TempDir t("drill-sized");
  const fs::path sized = sized_drill(t.path() / "a", "{sizes: {mail: 18G, hackmd: 2G, privatebin: 200M}}", "{}");
  const fs::path plain = sized_drill(t.path() / "b", "{}", "{max_rto: 45m}");
  auto report = [&](const fs::path& scenario, const std::string& jobs) {
    const fs::path json_file = t.path() / (scenario.parent_path().parent_path().parent_path().filename().string() + jobs + ".json");
    std::vector<std::string> args = {"drill", scenario.string(), "--report", json_file.string()};
    if (jobs != "all") args.insert(args.end(), {"-j", jobs});
    auto r = support::drctl(args);
    support::expect_exit(r, 0);
    return nlohmann::json::parse(support::read_file(json_file))["runs"][0];
  };
  const auto big = report(sized, "all"), small = report(plain, "all");
  const double least = 20.2e9 / 125e6 / 60;
  CHECK(took(step(big, "create-nas")) >= least);
  CHECK(took(step(small, "create-nas")) < 0.5);  // the declared sizes are what takes the time
  CHECK(big["rto_min"].get<double>() >= step(big, "create-nas")["end_min"].get<double>());
  CHECK(big["rto_min"].get<double>() <= 45);  // still within the homelab's target
  // The serial plan (-j 1) restores the same bytes in the same time, and waits for more.
  const auto serial = report(sized, "1");
  CHECK(took(step(serial, "create-nas")) >= least);
  CHECK(serial["rto_min"].get<double>() > big["rto_min"].get<double>());
}

TEST_CASE("drill: over a 10 Mbit home LAN the NAS's 20.2 GB are the critical path, and the report says so") {
  support::TempDir t("drill-slow-lan");
  const fs::path file = sized_drill(t.path(), "{sizes: {mail: 18G, hackmd: 2G, privatebin: 200M}}", "{}",
                                    "gateway: 192.168.1.1, bandwidth: 1Gbit}", "gateway: 192.168.1.1, bandwidth: 10Mbit}");
  auto r = support::drctl({"drill", file.string(), "--report", (t.path() / "r.json").string()});
  support::expect_exit(r, 0);
  const auto run = nlohmann::json::parse(support::read_file(t.path() / "r.json"))["runs"][0];
  const double least = 20.2e9 / 1.25e6 / 60;  // 269 minutes
  CHECK(took(step(run, "create-nas")) >= least);
  CHECK(run["rto_min"].get<double>() >= least);
  // The chain the RTO waited for runs through the NAS's disks, each step after the one before it,
  // and ends when the rebuild ended.
  const auto& path = run["critical_path"];
  REQUIRE(!path.empty());
  CHECK(std::find(path.begin(), path.end(), "create-nas") != path.end());
  double end = 0;
  for (const auto& id : path) {
    CHECK(step(run, id)["start_min"].get<double>() >= end - 1e-6);
    end = step(run, id)["end_min"].get<double>();
  }
  CHECK(end == doctest::Approx(run["rto_min"].get<double>()).epsilon(0.01));
  CHECK_MESSAGE(r.out.find("Critical path (what the RTO waited for):") != std::string::npos, r.out);
  CHECK_MESSAGE(r.out.find("GB in") != std::string::npos, r.out);  // where create-nas's minutes went
}

TEST_CASE("drill: total-loss restores the last of four backups after the site's retention pruned, and the later ones read only what changed") {
  // The scenario's own numbers are the oracle: 18G + 2G + 200M declared over 20 files a dataset,
  // and 4 changes (a file added, changed, renamed, removed) between two backups. The bytes read
  // are the simulator's count of the NAS's disk reads, not drctl's; the data is checked against
  // the drill's own record of what it wrote, renamed and removed.
  support::TempDir t("drill-nightly");
  auto r = support::drctl({"drill", scenario("total-loss"), "--seeds", "1..3", "--report", (t.path() / "r.json").string()});
  support::expect_exit(r, 0);
  const double declared = (18.0 + 2.0) * (1 << 30) + 200.0 * (1 << 20);
  const double largest_file = 18.0 * (1 << 30) / 20;
  const auto report = nlohmann::json::parse(support::read_file(t.path() / "r.json"));
  REQUIRE(report["runs"].size() == 3);
  for (const auto& run : report["runs"]) {
    CAPTURE(run["seed"]);
    CHECK(run["passed"] == true);
    CHECK(run["files_differing"] == 0);
    const auto reads = run["backup_reads"].get<std::vector<double>>();
    REQUIRE(reads.size() == 4);
    CHECK(reads[0] >= declared * 0.999);  // the first reads every dataset whole
    for (std::size_t i = 1; i < reads.size(); ++i) {
      CHECK(reads[i] > 0);                     // a file was added and one changed
      CHECK(reads[i] <= 2 * largest_file + 1);  // and only they were read
    }
    CHECK(run["backup_every_min"] == 8 * 60);
    // The site keeps the last 3 (and a day's newest): the first of four is forgotten and pruned
    // before the last backup, whose unchanged files it had first stored. Its repack_small has
    // each prune rewrite the small packs every backup leaves.
    CHECK(run["retention_forgotten"].get<int>() >= 1);
    CHECK(run["retention_packs_repacked"].get<int>() >= 2);
  }
  CHECK_MESSAGE(r.out.find("total-loss: 3 runs, 3 passed") != std::string::npos, r.out);
}

TEST_CASE("drill: a backup that captures the wrong directory for a dataset fails the drill, naming the dataset") {
  // The case: nas/mail captures the hackmd dataset, and the rebuild restores by force: the
  // rebuilt site matches the snapshot (verify-data passes) but not what mail's service wrote,
  // which is what the drill checks against.
  support::TempDir t("drill-wrong-path");
  const fs::path copy = homelab_with(t.path(), "section: \"nas/{{item.name}}\", path: \"/mnt/tank/{{item.name}}\"}\n\n  - id: verify-data",
                                     "section: \"nas/{{item.name}}\", path: \"/mnt/tank/{{item.name}}\", force: true}\n\n  - id: verify-data");
  const fs::path backup = t.path() / "homelab/backup.yaml";
  std::string text = support::read_file(backup);
  const std::string from = "{section: nas/mail, host: truenas, path: /mnt/tank/mail}";
  REQUIRE(text.find(from) != std::string::npos);
  text.replace(text.find(from), from.size(), "{section: nas/mail, host: truenas, path: /mnt/tank/hackmd}");
  std::ofstream(backup) << text;
  // One backup: hackmd's 20 files restored into mail count at mail's declared size per file (the
  // simulator weighs a byte by where it lies), so the files added between nightly backups would
  // fill mail's quota before the drill's check is reached.
  std::string scenario = support::read_file(copy);
  const std::string nightly = "  backups: 4 ";
  REQUIRE(scenario.find(nightly) != std::string::npos);
  scenario.replace(scenario.find(nightly), nightly.size(), "  backups: 1 ");
  const std::string every = "  backup_every: 8h\n";
  REQUIRE(scenario.find(every) != std::string::npos);
  scenario.erase(scenario.find(every), every.size());
  support::write_file(copy, scenario);
  auto r = support::drctl({"drill", copy.string()});
  support::expect_exit(r, 1);
  CHECK_MESSAGE(r.out.find("dataset mail: 20 of the files written before the last snapshot") != std::string::npos, r.out);
  CHECK(r.out.find("dataset hackmd") == std::string::npos);  // the other datasets came back
  CHECK(r.out.find("Lost beyond RPO: 20 files") != std::string::npos);
}

TEST_CASE("drill: a site whose NAS and pool are named otherwise drills like the homelab") {
  // The drill finds the NAS by its role and the datasets' directories by its pool: nothing of the
  // homelab's names (truenas, tank) is the drill's.
  support::TempDir t("drill-renamed-nas");
  fs::copy(homelab(), t.path() / "homelab", fs::copy_options::recursive);
  const std::vector<std::pair<std::string, std::string>> renames = {
      {"tank/", "data0/"}, {"name: tank,", "name: data0,"}, {"host: truenas", "host: storage"},
      {"on: truenas", "on: storage"}, {"disks: [pfsense, truenas, vcenter]", "disks: [pfsense, storage, vcenter]"},
      {"\n  truenas:\n    role: nas", "\n  storage:\n    role: nas"}};
  int replaced = 0;
  for (const char* file : {"site.yaml", "backup.yaml", "rebuild.yaml"}) {
    std::string text = support::read_file(t.path() / "homelab" / file);
    for (const auto& [from, to] : renames)
      for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()), ++replaced)
        text.replace(at, from.size(), to);
    std::ofstream(t.path() / "homelab" / file) << text;
  }
  REQUIRE(replaced >= 14);
  auto r = support::drctl({"drill", (t.path() / "homelab/drills/total-loss.yaml").string()});
  support::expect_exit(r, 0);
  CHECK(r.out.find("PASS total-loss seed 1") != std::string::npos);
  CHECK(r.err.find("storage booted from its restored disk image") != std::string::npos);
}

TEST_CASE("drill: the homelab's mutation catalogue is caught whole, each at the step where reality fails") {
  support::TempDir t("drill-mutations");
  auto r = support::drctl({"drill", scenario("total-loss"), "--mutations", (homelab() / "mutations.yaml").string(), "--junit",
                           (t.path() / "mutations.xml").string()});
  support::expect_exit(r, 0);
  CHECK(r.out.find("MISSED") == std::string::npos);
  CHECK(r.out.find("(reality fails at") == std::string::npos);
  CHECK_MESSAGE(r.out.find("CAUGHT backup-captures-the-wrong-dataset at restore-data") != std::string::npos, r.out);
  CHECK(r.out.find("CAUGHT kubeadm-config-v1beta4 at before:control-plane") != std::string::npos);
  // The public path, as a visitor on the internet meets it: a forward to the wrong address.
  CHECK_MESSAGE(r.out.find("CAUGHT border-forward-https-to-the-wrong-address at before:verify-public: through "
                           "[2a00:4802:360::136] from visitor") != std::string::npos, r.out);
  // Its DNS forward, asked from the visitor as dig would.
  CHECK_MESSAGE(r.out.find("CAUGHT border-forward-dns-to-the-ingress at before:verify-public-dns: DNS [2a00:4802:360::136] from "
                           "visitor: no answer to pxe.viktorbarzin.lan") != std::string::npos, r.out);
  // No Ready node without a pod network.
  CHECK(r.out.find("CAUGHT pod-network-not-tolerating-not-ready at before:nodes-ready") != std::string::npos);
  // The visitor is reached over SSH, as the real checks run there.
  CHECK_MESSAGE(r.out.find("CAUGHT operator-without-ipv6 at before:verify-public-dns: DNS [2a00:4802:360::136] from visitor: no "
                           "answer to pxe.viktorbarzin.lan: ssh: visitor: connect to 2a00:4802:360::beef port 22: no route to host") !=
                    std::string::npos, r.out);
  // Every entry of the catalogue, counted in the file itself.
  std::size_t entries = 0;
  const std::string catalogue = support::read_file(homelab() / "mutations.yaml");
  for (auto at = catalogue.find("\n  - name: "); at != std::string::npos; at = catalogue.find("\n  - name: ", at + 1)) ++entries;
  REQUIRE(entries >= 38);
  CHECK_MESSAGE(r.out.find(std::to_string(entries) + " of " + std::to_string(entries) + " mutations caught") != std::string::npos, r.out);
  // A retention that keeps a tag no backup has would forget them all: as the scheduled job, the
  // drill's retention after the first backup forgets nothing and fails.
  CHECK_MESSAGE(r.out.find("CAUGHT retention-keeps-a-tag-no-backup-has at the drill's checks: the site's retention after the "
                           "backup 1 of 4 failed: it would forget every snapshot of nas/mail") != std::string::npos, r.out);
  const std::string xml = support::read_file(t.path() / "mutations.xml");
  CHECK(xml.find("<testcase name=\"ingress-v1beta1\" classname=\"mutations.total-loss\"") != std::string::npos);
  CHECK(xml.find("failures=\"0\"") != std::string::npos);
}

TEST_CASE("drill: a mutation the drill does not notice is reported missed, with JUnit failures, and exit 1") {
  support::TempDir t("drill-mutations-missed");
  std::ofstream(t.path() / "catalogue.yaml")
      << "mutations:\n"
         "  - {name: harmless, why: nothing fails, file: site.yaml, replace: \"name: homelab\\n\", with: \"name: homelab  # renamed\\n\"}\n"
         "  - {name: port-zero, why: 'ports are 1-65535', file: manifests/hackmd.yaml, replace: '{port: 80, targetPort: 80}',"
         " with: '{port: 0, targetPort: 80}', fails_at: verify-ingress}\n";
  auto r = support::drctl({"drill", scenario("total-loss"), "--mutations", (t.path() / "catalogue.yaml").string(), "--junit",
                           (t.path() / "m.xml").string()});
  support::expect_exit(r, 1);
  CHECK_MESSAGE(r.out.find("MISSED harmless: the drill passed; a real site fails: nothing fails") != std::string::npos, r.out);
  CHECK(r.out.find("CAUGHT port-zero at before:services[hackmd]") != std::string::npos);
  CHECK(r.out.find("(reality fails at verify-ingress)") != std::string::npos);  // caught, but elsewhere
  CHECK(r.out.find("1 of 2 mutations caught") != std::string::npos);
  const std::string xml = support::read_file(t.path() / "m.xml");
  CHECK(xml.find("failures=\"2\"") != std::string::npos);
  CHECK(xml.find("missed: the drill passed") != std::string::npos);
  // A catalogue entry that does not apply is bad input before anything runs.
  std::ofstream(t.path() / "bad.yaml") << "mutations:\n  - {name: nowhere, why: x, file: site.yaml, replace: 'no such text', with: ''}\n";
  r = support::drctl({"drill", scenario("total-loss"), "--mutations", (t.path() / "bad.yaml").string()});
  support::expect_exit(r, 2);
  CHECK(r.err.find("mutations[0] (nowhere): `replace` occurs 0 times in site.yaml (it must occur once)") != std::string::npos);
}

TEST_CASE("drill: the rebuild without its tftpd-hpa restart fails at the installs, naming the stale service") {
  support::TempDir t("drill-tftpd");
  // The whole `then:` of tftp-root goes: /etc/default/tftpd-hpa changes, the daemon keeps /srv/tftp.
  const std::string then_line = "      then: mkdir -p /tftpboot && systemctl restart tftpd-hpa";
  const fs::path copy = homelab_with(t.path(), then_line, "     ");
  auto r = support::drctl({"drill", copy.string()});
  support::expect_exit(r, 1);
  CHECK(r.out.find("FAIL total-loss seed 1") != std::string::npos);
  CHECK_MESSAGE(r.out.find("TFTP error 1: file not found: pxelinux.0") != std::string::npos, r.out);
  CHECK(r.out.find("tftpd-hpa on pxe serves /srv/tftp") != std::string::npos);
  CHECK(r.out.find("restart tftpd-hpa") != std::string::npos);
}

TEST_CASE("drill: the rebuild without exportfs -ra fails at the kickstart, naming the NFS server") {
  support::TempDir t("drill-exportfs");
  const fs::path copy = homelab_with(t.path(), ", then: exportfs -ra}", "}");
  auto r = support::drctl({"drill", copy.string()});
  support::expect_exit(r, 1);
  CHECK(r.out.find("FAIL total-loss seed 1") != std::string::npos);
  CHECK_MESSAGE(r.out.find("/tftpboot/ks/k8s-master.cfg is not exported to") != std::string::npos, r.out);
  CHECK(r.out.find("nfs-kernel-server on pxe") != std::string::npos);
  CHECK(r.out.find("run exportfs -ra") != std::string::npos);
}

TEST_CASE("drill: a bad scenario is one error line naming the file and the field") {
  support::TempDir t("drill-bad");
  std::ofstream(t.path() / "bad.yaml") << "name: bad\nsite: nowhere.yaml\nbackup: b.yaml\nrebuild: r.yaml\n";
  auto r = support::drctl({"drill", (t.path() / "bad.yaml").string()});
  support::expect_exit(r, 2);
  CHECK(support::is_one_error_line(r.err));
  CHECK(r.err.find("bad.yaml:2:7: site:") != std::string::npos);
}

TEST_CASE("drill: a declared size of a dataset the site does not have, or that is no size, is one error line before anything runs") {
  support::TempDir t("drill-bad-sizes");
  for (const auto& [data, expected] : std::vector<std::pair<std::string, std::string>>{
           {"{sizes: {mial: 18G}}", "data.sizes.mial: the site declares no dataset 'mial' (did you mean 'mail'?)"},
           {"{sizes: {mail: lots}}", "data.sizes.mail: 'lots' is not a size like 18G"},
           {"{sizes: {mail: 18}}", "data.sizes.mail: '18' is not a size"},
           {"{sizse: {mail: 18G}}", "data: unknown key 'sizse'"}}) {
    CAPTURE(data);
    const fs::path file = sized_drill(t.path() / std::to_string(std::hash<std::string>{}(data)), data, "{}");
    auto r = support::drctl({"drill", file.string()});
    support::expect_exit(r, 2);
    CHECK(support::is_one_error_line(r.err));
    CHECK_MESSAGE(r.err.find(expected) != std::string::npos, r.err);
    CHECK(r.out.empty());
  }
}

TEST_CASE("drill: --shard I/N splits a seed sweep over N shards without overlap or gaps") {
  support::TempDir t("drill-shard");
  std::vector<std::uint64_t> all;
  for (int i = 1; i <= 3; ++i) {
    const fs::path report = t.path() / ("shard" + std::to_string(i) + ".json");
    auto r = support::drctl({"drill", scenario("etcd-restore"), "--seeds", "1..7", "--shard", std::to_string(i) + "/3", "--report",
                             report.string()});
    support::expect_exit(r, 0);
    const auto runs = nlohmann::json::parse(support::read_file(report))["runs"];
    CHECK(runs.size() >= 2);  // 7 seeds over 3 shards: 3, 2, 2
    for (const auto& run : runs) all.push_back(run["seed"].get<std::uint64_t>());
  }
  std::sort(all.begin(), all.end());
  CHECK(all == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7});  // each seed once
  // More shards than seeds: a shard with nothing to run passes, and says so.
  auto empty = support::drctl({"drill", scenario("etcd-restore"), "--seeds", "1..2", "--shard", "3/3"});
  support::expect_exit(empty, 0);
  CHECK(empty.out.find("No drill runs") != std::string::npos);
  for (const char* bad : {"0/3", "4/3", "3", "a/b", "1/0"}) {
    auto r = support::drctl({"drill", scenario("etcd-restore"), "--shard", bad});
    support::expect_exit(r, 2);
    CHECK(support::is_one_error_line(r.err));
    CHECK_MESSAGE(r.err.find("--shard: '" + std::string(bad) + "'") != std::string::npos, r.err);
  }
}
