#include <doctest/doctest.h>

#include <stdexcept>

#include "sim/kickstart.hpp"

using namespace drctl::sim;

namespace {
const std::string kHash =
    "$6$Jx1QeT9v$3yH0cVv6m0R2Zq8n1bWfXo4pL7sK9dA5uE2tG6hJ8iY0rN3wQ1zC4xB7vM5kP9lS2dF6gH8jK0lZ3xC5vB7nM1";
const std::string kKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH8w2cVq7Zk3rT5yN1mB9xL4pD6fG0hJ2kS8aQ3eW7uR wizard@laptop";

std::string replace(std::string text, const std::string& from, const std::string& to) {
  auto at = text.find(from);
  if (at == std::string::npos) throw std::logic_error("fixture has no '" + from + "'");
  return text.replace(at, from.size(), to);
}
}  // namespace

// The seed's ks.cfg (shared with sim_pxe_test.cpp), with a real-looking hash and key for its placeholders.
extern const std::string kSeedKickstart =
    replace(replace(R"(# --- BEGIN Ansible-generated config
platform=x86
#System language
lang en_US
#Language modules to install
langsupport en_US
#System keyboard
keyboard us
#System mouse
mouse
#System timezone
timezone Europe/Sofia
#Root password
rootpw --disabled
#Initial user
user wizard --fullname wizard --iscrypted --password {{ shadow-style-hashed password }}
#Reboot after installation
reboot
#Use text mode install
text
#Install OS instead of upgrade
install
#Use CDROM installation media
cdrom
#System bootloader configuration
bootloader --location=mbr
#Clear the Master Boot Record
zerombr yes
#Partition clearing information
clearpart --all --initlabel
#Disk partitioning information
part / --fstype ext4 --size 1 --grow
# Debian installer "Are you sure you want to write changes to disk" question
preseed partman-lvm/confirm_nooverwrite boolean true
#System authorization infomation
auth --useshadow
#Firewall configuration
firewall --disabled --ssh
#Do not configure the X Window System
skipx
# Packages to install
%packages
@ openssh-server
open-vm-tools
%post --interpreter=/bin/bash
ln -s /usr/bin/python3 /usr/bin/python
# Import ssh key
mkdir -p -m 0755 /home/wizard/.ssh/
cat <<EOF > /home/wizard/.ssh/authorized_keys
MY_PUBLIC_SSH_KEY
EOF
# Set permissions
chmod 0644 /home/wizard/.ssh/authorized_keys
# Set python3 as default python interpreter
rm $(which python)
ln -s $(which python3) /usr/bin/python
%end
# --- END Ansible-generated config
)",
                    "{{ shadow-style-hashed password }}", kHash),
            "MY_PUBLIC_SSH_KEY", kKey);

TEST_CASE("sim kickstart: the seed's ks.cfg parses into the install it describes") {
  InstallPlan p = parse_kickstart(kSeedKickstart);
  CHECK(p.installer == "kickstart");
  CHECK(p.hostname.empty());
  CHECK(p.timezone == "Europe/Sofia");
  CHECK(p.root_locked);
  REQUIRE(p.users.size() == 1);
  CHECK(p.users[0].name == "wizard");
  CHECK(p.users[0].password_hash == kHash);
  CHECK_FALSE(p.users[0].plaintext_password);
  CHECK(p.users[0].authorized_keys == std::vector<std::string>{kKey});
  CHECK(p.packages == std::vector<std::string>{"openssh-server", "open-vm-tools"});
  CHECK(p.ssh_server);
  CHECK(p.reboot);
  CHECK(p.partitioned);
}

TEST_CASE("sim kickstart: without openssh-server it parses and installs no ssh server") {
  InstallPlan p = parse_kickstart(replace(kSeedKickstart, "@ openssh-server\n", ""));
  CHECK_FALSE(p.ssh_server);
  CHECK(p.packages == std::vector<std::string>{"open-vm-tools"});
  CHECK(p.users[0].authorized_keys.size() == 1);
}

