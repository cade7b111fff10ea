// The doctest main shared by unit_tests and integration_tests.
//
// CTest runs each test case on its own with --test-case=NAME. If NAME stops matching (a renamed
// test, or a character in the name that the filter treats specially), doctest would run nothing
// and report success; this main counts the test cases that actually started and fails instead.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <string>

namespace {

int g_started = 0;

struct CountingListener : doctest::IReporter {
  explicit CountingListener(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++g_started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace

REGISTER_LISTENER("drctl-counting", 1, CountingListener);

int main(int argc, char** argv) {
  // A child that dies must not kill the test runner through a broken pipe.
  std::signal(SIGPIPE, SIG_IGN);
  bool filtered = false, query = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    for (const char* dash : {"--", "-", "--dt-", "-dt-"}) {
      if (!starts_with(a, dash)) continue;
      std::string opt = a.substr(std::string(dash).size());
      if (starts_with(opt, "test-case=") || starts_with(opt, "tc=")) filtered = true;
      if (starts_with(opt, "list") || starts_with(opt, "ltc") || starts_with(opt, "lts") || starts_with(opt, "lr") ||
          starts_with(opt, "help") || opt == "h" || opt == "?" || starts_with(opt, "version") || opt == "v" ||
          starts_with(opt, "count") || opt == "c" || starts_with(opt, "no-run") || starts_with(opt, "nr"))
        query = true;
    }
  }
  doctest::Context context;
  context.applyCommandLine(argc, argv);
  int result = context.run();
  if (context.shouldExit() || query) return result;
  if (filtered && g_started == 0 && result == 0) {
    std::fprintf(stderr, "test runner: no test case matched the --test-case filter\n");
    return 1;
  }
  return result;
}
