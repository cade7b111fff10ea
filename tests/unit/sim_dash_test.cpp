// sh as dash runs it. drctl runs every script with /bin/sh -c (world/login_shell.hpp), and /bin/sh
// is dash on Ubuntu and Debian (0.5.11 on focal, 0.5.12 on Debian 12 — this machine's). Each case
// below runs the same script in the real dash and in a simulated GNU/Linux host, both through the
// line drctl sends (`exec /bin/sh -c DECODER drctl ENCODED`), and compares stdout, stderr and the
// exit status. The oracle is the real dash; a case's `shows` is only what a reader should see in
// it (and that dash still says it).
//
// The name in dash's messages is the script's $0 with its line: `drctl: 3: [[: not found` through
// drctl's line (the decoder runs `/bin/sh -c SCRIPT drctl SCRIPT`), `sh: 1: …` for `sh -c SCRIPT`,
// `/bin/sh: 1: …` for `/bin/sh -c SCRIPT`: dash prints arg0 (src/error.c, src/parser.c).
#include <doctest/doctest.h>

#include <filesystem>

#include "sim/host.hpp"
#include "support/fs_tree.hpp"
#include "support/run.hpp"
#include "world/login_shell.hpp"

using namespace drctl;
using support::RunResult;

namespace {

struct Case {
  const char* name;
  const char* script;
  const char* shows;  // a part of dash's output (stdout or stderr) the case is about
};

// Bash's syntax and builtins, and the mistakes dash reports: what a script written for bash does
// on an Ubuntu host.
const Case kBroken[] = {
    {"[[ is a command dash does not have", "[[ a == a ]] && echo yes", "drctl: 1: [[: not found"},
    {"[[ on line 2, and the script goes on", "echo start\n[[ -f /etc/hostname ]]\necho \"after $?\"",
     "drctl: 2: [[: not found"},
    {"function keyword", "function f { echo x; }", "Syntax error: \"}\" unexpected"},
    {"function keyword with parentheses", "function f() { echo x; }", "Syntax error: \"(\" unexpected"},
    {"arrays", "a=(1 2)\necho ${a[1]}", "Syntax error: \"(\" unexpected"},
    {"pattern substitution", "x=abc\necho before\necho ${x//b/c}\necho after", "drctl: 3: Bad substitution"},
    {"substring", "x=abc; echo ${x:1:2}", "Bad substitution"},
    {"case conversion", "x=abc; echo ${x^^}", "Bad substitution"},
    {"indirection", "x=abc; echo ${!x}", "Bad substitution"},
    {"echo -e is printed", "echo -e 'a\\tb'", "-e a\tb"},
    {"== in [", "[ a == a ] && echo equal", "drctl: 1: [: a: unexpected operator"},
    {"== in test", "test a == b || echo differ", "test: a: unexpected operator"},
    {"source", "source ./lib.sh\necho after", "drctl: 1: source: not found"},
    {"set -o pipefail ends the script", "set -o pipefail\necho after", "set: Illegal option -o pipefail"},
    {"set -eo pipefail", "set -eo pipefail\necho after", "Illegal option -o pipefail"},
    {"let", "let x=1\necho \"[$x]\"", "let: not found"},
    {"declare", "declare -x A=1", "declare: not found"},
    {"local outside a function", "local a\necho after", "local: not in a function"},
    {"here-string", "cat <<< hi", "Syntax error: redirection unexpected"},
    {"|&", "echo x |& cat", "Syntax error: \"&\" unexpected"},
    {"brace expansion is literal", "echo {a,b} x{1..3}", "{a,b} x{1..3}"},
    {"$'...' is $ then a quoted string", "echo $'a\\tb'", "$a\tb"},
    {"(( )) is two subshells", "((x=1)); echo \"[$x]\"", "[]"},
    {"a syntax error on a later line comes after the lines before it ran", "echo a\nfi\necho b",
     "drctl: 2: Syntax error: \"fi\" unexpected"},
    {"on the same line nothing runs", "echo a; fi", "Syntax error: \"fi\" unexpected"},
    {"an unterminated quote is found at the end of the script", "echo a\necho \"b\n\nc",
     "drctl: 4: Syntax error: Unterminated quoted string"},
    {"if without fi", "if true; then\necho x", "Syntax error: end of file unexpected (expecting \"fi\")"},
    {"line numbers go on inside $( )", "x=$(\necho\n[[ y ]]\n)\necho \"[$x]\"", "drctl: 3: [[: not found"},
    {"${x?}", "echo ${x?}\necho after", "drctl: 1: x: parameter not set"},
    {"${x:?}", "echo ${x:?}", "x: parameter not set or null"},
    {"${x?message}", "echo ${x?no x here}", "x: no x here"},
    {"set -u", "set -u\necho $nothing\necho after", "nothing: parameter not set"},
    {"a redirection into a missing directory", "echo x > ./missing/f\necho $?", "cannot create ./missing/f: Directory nonexistent"},
    {"a redirection onto a directory", "mkdir d\necho x > d\necho $?", "cannot create d: Is a directory"},
    {"input from a missing file", "cat < ./missing\necho $?", "cannot open ./missing: No such file"},
    {"a file descriptor that is not open", "echo a >&3\necho $?", "3: Bad file descriptor"},
    {"cd to nowhere", "cd ./nowhere\necho $?", "cd: can't cd to ./nowhere"},
    {". of a missing file ends the script", ". ./missing.sh\necho after", ".: cannot open ./missing.sh: No such file"},
    {"a syntax error in a . file ends the script", "echo 'true\nfi' > bad.sh\n. ./bad.sh\necho after",
     "drctl: 2: ./bad.sh: Syntax error: \"fi\" unexpected"},
    {"errors in a . file name the file and its line", "printf 'true\\n[[ x ]]\\n' > lib.sh\n. ./lib.sh\necho \"after $?\"",
     "drctl: 2: ./lib.sh: [[: not found"},
    {"a number that is not one", "true\n[ 1 -eq x ]", "drctl: 2: [: Illegal number: x"},
    {"[ without ]", "[ a = a", "[: missing ]"},
    {"exit status modulo 256", "exit 300", ""},
};

// What dash runs: the same scripts must work the same in the simulator.
const Case kValid[] = {
    {"suffix and prefix removal", "x=a.b.c; echo ${x%.*} ${x%%.*} ${x#*.} ${x##*.} ${x%'.c'}", "a.b a b.c c a.b"},
    {"length", "x=hello; echo ${#x}", "5"},
    {"positional and special parameters in ${...}", "sh -c 'echo \"${1:-def} ${1#g} ${#1} ${2:-none} ${?:-x}\"' sh given",
     "given iven 5 none 0"},
    {"a pipeline's commands run in subshells", "x=1; x=2 | true; exit 3 | true; echo \"after $x\"", "after 1"},
    {"defaults", "echo ${x:-default} ${x-d2} ${y=assigned}; echo $y", "default d2 assigned"},
    {"echo -n", "echo -n a; echo b", "ab"},
    {"echo reads backslash escapes", "echo 'a\\nb' '\\0101\\101' 'c\\cd' e", "a\nb AA c"},
    {"printf %b", "printf '%b|%s\\n' 'A\\101\\0101' 'x\\ty'", "AAA|x\\ty"},
    {"set -eu", "set -eu\necho ok", "ok"},
    {"set -e ends at a failure", "set -e\nfalse\necho not reached", ""},
    {"if and test", "if [ -d . ]; then echo dir; else echo none; fi", "dir"},
    {"and-or and !", "false || echo rescued; ! false && echo negated", "rescued\nnegated"},
    {"a group into a pipe", "{ echo a; echo b; } | wc -l", "2"},
    {"a subshell keeps its variables", "x=1; (x=2; echo $x); echo $x", "2\n1"},
    {"command substitution", "echo \"$(echo inner)\" `echo back`", "inner back"},
    {". reads a file into this shell", "echo 'LIBVAR=yes' > lib.sh\n. ./lib.sh\necho $LIBVAR", "yes"},
    {"a file written and read", "echo x > out.txt; cat out.txt", "x"},
    {"cd failing into ||", "cd ./nowhere 2>/dev/null || echo fallback", "fallback"},
    {"= in [", "[ a = a ] && echo equal", "equal"},
    {"newlines and comments", "# a comment\necho one # another\n\necho two", "one\ntwo"},
    {"drctl's line gives the script $0 and itself as $1", "echo \"$0 $#\"", "drctl 1"},
    {"command -v of a missing tool", "command -v nosuchtool >/dev/null 2>&1 || echo missing", "missing"},
    {"a failing substitution in an assignment", "x=$(false) || echo failed", "failed"},
    {"if !", "if ! false; then echo negated; fi", "negated"},
    {"set -e does not apply to a tested command", "set -e\nif false; then :; fi\nfalse || true\necho survived", "survived"},
    {"exit in a subshell", "(exit 3); echo $?", "3"},
    {"stderr into a pipe", "cat ./missing 2>&1 | wc -l", "1"},
    {"quoting and field splitting", "x='  spaced  '; echo $x; echo \"[$x]\" 'c  d' e\\ f", "spaced\n[  spaced  ] c  d e f"},
    {"test -z and -n", "test -z '' && [ -n x ] && echo both", "both"},
};

/// The line drctl sends (what sshd hands the login shell), run by the real dash in `dir`.
RunResult real_dash(const std::string& script, const std::filesystem::path& dir) {
  support::RunOptions o;
  o.cwd = dir.string();
  o.unset_env = {"x", "y", "a", "LIBVAR", "nothing"};
  return support::run({"/bin/dash", "-c", world::any_login_shell_line(script)}, o);
}

/// The same line read by a simulated Ubuntu host, in /scratch.
world::CommandResult sim_dash(const std::string& script) {
  sim::Engine e(1);
  sim::SimHost h(e, "node");
  h.make_dir("/scratch");
  world::Command c = world::shell_command(script);
  c.cwd = "/scratch";
  return h.login(world::any_login_shell_line(script), c);
}

void compare(const Case& c) {
  const std::string name = c.name, script = c.script;
  CAPTURE(name);
  CAPTURE(script);
  support::TempDir dir("dash");
  const RunResult real = real_dash(c.script, dir.path());
  REQUIRE_FALSE(real.timed_out);
  // The real dash still says what the case is about (else the case no longer shows it).
  CHECK((real.out + real.err).find(c.shows) != std::string::npos);
  const world::CommandResult sim = sim_dash(c.script);
  CHECK(sim.out == real.out);
  CHECK(sim.err == real.err);
  CHECK(sim.exit_code == real.exit_code);
}

bool have_dash() { return std::filesystem::exists("/bin/dash"); }

world::CommandResult run_sh(sim::SimHost& h, const std::string& script) { return h.run({script, "", {}, {}, ""}); }

}  // namespace

