#include <doctest/doctest.h>

#include "sim/host.hpp"
#include "sim/nas.hpp"

using namespace drctl::sim;

namespace {
constexpr std::int64_t kMiB = 1024 * 1024;
constexpr std::int64_t kGiB = 1024 * kMiB;

NasStorage::Result zfs(NasStorage& nas, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"zfs"};
  argv.insert(argv.end(), args.begin(), args.end());
  return nas.zfs(argv);
}
}  // namespace

TEST_CASE("sim nas: sizes read and printed as zfs does") {
  CHECK(parse_zfs_size("10G") == 10 * kGiB);
  CHECK(parse_zfs_size("512m") == 512 * kMiB);
  CHECK(parse_zfs_size("1.5T") == 1536 * kGiB);
  CHECK(parse_zfs_size("10GB") == 10 * kGiB);
  CHECK(parse_zfs_size("4096") == 4096);
  CHECK_FALSE(parse_zfs_size("10X"));
  CHECK_FALSE(parse_zfs_size("1.5"));
  CHECK_FALSE(parse_zfs_size("G"));
  CHECK(format_zfs_size(0) == "0B");
  CHECK(format_zfs_size(512) == "512B");
  CHECK(format_zfs_size(10 * kGiB) == "10G");
  CHECK(format_zfs_size(kGiB + kGiB / 2) == "1.50G");
  CHECK(format_zfs_size(10 * kGiB + kGiB / 2) == "10.5G");
}

TEST_CASE("sim nas: writes fit up to a dataset's quota and one byte more is refused as ZFS does") {
  Engine e(1);
  NasStorage nas(e, "tank", 100 * kGiB);
  REQUIRE(zfs(nas, {"create", "-o", "quota=10M", "tank/restore"}).code == 0);
  CHECK(nas.dataset_of("/mnt/tank/restore/db/dump.sql") == "tank/restore");
  CHECK(nas.dataset_of("/mnt/tank/other") == "tank");
  CHECK(nas.dataset_of("/etc/exports") == "");

  std::string why;
  CHECK(nas.fits("/mnt/tank/restore/a", 6 * kMiB, &why));
  nas.commit("/mnt/tank/restore/a", 6 * kMiB);
  CHECK(nas.fits("/mnt/tank/restore/b", 4 * kMiB, &why));
  nas.commit("/mnt/tank/restore/b", 4 * kMiB);
  CHECK(nas.used("tank/restore") == 10 * kMiB);
  CHECK(nas.available("tank/restore") == 0);
  CHECK_FALSE(nas.fits("/mnt/tank/restore/c", 1, &why));
  CHECK(why.find("Disk quota exceeded") == 0);
  CHECK(why.find("no space left under the quota of tank/restore: 10M") != std::string::npos);
  CHECK(nas.fits("/mnt/tank/restore/a", -kMiB, &why));  // shrinking always fits
  nas.commit("/mnt/tank/restore/a", -kMiB);
  CHECK(nas.fits("/mnt/tank/restore/c", kMiB, &why));
  CHECK(nas.fits("/etc/hosts", 500 * kGiB, &why));  // outside the pool: not the NAS's business
}

TEST_CASE("sim nas: a parent's quota limits its children and a sibling's data counts against it") {
  Engine e(1);
  NasStorage nas(e, "tank", 100 * kGiB);
  REQUIRE(zfs(nas, {"create", "-o", "quota=1G", "tank/apps"}).code == 0);
  REQUIRE(zfs(nas, {"create", "-o", "quota=10G", "tank/apps/mail"}).code == 0);
  REQUIRE(zfs(nas, {"create", "tank/apps/hackmd"}).code == 0);
  nas.commit("/mnt/tank/apps/hackmd/db", 600 * kMiB);
  CHECK(nas.used("tank/apps") == 600 * kMiB);
  CHECK(nas.available("tank/apps/mail") == 424 * kMiB);
  std::string why;
  CHECK(nas.fits("/mnt/tank/apps/mail/spool", 424 * kMiB, &why));
  CHECK_FALSE(nas.fits("/mnt/tank/apps/mail/spool", 424 * kMiB + 1, &why));
  CHECK(why.find("quota of tank/apps: 1G") != std::string::npos);  // the parent's, not mail's 10G
}

