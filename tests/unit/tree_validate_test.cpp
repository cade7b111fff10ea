// The readers' rules for hostile trees and manifests (FORMAT.md, "Reading trees"): trees are
// encoded here by the test's own CBOR writer, so what decode_tree refuses is checked against the
// format, not against drctl's encoder. Also the shared walker's limits, and that every section
// writer counts files and dirs the way the node budget assumes.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "capture/nas.hpp"
#include "capture/section_builder.hpp"
#include "capture/tar_stream.hpp"
#include "base/error.hpp"
#include "store/snapshot.hpp"
#include "store/tree.hpp"
#include "store/walk.hpp"
#include "support/fs_tree.hpp"
#include "support/hostile_export.hpp"
#include "support/run.hpp"

namespace h = support::hostile;
using namespace drctl::store;

namespace {

Tree decode(const std::string& cbor) {
  return decode_tree({reinterpret_cast<const std::uint8_t*>(cbor.data()), cbor.size()});
}

/// The message decode_tree refuses `nodes` with ("" when it accepts them).
std::string refusal(const std::vector<h::Node>& nodes) {
  try {
    decode(h::encode_tree(nodes));
    return "";
  } catch (const drctl::Failure& e) {
    return e.what();
  }
}

std::string some_id() { return h::sha256_raw("some tree"); }

Id id_of(const std::string& raw) {
  Id id;
  std::memcpy(id.bytes.data(), raw.data(), 32);
  return id;
}

struct Repo {
  support::TempDir tmp{"tree-validate"};
  Repository repo = [this] {
    Repository::init(tmp / "repo", RepoConfig{});
    return Repository(tmp / "repo");
  }();
  /// Stores a tree written by the test's encoder; its id.
  Id add(const std::vector<h::Node>& nodes) {
    const std::string cbor = h::encode_tree(nodes);
    const Id id = id_of(h::sha256_raw(cbor));
    repo.add_blob(BlobType::Tree, id, {reinterpret_cast<const std::uint8_t*>(cbor.data()), cbor.size()});
    return id;
  }
  std::string raw(const Id& id) { return std::string(reinterpret_cast<const char*>(id.bytes.data()), 32); }
};

Section section_of(const Id& top, std::uint64_t files, std::uint64_t dirs) {
  Section s;
  s.name = "nas/h";
  s.tree = top;
  s.files = files;
  s.dirs = dirs;
  return s;
}

}  // namespace

TEST_CASE("tree rules: names that are not names, repeat or are out of order make the tree damaged") {
  CHECK(refusal({h::file("a"), h::file("b"), h::symlink("c", "/anywhere")}).empty());
  for (const std::string& bad : {std::string(""), std::string("."), std::string(".."), std::string("a/b"),
                                std::string("/abs"), std::string("a\0b", 3), std::string("../x")}) {
    CAPTURE(support::escape(bad));
    const std::string why = refusal({h::file(bad)});
    CHECK(why.starts_with("tree: "));
    CHECK(why.find("is not a name") != std::string::npos);
    CHECK(why.find('\n') == std::string::npos);
  }
  const std::vector<h::Node> kinds = {h::file("a"), h::dir("a", some_id()), h::symlink("a", "x"), h::hardlink("a", "b"),
                                      h::fifo("a")};
  for (const auto& first : kinds)
    for (const auto& second : kinds) {
      CAPTURE(first.type);
      CAPTURE(second.type);
      CHECK(refusal({first, second}).find("appears twice") != std::string::npos);
    }
  CHECK(refusal({h::file("b"), h::file("a")}).find("out of order") != std::string::npos);
  // Byte order, not signed char order: 0xff sorts after 'z'.
  CHECK(refusal({h::file("z"), h::file("\xff")}).empty());
  CHECK(refusal({h::file("\xff"), h::file("z")}).find("out of order") != std::string::npos);
}

TEST_CASE("tree rules: a section root is one directory named '.', and nothing else may use that name") {
  Tree root = decode(h::encode_tree({h::dir(".", some_id())}));
  CHECK(root.is_section_root());
  CHECK_THROWS_WITH_AS(shape_of(root), doctest::Contains("section root"), TreeDamage);
  CHECK(refusal({h::dir(".", some_id()), h::file("a")}).find("is not a name") != std::string::npos);
  CHECK(refusal({h::file(".")}).find("is not a name") != std::string::npos);
}

