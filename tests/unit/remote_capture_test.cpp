// capture_host_dir and restore_host_dir on this machine's LocalHost: a directory's tar into a
// section and back; a stream the chunker cannot read ends the command feeding it at once.
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>

#include "capture/remote.hpp"
#include "base/error.hpp"
#include "support/fs_tree.hpp"
#include "world/real/local_host.hpp"

using namespace drctl;
using namespace drctl::capture;

namespace {

void no_warn(const std::string&) {}

/// LocalHost whose streamed commands are replaced by `script` (what a broken tar would send).
class Impostor : public world::Host {
 public:
  Impostor(world::Host& real, std::string script) : real_(real), script_(std::move(script)) {}
  const std::string& name() const override { return real_.name(); }
  world::CommandResult run(const world::Command& c) override { return real_.run(c); }
  world::CommandResult run_stream(const world::Command&, const std::function<void(const char*, std::size_t)>& on_out,
                                  const std::function<std::string()>& in) override {
    return real_.run_stream(world::shell_command(script_), on_out, in);
  }
  void put_file(const std::string& p, const std::string& c, unsigned m) override { real_.put_file(p, c, m); }
  std::optional<std::string> get_file(const std::string& p) override { return real_.get_file(p); }

 private:
  world::Host& real_;
  std::string script_;
};

struct Lab {
  support::TempDir tmp{"remote-capture"};
  world::Cancel cancel;
  world::real::LocalHost host{"nas", cancel};
  store::Repository repo = [this] {
    store::Repository::init(tmp / "repo", store::RepoConfig{});
    return store::Repository(tmp / "repo");
  }();
};

}  // namespace

TEST_CASE("remote capture: a host's directory into a section through its tar, and back through tar -x") {
  Lab lab;
  support::make_full_tree(lab.tmp / "src", {.seed = 9, .sparse_size = 2 * support::MiB});
  Progress progress;
  NasResult r = capture_host_dir(lab.repo, "nas/data", "nas:" + (lab.tmp / "src").string(), lab.host,
                                 (lab.tmp / "src").string(), progress, no_warn);
  lab.repo.flush();
  CHECK(r.section.files > 10);
  restore_host_dir(lab.repo, r.section, lab.host, (lab.tmp / "back").string());
  auto d = support::compare_trees(lab.tmp / "src", lab.tmp / "back");
  CHECK_MESSAGE(d.empty(), support::join_diffs(d));

  // A directory that is not there: the host's tar fails and says so.
  CHECK_THROWS_WITH(capture_host_dir(lab.repo, "nas/x", "nas:/x", lab.host, (lab.tmp / "missing").string(), progress, no_warn),
                    doctest::Contains("failed (exit 2"));
}

TEST_CASE("remote capture: a stream that is no tar fails at once and ends the command feeding it") {
  Lab lab;
  Progress progress;
  // Endless output that is not an archive: without the broken pipe ending it, this never returns.
  Impostor host(lab.host, "head -c 4096 /dev/zero | tr '\\0' 'x'; exec yes 'not a tar stream'");
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(capture_host_dir(lab.repo, "nas/bad", "nas:/bad", host, "/bad", progress, no_warn), Failure);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(20));
}
