// known_hosts made true for a machine drctl is about to install, read back by the real
// ssh-keygen -F (the oracle): the new key for the host, its old keys gone, every other line kept.
#include <doctest/doctest.h>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/host_key.hpp"
#include "world/real/known_hosts.hpp"

using namespace drctl;

TEST_CASE("expect host key: the host's old keys give way to the new one, other hosts keep theirs, once") {
  support::TempDir t("expect-key");
  const auto old_key = world::generate_host_key("old"), other = world::generate_host_key("other"),
             fresh = world::generate_host_key("root@k8s-node1");
  auto strip = [](const std::string& line) { return line.substr(0, line.rfind(' ')); };  // "type base64"
  const std::string file = (t.path() / "known_hosts").string();
  support::write_file(file, "# kept\n10.0.20.12 " + strip(old_key.public_key) + "\n10.0.20.13 " +
                                strip(other.public_key) + "\n", 0600);
  world::real::SshEndpoint ep;
  ep.hostname = "10.0.20.12";
  ep.port = 22;
  ep.known_hosts = file;
  CHECK(world::real::expect_host_key(ep, fresh.public_key));
  const auto found = support::run({"ssh-keygen", "-F", "10.0.20.12", "-f", file});
  CHECK(found.out.find(strip(fresh.public_key)) != std::string::npos);
  CHECK(found.out.find(strip(old_key.public_key)) == std::string::npos);
  CHECK(support::run({"ssh-keygen", "-F", "10.0.20.13", "-f", file}).out.find(strip(other.public_key)) != std::string::npos);
  CHECK(support::read_file(file).rfind("# kept\n", 0) == 0);
  CHECK_FALSE(world::real::expect_host_key(ep, fresh.public_key));  // already true: nothing written

  ep.port = 2222;  // another port is another name: [host]:port
  CHECK(world::real::expect_host_key(ep, fresh.public_key));
  CHECK(support::run({"ssh-keygen", "-F", "[10.0.20.12]:2222", "-f", file}).out.find(strip(fresh.public_key)) !=
        std::string::npos);
}