TEST_CASE("tree rules: fields must fit the node's type") {
  h::Node dir_without_tree = h::dir("d", "");
  CHECK(refusal({dir_without_tree}).find("without its tree") != std::string::npos);
  h::Node file_with_tree = h::file("f");
  file_with_tree.sub = some_id();
  CHECK(refusal({file_with_tree}).find("subtree") != std::string::npos);
  CHECK(refusal({h::file("f", h::sha256_raw("x"), 5)}).empty());
  h::Node short_content = h::file("f", h::sha256_raw("x"), 5);
  short_content.size = 6;
  CHECK(refusal({short_content}).find("adds up to 5") != std::string::npos);
  h::Node overflow = h::file("f", h::sha256_raw("x"), 1);
  overflow.parts.push_back({"", ~0ULL});
  overflow.size = 0;
  CHECK(refusal({overflow}).find("overflow") != std::string::npos);
  h::Node huge_chunk = h::file("f", h::sha256_raw("x"), 1ULL << 32);
  CHECK(refusal({huge_chunk}).find("chunk") != std::string::npos);
  for (const std::string& target : {std::string("../x"), std::string("/etc/passwd"), std::string("a//b"),
                                   std::string(""), std::string("a/./b"), std::string("a/")}) {
    CAPTURE(target);
    CHECK(refusal({h::hardlink("l", target)}).find("not a path inside the section") != std::string::npos);
  }
  CHECK(refusal({h::hardlink("l", "a/b/c")}).empty());
  CHECK(refusal({h::symlink("s", "")}).find("symlink target") != std::string::npos);
  h::Node setid = h::file("f");
  setid.mode = 07777;
  CHECK(refusal({setid}).empty());
  setid.mode = 010000;
  CHECK(refusal({setid}).find("mode") != std::string::npos);
}

TEST_CASE("tree rules: unknown keys are skipped without recursion, and counts never allocate beyond the bytes") {
  h::Node n = h::file("a");
  n.extra_key = "zz";
  n.extra_value = std::string(10, '\x81') + '\x00';  // ten nested arrays
  CHECK(refusal({n}).empty());
  n.extra_value = std::string(1000000, '\x81') + '\x00';  // a million
  CHECK(refusal({n}).find("nests deeper than") != std::string::npos);
  n.extra_value = std::string(1000000, '\xa1') ;  // a million nested maps, truncated
  CHECK(refusal({n}).starts_with("tree: "));
  n.extra_value = h::Cbor().array(~0ULL).str();  // 2^64-1 items declared, none there
  CHECK(refusal({n}).find("truncated") != std::string::npos);

  // {"v": 1, "nodes": [2^32 - 1 nodes declared]} with nothing after: refused, no 2^32-node reservation.
  const std::string lying = h::Cbor().map(2).text("v").uint(1).text("nodes").array(0xffffffffULL).str();
  CHECK_THROWS_WITH_AS(decode(lying), doctest::Contains("truncated"), drctl::Failure);
  h::Cbor parts;
  parts.map(2).text("v").uint(1).text("nodes").array(1).map(3).text("n").bytes("f").text("t").text("file");
  parts.text("c").array(0xffffffffffULL);
  CHECK_THROWS_WITH_AS(decode(parts.str()), doctest::Contains("truncated"), drctl::Failure);
}

TEST_CASE("section names: the grammar drctl writes, nothing else") {
  for (const char* good : {"nas/media", "kube", "vm", "appliance/pfsense", "nas/a.b_c-d", "nas/2024+x:y@z", "_x"})
    CHECK_MESSAGE(valid_section_name(good), good);
  const std::vector<std::string> bad = {"", "/abs", "../x", "nas/../../x", "nas//x", "nas/", "a\nb", "nas/.hidden", "-x",
                                        ".", "..", "nas/a b", std::string(256, 'a'), "nas/\xc3\xa9", "a\tb", "nas\\x"};
  for (const auto& name : bad) CHECK_MESSAGE(!valid_section_name(name), support::escape(name));
  CHECK(valid_section_name(std::string(255, 'a')));
  CHECK_THROWS_AS(require_section_name("../x"), drctl::InputError);
}

