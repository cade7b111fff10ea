// A simulated installed host: a small file system, packages, services, sshd keys, and an
// interpreter for the commands drctl's actions emit. Anything it does not know exits 127
// with `sim: HOST: unknown command 'X'` — it never succeeds silently.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sim/engine.hpp"

namespace drctl::sim {

class SimHost : public world::Host {
 public:
  SimHost(Engine& engine, std::string name);

  /// What one command of a line did.
  struct Result {
    int code = 0;
    std::string out, err;
  };
  using CommandFn = std::function<Result(const std::vector<std::string>& argv, const std::string& stdin_data)>;
  /// A command this particular machine has (an appliance's own tools, e.g. pfSense's /etc/rc.reload_all).
  void add_command(const std::string& name, CommandFn fn) { commands_[name] = std::move(fn); }

  const std::string& name() const override { return name_; }
  /// Interprets `command.script`: commands joined by `;`, `&&`, `||`, with `>`/`>>` redirects.
  world::CommandResult run(const world::Command& command) override;
  void put_file(const std::string& path, const std::string& content, unsigned mode) override;
  std::optional<std::string> get_file(const std::string& path) override;

  /// Packages apt can install here (the installer's mirror). Others fail like apt does.
  void set_available_packages(std::set<std::string> packages) { available_ = std::move(packages); }
  bool installed(const std::string& package) const { return installed_.contains(package); }
  bool service_active(const std::string& service) const { return active_.contains(service); }
  /// What the installer or an appliance image puts in place: a package (its unit is named after it).
  void install_package(const std::string& package) { installed_.insert(package); }
  /// Starts or stops a unit (as systemctl would; a fault may stop one). Unknown units throw.
  void set_service(const std::string& unit, bool active);
  /// Called whenever a unit starts or stops, so the site can open or close its ports.
  void on_service_change(std::function<void(const std::string& unit, bool active)> fn) { on_service_ = std::move(fn); }
  void remove_file(const std::string& path);
  /// A directory and its parents (mkdir -p).
  void make_dir(const std::string& path);
  /// Storage limits (a NAS dataset's quota): `fits` is asked before a file grows or shrinks by
  /// `delta` bytes — false fails the write with `why` (ENOSPC/EDQUOT text); `commit` records it.
  using Fits = std::function<bool(const std::string& path, std::int64_t delta, std::string* why)>;
  using Commit = std::function<void(const std::string& path, std::int64_t delta)>;
  void set_storage(Fits fits, Commit commit) {
    fits_ = std::move(fits);
    commit_ = std::move(commit);
  }
  /// Swap (a fresh Ubuntu install has a swap file; kubeadm refuses to run with it): `swapoff -a`.
  bool swap_on() const { return swap_on_; }
  void set_swap(bool on) { swap_on_ = on; }
  std::vector<std::string> services() const { return {active_.begin(), active_.end()}; }

 private:
  struct File {
    std::string content;
    unsigned mode = 0644;
  };
  Result exec(const std::vector<std::string>& argv, const std::string& stdin_data);
  Result unknown(const std::string& cmd);
  Result tar(const std::vector<std::string>& argv, const std::string& stdin_data);
  bool is_dir(const std::string& path) const;
  /// Writes a file unless the storage refuses (then false with why).
  bool store(const std::string& path, const std::string& content, unsigned mode, std::string* why);

  Engine& engine_;
  std::string name_;
  std::map<std::string, File> files_;
  std::set<std::string> dirs_{"/"};
  std::set<std::string> available_;
  std::set<std::string> installed_;
  std::set<std::string> enabled_, active_;
  std::function<void(const std::string&, bool)> on_service_;
  std::map<std::string, CommandFn> commands_;
  Fits fits_;
  Commit commit_;
  bool swap_on_ = false;
};

}  // namespace drctl::sim
