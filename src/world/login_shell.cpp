#include "world/login_shell.hpp"

#include "base/shell.hpp"

namespace drctl::world {

namespace {

// $(…) drops the script's trailing newlines, which changes nothing a script does.
constexpr const char* kDecoder = "s=$(printf '%b' \"$1\"); exec /bin/sh -c \"$s\" drctl \"$s\"";

}  // namespace

std::string percent_b_escaped(const std::string& script) {
  std::string out;
  out.reserve(script.size() + script.size() / 8);
  for (char c : script) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '!') out += "\\0041";
    else out += c;
  }
  return out;
}

std::string any_login_shell_line(const std::string& script, const std::string& prefix) {
  return "exec " + (prefix.empty() ? "" : prefix + " ") + "/bin/sh -c " + shell_quote(kDecoder) + " drctl " +
         shell_quote(percent_b_escaped(script));
}

}  // namespace drctl::world
