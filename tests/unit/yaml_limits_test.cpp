// YAML within limits (issue 13): an alias bomb as a runbook, a site or a drill file is refused
// at the alias that crosses the limit on expanded nodes, and a file over the size limit is
// refused naming it, before it is parsed; small anchors reused a few times still work; a
// runbook of 10,000 steps (and a chain of 10,000) loads, validates and plans.
//
// Hostile loads run in a child process with its address space and CPU time capped, so that a
// regression (an expansion that runs away) fails the test instead of hanging or swapping it.
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "actions/action.hpp"
#include "drill/runner.hpp"
#include "runbook/loader.hpp"
#include "runbook/plan.hpp"
#include "runbook/validate.hpp"
#include "support/fs_tree.hpp"

using namespace drctl::runbook;
namespace fs = std::filesystem;

namespace {

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string read(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What `load` throws (its what()), or "loaded", computed in a child process limited to 1 GiB of
// address space and 60 s of CPU time. Fails the test when the child does not exit by itself.
std::string refusal_in_child(const std::function<void()>& load) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(out[0]);
    rlimit memory{1ul << 30, 1ul << 30}, cpu{60, 60};
    ::setrlimit(RLIMIT_AS, &memory);
    ::setrlimit(RLIMIT_CPU, &cpu);
    std::string result = "loaded";
    try {
      load();
    } catch (const std::exception& e) {
      result = e.what();
    }
    (void)!::write(out[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(out[1]);
  std::string result;
  char buffer[4096];
  for (ssize_t n; (n = ::read(out[0], buffer, sizeof buffer)) > 0;) result.append(buffer, static_cast<std::size_t>(n));
  ::close(out[0]);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO("the child's result: " << result);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return result;
}

// Nine levels of ten aliases of the level before: 10^9 nodes once expanded, ~550 bytes written
// (indented by `indent`, as entries of a map).
std::string billion_laughs(const std::string& indent) {
  std::string out = indent + "a0: &a0 [\"lol\"]\n";
  for (int level = 1; level <= 9; ++level) {
    out += indent + "a" + std::to_string(level) + ": &a" + std::to_string(level) + " [";
    for (int k = 0; k < 10; ++k) out += (k ? ", *a" : "*a") + std::to_string(level - 1);
    out += "]\n";
  }
  return out;
}

struct Where {
  std::string file;
  int line = 0, col = 0;
  std::string message;
};

// "FILE:LINE:COL: message" split up; line 0 when the message names only the file.
Where where_of(const std::string& error, const std::string& file) {
  Where w;
  REQUIRE_MESSAGE(error.rfind(file + ":", 0) == 0, error);
  w.file = file;
  std::string rest = error.substr(file.size() + 1);
  if (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest[0]))) {
    std::size_t a = rest.find(':'), b = rest.find(':', a + 1);
    w.line = std::stoi(rest.substr(0, a));
    w.col = std::stoi(rest.substr(a + 1, b - a - 1));
    rest = rest.substr(b + 1);
  }
  w.message = rest.substr(rest.find_first_not_of(' '));
  return w;
}

// The text of `file` from line:col (1-based) to the end of that line.
std::string text_at(const fs::path& file, int line, int col) {
  std::istringstream in(read(file));
  std::string text;
  for (int i = 0; i < line; ++i) std::getline(in, text);
  return text.substr(static_cast<std::size_t>(col - 1));
}

// The refusal names an alias of the file at the place it gives: the text there is that alias.
void check_names_alias_at_its_place(const std::string& error, const fs::path& file) {
  Where w = where_of(error, file.string());
  REQUIRE(w.line > 0);
  std::string there = text_at(file, w.line, w.col);
  INFO(error << "\n  text there: " << there);
  REQUIRE(there.rfind("*a", 0) == 0);
  std::string alias = there.substr(0, there.find_first_of(",] "));
  CHECK(w.message.rfind("alias '" + alias + "' expands the document past " + std::to_string(drctl::kMaxYamlNodes) + " nodes",
                        0) == 0);
}

std::string absolute_name(const fs::path& p) { return fs::absolute(p).lexically_normal().string(); }

}  // namespace

TEST_CASE("yaml limits: an alias bomb as a runbook is refused at the alias that crosses the limit") {
  support::TempDir dir("yaml-bomb");
  fs::path rb = dir / "rb.yaml";
  write(rb, "name: bomb\nvars:\n" + billion_laughs("  ") + "steps:\n  - id: x\n    run: echo {{a9}}\n");
  std::string error = refusal_in_child([&] { load_runbook(rb.string()); });
  check_names_alias_at_its_place(error, absolute_name(rb));
}

