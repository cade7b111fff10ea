// The base layer: the one duration grammar, did-you-mean, shell quoting (checked by a real
// /bin/sh), IPv4 text and SHA-256 hex (checked against sha256sum).
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "base/duration.hpp"
#include "base/ipv4.hpp"
#include "base/shell.hpp"
#include "base/suggest.hpp"
#include "base/text.hpp"
#include "support/run.hpp"

using namespace drctl;
using std::chrono::milliseconds;

TEST_CASE("base: one duration grammar") {
  CHECK(parse_duration("90") == milliseconds(90'000));
  CHECK(parse_duration("0") == milliseconds(0));
  CHECK(parse_duration("90s") == milliseconds(90'000));
  CHECK(parse_duration("20m") == milliseconds(1'200'000));
  CHECK(parse_duration("1h") == milliseconds(3'600'000));
  CHECK(parse_duration("500ms") == milliseconds(500));
  CHECK(parse_duration("1h30m") == milliseconds(5'400'000));
  CHECK(parse_duration("2m30s") == milliseconds(150'000));
  CHECK(parse_duration("1.5s") == milliseconds(1'500));
  CHECK(parse_duration("0.25h") == milliseconds(900'000));
  CHECK(parse_duration("1.5") == milliseconds(1'500));
  for (const char* bad : {"", "ten minutes", "-5s", "5x", "m", "1h30", "1.s", ".5s", "5 s", "1d", "1e3", "1234567890s", "90s "})
    CHECK_MESSAGE(!parse_duration(bad), bad);
}

TEST_CASE("base: durations from YAML values") {
  using nlohmann::json;
  CHECK(duration_value(json(90)) == milliseconds(90'000));
  CHECK(duration_value(json(1.5)) == milliseconds(1'500));
  CHECK(duration_value(json("1h30m")) == milliseconds(5'400'000));
  CHECK_FALSE(duration_value(json(-1)));
  CHECK_FALSE(duration_value(json(true)));
  CHECK_FALSE(duration_value(json::array()));
}

TEST_CASE("base: did you mean") {
  CHECK(did_you_mean("neeeds", {"needs", "on"}) == " (did you mean 'needs'?)");
  CHECK(did_you_mean("powr_off", {"power_on", "power_off"}) == " (did you mean 'power_off'?)");
  CHECK(did_you_mean("xyz", {"needs", "on"}).empty());
  CHECK(did_you_mean("ab", {"id"}).empty());
  CHECK(edit_distance("retires", "retries") == 1);
  CHECK(edit_distance("metalb", "metallb") == 1);
  CHECK(closest("snapshto", {"snapshot", "run", "drill"}) == "snapshot");
}

TEST_CASE("base: shell_quote gives /bin/sh back every byte as one word") {
  for (const std::string word : {"plain", "with space", "it's", "'", "", "$HOME `id` \"x\" \\ ; | & > <", "a\nb", "*?[x]",
                                 "-n", "tab\there", "~root"}) {
    const auto r = support::run({"/bin/sh", "-c", "printf '%s|' " + shell_quote(word) + " x"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == word + "|x|");
  }
  CHECK(shell_quote("/srv/tftp") == "/srv/tftp");  // plain words stay readable in printed commands
}

TEST_CASE("base: IPv4 addresses and networks") {
  CHECK(parse_ipv4("10.0.20.15") == 0x0a00140fu);
  CHECK(format_ipv4(0x0a00140fu) == "10.0.20.15");
  for (const char* bad : {"", "10.0.20", "10.0.20.15.1", "10.0.20.256", "10..20.1", "a.b.c.d", "10.0.20.1/24", "1000.0.0.1"})
    CHECK_MESSAGE(!parse_ipv4(bad), bad);
  const auto net = parse_ipv4_cidr("10.244.7.9/16");
  REQUIRE(net);
  CHECK(net->network == 0x0af40000u);
  CHECK(net->bits == 16);
  CHECK(net->contains(*parse_ipv4("10.244.200.1")));
  CHECK_FALSE(net->contains(*parse_ipv4("10.245.0.1")));
  CHECK(parse_ipv4_cidr("10.0.0.1")->bits == 32);
  CHECK(parse_ipv4_cidr("0.0.0.0/0")->contains(*parse_ipv4("192.0.2.1")));
  for (const char* bad : {"10.0.0.0/33", "10.0.0.0/", "10.0.0.0/a", "10.0.0/8"}) CHECK_MESSAGE(!parse_ipv4_cidr(bad), bad);
}

TEST_CASE("base: sha256_hex is what sha256sum prints") {
  const std::string data = std::string("drctl\0base\n", 11) + std::string(100'000, 'x');
  support::TempDir dir;
  std::ofstream(dir.path() / "data", std::ios::binary) << data;
  const auto r = support::run({"sha256sum", (dir.path() / "data").string()});
  REQUIRE(r.exit_code == 0);
  CHECK(text::sha256_hex(data) + "  " + (dir.path() / "data").string() + "\n" == r.out);
}
