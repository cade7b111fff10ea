#include <doctest/doctest.h>

#include <chrono>
#include <stdexcept>

#include "sim/scenario.hpp"

using namespace drctl::sim;
using namespace std::chrono_literals;

namespace {
/// What the Apply function saw: "power_off k8s-node2 @90000" or "undo power_off k8s-node2 @390000".
struct Recorder {
  Engine& engine;
  std::vector<std::string> calls;
  FaultSchedule::Apply apply() {
    return [this](const FaultSpec& f, bool undo) {
      calls.push_back((undo ? "undo " : "") + f.action + " " + f.target + " @" + std::to_string(engine.now().count()));
    };
  }
};

std::vector<FaultSpec> faults(const char* text) { return read_faults(json::parse(text)); }

std::string error_of(const char* text) {
  try {
    read_faults(json::parse(text));
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

std::vector<json> fault_events(const Engine& e) {
  std::vector<json> out;
  for (const auto& ev : e.events())
    if (ev["component"] == "faults") out.push_back(ev);
  return out;
}
}  // namespace

TEST_CASE("sim scenario: read_faults reads each field") {
  auto f = faults(R"([
    {"action": "power_off", "target": "k8s-node2", "on": {"component": "k8s-node2", "event": "install-started"},
     "after": "30s", "duration": "1h30m"},
    {"action": "loss", "target": "pfsense", "value": 0.2, "at": "5m"},
    {"action": "stop_service", "target": "pxe-server/tftpd-hpa", "at": "0s"},
    {"action": "host_power_off", "at": "500ms"}])");
  REQUIRE(f.size() == 4);
  CHECK(f[0].where == "faults[0]");
  CHECK(f[0].target == "k8s-node2");
  CHECK((*f[0].on)["event"] == "install-started");
  CHECK(f[0].after == Duration(30s));
  CHECK(f[0].duration == Duration(90min));
  CHECK_FALSE(f[0].at);
  CHECK(f[1].value == doctest::Approx(0.2));
  CHECK(f[1].at == Duration(5min));
  CHECK(f[2].at == Duration(0));
  CHECK(f[3].target.empty());
  CHECK(f[3].at == Duration(500));
  CHECK(read_faults(json()).empty());
}

TEST_CASE("sim scenario: read_faults errors name the field and the cause") {
  CHECK(error_of(R"([{"action": "power_on", "target": "a", "at": "1s"}, {"action": "powr_off", "target": "a", "at": "1s"}])") ==
        "faults[1].action: 'powr_off' is not a fault (did you mean 'power_off'?)");
  CHECK(error_of(R"([{"action": "power_off", "target": "a", "att": "1s"}])") ==
        "faults[0].att: unknown key (did you mean 'at'?)");
  CHECK(error_of(R"([{"target": "a", "at": "1s"}])").find("faults[0].action: missing") == 0);
  CHECK(error_of(R"([{"action": "power_off", "at": "1s"}])") ==
        "faults[0].target: power_off needs a target: a VM, machine or node name");
  CHECK(error_of(R"([{"action": "host_power_off", "target": "esxi", "at": "1s"}])") ==
        "faults[0].target: host_power_off takes no target, got 'esxi'");
  CHECK(error_of(R"([{"action": "stop_service", "target": "tftpd-hpa", "at": "1s"}])").find(
            "faults[0].target: 'tftpd-hpa' is not machine/unit") == 0);
  CHECK(error_of(R"([{"action": "delete_file", "target": "pxe-server/srv/ks.cfg", "at": "1s"}])").find(
            "faults[0].target: 'pxe-server/srv/ks.cfg' is not machine:/absolute/path") == 0);
  CHECK(error_of(R"([{"action": "loss", "target": "a", "value": 1.5, "at": "1s"}])") ==
        "faults[0].value: a loss probability is between 0 and 1, got 1.5");
  CHECK(error_of(R"([{"action": "slow_installer", "at": "1s"}])").find("faults[0].value: slow_installer needs a number") == 0);
  CHECK(error_of(R"([{"action": "power_off", "target": "a", "value": 1, "at": "1s"}])") ==
        "faults[0].value: power_off takes no value");
  CHECK(error_of(R"([{"action": "power_off", "target": "a"}])").find("faults[0]: needs 'at'") == 0);
  CHECK(error_of(R"([{"action": "power_off", "target": "a", "at": "1s", "on": {"event": "x"}}])") ==
        "faults[0]: give either 'at' or 'on', not both");
  CHECK(error_of(R"([{"action": "power_off", "target": "a", "at": "5x"}])") ==
        "faults[0].at: '5x' is not a duration (e.g. 90, 90s, 1h30m, 1.5s)");
  CHECK(error_of(R"([{"action": "power_off", "target": "a", "at": true}])").find("faults[0].at: true is not a duration") == 0);
  CHECK(read_faults(json::parse(R"([{"action": "power_off", "target": "a", "at": 90}])"))[0].at == Duration(90s));
  CHECK(error_of(R"([{"action": "power_off", "target": "a", "on": {}}])").find("faults[0].on: must be a mapping") == 0);
  CHECK(error_of(R"([{"action": "power_off", "target": "a", "at": "1s", "after": "5s"}])").find(
            "faults[0].after: only goes with 'on'") == 0);
  CHECK(error_of(R"([{"action": "delete_file", "target": "pxe:/srv/ks.cfg", "at": "1s", "duration": "5m"}])") ==
        "faults[0].duration: delete_file cannot be undone; leave out duration");
  CHECK(error_of(R"({"action": "power_off"})").find("faults: must be a list") == 0);
}

TEST_CASE("sim scenario: an at fault fires once, at its time, even when nothing else runs") {
  Engine e(1);
  Recorder rec{e, {}};
  FaultSchedule s(e, faults(R"([{"action": "power_off", "target": "k8s-node2", "at": "90s"}])"), rec.apply());
  s.arm();
  CHECK_THROWS_AS(s.arm(), std::logic_error);
  e.run();  // no actor: the fault alone keeps the run going until it fires
  CHECK(rec.calls == std::vector<std::string>{"power_off k8s-node2 @90000"});
  auto ev = fault_events(e);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0]["t"] == 90000);
  CHECK(ev[0]["event"] == "fault");
  CHECK(ev[0]["trigger"] == "at");
  CHECK(ev[0]["target"] == "k8s-node2");
  e.run_for(10min);
  CHECK(rec.calls.size() == 1);
  CHECK(s.not_fired().empty());
}

