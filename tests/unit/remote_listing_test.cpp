// The listings an incremental capture reads (capture/remote_tree.hpp): GNU find's, from a
// fixture the real GNU find 4.9 printed here (tests/fixtures/listing/make_gnu_find.sh), and
// FreeBSD's find | xargs stat -f, written from the FreeBSD stat(1) manual's "Formats" section
// (usr.bin/stat/stat.1: %p octal with the type bits, %.9Fm seconds with nine digits of fraction,
// %N the name as given, a newline after each file) since no FreeBSD host runs here. And the plan
// made from a listing against a parent snapshot: what is kept and what tar is asked for.
#include <doctest/doctest.h>

#include <fstream>
#include <iterator>
#include <map>

#include "base/error.hpp"
#include "capture/remote_tree.hpp"
#include "capture/tar_stream.hpp"
#include "sim/engine.hpp"
#include "sim/host.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/host_system.hpp"

using namespace drctl;
using namespace drctl::capture;
using store::NodeType;

namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::filesystem::path(__FILE__).parent_path().parent_path() / "fixtures/listing" / name,
                   std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::map<std::string, RemoteEntry> by_path(const std::vector<RemoteEntry>& entries) {
  std::map<std::string, RemoteEntry> out;
  for (const auto& e : entries) out[e.path] = e;
  return out;
}

constexpr std::int64_t kTouched = 1767323045123456789;  // 2026-01-02T03:04:05.123456789Z, as make_gnu_find.sh set them

}  // namespace

TEST_CASE("remote listing: GNU find -printf output as the real find printed it") {
  const auto entries = by_path(parse_find_listing(fixture("gnu-find.bin")));
  REQUIRE(entries.size() == 8);
  const RemoteEntry& root = entries.at("");
  CHECK(root.type == NodeType::Dir);
  CHECK(root.mtime_ns == kTouched);
  const RemoteEntry& file = entries.at("a file");
  CHECK(file.type == NodeType::File);
  CHECK(file.size == 5);
  CHECK(file.mtime_ns == kTouched);
  CHECK(file.nlink == 2);
  CHECK(file.ctime_ns > file.mtime_ns);
  CHECK(entries.at("hard").inode == file.inode);
  CHECK(entries.at("hard").dev == file.dev);
  CHECK(entries.at("new\nline").size == 1);
  const RemoteEntry& bs = entries.at("back\\slash");
  CHECK(bs.mode == 04750);
  CHECK(bs.size == 2);
  const RemoteEntry& link = entries.at("link");
  CHECK(link.type == NodeType::Symlink);
  CHECK(link.target == "a file");
  CHECK(link.mtime_ns == 1580702706000000000);
  CHECK(entries.at("fifo").type == NodeType::Fifo);
  CHECK(entries.at("sub").type == NodeType::Dir);
}

TEST_CASE("remote listing: FreeBSD find -print0 with stat -f lines, a name with a newline, a file gone before stat") {
  using namespace std::string_literals;
  // Two batches as xargs would make them; "./gone" vanished between find and stat (stat printed
  // no line for it, only its error on stderr).
  const std::string out =
      ".\0./a file\0./new\nline\0./gone\0\0"s
      "92 2 40755 4 0 0 512 1767323045.123456789 1767323046.000000001 .\n"
      "92 11 100644 2 1001 1001 5 1767323045.123456789 1767323046.5 ./a file\n"
      "92 12 100600 1 0 0 1 1767323045.000000000 1767323045.000000000 ./new\nline\n"
      "./hard\0./link\0./p 1 2 3\0\0"s
      "92 11 100644 2 1001 1001 5 1767323045.123456789 1767323046.5 ./hard\n"
      "92 13 120755 1 0 0 6 1580702706.000000000 1580702706.000000000 ./link\n"
      "92 14 10644 1 0 0 0 1.000000000 2.000000000 ./p 1 2 3\n";
  const auto list = parse_stat_listing(out);
  const auto entries = by_path(list);
  REQUIRE(entries.size() == 6);
  CHECK_FALSE(entries.contains("gone"));
  CHECK(entries.at("").type == NodeType::Dir);
  CHECK(entries.at("").ctime_ns == 1767323046000000001);
  const RemoteEntry& file = entries.at("a file");
  CHECK(file.type == NodeType::File);
  CHECK(file.mode == 0644);
  CHECK(file.uid == 1001);
  CHECK(file.mtime_ns == kTouched);
  CHECK(file.ctime_ns == 1767323046500000000);
  CHECK(entries.at("hard").inode == 11);
  CHECK(entries.at("new\nline").mode == 0600);
  CHECK(entries.at("link").type == NodeType::Symlink);
  CHECK(entries.at("p 1 2 3").type == NodeType::Fifo);

  CHECK_THROWS_AS(parse_stat_listing(".\0./a\0"s), Failure);  // cut before the end of the names
  CHECK_THROWS_AS(parse_stat_listing(".\0\0x y z 1 2 3 4 5 6 .\n"s), Failure);
}

namespace {

struct Repo {
  support::TempDir tmp{"remote-listing"};
  store::Repository repo = [this] {
    store::Repository::init(tmp / "repo", store::RepoConfig{});
    return store::Repository(tmp / "repo");
  }();
};

store::Node node(const std::string& name, NodeType type, std::uint64_t inode, std::int64_t t, std::uint64_t size = 0) {
  store::Node n;
  n.name = name;
  n.type = type;
  n.inode = inode;
  n.mtime_ns = n.ctime_ns = t;
  n.size = size;
  if (type == NodeType::File && size > 0) n.content = {store::Part{std::nullopt, size}};  // a hole: no blob needed
  return n;
}

RemoteEntry entry(const std::string& path, NodeType type, std::uint64_t inode, std::int64_t t, std::uint64_t size = 0,
                  std::uint64_t nlink = 1) {
  RemoteEntry e;
  e.path = path;
  e.type = type;
  e.inode = inode;
  e.mtime_ns = e.ctime_ns = t;
  e.size = size;
  e.nlink = nlink;
  return e;
}

}  // namespace