TEST_CASE("sim dash: bash's syntax and builtins fail in the simulated sh as they fail in the real dash") {
  REQUIRE_MESSAGE(have_dash(), "no /bin/dash on this machine: the oracle is missing (dash is Essential in Debian)");
  for (const Case& c : kBroken) compare(c);
}

TEST_CASE("sim dash: what dash runs runs the same in the simulated sh") {
  REQUIRE_MESSAGE(have_dash(), "no /bin/dash on this machine: the oracle is missing (dash is Essential in Debian)");
  for (const Case& c : kValid) compare(c);
}

TEST_CASE("sim dash: the name in the shell's messages is $0 with the line, as dash prints it") {
  REQUIRE_MESSAGE(have_dash(), "no /bin/dash on this machine: the oracle is missing (dash is Essential in Debian)");
  support::TempDir dir("dash-name");
  support::RunOptions o;
  o.cwd = dir.str();
  CHECK(support::run({"/bin/dash", "-c", "[[ x ]]"}, o).err == "/bin/dash: 1: [[: not found\n");
  CHECK(support::run({"/bin/dash", "-c", "true\n[[ x ]]", "sh"}, o).err == "sh: 2: [[: not found\n");
  // `sh -c SCRIPT` on the simulated host (its name is sh), and a script run directly (as sh -c).
  sim::Engine e(1);
  sim::SimHost h(e, "node");
  CHECK(run_sh(h, "sh -c 'true\n[[ x ]]'").err == "sh: 2: [[: not found\n");
  CHECK(run_sh(h, "[[ x ]]").err == "sh: 1: [[: not found\n");
  CHECK(run_sh(h, "sh -c '[[ x ]]' mine").err == "mine: 1: [[: not found\n");
}

