#include <doctest/doctest.h>

#include "store/bytes.hpp"
#include "support/fs_tree.hpp"
#include "store/chunker.hpp"
#include "base/error.hpp"

using namespace drctl::store;

namespace {

std::vector<std::size_t> cuts(const Chunker& c, const Bytes& data) {
  std::vector<std::size_t> out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::size_t n = c.cut(std::span(data).subspan(pos));
    out.push_back(pos + n);
    pos += n;
  }
  return out;
}
}  // namespace

TEST_CASE("chunks respect min/max and average near the target") {
  ChunkerParams p{16 * 1024, 64 * 1024, 256 * 1024};
  Chunker c(p);
  Bytes data = support::random_bytes(16 << 20, 1);
  auto points = cuts(c, data);
  std::size_t prev = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    std::size_t len = points[i] - prev;
    if (i + 1 < points.size()) CHECK(len >= p.min);
    CHECK(len <= p.max);
    prev = points[i];
  }
  double avg = double(data.size()) / double(points.size());
  CHECK(avg > p.avg * 0.5);
  CHECK(avg < p.avg * 2.0);
}

TEST_CASE("an insertion only changes the chunks around it") {
  Chunker c(ChunkerParams{16 * 1024, 64 * 1024, 256 * 1024});
  Bytes a = support::random_bytes(8 << 20, 2);
  Bytes b = a;
  b.insert(b.begin() + (3 << 20), 100, 0x42);
  auto ca = cuts(c, a), cb = cuts(c, b);
  std::size_t shared = 0;
  for (std::size_t x : ca)
    for (std::size_t y : cb)
      if (y == x + 100 || (x < (3u << 20) && y == x)) ++shared;
  CHECK(shared + 3 >= ca.size());
}

TEST_CASE("chunker parameters are validated") {
  CHECK_THROWS_AS(Chunker(ChunkerParams{1024, 512, 4096}), drctl::InputError);
  CHECK_THROWS_AS(Chunker(ChunkerParams{1024, 4096, 4096}), drctl::InputError);
}
