// Issue 13, item 5: the contract every drctl command keeps, run through the real binary.
// - Private output: reports, JUnit, event logs, the state directory and --dry-run's rendered
//   files are 0600 (files) / 0700 (the directories drctl makes) even under umask 000.
// - Arguments: -j takes a count of at least 1; a value holding a control character is refused
//   with one line naming the option, before anything is created.
// - Errors: every failure is one `drctl: error:` line, without a library's raw exception text,
//   even when what it quotes holds newlines or bytes that are not UTF-8.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "support/fs_tree.hpp"
#include "support/run.hpp"

using namespace support;
using json = nlohmann::json;

namespace {

fs::path source_root() { return fs::absolute(fs::path(__FILE__)).parent_path().parent_path().parent_path(); }
fs::path sim_lab() { return source_root() / "tests/fixtures/sim/install-lab.yaml"; }
fs::path total_loss() { return source_root() / "runbooks/homelab/drills/total-loss.yaml"; }

mode_t mode_of(const fs::path& p) { return lstat_or_throw(p).st_mode & 07777; }

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m));
  return buf;
}

#define CHECK_MODE(path, expected) CHECK_MESSAGE(octal(mode_of(path)) == octal(expected), (path).string())

RunOptions umask_000(const fs::path& cwd = {}) {
  RunOptions o;
  o.umask = 0;
  o.cwd = cwd.string();
  return o;
}

// Bytes below 0x20 and 0x7f as \xNN, for test messages.
std::string hex_controls(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += c < 0x20 || c == 0x7f ? std::string(buf) : std::string(1, static_cast<char>(c));
  }
  return out;
}

// One line a terminal shows as it is: no control character but the final newline.
bool one_clean_line(const std::string& err) {
  if (!is_one_error_line(err)) return false;
  for (std::size_t i = 0; i + 1 < err.size(); ++i)
    if (static_cast<unsigned char>(err[i]) < 0x20 || err[i] == 0x7f) return false;
  return true;
}

// Refused as bad input: exit 2, one clean `drctl: error:` line on stderr that contains `names`.
#define CHECK_REFUSED(result, names)                                                                     \
  do {                                                                                                  \
    const RunResult& r_ = (result);                                                                     \
    CHECK_MESSAGE(r_.exit_code == 2, r_.describe());                                                    \
    CHECK_MESSAGE(one_clean_line(r_.err), "stderr is not one clean \"drctl: error:\" line:\n" << hex_controls(r_.err)); \
    CHECK_MESSAGE(r_.err.find(names) != std::string::npos, "the error does not name " << (names) << ":\n" << r_.describe()); \
  } while (0)

// Every entry under `dir` (relative), for "nothing was created".
std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

// A runbook run on this machine: one command step that leaves a marker, one file.put.
void write_local_runbook(const fs::path& dir) {
  write_file(dir / "site.yaml", "name: lab\nhosts:\n  n1:\n    connection: local\n");
  write_file(dir / "rb.yaml", R"(name: local
site: site.yaml
vars:
  greeting: hello
steps:
  - id: mark
    run: echo {{greeting}} > {{runbook.dir}}/marker
  - id: conf
    needs: mark
    uses: file.put
    on: n1
    with:
      path: "{{runbook.dir}}/out.conf"
      content: "{{greeting}} from n1\n"
)");
}

}  // namespace

TEST_CASE("contract: drill --report and --junit are written 0600 under umask 000, also over a file that was 0666") {
  TempDir t("contract-drill");
  write_file(t / "old-junit.xml", "old\n", 0666);
  REQUIRE(::chmod((t / "old-junit.xml").c_str(), 0666) == 0);
  RunResult r = drctl_opts({"drill", total_loss().string(), "--report", (t / "report.json").string(), "--junit",
                            (t / "old-junit.xml").string()},
                           umask_000());
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK_MODE(t / "report.json", 0600);
  CHECK_MODE(t / "old-junit.xml", 0600);
  CHECK(json::parse(read_file(t / "report.json")).is_object() == true);
  CHECK(read_file(t / "old-junit.xml").find("<testsuites") != std::string::npos);
}