TEST_CASE("yaml limits: an alias bomb as a site is refused naming the site's file") {
  support::TempDir dir("yaml-bomb-site");
  write(dir / "site.yaml", "vars:\n" + billion_laughs("  "));
  write(dir / "rb.yaml", "site: site.yaml\nsteps:\n  - id: x\n    run: echo\n");
  std::string error = refusal_in_child([&] { load_runbook((dir / "rb.yaml").string()); });
  check_names_alias_at_its_place(error, absolute_name(dir / "site.yaml"));
}

TEST_CASE("yaml limits: an alias bomb as a drill file is refused, and as a --set value too") {
  support::TempDir dir("yaml-bomb-drill");
  fs::path drill = dir / "drill.yaml";
  write(drill, "name: bomb\nsite: site.yaml\nbackup: rb.yaml\nrebuild: rb.yaml\nrebuild_vars:\n" + billion_laughs("  "));
  std::string error = refusal_in_child([&] { drctl::drill::load_scenario(drill.string()); });
  check_names_alias_at_its_place(error, drill.string());

  // Flow style on one line, as `--set x=…` would give it.
  std::string flow = "[&a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]";
  std::string alias = "*a";
  for (int level = 1; level <= 9; ++level) {
    std::string anchor = "&a" + std::to_string(level);
    flow += ", " + anchor + " [" + alias;
    for (int k = 1; k < 10; ++k) flow += ", " + alias;
    flow += "]";
    alias = "*a" + std::to_string(level);
  }
  flow += "]";
  error = refusal_in_child([&] { drctl::yaml_to_json(drctl::parse_yaml(flow, "--set x")); });
  Where w = where_of(error, "--set x");
  CHECK(w.line == 1);
  CHECK(flow.substr(static_cast<std::size_t>(w.col - 1), 2) == "*a");
  CHECK(w.message.find("expands the document past") != std::string::npos);
}

TEST_CASE("yaml limits: an alias inside the node it names is refused (a cycle)") {
  support::TempDir dir("yaml-cycle");
  fs::path rb = dir / "rb.yaml";
  write(rb, "vars:\n  loop: &loop {again: *loop}\nsteps:\n  - id: x\n    run: echo\n");
  std::string error = refusal_in_child([&] { load_runbook(rb.string()); });
  Where w = where_of(error, absolute_name(rb));
  CHECK(w.line == 2);
  CHECK(text_at(rb, w.line, w.col).rfind("*loop}", 0) == 0);
  CHECK(w.message == "alias '*loop' refers to a node it is inside (a cycle)");
}

TEST_CASE("yaml limits: more nodes than the limit as written, or nested deeper through aliases, are refused") {
  support::TempDir dir("yaml-many");
  // One list of limit + 1 entries "a", entry k (from 1) at column 2k: with the list itself as the
  // first node, entry number `limit` is the node past the limit.
  std::string many = "[";
  for (std::size_t k = 0; k <= drctl::kMaxYamlNodes; ++k) many += k ? ",a" : "a";
  many += "]\n";
  write(dir / "many.yaml", many);
  std::string error = refusal_in_child([&] { drctl::load_yaml_file((dir / "many.yaml").string()); });
  Where w = where_of(error, (dir / "many.yaml").string());
  CHECK(w.line == 1);
  CHECK(w.col == static_cast<int>(2 * drctl::kMaxYamlNodes));
  CHECK(w.message == "the document has more than " + std::to_string(drctl::kMaxYamlNodes) + " nodes, the limit");

  // Each line 300 lists deep (yaml-cpp refuses text nested much deeper), around an alias of the
  // line before: line 7 nests 7 × 300 levels, and its alias is where the depth limit is crossed.
  auto nested = [](const std::string& inner) { return std::string(300, '[') + inner + std::string(300, ']'); };
  std::string deep = "a0: &a0 " + nested("x") + "\n";
  for (int k = 1; k <= 6; ++k)
    deep += "a" + std::to_string(k) + ": &a" + std::to_string(k) + " " + nested("*a" + std::to_string(k - 1)) + "\n";
  write(dir / "deep.yaml", deep);
  error = refusal_in_child([&] { drctl::load_yaml_file((dir / "deep.yaml").string()); });
  w = where_of(error, (dir / "deep.yaml").string());
  CHECK(w.line == 7);
  CHECK(w.col == 8 + 300 + 1);  // after "a6: &a6 " and the brackets
  CHECK(w.message == "alias '*a5' nests the document more than " + std::to_string(drctl::kMaxYamlDepth) +
                         " levels deep, the limit");

  // As written, much deeper than that cannot even be parsed: a syntax error, not a crash.
  write(dir / "deeper.yaml", "a: " + std::string(100000, '[') + "\n");
  error = refusal_in_child([&] { drctl::load_yaml_file((dir / "deeper.yaml").string()); });
  w = where_of(error, (dir / "deeper.yaml").string());
  CHECK(w.line > 0);
  CHECK(w.message == "maps and lists nested too deeply to parse");
}