TEST_CASE("sim dash: constructs the simulator does not run say so instead of guessing") {
  sim::Engine e(1);
  sim::SimHost h(e, "node");
  struct Unmodelled {
    const char* script;
    const char* says;
  };
  for (const Unmodelled& u : {
           Unmodelled{"f() { echo F; }; f", "function definitions"},
           Unmodelled{"while true; do echo $i; done", "`while`"},
           Unmodelled{"case a in a) echo A;; esac", "`case`"},
           Unmodelled{"echo $((1+2))", "arithmetic expansion"},
           Unmodelled{"cat <<EOF\nx\nEOF", "here-documents"},
           Unmodelled{"sleep 1 &", "background jobs"},
           Unmodelled{"echo hi &>/dev/null", "`&>`"},
       }) {
    const std::string script = u.script;
    CAPTURE(script);
    const auto r = run_sh(h, u.script);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("sim: node: sh: ") == 0);
    CHECK(r.err.find(u.says) != std::string::npos);
    CHECK(r.err.find("not modelled") != std::string::npos);
  }
  // What the `&>` message says of dash is what dash does: `echo hi &` in the background (its
  // output still comes), then `>f` alone, which makes f empty.
  REQUIRE_MESSAGE(have_dash(), "no /bin/dash on this machine: the oracle is missing (dash is Essential in Debian)");
  support::TempDir dir("dash-amp");
  support::RunOptions o;
  o.cwd = dir.str();
  const RunResult real = support::run({"/bin/dash", "-c", "echo hi &>f; wait"}, o);
  CHECK(real.exit_code == 0);
  CHECK(real.out == "hi\n");
  CHECK(support::read_file(dir / "f").empty());
}

