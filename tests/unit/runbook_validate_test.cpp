#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "runbook/loader.hpp"
#include "runbook/plan.hpp"
#include "runbook/template.hpp"
#include "runbook/validate.hpp"
#include "support/fs_tree.hpp"

using namespace drctl;
using namespace drctl::runbook;
namespace fs = std::filesystem;
using actions::InputType;

namespace {

// An action that only declares inputs and outputs.
class FakeAction : public actions::Action {
 public:
  explicit FakeAction(actions::ActionSpec spec) : spec_(std::move(spec)) {}
  const actions::ActionSpec& spec() const override { return spec_; }
  bool check(actions::Context&) const override { return false; }
  json apply(actions::Context&) const override { return json::object(); }

 private:
  actions::ActionSpec spec_;
};

const actions::Registry& registry() {
  static const actions::Registry r = [] {
    actions::Registry reg;
    actions::ActionSpec vm{"vm.create", "define a VM", {}, {}};
    vm.inputs = {{"name", InputType::String, true, std::nullopt, ""},
                 {"memory_mb", InputType::Integer, false, std::nullopt, ""},
                 {"start", InputType::Boolean, false, json(true), ""},
                 {"boot_timeout", InputType::Duration, false, json("5m"), ""},
                 {"disks", InputType::List, false, std::nullopt, ""},
                 {"labels", InputType::Map, false, std::nullopt, ""},
                 {"extra", InputType::Any, false, std::nullopt, ""}};
    vm.outputs = {{"vm_id", ""}, {"mac", ""}};
    actions::ActionSpec init{"kubeadm.init", "init the control plane", {}, {}};
    init.inputs = {{"pod_cidr", InputType::String, false, json("10.244.0.0/16"), ""}};
    init.outputs = {{"join_command", ""}, {"token", ""}};
    actions::ActionSpec join{"kubeadm.join", "join a node", {}, {}};
    join.inputs = {{"join_command", InputType::String, true, std::nullopt, ""}};
    reg.add(std::make_unique<FakeAction>(vm));
    reg.add(std::make_unique<FakeAction>(init));
    reg.add(std::make_unique<FakeAction>(join));
    return reg;
  }();
  return r;
}

const char* kSite = R"(name: lab
hosts:
  cp1:
    connection: local
    role: control-plane
  node1:
    address: 10.0.0.11
    mac: "52:54:00:00:00:11"
  node2:
    address: 10.0.0.12
    mac: "52:54:00:00:00:12"
groups:
  workers: [node1, node2]
vars:
  region: north
  count: 3
  flag: true
  workers_list: [node1, node2]
  disks: {root: 20}
)";

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// Loads and validates `yaml` as dir/rb.yaml next to dir/site.yaml (kSite); returns the error
// with the directory taken off ("rb.yaml:3:5: message"), or "" when it is valid.
std::string problem(const std::string& yaml, const std::string& site = kSite) {
  support::TempDir dir("validate");
  write(dir / "rb.yaml", yaml);
  write(dir / "site.yaml", site);
  try {
    validate(load_runbook((dir / "rb.yaml").string()), registry());
  } catch (const LoadError& e) {
    std::string what = e.what();
    std::string prefix = dir.str() + "/";
    return what.rfind(prefix, 0) == 0 ? what.substr(prefix.size()) : what;
  }
  return "";
}

// A runbook on the test site with the given steps (written as list items).
std::string with_site(const std::string& steps) { return "site: site.yaml\nsteps:\n" + steps; }

Runbook load_text(const support::TempDir& dir, const std::string& yaml) {
  write(dir / "rb.yaml", yaml);
  write(dir / "site.yaml", kSite);
  return load_runbook((dir / "rb.yaml").string());
}

}  // namespace

