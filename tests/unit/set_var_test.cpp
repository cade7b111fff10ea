// --set changes only vars a runbook or its site declares (--set-new adds one), and `when:` is
// decided from the vars alone where it reads nothing else (plan, --dry-run).
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "base/error.hpp"
#include "runbook/loader.hpp"
#include "runbook/plan.hpp"
#include "runbook/set_var.hpp"
#include "support/fs_tree.hpp"

namespace fs = std::filesystem;
using namespace drctl::runbook;

namespace {

Runbook runbook_of(const support::TempDir& dir, const std::string& steps = "  - {id: a, run: \"true\"}\n") {
  std::ofstream(dir / "site.yaml") << "vars:\n  metallb: {pool: 10.0.20.200-10.0.20.220}\n  restore: false\n";
  std::ofstream(dir / "rb.yaml") << "site: site.yaml\nvars:\n  kube_from: objects\nsteps:\n" << steps;
  return load_runbook((dir / "rb.yaml").string());
}

std::string set_error(Runbook& rb, const std::string& assignment, bool add = false) {
  try {
    set_var(rb, assignment, add);
  } catch (const drctl::InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("set var: a declared var or key changes, an undeclared one is refused with the name meant") {
  support::TempDir dir("set-var");
  Runbook rb = runbook_of(dir);
  CHECK(set_error(rb, "restore=true") == "");
  CHECK(rb.merged_vars()["restore"] == true);
  CHECK(set_error(rb, "metallb.pool=10.0.20.200-10.0.20.210") == "");
  CHECK(rb.merged_vars()["metallb"]["pool"] == "10.0.20.200-10.0.20.210");
  CHECK(set_error(rb, "restor=true") ==
        "--set restor: the runbook and its site declare no var 'restor' (did you mean 'restore'?); to add a var, use --set-new restor=…");
  CHECK(set_error(rb, "metallb.pol=x").find("--set metallb.pol: metallb has no key 'pol' (did you mean 'pool'?)") == 0);
  CHECK(set_error(rb, "restore.x=1").find("--set restore.x: restore is not a map") == 0);
  CHECK(set_error(rb, "metallb..pool=1").find("an empty part") != std::string::npos);
  CHECK_FALSE(rb.merged_vars().contains("restor"));
  // --set-new: on purpose.
  CHECK(set_error(rb, "greeting=hi", true) == "");
  CHECK(rb.merged_vars()["greeting"] == "hi");
  CHECK(set_error(rb, "metallb.version=0.13.12", true) == "");
  CHECK(rb.merged_vars()["metallb"]["version"] == "0.13.12");
  CHECK(rb.merged_vars()["metallb"]["pool"] == "10.0.20.200-10.0.20.210");  // the rest of the map kept
}

TEST_CASE("set var: when: is decided from vars alone, and left to the run when it reads a host or outputs") {
  support::TempDir dir("set-var-when");
  Runbook rb = runbook_of(dir,
                          "  - {id: fresh, run: \"true\", when: \"not {{restore}}\"}\n"
                          "  - {id: etcd, run: \"true\", when: \"{{restore}} and {{kube_from}} == etcd\"}\n"
                          "  - {id: by-host, run: \"true\", when: \"{{host.name}} == a\"}\n"
                          "  - {id: always, run: \"true\"}\n");
  CHECK(skipped_by_when(rb, *rb.step("fresh")) == false);
  CHECK(skipped_by_when(rb, *rb.step("etcd")) == true);
  CHECK_FALSE(skipped_by_when(rb, *rb.step("by-host")).has_value());
  CHECK(skipped_by_when(rb, *rb.step("always")) == false);
  set_var(rb, "restore=true");
  set_var(rb, "kube_from=etcd");
  CHECK(steps_skipped_by_when(rb) == std::set<std::string>{"fresh"});
}
