// The status line's text: cut to the terminal's width (counted in characters, not bytes), and
// byte progress with its total, percentage, rate and time left worked out by hand.
#include <doctest/doctest.h>

#include <string>

#include "cli/progress.hpp"

using drctl::cli::byte_progress;
using drctl::cli::fit_to_width;

namespace {

/// Characters (code points) of UTF-8 text.
std::size_t chars(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

TEST_CASE("status line: a line longer than the terminal is cut to one column less, with an ellipsis") {
  const std::string line = "[12/40 packs] reading data/ab/0123456789abcdef0123456789abcdef (3.2 MiB/s)";
  CHECK(fit_to_width(line, 200) == line);
  CHECK(fit_to_width(line, line.size() + 1) == line);  // exactly fits: the last column stays free
  const std::string cut = fit_to_width(line, 40);
  CHECK(chars(cut) == 39);
  CHECK(cut.rfind("\u2026") == cut.size() - 3);
  CHECK(line.rfind(cut.substr(0, cut.size() - 3), 0) == 0);  // a prefix of the line
}

TEST_CASE("status line: multi-byte characters are counted as one and never split") {
  const std::string line = "restoring naïve/größe/файл.txt from the NAS — nearly done";
  for (std::size_t cols = 5; cols < 60; ++cols) {
    CAPTURE(cols);
    const std::string cut = fit_to_width(line, cols);
    CHECK(chars(cut) <= cols - 1);
    // Valid UTF-8: every continuation byte follows a start byte of a long enough sequence.
    std::size_t need = 0;
    for (unsigned char c : cut) {
      if (need) {
        CHECK((c & 0xC0) == 0x80);
        --need;
      } else {
        need = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
      }
    }
    CHECK(need == 0);
  }
}

TEST_CASE("byte progress: total, percentage, rate and the time left follow from the numbers") {
  // 1 GiB of 4 GiB in 10 s: 102.4 MiB/s, 3 GiB left → 30 s.
  const std::uint64_t gib = 1024ull * 1024 * 1024;
  const std::string s = byte_progress(gib, 4 * gib, 10);
  CHECK_MESSAGE(s.find("(25%)") != std::string::npos, s);
  CHECK_MESSAGE(s.find("30s left") != std::string::npos, s);
  CHECK_MESSAGE(s.find("/s") != std::string::npos, s);
  // 10 minutes at that rate: 60 GiB left.
  CHECK_MESSAGE(byte_progress(gib, 61 * gib, 10).find("10m00s left") != std::string::npos, byte_progress(gib, 61 * gib, 10));
  // No total: no percentage, no time left.
  const std::string open = byte_progress(gib, 0, 10);
  CHECK(open.find('%') == std::string::npos);
  CHECK(open.find("left") == std::string::npos);
  // Done: 100 % and nothing left.
  CHECK(byte_progress(4 * gib, 4 * gib, 10).find("(100%)") != std::string::npos);
}
