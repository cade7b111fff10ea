// Test support: a small network of namespaces the test makes itself — an operator namespace
// holding a bridge (192.0.2.1/24, TEST-NET-1: never routed anywhere) and N host namespaces,
// each with one veth on that bridge (192.0.2.11, .12, …). Nothing touches this machine's own
// network: every interface is created inside a namespace, and the destructor deletes the
// namespaces (their veths go with them). Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
// Header-only, to stay out of the test library.
#pragma once
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "support/run.hpp"

namespace support {

class NetnsLab {
 public:
  explicit NetnsLab(int hosts) : prefix_("drctl-" + std::to_string(::getpid()) + "-") {
    try {
      add(operator_ns());
      ip({"-n", operator_ns(), "link", "add", "br0", "type", "bridge"});
      ip({"-n", operator_ns(), "addr", "add", "192.0.2.1/24", "dev", "br0"});
      ip({"-n", operator_ns(), "link", "set", "br0", "up"});
      for (int i = 1; i <= hosts; ++i) {
        const std::string ns = host_ns(i), veth = "v" + std::to_string(i);
        add(ns);
        ip({"-n", operator_ns(), "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns});
        ip({"-n", operator_ns(), "link", "set", veth, "master", "br0"});
        ip({"-n", operator_ns(), "link", "set", veth, "up"});
        ip({"-n", ns, "addr", "add", address(i) + "/24", "dev", "eth0"});
        ip({"-n", ns, "link", "set", "eth0", "up"});
      }
    } catch (...) {
      remove_all();
      throw;
    }
  }
  ~NetnsLab() { remove_all(); }
  NetnsLab(const NetnsLab&) = delete;
  NetnsLab& operator=(const NetnsLab&) = delete;

  /// The namespace the operator (drctl) runs in, on the bridge at 192.0.2.1.
  std::string operator_ns() const { return prefix_ + "op"; }
  /// Host i's namespace (1-based) and its address.
  std::string host_ns(int i) const { return prefix_ + "h" + std::to_string(i); }
  static std::string address(int i) { return "192.0.2." + std::to_string(10 + i); }

  /// argv run inside namespace `ns` (ip netns exec execs it in place: the pid is the program's).
  static std::vector<std::string> in(const std::string& ns, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    return argv;
  }

 private:
  static void ip(std::vector<std::string> args) {
    args.insert(args.begin(), "ip");
    RunResult r = run(args);
    if (r.exit_code != 0)
      throw std::runtime_error("the test's network could not be made (network namespaces need root): " + r.describe());
  }

  void add(const std::string& ns) {
    ip({"netns", "add", ns});
    made_.push_back(ns);
    ip({"-n", ns, "link", "set", "lo", "up"});
  }

  void remove_all() {
    for (auto it = made_.rbegin(); it != made_.rend(); ++it) run({"ip", "netns", "del", *it});
    made_.clear();
  }

  std::string prefix_;
  std::vector<std::string> made_;
};

}  // namespace support
