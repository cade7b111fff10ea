#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "runbook/loader.hpp"
#include "support/fs_tree.hpp"

using namespace drctl::runbook;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

fs::path fixtures() { return fs::path(__FILE__).parent_path().parent_path() / "fixtures/runbooks"; }

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Loads `yaml` as dir/rb.yaml (with `site` as dir/site.yaml when given) and returns the error
// with the directory taken off ("rb.yaml:3:5: message"), or "" when it loads.
std::string load_error(const std::string& yaml, const std::string& site = "") {
  support::TempDir dir("loader");
  write(dir / "rb.yaml", yaml);
  if (!site.empty()) write(dir / "site.yaml", site);
  try {
    load_runbook((dir / "rb.yaml").string());
  } catch (const LoadError& e) {
    std::string what = e.what();
    std::string prefix = dir.str() + "/";
    return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
  }
  return "";
}

// A runbook whose only step is `step` (indented as a list item under steps:).
std::string one_step(const std::string& step) { return "name: t\nsteps:\n" + step; }

}  // namespace

TEST_CASE("loader: the basic fixture loads with every field") {
  Runbook rb = load_runbook((fixtures() / "basic/runbook.yaml").string());
  fs::path dir = fs::absolute(fixtures() / "basic").lexically_normal();
  CHECK(rb.file == (dir / "runbook.yaml").string());
  CHECK(rb.name == "smoke");
  CHECK(rb.vars["greeting"] == "hello");
  CHECK(rb.vars["kubernetes"]["version"] == "1.31");
  REQUIRE(rb.steps.size() == 4);

  const Step& prepare = rb.steps[0];
  CHECK(prepare.id == "prepare");
  CHECK(prepare.pos.line == 11);
  CHECK(prepare.pos.col == 5);
  CHECK(prepare.run == std::optional<std::string>("mkdir -p {{backup_dir}}"));
  CHECK(prepare.run_pos.line == 12);
  CHECK(prepare.run_pos.col == 10);
  CHECK(prepare.on == std::optional<std::string>("local"));
  CHECK(prepare.timeout == milliseconds(90'000));
  CHECK(prepare.retries == 0);
  CHECK(prepare.retry_delay == milliseconds(1000));
  CHECK_FALSE(prepare.uses);

  const Step& greet = rb.steps[1];
  REQUIRE(greet.needs.size() == 1);
  CHECK(greet.needs[0].first == "prepare");
  CHECK(greet.needs[0].second.line == 17);
  CHECK(greet.on == std::optional<std::string>("workers"));
  CHECK(greet.run == std::optional<std::string>("echo {{greeting}} from {{host.name}} in {{region}}\n"));
  CHECK(greet.retries == 2);
  CHECK(greet.retry_delay == milliseconds(500));

  const Step& each = rb.steps[2];
  CHECK(each.for_each.IsScalar());
  CHECK(each.timeout == milliseconds((90 * 60) * 1000));
  CHECK(each.estimate == std::optional<milliseconds>(milliseconds(20 * 60 * 1000)));

  const Step& report = rb.steps[3];
  CHECK(report.needs.size() == 2);
  CHECK(report.when == std::optional<std::string>("{{greeting}}"));
  CHECK(report.when_pos.line == 33);

  REQUIRE(rb.site);
  const Site& site = *rb.site;
  CHECK(site.file == (dir / "site.yaml").string());
  CHECK(site.name == "lab");
  CHECK(site.hypervisor["kind"] == "libvirt");
  CHECK(site.hypervisor["url"] == "qemu:///system");
  CHECK(site.networks["lan"]["vlan"] == 10);
  REQUIRE(site.hosts.size() == 3);
  const SiteHost* local = site.host("local");
  REQUIRE(local);
  CHECK(local->connection == "local");
  CHECK(local->address.empty());
  CHECK(local->role == "controller");
  const SiteHost* node1 = site.host("node1");
  REQUIRE(node1);
  CHECK(node1->address == "10.0.10.11");
  CHECK(node1->user == "admin");
  CHECK(node1->port == 22);
  CHECK(node1->vars["mac"] == "52:54:00:00:00:11");
  CHECK(node1->pos.line == 15);
  CHECK(site.host("node2")->port == 2222);
  CHECK(site.groups.at("workers") == std::vector<std::string>{"node2", "node1"});
  CHECK(site.groups.at("everyone") == std::vector<std::string>{"local", "node1", "node2"});
  CHECK(node1->groups == std::vector<std::string>{"workers", "everyone"});
  CHECK(site.targets("workers").size() == 2);
  CHECK(site.targets("node2").size() == 1);
  CHECK(site.targets("nobody").empty());
  CHECK(site.vars["kubernetes"]["version"] == "1.30");  // a fraction stays text as written

  json merged = rb.merged_vars();
  CHECK(merged["region"] == "south");
  CHECK(merged["domain"] == "lab.example");
  CHECK(merged["kubernetes"]["version"] == "1.31");
  CHECK(merged["kubernetes"]["pod_cidr"] == "10.244.0.0/16");
}

TEST_CASE("loader: paths are relative to the file that names them") {
  support::TempDir dir("paths");
  fs::copy(fixtures() / "basic", dir / "copy", fs::copy_options::recursive);
  fs::create_directories(dir / "elsewhere");
  fs::path cwd = fs::current_path();
  fs::current_path(dir / "elsewhere");
  Runbook rb;
  try {
    rb = load_runbook("../copy/runbook.yaml");
  } catch (...) {
    fs::current_path(cwd);
    throw;
  }
  fs::current_path(cwd);
  fs::path copy = dir / "copy";
  CHECK(rb.file == (copy / "runbook.yaml").string());
  REQUIRE(rb.site);
  CHECK(rb.site->file == (copy / "site.yaml").string());
  CHECK(rb.site->vars["backup_dir"] == (copy / "backups").string());
  CHECK(rb.site->hypervisor["ca_file"] == (copy / "certs/ca.pem").string());
  CHECK(rb.site->host("node1")->vars["key_file"] == (copy / "keys/id_node").string());
  CHECK(fs::exists(rb.site->host("node1")->vars["key_file"].get<std::string>()));
  CHECK(rb.site->hypervisor["url"] == "qemu:///system");
}

TEST_CASE("loader: a site in another folder resolves its paths against its own folder") {
  support::TempDir dir("paths2");
  write(dir / "sites/lab/site.yaml", "vars:\n  ks_file: ks/node.cfg\n  tool: ./bin/tool\n  remote: /srv/tftp\n");
  write(dir / "books/rb.yaml",
        "site: ../sites/lab/site.yaml\nvars:\n  out_dir: out\n  template: ./t.mustache\nsteps:\n  - id: a\n"
        "    uses: file.put\n    with:\n      src: ./files/a.txt\n      path: etc/a\n");
  Runbook rb = load_runbook((dir / "books/rb.yaml").string());
  CHECK(rb.site->name == "lab");
  CHECK(rb.site->vars["ks_file"] == (dir / "sites/lab/ks/node.cfg").string());
  CHECK(rb.site->vars["tool"] == (dir / "sites/lab/bin/tool").string());
  CHECK(rb.site->vars["remote"] == "/srv/tftp");
  CHECK(rb.vars["out_dir"] == (dir / "books/out").string());
  CHECK(rb.vars["template"] == (dir / "books/t.mustache").string());
  CHECK(rb.steps[0].with["src"].Scalar() == (dir / "books/files/a.txt").string());
  CHECK(rb.steps[0].with["src"].Mark().line == 8);
  CHECK(rb.steps[0].with["path"].Scalar() == "etc/a");
}

TEST_CASE("loader: yaml types follow the plain or quoted spelling") {
  YAML::Node n = YAML::Load("a: 5\nb: '5'\nc: true\nd: 1.30\ne: ~\nf: 0644\ng: -3\nh: [1, x]\ni: |\n  text\n");
  json j = yaml_to_json(n);
  CHECK(j["a"] == 5);
  CHECK(j["b"] == "5");
  CHECK(j["c"] == true);
  CHECK(j["d"] == "1.30");
  CHECK(j["e"].is_null());
  CHECK(j["f"] == "0644");
  CHECK(j["g"] == -3);
  CHECK(j["h"] == json::array({1, "x"}));
  CHECK(j["i"] == "text\n");
}

TEST_CASE("loader error: yaml syntax at the parser's mark") {
  CHECK(load_error("name: t\nsteps: [a, b\n") == "rb.yaml:3:1: end of sequence flow not found");
  CHECK(load_error("name: a: b\n") == "rb.yaml:1:8: illegal map value");
}

TEST_CASE("loader error: missing runbook file") {
  support::TempDir dir("missing");
  std::string path = (dir / "nope.yaml").string();
  CHECK_THROWS_WITH_AS(load_runbook(path), (path + ": cannot read runbook: No such file or directory").c_str(),
                       LoadError);
}

TEST_CASE("loader error: missing site file names the runbook line") {
  CHECK(load_error("site: lab/site.yaml\nsteps:\n  - id: a\n    run: x\n").find(
            "rb.yaml:1:7: cannot read site '") == 0);
}

TEST_CASE("loader error: unknown step key suggests the closest") {
  CHECK(load_error(one_step("  - id: a\n    run: x\n    neeeds: b\n")) ==
        "rb.yaml:5:5: unknown key 'neeeds' in a step (did you mean 'needs'?)");
  CHECK(load_error(one_step("  - id: a\n    run: x\n    retires: 2\n")) ==
        "rb.yaml:5:5: unknown key 'retires' in a step (did you mean 'retries'?)");
}

TEST_CASE("loader error: unknown key without a close match lists the keys") {
  CHECK(load_error("name: t\nbanana: 1\nsteps:\n  - id: a\n    run: x\n") ==
        "rb.yaml:2:1: unknown key 'banana' in the runbook (expected one of: name site vars steps)");
}

TEST_CASE("loader error: unknown site key") {
  CHECK(load_error("site: site.yaml\nsteps:\n  - id: a\n    run: x\n", "name: s\nhots:\n  a: {}\n") ==
        "site.yaml:2:1: unknown key 'hots' in the site (did you mean 'hosts'?)");
}

TEST_CASE("loader error: unknown hypervisor key") {
  CHECK(load_error("site: site.yaml\nsteps:\n  - id: a\n    run: x\n",
                   "name: s\nhypervisor:\n  kind: vsphere\n  thumbprnt: AB\n") ==
        "site.yaml:4:3: unknown key 'thumbprnt' in hypervisor (did you mean 'thumbprint'?)");
}

TEST_CASE("loader error: duplicate key") {
  CHECK(load_error(one_step("  - id: a\n    run: x\n    run: y\n")) == "rb.yaml:5:5: duplicate key 'run' (first at line 4)");
}

TEST_CASE("loader error: bad durations") {
  CHECK(load_error(one_step("  - id: a\n    run: x\n    timeout: ten minutes\n")) ==
        "rb.yaml:5:14: bad duration 'ten minutes' (e.g. 90, 90s, 1h30m, 1.5s)");
  CHECK(load_error(one_step("  - id: a\n    run: x\n    retry_delay: -5s\n")) ==
        "rb.yaml:5:18: bad duration '-5s' (e.g. 90, 90s, 1h30m, 1.5s)");
  CHECK(load_error(one_step("  - id: a\n    run: x\n    estimate: [1]\n")) ==
        "rb.yaml:5:15: bad duration 'estimate' (e.g. 90, 90s, 1h30m, 1.5s)");
}

TEST_CASE("loader error: step id required and well formed") {
  CHECK(load_error(one_step("  - run: x\n")) == "rb.yaml:3:5: a step needs an 'id'");
  CHECK(load_error(one_step("  - id: two words\n    run: x\n")) ==
        "rb.yaml:3:9: bad step id 'two words' (use letters, digits, '_', '.' and '-', starting with a letter or digit)");
  CHECK(load_error(one_step("  - id: -x\n    run: x\n")).find("rb.yaml:3:9: bad step id '-x'") == 0);
}

TEST_CASE("loader error: exactly one of uses and run") {
  CHECK(load_error(one_step("  - id: a\n    timeout: 5s\n")) ==
        "rb.yaml:3:5: step 'a' needs 'uses' (an action) or 'run' (a shell command)");
  CHECK(load_error(one_step("  - id: a\n    run: x\n    uses: shell.run\n")) ==
        "rb.yaml:5:11: step 'a' has both 'uses' and 'run'; a step does one of them");
  CHECK(load_error(one_step("  - id: a\n    run: x\n    with:\n      x: 1\n")) ==
        "rb.yaml:5:5: 'with' gives inputs to an action; step 'a' has 'run', not 'uses'");
}

TEST_CASE("loader error: retries must be a non-negative integer") {
  CHECK(load_error(one_step("  - id: a\n    run: x\n    retries: -1\n")) ==
        "rb.yaml:5:14: retries must be a non-negative integer, not '-1'");
  CHECK(load_error(one_step("  - id: a\n    run: x\n    retries: many\n")) ==
        "rb.yaml:5:14: retries must be a non-negative integer, not 'many'");
}

TEST_CASE("loader error: for_each needs a list or one tag") {
  std::string expected = "for_each needs a list: a YAML list, or '{{name}}' naming a list in vars or site";
  CHECK(load_error(one_step("  - id: a\n    run: x\n    for_each: {a: 1}\n")) == "rb.yaml:5:15: " + expected);
  CHECK(load_error(one_step("  - id: a\n    run: x\n    for_each: \"a {{b}}\"\n")) == "rb.yaml:5:15: " + expected);
  CHECK(load_error(one_step("  - id: a\n    run: x\n    for_each: [1, 2]\n")).empty());
}

TEST_CASE("loader error: needs must be names") {
  CHECK(load_error(one_step("  - id: a\n    run: x\n    needs: {b: 1}\n")) ==
        "rb.yaml:5:12: 'needs' must be a name or a list of names, not a map");
}

TEST_CASE("loader error: steps must be a non-empty list") {
  CHECK(load_error("name: t\n") == "rb.yaml:1:1: a runbook needs 'steps'");
  CHECK(load_error("name: t\nsteps: []\n") == "rb.yaml:2:8: 'steps' must be a list of at least one step");
  CHECK(load_error("name: t\nsteps:\n  - just text\n") ==
        "rb.yaml:3:5: a step must be a map with 'id' and 'uses' or 'run', not 'just text'");
  CHECK(load_error("") == "rb.yaml:1:1: empty runbook: expected a map with name, site, vars and steps");
}

TEST_CASE("loader error: a var may not hide the template context") {
  CHECK(load_error("vars:\n  site: x\nsteps:\n  - id: a\n    run: x\n") ==
        "rb.yaml:2:3: var 'site' would be hidden by the template context's 'site'; rename it");
}

TEST_CASE("loader error: site hosts and groups") {
  std::string rb = "site: site.yaml\nsteps:\n  - id: a\n    run: x\n";
  CHECK(load_error(rb, "hosts:\n  a:\n    connection: telnet\n") ==
        "site.yaml:3:17: connection must be 'local' or 'ssh', not 'telnet'");
  CHECK(load_error(rb, "hosts:\n  a:\n    connection: lcoal\n") ==
        "site.yaml:3:17: connection must be 'local' or 'ssh', not 'lcoal' (did you mean 'local'?)");
  CHECK(load_error(rb, "hosts:\n  a:\n    port: 70000\n") ==
        "site.yaml:3:11: port must be an integer from 1 to 65535, not '70000'");
  CHECK(load_error(rb, "hosts:\n  a:\n    adress: 10.0.0.1\n") ==
        "site.yaml:3:5: unknown key 'adress' in host 'a' (did you mean 'address'?)");
  CHECK(load_error(rb, "hosts:\n  node1: {}\ngroups:\n  workers: [node1, nod2]\n") ==
        "site.yaml:4:20: group 'workers' names unknown host 'nod2' (did you mean 'node1'?)");
  CHECK(load_error(rb, "hosts:\n  node1: {}\ngroups:\n  node1: [node1]\n") ==
        "site.yaml:4:3: group 'node1' has the name of a host; 'on: node1' would be ambiguous");
  CHECK(load_error(rb, "hosts:\n  a:\n    name: b\n") == "site.yaml:3:5: a host's name is its key under 'hosts'; remove 'name'");
  CHECK(load_error(rb, "hosts:\n  a:\n    ports: [1, 2]\n    mac: x\n").empty());
}

TEST_CASE("loader: site defaults") {
  support::TempDir dir("site");
  write(dir / "homelab/site.yaml", "hosts:\n  nas: ~\n  k8s-node1:\n    groups: workers\n");
  Site site = load_site((dir / "homelab/site.yaml").string());
  CHECK(site.name == "homelab");
  CHECK(site.host("nas")->address == "nas");
  CHECK(site.host("nas")->connection == "ssh");
  CHECK(site.groups.at("workers") == std::vector<std::string>{"k8s-node1"});
  json j = site.to_json();
  CHECK(j["hosts"]["k8s-node1"]["groups"] == json::array({"workers"}));
  CHECK(j["hosts"]["nas"]["port"] == 22);
  CHECK(j["dir"] == (dir / "homelab").string());
}

TEST_CASE("loader: locate points into a value") {
  std::string src = "a: 1\nrun: |\n  echo {{x}}\n  echo {{x}} {{y}}\n";
  Pos start{"f", 2, 6};
  Pos p = locate(src, start, "{{x}}", 1);
  CHECK(p.line == 4);
  CHECK(p.col == 8);
  CHECK(locate(src, start, "{{y}}", 0).col == 14);
  CHECK(locate(src, start, "{{z}}", 0).line == 2);
}
