// The status lines of long commands on a terminal (issue 21, section 2): a capture shows its
// bytes against what the source's previous snapshot held, a restore against the section's
// total, with a percentage. The host is slowed down (each command waits a second before it
// runs, by sshd's ForceCommand), so the line has time to show on any machine.
#include <doctest/doctest.h>

#include <regex>

#include "support/fs_tree.hpp"
#include "support/pty.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

using namespace support;

namespace {

/// Runs every exec request and the SFTP server a second late.
fs::path slow_force_command(const fs::path& dir) {
  const fs::path script = dir / "slow";
  write_file(script,
             "#!/bin/sh\n"
             "sleep 1\n"
             "if [ \"$SSH_ORIGINAL_COMMAND\" = internal-sftp ]; then exec /usr/lib/openssh/sftp-server -e; fi\n"
             "exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n",
             0755);
  return script;
}

/// The percentages the status lines showed ("(37%)").
std::vector<int> percentages(const std::string& screen) {
  std::vector<int> out;
  const std::regex pct(R"(\((\d+)%\))");
  for (std::sregex_iterator m(screen.begin(), screen.end(), pct), end; m != end; ++m) out.push_back(std::stoi((*m)[1].str()));
  return out;
}

}  // namespace

TEST_CASE("status lines: a capture over SSH shows its share of the previous snapshot's size, a restore of the section's") {
  TempDir t("status-line");
  SshdPlace place;
  place.extra_config.push_back("ForceCommand " + slow_force_command(t.path()).string());
  Sshd sshd(place);
  const fs::path config = write_client_config(sshd, t / "ssh_config", "nas");
  make_random_tree(t / "tree", {.seed = 5, .files = 30, .min_size = 64 * KiB, .max_size = 512 * KiB, .dirs = 3});
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::vector<std::string> create = {"snapshot", "create", "--repo", repo.string(), "--nas",
                                           "data=ssh://nas" + (t / "tree").string(), "--ssh-config", config.string()};

  // The first capture of a source has nothing to compare with: bytes and rate, no percentage.
  const auto first = run_in_pty(create, 200);
  REQUIRE_MESSAGE(first.exit_code == 0, first.screen);
  CHECK_MESSAGE(first.screen.find(" files] ") != std::string::npos, first.screen);
  CHECK(percentages(first.screen).empty());

  // The next one knows what to expect.
  write_file(t / "tree/added", std::string(100000, 'a'));
  const auto second = run_in_pty(create, 200);
  REQUIRE_MESSAGE(second.exit_code == 0, second.screen);
  const auto shown = percentages(second.screen);
  CHECK_MESSAGE(!shown.empty(), second.screen);
  for (int p : shown) CHECK(p <= 100);

  // A restore from the far copy read over SFTP (slowed the same way) knows the section's total.
  REQUIRE(drctl({"snapshot", "copy", "--all", "--repo", repo.string(), "--to", "sftp://nas" + (t / "far").string(),
                 "--ssh-config", config.string()}).exit_code == 0);
  const auto restore = run_in_pty({"snapshot", "restore", "latest", "--repo", "sftp://nas" + (t / "far").string(), "--ssh-config",
                                   config.string(), "--section", "nas/data", "--to", (t / "back").string()},
                                  200);
  REQUIRE_MESSAGE(restore.exit_code == 0, restore.screen);
  CHECK_MESSAGE(!percentages(restore.screen).empty(), restore.screen);
  CHECK(restore.screen.find("restored") != std::string::npos);
  const auto d = compare_trees(t / "tree", t / "back");
  CHECK_MESSAGE(d.empty(), join_diffs(d));
}