TEST_CASE("validate: the basic fixture and a full runbook are valid") {
  fs::path fixtures = fs::path(__FILE__).parent_path().parent_path() / "fixtures/runbooks";
  CHECK_NOTHROW(validate(load_runbook((fixtures / "basic/runbook.yaml").string()), registry()));
  CHECK(problem(with_site(R"(  - id: init
    uses: kubeadm.init
    on: cp1
  - id: vms
    uses: vm.create
    for_each: "{{workers_list}}"
    with:
      name: "{{item}}"
      memory_mb: "{{count}}"
      start: false
      boot_timeout: 90s
      disks: [{size: 20, image: "{{site.hosts.node1.mac}}"}]
      labels: {region: "{{region}}"}
      extra: "{{disks}}"
  - id: join
    needs: [init, vms]
    on: workers
    uses: kubeadm.join
    with:
      join_command: "{{steps.init.outputs.join_command}} --node {{host.name}} {{host.address}}"
    when: "{{flag}}"
  - id: check
    needs: join
    run: |
      {{#site.groups.workers}}
      ping -c1 {{.}}
      {{/site.groups.workers}}
      echo {{steps.vms.outputs.vm_id}} {{steps.init.outputs.token}}
      {{#host.vlan}}never{{/host.vlan}}
    on: node1
)")) == "");
}

TEST_CASE("validate error: unknown action with did you mean") {
  CHECK(problem("steps:\n  - id: a\n    uses: vm.craete\n") ==
        "rb.yaml:3:11: unknown action 'vm.craete' (did you mean 'vm.create'?)");
  CHECK(problem("steps:\n  - id: a\n    uses: dns.update\n") ==
        "rb.yaml:3:11: unknown action 'dns.update' (`drctl actions` lists them)");
}

TEST_CASE("validate error: unknown host or group in on") {
  CHECK(problem(with_site("  - id: a\n    run: x\n    on: nod1\n")) ==
        "rb.yaml:5:9: unknown host or group 'nod1' (did you mean 'node1'?)");
  CHECK(problem(with_site("  - id: a\n    run: x\n    on: wrokers\n")) ==
        "rb.yaml:5:9: unknown host or group 'wrokers' (did you mean 'workers'?)");
}

TEST_CASE("validate error: on without a site") {
  CHECK(problem("steps:\n  - id: a\n    run: x\n    on: node1\n") ==
        "rb.yaml:4:9: step 'a' runs on 'node1', but the runbook names no site");
}

TEST_CASE("validate error: duplicate step id names the first") {
  CHECK(problem("steps:\n  - id: a\n    run: x\n  - id: b\n    run: y\n  - id: a\n    run: z\n") ==
        "rb.yaml:6:9: duplicate step id 'a' (first defined at line 2)");
}

TEST_CASE("validate error: needs naming no step") {
  CHECK(problem("steps:\n  - id: init\n    run: x\n  - id: b\n    run: y\n    needs: [init, inti]\n") ==
        "rb.yaml:6:19: step 'b' needs 'inti', which is no step (did you mean 'init'?)");
  CHECK(problem("steps:\n  - id: a\n    run: x\n    needs: zzz\n") == "rb.yaml:4:12: step 'a' needs 'zzz', which is no step");
}

TEST_CASE("validate error: dependency cycle is printed") {
  CHECK(problem("steps:\n  - id: a\n    run: x\n    needs: c\n  - id: b\n    run: y\n    needs: a\n"
                "  - id: c\n    run: z\n    needs: b\n") ==
        "rb.yaml:2:5: dependency cycle: a \u2192 c \u2192 b \u2192 a (each step needs the next)");
  CHECK(problem("steps:\n  - id: a\n    run: x\n  - id: b\n    run: y\n    needs: [a, b]\n") ==
        "rb.yaml:4:5: dependency cycle: b \u2192 b (each step needs the next)");
  // Found from a step outside the cycle: printed from the cycle's first step in the file.
  CHECK(problem("steps:\n  - id: top\n    run: x\n    needs: q\n  - id: p\n    run: y\n    needs: q\n"
                "  - id: q\n    run: z\n    needs: p\n") ==
        "rb.yaml:5:5: dependency cycle: p \u2192 q \u2192 p (each step needs the next)");
}

TEST_CASE("validate error: missing required input") {
  CHECK(problem("steps:\n  - id: a\n    uses: vm.create\n    with:\n      memory_mb: 512\n") ==
        "rb.yaml:4:5: missing input 'name' for vm.create (step 'a')");
  CHECK(problem("steps:\n  - id: a\n    uses: vm.create\n") == "rb.yaml:3:11: missing input 'name' for vm.create (step 'a')");
}

TEST_CASE("validate error: unknown action input") {
  CHECK(problem("steps:\n  - id: a\n    uses: vm.create\n    with:\n      nmae: x\n") ==
        "rb.yaml:5:7: unknown input 'nmae' for vm.create (did you mean 'name'?)");
  CHECK(problem("steps:\n  - id: a\n    uses: kubeadm.init\n    with:\n      colour: x\n") ==
        "rb.yaml:5:7: unknown input 'colour' for kubeadm.init (it takes: pod_cidr)");
}

TEST_CASE("validate error: wrongly typed inputs") {
  std::string head = "steps:\n  - id: a\n    uses: vm.create\n    with:\n      name: x\n";
  CHECK(problem(head + "      memory_mb: three\n") == "rb.yaml:6:18: input 'memory_mb' of vm.create must be an integer, not 'three'");
  CHECK(problem(head + "      memory_mb: 0512\n") == "rb.yaml:6:18: input 'memory_mb' of vm.create must be an integer, not '0512'");
  CHECK(problem(head + "      start: yes\n") == "rb.yaml:6:14: input 'start' of vm.create must be a boolean, not 'yes'");
  CHECK(problem(head + "      boot_timeout: soon\n") ==
        "rb.yaml:6:21: input 'boot_timeout' of vm.create must be a duration (e.g. 90s, 20m, 1h), not 'soon'");
  CHECK(problem(head + "      disks: one\n") == "rb.yaml:6:14: input 'disks' of vm.create must be a list, not 'one'");
  CHECK(problem(head + "      labels: [a]\n") == "rb.yaml:6:15: input 'labels' of vm.create must be a map, not a list");
  CHECK(problem("steps:\n  - id: a\n    uses: vm.create\n    with:\n      name: [x]\n") ==
        "rb.yaml:5:13: input 'name' of vm.create must be a string, not a list");
  // Numbers and booleans are fine as text, and a template is checked after rendering.
  CHECK(problem(head + "      memory_mb: 512\n      start: true\n      boot_timeout: 90\n      extra: {a: [1]}\n") == "");
  CHECK(problem("steps:\n  - id: a\n    uses: vm.create\n    with:\n      name: 42\n      memory_mb: \"{{x}}\"\n"
                "vars:\n  x: 5\n") == "");
}

TEST_CASE("validate error: undefined template variable in run with did you mean") {
  CHECK(problem(with_site("  - id: a\n    run: echo {{regon}}\n")) ==
        "rb.yaml:4:15: undefined template variable 'regon' (did you mean 'region'?)");
  CHECK(problem(with_site("  - id: a\n    run: |\n      echo ok\n      echo {{ vars.regin }} {{region}}\n")) ==
        "rb.yaml:6:12: undefined template variable 'vars.regin' (did you mean 'vars.region'?)");
}

TEST_CASE("validate error: undefined step output lists the declared ones") {
  std::string steps = "  - id: init\n    uses: kubeadm.init\n  - id: join\n    needs: init\n    uses: kubeadm.join\n"
                      "    with:\n      join_command: \"{{steps.init.outputs.tokn}}\"\n";
  CHECK(problem(with_site(steps)) ==
        "rb.yaml:9:22: undefined template variable 'steps.init.outputs.tokn' (init declares: join_command, token)");
  CHECK(problem(with_site("  - id: a\n    run: x\n  - id: b\n    needs: a\n    run: echo {{steps.a.outputs.out}}\n")) ==
        "rb.yaml:7:15: undefined template variable 'steps.a.outputs.out' (a declares: exit_code, stderr, stdout)");
}

TEST_CASE("validate error: step outputs only from needed steps") {
  CHECK(problem(with_site("  - id: a\n    run: x\n  - id: b\n    run: echo {{steps.a.outputs.stdout}}\n")) ==
        "rb.yaml:6:15: undefined template variable 'steps.a.outputs.stdout' (step 'a' is not in the needs of 'b'; "
        "add it to use its outputs)");
  CHECK(problem(with_site("  - id: a\n    run: x\n  - id: b\n    needs: a\n    run: echo {{steps.aa.outputs.stdout}}\n")) ==
        "rb.yaml:7:15: undefined template variable 'steps.aa.outputs.stdout' (no step 'aa'; did you mean 'a'?)");
  CHECK(problem(with_site("  - id: a\n    run: echo {{steps.a.outputs.stdout}}\n")) ==
        "rb.yaml:4:15: undefined template variable 'steps.a.outputs.stdout' (a step cannot use its own outputs)");
  CHECK(problem(with_site("  - id: a\n    run: x\n  - id: b\n    needs: a\n    run: echo {{steps.a.stdout}}\n")) ==
        "rb.yaml:7:15: undefined template variable 'steps.a.stdout' (use steps.a.outputs.NAME)");
  // Outputs of steps needed through other steps are available.
  CHECK(problem(with_site("  - id: a\n    run: x\n  - id: b\n    needs: a\n    run: y\n  - id: c\n    needs: b\n"
                          "    run: echo {{steps.a.outputs.stdout}}\n")) == "");
}

TEST_CASE("validate error: item only in for_each steps") {
  CHECK(problem(with_site("  - id: a\n    run: echo {{item}}\n")) ==
        "rb.yaml:4:15: undefined template variable 'item' ('item' is only defined in steps with for_each)");
  CHECK(problem(with_site("  - id: a\n    for_each: [{name: x}]\n    run: echo {{item.nme}}\n")) ==
        "rb.yaml:5:15: undefined template variable 'item.nme' (did you mean 'item.name'?)");
}

TEST_CASE("validate error: host only in steps with on") {
  CHECK(problem(with_site("  - id: a\n    run: echo {{host.address}}\n")) ==
        "rb.yaml:4:15: undefined template variable 'host.address' ('host' is only defined in steps with 'on')");
  // Checked for every host of the group: only node1 and node2 have a mac, cp1 has none.
  CHECK(problem(with_site("  - id: a\n    on: workers\n    run: echo {{host.mac}}\n")) == "");
  CHECK(problem("site: site.yaml\nsteps:\n  - id: a\n    on: cp1\n    run: echo {{host.mac}}\n") ==
        "rb.yaml:5:15: undefined template variable 'host.mac' ('host' has: address, connection, groups, name, port, role, "
        "user)");
}

TEST_CASE("validate error: templates in with values when and for_each") {
  CHECK(problem(with_site("  - id: a\n    uses: vm.create\n    with:\n      name: x\n      disks:\n"
                          "        - {size: 20, image: \"img-{{region}}-{{zone}}\"}\n")) ==
        "rb.yaml:8:45: undefined template variable 'zone'");
  CHECK(problem(with_site("  - id: a\n    run: x\n    when: \"{{flg}}\"\n")) ==
        "rb.yaml:5:12: undefined template variable 'flg' (did you mean 'flag'?)");
  CHECK(problem(with_site("  - id: a\n    run: x\n    for_each: \"{{wrokers_list}}\"\n")) ==
        "rb.yaml:5:16: undefined template variable 'wrokers_list' (did you mean 'workers_list'?)");
  CHECK(problem(with_site("  - id: a\n    run: x\n    for_each: \"{{host.disks}}\"\n    on: node1\n")) ==
        "rb.yaml:5:16: undefined template variable 'host.disks' (for_each names a list in vars or site; 'host' is not "
        "available there)");
}

TEST_CASE("validate error: for_each over a non-list") {
  CHECK(problem(with_site("  - id: a\n    run: x\n    for_each: \"{{region}}\"\n")) ==
        "rb.yaml:5:15: for_each needs a list: 'region' is a string");
  CHECK(problem(with_site("  - id: a\n    run: x\n    for_each: \"{{disks}}\"\n")) ==
        "rb.yaml:5:15: for_each needs a list: 'disks' is a map");
  CHECK(problem(with_site("  - id: a\n    run: echo {{item}}\n    for_each: \"{{site.groups.workers}}\"\n")) == "");
}

TEST_CASE("validate error: template misuse") {
  CHECK(problem(with_site("  - id: a\n    run: echo {{workers_list}}\n")) ==
        "rb.yaml:4:15: template variable 'workers_list' is a list; repeat over it with "
        "{{#workers_list}}\u2026{{/workers_list}}");
  CHECK(problem(with_site("  - id: a\n    run: echo {{#flag}}x{{/flag}}\n")) ==
        "rb.yaml:4:15: section over boolean 'flag': templates render true/false as text; test a flag with the "
        "step's 'when:'");
  CHECK(problem(with_site("  - id: a\n    run: echo {{#region}}x\n")) == "rb.yaml:4:15: template: unclosed section '{{#region}}'");
}

TEST_CASE("validate: the first problem in file order wins") {
  CHECK(problem("steps:\n  - id: a\n    run: echo {{nope}}\n  - id: b\n    uses: nothing\n") ==
        "rb.yaml:5:11: unknown action 'nothing' (`drctl actions` lists them)");
  CHECK(problem("steps:\n  - id: a\n    uses: nothing\n  - id: a\n    run: x\n") ==
        "rb.yaml:3:11: unknown action 'nothing' (`drctl actions` lists them)");
}

TEST_CASE("plan helpers: order and dependencies") {
  support::TempDir dir("plan");
  Runbook rb = load_text(dir, "steps:\n  - id: d\n    run: x\n    needs: [b, c]\n  - id: b\n    run: x\n    needs: a\n"
                              "  - id: c\n    run: x\n    needs: a\n  - id: a\n    run: x\n  - id: e\n    run: x\n");
  CHECK(topological_order(rb) == std::vector<std::string>{"a", "b", "c", "d", "e"});
  CHECK(dependencies(rb, "d") == std::set<std::string>{"a", "b", "c"});
  CHECK(dependencies(rb, "a").empty());
}

TEST_CASE("executor helpers: render context and typed inputs") {
  support::TempDir dir("inputs");
  Runbook rb = load_text(dir, "site: site.yaml\nvars:\n  region: south\nsteps:\n  - id: init\n    uses: kubeadm.init\n"
                              "  - id: vm\n    needs: init\n    on: workers\n    for_each: \"{{workers_list}}\"\n"
                              "    uses: vm.create\n    with:\n      name: \"{{item}}-{{host.name}}\"\n      memory_mb: \"{{count}}\"\n"
                              "      start: \"{{flag}}\"\n      disks: \"{{workers_list}}\"\n      labels: {r: \"{{region}}\"}\n"
                              "      extra: \"{{steps.init.outputs.token}}\"\n");
  validate(rb, registry());
  const Step& step = rb.steps[1];
  json items = for_each_items(rb, step);
  CHECK(items == json::array({"node1", "node2"}));
  auto hosts = rb.site->targets(*step.on);
  REQUIRE(hosts.size() == 2);
  json outputs = {{"init", {{"token", "abc"}, {"join_command", "kubeadm join"}}}, {"vm", {{"vm_id", "x"}}}};
  json ctx = render_context(rb, step, hosts[1], &items[0], outputs);
  CHECK(ctx["region"] == "south");
  CHECK(ctx["vars"]["region"] == "south");
  CHECK(ctx["site"]["name"] == "lab");
  CHECK(ctx["host"]["address"] == "10.0.0.12");
  CHECK(ctx["item"] == "node1");
  CHECK(ctx["steps"]["init"]["outputs"]["token"] == "abc");
  CHECK_FALSE(ctx["steps"].contains("vm"));
  CHECK(ctx["runbook"]["dir"] == dir.str());
  json inputs = render_inputs(rb, step, registry().find("vm.create")->spec(), ctx);
  CHECK(inputs["name"] == "node1-node2");
  CHECK(inputs["memory_mb"] == 3);
  CHECK(inputs["start"] == true);
  CHECK(inputs["boot_timeout"] == "5m");
  CHECK(inputs["disks"] == json::array({"node1", "node2"}));
  CHECK(inputs["labels"] == json{{"r", "south"}});
  CHECK(inputs["extra"] == "abc");

  CHECK(to_input_type("90s", InputType::Duration) == json("90s"));
  CHECK(to_input_type(2, InputType::Duration) == json("2"));
  CHECK_FALSE(to_input_type("-2s", InputType::Duration));
  CHECK(to_input_type(5, InputType::String) == json("5"));
  CHECK(to_input_type("FALSE", InputType::Boolean) == json(false));
  CHECK_FALSE(to_input_type("x", InputType::Integer));
}

TEST_CASE("executor helpers: a rendered input of the wrong type") {
  support::TempDir dir("inputs2");
  Runbook rb = load_text(dir, "vars:\n  size: big\nsteps:\n  - id: vm\n    uses: vm.create\n    with:\n      name: a\n"
                              "      memory_mb: \"{{size}}\"\n");
  validate(rb, registry());
  json ctx = render_context(rb, rb.steps[0], nullptr, nullptr, json::object());
  std::string expected = dir.str() + "/rb.yaml:8:18: input 'memory_mb' of vm.create must be an integer, not 'big'";
  CHECK_THROWS_WITH_AS(render_inputs(rb, rb.steps[0], registry().find("vm.create")->spec(), ctx), expected.c_str(),
                       LoadError);
}

TEST_CASE("validate: a dotted step id nests under steps") {
  std::string yaml = "steps:\n  - id: kube.init\n    uses: kubeadm.init\n  - id: b\n    needs: kube.init\n"
                     "    run: echo {{steps.kube.init.outputs.token}}\n";
  CHECK(problem(yaml) == "");
  support::TempDir dir("dotted");
  Runbook rb = load_text(dir, yaml);
  json ctx = render_context(rb, rb.steps[1], nullptr, nullptr, json{{"kube.init", {{"token", "t0k"}}}});
  CHECK(render(*rb.steps[1].run, ctx, rb.steps[1].run_pos) == "echo t0k");
}

TEST_CASE("expand: a step fanned out over a group waits for the same host's instances of a fanned-out need") {
  support::TempDir dir("expand");
  write(dir / "site.yaml", "name: lab\nhosts:\n  cp1: {connection: local}\n  node1: {address: 10.0.0.11}\n"
                           "  node2: {address: 10.0.0.12}\ngroups:\n  workers: [node1, node2]\n"
                           "  all: [cp1, node1, node2]\n");
  write(dir / "rb.yaml", with_site(R"(  - {id: local-first, run: "true"}
  - {id: prep, on: workers, run: "true", needs: local-first}
  - {id: work, on: workers, run: "true", needs: prep, for_each: [a, b]}
  - {id: init, on: cp1, run: "true", needs: work}
  - {id: join, on: workers, run: "true", needs: [init, work]}
  - {id: all-hosts, on: all, run: "true", needs: join}
)"));
  std::vector<Instance> inst = expand(load_runbook((dir / "rb.yaml").string()));
  std::map<std::string, std::set<std::string>> deps;
  for (const auto& i : inst)
    for (std::size_t d : i.deps) deps[i.id].insert(inst[d].id);
  using S = std::set<std::string>;
  CHECK(deps["prep[node1]"] == S{"local-first"});
  CHECK(deps["work[node1][a]"] == S{"prep[node1]"});
  CHECK(deps["work[node2][b]"] == S{"prep[node2]"});
  // A single host waits for every instance; a group's instance for its own host's.
  CHECK(deps["init"] == S{"work[node1][a]", "work[node1][b]", "work[node2][a]", "work[node2][b]"});
  CHECK(deps["join[node2]"] == S{"init", "work[node2][a]", "work[node2][b]"});
  // cp1 is in `all` but join has no instance there: it waits for all of join.
  CHECK(deps["all-hosts[cp1]"] == S{"join[node1]", "join[node2]"});
  CHECK(deps["all-hosts[node1]"] == S{"join[node1]"});
}
