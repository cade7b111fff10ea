// drctl run over SSH to three hosts, each a network namespace with its own sshd on a veth
// bridge the test makes (tests/support/netns.hpp); drctl itself runs in a fourth namespace on
// that bridge, so no traffic leaves the namespaces. One host's sshd is stopped while a step
// runs there: its steps retry, then fail with a clear message, while the other hosts finish;
// once it is back, `--resume` completes the run without repeating what was done.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fs_tree.hpp"
#include "support/netns.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> lines_of(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

/// The journal's events for one step instance, in order.
std::vector<json> events_of(const fs::path& state, const std::string& step) {
  std::vector<json> out;
  for (const auto& line : lines_of(state / "journal.jsonl")) {
    json e = json::parse(line, nullptr, false);
    if (e.is_object() && e.value("step", "") == step) out.push_back(e);
  }
  return out;
}

int count_events(const std::vector<json>& events, const std::string& kind) {
  int n = 0;
  for (const auto& e : events) n += e.value("event", "") == kind;
  return n;
}

bool wait_for_file(const fs::path& p, std::chrono::seconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (fs::exists(p)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST_CASE("drctl run over SSH to three namespaced hosts: one host's sshd stops mid-step, the others finish, --resume completes") {
  support::NetnsLab net(3);
  std::vector<std::unique_ptr<support::Sshd>> sshd;
  std::string known_hosts;
  for (int i = 1; i <= 3; ++i) {
    support::SshdPlace place;
    place.netns = net.host_ns(i);
    place.address = net.address(i);
    sshd.push_back(std::make_unique<support::Sshd>(place));
    known_hosts += support::read_file(sshd.back()->known_hosts());
  }
  support::TempDir t("run-netns");
  const fs::path out = t / "out", state = t / "state";
  for (int i = 1; i <= 3; ++i) fs::create_directories(out / ("node" + std::to_string(i)));
  support::write_file(t / "known_hosts", known_hosts, 0600);

  std::string site = "name: three\nhosts:\n";
  for (int i = 1; i <= 3; ++i)
    site += "  node" + std::to_string(i) + ":\n    address: " + net.address(i) + "\n    user: " + sshd[i - 1]->user() +
            "\n    identity_file: " + sshd[i - 1]->client_key().string() + "\n    known_hosts_file: " +
            (t / "known_hosts").string() + "\n";
  site += "groups:\n  nodes: [node1, node2, node3]\n";
  support::write_file(t / "site.yaml", site);
  // `work` records which address the command reached (the host's own, over SSH), marks that
  // it started, then takes a moment: long enough for the test to pull node2's sshd away.
  const std::string dir = out.string() + "/{{host.name}}";
  support::write_file(t / "rb.yaml",
                      "site: site.yaml\n"
                      "steps:\n"
                      "  - id: conf\n    on: nodes\n    uses: file.put\n"
                      "    with: {path: \"" + dir + "/app.conf\", content: \"node {{host.name}} at {{host.address}}\\n\", mode: \"0640\"}\n"
                      "    retries: 2\n    retry_delay: 500ms\n"
                      "  - id: work\n    on: nodes\n    needs: conf\n"
                      "    run: \"echo $SSH_CONNECTION >> " + dir + "/runs && touch " + dir + "/started && sleep 2\"\n"
                      "    retries: 2\n    retry_delay: 500ms\n"
                      "  - id: done\n    on: nodes\n    needs: work\n    uses: file.put\n"
                      "    with: {path: \"" + dir + "/done\", content: \"done\\n\"}\n");
  auto drctl_in_net = [&](std::vector<std::string> args) {
    return support::NetnsLab::in(net.operator_ns(), support::drctl_argv(std::move(args)));
  };
  const std::vector<std::string> run_args = {"run", (t / "rb.yaml").string(), "--state", state.string()};

  // 1. node2's sshd goes away while its `work` runs.
  support::Process first(drctl_in_net(run_args));
  REQUIRE_MESSAGE(wait_for_file(out / "node2/started", std::chrono::seconds(60)), first.wait(std::chrono::seconds(1)).describe());
  sshd[1]->stop_server();
  support::RunResult r = first.wait(std::chrono::seconds(120));
  const std::string said = r.describe();
  CHECK_MESSAGE(r.exit_code == 1, said);
  for (int i : {1, 3}) {
    const fs::path node = out / ("node" + std::to_string(i));
    CHECK(support::read_file(node / "app.conf") == "node node" + std::to_string(i) + " at " + net.address(i) + "\n");
    CHECK(support::read_file(node / "done") == "done\n");
    const auto runs = lines_of(node / "runs");
    REQUIRE(runs.size() == 1);
    // SSH_CONNECTION is "CLIENT CPORT SERVER SPORT": the operator's bridge address to the host's.
    CHECK(runs[0].rfind("192.0.2.1 ", 0) == 0);
    CHECK(runs[0].find(" " + net.address(i) + " 22") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(out / "node2/done"));
  // work[node2] was tried three times (the cut command, then two retries that cannot connect)
  // and failed naming the host and why; done[node2] did not run for want of it.
  const auto work2 = events_of(state, "work[node2]");
  CHECK(count_events(work2, "retry") == 2);
  for (const auto& e : work2)
    if (e.value("event", "") == "retry" && e.value("attempt", 0) == 1)
      CHECK(e.value("error", "").find("ssh: node2: the connection to " + sshd[1]->user() + "@" + net.address(2) +
                                      ":22 was lost while the command was running") == 0);
  REQUIRE(!work2.empty());
  const json last = work2.back();
  CHECK(last.value("event", "") == "failed");
  CHECK(last.value("attempts", 0) == 3);
  const std::string error = last.value("error", "");
  const std::string refused =
      "ssh: node2: cannot connect to " + sshd[1]->user() + "@" + net.address(2) + ":22: Connection refused";
  CHECK_MESSAGE(error == refused, error);
  CHECK_MESSAGE(said.find("work[node2]") != std::string::npos, said);
  CHECK_MESSAGE(said.find(refused) != std::string::npos, said);
  CHECK(count_events(events_of(state, "done[node1]"), "done") == 1);
  CHECK(count_events(events_of(state, "done[node3]"), "done") == 1);

  // 2. The host is back: --resume runs what node2 left, and nothing the others finished.
  sshd[1]->start_again();
  support::RunResult resumed = support::run(drctl_in_net({"run", (t / "rb.yaml").string(), "--state", state.string(), "--resume"}));
  REQUIRE_MESSAGE(resumed.exit_code == 0, resumed.describe());
  CHECK(support::read_file(out / "node2/done") == "done\n");
  CHECK(lines_of(out / "node1/runs").size() == 1);
  CHECK(lines_of(out / "node3/runs").size() == 1);
  const auto runs2 = lines_of(out / "node2/runs");
  CHECK(runs2.size() == 2);  // the cut attempt and the resumed one
  CHECK(runs2.back().find(" " + net.address(2) + " 22") != std::string::npos);
  CHECK(count_events(events_of(state, "work[node1]"), "done") == 1);
  CHECK(count_events(events_of(state, "work[node2]"), "done") == 1);
}