// kickseed.sh (0.58ubuntu1): a keyword with no "${keyword}_handler" is logged — "Unrecognised
// kickstart command: $keyword" — and the install goes on; %final is its own marker and dies.
TEST_CASE("sim kickstart: a command kickseed does not know is logged and skipped, not refused") {
  const InstallPlan seed = parse_kickstart(kSeedKickstart);
  // The seed's first line, `platform=x86`, is no kickseed command either (it is a comment in
  // what system-config-kickstart writes).
  CHECK(seed.warnings == std::vector<std::string>{"2: Unrecognised kickstart command: platform=x86"});
  const InstallPlan p = parse_kickstart(replace(kSeedKickstart, "skipx\n", "skipx\nfrobnicate --now\n"));
  CHECK(p.warnings.back() == "41: Unrecognised kickstart command: frobnicate");
  CHECK(p.users.size() == seed.users.size());
  CHECK(p.packages == seed.packages);
  // A section kickseed does not read is a command to it, and so are the lines after it.
  const InstallPlan onerror = parse_kickstart("text\n%onerror\nreboot\n");
  CHECK(onerror.warnings == std::vector<std::string>{"2: Unrecognised kickstart command: %onerror"});
  CHECK(onerror.reboot);
  CHECK_THROWS_WITH_AS(parse_kickstart("text\n%final\n"), "2: %final reserved for internal use", AnswerError);
}

TEST_CASE("sim kickstart: anaconda's sshkey, autopart and shutdown are not kickseed's") {
  const InstallPlan p = parse_kickstart(
      "user --name=ops --password=x\nsshkey --username=ops \"ssh-ed25519 AAAA ops@a\"\nautopart\nshutdown\n");
  CHECK(p.warnings == std::vector<std::string>{"2: Unrecognised kickstart command: sshkey",
                                               "3: Unrecognised kickstart command: autopart",
                                               "4: Unrecognised kickstart command: shutdown"});
  REQUIRE(p.users.size() == 1);
  CHECK(p.users[0].authorized_keys.empty());  // no key: the first SSH login is refused
  CHECK_FALSE(p.partitioned);                 // partman asks for the layout
}

TEST_CASE("sim kickstart: package exclusions are logged and ignored, as kickseed does") {
  const InstallPlan p = parse_kickstart("%packages\nopenssh-server\nnano\n-nano\n");
  CHECK(p.packages == std::vector<std::string>{"openssh-server", "nano"});
  CHECK(p.warnings == std::vector<std::string>{"exclusions in %packages not supported; remove them manually in %post instead"});
  CHECK(parse_kickstart("%packages\nopenssh-server\n").warnings.empty());
}

TEST_CASE("sim kickstart: a %post --nochroot writes the installed system only under /target") {
  const std::string inside = "user --name=ops --password=x\n%post\necho 'ssh-ed25519 K ops@a' > /home/ops/.ssh/authorized_keys\n";
  CHECK(parse_kickstart(inside).users[0].authorized_keys == std::vector<std::string>{"ssh-ed25519 K ops@a"});
  // Without the chroot the same line writes the installer's ramdisk, which the reboot forgets.
  const std::string nochroot = replace(inside, "%post\n", "%post --nochroot\n");
  CHECK(parse_kickstart(nochroot).users[0].authorized_keys.empty());
  const std::string target = replace(nochroot, "> /home", "> /target/home");
  CHECK(parse_kickstart(target).users[0].authorized_keys == std::vector<std::string>{"ssh-ed25519 K ops@a"});
}

TEST_CASE("sim kickstart: without partitioning answers the install is not unattended") {
  CHECK_FALSE(parse_kickstart(replace(kSeedKickstart, "clearpart --all --initlabel\n", "")).partitioned);
  CHECK_FALSE(parse_kickstart(replace(kSeedKickstart, "part / --fstype", "part /srv --fstype")).partitioned);
  CHECK(parse_kickstart("clearpart --all\npart / --size 1 --grow\n").partitioned);
  CHECK_FALSE(parse_kickstart("autopart\n").partitioned);  // not a kickseed command
  CHECK_FALSE(parse_kickstart("text\n").partitioned);
}

TEST_CASE("sim kickstart: keys from echo and here-documents, where a later > replaces earlier ones") {
  const std::string ks = R"(user --name=ops --password=s3cret
network --bootproto=dhcp --hostname=k8s-node1
poweroff
%post
echo 'ssh-ed25519 AAAA-one ops@a' > /home/ops/.ssh/authorized_keys
echo ssh-ed25519 AAAA-root admin@b > /root/.ssh/authorized_keys
echo 'ssh-ed25519 AAAA-two ops@c' >> /home/ops/.ssh/authorized_keys
cat >>/root/.ssh/authorized_keys <<-'END'
	ssh-ed25519 AAAA-three admin@d
	END
%end
)";
  InstallPlan p = parse_kickstart(ks);
  CHECK(p.hostname == "k8s-node1");
  CHECK_FALSE(p.reboot);
  REQUIRE(p.users.size() == 2);
  CHECK(p.users[0].name == "ops");
  CHECK(p.users[0].plaintext_password);
  CHECK(p.users[0].authorized_keys == std::vector<std::string>{"ssh-ed25519 AAAA-one ops@a", "ssh-ed25519 AAAA-two ops@c"});
  CHECK(p.users[1].name == "root");
  CHECK(p.users[1].authorized_keys ==
        std::vector<std::string>{"ssh-ed25519 AAAA-root admin@b", "ssh-ed25519 AAAA-three admin@d"});

  InstallPlan replaced = parse_kickstart(replace(ks, "ops@c' >>", "ops@c' >"));
  CHECK(replaced.users[0].authorized_keys == std::vector<std::string>{"ssh-ed25519 AAAA-two ops@c"});
}

