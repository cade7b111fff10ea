#include "world/real/ssh_host.hpp"

#include "world/real/ssh_connection.hpp"
#include "world/real/ssh_exec.hpp"

namespace drctl::world::real {

namespace {

using OutFn = SshOutFn;
using InFn = SshInFn;

constexpr std::chrono::milliseconds kKillTaggedTimeout{30000};

}  // namespace

SshHost::SshHost(SshEndpoint endpoint, const Cancel& cancel)
    : endpoint_(std::move(endpoint)), cancel_(cancel), pool_(endpoint_, cancel_) {}

SshHost::~SshHost() = default;

std::string SshHost::where() const { return endpoint_.name + " (" + endpoint_.describe() + ")"; }

int SshHost::connections_opened() const { return pool_.connections_opened(); }

CommandResult SshHost::run(const Command& command) { return execute(command, nullptr, nullptr, true); }

CommandResult SshHost::run_stream(const Command& command, const OutFn& on_out, const InFn& in) {
  return execute(command, &on_out, in ? &in : nullptr, true);
}

CommandResult SshHost::execute(const Command& command, const OutFn* on_out, const InFn* in, bool tagged) {
  return execute_over_ssh(pool_, endpoint_, cancel_, command, on_out, in, tagged ? tag_ : "");
}

int SshHost::kill_tagged(const std::string& tag) {
  if (tag.empty()) return 0;
  // Linux only (/proc); grep -z reads every environment in one go where it exists.
  Command c;
  c.script =
      "[ -d /proc/self ] || { echo 0; exit 0; }\n"
      "pattern=" + shell_quote("DRCTL_RUN_TAG=" + tag) + "\n"
      "me=; read -r _ _ _ _ me _ < /proc/$$/stat\n"
      "tagged() {\n"
      "  if printf 'a\\0' | grep -qzx a 2>/dev/null; then\n"
      "    for f in $(grep -lzxF -e \"$pattern\" /proc/[0-9]*/environ 2>/dev/null); do p=${f#/proc/}; echo \"${p%/environ}\"; done\n"
      "  else\n"
      "    for d in /proc/[0-9]*; do tr '\\0' '\\n' < \"$d/environ\" 2>/dev/null | grep -qxF -e \"$pattern\" && echo \"${d#/proc/}\"; done\n"
      "  fi\n"
      "}\n"
      "n=0\n"
      "for p in $(tagged); do\n"
      "  [ \"$p\" = \"$$\" ] && continue\n"
      "  g=; read -r _ _ _ _ g _ < \"/proc/$p/stat\" 2>/dev/null || continue\n"
      "  n=$((n+1))\n"
      "  if [ -n \"$g\" ] && [ \"$g\" != \"$me\" ] && [ \"$g\" -gt 1 ]; then kill -KILL -$g 2>/dev/null; fi\n"
      "  kill -KILL $p 2>/dev/null\n"
      "done\n"
      "echo $n\n";
  c.timeout = kKillTaggedTimeout;
  CommandResult r = execute(c, nullptr, nullptr, false);  // without the tag it looks for
  if (!r.ok()) throw std::runtime_error(where() + ": cannot look for processes a killed run left: " + r.err);
  try {
    return std::stoi(r.out);
  } catch (const std::exception&) {
    return 0;
  }
}


}  // namespace drctl::world::real
