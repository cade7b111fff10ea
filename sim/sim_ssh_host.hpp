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
    SimHost* system = world_.system(login.machine);
    const SimHost::Io before = system->io();
    world::CommandResult r = system->login(world::any_login_shell_line(command.script), session);
    // The session's data took the time its path and the machine's disks allow (the system may be
    // gone when the command powered it off: then nothing more is counted).
    if (SimHost* after = world_.system(login.machine); after == system) {
      const auto moved = static_cast<std::int64_t>(command.stdin_data.size() + r.out.size() + r.err.size()) +
                         (system->io().stream_extra - before.stream_extra);
      world_.take_time("ssh " + name_, login.machine, moved, login.segments, system->io().disk - before.disk);
    }
    return r;
  }
  void put_file(const std::string& path, const std::string& content, unsigned mode) override {
    auto login = login_or_throw();
    world_.system(login.machine)->put_file(path, content, mode);
    world_.take_time("sftp put " + path, login.machine, static_cast<std::int64_t>(content.size()), login.segments);
  }
  std::optional<std::string> get_file(const std::string& path) override {
    auto login = login_or_throw();
    auto content = world_.system(login.machine)->get_file(path);
    if (content) world_.take_time("sftp get " + path, login.machine, static_cast<std::int64_t>(content->size()), login.segments);
    return content;
  }

 private:
  SimWorld::Login login_or_throw() {
    auto login = world_.ssh_login(name_);
    if (!login.ok) throw std::runtime_error("sftp: " + name_ + ": " + login.reason);
    return login;
  }
  SimWorld& world_;
  std::string name_;
};

}  // namespace drctl::sim