TEST_CASE("sim kickstart: keys for a user it does not create, and an open here-document, are errors") {
  CHECK_THROWS_WITH_AS(parse_kickstart("user ops\n%post\necho 'ssh-ed25519 AAAA' > /home/opz/.ssh/authorized_keys\n"),
                       "3: authorized key for user 'opz', but the kickstart creates no such user", AnswerError);
  CHECK_THROWS_WITH_AS(
      parse_kickstart("user ops\n%post\ncat <<EOF > /home/ops/.ssh/authorized_keys\nssh-ed25519 AAAA\n%end\n"),
                       "3: here-document for /home/ops/.ssh/authorized_keys is not closed by 'EOF'", AnswerError);
}

namespace {
const std::string kUserData = R"(#cloud-config
autoinstall:
  version: 1
  identity:
    hostname: k8s-node2
    username: wizard
    password: "$6$abc$def"
  ssh:
    install-server: true
    authorized-keys:
      - ssh-ed25519 AAAA-one wizard@laptop
  packages: [open-vm-tools]
  storage:
    layout:
      name: direct
  shutdown: poweroff
)";
}  // namespace

TEST_CASE("sim autoinstall: identity, ssh keys, packages, storage and shutdown") {
  InstallPlan p = parse_autoinstall(kUserData, "instance-id: k8s-node2\n");
  CHECK(p.installer == "autoinstall");
  CHECK(p.hostname == "k8s-node2");
  REQUIRE(p.users.size() == 1);
  CHECK(p.users[0].name == "wizard");
  CHECK(p.users[0].password_hash == "$6$abc$def");
  CHECK(p.users[0].authorized_keys == std::vector<std::string>{"ssh-ed25519 AAAA-one wizard@laptop"});
  CHECK(p.ssh_server);
  CHECK_FALSE(p.ssh_allow_pw);  // keys given, allow-pw not: subiquity turns passwords off
  CHECK(p.packages == std::vector<std::string>{"open-vm-tools"});
  CHECK(p.partitioned);
  CHECK_FALSE(p.reboot);
  CHECK(parse_autoinstall(replace(kUserData, "  shutdown: poweroff\n", ""), "").reboot);
  CHECK_FALSE(parse_autoinstall(kUserData + "  interactive-sections: [storage]\n", "").partitioned);
}

TEST_CASE("sim autoinstall: errors name the file, the key path and the line") {
  auto error = [](const std::string& user_data, const std::string& meta_data = "") -> std::string {
    try {
      parse_autoinstall(user_data, meta_data);
    } catch (const AnswerError& e) {
      return e.file + " " + e.what();
    }
    return "parsed";
  };
  CHECK(error(replace(kUserData, "version: 1", "version: 2")) == "user-data 3: autoinstall.version: must be 1, not 2");
  CHECK(error(replace(kUserData, "#cloud-config\n", "")) ==
        "user-data 1: does not start with '#cloud-config', so cloud-init does not read it as config");
  CHECK(error(replace(kUserData, "    password: \"$6$abc$def\"\n", "")) ==
        "user-data 5: autoinstall.identity.password: missing");
  CHECK(error(replace(kUserData, "install-server: true", "install-server: maybe")) ==
        "user-data 9: autoinstall.ssh.install-server: expected true or false, not 'maybe'");
  CHECK(error(replace(kUserData, "name: direct", "name: raid")) ==
        "user-data 15: autoinstall.storage.layout.name: must be lvm, direct or zfs, not raid");
  CHECK(error("#cloud-config\nusers: []\n") == "user-data 1: no top-level 'autoinstall:'");
  CHECK(error(kUserData, "- not\n- a map\n") == "meta-data 1: expected a map (instance-id, local-hostname), not a list");
}