TEST_CASE("sim dash: FreeBSD's sh has pipefail and echo -e, and names $0 without a line") {
  // FreeBSD 13's /bin/sh (pfSense, TrueNAS CORE), from its sources (no FreeBSD sh on this machine):
  // bin/sh/options.h has "pipefail" (commit 9e23ca1c94e7, PR 224270); bin/sh/bltin/echo.c takes
  // one of -n or -e and reads escapes only with -e; bin/sh/parser.c synerror() prints
  // "$0: Syntax error: …" for sh -c (a line number only when it reads a script file).
  sim::Engine e(1);
  sim::SimHost bsd(e, "pfsense");
  bsd.set_os(sim::SimHost::Os::freebsd);
  auto r = run_sh(bsd, "set -o pipefail; false | true; echo $?");
  CHECK(r.out == "1\n");
  CHECK(r.err.empty());
  CHECK(run_sh(bsd, "echo 'a\\tb'; echo -e 'a\\tb'").out == "a\\tb\na\tb\n");
  r = run_sh(bsd, "echo a; fi");
  CHECK(r.exit_code == 2);
  CHECK(r.err == "sh: Syntax error: \"fi\" unexpected\n");
  // The same on Ubuntu: dash 0.5.12 has no pipefail (it came with 0.5.13's "jobs: Implement
  // pipefail option").
  sim::SimHost node(e, "node");
  r = run_sh(node, "set -o pipefail; false | true; echo $?");
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK(r.err == "sh: 1: set: Illegal option -o pipefail\n");
}