TEST_CASE("contract: a simulated run's event log, report and state are private under umask 000") {
  TempDir t("contract-sim");
  const fs::path state = t / "deep/er/state";
  RunResult r = drctl_opts({"run", sim_lab().string(), "--target", "sim", "--events", (t / "events.jsonl").string(),
                            "--report", (t / "report.json").string(), "--state", state.string()},
                           umask_000());
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK_MODE(t / "events.jsonl", 0600);
  CHECK_MODE(t / "report.json", 0600);
  for (const fs::path& d : {t / "deep", t / "deep/er", state}) CHECK_MODE(d, 0700);
  CHECK_MODE(state / "journal.jsonl", 0600);
  CHECK(read_file(t / "events.jsonl").find("install-finished") != std::string::npos);

  SUBCASE("the default state directory, .drctl/state/NAME.sim, and its parents") {
    RunResult d = drctl_opts({"run", sim_lab().string(), "--target", "sim"}, umask_000(t.path()));
    REQUIRE_MESSAGE(d.exit_code == 0, d.describe());
    for (const fs::path& dir : {t / ".drctl", t / ".drctl/state", t / ".drctl/state/install-lab.sim"}) CHECK_MODE(dir, 0700);
    CHECK_MODE(t / ".drctl/state/install-lab.sim/journal.jsonl", 0600);
  }
}

TEST_CASE("contract: --dry-run's rendered files are 0600 in 0700 directories under umask 000") {
  TempDir t("contract-dry");
  write_local_runbook(t.path());
  const fs::path rd = t / "a/rendered";
  // A file an earlier dry run left readable by everyone is made private when it is rewritten.
  fs::create_directories(rd / "mark");
  write_file(rd / "mark/inputs.json", "{}\n", 0666);
  REQUIRE(::chmod((rd / "mark/inputs.json").c_str(), 0666) == 0);
  RunResult r = drctl_opts({"run", (t / "rb.yaml").string(), "--state", (t / "state").string(), "--dry-run",
                            "--render-dir", (t / "b/rendered").string()},
                           umask_000());
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  for (const fs::path& d : {t / "b", t / "b/rendered", t / "b/rendered/mark", t / "b/rendered/conf"}) CHECK_MODE(d, 0700);
  for (const fs::path& f : {t / "b/rendered/mark/inputs.json", t / "b/rendered/mark/command.sh",
                            t / "b/rendered/conf/inputs.json", t / "b/rendered/conf/content"})
    CHECK_MODE(f, 0600);
  CHECK(read_file(t / "b/rendered/conf/content") == "hello from n1\n");

  RunResult again = drctl_opts({"run", (t / "rb.yaml").string(), "--state", (t / "state").string(), "--dry-run",
                                "--render-dir", rd.string()},
                               umask_000());
  REQUIRE_MESSAGE(again.exit_code == 0, again.describe());
  CHECK_MODE(rd / "mark/inputs.json", 0600);
  CHECK(json::parse(read_file(rd / "mark/inputs.json")).value("command", "") == "echo hello > " + t.str() + "/marker");
  CHECK_FALSE(fs::exists(t / "marker"));
}

TEST_CASE("contract: a real run's --report is 0600 under umask 000") {
  TempDir t("contract-run");
  write_local_runbook(t.path());
  RunResult r = drctl_opts({"run", (t / "rb.yaml").string(), "--state", (t / "s/state").string(), "--report",
                            (t / "report.json").string()},
                           umask_000());
  REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
  CHECK(read_file(t / "marker") == "hello\n");
  CHECK_MODE(t / "report.json", 0600);
  CHECK_MODE(t / "s", 0700);
  CHECK_MODE(t / "s/state", 0700);
  CHECK_MODE(t / "s/state/journal.jsonl", 0600);
}

TEST_CASE("contract: -j takes a count of at least 1, for run and drill") {
  TempDir t("contract-jobs");
  write_local_runbook(t.path());
  const std::vector<std::vector<std::string>> commands = {
      {"run", (t / "rb.yaml").string(), "--state", (t / "state").string()},
      {"run", sim_lab().string(), "--target", "sim", "--state", (t / "state").string()},
      {"drill", total_loss().string(), "--report", (t / "report.json").string()}};
  for (const auto& base : commands) {
    for (const std::string bad : {"0", "-1", "00", "1.5", "abc", "", "99999999999999999999"}) {
      for (const std::string form : {"-j", "--jobs"}) {
        std::vector<std::string> args = base;
        args.insert(args.end(), {form, bad});
        CAPTURE(args[0]);
        CAPTURE(form);
        CAPTURE(bad);
        RunResult r = drctl(args);
        CHECK_REFUSED(r, "-j");
        if (!bad.empty()) CHECK_MESSAGE(r.err.find("'" + bad + "'") != std::string::npos, "the value is not quoted as given:\n" << r.describe());
      }
    }
    CHECK(entries(t.path()) == std::vector<std::string>{"rb.yaml", "site.yaml"});
  }
  // The refusal is of the value, not of -j: a count runs.
  RunResult ok = drctl({"run", (t / "rb.yaml").string(), "--state", (t / "state").string(), "-j", "1"});
  CHECK_MESSAGE(ok.exit_code == 0, ok.describe());
  CHECK(read_file(t / "marker") == "hello\n");
}

