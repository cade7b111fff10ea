// drctl's way into a simulated site machine: SSH, each call logging in first (SimWorld::ssh_login).
#pragma once
#include <optional>
#include <string>

#include "sim/sim_world.hpp"
#include "world/login_shell.hpp"

namespace drctl::sim {

/// A site machine as drctl reaches it over SSH: every call logs in first, as ssh(1) would.
class SimWorld::SshHost : public world::Host {
 public:
  SshHost(SimWorld& world, std::string name) : world_(world), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  world::CommandResult run(const world::Command& command) override {
    auto login = world_.ssh_login(name_);
    if (!login.ok) {
      world::CommandResult r;
      r.exit_code = 255;
      r.err = "ssh: " + name_ + ": " + login.reason + "\n";
      return r;
    }
    // What drctl's real SSH client sends, read by the machine's login shell (tcsh on FreeBSD), in
    // the session sshd sets up (OpenSSH session.c do_setup_env: USER, LOGNAME, HOME).
    world::Command session = command;
    session.env.emplace("USER", login.user);
    session.env.emplace("LOGNAME", login.user);
    session.env.emplace("HOME", login.home);
    return world_.system(login.machine)->login(world::any_login_shell_line(command.script), session);
  }
  void put_file(const std::string& path, const std::string& content, unsigned mode) override {
    world_.system(login_or_throw())->put_file(path, content, mode);
  }
  std::optional<std::string> get_file(const std::string& path) override {
    return world_.system(login_or_throw())->get_file(path);
  }

 private:
  std::string login_or_throw() {
    auto login = world_.ssh_login(name_);
    if (!login.ok) throw std::runtime_error("sftp: " + name_ + ": " + login.reason);
    return login.machine;
  }
  SimWorld& world_;
  std::string name_;
};

}  // namespace drctl::sim
