// The host keys drctl makes for new machines, read by the real ssh-keygen (the oracle): it takes
// the private key as OpenSSH's own, derives the same public line, and fingerprints it.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/host_key.hpp"

using namespace drctl;
namespace fs = std::filesystem;

TEST_CASE("host key: ssh-keygen reads the private key drctl wrote and derives the same public key") {
  support::TempDir t("host-key");
  const world::HostKeyPair pair = world::generate_host_key("root@k8s-node1");
  CHECK(pair.public_key.rfind("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", 0) == 0);
  const fs::path key = t.path() / "ssh_host_ed25519_key";
  std::ofstream(key) << pair.private_key;
  fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write);
  auto derived = support::run({"ssh-keygen", "-y", "-f", key.string()});
  REQUIRE_MESSAGE(derived.exit_code == 0, derived.err);
  // ssh-keygen -y prints "type base64 comment" (OpenSSH 9 keeps the comment).
  CHECK(pair.public_key.rfind(derived.out.substr(0, derived.out.find(' ', 12)), 0) == 0);
  CHECK(world::public_key_of(pair.private_key) == pair.public_key);

  std::ofstream(t.path() / "key.pub") << pair.public_key << "\n";
  auto print = support::run({"ssh-keygen", "-l", "-f", (t.path() / "key.pub").string()});
  REQUIRE(print.exit_code == 0);
  CHECK(print.out.find("root@k8s-node1 (ED25519)") != std::string::npos);

  // Two keys are two keys.
  CHECK(world::generate_host_key("x").public_key != world::generate_host_key("x").public_key);
}

TEST_CASE("host key: a key ssh-keygen made reads back to ssh-keygen's public line") {
  support::TempDir t("host-key-theirs");
  const fs::path key = t.path() / "k";
  auto made = support::run({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "made@here", "-f", key.string()});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  std::string pub = support::read_file(fs::path(key.string() + ".pub"));
  while (!pub.empty() && pub.back() == '\n') pub.pop_back();
  CHECK(world::public_key_of(support::read_file(key)) == pub);
  CHECK_THROWS_AS(world::public_key_of("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"),
                  std::invalid_argument);
}
