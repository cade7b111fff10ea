#include <doctest/doctest.h>

#include "sim/host.hpp"

using namespace drctl;

namespace {
world::CommandResult run(sim::SimHost& h, const std::string& script) { return h.run({script, "", {}, {}, ""}); }
}  // namespace

TEST_CASE("sim host: an unknown command exits 127 naming the host and the command") {
  sim::Engine e(1);
  sim::SimHost h(e, "k8s-node1");
  auto r = run(h, "frobnicate --all");
  CHECK(r.exit_code == 127);
  CHECK(r.err == "sim: k8s-node1: unknown command 'frobnicate'\n");
  CHECK(e.log_jsonl().find("unknown-command") != std::string::npos);
}

TEST_CASE("sim host: files, redirects, tests and command lists behave like a shell") {
  sim::Engine e(1);
  sim::SimHost h(e, "pxe");
  CHECK(run(h, "mkdir -p /srv/tftp/pxelinux.cfg && echo 'DEFAULT install' > /srv/tftp/pxelinux.cfg/default").exit_code == 0);
  CHECK(h.get_file("/srv/tftp/pxelinux.cfg/default") == "DEFAULT install\n");
  CHECK(run(h, "echo more >> /srv/tftp/pxelinux.cfg/default; cat /srv/tftp/pxelinux.cfg/default").out ==
        "DEFAULT install\nmore\n");
  CHECK(run(h, "test -f /srv/tftp/pxelinux.cfg/default").exit_code == 0);
  CHECK(run(h, "test -d /srv/tftp").exit_code == 0);
  CHECK(run(h, "test -e /nope").exit_code == 1);
  CHECK(run(h, "false && echo no").out.empty());
  CHECK(run(h, "false || echo yes").out == "yes\n");
  CHECK(run(h, "echo x > /missing/dir/file").exit_code == 2);  // dash: "cannot create …: Directory nonexistent"
  h.put_file("/etc/motd", "hi\n", 0644);
  CHECK(run(h, "sha256sum /etc/motd").out ==
        "98ea6e4f216f2fb4b69fff9b3a44842c38686ca685f3f55dc48c5d3fb1107be4  /etc/motd\n");
  CHECK(run(h, "cat /etc/nope").exit_code == 1);
}

TEST_CASE("sim host: apt installs only known packages and systemctl needs them") {
  sim::Engine e(1);
  sim::SimHost h(e, "node");
  h.set_available_packages({"containerd", "kubelet"});
  CHECK(run(h, "systemctl start kubelet").exit_code == 5);
  CHECK(run(h, "apt-get install -y containerd kubelet").exit_code == 0);
  CHECK(h.installed("kubelet"));
  auto r = run(h, "apt-get install -y openssh-serverr");
  CHECK(r.exit_code == 100);
  CHECK(r.err == "E: Unable to locate package openssh-serverr\n");
  CHECK(run(h, "systemctl enable --now kubelet").exit_code == 0);
  CHECK(h.service_active("kubelet"));
  CHECK(run(h, "systemctl is-active kubelet").out == "active\n");
  CHECK(run(h, "systemctl stop kubelet").exit_code == 0);
  CHECK(run(h, "systemctl is-active kubelet").exit_code == 3);
}

TEST_CASE("sim host: tar round-trips a directory as real tar bytes") {
  sim::Engine e(1);
  sim::SimHost h(e, "nas");
  h.put_file("/data/www/index.html", "<h1>hi</h1>", 0644);
  h.put_file("/data/www/secret/key", "k", 0600);
  world::Command c;
  c.script = "tar -czf /backup/www.tgz -C /data www";
  h.put_file("/backup/.keep", "", 0644);
  auto r = h.run(c);
  REQUIRE_MESSAGE(r.ok(), r.err);
  c.script = "tar -tzf /backup/www.tgz";
  r = h.run(c);
  CHECK(r.out == "www/\nwww/index.html\nwww/secret/\nwww/secret/key\n");  // directories too, as GNU tar -t lists them
  c.script = "mkdir -p /restore && tar -xzf /backup/www.tgz -C /restore && cat /restore/www/index.html";
  r = h.run(c);
  CHECK(r.out == "<h1>hi</h1>");
  c.script = "stat -c %a /restore/www/secret/key";
  CHECK(h.run(c).out == "600\n");
  c.script = "tar -czf /backup/x.tgz -C /data nothing";
  r = h.run(c);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("nothing: Cannot stat") != std::string::npos);
}