TEST_CASE("contract: a value holding a control character is refused with one line naming the option, and nothing is made") {
  TempDir t("contract-ctl");
  write_local_runbook(t.path());
  const fs::path src = t / "src";
  fs::create_directories(src);
  write_file(src / "f.txt", "data\n");
  const fs::path repo = t / "repo";
  init_repo(repo);
  const std::string id = create_snapshot(repo, {{"data", src}});
  const auto before = entries(t.path());
  const std::string R = repo.string(), rb = (t / "rb.yaml").string(), state = (t / "state").string();

  for (const std::string& ctl : {std::string("\n"), std::string("\t"), std::string("\x1b[31m"), std::string("\r"),
                                std::string("\x7f"), std::string(1, '\x01')}) {
    CAPTURE(hex_controls(ctl));
    const std::string v = "a" + ctl + "b";
    CHECK_REFUSED(drctl({"snapshot", "create", "--repo", R, "--nas", "data=" + src.string(), "--tag", v}), "--tag");
    CHECK_REFUSED(drctl({"snapshot", "restore", id, "--repo", R, "--section", "nas/" + v, "--to", (t / "out").string()}), "--section");
    CHECK_REFUSED(drctl({"run", rb, "--state", state, "--set", "greeting=" + v}), "--set");
    CHECK_REFUSED(drctl({"run", rb, "--state", state, "--only", "mark" + ctl}), "--only");
    CHECK_REFUSED(drctl({"run", rb, "--state", state, "--dry-run", "--render-dir", (t / "r").string() + ctl}), "--render-dir");
    CHECK_REFUSED(drctl({"run", rb + ctl, "--state", state}), "RUNBOOK");
    CHECK_REFUSED(drctl({"drill", total_loss().string(), "--seeds", "1" + ctl}), "--seeds");
    CHECK_REFUSED(drctl({"snapshot", "--repo", R + ctl, "list"}), "--repo");
    // An argument no option takes is refused too, on one line (CLI11 quotes it; drctl escapes it).
    CHECK_REFUSED(drctl({"run", rb, "--state", state, v}), "b");
    CHECK(entries(t.path()) == before);
  }
  CHECK(list_ids(repo) == std::vector<std::string>{id});
}

