// The menu lint where it runs in a rebuild: the homelab's own menus, rendered by pxe.render as
// rebuild.yaml renders them onto the kit's TFTP tree, pass; a broken menu template fails the
// pxe-config step with the error's file and line, and nothing is written.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "actions/action.hpp"
#include "boot/menu_lint.hpp"
#include "runbook/executor.hpp"
#include "runbook/loader.hpp"
#include "runbook/validate.hpp"
#include "sim/sim_world.hpp"
#include "support/fs_tree.hpp"

using namespace drctl;
namespace fs = std::filesystem;

namespace {

fs::path homelab() { return fs::path(__FILE__).parent_path().parent_path().parent_path() / "runbooks/homelab"; }

runbook::RunSummary rebuild(sim::SimWorld& world, const fs::path& state, const fs::path& dir) {
  runbook::Runbook rb = runbook::load_runbook((dir / "rebuild.yaml").string());
  runbook::validate(rb, actions::Registry::builtin());
  runbook::ExecOptions options;
  options.state_dir = state;
  runbook::Observer quiet;
  return runbook::execute(rb, actions::Registry::builtin(), world, options, quiet);
}

const runbook::InstanceResult* result(const runbook::RunSummary& s, const std::string& id) {
  for (const auto& r : s.results)
    if (r.id == id) return &r;
  return nullptr;
}

world::CommandResult sh(sim::SimWorld& world, const std::string& script) {
  world::Command c;
  c.script = script;
  return world.host("pxe").run(c);
}

}  // namespace

TEST_CASE("boot lint: the homelab's menus as the rebuild renders them onto the kit's tree pass") {
  support::TempDir t("lint-homelab");
  sim::SimWorld world(runbook::load_site((homelab() / "site.yaml").string()).world_json(), 1);
  const auto summary = rebuild(world, t.path() / "state", homelab());
  REQUIRE(summary.ok());
  // The tree as it landed on the simulated PXE server, read back from there.
  boot::TftpTree tree;
  std::istringstream listed(sh(world, "find /tftpboot -type f").out);
  for (std::string line; std::getline(listed, line);) tree.files.insert(line.substr(std::string("/tftpboot/").size()));
  tree.read = [&](const std::string& rel) { return world.host("pxe").get_file("/tftpboot/" + rel); };
  CHECK(tree.files.count("pxelinux.cfg/default"));
  CHECK(std::count_if(tree.files.begin(), tree.files.end(), [](const std::string& f) { return f.starts_with("pxelinux.cfg/01-"); }) == 4);
  boot::Serving serving;
  serving.servers = {"10.0.10.5", "pxe", "pxe.viktorbarzin.lan"};
  serving.exports = world.host("pxe").get_file("/etc/exports");
  REQUIRE(serving.exports);
  std::string errors;
  for (const auto& e : boot::lint_tree(tree, serving)) errors += e + "\n";
  CHECK(errors == "");
}

TEST_CASE("boot lint: pxe.render refuses a menu that waits forever, naming file and line, and writes nothing") {
  support::TempDir t("lint-render");
  const fs::path dir = t.path() / "homelab";
  fs::copy(homelab(), dir, fs::copy_options::recursive);
  const fs::path menu = dir / "templates/pxelinux-default.mustache";
  std::string text = support::read_file(menu);
  const auto at = text.find("TIMEOUT 100\n");
  REQUIRE(at != std::string::npos);
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
  text.replace(at, 11, "TIMEOUT 0");
  std::ofstream(menu, std::ios::trunc) << text;

  sim::SimWorld world(runbook::load_site((dir / "site.yaml").string()).world_json(), 1);
  const auto summary = rebuild(world, t.path() / "state", dir);
  CHECK_FALSE(summary.ok());
  const runbook::InstanceResult* step = result(summary, "pxe-config");
  REQUIRE(step);
  INFO(step->error);
  CHECK(step->error.starts_with("/tftpboot/pxelinux.cfg/default:" + std::to_string(line) + ": TIMEOUT 0 and no TOTALTIMEOUT"));
  CHECK(step->error.find("waits forever at the vesamenu.c32 menu") != std::string::npos);
  // Nothing of what pxe.render renders reached the server.
  CHECK_FALSE(world.host("pxe").get_file("/tftpboot/pxelinux.cfg/default"));
  CHECK_FALSE(world.host("pxe").get_file("/tftpboot/ks.cfg"));
}
