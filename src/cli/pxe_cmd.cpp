// `drctl pxe lint`: the pxelinux menu lint (src/boot/menu_lint.hpp) over a TFTP tree on this
// machine, for an operator before a real network boot, and for tests against real trees.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.hpp"
#include "boot/menu_lint.hpp"
#include "cli/commands.hpp"

namespace drctl::cli {

namespace {

namespace fs = std::filesystem;

struct LintArgs {
  std::string root, exports, served_as;
  std::vector<std::string> servers;
};

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Every regular file under `root` (symbolic links followed, as tftpd follows them), relative.
std::set<std::string> files_under(const fs::path& root) {
  std::set<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::follow_directory_symlink, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) out.insert(fs::relative(it->path(), root).generic_string());
  if (ec) throw Failure("cannot list " + root.string() + ": " + ec.message());
  return out;
}

int cmd_lint(const LintArgs& a) {
  std::error_code ec;
  if (!fs::is_directory(a.root, ec)) throw InputError(a.root + " is not a directory");
  const fs::path root = fs::absolute(a.root).lexically_normal();
  std::string shown = root.string();
  while (shown.size() > 1 && shown.back() == '/') shown.pop_back();
  boot::TftpTree tree;
  tree.files = files_under(root);
  tree.read = [root](const std::string& rel) { return read_file(root / rel); };
  boot::Serving serving;
  serving.shown_root = shown;
  serving.tftp_root = a.served_as.empty() ? shown : a.served_as;
  serving.servers = a.servers;
  if (!a.exports.empty()) {
    serving.exports = read_file(a.exports);
    if (!serving.exports) throw InputError("cannot read --exports " + a.exports);
  }
  // Files outside the TFTP root can only be seen when this machine is the server.
  if (a.served_as.empty()) serving.exists = [](const std::string& path) { return fs::is_regular_file(path); };
  const auto errors = boot::lint_tree(tree, serving);
  for (const auto& e : errors) std::printf("%s\n", e.c_str());
  if (errors.empty()) {
    std::printf("%s: no menu lint errors (%zu files)\n", shown.c_str(), tree.files.size());
    return kOk;
  }
  std::fprintf(stderr, "drctl: %zu menu lint error(s) under %s\n", errors.size(), shown.c_str());
  return kFailed;
}

}  // namespace

void add_pxe_command(CLI::App& app, Action& run) {
  auto* pxe = app.add_subcommand("pxe", "Network boot: check a PXE server's TFTP tree before anything boots");
  pxe->require_subcommand(1);
  auto a = std::make_shared<LintArgs>();
  auto* lint = pxe->add_subcommand(
      "lint", "Lint a TFTP tree's pxelinux menus: each mistake that makes a real network boot hang or fail, as "
              "FILE:LINE: message; exit 1 when there is any");
  lint->add_option("TFTP_ROOT", a->root, "The TFTP root (the directory holding pxelinux.0 and pxelinux.cfg/)")->required();
  lint->add_option("--exports", a->exports, "The PXE server's /etc/exports: nfs: answers must be under an entry")
      ->check(CLI::ExistingFile);
  lint->add_option("--server", a->servers,
                   "An address or name the kernel command lines may use for the PXE server (repeat); none: not checked");
  lint->add_option("--served-as", a->served_as,
                   "The TFTP root's path on the server when this is a copy (e.g. /tftpboot); files outside it are then "
                   "not checked");
  lint->callback([&run, a] { run = [a] { return cmd_lint(*a); }; });
}

}  // namespace drctl::cli