TEST_CASE("yaml limits: a file over the size limit is refused naming it, before it is parsed") {
  support::TempDir dir("yaml-size");
  // Not YAML at all (an unclosed list): a refusal without line:col was never parsed.
  std::string over(drctl::kMaxYamlFileBytes + 1, 'x');
  over[0] = '[';
  fs::path rb = dir / "rb.yaml";
  write(rb, over);
  REQUIRE(fs::file_size(rb) == drctl::kMaxYamlFileBytes + 1);
  std::string error = refusal_in_child([&] { load_runbook(rb.string()); });
  Where w = where_of(error, absolute_name(rb));
  CHECK(w.line == 0);
  CHECK(w.message == "is " + std::to_string(fs::file_size(rb)) + " bytes, more than the 8 MiB drctl reads from a YAML file");

  // The same as a site, a secrets file and a drill file.
  write(dir / "big/site.yaml", over);
  write(dir / "big/rb.yaml", "site: site.yaml\nsteps:\n  - id: x\n    run: echo\n");
  error = refusal_in_child([&] { load_runbook((dir / "big/rb.yaml").string()); });
  CHECK(where_of(error, absolute_name(dir / "big/site.yaml")).message.find("more than the 8 MiB") != std::string::npos);
  write(dir / "secret/site.yaml", "secrets: secrets.yaml\n");
  write(dir / "secret/secrets.yaml", over);
  error = refusal_in_child([&] { load_site((dir / "secret/site.yaml").string()); });
  CHECK(where_of(error, absolute_name(dir / "secret/secrets.yaml")).message.find("more than the 8 MiB") != std::string::npos);
  error = refusal_in_child([&] { drctl::drill::load_scenario(rb.string()); });
  CHECK(where_of(error, rb.string()).line == 0);

  // At the limit exactly, a file is read: a runbook padded with a comment to the byte.
  std::string runbook = "steps:\n  - id: x\n    run: echo\n#";
  runbook += std::string(drctl::kMaxYamlFileBytes - runbook.size(), 'x');
  write(dir / "at-limit.yaml", runbook);
  REQUIRE(fs::file_size(dir / "at-limit.yaml") == drctl::kMaxYamlFileBytes);
  CHECK(refusal_in_child([&] { load_runbook((dir / "at-limit.yaml").string()); }) == "loaded");
}

TEST_CASE("yaml limits: a small anchor reused a few times still works") {
  support::TempDir dir("yaml-anchors");
  write(dir / "site.yaml",
        "hosts:\n  a: &host {address: 10.0.0.1, role: worker}\n  b: *host\n  c: {address: 10.0.0.3}\n"
        "vars:\n  ports: &ports [22, 80]\n  again: *ports\n");
  write(dir / "rb.yaml",
        "site: site.yaml\nvars:\n  probe: &probe {host: \"{{host.address}}\", port: 22}\n  ports: &ports [22, 80]\nsteps:\n"
        "  - id: one\n    uses: wait.tcp\n    on: a\n    with: *probe\n"
        "  - id: two\n    uses: wait.tcp\n    on: c\n    needs: one\n    with: *probe\n"
        "  - id: three\n    run: echo {{item}}\n    for_each: *ports\n    needs: two\n");
  Runbook rb = load_runbook((dir / "rb.yaml").string());
  const auto& registry = drctl::actions::Registry::builtin();
  validate(rb, registry);
  CHECK(rb.site->host("b")->address == "10.0.0.1");
  CHECK(rb.site->host("b")->role == "worker");
  CHECK(rb.site->vars["again"] == json::array({22, 80}));
  CHECK(rb.vars["probe"]["port"] == 22);
  const auto& spec = registry.find("wait.tcp")->spec();
  for (const char* id : {"one", "two"}) {
    const Step& step = *rb.step(id);
    const SiteHost* host = rb.site->host(*step.on);
    json inputs = render_inputs(rb, step, spec, render_context(rb, step, host, nullptr, json::object()));
    CHECK(inputs["host"] == host->address);
    CHECK(inputs["port"] == 22);
  }
  CHECK(expand(rb).size() == 4);  // one, two, three for 22 and for 80
}