TEST_CASE("contract: text that is not UTF-8 never surfaces as a JSON library exception") {
  TempDir t("contract-utf8");
  write_local_runbook(t.path());
  const std::string bad = "caf\xe9 \xff\xfe";  // Latin-1 and stray bytes

  SUBCASE("a --dry-run of a command that is not UTF-8") {
    write_file(t / "rb8.yaml", "name: bytes\nsteps:\n  - id: say\n    run: echo " + bad + "\n");
    RunResult r = drctl({"run", (t / "rb8.yaml").string(), "--state", (t / "state").string(), "--dry-run", "--render-dir",
                         (t / "rendered").string()});
    INFO(r.describe());
    CHECK(r.err.find("json.exception") == std::string::npos);
    if (r.exit_code == 0) {  // shown where it is for reading, kept as given where it would run
      CHECK(read_file(t / "rendered/say/command.sh") == "echo " + bad + "\n");
      CHECK(json::parse(read_file(t / "rendered/say/inputs.json")).value("command", "") == "echo caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd");
    } else {  // or refused where the runbook is read, before anything ran: one line, bad input
      CHECK(r.exit_code == 2);
      CHECK(is_one_error_line(r.err));
      CHECK(r.err.find("rb8.yaml") != std::string::npos);
      CHECK(r.out.empty());
    }
  }

  SUBCASE("a --set value that is not UTF-8 reaches --dry-run's inputs.json as U+FFFD") {
    RunResult r = drctl({"run", (t / "rb.yaml").string(), "--state", (t / "state").string(), "--dry-run", "--render-dir",
                         (t / "rendered").string(), "--set", "greeting=" + bad});
    REQUIRE_MESSAGE(r.exit_code == 0, r.describe());
    CHECK(r.err.find("json.exception") == std::string::npos);
    CHECK(read_file(t / "rendered/mark/command.sh") == "echo " + bad + " > " + t.str() + "/marker\n");
    CHECK(json::parse(read_file(t / "rendered/conf/inputs.json")).value("content", "") ==
          "caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd from n1\n");
  }

  SUBCASE("a simulated command that is not UTF-8: the --events log is still JSON lines") {
    fs::copy(sim_lab().parent_path(), t / "lab", fs::copy_options::recursive);
    std::string rb = read_file(t / "lab/install-lab.yaml");
    const std::string plain = "with: {command: /etc/rc.reload_all}";
    REQUIRE(rb.find(plain) != std::string::npos);
    rb.replace(rb.find(plain), plain.size(), "with: {command: \"/etc/rc.reload_all " + bad + "\"}");
    write_file(t / "lab/bytes.yaml", rb);
    RunResult r = drctl({"run", (t / "lab/bytes.yaml").string(), "--target", "sim", "--state", (t / "state").string(),
                         "--events", (t / "events.jsonl").string()});
    INFO(r.describe());
    CHECK(r.err.find("json.exception") == std::string::npos);
    if (r.exit_code == 0) {
      std::size_t lines = 0, shown = 0;
      std::istringstream in(read_file(t / "events.jsonl"));
      for (std::string line; std::getline(in, line); ++lines) {
        const json e = json::parse(line);
        if (e.value("script", "") == "/etc/rc.reload_all caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd") ++shown;
      }
      CHECK(lines > 100);
      CHECK(shown >= 1);
    } else {  // or refused where the runbook is read, before anything ran
      CHECK(r.exit_code == 2);
      CHECK(is_one_error_line(r.err));
      CHECK(r.err.find("bytes.yaml") != std::string::npos);
      CHECK(r.out.empty());
    }
  }

  SUBCASE("a step whose error quotes a path that is not UTF-8: the run's --report is still JSON") {
    // The path runs through a regular file, so file.put fails and its error names the path.
    write_file(t / ("blk-" + bad), "x");
    write_file(t / "rb8.yaml", "name: bytes\nsteps:\n  - id: put\n    uses: file.put\n    with:\n      path: \"" + t.str() +
                                   "/blk-" + bad + "/x\"\n      content: hi\n");
    RunResult r = drctl({"run", (t / "rb8.yaml").string(), "--state", (t / "state").string(), "--report",
                         (t / "report.json").string()});
    INFO(r.describe());
    CHECK(r.err.find("json.exception") == std::string::npos);
    if (r.exit_code == 1) {
      json report = json::parse(read_file(t / "report.json"));
      REQUIRE(report["steps"].size() == 1);
      CHECK(report["steps"][0].value("status", "") == "failed");
      CHECK(report["steps"][0].value("error", "").find("blk-caf\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd/x") != std::string::npos);
    } else {  // or refused where the runbook is read, before anything ran
      CHECK(r.exit_code == 2);
      CHECK(is_one_error_line(r.err));
      CHECK(r.err.find("rb8.yaml") != std::string::npos);
      CHECK(r.out.empty());
    }
  }
}

TEST_CASE("contract: errors that quote the user's text stay on one line") {
  TempDir t("contract-oneline");
  // Text from a file, not from the arguments: a site path and a step id holding a newline,
  // and a runbook path holding bytes that are not UTF-8.
  write_file(t / "site-nl.yaml", "name: a\nsteps:\n  - id: a\n    run: \"true\"\nsite: \"no\\nsuch.yaml\"\n");
  write_file(t / "id-nl.yaml", "name: a\nsteps:\n  - id: \"a\\nb\"\n    run: \"true\"\n");
  for (const fs::path& rb : {t / "site-nl.yaml", t / "id-nl.yaml", t / "nope\xff.yaml"}) {
    CAPTURE(hex_controls(rb.string()));
    RunResult r = drctl({"run", rb.string(), "--state", (t / "state").string()});
    CHECK_MESSAGE(r.exit_code == 2, r.describe());
    CHECK_MESSAGE(one_clean_line(r.err), hex_controls(r.err));
  }
  CHECK_FALSE(fs::exists(t / "state"));
}