TEST_CASE("sim nas: the pool's capacity limits datasets without a quota") {
  Engine e(1);
  NasStorage nas(e, "tank", 100 * kMiB);
  REQUIRE(zfs(nas, {"create", "-p", "tank/backups/k8s"}).code == 0);  // -p creates tank/backups too
  CHECK(nas.datasets() == std::vector<std::string>{"tank", "tank/backups", "tank/backups/k8s"});
  nas.commit("/mnt/tank/media", 70 * kMiB);
  std::string why;
  CHECK(nas.fits("/mnt/tank/backups/k8s/etcd.db", 30 * kMiB, &why));
  CHECK_FALSE(nas.fits("/mnt/tank/backups/k8s/etcd.db", 30 * kMiB + 1, &why));
  CHECK(why.find("No space left on device (pool tank: 100M, 70M used") == 0);
}

TEST_CASE("sim nas: fill() takes a dataset to its quota, or the pool to its capacity") {
  Engine e(1);
  NasStorage nas(e, "tank", kGiB);
  REQUIRE(zfs(nas, {"create", "-o", "quota=100M", "tank/small"}).code == 0);
  REQUIRE(zfs(nas, {"create", "tank/big"}).code == 0);
  nas.fill("tank/small");
  CHECK(nas.used("tank/small") == 100 * kMiB);
  std::string why;
  CHECK_FALSE(nas.fits("/mnt/tank/small/f", 1, &why));
  CHECK(nas.fits("/mnt/tank/big/f", 1, &why));
  nas.fill("tank/big");
  CHECK(nas.used("tank") == kGiB);
  CHECK_FALSE(nas.fits("/mnt/tank/big/f", 1, &why));
  CHECK(why.find("No space left on device") == 0);
  CHECK(e.log_jsonl().find("\"event\":\"filled\"") != std::string::npos);
  CHECK_THROWS_AS(nas.fill("tank/nope"), std::invalid_argument);
}

TEST_CASE("sim nas: a restore through the NAS host's file system into a full dataset fails with no space") {
  Engine e(1);
  NasStorage nas(e, "tank", kGiB);
  REQUIRE(zfs(nas, {"create", "-o", "quota=1K", "tank/restore"}).code == 0);
  SimHost host(e, "truenas");
  host.set_storage([&](const std::string& p, std::int64_t d, std::string* why) { return nas.fits(p, d, why); },
                   [&](const std::string& p, std::int64_t d) { nas.commit(p, d); });
  host.put_file("/mnt/tank/restore/small", std::string(1000, 'x'), 0644);
  CHECK(nas.used("tank/restore") == 1000);
  CHECK_THROWS_WITH(host.put_file("/mnt/tank/restore/big", std::string(100, 'x'), 0644),
                    doctest::Contains("no space left under the quota of tank/restore"));
  CHECK_FALSE(host.get_file("/mnt/tank/restore/big"));  // nothing stored that did not fit
  CHECK(nas.used("tank/restore") == 1000);
  host.remove_file("/mnt/tank/restore/small");
  CHECK(nas.used("tank/restore") == 0);
}