TEST_CASE("manifests: sections, skipped entries and counts are checked when read and before written") {
  auto manifest = [](const std::vector<h::Section>& sections, const std::vector<std::pair<std::string, std::string>>& skipped = {}) {
    h::Snapshot s;
    s.set_manifest(sections, skipped);
    return s.manifest;
  };
  auto refused = [](const std::string& text) {
    try {
      Snapshot::from_json(text, sha256(text));
      return std::string();
    } catch (const drctl::Failure& e) {
      return std::string(e.what());
    }
  };
  const std::string t = some_id();
  CHECK(refused(manifest({{"nas/a", t, "", 1, 0}, {"kube", t, "", 1, 0}}, {{"nas/a", "../odd/path"}})).empty());
  for (const char* name : {"../x", "/abs", "nas/../../x", "nas/a\nb"})
    CHECK(refused(manifest({{name, t, "", 1, 0}})).find("is not valid") != std::string::npos);
  CHECK(refused(manifest({{"nas/a", t, "", 1, 0}, {"nas/a", t, "", 1, 0}})).find("appears twice") != std::string::npos);
  CHECK(refused(manifest({{"nas", t, "", 1, 0}, {"nas/a", t, "", 1, 0}})).find("lies inside") != std::string::npos);
  CHECK(refused(manifest({{"nas/a/b", t, "", 1, 0}, {"nas/a", t, "", 1, 0}})).find("lies inside") != std::string::npos);
  CHECK(refused(manifest({{"nas/a", t, "", 1, 0}, {"nas/ab", t, "", 1, 0}})).empty());
  CHECK(refused(manifest({{"nas/a", t, "", 1, 0}}, {{"nas/b", "x"}})).find("skipped entry") != std::string::npos);
  std::string negative = manifest({{"nas/a", t, "", 1, 0}});
  negative.replace(negative.find("\"files\": 1"), 10, "\"files\": -1");
  CHECK(refused(negative).find("not a count") != std::string::npos);
  std::string bad_time = manifest({{"nas/a", t, "", 1, 0}});
  bad_time.replace(bad_time.find("2026-01-01T00:00:00"), 19, "x");
  CHECK(refused(bad_time).find("time") != std::string::npos);

  // The writers' side: nothing a reader refuses is written.
  Repo r;
  Snapshot s;
  s.time = precise_utc_now();
  s.sections.push_back({"nas/../x", "/src", id_of(t), std::nullopt, 0, 0, 0});
  CHECK_THROWS_AS(r.repo.save_snapshot(s), drctl::Failure);
  CHECK_THROWS_AS(r.repo.save_snapshot_text(manifest({{"/abs", t, "", 1, 0}})), drctl::Failure);
  CHECK(r.repo.list_ids("snapshots").empty());
  drctl::capture::Progress progress;
  CHECK_THROWS_AS(drctl::capture::make_section(r.repo, "../x", "src", {}, 0), drctl::InputError);
  CHECK_THROWS_AS(drctl::capture::capture_nas(r.repo, "nas/a\nb", r.tmp.str(), std::nullopt, progress, [](const std::string&) {}),
                  drctl::InputError);
}

TEST_CASE("walker: depth is limited to 2048 levels, in the graph pass and in walks") {
  Repo r;
  auto chain = [&](std::size_t levels) {  // `levels` trees, each holding the next as directory "d"
    Id id = r.add({h::file("leaf")});
    for (std::size_t i = 1; i < levels; ++i) id = r.add({h::dir("d", r.raw(id))});
    r.repo.flush();
    return id;
  };
  const Id ok = chain(2048), deep = chain(2049);
  CHECK_NOTHROW(check_section(r.repo, section_of(ok, 1, 2047)));
  CHECK_THROWS_WITH_AS(check_section(r.repo, section_of(deep, 1, 2048)), doctest::Contains("deeper than 2048"), TreeDamage);
  std::size_t seen = 0;
  WalkGuard fine(node_budget(section_of(ok, 1, 2047)));
  walk_tree(r.repo, ok, fine, [&](const std::string&, const Node&) { return ++seen, true; });
  CHECK(seen == 2048);
  WalkGuard guard(node_budget(section_of(deep, 1, 2048)));
  try {
    walk_tree(r.repo, deep, guard, [](const std::string&, const Node&) { return true; });
    FAIL("a walk went deeper than 2048 levels");
  } catch (const TreeDamage& d) {
    CHECK(d.path.size() == 2048 * 2 - 1);  // "d/d/…/d": the directory whose tree would be level 2049
    CHECK(d.problem.find("deeper than 2048") != std::string::npos);
  }
}