TEST_CASE("remote listing: the plan keeps what matches the parent and asks tar for the rest, link groups whole") {
  Repo r;
  // The parent: d/ with same, changed, and a link pair (first name d/l1 a File, d/l2 a Hardlink to it).
  store::Node l2 = node("l2", NodeType::Hardlink, 7, 100, 3);
  l2.target = "d/l1";
  store::Tree d{{node("changed", NodeType::File, 5, 100, 10), node("l1", NodeType::File, 7, 100, 3), l2,
                 node("same", NodeType::File, 4, 100, 10)}};
  store::Node dir = node("d", NodeType::Dir, 2, 100);
  dir.subtree = r.repo.save_tree(d);
  const store::Id top = r.repo.save_tree(store::Tree{{dir}});
  r.repo.flush();  // trees are read from packs

  std::vector<RemoteEntry> listing = {entry("", NodeType::Dir, 1, 100),
                                      entry("d", NodeType::Dir, 2, 100),
                                      entry("d/same", NodeType::File, 4, 100, 10),
                                      entry("d/changed", NodeType::File, 5, 200, 10),
                                      entry("d/new", NodeType::File, 6, 200, 1),
                                      entry("d/l1", NodeType::File, 7, 100, 3, 2),
                                      entry("d/l2", NodeType::File, 7, 100, 3, 2)};
  std::vector<std::string> warnings;
  auto quiet = [&](const std::string& w) { warnings.push_back(w); };
  IncrementalPlan plan = plan_incremental(r.repo, listing, top, quiet);
  std::vector<std::string> kept;
  for (const auto& [path, n] : plan.base.kept) kept.push_back(path);
  std::sort(kept.begin(), kept.end());
  CHECK(kept == std::vector<std::string>{"d", "d/l1", "d/l2", "d/same"});
  CHECK(plan.fetch == std::vector<std::string>{".", "./d/changed", "./d/new"});
  CHECK_MESSAGE(warnings.empty(), (warnings.empty() ? "" : warnings[0]));
  CHECK(plan.base.earlier.at("").first == top);  // the parent's trees, for their ids to be kept
  CHECK(plan.base.earlier.at("d").first == *dir.subtree);

  // One name of the pair changed (its ctime moved with the inode's): both names are asked for.
  listing[5].ctime_ns = listing[6].ctime_ns = 300;
  plan = plan_incremental(r.repo, listing, top, quiet);
  CHECK(plan.fetch == std::vector<std::string>{".", "./d/changed", "./d/new", "./d/l1", "./d/l2"});

  // No parent: everything is asked for.
  plan = plan_incremental(r.repo, listing, std::nullopt, quiet);
  CHECK(plan.base.kept.empty());
  CHECK(plan.fetch.size() == listing.size());
  CHECK(tar_name_list({".", "./a\nb"}) == std::string(".\0./a\nb\0", 8));
}

TEST_CASE("remote listing: the probe learns each host's lister, the simulated hosts' too") {
  // What a host answers decides the listing command: GNU find, FreeBSD's stat, or none.
  auto lister_of = [](const std::string& probe_out) { return world::parse_system_probe(probe_out)->lister; };
  CHECK(lister_of("kernel Linux\ntar tar (GNU tar) 1.34\nhash sha256sum\nlist find\n") == world::HostSystem::Lister::find);
  CHECK(lister_of("kernel FreeBSD\ntar bsdtar 3.6.2\nhash sha256\nlist bsd-stat\n") == world::HostSystem::Lister::bsd_stat);
  CHECK(lister_of("kernel Linux\ntar tar (GNU tar) 1.34\n") == world::HostSystem::Lister::none);
  world::HostSystem none;
  CHECK(none.list_tree("/data").empty());

  // This machine's own sh and find answer "list find"; the commands it then gets name the directory quoted.
  const support::RunResult here = support::run({"/bin/sh", "-c", world::system_probe_script()});
  REQUIRE(here.exit_code == 0);
  const auto learned = world::parse_system_probe(here.out);
  REQUIRE(learned);
  CHECK(learned->lister == world::HostSystem::Lister::find);
  CHECK(learned->list_tree("/mnt/a b").rfind("cd '/mnt/a b' && find . -printf ", 0) == 0);
  CHECK(learned->tar_create_list("/mnt/x").find("--no-recursion --null --no-unquote -T -") != std::string::npos);

  // The simulated hosts (sim/file_meta.cpp) answer as their kind does: GNU find -printf on
  // GNU/Linux, find | xargs stat -f on FreeBSD (sim_incremental_test captures through them).
  for (const auto os : {sim::SimHost::Os::gnu_linux, sim::SimHost::Os::freebsd}) {
    sim::Engine engine{1};
    sim::SimHost host{engine, "nas"};
    host.set_os(os);
    const world::CommandResult r = host.run({world::system_probe_script(), "", {}, {}, ""});
    REQUIRE(r.exit_code == 0);
    CHECK(world::parse_system_probe(r.out)->lister ==
          (os == sim::SimHost::Os::freebsd ? world::HostSystem::Lister::bsd_stat : world::HostSystem::Lister::find));
  }
}