TEST_CASE("sim nas: zfs fails with zfs's own texts") {
  Engine e(1);
  NasStorage nas(e, "tank", 10 * kGiB);
  auto r = zfs(nas, {"create", "tank/a/b"});
  CHECK(r.code == 1);
  CHECK(r.err == "cannot create 'tank/a/b': parent does not exist\n");
  REQUIRE(zfs(nas, {"create", "tank/a"}).code == 0);
  CHECK(zfs(nas, {"create", "tank/a"}).err == "cannot create 'tank/a': dataset already exists\n");
  CHECK(zfs(nas, {"create", "-p", "tank/a"}).code == 0);
  CHECK(zfs(nas, {"create", "data/a"}).err == "cannot create 'data/a': no such pool 'data'\n");
  CHECK(zfs(nas, {"create", "-o", "quota=lots", "tank/q"}).err == "cannot create 'tank/q': bad numeric value 'lots'\n");
  CHECK(zfs(nas, {"create", "-o", "colour=red", "tank/q"}).err == "cannot create 'tank/q': invalid property 'colour'\n");
  CHECK(zfs(nas, {"create", "-x", "tank/q"}).code == 2);
  CHECK(zfs(nas, {"set", "quota=1G", "tank/nope"}).err == "cannot open 'tank/nope': dataset does not exist\n");
  CHECK(zfs(nas, {"list", "tank/nope"}).err == "cannot open 'tank/nope': dataset does not exist\n");

  nas.commit("/mnt/tank/a/f", 2 * kGiB);
  CHECK(zfs(nas, {"set", "quota=1G", "tank/a"}).err ==
        "cannot set property for 'tank/a': size is less than current used or reserved space\n");
  CHECK(zfs(nas, {"set", "quota=3G", "tank/a"}).code == 0);
  CHECK(nas.available("tank/a") == kGiB);
  CHECK(zfs(nas, {"set", "quota=none", "tank/a"}).code == 0);
  CHECK(nas.available("tank/a") == 8 * kGiB);

  REQUIRE(zfs(nas, {"create", "tank/a/b"}).code == 0);
  r = zfs(nas, {"destroy", "tank/a"});
  CHECK(r.code == 1);
  CHECK(r.err.find("cannot destroy 'tank/a': filesystem has children\nuse '-r' to destroy the following datasets:\ntank/a/b") == 0);
  CHECK(zfs(nas, {"destroy", "tank"}).err.find("operation does not apply to pools") != std::string::npos);
  CHECK(zfs(nas, {"destroy", "-r", "tank/a"}).code == 0);
  CHECK(nas.datasets() == std::vector<std::string>{"tank"});
  CHECK(nas.used("tank") == 0);
  CHECK(zfs(nas, {"get", "quota", "tank"}).code == 127);  // not modelled, said so
}

TEST_CASE("sim nas: zfs list prints used, avail and quota, parents before children") {
  Engine e(1);
  NasStorage nas(e, "tank", 100 * kGiB);
  REQUIRE(zfs(nas, {"create", "-o", "quota=10G", "tank/a"}).code == 0);
  REQUIRE(zfs(nas, {"create", "tank/a-b"}).code == 0);
  REQUIRE(zfs(nas, {"create", "tank/a/x"}).code == 0);
  nas.commit("/mnt/tank/a/x/f", 3 * kGiB);
  auto r = zfs(nas, {"list", "-H", "-o", "name,used,avail,quota"});
  CHECK(r.out ==
        "tank\t3G\t97G\tnone\n"
        "tank/a\t3G\t7G\t10G\n"
        "tank/a/x\t3G\t7G\tnone\n"
        "tank/a-b\t0B\t97G\tnone\n");
  CHECK(zfs(nas, {"list", "-Hpo", "used", "tank/a"}).out == std::to_string(3 * kGiB) + "\n");
  r = zfs(nas, {"list", "tank/a"});
  CHECK(r.out ==
        "NAME    USED  AVAIL  REFER  MOUNTPOINT\n"
        "tank/a    3G     7G     0B  /mnt/tank/a\n");
  CHECK(zfs(nas, {"list", "-o", "name,size"}).err == "bad property list: invalid property 'size'\n");
}

