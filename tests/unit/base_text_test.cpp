// The base layer's text helpers, against what the shell and std::istringstream make of the same input.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "base/text.hpp"

using namespace drctl;

namespace {

// The oracle: how a stream reads words.
std::vector<std::string> stream_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

}  // namespace

TEST_CASE("text: words are what a stream reads, whatever the blanks between them") {
  for (const std::string s : {"", "   ", "a", " a ", "KERNEL linux\tinitrd=x.gz \r\n ks=nfs:h:/p", "a\fb\vc"})
    CHECK(text::words(s) == stream_words(s));
}

TEST_CASE("text: split_nonempty keeps the parts between separators and drops empty ones") {
  CHECK(text::split_nonempty("", ',').empty());
  CHECK(text::split_nonempty(",,", ',').empty());
  CHECK(text::split_nonempty("a", ',') == std::vector<std::string>{"a"});
  CHECK(text::split_nonempty(",a,,b,", ',') == std::vector<std::string>{"a", "b"});
  CHECK(text::split_nonempty("ds=nocloud-net;s=http://h/", ';') == std::vector<std::string>{"ds=nocloud-net", "s=http://h/"});
}
