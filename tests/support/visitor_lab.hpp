// Test support: a visitor's machine for checks drctl makes `from:` another host — a network
// namespace (NetnsLab host 1) running its own sshd, and a one-host site naming it `visitor`, so
// that a one-step runbook run by drctl in the operator's namespace checks from there over SSH.
#pragma once
#include <string>

#include "support/fs_tree.hpp"
#include "support/netns.hpp"
#include "support/run.hpp"
#include "support/sshd.hpp"

namespace support {

struct VisitorLab {
  NetnsLab net{1};
  Sshd sshd;
  TempDir dir;

  explicit VisitorLab(const std::string& name) : sshd(place(net)), dir(name) {
    write_file(dir / "known_hosts", read_file(sshd.known_hosts()), 0600);
    write_file(dir / "site.yaml", "name: visit\nhosts:\n  visitor:\n    address: " + net.address(1) + "\n    user: " + sshd.user() +
                                      "\n    identity_file: " + sshd.client_key().string() +
                                      "\n    known_hosts_file: " + (dir / "known_hosts").string() + "\n");
  }
  /// The visitor's namespace (start the services it reaches there).
  std::string visitor_ns() const { return net.host_ns(1); }
  /// `drctl run` in the operator's namespace of a runbook of one step `uses: ACTION` `with: WITH`.
  RunResult run_step(const std::string& name, const std::string& action, const std::string& with) {
    write_file(dir / (name + ".yaml"), "site: site.yaml\nsteps:\n  - id: check\n    uses: " + action + "\n    with: " + with + "\n");
    return run(NetnsLab::in(net.operator_ns(),
                            drctl_argv({"run", (dir / (name + ".yaml")).string(), "--state", (dir / ("state-" + name)).string()})));
  }

 private:
  static SshdPlace place(const NetnsLab& net) {
    SshdPlace p;
    p.netns = net.host_ns(1);
    p.address = net.address(1);
    return p;
  }
};

}  // namespace support