TEST_CASE("sim nas: snapshots cost nothing and rollback returns a dataset to one") {
  Engine e(1);
  NasStorage nas(e, "tank", 10 * kGiB);
  REQUIRE(zfs(nas, {"create", "tank/db"}).code == 0);
  nas.commit("/mnt/tank/db/f", kGiB);
  REQUIRE(zfs(nas, {"snapshot", "tank/db@before"}).code == 0);
  CHECK(zfs(nas, {"snapshot", "tank/db@before"}).err == "cannot create snapshot 'tank/db@before': dataset already exists\n");
  CHECK(zfs(nas, {"snapshot", "tank/db"}).err == "cannot create snapshot 'tank/db': missing '@' delimiter in snapshot name\n");
  CHECK(nas.used("tank") == kGiB);
  nas.commit("/mnt/tank/db/f", 2 * kGiB);
  REQUIRE(zfs(nas, {"snapshot", "tank/db@after"}).code == 0);
  CHECK(zfs(nas, {"list", "-H", "-t", "snapshot", "-o", "name,refer"}).out == "tank/db@before\t1G\ntank/db@after\t3G\n");
  auto r = zfs(nas, {"rollback", "tank/db@before"});
  CHECK(r.code == 1);
  CHECK(r.err.find("more recent snapshots or bookmarks exist") != std::string::npos);
  CHECK(r.err.find("tank/db@after") != std::string::npos);
  CHECK(zfs(nas, {"rollback", "-r", "tank/db@before"}).code == 0);
  CHECK(nas.used("tank/db") == kGiB);
  CHECK(zfs(nas, {"list", "-H", "-t", "snapshot", "-o", "name"}).out == "tank/db@before\n");
  CHECK(zfs(nas, {"rollback", "tank/db@gone"}).err == "cannot open 'tank/db@gone': dataset does not exist\n");
}

TEST_CASE("sim nas: an NFS share lets its networks mount and refuses other clients") {
  Engine e(1);
  NasStorage nas(e, "tank", 10 * kGiB);
  REQUIRE(zfs(nas, {"create", "tank/k8s"}).code == 0);
  REQUIRE(zfs(nas, {"create", "tank/k8s/mail"}).code == 0);
  auto r = nas.midclt({"midclt", "call", "sharing.nfs.create", R"({"path": "/mnt/tank/k8s", "networks": ["10.0.20.0/24"]})"});
  REQUIRE(r.code == 0);
  CHECK(json::parse(r.out)["id"] == 1);
  std::string why;
  CHECK(nas.nfs_allows("/mnt/tank/k8s/mail", "10.0.20.12", &why));
  CHECK_FALSE(nas.nfs_allows("/mnt/tank/k8s", "10.0.30.5", &why));
  CHECK(why == "access denied by server while mounting /mnt/tank/k8s (10.0.30.5 is not in the share's networks 10.0.20.0/24)");
  CHECK_FALSE(nas.nfs_allows("/mnt/tank/media", "10.0.20.12", &why));
  CHECK(why.find("no NFS share covers it") != std::string::npos);

  r = nas.midclt({"midclt", "call", "sharing.nfs.create", R"({"path": "/mnt/tank/media"})"});
  CHECK(r.code == 1);
  CHECK(r.err == "[EINVAL] sharingnfs_create.path: This path does not exist.\n");
  r = nas.midclt({"midclt", "call", "sharing.nfs.create", R"({"path": "/mnt/tank/k8s", "networks": ["10.0.20.0/33"]})"});
  CHECK(r.err.find("[EINVAL] sharingnfs_create.networks.0: \"10.0.20.0/33\" is not an IPv4 network") == 0);
  REQUIRE(nas.midclt({"midclt", "call", "sharing.nfs.create", R"({"path": "/mnt/tank/k8s/mail"})"}).code == 0);
  CHECK(nas.nfs_allows("/mnt/tank/k8s/mail", "10.0.30.5", &why));  // no networks: everyone

  auto shares = json::parse(nas.midclt({"midclt", "call", "sharing.nfs.query"}).out);
  REQUIRE(shares.size() == 2);
  CHECK(shares[0]["path"] == "/mnt/tank/k8s");
  CHECK(shares[0]["networks"] == json::array({"10.0.20.0/24"}));
  auto filtered = json::parse(nas.midclt({"midclt", "call", "sharing.nfs.query", R"([["path", "=", "/mnt/tank/k8s/mail"]])"}).out);
  REQUIRE(filtered.size() == 1);
  CHECK(filtered[0]["id"] == 2);

  REQUIRE(zfs(nas, {"destroy", "tank/k8s/mail"}).code == 0);
  CHECK_FALSE(nas.nfs_allows("/mnt/tank/k8s/mail", "10.0.30.5", &why));
  CHECK(why.find("the shared dataset at /mnt/tank/k8s/mail no longer exists") != std::string::npos);
}