TEST_CASE("walker: a graph of shared subtrees costs its distinct trees, and beyond the counts it is damage") {
  Repo r;
  Id id = r.add({h::file("leaf")});
  for (int level = 0; level < 40; ++level) id = r.add({h::dir("a", r.raw(id)), h::dir("b", r.raw(id))});
  r.repo.flush();
  std::size_t loads = 0;
  TreeGraph graph([&](const Id& t) { return ++loads, shape_of(r.repo.load_tree(t)); });
  const TreeFacts facts = graph.explore(id);
  CHECK(loads == 41);
  CHECK(facts.height == 41);
  CHECK(facts.nodes == (1ULL << 41) - 2 + (1ULL << 40));  // 2 + 4 + … + 2^40 directories and 2^40 leaves
  CHECK_THROWS_WITH_AS(check_section(r.repo, section_of(id, 1, 80)), doctest::Contains("entries its recorded counts allow"),
                       TreeDamage);
  // An expanding walk stops at the budget: 2 × 81 + 4096 entries.
  std::uint64_t visited = 0;
  WalkGuard guard(node_budget(section_of(id, 1, 80)));
  CHECK_THROWS_AS(walk_tree(r.repo, id, guard, [&](const std::string&, const Node&) { return ++visited, true; }), TreeDamage);
  CHECK(visited <= 2 * 81 + 4096);
  CHECK(visited > 4096);
}

TEST_CASE("walker: a tree reachable from itself is damage, found in the graph pass") {
  // Ids are hashes of the trees, so only a loader that lies (a broken hash) can form a cycle.
  const Id a = sha256(std::string("a")), b = sha256(std::string("b"));
  TreeGraph graph([&](const Id& t) {
    TreeShape s;
    s.entries = 1;
    s.dirs.emplace_back(t == a ? "to-b" : "to-a", t == a ? b : a);
    return s;
  });
  try {
    graph.explore(a);
    FAIL("no cycle found");
  } catch (const TreeDamage& d) {
    CHECK(d.path == "to-b/to-a");
    CHECK(d.problem.find("contains itself") != std::string::npos);
  }
}

TEST_CASE("section counts: files and dirs are the entries the trees hold, for every writer") {
  support::TempDir tmp("counts");
  const fs::path src = tmp / "src";
  fs::create_directories(src / "a/b/c");
  fs::create_directories(src / "empty");
  support::write_file(src / "one", "1");
  support::write_file(src / "a/two", "22");
  support::write_file(src / "a/b/three", "333");
  REQUIRE(::link((src / "one").c_str(), (src / "a/b/one-again").c_str()) == 0);
  REQUIRE(::symlink("one", (src / "sym").c_str()) == 0);
  REQUIRE(::symlink("/nowhere", (src / "a/dangling").c_str()) == 0);
  REQUIRE(::mkfifo((src / "a/fifo").c_str(), 0600) == 0);
  // The oracle: what the file system holds below the source.
  std::uint64_t fs_dirs = 0, fs_other = 0;
  for (const auto& e : fs::recursive_directory_iterator(src)) (e.symlink_status().type() == fs::file_type::directory ? fs_dirs : fs_other)++;
  REQUIRE(fs_dirs == 4);
  REQUIRE(fs_other == 7);

  Repository::init(tmp / "repo", RepoConfig{});
  Repository repo(tmp / "repo");
  drctl::capture::Progress progress;
  auto quiet = [](const std::string&) {};
  auto entries = [&](const Section& s) {
    repo.flush();
    TreeGraph graph([&](const Id& t) { return shape_of(repo.load_tree(t)); });
    return graph.explore(s.tree).nodes;
  };
  const Section nas = drctl::capture::capture_nas(repo, "nas/local", src.string(), std::nullopt, progress, quiet).section;
  CHECK(nas.files == fs_other);
  CHECK(nas.dirs == fs_dirs);
  CHECK(entries(nas) == nas.files + nas.dirs);

  support::RunResult tar = support::run({"tar", "--format=pax", "-cf", (tmp / "s.tar").string(), "-C", src.string(), "."});
  REQUIRE_MESSAGE(tar.exit_code == 0, tar.describe());
  const Section streamed =
      drctl::capture::capture_tar_bytes(repo, "nas/remote", "x", support::read_file(tmp / "s.tar"), progress, quiet).section;
  CHECK(streamed.files == fs_other);
  CHECK(streamed.dirs == fs_dirs);
  CHECK(entries(streamed) == streamed.files + streamed.dirs);

  Section built = drctl::capture::make_section(
      repo, "kube", "x",
      {drctl::capture::file_node(repo, progress, "a.json", "{}", 0600, 0),
       drctl::capture::file_node(repo, progress, "b.json", "[]", 0600, 0)},
      0);
  CHECK(built.files == 2);
  CHECK(built.dirs == 0);
  CHECK(entries(built) == 2);
  drctl::capture::add_to_section(repo, built, {drctl::capture::file_node(repo, progress, "c.db", "x", 0600, 0)});
  CHECK(built.files == 3);
  CHECK(entries(built) == 3);
}