TEST_CASE("sim scenario: an on fault fires once, after its delay, for the first matching event only") {
  Engine e(1);
  Recorder rec{e, {}};
  FaultSchedule s(e, faults(R"([{"action": "power_off", "target": "k8s-node2", "after": "30s",
                                 "on": {"component": "k8s-node2", "event": "install-started"}}])"),
                  rec.apply());
  s.arm();
  auto log = [&](const std::string& component, const std::string& event) {
    e.log(component, event);
    s.observe(e.events().back());
  };
  e.run_for(10s);
  log("k8s-node1", "install-started");  // another node: no match
  log("k8s-node2", "dhcp-lease");       // another event: no match
  e.run_for(10s);
  CHECK(rec.calls.empty());
  log("k8s-node2", "install-started");  // t = 20s
  e.run_for(5s);
  log("k8s-node2", "install-started");  // matches again: must not refire
  e.run_for(5min);
  CHECK(rec.calls == std::vector<std::string>{"power_off k8s-node2 @50000"});
  auto ev = fault_events(e);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0]["trigger"] == "on");
  CHECK(ev[0]["t"] == 50000);
}

TEST_CASE("sim scenario: a fault whose firing logs matching events neither refires nor recurses") {
  Engine e(1);
  FaultSchedule* schedule = nullptr;
  std::vector<std::string> applied;
  int depth = 0;
  FaultSchedule s(e, faults(R"([
      {"action": "stop_service", "target": "pxe-server/tftpd-hpa", "on": {"event": "go"}},
      {"action": "power_off", "target": "k8s-node3", "on": {"component": "pxe-server", "event": "go"}}])"),
                  [&](const FaultSpec& f, bool) {
                    CHECK(++depth == 1);  // a firing nested in another's apply would show here
                    applied.push_back(f.action);
                    // The fault's own effect logs an event that matches the first fault again; the
                    // engine's hook observes it like any other.
                    e.log(f.action == "stop_service" ? "pxe-server" : "k8s-node3", "go");
                    schedule->observe(e.events().back());
                    --depth;
                  });
  schedule = &s;
  s.arm();
  e.log("drill", "go");
  s.observe(e.events().back());
  e.run_for(1min);
  CHECK(applied == std::vector<std::string>{"stop_service", "power_off"});  // the second on the first's event
  CHECK(fault_events(e).size() == 2);
  CHECK(s.not_fired().empty());
}

TEST_CASE("sim scenario: a duration undoes the fault later without keeping a run alive") {
  Engine e(1);
  Recorder rec{e, {}};
  FaultSchedule s(e, faults(R"([{"action": "link_down", "target": "pfsense", "at": "1m", "duration": "5m"},
                                 {"action": "loss", "target": "k8s-node1", "value": 0.5, "at": "2m", "duration": "1h"}])"),
                  rec.apply());
  s.arm();
  e.spawn("drill", [&] { e.sleep(10min); });
  e.run();  // ends with the drill at 10 min: the loss undo at 1h2m does not hold it
  CHECK(e.now() == Duration(10min));
  CHECK(rec.calls == std::vector<std::string>{"link_down pfsense @60000", "loss k8s-node1 @120000", "undo link_down pfsense @360000"});
  e.run_for(1h);
  CHECK(rec.calls.back() == "undo loss k8s-node1 @3720000");
  CHECK(e.log_jsonl().find("\"event\":\"fault-undone\"") != std::string::npos);
}

TEST_CASE("sim scenario: not_fired lists the faults whose time or event never came") {
  Engine e(1);
  Recorder rec{e, {}};
  FaultSchedule s(e, faults(R"([{"action": "power_off", "target": "a", "at": "1m"},
                                 {"action": "power_off", "target": "b", "on": {"event": "never"}, "after": "10s"},
                                 {"action": "fill_disk", "target": "tank/backups", "at": "2h"}])"),
                  rec.apply());
  s.arm();
  e.run_for(5min);
  CHECK(s.not_fired() == std::vector<std::string>{
                             "faults[1]: power_off b on {\"event\":\"never\"} after 10s",
                             "faults[2]: fill_disk tank/backups at 2h"});
}
