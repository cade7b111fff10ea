// The site's `versions:` as the simulator reads it: each pinned version parsed, a version the
// simulator does not model refused naming the field and the versions it knows, and the nodes'
// etcd-client following their Ubuntu release when the site does not pin it.
#include <doctest/doctest.h>

#include "sim/site_model.hpp"
#include "sim/versions.hpp"

using namespace drctl::sim;
using json = nlohmann::json;

TEST_CASE("versions: parsed as the site writes them") {
  auto v = parse_version("v1.28.2");
  CHECK(v.major == 1);
  CHECK(v.minor == 28);
  CHECK(v.patch == 2);
  CHECK(v.text == "1.28.2");
  CHECK(parse_version("13.0-U6").patch == 6);
  CHECK(parse_version("2.7.2-RELEASE").minor == 7);
  CHECK(parse_version("3.2.26+dfsg-6ubuntu0.2").patch == 26);
  CHECK(parse_version("20.04").minor == 4);
  CHECK_THROWS_AS(parse_version("latest"), std::invalid_argument);
  CHECK_THROWS_AS(parse_version("1"), std::invalid_argument);
  CHECK_THROWS_AS(parse_version("1.28x"), std::invalid_argument);
}

TEST_CASE("versions: unpinned ones take their defaults, and etcd-client follows Ubuntu") {
  auto v = read_versions(json());
  CHECK(v.kubernetes.text == "1.28.2");
  CHECK(v.ubuntu.minor_text() == "20.4");
  CHECK(v.etcd.text == "3.2.26");  // focal's etcd-client
  CHECK(read_versions(json{{"ubuntu", "22.04"}}).etcd.text == "3.3.25");
  CHECK(read_versions(json{{"ubuntu", "22.04"}, {"etcd", "3.4.23"}}).etcd.text == "3.4.23");
  CHECK(read_versions(json{{"syslinux", "6.04"}}).syslinux.minor == 4);
  CHECK_THROWS_WITH_AS(read_versions(json{{"kubernetes", 1.30}}),
                       "versions.kubernetes: expected a version as text (\"1.28.2\"), got 1.3", SiteError);
  CHECK_THROWS_AS(read_versions(json{{"syslinux", "6.03"}}), SiteError);  // its parser is not modelled
}

TEST_CASE("versions: a version the simulator does not model is refused, naming the field") {
  try {
    read_versions(json{{"kubernetes", "1.35.0"}});
    FAIL("accepted");
  } catch (const SiteError& e) {
    CHECK(std::string(e.what()) ==
          "versions.kubernetes: the simulator does not model Kubernetes 1.35.0 (it models 1.28)");
  }
  try {
    read_versions(json{{"kubernetes", "1.29.0"}});  // its API types are not 1.28's
    FAIL("accepted");
  } catch (const SiteError& e) {
    CHECK(std::string(e.what()) == "versions.kubernetes: the simulator does not model Kubernetes 1.29.0 (it models 1.28)");
  }
  CHECK_THROWS_WITH_AS(read_versions(json{{"kubernets", "1.28.2"}}),
                       doctest::Contains("versions.kubernets: not a versioned component"), SiteError);
  CHECK_THROWS_WITH_AS(read_versions(json{{"metallb", "latest"}}), doctest::Contains("versions.metallb: 'latest'"),
                       SiteError);
  CHECK_THROWS_WITH_AS(read_site(json{{"versions", {{"ubuntu", "18.04"}}}}), doctest::Contains("versions.ubuntu: the simulator does not model Ubuntu 18.04"),
                       SiteError);
}