TEST_CASE("yaml limits: a runbook of 10,000 steps in 100 waves loads, validates and plans") {
  support::TempDir dir("yaml-10k");
  const int width = 100, depth = 100;
  std::string text = "name: big\nsite: site.yaml\nvars:\n  domain: lab.example\nsteps:\n";
  std::string site = "hosts:\n";
  for (int h = 0; h < 10; ++h) site += "  h" + std::to_string(h) + ": {address: 10.0.0." + std::to_string(h + 1) + ", groups: [all]}\n";
  write(dir / "site.yaml", site);
  auto id = [](int wave, int i) { return "s" + std::to_string(wave) + "-" + std::to_string(i); };
  for (int wave = 0; wave < depth; ++wave)
    for (int i = 0; i < width; ++i) {
      text += "  - id: " + id(wave, i) + "\n    on: h" + std::to_string(i % 10) + "\n    timeout: 30s\n";
      if (wave == 0) {
        text += "    run: echo {{domain}} {{host.address}}\n";
        continue;
      }
      // The step two waves back is needed through the one before: its outputs are there too.
      std::string back = wave >= 2 ? " {{steps." + id(wave - 2, i) + ".outputs.stdout}}" : "";
      text += "    run: echo {{steps." + id(wave - 1, i) + ".outputs.stdout}}" + back + "\n";
      text += "    needs: [" + id(wave - 1, i) + ", " + id(wave - 1, (i + 1) % width) + "]\n";
    }
  write(dir / "rb.yaml", text);
  Runbook rb = load_runbook((dir / "rb.yaml").string());
  REQUIRE(rb.steps.size() == static_cast<std::size_t>(width * depth));
  validate(rb, drctl::actions::Registry::builtin());
  auto ws = waves(rb);
  REQUIRE(ws.size() == static_cast<std::size_t>(depth));
  for (int wave = 0; wave < depth; ++wave) {
    REQUIRE(ws[static_cast<std::size_t>(wave)].size() == static_cast<std::size_t>(width));
    CHECK(ws[static_cast<std::size_t>(wave)].front() == id(wave, 0));
  }
  auto order = topological_order(rb);
  CHECK(order.size() == rb.steps.size());
  CHECK(std::set<std::string>(order.begin(), order.end()).size() == rb.steps.size());
  CriticalPath cp = critical_path(rb);
  CHECK(cp.steps.size() == static_cast<std::size_t>(depth));
  CHECK(cp.total == std::chrono::seconds(30 * depth));
  CHECK(expand(rb).size() == rb.steps.size());
  CHECK(dependencies(rb, id(3, 0)).size() == 2 + 3 + 4);  // two waves of 2, 3 and 4 steps back
}

TEST_CASE("yaml limits: a chain of 10,000 steps using outputs from far up it plans, and a cycle through all is reported") {
  support::TempDir dir("yaml-chain");
  const int length = 10000;
  // Each step names the outputs of the first step and of the one halfway up the chain to it.
  auto chain = [&](bool closed, const std::string& last = "") {
    std::string text = "steps:\n";
    for (int i = 0; i < length; ++i) {
      text += "  - id: c" + std::to_string(i) + "\n    run: echo " + std::to_string(i);
      if (i > 0) text += " {{steps.c0.outputs.stdout}} {{steps.c" + std::to_string(i / 2) + ".outputs.exit_code}}";
      text += "\n";
      if (i > 0 || closed) text += "    needs: c" + std::to_string(i > 0 ? i - 1 : length - 1) + "\n";
    }
    return text + last;
  };
  write(dir / "chain.yaml", chain(false));
  Runbook rb = load_runbook((dir / "chain.yaml").string());
  validate(rb, drctl::actions::Registry::builtin());
  auto ws = waves(rb);
  REQUIRE(ws.size() == static_cast<std::size_t>(length));
  CHECK(ws.back() == std::vector<std::string>{"c" + std::to_string(length - 1)});

  // A step beside the chain may not: it needs none of it.
  write(dir / "beside.yaml", chain(false, "  - id: beside\n    run: echo {{steps.c5.outputs.stdout}}\n"));
  Runbook beside = load_runbook((dir / "beside.yaml").string());
  CHECK_THROWS_WITH_AS(validate(beside, drctl::actions::Registry::builtin()),
                       doctest::Contains("undefined template variable 'steps.c5.outputs.stdout' (step 'c5' is not in the "
                                         "needs of 'beside'; add it to use its outputs)"),
                       LoadError);

  write(dir / "loop.yaml", chain(true));
  Runbook loop = load_runbook((dir / "loop.yaml").string());
  try {
    validate(loop, drctl::actions::Registry::builtin());
    FAIL("a cycle of " << length << " steps was accepted");
  } catch (const LoadError& e) {
    CHECK(e.pos.line == 2);  // the cycle is reported at its first step, c0
    CHECK(e.message.rfind("dependency cycle: c0 \u2192 c" + std::to_string(length - 1) + " \u2192 c" +
                              std::to_string(length - 2),
                          0) == 0);
  }
}
